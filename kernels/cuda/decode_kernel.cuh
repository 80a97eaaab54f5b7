// The split-KV decode kernel and the LSE combine. Included once per dtype instantiation file.
//
// One block: one sequence, one KV head, up to kDecodeRowsPerBlock (8) of its G x q_len query rows
// (GQA packing: every K/V row is read from HBM once for all of them), one key range (split). Keys
// stream through kStages shared-memory stages of [K tile | V tile] (32 KB each), filled with 16-byte
// cp.async copies (zero-filled past the range), so two tiles, 64 KB, are in flight per block while
// one is consumed.
//
// The math runs on tensor cores (mma.sync m16n8k16) in the transposed form, with the query rows as
// the n = 8 side of the tile (rows past the block's count are zero and masked):
//   S^T = K Q^T   [16 keys x 8 rows]: K from shared memory by ldmatrix, Q^T fragments in registers;
//   O^T += V^T P^T [16 dims x 8 rows]: V^T by ldmatrix.trans, P^T from the S^T accumulator through
//                                      movmatrix (an 8x8 register transpose), no shared memory;
// Each warp owns 16 keys of every tile and keeps its own running max, sum and O^T (32 registers at
// D = 128): no warp waits for another inside the loop, the only barrier per tile is the pipeline's.
// The warps' (max, sum, O) are merged once, at the end, through the idle stages.
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
#include "flash_fwd_kernel.cuh"  // copy16, commitCopies, waitCopies, sharedAddress, tileOffset, ldmatrix, mma16816

namespace attnbench::kernels::cuda::detail {

template <int kDim>
struct DecodeTraits {
  static constexpr int kRows = kDecodeRowsPerBlock;  // the n side of one mma tile
  static_assert(kRows == 8, "the query rows of a block are the n = 8 side of the mma tiles");
  // Keys per tile keep a stage (K tile + V tile, 2-byte storage) at 32 KB: 64 keys at D = 128. Each
  // warp owns 16 of them (the m side of one mma tile): 8 warps at D = 64, 4 at 128, 2 at 256.
  static constexpr int kKeys = 8192 / kDim;
  static constexpr int kWarps = kKeys / 16;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kStages = 3;
  static constexpr int kChunks = kDim / 8;  // 16-byte chunks per row
  static constexpr int kTileBytes = kKeys * kDim * 2;
  static constexpr int kStageBytes = 2 * kTileBytes;
  static constexpr int kCopiesPerTensor = kKeys * kChunks / kThreads;
  static_assert(kCopiesPerTensor * kThreads == kKeys * kChunks);
  static constexpr int kCopyUnroll = kDim <= 128 ? kCopiesPerTensor : 4;
  // The overlapped instance (the engine's decode step, launched between the QKV and out projections):
  // at D = 128 its registers are bounded as for 4 blocks per SM (shared memory still holds 2), 125
  // registers with the copies unrolled 2 deep instead of 200, so that beside two of its blocks an SM
  // has room for two of the out projection's short blocks, whose weights then load while attention
  // runs. Measured on an H200 (Llama-2-7B fp16, B = 1): 3.655 -> 3.585 ms/token at 512 cached tokens,
  // 4.01 -> 3.84 at 2048. At D = 64 (256 threads) that bound spills; at D = 256 it would halve the
  // registers (64 threads): both keep the ordinary instance's bounds.
  static constexpr int kOverlappedMinBlocks = kDim == 128 ? 4 : kDecodeBlocksPerSM;
  static constexpr int kOverlappedCopyUnroll = kDim == 128 ? 2 : kCopyUnroll;
  static constexpr std::size_t kSmemBytes = std::size_t{kStages} * kStageBytes;
  // The end of the block reuses the idle stages: every warp's O [kRows][kDim] fp32, then the warps'
  // running max and sum [2][kWarps][kRows]; later the fused combine's weights, kMaxDecodeSplits floats a warp.
  static constexpr std::size_t kStatsOffset = std::size_t{kWarps} * kRows * kDim * 4;
  static_assert(kStatsOffset + std::size_t{2} * kWarps * kRows * 4 <= kSmemBytes);
  static_assert(std::size_t{kWarps} * kMaxDecodeSplits * 4 <= kSmemBytes);
};

// The transpose of an 8x8 matrix of 16-bit values held as one register per lane (the mma fragment
// layout: lane 4g + t holds row g, columns 2t and 2t + 1).
__device__ __forceinline__ std::uint32_t transpose8x8(std::uint32_t x) {
  std::uint32_t y;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
  return y;
}

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

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
  // Loads of kBatch splits' partial O are issued before any is used: 32 splits cost two L2 round trips,
  // not one per split. The first batch is issued before the LSEs are read, so that both arrive in one
  // round trip: the fused combine is on every decode step's critical path.
  constexpr int kBatch = kDim <= 128 ? 16 : 8;
  const float* source = p.partial_o + row * kDim + lane * kPerLane;
  float2 part[kBatch][kPerLane / 2];
  const auto load_batch = [&](int first) {
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
#pragma unroll
      for (int e = 0; e < kPerLane / 2; ++e) {
        part[k][e] = first + k < splits
                         ? __ldcg(reinterpret_cast<const float2*>(source + (first + k) * rows * kDim) + e)
                         : make_float2(0.0f, 0.0f);
      }
    }
  };
  load_batch(0);
  constexpr int kLsePerLane = kMaxDecodeSplits / 32;  // split lane + 32 k in lse[k], read once
  float lse[kLsePerLane];
  float max_lse = -INFINITY;
