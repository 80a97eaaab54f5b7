// The split-KV decode kernel and the LSE combine. Included once per dtype instantiation file.
//
// One block: one sequence, one KV head, up to kRows of its G x q_len query rows (GQA packing: every
// K/V row is read from HBM once for all of them), one key range (split). Keys stream through kStages
// shared-memory stages of [K tile | V tile], filled with 16-byte cp.async copies (zero-filled past the
// range), so (kStages - 1) tiles, 64 KB at D = 128, are in flight per block while one is consumed.
// Decode is memory-bound (q_len x G rows against each key), so the math runs on the FP32 pipes, not
// on tensor cores:
//   scores: 8 lanes per key, each a dot product over D / 8 dims, then 3 shuffles; a quarter-warp
//           reads one contiguous 128-byte run of a K row, so shared memory has no bank conflicts. A
//           thread's dims are the same for every key, so it loads each Q fragment once per tile and
//           applies it to all its keys (Q is stored in fp32 as [row][half][chunk][4], conflict-free);
//   softmax: warp r owns query row r (exp2 domain, scale * log2(e) folded into Q);
//   PV: each thread owns 8 dims of O for every row and 4 consecutive keys of each tile (their P as
//       one 16-byte load); the key slices are summed through shared memory once, at the end.
// The combine merges a row's splits by LSE in one warp: in a second kernel, or (split_counters set)
// in the last split block to arrive for its rows.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "attnbench/kernels/decode_params.h"
#include "decode_launch.h"
#include "device_math.cuh"
#include "flash_fwd_kernel.cuh"  // copy16, commitCopies, waitCopies, sharedAddress

namespace attnbench::kernels::cuda::detail {

template <int kDim, int kRows>
struct DecodeTraits {
  static constexpr int kThreads = 256;
  static constexpr int kWarps = kThreads / 32;
  static_assert(kRows <= kWarps, "the softmax gives each query row one warp");
  // Keys per tile keep a stage (K tile + V tile, 2-byte storage) at 32 KB: 64 keys at D = 128.
  static constexpr int kKeys = 8192 / kDim;
  static constexpr int kStages = 3;
  static constexpr int kChunks = kDim / 8;  // 16-byte chunks per row
  static constexpr int kLanesPerKey = 8;
  static constexpr int kKeysPerPass = kThreads / kLanesPerKey;
  static constexpr int kChunksPerLane = kChunks / kLanesPerKey;
  static constexpr int kPasses = kKeys / kKeysPerPass;     // keys per score thread and tile
  // Keys that share one load of a Q fragment: all of them while registers allow (few rows).
  static constexpr int kPassGroup = kPasses < 8 / kRows ? kPasses : (8 / kRows > 0 ? 8 / kRows : 1);
  // P of a thread's four keys as one float4 per row while registers allow; scalar loads at 8 rows.
  static constexpr bool kVectorP = kRows <= 4;
  static constexpr int kValueGroups = kThreads / kChunks;  // PV: threads sharing one 8-dim slice
  static constexpr int kKeysPerGroup = kKeys / kValueGroups;
  static_assert(kKeysPerGroup == 4, "PV reads a value group's four probabilities as one float4");
  static constexpr int kCopiesPerTensor = kKeys * kChunks / kThreads;
  static constexpr int kStageElements = 2 * kKeys * kDim;
  static_assert(kKeys % kKeysPerPass == 0 && kKeys % kValueGroups == 0 && kCopiesPerTensor * kThreads == kKeys * kChunks);

