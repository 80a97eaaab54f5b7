#include <algorithm>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "attnbench/kernels/cuda_model_layers.h"
#include "device_math.cuh"

namespace attnbench::kernels::cuda {
namespace {

// Calls f.template operator()<T>() with T the storage type of `dtype`; 16-bit types only unless
// `allow_f32`.
template <typename F>
cudaError_t dispatch(DType dtype, bool allow_f32, F&& f) {
  switch (dtype) {
    case DType::F16: return f(__half{});
    case DType::BF16: return f(__nv_bfloat16{});
    case DType::F32: return allow_f32 ? f(float{}) : cudaErrorInvalidValue;
  }
  return cudaErrorInvalidValue;
}

unsigned gridFor(std::size_t count, unsigned threads) {
  const std::size_t wanted = (count + threads - 1) / threads;
  return static_cast<unsigned>(wanted < 65536 ? wanted : 65536);
}

constexpr int kNormThreads = 256;

// One block per row: fp32 sum of squares (warp shuffles, then one value per warp in shared memory),
// then the scaled row; the second read of the row hits L1/L2.
template <typename T>
__global__ void rmsNormKernel(const T* x, std::int64_t x_stride, const T* weight, int dim, float eps, T* out,
                              std::int64_t out_stride) {
  const T* row = x + blockIdx.x * x_stride;
  T* dst = out + blockIdx.x * out_stride;
  float sum = 0;
  for (int i = threadIdx.x; i < dim; i += kNormThreads) {
    const float v = toFloat(row[i]);
    sum += v * v;
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  __shared__ float warp_sums[kNormThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0;
  for (int w = 0; w < kNormThreads / 32; ++w) total += warp_sums[w];
  const float inv_rms = rsqrtf(total / static_cast<float>(dim) + eps);
  // Hugging Face rounds the normalized row to the storage type before multiplying by the weight.
  for (int i = threadIdx.x; i < dim; i += kNormThreads) {
    dst[i] = fromFloat<T>(toFloat(fromFloat<T>(toFloat(row[i]) * inv_rms)) * toFloat(weight[i]));
  }
}

// Grid (token, head over Hq + 2 Hkv); one thread per rotated pair (i, i + D/2).
template <typename T>
__global__ void rotaryAppendKernel(RotaryAppendParams p) {
  const int token = blockIdx.x;
  const int head = blockIdx.y;
  const int i = threadIdx.x;
  const int half = p.head_dim / 2;
  const int b = token / p.new_tokens;
  const int position = p.first_position + token % p.new_tokens;
  const int qkv_width = (p.heads_q + 2 * p.heads_kv) * p.head_dim;
  T* src = static_cast<T*>(p.qkv) + static_cast<std::int64_t>(token) * qkv_width + head * p.head_dim;
  const bool is_v = head >= p.heads_q + p.heads_kv;
  const int kv_head = head - p.heads_q - (is_v ? p.heads_kv : 0);
  T* cache_row = nullptr;
  if (head >= p.heads_q) {
    T* cache = static_cast<T*>(is_v ? p.v_cache : p.k_cache);
    cache_row = cache + ((static_cast<std::int64_t>(b) * p.heads_kv + kv_head) * p.max_tokens + position) * p.head_dim;
  }
  if (is_v) {
    cache_row[i] = src[i];
    cache_row[i + half] = src[i + half];
    return;
  }
  // fp32 inverse frequency and angle, as Hugging Face computes them.
  const float inv_freq = 1.0f / powf(p.theta, static_cast<float>(2 * i) / static_cast<float>(p.head_dim));
  float s, c;
  sincosf(static_cast<float>(position) * inv_freq, &s, &c);
  const float a = toFloat(src[i]);
  const float bv = toFloat(src[i + half]);
  T* dst = cache_row != nullptr ? cache_row : src;
  if (head < p.heads_q && p.q_out != nullptr) {
    const int t = token % p.new_tokens;
    dst = static_cast<T*>(p.q_out) + ((static_cast<std::int64_t>(b) * p.heads_q + head) * p.new_tokens + t) * p.head_dim;
  }
  dst[i] = fromFloat<T>(a * c - bv * s);
  dst[i + half] = fromFloat<T>(bv * c + a * s);
}

// Grid (token row of the output, head); a thread per element of the head.
template <typename T>
__global__ void headsToRowsKernel(const T* packed, int heads, int tokens, int head_dim, T* rows) {
  const int row = blockIdx.x;  // b * tokens + t
  const int b = row / tokens;
  const int t = row % tokens;
  const int h = blockIdx.y;
  const T* src = packed + ((static_cast<std::int64_t>(b) * heads + h) * tokens + t) * head_dim;
  T* dst = rows + (static_cast<std::int64_t>(row) * heads + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) dst[d] = src[d];
}

template <typename T>
__global__ void swigluKernel(const T* gate_up, int rows, int ffn, T* out) {
  const std::size_t count = static_cast<std::size_t>(rows) * ffn;
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t r = e / ffn;
    const std::size_t j = e % ffn;
    const float g = toFloat(gate_up[r * 2 * ffn + j]);
    const float u = toFloat(gate_up[r * 2 * ffn + ffn + j]);
    out[e] = fromFloat<T>(g / (1.0f + __expf(-g)) * u);
  }
}

template <typename T>
__global__ void embeddingKernel(const T* table, int hidden, const std::int32_t* tokens, T* out) {
  const T* row = table + static_cast<std::int64_t>(tokens[blockIdx.x]) * hidden;
  T* dst = out + static_cast<std::int64_t>(blockIdx.x) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = row[i];
}

template <typename T>
__global__ void scaleShiftKernel(T* x, std::size_t count, float scale, float shift) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    x[e] = fromFloat<T>(toFloat(x[e]) * scale + shift);
  }
}

template <typename S, typename D>
__global__ void convertKernel(const S* src, D* dst, std::size_t count) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    dst[e] = fromFloat<D>(toFloat(src[e]));
  }
}

