#include <algorithm>
#include <cstdint>
#include <type_traits>

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

// The current device's compute capability major and SM count (zeros when the query fails).
struct CurrentDevice {
  int major = 0, sms = 0;
};
CurrentDevice currentDevice() {
  CurrentDevice d;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return {};
  }
  return d;
}

template <typename... Params, typename... Args>
cudaError_t launchOverlapped(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
                             cudaStream_t stream, Args... args) {
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &overlap;
  config.numAttrs = currentDevice().major >= 9 ? 1 : 0;
  const cudaError_t status = cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
  return status != cudaSuccess ? status : cudaGetLastError();
}

// Eight 16-bit values of one 16-byte chunk, widened to fp32.
template <typename T>
__device__ __forceinline__ void widen8(const uint4& chunk, float (&out)[8]) {
  const auto* pairs = reinterpret_cast<const T*>(&chunk);
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = toFloat(pairs[i]);
}

constexpr int kNormThreads = 256;

// 1 / sqrt(mean(row^2) + eps), reduced over a block of kNormThreads threads in one fixed order (each
// thread's chunks, warp shuffles, then the warps' sums in turn), so that a projection that normalizes
// its own input gets bit for bit what rmsNormKernel writes. Every thread of the block must call it.
// Thread t sums elements 8t .. 8t + 7, then 8 (t + kNormThreads) .. and so on, so that a row of 16-byte
// aligned chunks is read with one 16-byte load per chunk; any other row is read element by element in
// the same order, to the same sum.
template <typename T>
__device__ float rowInvRms(const T* row, int dim, float eps) {
  __shared__ float warp_sums[kNormThreads / 32];
  const bool chunked = sizeof(T) == 2 && dim % 8 == 0 && reinterpret_cast<std::uintptr_t>(row) % 16 == 0;
  float sum = 0;
  for (int base = 8 * static_cast<int>(threadIdx.x); base < dim; base += 8 * kNormThreads) {
    float v[8];
    if (chunked) {
      widen8<T>(*reinterpret_cast<const uint4*>(row + base), v);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = base + i < dim ? toFloat(row[base + i]) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) sum = fmaf(v[i], v[i], sum);
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0;
  for (int w = 0; w < kNormThreads / 32; ++w) total += warp_sums[w];
  __syncthreads();  // warp_sums is free for the next row
  return rsqrtf(total / static_cast<float>(dim) + eps);
}

// One normalized element. Hugging Face rounds the normalized row to the storage type before
// multiplying by the weight (and the product again).
template <typename T>
__device__ __forceinline__ float normalizedElement(float x, float inv_rms, float weight) {
  return toFloat(fromFloat<T>(toFloat(fromFloat<T>(x * inv_rms)) * weight));
}

__device__ __forceinline__ float siluTimes(float gate, float up) { return gate / (1.0f + __expf(-gate)) * up; }

// Writes the RMSNorm of `rows` input rows (x_row_stride apart) into dst ([rows][in], shared memory),
// what rmsNormKernel writes. Every thread of the block must call it; dst is ready after it returns.
// Rows, weight and dst in 16-byte chunks (in a multiple of 8, all 16-byte aligned).
template <typename T>
__device__ void normalizeRows(const T* x, std::int64_t x_row_stride, int rows, int in, const T* norm_weight,
                              float eps, T* dst) {
  for (int r = 0; r < rows; ++r) {
    const T* row = x + r * x_row_stride;
    const float inv_rms = rowInvRms(row, in, eps);
    for (int base = 8 * static_cast<int>(threadIdx.x); base < in; base += 8 * kNormThreads) {
      float xv[8], wv[8];
      widen8<T>(*reinterpret_cast<const uint4*>(row + base), xv);
      widen8<T>(*reinterpret_cast<const uint4*>(norm_weight + base), wv);
      uint4 chunk;
      auto* out = reinterpret_cast<T*>(&chunk);
#pragma unroll
      for (int i = 0; i < 8; ++i) out[i] = fromFloat<T>(normalizedElement<T>(xv[i], inv_rms, wv[i]));
      *reinterpret_cast<uint4*>(dst + r * in + base) = chunk;
    }
  }
  __syncthreads();
}

// Share `share` of `shares` of an L2 prefetch (contiguous pieces of whole 16-byte units). A bulk
// prefetch is one instruction for up to 16 KiB; it is a hint: nothing waits for it.
__device__ __forceinline__ void prefetchShareL2(const L2Prefetch& prefetch, std::size_t share, std::size_t shares) {
  if (prefetch.bytes == 0) return;
  const std::size_t units = prefetch.bytes / 16;
  const std::size_t per_share = (units + shares - 1) / shares;
  const std::size_t begin = min(units, share * per_share);
  const std::size_t end = min(units, begin + per_share);
  const char* base = static_cast<const char*>(prefetch.base);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr std::size_t kBulkUnits = 1024;  // 16 KiB per instruction
  for (std::size_t u = begin; u < end; u += kBulkUnits) {
    const auto bytes = static_cast<unsigned>(min(kBulkUnits, end - u) * 16);
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(base + u * 16), "r"(bytes) : "memory");
  }
#else
  for (std::size_t offset = begin * 16; offset < end * 16; offset += 128) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(base + offset));
  }
#endif
}

