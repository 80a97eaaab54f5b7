#include "cuda_fill.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace attnbench {
namespace {

// Element i of fillRandom's stream: splitmix64 of seed + (i + 1) * golden, four 16-bit uniforms summed.
__device__ float randomValue(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  float sum = 0;
  for (int k = 0; k < 4; ++k) sum += static_cast<float>((z >> (16 * k)) & 0xFFFF) * (1.0f / 65536.0f);
  return (sum - 2.0f) * 1.7320508f;
}

template <typename T>
__device__ T fromFloat(float x);
template <>
__device__ float fromFloat<float>(float x) { return x; }
template <>
__device__ __half fromFloat<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <typename T>
__global__ void fillRandomKernel(T* dst, std::size_t count, std::uint64_t seed) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    dst[i] = fromFloat<T>(randomValue(seed, i));
  }
}

template <typename T>
cudaError_t launchFill(void* dst, std::size_t count, std::uint64_t seed, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const unsigned threads = 256;
  const std::size_t wanted = (count + threads - 1) / threads;
  const unsigned blocks = static_cast<unsigned>(wanted < 65536 ? wanted : 65536);
  fillRandomKernel<T><<<blocks, threads, 0, stream>>>(static_cast<T*>(dst), count, seed);
  return cudaGetLastError();
}

}  // namespace

cudaError_t fillRandomDevice(void* dst, kernels::DType dtype, std::size_t count, std::uint64_t seed, cudaStream_t stream) {
  switch (dtype) {
    case kernels::DType::F32: return launchFill<float>(dst, count, seed, stream);
    case kernels::DType::F16: return launchFill<__half>(dst, count, seed, stream);
    case kernels::DType::BF16: return launchFill<__nv_bfloat16>(dst, count, seed, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace attnbench