// Eight 16-bit values of one 16-byte chunk, widened to fp32.
template <typename T>
__device__ __forceinline__ void widen8(const uint4& chunk, float (&out)[8]) {
  const auto* pairs = reinterpret_cast<const T*>(&chunk);
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = toFloat(pairs[i]);
}

constexpr int kSkinnyWarps = 8;   // output rows per block (one per warp)
constexpr int kSkinnyUnroll = 8;  // 16-byte weight loads in flight per lane (a 4096-wide row in two rounds)

// One warp per output feature: each lane streams kSkinnyUnroll chunks of the weight row at a time
// (enough bytes in flight to cover HBM latency with 8 warps per block), multiplies them with the
// matching chunks of every input row (L1/L2-resident), and the warp reduces by shuffles.
template <typename T, typename Y, int kRows>
__global__ void __launch_bounds__(kSkinnyWarps * 32)
    skinnyLinearKernel(const T* x, int rows, int in, const T* w, int out, Y* y, bool accumulate) {
  const int lane = threadIdx.x % 32;
  const int feature = blockIdx.x * kSkinnyWarps + threadIdx.x / 32;
  if (feature >= out) return;
  const auto* weight = reinterpret_cast<const uint4*>(w + static_cast<std::int64_t>(feature) * in);
  const int chunks = in / 8;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  for (int base = lane; base < chunks; base += 32 * kSkinnyUnroll) {
    uint4 wv[kSkinnyUnroll];
#pragma unroll
    for (int u = 0; u < kSkinnyUnroll; ++u) {
      const int c = base + u * 32;
      wv[u] = c < chunks ? __ldcs(weight + c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kSkinnyUnroll; ++u) {
      const int c = base + u * 32;
      if (c >= chunks) break;
      float wf[8];
      widen8<T>(wv[u], wf);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= rows) break;
        float xf[8];
        widen8<T>(__ldg(reinterpret_cast<const uint4*>(x + static_cast<std::int64_t>(r) * in) + c), xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[r] = fmaf(wf[i], xf[i], acc[r]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
    float sum = acc[r];
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) {
      Y* dst = y + static_cast<std::int64_t>(r) * out + feature;
      *dst = fromFloat<Y>(accumulate ? sum + toFloat(*dst) : sum);
    }
  }
}

template <typename T, typename Y>
cudaError_t launchSkinny(const void* x, int rows, int in, const void* w, int out, void* y, bool accumulate,
                         cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((out + kSkinnyWarps - 1) / kSkinnyWarps);
  const auto* xs = static_cast<const T*>(x);
  const auto* ws = static_cast<const T*>(w);
  auto* ys = static_cast<Y*>(y);
  // The row count is a template bound so that the accumulators stay in registers.
  if (rows <= 1) {
    skinnyLinearKernel<T, Y, 1><<<blocks, kSkinnyWarps * 32, 0, stream>>>(xs, rows, in, ws, out, ys, accumulate);
  } else if (rows <= 2) {
    skinnyLinearKernel<T, Y, 2><<<blocks, kSkinnyWarps * 32, 0, stream>>>(xs, rows, in, ws, out, ys, accumulate);
  } else if (rows <= 4) {
    skinnyLinearKernel<T, Y, 4><<<blocks, kSkinnyWarps * 32, 0, stream>>>(xs, rows, in, ws, out, ys, accumulate);
  } else {
    skinnyLinearKernel<T, Y, kSkinnyLinearMaxRows><<<blocks, kSkinnyWarps * 32, 0, stream>>>(xs, rows, in, ws, out, ys,
                                                                                            accumulate);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t skinnyLinear(const void* x, int rows, int in, const void* w, int out, void* y, DType y_dtype,
                         bool accumulate, DType dtype, cudaStream_t stream) {
  if (rows <= 0 || rows > kSkinnyLinearMaxRows || in <= 0 || in % 8 != 0 || out <= 0 ||
      (y_dtype != dtype && y_dtype != DType::F32) || reinterpret_cast<std::uintptr_t>(x) % 16 != 0 ||
      reinterpret_cast<std::uintptr_t>(w) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    return y_dtype == DType::F32 ? launchSkinny<T, float>(x, rows, in, w, out, y, accumulate, stream)
                                 : launchSkinny<T, T>(x, rows, in, w, out, y, accumulate, stream);
  });
}

cudaError_t rmsNorm(const void* x, std::int64_t x_row_stride, const void* weight, int rows, int dim, float eps,
                    void* out, std::int64_t out_row_stride, DType dtype, cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return cudaErrorInvalidValue;
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    rmsNormKernel<T><<<rows, kNormThreads, 0, stream>>>(static_cast<const T*>(x), x_row_stride,
                                                       static_cast<const T*>(weight), dim, eps, static_cast<T*>(out),
                                                       out_row_stride);
    return cudaGetLastError();
  });
}

cudaError_t rotaryAppendKv(const RotaryAppendParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.new_tokens <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.head_dim <= 0 ||
      p.head_dim % 2 != 0 || p.head_dim / 2 > 1024 || p.first_position < 0 ||
      p.first_position + p.new_tokens > p.max_tokens) {
    return cudaErrorInvalidValue;
  }
  return dispatch(p.dtype, false, [&](auto tag) {
    using T = decltype(tag);
    const dim3 grid(static_cast<unsigned>(p.batch * p.new_tokens), static_cast<unsigned>(p.heads_q + 2 * p.heads_kv));
    rotaryAppendKernel<T><<<grid, static_cast<unsigned>(p.head_dim / 2), 0, stream>>>(p);
    return cudaGetLastError();
  });
}