  static constexpr std::size_t kPipelineBytes = std::size_t{kStages} * kStageElements * 2;
  static constexpr std::size_t kQueryOffset = kPipelineBytes;                                   // fp32 [kRows, D]
  static constexpr std::size_t kScoreOffset = kQueryOffset + std::size_t{kRows} * kDim * 4;     // fp32 [kRows, kKeys]
  static constexpr std::size_t kRescaleOffset = kScoreOffset + std::size_t{kRows} * kKeys * 4;  // fp32 [kRows]
  static constexpr std::size_t kStatsOffset = kRescaleOffset + std::size_t{kRows} * 4;           // fp32 [2, kRows]
  static constexpr std::size_t kSmemBytes = kStatsOffset + std::size_t{2} * kRows * 4;
  // The per-group O slices are summed through the (by then idle) pipeline stages.
  static_assert(std::size_t{kValueGroups} * kRows * kDim * 4 <= kPipelineBytes);
};

template <typename T>
__device__ __forceinline__ void unpack8(const uint4& raw, float (&out)[8]) {
  const std::uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    float2 pair;
    if constexpr (std::is_same_v<T, __half>) {
      pair = __half22float2(*reinterpret_cast<const __half2*>(&words[w]));
    } else {
      pair = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&words[w]));
    }
    out[2 * w] = pair.x;
    out[2 * w + 1] = pair.y;
  }
}

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Position of Q element (row r, dim d) in the fp32 Q tile: [row][half of the chunk][chunk][4], so that
// eight lanes reading the same half of eight consecutive chunks touch 128 contiguous bytes.
template <int kDim>
__device__ __forceinline__ int queryIndex(int r, int d) {
  const int chunk = d / 8, e = d % 8;
  return ((r * 2 + e / 4) * (kDim / 8) + chunk) * 4 + e % 4;
}

// Row (b, query head, new row i) of O / LSE as an index of the [B, Hq, q_len] rows.
__device__ __forceinline__ std::int64_t decodeRowIndex(const DecodeParams& p, int b, int head, int i) {
  return (std::int64_t{b} * p.heads_q + head) * p.seq_q + i;
}

// Merges the splits of output row `row` (an index of the [B, Hq, q_len] rows) in one warp: weights
// w_s = exp(lse_s - max lse) (an empty split has lse = -inf, w = 0), O = sum_s w_s O_s / sum_s w_s,
// LSE = max + log(sum_s w_s). `weights` is this warp's shared scratch of kMaxDecodeSplits floats.
// Partials are read through L2 (__ldcg): in the fused combine other blocks wrote them.
template <typename T, int kDim>
__device__ __forceinline__ void combineRow(const DecodeParams& p, int splits, std::int64_t row, float* weights,
                                           int lane) {
  constexpr int kPerLane = kDim / 32;
  const std::int64_t rows = std::int64_t{p.batch} * p.heads_q * p.seq_q;
  float max_lse = -INFINITY;
  for (int s = lane; s < splits; s += 32) max_lse = fmaxf(max_lse, __ldcg(p.partial_lse + s * rows + row));
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) max_lse = fmaxf(max_lse, __shfl_xor_sync(0xffffffffu, max_lse, offset));
  const float shift = max_lse == -INFINITY ? 0.0f : max_lse;
  float total = 0.0f;
  for (int s = lane; s < splits; s += 32) {
    const float w = exp2Fast((__ldcg(p.partial_lse + s * rows + row) - shift) * kLog2e);
    weights[s] = w;
    total += w;
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) total += __shfl_xor_sync(0xffffffffu, total, offset);
  __syncwarp();

  float acc[kPerLane] = {};
  const float* source = p.partial_o + row * kDim + lane * kPerLane;
#pragma unroll 4
  for (int s = 0; s < splits; ++s) {
    const float w = weights[s];
#pragma unroll
    for (int e = 0; e < kPerLane; e += 2) {
      const float2 pair = __ldcg(reinterpret_cast<const float2*>(source + s * rows * kDim + e));
      acc[e] += w * pair.x;
      acc[e + 1] += w * pair.y;
    }
  }
  const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
  const int i = static_cast<int>(row % p.seq_q);
  const int head = static_cast<int>(row / p.seq_q % p.heads_q);
  const int b = static_cast<int>(row / p.seq_q / p.heads_q);
  T* out = static_cast<T*>(p.o) + b * p.o_batch_stride + head * p.o_head_stride + i * p.o_row_stride + lane * kPerLane;
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) out[e] = fromFloat<T>(acc[e] * inverse);
  if (lane == 0 && p.lse != nullptr) p.lse[row] = total > 0.0f ? max_lse + logf(total) : -INFINITY;
}

