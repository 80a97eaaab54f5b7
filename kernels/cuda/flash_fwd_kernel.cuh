// The flash forward kernel (FlashAttention-2 scheme on mma.sync tensor cores) and its launcher.
// Included once per (head dim, dtype) instantiation file; nothing here is compiled on its own.
//
// One CTA computes Br query rows of one (batch, head); each warp owns kWarpRows of them. K and V
// tiles of Bc rows stream through two shared-memory stages filled by cp.async: while tile j is
// multiplied, tile j-1 is already on its way (keys are visited from the last tile down, so the
// diagonal tiles that need a causal mask come first and the rest run without one). Scores live in
// fp32 registers; the online softmax works in the exp2 domain with softmax_scale * log2(e) folded
// into one FMA per score; O is divided by the row sum once, at the end, and goes out through shared
// memory as coalesced 16-byte rows.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "attnbench/kernels/attention_params.h"
#include "device_math.cuh"
#include "flash_fwd_launch.h"
#include "flash_fwd_traits.h"

namespace attnbench::kernels::cuda::detail {

// ---- device primitives --------------------------------------------------------------------------

__device__ __forceinline__ std::uint32_t sharedAddress(const void* pointer) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(pointer));
}

// Byte offset of 16-byte chunk `chunk` in row `row` of a tile whose rows hold kHeadDim 2-byte values;
// the chunk index is XORed with row % 8 (see flash_fwd_traits.h).
template <int kHeadDim>
__device__ __forceinline__ int tileOffset(int row, int chunk) {
  return row * (kHeadDim * 2) + ((chunk ^ (row & 7)) << 4);
}

// 16-byte global -> shared copy; `valid == false` writes zeros (rows past the end of Q, K or V).
// sm_75 has no cp.async: it copies through registers, so its "prefetch" completes at issue.
__device__ __forceinline__ void copy16(std::uint32_t dst, const void* src, bool valid) {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
#else
  const uint4 value = valid ? __ldg(static_cast<const uint4*>(src)) : make_uint4(0, 0, 0, 0);
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(dst), "r"(value.x), "r"(value.y), "r"(value.z),
               "r"(value.w));
#endif
}

__device__ __forceinline__ void commitCopies() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Waits until at most kPending of this thread's committed copy groups are still in flight.
template <int kPending>
__device__ __forceinline__ void waitCopies() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

__device__ __forceinline__ void loadMatrixX4(std::uint32_t (&r)[4], std::uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ __forceinline__ void loadMatrixX4Transposed(std::uint32_t (&r)[4], std::uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// c += a * b for one m16n8k16 tile: a = 4 registers of the A fragment (row-major 16x16), b0/b1 = the
// two registers of the B fragment (k 0-7 and 8-15 of an 8-column slice), c = fp32 accumulators.
template <typename Element>
__device__ __forceinline__ void mma16816(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                         std::uint32_t b1) {
#if __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<Element, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
#else
  // sm_75: fp16 only, as two m16n8k8 steps; {a0, a1, b0} is k 0-7 and {a2, a3, b1} is k 8-15.
  static_assert(std::is_same_v<Element, __half>, "bf16 MMA needs sm_80");
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(b0));
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[2]), "r"(a[3]), "r"(b1));
#endif
}

// Copies kRows rows (row stride in elements) of a [rows, kHeadDim] tile into swizzled shared memory.
// Each thread owns one 16-byte column chunk and every (kThreads / chunks-per-row)-th row; the source
// pointer walks down the rows so that no per-row 64-bit offset stays live across the main loop.
// kCheckRows zero-fills rows >= rows_valid (only the first K/V tile and the Q tile can be partial).
template <class Traits, int kRows, bool kCheckRows, typename Element>
__device__ __forceinline__ void copyTileToShared(std::uint32_t tile, const Element* source, std::int64_t row_stride,
                                                 int rows_valid, int thread) {
  constexpr int kChunksPerRow = Traits::kHeadDim / 8;
  constexpr int kRowsPerPass = Traits::kThreads / kChunksPerRow;
  constexpr int kSwizzlePeriod = kRowsPerPass % 8 == 0 ? 1 : 8 / kRowsPerPass;  // passes until row % 8 repeats
  const int chunk = thread % kChunksPerRow;
  const int first_row = thread / kChunksPerRow;
  const Element* from = source + first_row * row_stride + chunk * 8;
  const std::int64_t pass_stride = kRowsPerPass * row_stride;
#pragma unroll
  for (int pass = 0; pass < kRows / kRowsPerPass; ++pass) {
    const std::uint32_t to = tile +
                             tileOffset<Traits::kHeadDim>(first_row + (pass % kSwizzlePeriod) * kRowsPerPass, chunk) +
                             (pass / kSwizzlePeriod) * kSwizzlePeriod * kRowsPerPass * Traits::kHeadDim * 2;
    copy16(to, from, !kCheckRows || first_row + pass * kRowsPerPass < rows_valid);
    from += pass_stride;
  }
}