#pragma unroll
  for (int k = 0; k < kLsePerLane; ++k) {
    const int s = lane + 32 * k;
    lse[k] = s < splits ? __ldcg(p.partial_lse + s * rows + row) : -INFINITY;
    max_lse = fmaxf(max_lse, lse[k]);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) max_lse = fmaxf(max_lse, __shfl_xor_sync(0xffffffffu, max_lse, offset));
  const float shift = max_lse == -INFINITY ? 0.0f : max_lse;
  float total = 0.0f;
  __syncwarp();  // a warp may merge several rows: the previous row's readers of `weights` are done
#pragma unroll
  for (int k = 0; k < kLsePerLane; ++k) {
    const int s = lane + 32 * k;
    if (s >= splits) break;
    const float w = exp2Fast((lse[k] - shift) * kLog2e);
    weights[s] = w;
    total += w;
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) total += __shfl_xor_sync(0xffffffffu, total, offset);
  __syncwarp();

  float acc[kPerLane] = {};
  for (int first = 0; first < splits; first += kBatch) {
    if (first > 0) load_batch(first);
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const float w = first + k < splits ? weights[first + k] : 0.0f;
#pragma unroll
      for (int e = 0; e < kPerLane / 2; ++e) {
        acc[2 * e] += w * part[k][e].x;
        acc[2 * e + 1] += w * part[k][e].y;
      }
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

// kOverlapped = p.overlapped: an instance of its own, so that the ordinary launch keeps its prologue
// (and its code and registers) as it was; one kernel with both prologues ran up to 10 % slower in
// ordinary launches.
template <typename T, int kDim, bool kOverlapped>
__global__ void __launch_bounds__(DecodeTraits<kDim>::kThreads,
                                  kOverlapped ? DecodeTraits<kDim>::kOverlappedMinBlocks : kDecodeBlocksPerSM)
    decodeSplitKernel(const DecodeParams p, int splits) {
  // Launched overlapped after the kernel that appends this step's K/V rows and writes Q: the blocks
  // take their SMs during its tail, issue the copies of the keys cached before this step, and wait for
  // it before they copy its rows and read Q; the next kernel may start as they leave.
  allowNextKernel();
  using Tr = DecodeTraits<kDim>;
  constexpr int kRows = Tr::kRows;
  constexpr int kSteps = kDim / 16;  // k steps of S^T, m tiles of O^T
  extern __shared__ __align__(128) unsigned char smem[];
  const std::uint32_t pipeline = sharedAddress(smem);

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;  // mma fragment coordinates
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
  // Copies chunk `chunk` of key `key` of tile `tile` into stage `stage` (rows swizzled as in the flash
  // kernel, so ldmatrix is conflict-free); keys past the range are zero-filled, so their P = 0 meets
  // V = 0, never stale (or NaN) shared memory.
  const auto copy_chunk = [&](int tile, int stage, int key, int chunk) {
    const std::uint32_t k_dst = pipeline + static_cast<std::uint32_t>(stage * Tr::kStageBytes);
    const std::uint32_t v_dst = k_dst + Tr::kTileBytes;
    const int j = range.begin + tile * Tr::kKeys + key;
    const bool valid = j < range.end;
    const int row = valid ? j : range.begin;  // a readable address for the zero-filling copies
    const std::int64_t k_at = decodeKvOffset(p, p.k_batch_stride, p.k_head_stride, p.k_row_stride, b, kv_head, row);
    const std::int64_t v_at = decodeKvOffset(p, p.v_batch_stride, p.v_head_stride, p.v_row_stride, b, kv_head, row);
    const auto offset = static_cast<std::uint32_t>(tileOffset<kDim>(key, chunk));
    copy16(k_dst + offset, k_cache + k_at + chunk * 8, valid);
    copy16(v_dst + offset, v_cache + v_at + chunk * 8, valid);
  };
  // Issues the copies of tile `tile`; with skip_fresh true, not those of the keys in [fresh_begin, range.end).
  const auto load_tile = [&](int tile, int stage, auto skip_fresh, int fresh_begin) {
    // Fully unrolled, ptxas keeps every copy's 64-bit offsets live across the key loop: up to 200 registers
    // at D <= 128 (no cost alone: shared memory allows 2 blocks of kThreads; the overlapped instance
    // trades them for room beside it, DecodeTraits::kOverlappedMinBlocks), spills at D = 256 (32 copies).
#pragma unroll(kOverlapped ? Tr::kOverlappedCopyUnroll : Tr::kCopyUnroll)
    for (int c = 0; c < Tr::kCopiesPerTensor; ++c) {
      const int index = tid + c * Tr::kThreads;
      const int key = index / Tr::kChunks, chunk = index % Tr::kChunks;
      if constexpr (decltype(skip_fresh)::value) {
        const int j = range.begin + tile * Tr::kKeys + key;
        if (j >= fresh_begin && j < range.end) continue;
      }
      copy_chunk(tile, stage, key, chunk);
    }
  };
  constexpr std::false_type kAllKeys{};
  if constexpr (kOverlapped) {
    // The kernel before this one has appended the newest seq_q keys (from fresh_begin on) and written Q;
    // everything else was in memory before it started (DecodeParams::overlapped). The first tiles'
    // older keys are copied before waiting for it, so that they load during its tail (at 512 cached
    // tokens this took 2 us per layer off a Llama-2-7B decode step), its keys after. One commit group
    // per tile (the first also holds every copy issued before the wait), so that the loop's waits see
    // each tile complete before it is read.
    const int fresh_begin = max(0, kv_len - p.seq_q);
#pragma unroll
    for (int s = 0; s < Tr::kStages - 1; ++s) {
      if (s < tiles) load_tile(s, s, std::true_type{}, fresh_begin);
    }
    awaitPreviousKernel();
#pragma unroll
    for (int s = 0; s < Tr::kStages - 1; ++s) {
      const int tile_begin = range.begin + s * Tr::kKeys;
      const int first = max(tile_begin, fresh_begin), fresh = min(range.end, tile_begin + Tr::kKeys) - first;
      if (s < tiles) {
        for (int index = tid; index < fresh * Tr::kChunks; index += Tr::kThreads) {
          copy_chunk(s, s, first - tile_begin + index / Tr::kChunks, index % Tr::kChunks);
        }
      }
      commitCopies();
    }
  } else {
#pragma unroll
    for (int s = 0; s < Tr::kStages - 1; ++s) {
      if (s < tiles) load_tile(s, s, kAllKeys, 0);
      commitCopies();
    }
  }
  // The Q load below overlaps the first tiles' flight.

  // Q^T as the B operand of S^T = K Q^T: lane (g, t) holds row g's dims 16s + 2t, +1 (b0) and
  // 16s + 8 + 2t, +1 (b1) of every k step s. Rows past the block's count are zero.
  std::uint32_t q_frag[kSteps][2];
  {
    const bool row_valid = g < rows;
    const int head = kv_head * group + (row0 + g) / p.seq_q, i = (row0 + g) % p.seq_q;
    const auto* q = reinterpret_cast<const std::uint16_t*>(static_cast<const T*>(p.q) +
                                                           (row_valid ? b * p.q_batch_stride + head * p.q_head_stride +
                                                                            i * p.q_row_stride
                                                                      : 0));
    const auto pair = [&](int d) {
      return row_valid ? std::uint32_t{q[d]} | std::uint32_t{q[d + 1]} << 16 : 0u;
    };
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      q_frag[s][0] = pair(16 * s + 2 * t);
      q_frag[s][1] = pair(16 * s + 8 + 2 * t);
    }
  }
  // This lane's rows are 2t and 2t + 1 of the block (the n columns of its accumulator fragments).
  int visible[2];  // keys the row may see; past the range's end belongs to the next split
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = 2 * t + h;
    visible[h] = r < rows ? min(range.end, decodeVisibleKeys(p, kv_len, (row0 + r) % p.seq_q)) : 0;
  }

  const float scale_log2 = p.softmax_scale * kLog2e;
  float row_max[2] = {-INFINITY, -INFINITY};  // in log2 units of the scaled scores
  float row_sum[2] = {0.0f, 0.0f};            // over this lane's keys; summed over the warp at the end
  float acc_o[kSteps][4];                     // O^T: (dim 16m + g (+8 for e >= 2), row 2t + e % 2)
