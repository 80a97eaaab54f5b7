#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "attnbench/kernels/cuda_model_layers.h"
#include "device_math.cuh"

namespace attnbench::kernels::cuda {
namespace {

// Calls f(T{}) with T the storage type of `dtype`; 16-bit types only unless kAllowF32 (so that the
// kernels of 16-bit layers are not compiled for fp32).
template <bool kAllowF32, typename F>
cudaError_t dispatch(DType dtype, F&& f) {
  switch (dtype) {
    case DType::F16: return f(__half{});
    case DType::BF16: return f(__nv_bfloat16{});
    case DType::F32:
      if constexpr (kAllowF32) return f(float{});
      return cudaErrorInvalidValue;
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

// Adds a thread's sum of squares of 8 elements of a row to `sum`, in element order.
__device__ __forceinline__ void addSquares(const float (&v)[8], float& sum) {
#pragma unroll
  for (int i = 0; i < 8; ++i) sum = fmaf(v[i], v[i], sum);
}

// 1 / sqrt(mean(row^2) + eps) from each thread's sum of squares, reduced over a block of kNormThreads
// threads in one fixed order (warp shuffles, then the warps' sums in turn). Every thread of the block
// must call it; all get the result.
__device__ float blockInvRms(float sum, int dim, float eps) {
  __shared__ float warp_sums[kNormThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0;
  for (int w = 0; w < kNormThreads / 32; ++w) total += warp_sums[w];
  __syncthreads();  // warp_sums is free for the next row
  return rsqrtf(total / static_cast<float>(dim) + eps);
}

// Whether rows of `width` 2-byte elements at `a` and at `b` are whole 16-byte chunks at 16-byte aligned
// addresses, so that 16-byte accesses cover them (the element-wise kernels' vector paths).
__host__ __device__ inline bool wholeAlignedChunks(int width, const void* a, const void* b) {
  return width % 8 == 0 && reinterpret_cast<std::uintptr_t>(a) % 16 == 0 && reinterpret_cast<std::uintptr_t>(b) % 16 == 0;
}

// The RMSNorm's 1 / sqrt(mean(row^2) + eps) as rmsNormKernel computes it. Thread t sums elements
// 8t .. 8t + 7, then 8 (t + kNormThreads) .. and so on (a row of 16-byte aligned chunks is read with
// one 16-byte load per chunk; any other row element by element, in the same order, to the same sum):
// a projection that normalizes its own input (InputStaging) sums in this order too, bit for bit.
template <typename T>
__device__ float rowInvRms(const T* row, int dim, float eps) {
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
    addSquares(v, sum);
  }
  return blockInvRms(sum, dim, eps);
}

// One normalized element. Hugging Face rounds the normalized row to the storage type before
// multiplying by the weight (and the product again).
template <typename T>
__device__ __forceinline__ float normalizedElement(float x, float inv_rms, float weight) {
  return toFloat(fromFloat<T>(toFloat(fromFloat<T>(x * inv_rms)) * weight));
}

__device__ __forceinline__ float siluTimes(float gate, float up) { return gate / (1.0f + __expf(-gate)) * up; }

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

// One block per token. A row of whole 16-byte chunks at aligned addresses is copied in chunks, each
// thread's loads issued before its stores: the table row comes from HBM, and element by element, each
// load behind the store before it (the pointers may alias), a decode step's first kernel took a memory
// latency per element (9.5 us at hidden 4096 on an H200).
constexpr int kEmbeddingThreads = 256;
template <typename T>
__global__ void __launch_bounds__(kEmbeddingThreads)
    embeddingKernel(const T* table, int hidden, const std::int32_t* tokens, T* out) {
  allowNextKernel();
  awaitPreviousKernel();
  const T* row = table + static_cast<std::int64_t>(tokens[blockIdx.x]) * hidden;
  T* dst = out + static_cast<std::int64_t>(blockIdx.x) * hidden;
  if (!wholeAlignedChunks(hidden, row, dst)) {
    for (int i = threadIdx.x; i < hidden; i += kEmbeddingThreads) dst[i] = row[i];
    return;
  }
  constexpr int kChunksPerThread = 4;  // a 4096-wide row is 2 chunks per thread
  const auto* src = reinterpret_cast<const uint4*>(row);
  auto* to = reinterpret_cast<uint4*>(dst);
  const int chunks = hidden / 8;
  for (int first = threadIdx.x; first < chunks; first += kChunksPerThread * kEmbeddingThreads) {
    uint4 v[kChunksPerThread];
#pragma unroll
    for (int k = 0; k < kChunksPerThread; ++k) {
      if (first + k * kEmbeddingThreads < chunks) v[k] = src[first + k * kEmbeddingThreads];
    }
#pragma unroll
    for (int k = 0; k < kChunksPerThread; ++k) {
      if (first + k * kEmbeddingThreads < chunks) to[first + k * kEmbeddingThreads] = v[k];
    }
  }
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

// Whether the round that starts at chunk `first` of a row of `chunks` chunks lies wholly in the row.
// It depends on the round, not the lane, so that a warp takes one path for it.
__device__ __forceinline__ bool roundInRow(int first, int chunks) { return first + kRoundChunks <= chunks; }

// One round of a lane's weight loads from one row of `chunks` 16-byte chunks: chunks first + lane,
// first + lane + 32, ... Inactive, it loads nothing (a warp's last rounds have no next round to load).
class WeightRound {
 public:
  __device__ WeightRound(const uint4* row, int first, int lane, int chunks, bool active = true)
      : at_(row + first + lane), left_(chunks - first - lane), whole_(roundInRow(first, chunks)), active_(active) {}
  // Whether every chunk of the round lies in the row (or there is nothing to load).
  __device__ bool whole() const { return whole_ || !active_; }
  // Chunk u, zeros past the row's end (and when inactive).
  __device__ __forceinline__ void load(int u, uint4& chunk) const {
    chunk = active_ && u * 32 < left_ ? __ldcs(at_ + u * 32) : make_uint4(0, 0, 0, 0);
  }
  // Chunk u of a whole round: no bounds, one predicate for the round.
  __device__ __forceinline__ void loadWhole(int u, uint4& chunk) const {
    if (active_) chunk = __ldcs(at_ + u * 32);
  }
  __device__ __forceinline__ void loadAll(uint4 (&wv)[kSkinnyUnroll]) const {
#pragma unroll
    for (int u = 0; u < kSkinnyUnroll; ++u) load(u, wv[u]);
  }

 private:
  const uint4* at_;  // the lane's first chunk
  int left_;         // chunks of the row from it on
  bool whole_, active_;
};

// Where the input rows that a projection multiplies by are read from: global memory as they are, or
// shared memory, staged there by the block as they are or RMS-normalized (what rmsNormKernel writes).
enum class Input { kGlobal, kStaged, kNormed };

// The element type of staged input rows: fp32 up to 4 rows, so that a warp does not widen the same
// input chunk again for every weight row it streams (8 conversions per 16-byte chunk and row, as many
// as its multiplies); 8 rows of fp32 would not fit two blocks on an SM at 4096 inputs.
template <typename T, int kRows>
using StagedElement = std::conditional_t<(kRows <= 4), float, T>;

// Staged rows fit the shared memory any block may use without opting in (48 KiB), so that staging
// never lowers the blocks per SM (4 of the short blocks, 2 persistent ones); larger plain inputs are
// read from global memory instead.
constexpr std::size_t kStagingBytes = 48 * 1024;

template <typename T, int kRows>
__host__ __device__ std::size_t stagedBytes(const SkinnyLinearParams& p) {
  return (static_cast<std::size_t>(p.rows) * p.in + 8) * sizeof(StagedElement<T, kRows>);
}

// The input rows in global memory, read through the read-only path (L1-resident after the first warp),
// viewed from a chunk (from()). Chunk c of row r is load(r, c, inside, xf); outside (past the row's
// end, or a row past p.rows) it reads the rows' first chunk and gives zeros, without a branch, so that
// a round's loads issue together.
template <typename T>
struct GlobalRows {
  const uint4* x;
  std::int64_t row_chunks;
  const uint4* first;
  __device__ __forceinline__ void load(int r, int c, bool inside, float (&xf)[8]) const {
    const uint4 loaded = __ldg(inside ? x + r * row_chunks + c : first);
    widen8<T>(inside ? loaded : make_uint4(0, 0, 0, 0), xf);
  }
  __device__ __forceinline__ GlobalRows from(int chunk) const { return {x + chunk, row_chunks, first}; }
};

// The input rows staged in shared memory as E, `in` elements apart, followed by a chunk of zeros that
// chunks outside the rows read.
template <typename T, typename E>
struct SharedRows {
  const E* x;
  int row_elements;
  const E* zeros;
  __device__ __forceinline__ void load(int r, int c, bool inside, float (&xf)[8]) const {
    const E* at = inside ? x + r * row_elements + 8 * c : zeros;
    if constexpr (std::is_same_v<E, float>) {
      const float4 lo = reinterpret_cast<const float4*>(at)[0];
      const float4 hi = reinterpret_cast<const float4*>(at)[1];
      xf[0] = lo.x, xf[1] = lo.y, xf[2] = lo.z, xf[3] = lo.w, xf[4] = hi.x, xf[5] = hi.y, xf[6] = hi.z, xf[7] = hi.w;
    } else {
      widen8<T>(*reinterpret_cast<const uint4*>(at), xf);
    }
  }
  __device__ __forceinline__ SharedRows from(int chunk) const { return {x + 8 * chunk, row_elements, zeros}; }
};

// Stages the p.rows input rows into shared memory as E, p.in elements apart, RMS-normalized when
// kNormed (what rmsNormKernel writes), then a chunk of zeros. Thread t handles chunks t, t +
// kNormThreads, ... of each row, kHeldChunks at a time, all loaded before any is used; with the norm,
// the first of them stay in registers from the sum of squares to the normalization, and the norm
// weight's first chunks are loaded before the kernel waits for the previous one (they do not depend
// on it). So a 4096-wide row costs one trip to L2 where loading the row for its sum, again with the
// weight for its normalization, cost three.
template <typename T, typename E, bool kNormed>
class InputStaging {
 public:
  static constexpr int kHeldChunks = 2;  // per thread: a 4096-wide row of 16-bit elements

  __device__ explicit InputStaging(const SkinnyLinearParams& p) {
    if constexpr (kNormed) load(static_cast<const T*>(p.norm_weight), 0, p.in, norm_held_);
  }

  // Every thread of the block must call it; dst is ready when it returns.
  __device__ void stage(const SkinnyLinearParams& p, E* dst) const {
    const auto* x = static_cast<const T*>(p.x);
    const auto* norm_weight = static_cast<const T*>(p.norm_weight);
    const int batches = (p.in + kBatchElements - 1) / kBatchElements;
    for (int r = 0; r < p.rows; ++r) {
      const T* row = x + r * p.x_row_stride;
      uint4 held[kHeldChunks];
      load(row, 0, p.in, held);
      float inv_rms = 1.0f;
      if constexpr (kNormed) {
        float sum = 0;
        addBatchSquares(held, 0, p.in, sum);
        for (int b = 1; b < batches; ++b) {
          uint4 chunks[kHeldChunks];
          load(row, b, p.in, chunks);
          addBatchSquares(chunks, b, p.in, sum);
        }
        inv_rms = blockInvRms(sum, p.in, p.norm_eps);
      }
      E* out = dst + r * p.in;
      store(held, norm_held_, 0, p.in, inv_rms, out);
      for (int b = 1; b < batches; ++b) {
        uint4 chunks[kHeldChunks], norm_chunks[kHeldChunks];
        load(row, b, p.in, chunks);
        if constexpr (kNormed) load(norm_weight, b, p.in, norm_chunks);
        store(chunks, norm_chunks, b, p.in, inv_rms, out);
      }
    }
    if (threadIdx.x < 8) dst[p.rows * p.in + threadIdx.x] = fromFloat<E>(0.0f);
    __syncthreads();
  }

 private:
  static constexpr int kBatchElements = 8 * kNormThreads * kHeldChunks;
  // Element offset of this thread's chunk k of batch b.
  __device__ static int offset(int b, int k) {
    return b * kBatchElements + 8 * (k * kNormThreads + static_cast<int>(threadIdx.x));
  }
  __device__ static void load(const T* src, int b, int in, uint4 (&chunks)[kHeldChunks]) {
#pragma unroll
    for (int k = 0; k < kHeldChunks; ++k) {
      if (offset(b, k) < in) chunks[k] = *reinterpret_cast<const uint4*>(src + offset(b, k));
    }
  }
  __device__ static void addBatchSquares(const uint4 (&chunks)[kHeldChunks], int b, int in, float& sum) {
#pragma unroll
    for (int k = 0; k < kHeldChunks; ++k) {
      if (offset(b, k) >= in) break;
      float v[8];
      widen8<T>(chunks[k], v);
      addSquares(v, sum);
    }
  }
  __device__ static void store(const uint4 (&chunks)[kHeldChunks], const uint4 (&norm_chunks)[kHeldChunks], int b,
                               int in, float inv_rms, E* out) {
#pragma unroll
    for (int k = 0; k < kHeldChunks; ++k) {
      if (offset(b, k) >= in) break;
      float v[8];
      widen8<T>(chunks[k], v);
      if constexpr (kNormed) {
        float w[8];
        widen8<T>(norm_chunks[k], w);
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = normalizedElement<T>(v[i], inv_rms, w[i]);
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) out[offset(b, k) + i] = fromFloat<E>(v[i]);  // exact: v holds values of T
    }
  }
  uint4 norm_held_[kHeldChunks];
};

// The block's view of its input rows, staging them first (InputStaging) unless they are read from global
// memory. Every thread of the block must call it.
template <typename T, int kRows, Input kInput, typename Staging>
__device__ auto inputRows(const SkinnyLinearParams& p, const Staging& staging, uint4* shared) {
  if constexpr (kInput == Input::kGlobal) {
    const auto* x = static_cast<const uint4*>(p.x);
    return GlobalRows<T>{x, p.x_row_stride / 8, x};
  } else {
    using E = StagedElement<T, kRows>;
    E* dst = reinterpret_cast<E*>(shared);
    staging.stage(p, dst);
    return SharedRows<T, E>{dst, p.in, dst + p.rows * p.in};
  }
}

// The staging a kernel instance prepares before its wait (InputStaging, or nothing for global inputs).
struct NoStaging {
  __device__ explicit NoStaging(const SkinnyLinearParams&) {}
};
template <typename T, int kRows, Input kInput>
using StagingFor = std::conditional_t<kInput == Input::kGlobal, NoStaging,
                                      InputStaging<T, StagedElement<T, kRows>, kInput == Input::kNormed>>;

// Multiplies one round of a lane's weight chunks (u = 0..7: chunk 32 u from x's first, fewer than
// `left` in the row) into acc[r] with the same chunks of the input rows (x viewed from the lane's first
// chunk), and refills each chunk's registers from `next` once its weights are widened, so that the
// next round's loads can issue during this round's multiplies (ptxas puts them mid-round in the
// persistent kernel, at the round's end in the short one at 64 registers; SASS on sm_90). kEdge: the
// round or the next one reaches past the row's end, so every chunk is checked (chunks past it multiply
// the zeros WeightRound gave their weights by zeros); else none is, and the addresses are the round's
// first plus constants (in the persistent kernel half the instructions of a checked round).
template <typename T, int kRows, bool kEdge, typename Rows>
__device__ __forceinline__ void multiplyRound(uint4 (&wv)[kSkinnyUnroll], int left, int rows, const Rows& x,
                                              const WeightRound& next, float (&acc)[kRows]) {
#pragma unroll
  for (int u = 0; u < kSkinnyUnroll; ++u) {
    float wf[8];
    widen8<T>(wv[u], wf);
    if constexpr (kEdge) {
      next.load(u, wv[u]);
    } else {
      next.loadWhole(u, wv[u]);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float xf[8];
      x.load(r, u * 32, (!kEdge || u * 32 < left) && (kRows == 1 || r < rows), xf);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[r] = fmaf(wf[i], xf[i], acc[r]);
    }
  }
}

// multiplyRound, unchecked when the round (`whole`: roundInRow) and the next one lie wholly in their rows.
template <typename T, int kRows, typename Rows>
__device__ __forceinline__ void multiplyAnyRound(uint4 (&wv)[kSkinnyUnroll], bool whole, int left, int rows,
                                                 const Rows& x, const WeightRound& next, float (&acc)[kRows]) {
  if (whole && next.whole()) {
    multiplyRound<T, kRows, false>(wv, left, rows, x, next, acc);
  } else {
    multiplyRound<T, kRows, true>(wv, left, rows, x, next, acc);
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

// The rounds of one warp of the whole-row kernel (skinnyLinearKernel). Item k of warp g is output
// g + k * (all warps); with the rotary embedding an item is the pair of rows (i, i + D/2) of one head,
// streamed in turn. With the SwiGLU, block b holds the pairs [b P, b P + P) (P = pairs_per_block) and its
// warps stream the block's rows, the P gate rows then the P up rows, one in turn each (warp w rows
// w, w + 8, ...); their sums meet in shared memory. Whole pairs per warp would give some warps a pair
// more than rows per warp do (Llama-2-7B: 11008 pairs on at most 2112 warps is 6 pairs, 24 rounds,
// where 84 rows per block is 11 rows, 22 rounds). A row is streamed in rounds of kRoundChunks 16-byte
// chunks.
struct WarpRounds {
  __device__ WarpRounds(const SkinnyLinearParams& p, int pairs_per_block, int warp_in_block)
      : first(p.swiglu ? warp_in_block : static_cast<int>(blockIdx.x) * kSkinnyWarps + warp_in_block),
        warps(p.swiglu ? kSkinnyWarps : static_cast<int>(gridDim.x) * kSkinnyWarps),
        pairs(p.out / 2), pair_first(p.swiglu ? static_cast<int>(blockIdx.x) * pairs_per_block : 0),
        block_pairs(p.swiglu ? max(0, min(pairs_per_block, pairs - pair_first)) : 0),
        items(p.swiglu ? 2 * block_pairs : p.rotary.k_cache != nullptr ? pairs : p.out),
        pair_offset(p.rotary.k_cache != nullptr ? p.rotary.head_dim / 2 : 0), chunks(p.in / 8),
        rounds_per_row((chunks + kRoundChunks - 1) / kRoundChunks), rounds_per_item(rounds_per_row * (pair_offset > 0 ? 2 : 1)),
        count(first < items ? (items - first + warps - 1) / warps * rounds_per_item : 0) {}
  // The first weight row of item k.
  __device__ int rowOf(int k) const {
    if (block_pairs > 0) return k < block_pairs ? pair_first + k : pairs + pair_first + k - block_pairs;
    // Rotary pairs (i, i + pair_offset) in blocks of 2 pair_offset rows, one per head.
    return pair_offset == 0 ? k : k / pair_offset * 2 * pair_offset + k % pair_offset;
  }
  int first, warps, pairs, pair_first, block_pairs, items, pair_offset, chunks, rounds_per_row, rounds_per_item;
  int count;  // rounds of this warp
};

// A warp's round t: its item, the round within the item, and the weight row and first chunk it reads.
// Advanced one round at a time, with one division per item: computing them from t cost two dozen
// instructions per chunk loaded (integer divisions by run-time counts, SASS on sm_90).
struct RoundCursor {
  __device__ explicit RoundCursor(const WarpRounds& w) : item(w.first) { startItem(w); }
  __device__ void advance(const WarpRounds& w) {
    ++t;
    ++round;
    first_chunk += kRoundChunks;
    if (round == w.rounds_per_item) {
      round = 0;
      item += w.warps;
      startItem(w);
    } else if (round == w.rounds_per_row) {  // the rotary pair's second row
      first_chunk = 0;
      row += w.pair_offset;
    }
  }
  __device__ bool startsRow() const { return first_chunk == 0; }
  __device__ bool endsRow(const WarpRounds& w) const { return first_chunk + kRoundChunks >= w.chunks; }
  __device__ bool isFirstOfPair(const WarpRounds& w) const { return w.pair_offset > 0 && round < w.rounds_per_row; }
  int t = 0, item, round = 0, row = 0, first_chunk = 0;

 private:
  __device__ void startItem(const WarpRounds& w) {
    row = w.rowOf(item);
    first_chunk = 0;
  }
};

// A warp's row sums over its rounds: multiply() takes a round's weights into the accumulators (and
// refills their registers from the next round); finish() ends the round: at the end of a row the sums
// are reduced over the warp and lane 0 stores the output (with rotary pairs, the first row's sums wait
// in `first` while the second row streams; with the SwiGLU, the sums go to the block's `row_sums`).
template <typename T, typename Y, int kRows>
struct RowSums {
  __device__ explicit RowSums(float* row_sums_) : row_sums(row_sums_) {}
  template <typename Rows>
  __device__ void multiply(const SkinnyLinearParams& p, const WarpRounds& rounds, const RoundCursor& at,
                           uint4 (&wv)[kSkinnyUnroll], int lane, const Rows& x, const WeightRound& next) {
    if (at.startsRow()) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    }
    multiplyAnyRound<T, kRows>(wv, roundInRow(at.first_chunk, rounds.chunks), rounds.chunks - at.first_chunk - lane,
                               p.rows, x.from(at.first_chunk + lane), next, acc);
  }
  __device__ void finish(const SkinnyLinearParams& p, const WarpRounds& rounds, const RoundCursor& at, int lane) {
    if (!at.endsRow(rounds)) return;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      for (int offset = 16; offset > 0; offset /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], offset);
    }
    if (at.isFirstOfPair(rounds)) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) first[r] = acc[r];
      return;
    }
    if (lane != 0) return;
    if (rounds.block_pairs > 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) row_sums[at.item * kRows + r] = acc[r];
      return;
    }
    if (p.rotary.k_cache != nullptr) {
      storeRotated(p, at.item);
      return;
    }
    auto* y = static_cast<Y*>(p.y) + at.item;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= p.rows) break;
      storeOutput<T>(p, y + static_cast<std::int64_t>(r) * rounds.items, acc[r], 0.0f);
    }
  }
  // With the SwiGLU, once every warp of the block has finished: output j of the block from the sums of its
  // gate row j and up row P + j.
  __device__ void storeSwiglu(const SkinnyLinearParams& p, const WarpRounds& rounds) const {
    auto* y = static_cast<Y*>(p.y) + rounds.pair_first;
    for (int j = static_cast<int>(threadIdx.x); j < rounds.block_pairs; j += static_cast<int>(blockDim.x)) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= p.rows) break;
        storeOutput<T>(p, y + static_cast<std::int64_t>(r) * rounds.pairs + j, row_sums[j * kRows + r],
                       row_sums[(rounds.block_pairs + j) * kRows + r]);
      }
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
  float* row_sums;  // [2 P][kRows] in shared memory with the SwiGLU
};