// ---- the steps of one block ----------------------------------------------------------------------

// A lane's ldmatrix addresses in the swizzled tiles. Every ldmatrix row a lane addresses has
// row % 8 == lane % 8, so the swizzled column of chunk 2 * j + c (j = step or pair) is
// 8 * (j / 4) + ((2 * (j % 4)) ^ (c ^ lane % 8)): four per-thread offsets plus immediates cover a
// whole tile. `c` is the lane's chunk parity in the x4 pattern.
template <int kHeadDim>
struct LaneOffsets {
  static constexpr std::uint32_t kRowBytes = kHeadDim * 2;
  std::uint32_t a_chunks[4];  // A fragments and V^T: lanes 16-31 take the odd chunk
  std::uint32_t k_chunks[4];  // K: lanes 8-15 and 24-31 take the odd chunk
  std::uint32_t a_row;        // A fragments and V^T: lane % 16 is the row
  std::uint32_t k_row;        // K: keys 0-7 for lanes 0-15, 8-15 for lanes 16-31

  __device__ __forceinline__ explicit LaneOffsets(int lane) {
#pragma unroll
    for (int j = 0; j < 4; ++j) a_chunks[j] = static_cast<std::uint32_t>(((2 * j) ^ ((lane / 16) ^ (lane % 8))) << 4);
#pragma unroll
    for (int j = 0; j < 4; ++j) k_chunks[j] = static_cast<std::uint32_t>(((2 * j) ^ (((lane / 8) % 2) ^ (lane % 8))) << 4);
    a_row = static_cast<std::uint32_t>((lane % 16) * kHeadDim * 2);
    k_row = static_cast<std::uint32_t>(((lane / 16) * 8 + lane % 8) * kHeadDim * 2);
  }
};

// ldmatrix.x4 of a 16x16 A fragment of Q: lanes 0-15 address rows 0-15 at k 0-7, lanes 16-31 at k
// 8-15. Steps come as (group of four k16 steps = one 128-byte swizzle span, step within the group).
template <int kHeadDim>
__device__ __forceinline__ void loadQFragment(std::uint32_t (&fragment)[4], std::uint32_t q_tile, int warp_row0,
                                              const LaneOffsets<kHeadDim>& lanes, int m_tile, int group, int step) {
  loadMatrixX4(fragment, q_tile + static_cast<std::uint32_t>(warp_row0 + m_tile * 16) * LaneOffsets<kHeadDim>::kRowBytes +
                             lanes.a_row + group * 128 + lanes.a_chunks[step]);
}

// Load Q (kQInRegisters): once Q has landed, every A fragment of this warp's rows into registers for
// the whole key loop; afterwards the stage Q occupied is free for the first prefetch.
template <class Traits>
__device__ __forceinline__ void loadQToRegisters(std::uint32_t (&q_fragments)[Traits::kMTiles][Traits::kHeadDim / 16][4],
                                                 std::uint32_t q_tile, int warp_row0,
                                                 const LaneOffsets<Traits::kHeadDim>& lanes) {
  waitCopies<0>();
  __syncthreads();
#pragma unroll
  for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
    for (int step = 0; step < Traits::kHeadDim / 16; ++step) {
      loadQFragment(q_fragments[mt][step], q_tile, warp_row0, lanes, mt, step / 4, step % 4);
    }
  }
  __syncthreads();  // stage 1, where Q was, is free for the first prefetch
}