#pragma unroll
  for (int m = 0; m < kSteps; ++m) {
#pragma unroll
    for (int e = 0; e < 4; ++e) acc_o[m][e] = 0.0f;
  }
  // ldmatrix rows: K as the A operand (keys x dims): lane l addresses key l % 16 at chunk + l / 16;
  // V^T as the A operand (dims x keys, transposed load): key l % 8 + 8 (l / 16) at chunk + (l / 8) % 2.
  const int k_key = warp * 16 + lane % 16, k_chunk = lane / 16;
  const int v_key = warp * 16 + lane % 8 + 8 * (lane / 16), v_chunk = lane / 8 % 2;

  for (int tile = 0; tile < tiles; ++tile) {
    waitCopies<Tr::kStages - 2>();
    __syncthreads();  // tile landed for every thread; the stage refilled below was consumed last step
    if (tile + Tr::kStages - 1 < tiles) load_tile(tile + Tr::kStages - 1, (tile + Tr::kStages - 1) % Tr::kStages, kAllKeys, 0);
    commitCopies();

    const std::uint32_t k_stage = pipeline + static_cast<std::uint32_t>(tile % Tr::kStages * Tr::kStageBytes);
    const std::uint32_t v_stage = k_stage + Tr::kTileBytes;

    // S^T for the warp's 16 keys; two accumulators halve the dependent mma chain.
    float acc_s[2][4] = {};
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      std::uint32_t a[4];
      loadMatrixX4(a, k_stage + static_cast<std::uint32_t>(tileOffset<kDim>(k_key, 2 * s + k_chunk)));
      mma16816<T>(acc_s[s % 2], a, q_frag[s][0], q_frag[s][1]);
    }
    // Element e: key g + 8 (e / 2) of the warp's 16, row 2t + e % 2.
    const int key = range.begin + tile * Tr::kKeys + warp * 16 + g;
    float score[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      score[e] = key + 8 * (e / 2) < visible[e % 2] ? (acc_s[0][e] + acc_s[1][e]) * scale_log2 : -INFINITY;
    }
    // Online softmax per row over the warp's keys (the 8 lanes of equal t hold a row's 16 keys).
    float factor[2], shift[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float tile_max = fmaxf(score[h], score[2 + h]);
#pragma unroll
      for (int offset = 4; offset < 32; offset *= 2) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
      const float new_max = fmaxf(row_max[h], tile_max);
      // A row with no visible key yet keeps max -inf: its P is 0 and its (zero) O needs no rescale.
      shift[h] = new_max == -INFINITY ? 0.0f : new_max;
      factor[h] = exp2Fast(row_max[h] - shift[h]);
      row_max[h] = new_max;
    }
    float prob[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) prob[e] = exp2Fast(score[e] - shift[e % 2]);