template <typename T, int kDim, int kRows>
__global__ void __launch_bounds__(256, kDecodeBlocksPerSM) decodeSplitKernel(const DecodeParams p, int splits) {
  using Tr = DecodeTraits<kDim, kRows>;
  extern __shared__ __align__(16) unsigned char smem[];
  T* const pipeline = reinterpret_cast<T*>(smem);
  float* const q_tile = reinterpret_cast<float*>(smem + Tr::kQueryOffset);
  float* const scores = reinterpret_cast<float*>(smem + Tr::kScoreOffset);
  float* const rescale = reinterpret_cast<float*>(smem + Tr::kRescaleOffset);
  float* const stats = reinterpret_cast<float*>(smem + Tr::kStatsOffset);  // [max (log2 units), sum] per row

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / 32, lane = tid % 32;
  const int split = static_cast<int>(blockIdx.x);
  const int group_rows = p.rowsPerKvHead();
  const int row_blocks = (group_rows + kRows - 1) / kRows;
  const int kv_head = static_cast<int>(blockIdx.y) / row_blocks;
  const int row0 = static_cast<int>(blockIdx.y) % row_blocks * kRows;
  const int rows = min(kRows, group_rows - row0);
  const int b = static_cast<int>(blockIdx.z);
  const int group = p.groupSize();
  const int kv_len = p.kv_lens != nullptr ? p.kv_lens[b] : p.seq_kv;
  const DecodeKeyRange range = decodeSplitRange(kv_len, splits, split, Tr::kKeys);
  const int tiles = (range.end - range.begin + Tr::kKeys - 1) / Tr::kKeys;

  const T* const k_cache = static_cast<const T*>(p.k);
  const T* const v_cache = static_cast<const T*>(p.v);
  // Issues the copies of tile `tile` into stage `stage`; rows past the range are zero-filled, so their
  // P = 0 meets V = 0, never stale (or NaN) shared memory.
  const auto load_tile = [&](int tile, int stage) {
    T* const k_dst = pipeline + stage * Tr::kStageElements;
    T* const v_dst = k_dst + Tr::kKeys * kDim;
#pragma unroll
    for (int c = 0; c < Tr::kCopiesPerTensor; ++c) {
      const int index = tid + c * Tr::kThreads;
      const int key = index / Tr::kChunks, chunk = index % Tr::kChunks;
      const int j = range.begin + tile * Tr::kKeys + key;
      const bool valid = j < range.end;
      const int row = valid ? j : range.begin;  // a readable address for the zero-filling copies
      const std::int64_t k_at = decodeKvOffset(p, p.k_batch_stride, p.k_head_stride, p.k_row_stride, b, kv_head, row);
      const std::int64_t v_at = decodeKvOffset(p, p.v_batch_stride, p.v_head_stride, p.v_row_stride, b, kv_head, row);
      copy16(sharedAddress(k_dst + key * kDim + chunk * 8), k_cache + k_at + chunk * 8, valid);
      copy16(sharedAddress(v_dst + key * kDim + chunk * 8), v_cache + v_at + chunk * 8, valid);
    }
  };

  // Start the pipeline first: the Q load below overlaps the first tiles' flight.
#pragma unroll
  for (int s = 0; s < Tr::kStages - 1; ++s) {
    if (s < tiles) load_tile(s, s);
    commitCopies();
  }

  const float q_scale = p.softmax_scale * kLog2e;
  for (int index = tid; index < rows * kDim; index += Tr::kThreads) {
    const int r = index / kDim, d = index % kDim;
    const int head = kv_head * group + (row0 + r) / p.seq_q, i = (row0 + r) % p.seq_q;
    const T* q = static_cast<const T*>(p.q) + b * p.q_batch_stride + head * p.q_head_stride + i * p.q_row_stride;
    q_tile[queryIndex<kDim>(r, d)] = toFloat(q[d]) * q_scale;
  }
  int visible[kRows];  // keys row r may see; past the range's end belongs to the next split
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    visible[r] = r < rows ? min(range.end, decodeVisibleKeys(p, kv_len, (row0 + r) % p.seq_q)) : 0;
  }

  float row_max = -INFINITY, row_sum = 0.0f;  // of row `warp`, in every lane of that warp
  float o[kRows][8];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int e = 0; e < 8; ++e) o[r][e] = 0.0f;
  }
  const int score_lane = tid % Tr::kLanesPerKey, score_key = tid / Tr::kLanesPerKey;
  const int value_chunk = tid % Tr::kChunks, value_group = tid / Tr::kChunks;

  for (int tile = 0; tile < tiles; ++tile) {
    waitCopies<Tr::kStages - 2>();
    __syncthreads();  // tile landed for every thread; the stage refilled below was consumed last step
    if (tile + Tr::kStages - 1 < tiles) load_tile(tile + Tr::kStages - 1, (tile + Tr::kStages - 1) % Tr::kStages);
    commitCopies();

    const T* const k_tile = pipeline + tile % Tr::kStages * Tr::kStageElements;
    const T* const v_tile = k_tile + Tr::kKeys * kDim;
    const int key0 = range.begin + tile * Tr::kKeys;

#pragma unroll
    for (int first_pass = 0; first_pass < Tr::kPasses; first_pass += Tr::kPassGroup) {
      float acc[Tr::kPassGroup][kRows] = {};
#pragma unroll
      for (int c = 0; c < Tr::kChunksPerLane; ++c) {
        const int chunk = c * Tr::kLanesPerKey + score_lane;
        float k8[Tr::kPassGroup][8];
#pragma unroll
        for (int g = 0; g < Tr::kPassGroup; ++g) {
          const int key = (first_pass + g) * Tr::kKeysPerPass + score_key;
          unpack8<T>(*reinterpret_cast<const uint4*>(k_tile + key * kDim + chunk * 8), k8[g]);
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (r >= rows) break;
          const float4 qa = *reinterpret_cast<const float4*>(q_tile + queryIndex<kDim>(r, chunk * 8));
          const float4 qb = *reinterpret_cast<const float4*>(q_tile + queryIndex<kDim>(r, chunk * 8 + 4));
#pragma unroll
          for (int g = 0; g < Tr::kPassGroup; ++g) {
            const float(&k)[8] = k8[g];
            acc[g][r] += qa.x * k[0] + qa.y * k[1] + qa.z * k[2] + qa.w * k[3] + qb.x * k[4] + qb.y * k[5] +
                         qb.z * k[6] + qb.w * k[7];
          }
        }
      }
#pragma unroll
      for (int g = 0; g < Tr::kPassGroup; ++g) {
        const int key = (first_pass + g) * Tr::kKeysPerPass + score_key;
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (r >= rows) break;
          float dot = acc[g][r];
#pragma unroll
          for (int offset = 1; offset < Tr::kLanesPerKey; offset *= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
          if (score_lane == 0) scores[r * Tr::kKeys + key] = key0 + key < visible[r] ? dot : -INFINITY;
        }
      }
    }
    __syncthreads();

    if (warp < rows) {  // online softmax of row `warp` over this tile
      constexpr int kPerLane = Tr::kKeys / 32;
      float s[kPerLane];
      float tile_max = -INFINITY;
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        s[e] = scores[warp * Tr::kKeys + e * 32 + lane];
        tile_max = fmaxf(tile_max, s[e]);
      }
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
      const float new_max = fmaxf(row_max, tile_max);
      // A row with no visible key yet keeps max -inf: its P is 0 and its (zero) O needs no rescale.
      const float shift = new_max == -INFINITY ? 0.0f : new_max;
      float tile_sum = 0.0f;
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        const float prob = exp2Fast(s[e] - shift);
        scores[warp * Tr::kKeys + e * 32 + lane] = prob;
        tile_sum += prob;
      }
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2) tile_sum += __shfl_xor_sync(0xffffffffu, tile_sum, offset);
      const float factor = exp2Fast(row_max - shift);
      row_sum = row_sum * factor + tile_sum;
      row_max = new_max;
      if (lane == 0) rescale[warp] = factor;
    }
    __syncthreads();