// The K/V pipeline: key tile n of this (batch, KV head) into `stage` as two cp.async groups (K, then
// V), so that the scores can start once K has landed. kCheckRows zero-fills keys past seq_kv.
template <class Traits, bool kCheckRows, typename Element>
__device__ __forceinline__ void copyKvTile(std::uint32_t stage, const Element* k, const Element* v,
                                           const AttentionParams& p, int n, int thread) {
  const int rows = p.seq_kv - n * Traits::kBlockN;
  copyTileToShared<Traits, Traits::kBlockN, kCheckRows>(stage, k + n * Traits::kBlockN * p.k_row_stride,
                                                        p.k_row_stride, rows, thread);
  commitCopies();
  copyTileToShared<Traits, Traits::kBlockN, kCheckRows>(stage + static_cast<std::uint32_t>(Traits::kKvTileBytes),
                                                        v + n * Traits::kBlockN * p.v_row_stride, p.v_row_stride, rows,
                                                        thread);
  commitCopies();
}

// S = Q K^T for this warp's rows. ldmatrix.x4 on K (row-major [key][d]) yields the B fragments of two
// n8 key tiles: lanes 0-7 / 8-15 address keys 0-7 at k 0-7 / 8-15, lanes 16-31 keys 8-15.
template <class Traits, typename Element>
__device__ __forceinline__ void computeScores(
    float (&acc_s)[Traits::kMTiles][Traits::kBlockN / 8][4],
    const std::uint32_t (&q_fragments)[Traits::kQInRegisters ? Traits::kMTiles : 1][Traits::kQInRegisters ? Traits::kHeadDim / 16 : 1][4],
    std::uint32_t q_tile, std::uint32_t k_stage, int warp_row0, const LaneOffsets<Traits::kHeadDim>& lanes) {
  constexpr int kMTiles = Traits::kMTiles;
  constexpr int kScoreTiles = Traits::kBlockN / 8;
  constexpr int kQkSteps = Traits::kHeadDim / 16;
  constexpr bool kQInRegisters = Traits::kQInRegisters;
  constexpr std::uint32_t kRowBytes = LaneOffsets<Traits::kHeadDim>::kRowBytes;
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int nt = 0; nt < kScoreTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc_s[mt][nt][e] = 0.0f;
    }
  }
  const std::uint32_t k_smem = k_stage + lanes.k_row;
  // With Q re-read from shared memory the groups stay a loop: unrolled, ptxas hoists ldmatrix of
  // later steps into registers the O and S accumulators need, and spills.
#pragma unroll(kQInRegisters ? kQkSteps / 4 : 1)
  for (int group = 0; group < kQkSteps / 4; ++group) {
#pragma unroll
    for (int step = 0; step < 4; ++step) {
      std::uint32_t q_step[kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
        if constexpr (kQInRegisters) {
#pragma unroll
          for (int r = 0; r < 4; ++r) q_step[mt][r] = q_fragments[mt][group * 4 + step][r];
        } else {
          loadQFragment(q_step[mt], q_tile, warp_row0, lanes, mt, group, step);
        }
      }
#pragma unroll
      for (int pair = 0; pair < kScoreTiles / 2; ++pair) {
        std::uint32_t b[4];
        loadMatrixX4(b, k_smem + pair * 16 * kRowBytes + group * 128 + lanes.k_chunks[step]);
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          mma16816<Element>(acc_s[mt][2 * pair], q_step[mt], b[0], b[1]);
          mma16816<Element>(acc_s[mt][2 * pair + 1], q_step[mt], b[2], b[3]);
        }
      }
    }
  }
}

// Masks key tile n where it crosses the diagonal or the end of the keys. C fragment: register e of
// tile nt holds row lane/4 (+8 for e >= 2), column nt*8 + 2*(lane%4) + e%2.
template <class Traits, bool kCausal>
__device__ __forceinline__ void maskScores(float (&acc_s)[Traits::kMTiles][Traits::kBlockN / 8][4],
                                           const AttentionParams& p, int n, int m0, int warp_row0, int lane,
                                           int causal_offset) {
  const int row0 = m0 + warp_row0 + lane / 4;
  const int col0 = n * Traits::kBlockN + 2 * (lane % 4);
#pragma unroll
  for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
    for (int nt = 0; nt < Traits::kBlockN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = row0 + mt * 16 + (e / 2) * 8;
        const int col = col0 + nt * 8 + e % 2;
        const bool masked = col >= p.seq_kv || (kCausal && col > row + causal_offset);
        if (masked) acc_s[mt][nt][e] = -INFINITY;
      }
    }
  }
}