// One block per row; the second read of the row hits L1/L2.
template <typename T>
__global__ void __launch_bounds__(kNormThreads) rmsNormKernel(const T* x, std::int64_t x_stride, const T* weight,
                                                              int dim, float eps, T* out, std::int64_t out_stride) {
  allowNextKernel();
  awaitPreviousKernel();
  const T* row = x + blockIdx.x * x_stride;
  T* dst = out + blockIdx.x * out_stride;
  const float inv_rms = rowInvRms(row, dim, eps);
  for (int i = static_cast<int>(threadIdx.x); i < dim; i += kNormThreads) {
    dst[i] = fromFloat<T>(normalizedElement<T>(toFloat(row[i]), inv_rms, toFloat(weight[i])));
  }
}

// Row of (sequence b, KV head h, position j) in a cache of rows of head_dim elements: [B, Hkv,
// max_tokens] when contiguous, through the block table into the pool [pages, Hkv, page_size] when paged.
__device__ __forceinline__ std::int64_t cacheRow(const PagedKv& pages, int b, int h, int j, int heads_kv,
                                                 int max_tokens) {
  if (pages.block_table == nullptr) return (static_cast<std::int64_t>(b) * heads_kv + h) * max_tokens + j;
  const std::int64_t page = pages.block_table[static_cast<std::int64_t>(b) * pages.pages_per_sequence + j / pages.page_size];
  return (page * heads_kv + h) * pages.page_size + j % pages.page_size;
}

// Grid (chunk blocks, sequence x KV head); a thread per 16-byte chunk, consecutive threads covering
// consecutive chunks of consecutive rows, so one block copies several rows (16 at D = 128). A block per
// row (D / 8 threads) made the copy latency-bound: 65 536 blocks of 16 threads at N = 2048.
constexpr int kGatherThreads = 256;
__global__ void gatherPagedKvKernel(const uint4* pool, PagedKv pages, int heads_kv, int tokens, int row_chunks,
                                    uint4* dst, int dst_max_tokens) {
  allowNextKernel();
  awaitPreviousKernel();
  const std::int64_t chunk = static_cast<std::int64_t>(blockIdx.x) * kGatherThreads + threadIdx.x;
  if (chunk >= static_cast<std::int64_t>(tokens) * row_chunks) return;
  const int j = static_cast<int>(chunk / row_chunks);
  const int c = static_cast<int>(chunk % row_chunks);
  const int b = static_cast<int>(blockIdx.y) / heads_kv;
  const int h = static_cast<int>(blockIdx.y) % heads_kv;
  dst[cacheRow({}, b, h, j, heads_kv, dst_max_tokens) * row_chunks + c] = pool[cacheRow(pages, b, h, j, heads_kv, 0) * row_chunks + c];
}

// The rotary angle of pair (i, i + D/2) at `position`: fp32 inverse frequency and angle, as Hugging Face
// computes them.
__device__ __forceinline__ void rotaryAngle(const RotaryAppendParams& p, int position, int i, float* s, float* c) {
  const float inv_freq = 1.0f / powf(p.theta, static_cast<float>(2 * i) / static_cast<float>(p.head_dim));
  sincosf(static_cast<float>(position) * inv_freq, s, c);
}

// Stores pair (i, i + D/2) of head `head` of token t of sequence b, whose QKV row is `row`: a Q head
// rotated in place (or into q_out), a K head rotated and a V head copied into the cache at the token's
// position.
template <typename T>
__device__ __forceinline__ void storeRotaryPair(const RotaryAppendParams& p, T* row, int b, int t, int head, int i,
                                                float lo, float hi, float s, float c) {
  const int half = p.head_dim / 2;
  T* dst = row + head * p.head_dim;  // Q rotated in place unless packed per head
  const bool is_v = head >= p.heads_q + p.heads_kv;
  if (head >= p.heads_q) {
    const int kv_head = head - p.heads_q - (is_v ? p.heads_kv : 0);
    T* cache = static_cast<T*>(is_v ? p.v_cache : p.k_cache);
    dst = cache + cacheRow(p.pages, b, kv_head, p.first_position + t, p.heads_kv, p.max_tokens) * p.head_dim;
  } else if (p.q_out != nullptr) {
    dst = static_cast<T*>(p.q_out) + ((static_cast<std::int64_t>(b) * p.heads_q + head) * p.new_tokens + t) * p.head_dim;
  }
  // V is copied: a 16-bit value survives the round trip through fp32 bit for bit.
  dst[i] = fromFloat<T>(is_v ? lo : lo * c - hi * s);
  dst[i + half] = fromFloat<T>(is_v ? hi : hi * c + lo * s);
}

// Rotary embedding of one token's Q and K heads and the append of its K and V to the cache. Grid
// (token, head group); a block's threads are `lanes` rows of D/2 threads, thread (lane, i) handling the
// pair (i, i + D/2) of heads lane, lane + lanes, ... of its group. The angle depends on the position and
// i only, so each thread computes it once for all the heads it rotates: a prefill token has Hq + Hkv
// rotated heads, and computing sin/cos per head and pair made this kernel slower than the QKV GEMM
// before it. The values are the same as per head (same fp32 expressions), bit for bit.
template <typename T>
__global__ void rotaryAppendKernel(RotaryAppendParams p, int heads_per_group) {
  allowNextKernel();
  awaitPreviousKernel();
  const int token = blockIdx.x;
  const int half = p.head_dim / 2;
  const int i = static_cast<int>(threadIdx.x) % half;
  const int lane = static_cast<int>(threadIdx.x) / half;
  const int lanes = static_cast<int>(blockDim.x) / half;
  const int b = token / p.new_tokens;
  const int t = token % p.new_tokens;
  const int position = p.first_position + t;
  const int heads = p.heads_q + 2 * p.heads_kv;
  const int first_head = static_cast<int>(blockIdx.y) * heads_per_group;
  const int end_head = min(heads, first_head + heads_per_group);
  float s, c;
  rotaryAngle(p, position, i, &s, &c);
  T* row = static_cast<T*>(p.qkv) + static_cast<std::int64_t>(token) * heads * p.head_dim;
  // kBatch heads per round, all loaded before any is stored: one dependent load-store round trip per
  // head left the kernel latency-bound at a prefill's 24 heads per thread. Heads never overlap, so
  // loading ahead of the (in-place) stores is safe.
  constexpr int kBatch = 4;
  for (int base = first_head + lane; base < end_head; base += kBatch * lanes) {
    float lo[kBatch], hi[kBatch];
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int head = base + k * lanes;
      if (head < end_head) {
        lo[k] = toFloat(row[head * p.head_dim + i]);
        hi[k] = toFloat(row[head * p.head_dim + i + half]);
      }
    }
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int head = base + k * lanes;
      if (head >= end_head) break;
      storeRotaryPair(p, row, b, t, head, i, lo[k], hi[k], s, c);
    }
  }
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