#pragma unroll
    for (int h = 0; h < 2; ++h) row_sum[h] = row_sum[h] * factor[h] + prob[h] + prob[2 + h];
    // P^T as the B operand: the (key, row) halves of keys 0-7 and 8-15, transposed to (row, key).
    const std::uint32_t p_low = transpose8x8(packPair<T>(prob[0], prob[1]));
    const std::uint32_t p_high = transpose8x8(packPair<T>(prob[2], prob[3]));
#pragma unroll
    for (int m = 0; m < kSteps; ++m) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc_o[m][e] *= factor[e % 2];
      std::uint32_t a[4];
      loadMatrixX4Transposed(a, v_stage + static_cast<std::uint32_t>(tileOffset<kDim>(v_key, 2 * m + v_chunk)));
      mma16816<T>(acc_o[m], a, p_low, p_high);
    }
  }

  // Merge the warps' partial softmax states through the idle pipeline stages.
  waitCopies<0>();
  __syncthreads();
  float* const o_warps = reinterpret_cast<float*>(smem);  // [kWarps][kRows][kDim]
  float* const stats = reinterpret_cast<float*>(smem + Tr::kStatsOffset);  // max, then sum: [kWarps][kRows] each
#pragma unroll
  for (int h = 0; h < 2; ++h) {
#pragma unroll
    for (int offset = 4; offset < 32; offset *= 2) row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], offset);
  }