// Online softmax in the exp2 domain: S becomes P in place, the running max and sum move on, and O
// is rescaled where the max moved. Each row keeps a reference max m; P = exp2(S * scale_log2 -
// m * scale_log2). m moves up (and the running sum and O are rescaled) only when the tile's max
// exceeds it by more than kRescaleThreshold (in log2 units), so P stays below 2^8: no precision is
// lost in fp16/bf16 P or in the fp32 sums, and after the first tiles a warp almost never has to
// rescale its O accumulator (D/2 multiplies per row pair). O / sum and LSE = m * scale + ln(sum)
// come out the same as with the exact running max.
template <class Traits>
__device__ __forceinline__ void onlineSoftmax(float (&acc_s)[Traits::kMTiles][Traits::kBlockN / 8][4],
                                              float (&acc_o)[Traits::kMTiles][Traits::kHeadDim / 8][4],
                                              float (&row_max)[Traits::kMTiles][2], float (&row_sum)[Traits::kMTiles][2],
                                              float scale_log2) {
  constexpr int kMTiles = Traits::kMTiles;
  constexpr int kScoreTiles = Traits::kBlockN / 8;
  constexpr float kRescaleThreshold = 8.0f;
  float correction[kMTiles][2];
  bool rescale = false;
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float tile_max = row_max[mt][h];
#pragma unroll
      for (int nt = 0; nt < kScoreTiles; ++nt) {
        tile_max = fmaxf(tile_max, fmaxf(acc_s[mt][nt][2 * h], acc_s[mt][nt][2 * h + 1]));
      }
      tile_max = quadMax(tile_max);
      const float old_scaled = row_max[mt][h] * scale_log2;
      const float new_scaled = tile_max * scale_log2;
      correction[mt][h] = 1.0f;
      // True on the first unmasked key (old = -inf); false while a row has seen only masked keys.
      if (new_scaled - old_scaled > kRescaleThreshold) {
        correction[mt][h] = exp2Fast(old_scaled - new_scaled);
        row_max[mt][h] = tile_max;
        rescale = true;
      }
      // A row that has seen only masked keys keeps m = -inf; subtracting 0 keeps exp2 at 0, not NaN.
      const float max_scaled = row_max[mt][h] == -INFINITY ? 0.0f : row_max[mt][h] * scale_log2;
      float sum = row_sum[mt][h] * correction[mt][h];
#pragma unroll
      for (int nt = 0; nt < kScoreTiles; ++nt) {
#pragma unroll
        for (int e = 2 * h; e < 2 * h + 2; ++e) {
          const float prob = exp2Fast(fmaf(acc_s[mt][nt][e], scale_log2, -max_scaled));
          acc_s[mt][nt][e] = prob;
          sum += prob;
        }
      }
      row_sum[mt][h] = sum;
    }
  }
  // Warps of one m16 tile rescale unconditionally: for them the vote and branch cost more than
  // the D/2 multiplies they save (64x64 and 128x128 ran 5-15% slower with the skip on an H100).
  if (kMTiles == 1 || __any_sync(0xffffffffu, rescale)) {
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
      for (int nt = 0; nt < Traits::kHeadDim / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc_o[mt][nt][e] *= correction[mt][e / 2];
      }
    }
  }
}