// Grid (row, column chunk): no 64-bit division per element (it made this kernel run at a third of
// the memory bandwidth on a prefill's [N, 2 ffn] input); `vector` elements per thread, 16-byte
// accesses when the rows allow them.
template <typename T, int kVector>
__global__ void swigluKernel(const T* gate_up, int ffn, T* out) {
  allowNextKernel();
  awaitPreviousKernel();
  const auto r = static_cast<std::int64_t>(blockIdx.x);
  const int j = (static_cast<int>(blockIdx.y) * static_cast<int>(blockDim.x) + static_cast<int>(threadIdx.x)) * kVector;
  if (j >= ffn) return;
  const T* gate = gate_up + r * 2 * ffn + j;
  const T* up = gate + ffn;
  T* dst = out + r * ffn + j;
  using Chunk = std::conditional_t<kVector == 8, uint4, T>;
  Chunk g_chunk = *reinterpret_cast<const Chunk*>(gate);
  Chunk u_chunk = *reinterpret_cast<const Chunk*>(up);
  Chunk o_chunk;
  const T* g = reinterpret_cast<const T*>(&g_chunk);
  const T* u = reinterpret_cast<const T*>(&u_chunk);
  T* o = reinterpret_cast<T*>(&o_chunk);
#pragma unroll
  for (int k = 0; k < kVector; ++k) o[k] = fromFloat<T>(siluTimes(toFloat(g[k]), toFloat(u[k])));
  *reinterpret_cast<Chunk*>(dst) = o_chunk;
}

template <typename T>
__global__ void embeddingKernel(const T* table, int hidden, const std::int32_t* tokens, T* out) {
  allowNextKernel();
  awaitPreviousKernel();
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

constexpr int kSkinnyWarps = 8;   // warps per block
constexpr int kSkinnyUnroll = 8;  // 16-byte weight loads per lane and round (a 4096-wide row in two rounds)
constexpr int kRoundChunks = 32 * kSkinnyUnroll;  // 16-byte chunks of a weight row per warp and round
static_assert(kSkinnyWarps * 32 == kNormThreads, "a projection block normalizes its input rows as rmsNormKernel does");

// One round of a lane's weight loads: chunks base, base + 32, ... (zeros past the row's end).
__device__ __forceinline__ void loadWeightRound(const uint4* weight, int base, int chunks, uint4 (&wv)[kSkinnyUnroll]) {
#pragma unroll
  for (int u = 0; u < kSkinnyUnroll; ++u) {
    const int c = base + u * 32;
    wv[u] = c < chunks ? __ldcs(weight + c) : make_uint4(0, 0, 0, 0);
  }
}

// Multiplies one round of a lane's weight chunks (base, base + 32, ... below `chunks`) into acc[r] with
// the same chunks of the input rows, `x_row_chunks` apart: the normalized rows in shared memory, or the
// rows in global memory (read through the read-only path; L1-resident after the first warp).
// Branch-free: a chunk past the row's end (or of a row past `rows`) is loaded from the first input
// chunk and replaced by zeros, and multiplies the zeros loadWeightRound gave its weights, so that the
// compiler can issue a round's input loads together. With a branch per chunk (break at the row's end)
// each chunk's input load waited for the one before it (SASS, sm_90).
template <typename T, int kRows, bool kXShared>
__device__ __forceinline__ void multiplyRound(const uint4 (&weights)[kSkinnyUnroll], int base, int chunks, int rows,
                                              const uint4* x, std::int64_t x_row_chunks, float (&acc)[kRows]) {
#pragma unroll
  for (int u = 0; u < kSkinnyUnroll; ++u) {
    const int c = base + u * 32;
    float wf[8];
    widen8<T>(weights[u], wf);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const bool inside = c < chunks && (kRows == 1 || r < rows);
      const uint4* at = inside ? x + r * x_row_chunks + c : x;
      const uint4 loaded = kXShared ? *at : __ldg(at);
      float xf[8];
      widen8<T>(inside ? loaded : make_uint4(0, 0, 0, 0), xf);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[r] = fmaf(wf[i], xf[i], acc[r]);
    }
  }
}

// Writes one output from its row sum: y = sum, y += sum (the residual), or, with the SwiGLU, the gate
// and up sums rounded to the storage type first, as the unfused path stores them.
template <typename T, typename Y>
__device__ __forceinline__ void storeOutput(const SkinnyLinearParams& p, Y* dst, float sum, float up_sum) {
  if (p.swiglu) {
    *dst = fromFloat<Y>(siluTimes(toFloat(fromFloat<T>(sum)), toFloat(fromFloat<T>(up_sum))));
  } else {
    *dst = fromFloat<Y>(p.accumulate ? sum + toFloat(*dst) : sum);
  }
}

