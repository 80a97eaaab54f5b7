// Pieces the kernel harnesses share: a CUDA check that ends main() with 1, random (never zero)
// fp16/bf16 inputs filled on the device, and the host-side reading of those 16-bit values.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#define CHECK_CUDA(call)                                                           \
  do {                                                                             \
    const cudaError_t status_ = (call);                                            \
    if (status_ != cudaSuccess) {                                                  \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(status_)); \
      return 1;                                                                    \
    }                                                                              \
  } while (0)

namespace attnbench::bench {

// Uniform values in [-sqrt(3), sqrt(3)) (unit variance) from a hash of the element index and `seed`,
// stored as fp16 or bf16 bits.
static __global__ void fillRandom(std::uint16_t* data, std::int64_t count, std::uint32_t seed, bool bf16) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < count;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    std::uint32_t h = (static_cast<std::uint32_t>(i) ^ static_cast<std::uint32_t>(i >> 32) * 0x85ebca6bu) * 0x9E3779B1u ^ seed;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    h *= 0x297a2d39u;
    h ^= h >> 15;
    const float x = (static_cast<float>(h >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * 1.7320508f;
    if (bf16) {
      const __nv_bfloat16 value = __float2bfloat16_rn(x);
      data[i] = *reinterpret_cast<const std::uint16_t*>(&value);
    } else {
      const __half value = __float2half_rn(x);
      data[i] = *reinterpret_cast<const std::uint16_t*>(&value);
    }
  }
}

// One fp16 or bf16 value, as raw bits copied back from the device, in fp32 (exact).
inline float halfBitsToFloat(std::uint16_t bits, bool bf16) {
  if (bf16) {
    const std::uint32_t word = static_cast<std::uint32_t>(bits) << 16;
    float value = 0.0f;
    std::memcpy(&value, &word, 4);
    return value;
  }
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}

}  // namespace attnbench::bench