// O += P V. The C fragments of two adjacent score tiles are the A fragment of one k16 step;
// ldmatrix.x4.trans on V (row-major [key][d]) yields the B fragments of two n8 d tiles:
// lanes 0-15 address keys 0-15 of d tile 0, lanes 16-31 of d tile 1.
template <class Traits, typename Element>
__device__ __forceinline__ void accumulatePv(float (&acc_o)[Traits::kMTiles][Traits::kHeadDim / 8][4],
                                             const float (&acc_s)[Traits::kMTiles][Traits::kBlockN / 8][4],
                                             std::uint32_t v_stage, const LaneOffsets<Traits::kHeadDim>& lanes) {
  constexpr int kMTiles = Traits::kMTiles;
  constexpr std::uint32_t kRowBytes = LaneOffsets<Traits::kHeadDim>::kRowBytes;
  const std::uint32_t v_smem = v_stage + lanes.a_row;
#pragma unroll
  for (int step = 0; step < Traits::kBlockN / 16; ++step) {
    std::uint32_t a[kMTiles][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
      a[mt][0] = packPair<Element>(acc_s[mt][2 * step][0], acc_s[mt][2 * step][1]);
      a[mt][1] = packPair<Element>(acc_s[mt][2 * step][2], acc_s[mt][2 * step][3]);
      a[mt][2] = packPair<Element>(acc_s[mt][2 * step + 1][0], acc_s[mt][2 * step + 1][1]);
      a[mt][3] = packPair<Element>(acc_s[mt][2 * step + 1][2], acc_s[mt][2 * step + 1][3]);
    }
#pragma unroll
    for (int pair = 0; pair < Traits::kHeadDim / 16; ++pair) {
      std::uint32_t b[4];
      loadMatrixX4Transposed(b, v_smem + step * 16 * kRowBytes + (pair / 4) * 128 + lanes.a_chunks[pair % 4]);
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
        mma16816<Element>(acc_o[mt][2 * pair], a[mt], b[0], b[1]);
        mma16816<Element>(acc_o[mt][2 * pair + 1], a[mt], b[2], b[3]);
      }
    }
  }
}

// The epilogue: normalise O once, write LSE (natural log; -inf and O = 0 for a row that saw no key),
// and store O through shared memory (the Q tile's place) so that global stores are whole 16-byte
// chunks.
template <class Traits, typename Element>
__device__ __forceinline__ void writeOutput(float (&acc_o)[Traits::kMTiles][Traits::kHeadDim / 8][4],
                                            const float (&row_max)[Traits::kMTiles][2],
                                            const float (&row_sum)[Traits::kMTiles][2], const AttentionParams& p,
                                            unsigned char* o_staging, int batch, int head, int m0, int rows_valid,
                                            int warp_row0, int thread) {
  constexpr int kHeadDim = Traits::kHeadDim;
  constexpr int kMTiles = Traits::kMTiles;
  constexpr int kOutTiles = kHeadDim / 8;
  const int lane = thread % 32;
  float* lse = p.lse == nullptr ? nullptr
                                : p.lse + (static_cast<std::int64_t>(batch) * p.heads_q + head) * p.seq_q + m0;
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float sum = quadSum(row_sum[mt][h]);
      const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
      for (int nt = 0; nt < kOutTiles; ++nt) {
        acc_o[mt][nt][2 * h] *= inverse;
        acc_o[mt][nt][2 * h + 1] *= inverse;
      }
      const int row = warp_row0 + mt * 16 + lane / 4 + 8 * h;
      if (lse != nullptr && lane % 4 == 0 && row < rows_valid) {
        lse[row] = sum > 0.0f ? row_max[mt][h] * p.softmax_scale + logf(sum) : -INFINITY;
      }
    }
  }

  __syncthreads();  // every warp is done reading K, V (and Q)
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int nt = 0; nt < kOutTiles; ++nt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = warp_row0 + mt * 16 + lane / 4 + 8 * h;
        *reinterpret_cast<std::uint32_t*>(o_staging + tileOffset<kHeadDim>(row, nt) + 4 * (lane % 4)) =
            packPair<Element>(acc_o[mt][nt][2 * h], acc_o[mt][nt][2 * h + 1]);
      }
    }
  }
  __syncthreads();
  constexpr int kChunksPerRow = kHeadDim / 8;
  constexpr int kRowsPerPass = Traits::kThreads / kChunksPerRow;
  Element* o = static_cast<Element*>(p.o) + batch * p.o_batch_stride + head * p.o_head_stride + m0 * p.o_row_stride;
  const int chunk = thread % kChunksPerRow;