// Whether the projection's outputs come in pairs that one warp computes in turn: the SwiGLU's gate and
// up rows of one output, or, with the rotary embedding, the elements (i, i + D/2) of one head.
__device__ __forceinline__ bool pairedRows(const SkinnyLinearParams& p) { return p.swiglu || p.rotary.k_cache != nullptr; }

// The rounds of one warp of the whole-row kernel (skinnyLinearKernel): item k of warp g is output
// g + k * (all warps); with paired rows an item is the pair's first row, then its second (the SwiGLU's
// gate row j and up row items + j; the rotary embedding's rows i and i + D/2 of one head). A row is
// streamed in rounds of kRoundChunks 16-byte chunks; round t is a piece of one row.
struct WarpRounds {
  __device__ WarpRounds(const SkinnyLinearParams& p, int warp, int warps_)
      : first(warp), warps(warps_), items(pairedRows(p) ? p.out / 2 : p.out),
        pair_offset(!pairedRows(p) ? 0 : p.swiglu ? items : p.rotary.head_dim / 2), chunks(p.in / 8),
        rounds_per_row((chunks + kRoundChunks - 1) / kRoundChunks), rounds_per_item(rounds_per_row * (pair_offset > 0 ? 2 : 1)),
        count(first < items ? (items - first + warps - 1) / warps * rounds_per_item : 0) {}
  __device__ int item(int t) const { return first + t / rounds_per_item * warps; }
  __device__ int row(int t) const {  // of w
    const int k = item(t);
    if (pair_offset == 0) return k;
    // Pairs (j, j + pair_offset) in blocks of 2 pair_offset rows: one block for the SwiGLU, a head for RoPE.
    return k / pair_offset * 2 * pair_offset + k % pair_offset + t % rounds_per_item / rounds_per_row * pair_offset;
  }
  __device__ int firstChunk(int t) const { return t % rounds_per_row * kRoundChunks; }  // of round t in its row
  __device__ bool startsRow(int t) const { return t % rounds_per_row == 0; }
  __device__ bool endsRow(int t) const { return t % rounds_per_row == rounds_per_row - 1; }
  __device__ bool isFirstOfPair(int t) const { return pair_offset > 0 && t % rounds_per_item < rounds_per_row; }
  int first, warps, items, pair_offset, chunks, rounds_per_row, rounds_per_item;
  int count;  // rounds of this warp
};

// A warp's row sums over its rounds: multiply() takes each round's weights into the accumulators;
// finish() ends the round: at the end of a row the sums are reduced over the warp and lane 0 stores the
// output (with paired rows, the first row's sums wait in `first` while the second row streams). Split
// in two so that the kernel issues its next loads in between.
template <typename T, typename Y, int kRows>
struct RowSums {
  template <bool kXShared>
  __device__ void multiply(const SkinnyLinearParams& p, const WarpRounds& rounds, int t,
                           const uint4 (&wv)[kSkinnyUnroll], int lane, const uint4* x, std::int64_t x_row_chunks) {
    if (rounds.startsRow(t)) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    }
    multiplyRound<T, kRows, kXShared>(wv, rounds.firstChunk(t) + lane, rounds.chunks, p.rows, x, x_row_chunks, acc);
  }
  __device__ void finish(const SkinnyLinearParams& p, const WarpRounds& rounds, int t, int lane) {
    if (!rounds.endsRow(t)) return;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      for (int offset = 16; offset > 0; offset /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], offset);
    }
    if (rounds.isFirstOfPair(t)) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) first[r] = acc[r];
      return;
    }
    if (lane != 0) return;
    if (p.rotary.k_cache != nullptr) {
      storeRotated(p, rounds.item(t));
      return;
    }
    auto* y = static_cast<Y*>(p.y) + rounds.item(t);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= p.rows) break;
      storeOutput<T>(p, y + static_cast<std::int64_t>(r) * rounds.items, p.swiglu ? first[r] : acc[r], acc[r]);
    }
  }
  // The rotary epilogue of item k, pair (i, i + D/2) of head k / (D/2), for each row (sequence): both
  // sums rounded to the storage type, as the plain projection stores them for rotaryAppendKv to read.
  __device__ void storeRotated(const SkinnyLinearParams& p, int k) {
    const int half = p.rotary.head_dim / 2;
    float s, c;
    rotaryAngle(p.rotary, p.rotary.first_position, k % half, &s, &c);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= p.rows) break;
      storeRotaryPair(p.rotary, static_cast<T*>(p.y) + static_cast<std::int64_t>(r) * p.out, r, 0, k / half, k % half,
                      toFloat(fromFloat<T>(first[r])), toFloat(fromFloat<T>(acc[r])), s, c);
    }
  }
  float acc[kRows], first[kRows];
};

// The input rows the whole-row kernel multiplies by: with the RMSNorm fused (kNormed, p.norm_weight
// set), the block writes them normalized into `normed` (shared memory, what rmsNormKernel would write)
// and they are read from there; else from global memory. Every thread of the block must call it.
template <typename T, bool kNormed>
struct InputRows {
  __device__ InputRows(const SkinnyLinearParams& p, uint4* normed) {
    const auto* x = static_cast<const T*>(p.x);
    if constexpr (kNormed) {
      normalizeRows(x, p.x_row_stride, p.rows, p.in, static_cast<const T*>(p.norm_weight), p.norm_eps,
                    reinterpret_cast<T*>(normed));
    }
    chunks = kNormed ? normed : reinterpret_cast<const uint4*>(x);
    row_chunks = kNormed ? p.in / 8 : p.x_row_stride / 8;
  }
  const uint4* chunks;
  std::int64_t row_chunks;
};