cudaError_t headsToRows(const void* packed, int batch, int heads, int tokens, int head_dim, void* rows, DType dtype,
                        cudaStream_t stream) {
  if (batch <= 0 || heads <= 0 || tokens <= 0 || head_dim <= 0) return cudaErrorInvalidValue;
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    const dim3 grid(static_cast<unsigned>(batch * tokens), static_cast<unsigned>(heads));
    headsToRowsKernel<T><<<grid, static_cast<unsigned>(std::min(head_dim, 256)), 0, stream>>>(
        static_cast<const T*>(packed), heads, tokens, head_dim, static_cast<T*>(rows));
    return cudaGetLastError();
  });
}

cudaError_t swiglu(const void* gate_up, int rows, int ffn, void* out, DType dtype, cudaStream_t stream) {
  if (rows <= 0 || ffn <= 0) return cudaErrorInvalidValue;
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    swigluKernel<T><<<gridFor(static_cast<std::size_t>(rows) * ffn, 256), 256, 0, stream>>>(
        static_cast<const T*>(gate_up), rows, ffn, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t embeddingLookup(const void* table, int hidden, const std::int32_t* tokens, int count, void* out,
                            DType dtype, cudaStream_t stream) {
  if (hidden <= 0 || count <= 0) return cudaErrorInvalidValue;
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    embeddingKernel<T><<<count, 256, 0, stream>>>(static_cast<const T*>(table), hidden, tokens, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t scaleShift(void* x, std::size_t count, float scale, float shift, DType dtype, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  return dispatch(dtype, true, [&](auto tag) {
    using T = decltype(tag);
    scaleShiftKernel<T><<<gridFor(count, 256), 256, 0, stream>>>(static_cast<T*>(x), count, scale, shift);
    return cudaGetLastError();
  });
}

cudaError_t convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, std::size_t count,
                    cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  return dispatch(src_dtype, true, [&](auto src_tag) {
    using S = decltype(src_tag);
    return dispatch(dst_dtype, true, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      convertKernel<S, D><<<gridFor(count, 256), 256, 0, stream>>>(static_cast<const S*>(src), static_cast<D*>(dst),
                                                                   count);
      return cudaGetLastError();
    });
  });
}

}  // namespace attnbench::kernels::cuda