#pragma unroll
  for (int pass = 0; pass < Traits::kBlockM / kRowsPerPass; ++pass) {
    const int row = thread / kChunksPerRow + pass * kRowsPerPass;
    if (row < rows_valid) {
      *reinterpret_cast<uint4*>(o + row * p.o_row_stride + chunk * 8) =
          *reinterpret_cast<const uint4*>(o_staging + tileOffset<kHeadDim>(row, chunk));
    }
  }
}

// ---- the kernel ---------------------------------------------------------------------------------

template <class Traits, typename Element, bool kCausal>
__device__ __forceinline__ void flashForwardBlock(const AttentionParams& p) {
  constexpr int kBlockM = Traits::kBlockM;
  constexpr int kBlockN = Traits::kBlockN;
  constexpr int kMTiles = Traits::kMTiles;
  constexpr bool kQInRegisters = Traits::kQInRegisters;

  extern __shared__ __align__(128) unsigned char shared[];
  const int thread = static_cast<int>(threadIdx.x);
  const int lane = thread % 32;
  const int warp_row0 = (thread / 32) * Traits::kWarpRows;
  // Reversed so that, under a causal mask, the blocks with the most key tiles start first.
  const int m_block = static_cast<int>(gridDim.x - 1 - blockIdx.x);
  const int head = static_cast<int>(blockIdx.y);
  const int batch = static_cast<int>(blockIdx.z);
  const int head_kv = head / (p.heads_q / p.heads_kv);
  const int m0 = m_block * kBlockM;
  const int rows_valid = min(kBlockM, p.seq_q - m0);

  const Element* q = static_cast<const Element*>(p.q) + batch * p.q_batch_stride + head * p.q_head_stride +
                     m0 * p.q_row_stride;
  const Element* k = static_cast<const Element*>(p.k) + batch * p.k_batch_stride + head_kv * p.k_head_stride;
  const Element* v = static_cast<const Element*>(p.v) + batch * p.v_batch_stride + head_kv * p.v_head_stride;

  // Key tiles this block visits ([0, n_tiles)) and the prefix [0, n_unmasked) that needs no mask:
  // with the bottom-right causal alignment, query row i sees keys j <= i + causal_offset.
  const int causal_offset = p.seq_kv - p.seq_q;
  int n_tiles = (p.seq_kv + kBlockN - 1) / kBlockN;
  int n_unmasked = p.seq_kv / kBlockN;
  if constexpr (kCausal) {
    n_tiles = min(n_tiles, ceilDivNonNegative(m0 + rows_valid + causal_offset, kBlockN));
    n_unmasked = min(n_unmasked, floorDivNonNegative(m0 + causal_offset + 1, kBlockN));
  }

  const std::uint32_t smem = sharedAddress(shared);
  // Q (and at the end O) lives after the K/V stages, or in stage 1 while it is still free.
  const std::uint32_t q_tile =
      smem + static_cast<std::uint32_t>(kQInRegisters ? Traits::kStageBytes : Traits::kStages * Traits::kStageBytes);
  const auto k_tile = [&](int stage) { return smem + static_cast<std::uint32_t>(stage * Traits::kStageBytes); };
  const LaneOffsets<Traits::kHeadDim> lanes(lane);

  std::uint32_t q_fragments[kQInRegisters ? kMTiles : 1][kQInRegisters ? Traits::kHeadDim / 16 : 1][4];
  float acc_o[kMTiles][Traits::kHeadDim / 8][4];
  float row_max[kMTiles][2];  // running max of the raw scores of rows lane/4 and lane/4 + 8
  float row_sum[kMTiles][2];  // this thread's partial sum of exp2((s - max) * scale_log2)
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int nt = 0; nt < Traits::kHeadDim / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc_o[mt][nt][e] = 0.0f;
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      row_max[mt][h] = -INFINITY;
      row_sum[mt][h] = 0.0f;
    }
  }
  const float scale_log2 = p.softmax_scale * 1.4426950408889634f;  // log2(e)

  if (n_tiles > 0) {
    copyTileToShared<Traits, kBlockM, true>(q_tile, q, p.q_row_stride, rows_valid, thread);
    // Q joins the K group; the last key tile may be partial.
    copyKvTile<Traits, true>(k_tile(0), k, v, p, n_tiles - 1, thread);
    if constexpr (kQInRegisters) loadQToRegisters<Traits>(q_fragments, q_tile, warp_row0, lanes);

    for (int n = n_tiles - 1; n >= 0; --n) {
      const int stage = (n_tiles - 1 - n) & 1;  // the first tile visited sits in stage 0
      waitCopies<1>();  // K of tile n has landed (its V may still be in flight)
      __syncthreads();  // ... for every thread, and every warp is done with the other stage
      if (n > 0) {
        copyKvTile<Traits, false>(k_tile(stage ^ 1), k, v, p, n - 1, thread);  // tiles before the last are whole
      } else {
        commitCopies();  // empty groups keep the wait counts below uniform
        commitCopies();
      }

      float acc_s[kMTiles][kBlockN / 8][4];
      computeScores<Traits, Element>(acc_s, q_fragments, q_tile, k_tile(stage), warp_row0, lanes);
      if (n >= n_unmasked) maskScores<Traits, kCausal>(acc_s, p, n, m0, warp_row0, lane, causal_offset);
      onlineSoftmax<Traits>(acc_s, acc_o, row_max, row_sum, scale_log2);

      waitCopies<2>();  // V of tile n has landed (tile n-1 may still be in flight)
      __syncthreads();
      accumulatePv<Traits, Element>(acc_o, acc_s, k_tile(stage) + static_cast<std::uint32_t>(Traits::kKvTileBytes),
                                    lanes);
    }
  }

  writeOutput<Traits, Element>(acc_o, row_max, row_sum, p, shared + (q_tile - smem), batch, head, m0, rows_valid,
                               warp_row0, thread);
}