// Warps that each stream whole weight rows (WarpRounds), in kStages register buffers: round t +
// kStages is issued as soon as round t is multiplied, so a finished row costs no bubble. The first
// rounds are issued before awaitPreviousKernel (weights do not depend on earlier kernels): under an
// overlapped launch the blocks that start on SMs where the previous kernel has finished stream weights
// during its tail. Persistent blocks (the caller's count per SM), so each block does per-block work
// once: with the RMSNorm fused, it normalizes the input rows into shared memory once.
template <typename T, typename Y, int kRows, bool kNormed>
__global__ void __launch_bounds__(kSkinnyWarps * 32, kSkinnyBlocksPerSm) skinnyLinearKernel(SkinnyLinearParams p) {
  constexpr int kStages = 2;
  allowNextKernel();
  extern __shared__ uint4 normed_x[];  // [rows][in / 8] with the RMSNorm fused
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const WarpRounds rounds(p, static_cast<int>(blockIdx.x) * kSkinnyWarps + static_cast<int>(threadIdx.x) / 32,
                          static_cast<int>(gridDim.x) * kSkinnyWarps);
  const auto* w = static_cast<const T*>(p.w);
  const auto issue = [&](int t, uint4(&wv)[kSkinnyUnroll]) {
    loadWeightRound(reinterpret_cast<const uint4*>(w + static_cast<std::int64_t>(rounds.row(t)) * p.in),
                    rounds.firstChunk(t) + lane, rounds.chunks, wv);
  };
  uint4 stages[kStages][kSkinnyUnroll];
#pragma unroll
  for (int s = 0; s < kStages; ++s) {
    if (s < rounds.count) issue(s, stages[s]);
  }
  awaitPreviousKernel();

  const InputRows<T, kNormed> x(p, normed_x);
  RowSums<T, Y, kRows> sums;
  for (int t = 0; t < rounds.count; t += kStages) {
#pragma unroll
    for (int s = 0; s < kStages; ++s) {
      if (t + s >= rounds.count) break;
      sums.template multiply<kNormed>(p, rounds, t + s, stages[s], lane, x.chunks, x.row_chunks);
      if (t + s + kStages < rounds.count) issue(t + s + kStages, stages[s]);
      sums.finish(p, rounds, t + s, lane);
    }
  }
  if (threadIdx.x == 0) prefetchShareL2(p.prefetch_next, blockIdx.x, gridDim.x);
}

// Projections with each weight row split into `splits` contiguous pieces (1, 2, 4 or 8) streamed by
// that many warps of one block, so a block covers kSkinnyWarps / splits weight rows. Blocks are short
// (4 per SM at batch 1): they start and finish at their own pace, where persistent blocks ramp
// up and drain together. Splitting the rows was meant to give out and down (4096 outputs) several waves
// of blocks and down's long rows (11008 inputs) one round of loads per warp; measured, whole rows won
// (launchSkinny). The pieces' sums meet in shared memory and are added in piece order, so the result is
// deterministic; with one piece it is the whole-row kernel's bit for bit. The fusions (not the default
// grid for them, see launchSkinny): with the RMSNorm, every block normalizes the input rows into shared
// memory (what rmsNormKernel writes) while its weights load; with the SwiGLU, a block's weight rows are
// the gate and up rows of its outputs in turn, summed exactly as the plain projection with the same
// splits sums them.
template <typename T, typename Y, int kRows, bool kNormed>
__global__ void __launch_bounds__(kSkinnyWarps * 32, kRows == 1 ? 4 : kSkinnyBlocksPerSm)
    splitRowLinearKernel(SkinnyLinearParams p, int splits) {
  allowNextKernel();
  extern __shared__ uint4 normed_x[];  // [rows][in / 8] with the RMSNorm fused
  __shared__ float piece_sums[kSkinnyWarps][kRows];
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int block_rows = kSkinnyWarps / splits;  // weight rows per block
  const int segments = p.swiglu ? 2 : 1;         // weight rows per output
  const int items = p.out / segments;
  const int item = static_cast<int>(blockIdx.x) * (block_rows / segments) + warp / splits / segments;
  const int feature = min(item, items - 1) + (warp / splits % segments) * items;
  const int chunks = p.in / 8;
  const int piece_chunks = (chunks + splits - 1) / splits;
  const int begin = min(chunks, warp % splits * piece_chunks);
  const int count = item < items ? min(chunks - begin, piece_chunks) : 0;
  const auto* w =
      reinterpret_cast<const uint4*>(static_cast<const T*>(p.w) + static_cast<std::int64_t>(feature) * p.in) + begin;
  uint4 wv[kSkinnyUnroll];
  loadWeightRound(w, lane, count, wv);
  awaitPreviousKernel();

  // A compile-time choice, so that the plain kernel reads x through the read-only path, not generic loads.
  if constexpr (kNormed) {
    normalizeRows(static_cast<const T*>(p.x), p.x_row_stride, p.rows, p.in, static_cast<const T*>(p.norm_weight),
                  p.norm_eps, reinterpret_cast<T*>(normed_x));
  }
  const uint4* x = (kNormed ? normed_x : reinterpret_cast<const uint4*>(p.x)) + begin;
  const std::int64_t x_row_chunks = kNormed ? chunks : p.x_row_stride / 8;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  for (int base = lane;; base += 32 * kSkinnyUnroll) {
    multiplyRound<T, kRows, kNormed>(wv, base, count, p.rows, x, x_row_chunks, acc);
    if (base - lane + 32 * kSkinnyUnroll >= count) break;
    loadWeightRound(w, base + 32 * kSkinnyUnroll, count, wv);
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    for (int offset = 16; offset > 0; offset /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], offset);
    if (lane == 0) piece_sums[warp][r] = acc[r];
  }
  if (threadIdx.x == 0) prefetchShareL2(p.prefetch_next, blockIdx.x, gridDim.x);
  __syncthreads();
  // The first warp of an output's pieces (of its gate pieces with the SwiGLU) writes it.
  if (lane != 0 || warp % (splits * segments) != 0 || item >= items) return;
  const auto rowSum = [&](int first_warp, int r) {
    float sum = piece_sums[first_warp][r];
    for (int s = 1; s < splits; ++s) sum += piece_sums[first_warp + s][r];
    return sum;
  };
  auto* y = static_cast<Y*>(p.y);
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= p.rows) break;
    Y* dst = y + static_cast<std::int64_t>(r) * items + item;
    storeOutput<T>(p, dst, rowSum(warp, r), p.swiglu ? rowSum(warp + splits, r) : 0.0f);
  }
}