#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rows) break;
      const float factor = rescale[r];
#pragma unroll
      for (int e = 0; e < 8; ++e) o[r][e] *= factor;
    }
    float4 prob[Tr::kVectorP ? kRows : 1];
    if constexpr (Tr::kVectorP) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= rows) break;
        prob[r] = *reinterpret_cast<const float4*>(scores + r * Tr::kKeys + value_group * Tr::kKeysPerGroup);
      }
    }
#pragma unroll
    for (int kk = 0; kk < Tr::kKeysPerGroup; ++kk) {
      const int key = value_group * Tr::kKeysPerGroup + kk;
      float v8[8];
      unpack8<T>(*reinterpret_cast<const uint4*>(v_tile + key * kDim + value_chunk * 8), v8);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= rows) break;
        float pr;
        if constexpr (Tr::kVectorP) {
          pr = kk == 0 ? prob[r].x : kk == 1 ? prob[r].y : kk == 2 ? prob[r].z : prob[r].w;
        } else {
          pr = scores[r * Tr::kKeys + key];
        }
#pragma unroll
        for (int e = 0; e < 8; ++e) o[r][e] += pr * v8[e];
      }
    }
  }

  // Sum the value groups' slices of O through the idle pipeline stages.
  waitCopies<0>();
  __syncthreads();
  float* const partial = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
    float* dst = partial + (value_group * kRows + r) * kDim + value_chunk * 8;
    *reinterpret_cast<float4*>(dst) = make_float4(o[r][0], o[r][1], o[r][2], o[r][3]);
    *reinterpret_cast<float4*>(dst + 4) = make_float4(o[r][4], o[r][5], o[r][6], o[r][7]);
  }
  if (warp < rows && lane == 0) {
    stats[warp] = row_max;
    stats[kRows + warp] = row_sum;
  }
  __syncthreads();

  for (int index = tid; index < rows * kDim; index += Tr::kThreads) {
    const int r = index / kDim, d = index % kDim;
    float sum = 0.0f;
#pragma unroll
    for (int g = 0; g < Tr::kValueGroups; ++g) sum += partial[(g * kRows + r) * kDim + d];
    const float l = stats[kRows + r];
    const bool seen = l > 0.0f;
    const float value = seen ? sum / l : 0.0f;
    const float lse = seen ? (stats[r] + __log2f(l)) * kLn2 : -INFINITY;
    const int head = kv_head * group + (row0 + r) / p.seq_q, i = (row0 + r) % p.seq_q;
    const std::int64_t row_index = decodeRowIndex(p, b, head, i);
    if (splits == 1) {
      static_cast<T*>(p.o)[b * p.o_batch_stride + head * p.o_head_stride + i * p.o_row_stride + d] = fromFloat<T>(value);
      if (d == 0 && p.lse != nullptr) p.lse[row_index] = lse;
    } else {
      const std::int64_t partial_row = std::int64_t{split} * p.batch * p.heads_q * p.seq_q + row_index;
      p.partial_o[partial_row * kDim + d] = value;
      if (d == 0) p.partial_lse[partial_row] = lse;
    }
  }
  if (splits == 1 || p.split_counters == nullptr) return;

  // Fused combine: publish this block's partials, count its arrival; the last of the `splits` blocks
  // of these rows merges them (and re-arms the counter for the next call).
  __shared__ bool last_arrival;
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    int* const counter = p.split_counters + std::int64_t{b} * gridDim.y + blockIdx.y;
    last_arrival = atomicAdd(counter, 1) == splits - 1;
    if (last_arrival) *counter = 0;
  }
  __syncthreads();
  if (!last_arrival) return;
  __threadfence();
  if (warp < rows) {
    const int head = kv_head * group + (row0 + warp) / p.seq_q, i = (row0 + warp) % p.seq_q;
    // The pipeline stages are idle: each warp takes kMaxDecodeSplits floats of them for its weights.
    combineRow<T, kDim>(p, splits, decodeRowIndex(p, b, head, i), reinterpret_cast<float*>(smem) + warp * kMaxDecodeSplits,
                        lane);
  }
}

