// Masked row softmax of the standard baseline: one CTA per score row. Pass 1 folds the visible
// scores into a running (max, sum) per thread and reduces those pairs across the block; pass 2
// rewrites the row as probabilities (the row is back from L2 by then). 16-byte accesses when the row
// length allows them.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "device_math.cuh"
#include "standard_softmax.h"

namespace attnbench::kernels::cuda::detail {
namespace {

// Running softmax statistics of a set of scores: their max and sum(exp(score - max)).
struct MaxSum {
  float max;
  float sum;
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  const float max = fmaxf(a.max, b.max);
  if (max == -INFINITY) return {max, 0.0f};
  return {max, a.sum * __expf(a.max - max) + b.sum * __expf(b.max - max)};
}

__device__ __forceinline__ MaxSum warpCombine(MaxSum x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    x = combine(x, {__shfl_xor_sync(0xffffffffu, x.max, offset), __shfl_xor_sync(0xffffffffu, x.sum, offset)});
  }
  return x;
}

template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T values[kVec];
};

template <typename T, int kVec, int kThreads>
__global__ void __launch_bounds__(kThreads) maskedRowSoftmaxKernel(T* scores, int seq_q, int seq_kv, std::int64_t row_stride,
                                                                   bool causal) {
  const std::int64_t row = blockIdx.x;
  T* const scores_row = scores + row * row_stride;
  const int query = static_cast<int>(row % seq_q);
  const int visible = causal ? min(max(query + seq_kv - seq_q + 1, 0), seq_kv) : seq_kv;
  const int first = static_cast<int>(threadIdx.x) * kVec;
  constexpr int kStride = kThreads * kVec;

  MaxSum local{-INFINITY, 0.0f};
  for (int base = first; base < visible; base += kStride) {
    const auto pack = *reinterpret_cast<const Pack<T, kVec>*>(scores_row + base);
    float x[kVec];
    float max = local.max;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      x[e] = base + e < visible ? toFloat(pack.values[e]) : -INFINITY;
      max = fmaxf(max, x[e]);
    }
    if (max == -INFINITY) continue;
    float sum = local.sum * __expf(local.max - max);
#pragma unroll
    for (int e = 0; e < kVec; ++e) sum += __expf(x[e] - max);
    local = {max, sum};
  }

  __shared__ MaxSum warp_totals[kThreads / 32];
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  local = warpCombine(local);
  if (lane == 0) warp_totals[warp] = local;
  __syncthreads();
  if (warp == 0) {
    local = warpCombine(lane < kThreads / 32 ? warp_totals[lane] : MaxSum{-INFINITY, 0.0f});
    if (lane == 0) warp_totals[0] = local;
  }
  __syncthreads();
  const MaxSum total = warp_totals[0];
  const float inverse = total.sum > 0.0f ? 1.0f / total.sum : 0.0f;

  for (int base = first; base < seq_kv; base += kStride) {
    auto pack = *reinterpret_cast<const Pack<T, kVec>*>(scores_row + base);
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      const float p = base + e < visible ? __expf(toFloat(pack.values[e]) - total.max) * inverse : 0.0f;
      pack.values[e] = fromFloat<T>(p);
    }
    *reinterpret_cast<Pack<T, kVec>*>(scores_row + base) = pack;
  }
}

template <typename T>
cudaError_t launchTyped(void* scores, std::int64_t rows, int seq_q, int seq_kv, std::int64_t row_stride, bool causal,
                        cudaStream_t stream) {
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  const dim3 grid(static_cast<unsigned>(rows));
  T* const typed = static_cast<T*>(scores);
  // Packs may run past seq_kv up to the next multiple of kVec, which an aligned row stride holds.
  if (row_stride % kVec != 0) {
    maskedRowSoftmaxKernel<T, 1, 128><<<grid, 128, 0, stream>>>(typed, seq_q, seq_kv, row_stride, causal);
  } else if (seq_kv / kVec >= 2048) {
    maskedRowSoftmaxKernel<T, kVec, 512><<<grid, 512, 0, stream>>>(typed, seq_q, seq_kv, row_stride, causal);
  } else {
    maskedRowSoftmaxKernel<T, kVec, 128><<<grid, 128, 0, stream>>>(typed, seq_q, seq_kv, row_stride, causal);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchMaskedRowSoftmax(void* scores, DType dtype, std::int64_t rows, int seq_q, int seq_kv,
                                   std::int64_t row_stride, bool causal, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  switch (dtype) {
    case DType::F16: return launchTyped<__half>(scores, rows, seq_q, seq_kv, row_stride, causal, stream);
    case DType::BF16: return launchTyped<__nv_bfloat16>(scores, rows, seq_q, seq_kv, row_stride, causal, stream);
    case DType::F32: return launchTyped<float>(scores, rows, seq_q, seq_kv, row_stride, causal, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace attnbench::kernels::cuda::detail