// The xor of a round's chunks: what streamRead keeps of the bytes it reads.
__device__ __forceinline__ std::uint32_t foldRound(const uint4 (&wv)[kSkinnyUnroll]) {
  std::uint32_t folded = 0;
#pragma unroll
  for (int u = 0; u < kSkinnyUnroll; ++u) folded ^= wv[u].x ^ wv[u].y ^ wv[u].z ^ wv[u].w;
  return folded;
}

// streamRead on short blocks: splitRowLinearKernel's loads with one piece per row.
__global__ void __launch_bounds__(kSkinnyWarps * 32) streamReadShortKernel(const uint4* src, int row_chunks,
                                                                          std::size_t rows, std::uint32_t* sink) {
  allowNextKernel();
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const std::size_t row = static_cast<std::size_t>(blockIdx.x) * kSkinnyWarps + threadIdx.x / 32;
  const int count = row < rows ? row_chunks : 0;
  const uint4* w = src + row * row_chunks;
  uint4 wv[kSkinnyUnroll];
  loadWeightRound(w, lane, count, wv);
  awaitPreviousKernel();
  std::uint32_t folded = 0;
  for (int base = lane;; base += kRoundChunks) {
    folded ^= foldRound(wv);
    if (base - lane + kRoundChunks >= count) break;
    loadWeightRound(w, base + kRoundChunks, count, wv);
  }
  if (folded == kStreamReadMark) *sink = folded;
}

// streamRead on persistent blocks: skinnyLinearKernel's loads, rows in turn, two rounds in flight.
__global__ void __launch_bounds__(kSkinnyWarps * 32, kSkinnyBlocksPerSm)
    streamReadPersistentKernel(const uint4* src, int row_chunks, std::size_t rows, std::uint32_t* sink) {
  constexpr int kStages = 2;
  allowNextKernel();
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const std::size_t warps = static_cast<std::size_t>(gridDim.x) * kSkinnyWarps;
  const std::size_t warp = static_cast<std::size_t>(blockIdx.x) * kSkinnyWarps + threadIdx.x / 32;
  const int rounds_per_row = (row_chunks + kRoundChunks - 1) / kRoundChunks;
  const std::size_t count = warp < rows ? (rows - warp + warps - 1) / warps * rounds_per_row : 0;
  const auto issue = [&](std::size_t t, uint4(&wv)[kSkinnyUnroll]) {
    const std::size_t row = warp + t / rounds_per_row * warps;
    loadWeightRound(src + row * row_chunks, static_cast<int>(t % rounds_per_row) * kRoundChunks + lane, row_chunks, wv);
  };
  uint4 stages[kStages][kSkinnyUnroll];
#pragma unroll
  for (int s = 0; s < kStages; ++s) {
    if (s < count) issue(s, stages[s]);
  }
  awaitPreviousKernel();
  std::uint32_t folded = 0;
  for (std::size_t t = 0; t < count; t += kStages) {
#pragma unroll
    for (int s = 0; s < kStages; ++s) {
      if (t + s >= count) break;
      folded ^= foldRound(stages[s]);
      if (t + s + kStages < count) issue(t + s + kStages, stages[s]);
    }
  }
  if (folded == kStreamReadMark) *sink = folded;
}

// Launches the instance that `pick` returns for p.rows (the row count is a template bound so that the
// accumulators stay in registers), with the normalized input rows' shared memory when the RMSNorm is fused.
template <typename T, typename Pick, typename... Args>
cudaError_t launchForRows(const SkinnyLinearParams& p, Pick pick, dim3 grid, cudaStream_t stream, Args... args) {
  const std::size_t smem = p.norm_weight != nullptr ? static_cast<std::size_t>(p.rows) * p.in * sizeof(T) : 0;
  const auto kernel = p.rows <= 1   ? pick(std::integral_constant<int, 1>{})
                      : p.rows <= 2 ? pick(std::integral_constant<int, 2>{})
                      : p.rows <= 4 ? pick(std::integral_constant<int, 4>{})
                                    : pick(std::integral_constant<int, kSkinnyLinearMaxRows>{});
  if (smem > 48 * 1024) {
    const cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (status != cudaSuccess) return status;
  }
  return launchOverlapped(kernel, grid, dim3(kSkinnyWarps * 32), smem, stream, p, args...);
}