// The separate combine: one warp per output row.
template <typename T, int kDim>
__global__ void __launch_bounds__(128) decodeCombineKernel(const DecodeParams p) {
  constexpr int kWarps = 4;
  __shared__ float weights[kWarps][kMaxDecodeSplits];
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const std::int64_t row = std::int64_t{blockIdx.x} * kWarps + warp;
  if (row >= std::int64_t{p.batch} * p.heads_q * p.seq_q) return;
  combineRow<T, kDim>(p, p.num_splits, row, weights[warp], lane);
}

template <typename T, int kDim, int kRows>
cudaError_t launchDecodeSplits(const DecodeParams& p, int splits, cudaStream_t stream) {
  using Tr = DecodeTraits<kDim, kRows>;
  const auto kernel = &decodeSplitKernel<T, kDim, kRows>;
  constexpr int kSmemBytes = static_cast<int>(Tr::kSmemBytes);
  // Above 48 KB a block gets dynamic shared memory only after raising the kernel's limit, once per
  // device (one bit per device id): decode steps are short enough for a per-call attribute set to show.
  static std::atomic<std::uint64_t> configured{0};
  int device = 0;
  if (const cudaError_t status = cudaGetDevice(&device); status != cudaSuccess) return status;
  const std::uint64_t bit = device < 64 ? std::uint64_t{1} << device : 0;
  if (bit == 0 || (configured.load(std::memory_order_relaxed) & bit) == 0) {
    if (const cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
        status != cudaSuccess) {
      return status;
    }
    configured.fetch_or(bit, std::memory_order_relaxed);
  }
  const int row_blocks = (p.rowsPerKvHead() + kRows - 1) / kRows;
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(p.heads_kv * row_blocks),
                  static_cast<unsigned>(p.batch));
  kernel<<<grid, Tr::kThreads, kSmemBytes, stream>>>(p, splits);
  return cudaGetLastError();
}