// Warps that each stream whole weight rows (WarpRounds), in kStages register buffers: round t +
// kStages is loaded into round t's registers chunk by chunk as round t is multiplied, so a finished row
// costs no bubble. The first rounds are issued before awaitPreviousKernel (weights do not depend on
// earlier kernels): under an overlapped launch the blocks that start on SMs where the previous kernel
// has finished stream weights during its tail. Persistent blocks (the caller's count per SM), so each
// block does per-block work once: with the RMSNorm fused, it normalizes the input rows into shared
// memory once.
template <typename T, typename Y, int kRows, Input kInput>
__global__ void __launch_bounds__(kSkinnyWarps * 32, kSkinnyBlocksPerSm)
    skinnyLinearKernel(SkinnyLinearParams p, int pairs_per_block) {
  constexpr int kStages = 2;
  allowNextKernel();
  extern __shared__ uint4 staged_x[];  // the input rows unless kInput is kGlobal, then the SwiGLU's row sums
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const WarpRounds rounds(p, pairs_per_block, static_cast<int>(threadIdx.x) / 32);
  const auto* w = static_cast<const T*>(p.w);
  const auto weights = [&](const RoundCursor& at) {
    return WeightRound(reinterpret_cast<const uint4*>(w + static_cast<std::int64_t>(at.row) * p.in), at.first_chunk,
                       lane, rounds.chunks, at.t < rounds.count);
  };
  RoundCursor issued(rounds), consumed(rounds);
  uint4 stages[kStages][kSkinnyUnroll];
#pragma unroll
  for (int s = 0; s < kStages; ++s) {
    weights(issued).loadAll(stages[s]);
    issued.advance(rounds);
  }
  const StagingFor<T, kRows, kInput> staging(p);
  awaitPreviousKernel();

  const auto x = inputRows<T, kRows, kInput>(p, staging, staged_x);
  RowSums<T, Y, kRows> sums(reinterpret_cast<float*>(reinterpret_cast<char*>(staged_x) +
                                                     (kInput == Input::kGlobal ? 0 : stagedBytes<T, kRows>(p))));
  while (consumed.t < rounds.count) {
#pragma unroll
    for (int s = 0; s < kStages; ++s) {
      if (consumed.t >= rounds.count) break;
      sums.multiply(p, rounds, consumed, stages[s], lane, x, weights(issued));
      issued.advance(rounds);
      sums.finish(p, rounds, consumed, lane);
      consumed.advance(rounds);
    }
  }
  if (threadIdx.x == 0) prefetchShareL2(p.prefetch_next, blockIdx.x, gridDim.x);
  if (p.swiglu) {
    __syncthreads();
    sums.storeSwiglu(p, rounds);
  }
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
template <typename T, typename Y, int kRows, Input kInput>
__global__ void __launch_bounds__(kSkinnyWarps * 32, kRows == 1 ? 4 : kSkinnyBlocksPerSm)
    splitRowLinearKernel(SkinnyLinearParams p, int splits) {
  allowNextKernel();
  extern __shared__ uint4 staged_x[];  // the input rows unless kInput is kGlobal
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
  WeightRound(w, 0, lane, count).loadAll(wv);
  const StagingFor<T, kRows, kInput> staging(p);
  awaitPreviousKernel();

  const auto x = inputRows<T, kRows, kInput>(p, staging, staged_x).from(begin);
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  for (int first = 0;; first += kRoundChunks) {
    const bool more = first + kRoundChunks < count;
    multiplyRound<T, kRows, true>(wv, count - first - lane, p.rows, x.from(first + lane),
                                  WeightRound(w, first + kRoundChunks, lane, count, more), acc);
    if (!more) break;
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
  WeightRound(w, 0, lane, count).loadAll(wv);
  awaitPreviousKernel();
  std::uint32_t folded = 0;
  for (int first = 0;; first += kRoundChunks) {
    folded ^= foldRound(wv);
    if (first + kRoundChunks >= count) break;
    WeightRound(w, first + kRoundChunks, lane, count).loadAll(wv);
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
    WeightRound(src + row * row_chunks, static_cast<int>(t % rounds_per_row) * kRoundChunks, lane, row_chunks).loadAll(wv);
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

// Launches the instance that `pick(rows, input)` returns for p.rows (the row count is a template bound so
// that the accumulators stay in registers) and its input rows: normalized into shared memory when the
// RMSNorm is fused; staged there as they are when kStagePlain and they fit kStagingBytes; else read
// from global memory.
template <typename T, bool kStagePlain, typename Pick, typename... Args>
cudaError_t launchForRows(const SkinnyLinearParams& p, Pick pick, dim3 grid, std::size_t extra_smem,
                          cudaStream_t stream, Args... args) {
  const auto launch = [&](auto rows) {
    using Kernel = decltype(pick(rows, std::integral_constant<Input, Input::kGlobal>{}));
    const std::size_t staged = stagedBytes<T, decltype(rows)::value>(p);
    Kernel kernel = pick(rows, std::integral_constant<Input, Input::kGlobal>{});
    std::size_t smem = 0;
    if (p.norm_weight != nullptr) {
      kernel = pick(rows, std::integral_constant<Input, Input::kNormed>{});
      smem = staged;
    } else if constexpr (kStagePlain) {
      if (staged <= kStagingBytes) {
        kernel = pick(rows, std::integral_constant<Input, Input::kStaged>{});
        smem = staged;
      }
    }
    smem += extra_smem;
    if (smem > kStagingBytes) {
      const cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (status != cudaSuccess) return status;
    }
    return launchOverlapped(kernel, grid, dim3(kSkinnyWarps * 32), smem, stream, p, args...);
  };
  return p.rows <= 1   ? launch(std::integral_constant<int, 1>{})
         : p.rows <= 2 ? launch(std::integral_constant<int, 2>{})
         : p.rows <= 4 ? launch(std::integral_constant<int, 4>{})
                       : launch(std::integral_constant<int, kSkinnyLinearMaxRows>{});
}

// The default grid (blocks_per_sm and row_splits 0): plain projections on short blocks with whole rows
// (one warp each) reading their input rows from global memory, fused ones on persistent blocks,
// kSkinnyBlocksPerSm per SM. Measured on an H200 (kernels/cuda/NOTES.md): out and down on whole rows
// beat every split of them (11.1 against 11.4-20.2 and 26.4 against 26.7-29.5 µs), a fused projection on
// short blocks pays for each block's RMSNorm, and so does a plain one for staging its input rows (out
// 11.5 against 11.0 µs, down 28.2 against 26.1).
template <typename T, typename Y>
cudaError_t launchSkinny(const SkinnyLinearParams& p, cudaStream_t stream) {
  const bool paired = p.swiglu || p.rotary.k_cache != nullptr;  // outputs of two weight rows each
  const int items = paired ? p.out / 2 : p.out;
  const bool fused = p.norm_weight != nullptr || paired;
  if (p.blocks_per_sm == 0 && (p.row_splits > 0 || !fused)) {
    const int splits = std::max(p.row_splits, 1);
    const int items_per_block = kSkinnyWarps / splits / (p.swiglu ? 2 : 1);
    const dim3 grid(static_cast<unsigned>((items + items_per_block - 1) / items_per_block));
    const auto pick = [](auto rows, auto input) { return splitRowLinearKernel<T, Y, decltype(rows)::value, decltype(input)::value>; };
    return launchForRows<T, false>(p, pick, grid, 0, stream, splits);
  }
  const int per_sm = p.blocks_per_sm > 0 ? p.blocks_per_sm : kSkinnyBlocksPerSm;
  const int most_blocks = per_sm * std::max(currentDevice().sms, 1);
  const auto pick = [](auto rows, auto input) { return skinnyLinearKernel<T, Y, decltype(rows)::value, decltype(input)::value>; };
  if (p.swiglu) {
    // As few pairs per block as fit the grid: its rows spread over the block's warps (WarpRounds).
    const int pairs = p.out / 2;
    const int pairs_per_block = (pairs + most_blocks - 1) / most_blocks;
    const dim3 grid(static_cast<unsigned>((pairs + pairs_per_block - 1) / pairs_per_block));
    const std::size_t row_sums = 2 * static_cast<std::size_t>(pairs_per_block) * kSkinnyLinearMaxRows * sizeof(float);
    return launchForRows<T, true>(p, pick, grid, row_sums, stream, pairs_per_block);
  }
  // As few blocks as give no warp more items than the full grid would, so that nearly every warp streams
  // the same count: the full grid can leave most warps one item short, idle through the others' last
  // item (the LM head on an H200: 32000 rows on 2112 warps, 320 with a sixteenth).
  const int most_warps = most_blocks * kSkinnyWarps;
  const int items_per_warp = (items + most_warps - 1) / most_warps;
  const int warps = (items + items_per_warp - 1) / items_per_warp;
  return launchForRows<T, true>(p, pick, dim3(static_cast<unsigned>((warps + kSkinnyWarps - 1) / kSkinnyWarps)), 0,
                                stream, 0);
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
  return dispatch<false>(p.dtype, [&](auto tag) {
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
  return dispatch<false>(dtype, [&](auto tag) {
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
  return dispatch<false>(p.dtype, [&](auto tag) {
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
  return dispatch<false>(dtype, [&](auto tag) {
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
  return dispatch<false>(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto launch = [&](auto kernel, int vector) {
      const int per_block = vector * static_cast<int>(kThreads);
      const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>((ffn + per_block - 1) / per_block));
      return launchOverlapped(kernel, grid, dim3(kThreads), 0, stream, static_cast<const T*>(gate_up), ffn,
                              static_cast<T*>(out));
    };
    return wholeAlignedChunks(ffn, gate_up, out) ? launch(swigluKernel<T, 8>, 8) : launch(swigluKernel<T, 1>, 1);
  });
}

cudaError_t embeddingLookup(const void* table, int hidden, const std::int32_t* tokens, int count, void* out,
                            DType dtype, cudaStream_t stream) {
  if (hidden <= 0 || count <= 0) return cudaErrorInvalidValue;
  return dispatch<false>(dtype, [&](auto tag) {
    using T = decltype(tag);
    return launchOverlapped(embeddingKernel<T>, dim3(static_cast<unsigned>(count)), dim3(kEmbeddingThreads), 0, stream,
                            static_cast<const T*>(table), hidden, tokens, static_cast<T*>(out));
  });
}

cudaError_t scaleShift(void* x, std::size_t count, float scale, float shift, DType dtype, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  return dispatch<true>(dtype, [&](auto tag) {
    using T = decltype(tag);
    scaleShiftKernel<T><<<gridFor(count, 256), 256, 0, stream>>>(static_cast<T*>(x), count, scale, shift);
    return cudaGetLastError();
  });
}

cudaError_t convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, std::size_t count,
                    cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  return dispatch<true>(src_dtype, [&](auto src_tag) {
    using S = decltype(src_tag);
    return dispatch<true>(dst_dtype, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      convertKernel<S, D><<<gridFor(count, 256), 256, 0, stream>>>(static_cast<const S*>(src), static_cast<D*>(dst),
                                                                   count);
      return cudaGetLastError();
    });
  });
}

}  // namespace attnbench::kernels::cuda