// The default grid (blocks_per_sm and row_splits 0): plain projections on short blocks with whole rows
// (one warp each), fused ones on persistent blocks, kSkinnyBlocksPerSm per SM. Measured on an H200
// (kernels/cuda/NOTES.md): out and down on whole rows beat every split of them (11.1 against 11.4-20.2
// and 26.4 against 26.7-29.5 µs), and a fused projection on short blocks pays for each block's RMSNorm.
template <typename T, typename Y>
cudaError_t launchSkinny(const SkinnyLinearParams& p, cudaStream_t stream) {
  const bool paired = p.swiglu || p.rotary.k_cache != nullptr;  // pairedRows on the host
  const int items = paired ? p.out / 2 : p.out;
  const bool fused = p.norm_weight != nullptr || paired;
  if (p.blocks_per_sm == 0 && (p.row_splits > 0 || !fused)) {
    const int splits = std::max(p.row_splits, 1);
    const int items_per_block = kSkinnyWarps / splits / (p.swiglu ? 2 : 1);
    const dim3 grid(static_cast<unsigned>((items + items_per_block - 1) / items_per_block));
    const auto pick = [&](auto rows) {
      return p.norm_weight != nullptr ? splitRowLinearKernel<T, Y, decltype(rows)::value, true>
                                      : splitRowLinearKernel<T, Y, decltype(rows)::value, false>;
    };
    return launchForRows<T>(p, pick, grid, stream, splits);
  }
  const int per_sm = p.blocks_per_sm > 0 ? p.blocks_per_sm : kSkinnyBlocksPerSm;
  // As few blocks as give no warp more items than the full grid would, so that nearly every warp streams
  // the same count: the full grid can leave most warps one item short, idle through the others' last
  // item (gate|up + SwiGLU on an H200: 11008 items on 2112 warps, 448 with a sixth; on 230 blocks 1808
  // of 1840 warps have six, 0.02 ms off a Llama-2-7B decode step).
  const int most_warps = per_sm * std::max(currentDevice().sms, 1) * kSkinnyWarps;
  const int items_per_warp = (items + most_warps - 1) / most_warps;
  const int warps = (items + items_per_warp - 1) / items_per_warp;
  const auto pick = [&](auto rows) {
    return p.norm_weight != nullptr ? skinnyLinearKernel<T, Y, decltype(rows)::value, true>
                                    : skinnyLinearKernel<T, Y, decltype(rows)::value, false>;
  };
  return launchForRows<T>(p, pick, dim3(static_cast<unsigned>((warps + kSkinnyWarps - 1) / kSkinnyWarps)), stream);
}

bool validPages(const PagedKv& pages, int max_tokens) {
  return pages.block_table == nullptr ||
         (pages.page_size > 0 && pages.pages_per_sequence > 0 &&
          static_cast<std::int64_t>(pages.pages_per_sequence) * pages.page_size >= max_tokens);
}

// The rotary epilogue: a QKV projection of one new token per sequence (one row each) on persistent
// blocks, its Q written into y (or q_out), K and V into a cache with room at the position.
bool validRotaryEpilogue(const SkinnyLinearParams& p) {
  const RotaryAppendParams& r = p.rotary;
  if (r.k_cache == nullptr) return true;
  return r.v_cache != nullptr && (r.qkv == nullptr || r.qkv == p.y) && r.batch == p.rows && r.new_tokens == 1 &&
         r.heads_q > 0 && r.heads_kv > 0 && r.head_dim > 0 && r.head_dim % 2 == 0 &&
         p.out == (r.heads_q + 2 * r.heads_kv) * r.head_dim && r.dtype == p.dtype && r.first_position >= 0 &&
         r.first_position < r.max_tokens && validPages(r.pages, r.max_tokens) && !p.swiglu && !p.accumulate &&
         p.y_dtype == p.dtype && p.row_splits == 0;
}

bool validPrefetch(const L2Prefetch& prefetch) {
  return prefetch.bytes % 16 == 0 && reinterpret_cast<std::uintptr_t>(prefetch.base) % 16 == 0 &&
         (prefetch.bytes == 0 || prefetch.base != nullptr);
}

}  // namespace

cudaError_t skinnyLinear(const SkinnyLinearParams& p, cudaStream_t stream) {
  const auto misaligned = [](const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 != 0; };
  if (p.rows <= 0 || p.rows > kSkinnyLinearMaxRows || p.blocks_per_sm < 0 || p.in <= 0 || p.in % 8 != 0 || p.out <= 0 ||
      p.x_row_stride < p.in || p.x_row_stride % 8 != 0 || (p.y_dtype != p.dtype && p.y_dtype != DType::F32) ||
      misaligned(p.x) || misaligned(p.w) || misaligned(p.norm_weight) ||
      (p.swiglu && (p.out % 2 != 0 || p.accumulate || p.y_dtype != p.dtype)) ||
      (p.row_splits != 0 && p.row_splits != 1 && p.row_splits != 2 && p.row_splits != 4 && p.row_splits != 8) ||
      (p.row_splits > 1 && p.blocks_per_sm > 0) || (p.swiglu && p.row_splits == kSkinnyWarps) ||
      !validPrefetch(p.prefetch_next) || !validRotaryEpilogue(p)) {
    return cudaErrorInvalidValue;
  }
  return dispatch(p.dtype, false, [&](auto tag) {
    using T = decltype(tag);
    return p.y_dtype == DType::F32 ? launchSkinny<T, float>(p, stream) : launchSkinny<T, T>(p, stream);
  });
}