template <class Traits, typename Element, bool kCausal>
__global__ void __launch_bounds__(Traits::kThreads, Traits::kMinBlocksPerSm)
    flashForwardKernel(const AttentionParams params) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  // The host refuses these on sm_75 before launching: bf16 MMA needs sm_80, and no sm_75 part gives
  // a block more than 64 KB of shared memory. Not compiling them there also keeps the build short.
  if constexpr (std::is_same_v<Element, __nv_bfloat16> || Traits::kSmemBytes > 64 * 1024) {
    __trap();
  } else
#endif
  {
    flashForwardBlock<Traits, Element, kCausal>(params);
  }
}

template <class Traits, typename Element, bool kCausal>
cudaError_t launchFlashForward(const AttentionParams& params, cudaStream_t stream) {
  const auto kernel = &flashForwardKernel<Traits, Element, kCausal>;
  constexpr int kSmemBytes = static_cast<int>(Traits::kSmemBytes);
  // Above 48 KB a block gets dynamic shared memory only after raising the kernel's limit.
  cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  if (status != cudaSuccess) return status;
  const dim3 grid((params.seq_q + Traits::kBlockM - 1) / Traits::kBlockM, params.heads_q, params.batch);
  kernel<<<grid, Traits::kThreads, kSmemBytes, stream>>>(params);
  return cudaGetLastError();
}

// Launches the instantiated tile whose shape is `tile`; cudaErrorInvalidValue when none is.
template <typename Element, bool kCausal, class... Tiles>
cudaError_t launchTile(TypeList<Tiles...>, const AttentionParams& params, TileShape tile, cudaStream_t stream) {
  cudaError_t status = cudaErrorInvalidValue;
  const bool launched = ((Tiles::kBlockM == tile.rows && Tiles::kBlockN == tile.cols &&
                          (status = launchFlashForward<Tiles, Element, kCausal>(params, stream), true)) ||
                         ...);
  static_cast<void>(launched);
  return status;
}

// Body of runFlashForward<kHeadDim, dtype>: the causal x tile switch of one instantiation file.
template <int kHeadDim, typename Element>
cudaError_t runFlashForwardTiles(const AttentionParams& params, TileShape tile, cudaStream_t stream) {
  using Tiles = typename FlashTileSet<kHeadDim>::Tiles;
  return params.causal ? launchTile<Element, true>(Tiles{}, params, tile, stream)
                       : launchTile<Element, false>(Tiles{}, params, tile, stream);
}

}  // namespace attnbench::kernels::cuda::detail