// The smallest row block that holds the G x q_len rows of one KV head (more rows take more blocks).
template <typename T, int kDim>
cudaError_t launchDecodeSplitsForRows(const DecodeParams& p, int splits, cudaStream_t stream) {
  const int rows = p.rowsPerKvHead();
  if (rows <= 1) return launchDecodeSplits<T, kDim, 1>(p, splits, stream);
  if (rows <= 2) return launchDecodeSplits<T, kDim, 2>(p, splits, stream);
  if (rows <= 4) return launchDecodeSplits<T, kDim, 4>(p, splits, stream);
  return launchDecodeSplits<T, kDim, kDecodeRowsPerBlock>(p, splits, stream);
}

template <typename T>
cudaError_t launchDecodeSplitsForDim(const DecodeParams& p, int splits, cudaStream_t stream) {
  switch (p.head_dim) {
    case 64: return launchDecodeSplitsForRows<T, 64>(p, splits, stream);
    case 128: return launchDecodeSplitsForRows<T, 128>(p, splits, stream);
    case 256: return launchDecodeSplitsForRows<T, 256>(p, splits, stream);
    default: return cudaErrorNotSupported;
  }
}

template <typename T>
cudaError_t launchDecodeCombine(const DecodeParams& p, cudaStream_t stream) {
  const std::int64_t rows = std::int64_t{p.batch} * p.heads_q * p.seq_q;
  const dim3 grid(static_cast<unsigned>((rows + 3) / 4));
  switch (p.head_dim) {
    case 64: decodeCombineKernel<T, 64><<<grid, 128, 0, stream>>>(p); break;
    case 128: decodeCombineKernel<T, 128><<<grid, 128, 0, stream>>>(p); break;
    case 256: decodeCombineKernel<T, 256><<<grid, 128, 0, stream>>>(p); break;
    default: return cudaErrorNotSupported;
  }
  return cudaGetLastError();
}

}  // namespace attnbench::kernels::cuda::detail