cudaError_t streamRead(const StreamReadParams& p, cudaStream_t stream) {
  if (p.src == nullptr || p.sink == nullptr || p.rows == 0 || p.row_bytes <= 0 || p.row_bytes % 16 != 0 ||
      p.blocks_per_sm < 0 || reinterpret_cast<std::uintptr_t>(p.src) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  const auto* src = static_cast<const uint4*>(p.src);
  const int row_chunks = p.row_bytes / 16;
  if (p.blocks_per_sm == 0) {
    const std::size_t blocks = (p.rows + kSkinnyWarps - 1) / kSkinnyWarps;
    if (blocks > 0x7fffffffu) return cudaErrorInvalidValue;
    return launchOverlapped(streamReadShortKernel, dim3(static_cast<unsigned>(blocks)), dim3(kSkinnyWarps * 32), 0,
                            stream, src, row_chunks, p.rows, p.sink);
  }
  const unsigned blocks = static_cast<unsigned>(p.blocks_per_sm * std::max(currentDevice().sms, 1));
  return launchOverlapped(streamReadPersistentKernel, dim3(blocks), dim3(kSkinnyWarps * 32), 0, stream, src, row_chunks,
                          p.rows, p.sink);
}

cudaError_t rmsNorm(const void* x, std::int64_t x_row_stride, const void* weight, int rows, int dim, float eps,
                    void* out, std::int64_t out_row_stride, DType dtype, cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return cudaErrorInvalidValue;
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    return launchOverlapped(rmsNormKernel<T>, dim3(static_cast<unsigned>(rows)), dim3(kNormThreads), 0, stream,
                            static_cast<const T*>(x), x_row_stride, static_cast<const T*>(weight), dim, eps,
                            static_cast<T*>(out), out_row_stride);
  });
}

cudaError_t rotaryAppendKv(const RotaryAppendParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.new_tokens <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.head_dim <= 0 ||
      p.head_dim % 2 != 0 || p.head_dim / 2 > 1024 || p.first_position < 0 ||
      p.first_position + p.new_tokens > p.max_tokens || !validPages(p.pages, p.max_tokens)) {
    return cudaErrorInvalidValue;
  }
  const int half = p.head_dim / 2;
  const int lanes = std::max(1, 256 / half);
  const int heads = p.heads_q + 2 * p.heads_kv;
  // Enough blocks to fill the GPU (a decode step has one token per sequence), else whole tokens per block.
  const int tokens = p.batch * p.new_tokens;
  const int wanted_groups = std::max(1, 4 * std::max(1, currentDevice().sms) / tokens);
  const int heads_per_group = std::max(lanes, (heads + wanted_groups - 1) / wanted_groups);
  const int groups = (heads + heads_per_group - 1) / heads_per_group;
  return dispatch(p.dtype, false, [&](auto tag) {
    using T = decltype(tag);
    const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(groups));
    return launchOverlapped(rotaryAppendKernel<T>, grid, dim3(static_cast<unsigned>(lanes * half)), 0, stream, p,
                            heads_per_group);
  });
}

cudaError_t gatherPagedKv(const void* pool, const PagedKv& pages, int batch, int heads_kv, int head_dim, int tokens,
                          void* dst, int dst_max_tokens, DType dtype, cudaStream_t stream) {
  const auto misaligned = [](const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 != 0; };
  if (pages.block_table == nullptr || batch <= 0 || heads_kv <= 0 || head_dim <= 0 || head_dim % 8 != 0 ||
      tokens <= 0 || tokens > dst_max_tokens || !validPages(pages, tokens) || misaligned(pool) || misaligned(dst) ||
      dtype == DType::F32) {
    return cudaErrorInvalidValue;
  }
  const int row_chunks = head_dim / 8;  // 16-bit elements
  const std::int64_t chunks = static_cast<std::int64_t>(tokens) * row_chunks;
  const dim3 grid(static_cast<unsigned>((chunks + kGatherThreads - 1) / kGatherThreads),
                  static_cast<unsigned>(batch * heads_kv));
  return launchOverlapped(gatherPagedKvKernel, grid, dim3(kGatherThreads), 0, stream, static_cast<const uint4*>(pool),
                          pages, heads_kv, tokens, row_chunks, static_cast<uint4*>(dst), dst_max_tokens);
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
  constexpr unsigned kThreads = 128;
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    const auto launch = [&](auto kernel, int vector) {
      const int per_block = vector * static_cast<int>(kThreads);
      const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>((ffn + per_block - 1) / per_block));
      return launchOverlapped(kernel, grid, dim3(kThreads), 0, stream, static_cast<const T*>(gate_up), ffn,
                              static_cast<T*>(out));
    };
    const bool aligned = ffn % 8 == 0 && reinterpret_cast<std::uintptr_t>(gate_up) % 16 == 0 &&
                         reinterpret_cast<std::uintptr_t>(out) % 16 == 0;
    return aligned ? launch(swigluKernel<T, 8>, 8) : launch(swigluKernel<T, 1>, 1);
  });
}

cudaError_t embeddingLookup(const void* table, int hidden, const std::int32_t* tokens, int count, void* out,
                            DType dtype, cudaStream_t stream) {
  if (hidden <= 0 || count <= 0) return cudaErrorInvalidValue;
  return dispatch(dtype, false, [&](auto tag) {
    using T = decltype(tag);
    return launchOverlapped(embeddingKernel<T>, dim3(static_cast<unsigned>(count)), dim3(256), 0, stream,
                            static_cast<const T*>(table), hidden, tokens, static_cast<T*>(out));
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