#pragma unroll
  for (int m = 0; m < kSteps; ++m) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      o_warps[(warp * kRows + 2 * t + e % 2) * kDim + 16 * m + g + 8 * (e / 2)] = acc_o[m][e];
    }
  }
  if (g == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      stats[warp * kRows + 2 * t + h] = row_max[h];
      stats[(Tr::kWarps + warp) * kRows + 2 * t + h] = row_sum[h];
    }
  }
  __syncthreads();

  for (int index = tid; index < rows * kDim; index += Tr::kThreads) {
    const int r = index / kDim, d = index % kDim;
    float max_all = -INFINITY;
#pragma unroll
    for (int w = 0; w < Tr::kWarps; ++w) max_all = fmaxf(max_all, stats[w * kRows + r]);
    const float shift = max_all == -INFINITY ? 0.0f : max_all;
    float sum = 0.0f, l = 0.0f;
#pragma unroll
    for (int w = 0; w < Tr::kWarps; ++w) {
      const float weight = exp2Fast(stats[w * kRows + r] - shift);
      l += weight * stats[(Tr::kWarps + w) * kRows + r];
      sum += weight * o_warps[(w * kRows + r) * kDim + d];
    }
    const bool seen = l > 0.0f;
    const float value = seen ? sum / l : 0.0f;
    const float lse = seen ? (max_all + __log2f(l)) * kLn2 : -INFINITY;
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
  for (int r = warp; r < rows; r += Tr::kWarps) {
    const int head = kv_head * group + (row0 + r) / p.seq_q, i = (row0 + r) % p.seq_q;
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

template <typename T, int kDim>
cudaError_t launchDecodeSplits(const DecodeParams& p, int splits, cudaStream_t stream) {
  using Tr = DecodeTraits<kDim>;
  const auto kernel = p.overlapped ? &decodeSplitKernel<T, kDim, true> : &decodeSplitKernel<T, kDim, false>;
  constexpr int kSmemBytes = static_cast<int>(Tr::kSmemBytes);
  // Above 48 KB a block gets dynamic shared memory only after raising the kernel's limit, once per
  // device (one bit per device id): decode steps are short enough for a per-call attribute set to show.
  static std::atomic<std::uint64_t> configured{0};
  int device = 0;
  if (const cudaError_t status = cudaGetDevice(&device); status != cudaSuccess) return status;
  const std::uint64_t bit = device < 64 ? std::uint64_t{1} << device : 0;
  if (bit == 0 || (configured.load(std::memory_order_relaxed) & bit) == 0) {
    for (const auto instance : {&decodeSplitKernel<T, kDim, true>, &decodeSplitKernel<T, kDim, false>}) {
      if (const cudaError_t status = cudaFuncSetAttribute(instance, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
          status != cudaSuccess) {
        return status;
      }
    }
    configured.fetch_or(bit, std::memory_order_relaxed);
  }
  const int row_blocks = (p.rowsPerKvHead() + Tr::kRows - 1) / Tr::kRows;
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(p.heads_kv * row_blocks),
                  static_cast<unsigned>(p.batch));
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = dim3(Tr::kThreads);
  config.dynamicSmemBytes = kSmemBytes;
  config.stream = stream;
  config.attrs = &overlap;
  config.numAttrs = p.overlapped ? 1 : 0;
  if (const cudaError_t status = cudaLaunchKernelEx(&config, kernel, p, splits); status != cudaSuccess) return status;
  return cudaGetLastError();
}

template <typename T>
cudaError_t launchDecodeSplitsForDim(const DecodeParams& p, int splits, cudaStream_t stream) {
  switch (p.head_dim) {
    case 64: return launchDecodeSplits<T, 64>(p, splits, stream);
    case 128: return launchDecodeSplits<T, 128>(p, splits, stream);
    case 256: return launchDecodeSplits<T, 256>(p, splits, stream);
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
