// Small device helpers shared by the CUDA kernels (flash sm80, Hopper flash, decode, standard
// softmax, model layers): element conversions, the fp32 -> 16-bit pair packing of P, the exp2
// softmax step and the quad reductions of an mma/wgmma accumulator row. All __forceinline__, so
// each kernel compiles them exactly as if they were written in place.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace attnbench::kernels::cuda {

// Programmatic dependent launch (sm_90 and later). A kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization may begin while the kernel before it in the
// stream still runs: it lets its own successor start at once
// (allowNextKernel: the successor's blocks take SMs only as this grid's blocks leave them) and waits,
// before it reads or writes anything that the previous kernels touch, until they have completed
// (awaitPreviousKernel). Every thread of such a kernel waits, so that it can never complete before its
// predecessor: a chain of overlapped kernels keeps the stream's order. Kept in CUDA graphs as
// programmatic edges. On older devices, and in a kernel launched the ordinary way, both are no-ops.
__device__ __forceinline__ void allowNextKernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void awaitPreviousKernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Storage element (float, __half or __nv_bfloat16) to fp32 and back; 16-bit stores round to nearest.
template <typename T>
__device__ __forceinline__ float toFloat(T x) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(x);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(x);
  } else {
    static_assert(std::is_same_v<T, float>, "storage elements are float, __half or __nv_bfloat16");
    return x;
  }
}

template <typename T>
__device__ __forceinline__ T fromFloat(float x) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(x);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(x);
  } else {
    static_assert(std::is_same_v<T, float>, "storage elements are float, __half or __nv_bfloat16");
    return x;
  }
}

// Two fp32 values as one register of two fp16/bf16 values (`low` at the lower address).
template <typename Element>
__device__ __forceinline__ std::uint32_t packPair(float low, float high) {
  if constexpr (std::is_same_v<Element, __half>) {
    const __half2 pair = __floats2half2_rn(low, high);
    return *reinterpret_cast<const std::uint32_t*>(&pair);
  } else {
    const __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
    return *reinterpret_cast<const std::uint32_t*>(&pair);
  }
}

// exp2f's hardware path (MUFU.EX2) without the library's denormal fix-ups: a probability below 2^-126
// flushes to zero, which the fp16/bf16 P and the fp32 row sum cannot tell apart from it anyway.
__device__ __forceinline__ float exp2Fast(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Max and sum over the 4 lanes of a quad, which hold one accumulator row between them.
__device__ __forceinline__ float quadMax(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quadSum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// Tile counts of the causal bounds, where the row/key offset may be negative (Nq > Nk).
__device__ __forceinline__ int ceilDivNonNegative(int x, int d) { return x <= 0 ? 0 : (x + d - 1) / d; }
__device__ __forceinline__ int floorDivNonNegative(int x, int d) { return x <= 0 ? 0 : x / d; }

}  // namespace attnbench::kernels::cuda
