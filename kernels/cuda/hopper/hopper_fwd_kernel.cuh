// The Hopper flash forward kernel (sm_90a) and its launcher. Included once per (head dim, dtype)
// instantiation file; nothing here is compiled on its own.
//
// Persistent CTAs of three warpgroups walk a static list of (query tile, head, batch) work items
// (L2-sized sections of heads, longest items first in each; see scheduleItem). Warpgroup 0 is the producer: one thread issues TMA copies of the Q tile and of K/V
// tiles into a ring of shared-memory stages, each completing on an mbarrier, and waits on "empty"
// mbarriers before reusing a stage. Warpgroups 1 and 2 are consumers, 64 query rows each: S = Q K^T
// with wgmma reading Q and K from shared memory, the online softmax in registers, O += P V with P
// from registers and V from shared memory. Within a consumer, S for key tile j is issued together
// with P V for tile j+1 (keys are visited from the last tile down), so the softmax of one overlaps
// the other GEMM; between consumers two named barriers hand the tensor cores back and forth, so one
// warpgroup's GEMMs run while the other does its softmax. The producer gives up registers
// (setmaxnreg) to the consumers. O leaves through shared memory as TMA stores; LSE from registers.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "attnbench/kernels/attention_params.h"
#include "device_math.cuh"
#include "hopper_launch.h"
#include "hopper_ptx.cuh"
#include "hopper_stamps.h"
#include "hopper_tiles.h"
#include "wgmma_ops.cuh"

namespace attnbench::kernels::cuda::hopper {

template <int kHeadDim_, int kBlockN_, int kStages_>
struct KernelTraits {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockN = kBlockN_;
  static constexpr int kStages = kStages_;
  static constexpr HopperTile kTile{kHeadDim, kBlockM, kBlockN, kStages};
  static constexpr int kChunks = kHeadDim / 64;             // 64-column (128-byte) swizzle chunks per row
  static constexpr int kQChunkBytes = kBlockM * 128;        // one chunk of all Q (or O) rows
  static constexpr int kKvChunkBytes = kBlockN * 128;       // one chunk of all K (or V) rows of a tile
  static constexpr int kQBytes = kQChunkBytes * kChunks;
  static constexpr int kKvBytes = kKvChunkBytes * kChunks;
  static constexpr bool kSeparateO = kTile.separateO();
  static constexpr int kSharedBytes = static_cast<int>(kTile.sharedBytes());
  static constexpr int kOOffset = kSeparateO ? kQBytes : 0;
  static constexpr int kKOffset = kQBytes + (kSeparateO ? kQBytes : 0);
  static constexpr int kVOffset = kKOffset + kStages * kKvBytes;
  static constexpr int kBarrierOffset = kVOffset + kStages * kKvBytes;
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = 240;
  static_assert(kProducerRegisters * 128 + kConsumerRegisters * 128 * kConsumerGroups <= 65536);
};

// The work item of this CTA in round `round` of the static schedule (see roundSlot), or -1 past the end.
__device__ __forceinline__ int scheduledTile(int round, int tiles) {
  const int ctas = static_cast<int>(gridDim.x);
  const int tile = round * ctas + roundSlot(round, ctas, static_cast<int>(blockIdx.x));
  return tile < tiles ? tile : -1;
}

#if defined(ATTNBENCH_HOPPER_STAMPS) && ATTNBENCH_HOPPER_STAMPS
inline constexpr bool kStampsBuilt = true;
#else
inline constexpr bool kStampsBuilt = false;
#endif

// One role's stamp region of this CTA (hopper_stamps.h), written by one thread. In a build without
// ATTNBENCH_HOPPER_STAMPS every member is empty and the kernel holds no trace of it.
struct StampWriter {
  std::uint64_t* region = nullptr;  // null: not the recording thread, or no buffer given
  int count = 0;

  static __device__ __forceinline__ std::uint64_t globalTimer() {
    std::uint64_t t = 0;
    asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
    return t;
  }
  __device__ __forceinline__ void open(std::uint64_t* entries, int role) {
    if constexpr (kStampsBuilt) {
      if (entries == nullptr) return;
      region = entries + (static_cast<std::size_t>(blockIdx.x) * kStampRoles + static_cast<std::size_t>(role)) *
                             static_cast<std::size_t>(kStampCapacity);
      region[1] = globalTimer();
      region[2] = static_cast<std::uint64_t>(clock64());
    }
  }
  __device__ __forceinline__ void operator()(Stamp event) {
    if constexpr (kStampsBuilt) {
      if (region != nullptr && count < kStampCapacity - kStampHeader) {
        region[kStampHeader + count++] =
            (static_cast<std::uint64_t>(event) << 56) | (static_cast<std::uint64_t>(clock64()) & kStampClockMask);
      }
    }
  }
  __device__ __forceinline__ void close() {
    if constexpr (kStampsBuilt) {
      if (region == nullptr) return;
      region[0] = static_cast<std::uint64_t>(count);
      region[3] = globalTimer();
      region[4] = static_cast<std::uint64_t>(clock64());
    }
  }
};

// Named barriers: 1 + g is consumer g's turn at the tensor cores, 3 + g its epilogue.
constexpr int kTurnBarrier = 1;
constexpr int kEpilogueBarrier = 3;

template <class Traits, typename Element, bool kCausal>
__global__ void __launch_bounds__(kThreads, 1)
    hopperFlashForward(const __grid_constant__ CUtensorMap q_map, const __grid_constant__ CUtensorMap k_map,
                       const __grid_constant__ CUtensorMap v_map, const __grid_constant__ CUtensorMap o_map,
                       const KernelParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kHeadDim = Traits::kHeadDim;
  constexpr int kBlockN = Traits::kBlockN;
  constexpr int kStages = Traits::kStages;
  constexpr bool kBf16 = std::is_same_v<Element, __nv_bfloat16>;

  extern __shared__ unsigned char shared_raw[];
  const std::uint32_t smem = (sharedAddress(shared_raw) + 1023u) & ~1023u;  // the swizzle repeats every 1024 B
  const std::uint32_t q_smem = smem;
  const std::uint32_t o_smem = smem + Traits::kOOffset;
  const auto k_smem = [&](int stage) { return smem + static_cast<std::uint32_t>(Traits::kKOffset + stage * Traits::kKvBytes); };
  const auto v_smem = [&](int stage) { return smem + static_cast<std::uint32_t>(Traits::kVOffset + stage * Traits::kKvBytes); };
  const std::uint32_t barriers = smem + Traits::kBarrierOffset;
  const std::uint32_t q_full = barriers;
  const std::uint32_t q_empty = barriers + 8;
  const auto k_full = [&](int stage) { return barriers + static_cast<std::uint32_t>(16 + 8 * stage); };
  const auto k_empty = [&](int stage) { return barriers + static_cast<std::uint32_t>(16 + 8 * (kStages + stage)); };
  const auto v_full = [&](int stage) { return barriers + static_cast<std::uint32_t>(16 + 8 * (2 * kStages + stage)); };
  const auto v_empty = [&](int stage) { return barriers + static_cast<std::uint32_t>(16 + 8 * (3 * kStages + stage)); };

  const int thread = static_cast<int>(threadIdx.x);
  // Read from lane 0, so the compiler knows it is the same in every lane of the warp: what is derived
  // from it (the consumer's Q descriptor, its barrier ids) then lives in uniform registers instead of
  // being rebuilt per thread and copied into them (R2UR) before every wgmma.
  const int warpgroup = __shfl_sync(0xffffffffu, thread / 128, 0);
  const int lane = thread % 32;
  // Consumers release a stage once per warp (8 arrivals) after their wgmma on it has completed; Q
  // likewise, or, when O is staged in Q's buffer, once per consumer after the O store has read it.
  constexpr std::uint32_t kWarpArrivals = kConsumerGroups * 4;
  constexpr std::uint32_t kQEmptyArrivals = Traits::kSeparateO ? kWarpArrivals : kConsumerGroups;
  if (thread == 0) {
    barrierInit(q_full, 1);
    barrierInit(q_empty, kQEmptyArrivals);
    for (int s = 0; s < kStages; ++s) {
      barrierInit(k_full(s), 1);
      barrierInit(k_empty(s), kWarpArrivals);
      barrierInit(v_full(s), 1);
      barrierInit(v_empty(s), kWarpArrivals);
    }
    fenceBarrierInit();
  }
  __syncthreads();

  if (warpgroup == 0) {
    // ---- producer ------------------------------------------------------------------------------
    releaseRegisters<Traits::kProducerRegisters>();
    if (thread != 0) return;
    StampWriter stamp;
    stamp.open(p.stamps, 0);
    prefetchTensorMap(q_map);
    prefetchTensorMap(k_map);
    prefetchTensorMap(v_map);
    prefetchTensorMap(o_map);
    std::uint32_t q_phase = 0;
    RingPosition<kStages> kv;
    for (int round = 0; round * static_cast<int>(gridDim.x) < p.tiles; ++round) {
      const int tile = scheduledTile(round, p.tiles);
      if (tile < 0) continue;
      const WorkItem w = scheduleItem(p, tile, kBlockM, kBlockN, kCausal);
      if (w.n_tiles == 0) continue;
      const int head_kv = w.head / p.group;
      stamp(Stamp::ProducerItem);
      barrierWait(q_empty, q_phase ^ 1u);
      barrierArriveExpectBytes(q_full, Traits::kQBytes);
      for (int c = 0; c < Traits::kChunks; ++c) {
        tmaLoad(q_smem + static_cast<std::uint32_t>(c * Traits::kQChunkBytes), q_map, q_full, c * 64, w.m0, w.head,
                w.batch);
      }
      q_phase ^= 1u;
      stamp(Stamp::ProducerQ);
      for (int n = w.n_tiles - 1; n >= 0; --n, kv.advance()) {
        const int stage = kv.stage;
        const std::uint32_t parity = kv.phase ^ 1u;
        barrierWait(k_empty(stage), parity);
        barrierArriveExpectBytes(k_full(stage), Traits::kKvBytes);
        for (int c = 0; c < Traits::kChunks; ++c) {
          tmaLoad(k_smem(stage) + static_cast<std::uint32_t>(c * Traits::kKvChunkBytes), k_map, k_full(stage), c * 64,
                  n * kBlockN, head_kv, w.batch);
        }
        stamp(Stamp::ProducerK);
        barrierWait(v_empty(stage), parity);
        barrierArriveExpectBytes(v_full(stage), Traits::kKvBytes);
        for (int c = 0; c < Traits::kChunks; ++c) {
          tmaLoad(v_smem(stage) + static_cast<std::uint32_t>(c * Traits::kKvChunkBytes), v_map, v_full(stage), c * 64,
                  n * kBlockN, head_kv, w.batch);
        }
        stamp(Stamp::ProducerV);
      }
    }
    stamp.close();
    return;
  }

  // ---- consumers -----------------------------------------------------------------------------------
  claimRegisters<Traits::kConsumerRegisters>();
  const int group = warpgroup - 1;
  const int thread_in_group = thread % 128;
  const int warp_in_group = thread_in_group / 32;
  const bool warp_leader = lane == 0;
  const int tile_row0 = group * 64 + warp_in_group * 16 + lane / 4;  // this thread's rows: +0 and +8
  const float scale_log2 = p.softmax_scale * 1.4426950408889634f;
  StampWriter stamp;
  if (thread_in_group == 0) stamp.open(p.stamps, 1 + group);

  const auto wait_turn = [&] { namedBarrierSync(kTurnBarrier + group, 256); };
  const auto pass_turn = [&] { namedBarrierArrive(kTurnBarrier + (group ^ 1), 256); };
  if (group == 1) pass_turn();  // consumer 0 issues first

  float acc_s[kBlockN / 2];
  float acc_o[kHeadDim / 2];
  std::uint32_t p_frag[kBlockN / 16][4];
  float row_max[2];
  float row_sum[2];

  // The descriptors of this consumer's Q rows and of stage 0's K and V; every other descriptor is one
  // of these plus a constant offset (descriptorPlus), so the loop does no descriptor arithmetic beyond
  // one add per wgmma.
  const std::uint64_t q_descriptor =
      opaque(matrixDescriptor(q_smem + static_cast<std::uint32_t>(group * 64 * 128), 16, 1024));
  const std::uint64_t k_descriptor = opaque(matrixDescriptor(k_smem(0), 16, 1024));
  const std::uint64_t v_descriptor = opaque(matrixDescriptor(v_smem(0), Traits::kKvChunkBytes, 1024));
  const auto stage_bytes = [](int stage) { return static_cast<std::uint32_t>(stage * Traits::kKvBytes); };

  // S = Q K^T over kHeadDim / 16 k-steps; descriptors step 32 bytes within a 128-byte swizzle row.
  const auto issue_s = [&](int stage) {
    const std::uint64_t k_stage = descriptorPlus(k_descriptor, stage_bytes(stage));
    wgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kHeadDim / 16; ++kk) {
      const auto chunk_step = static_cast<std::uint32_t>((kk % 4) * 32);
      const std::uint64_t a =
          descriptorPlus(q_descriptor, static_cast<std::uint32_t>((kk / 4) * Traits::kQChunkBytes) + chunk_step);
      const std::uint64_t b =
          descriptorPlus(k_stage, static_cast<std::uint32_t>((kk / 4) * Traits::kKvChunkBytes) + chunk_step);
      wgmmaSS<kBlockN>(acc_s, a, b, kk > 0 ? 1 : 0, kBf16);
    }
    wgmmaCommit();
  };
  // O += P V over kBlockN / 16 k-steps of 16 key rows (2 KB apart); V is N-major, chunks kKvChunkBytes apart.
  const auto issue_pv = [&](int stage) {
    const std::uint64_t v_stage = descriptorPlus(v_descriptor, stage_bytes(stage));
    wgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      const std::uint64_t b = descriptorPlus(v_stage, static_cast<std::uint32_t>(kk * 16 * 128));
      wgmmaRS<kHeadDim>(acc_o, p_frag[kk], b, 1, kBf16);
    }
    wgmmaCommit();
  };
  const auto release = [&](std::uint32_t barrier) {
    if (warp_leader) barrierArrive(barrier);
  };
  // After an S = Q K^T has completed: its K stage is free, and after the item's last S (key tile 0)
  // so is Q when O has its own buffer. The producer can then load the next item's Q and first K/V
  // tiles during this item's last softmax, last P V and epilogue, instead of only once the last P V
  // has finished (at 8 rounds of items the start of the next item was otherwise exposed).
  const auto release_after_s = [&](int stage, bool last_s) {
    release(k_empty(stage));
    if constexpr (Traits::kSeparateO) {
      if (last_s) release(q_empty);
    }
  };

  // Scores of columns past the keys or above the causal diagonal become -inf. Accumulator layout:
  // register 4i + e holds row +8 (e >= 2), column 8i + 2 (lane % 4) + e % 2.
  const auto mask = [&](int m0, int n) {
    const int causal_offset = p.seq_kv - p.seq_q;
    const int col0 = n * kBlockN + 2 * (lane % 4);
#pragma unroll
    for (int i = 0; i < kBlockN / 8; ++i) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = m0 + tile_row0 + (e / 2) * 8;
        const int col = col0 + 8 * i + e % 2;
        if (col >= p.seq_kv || (kCausal && col > row + causal_offset)) acc_s[4 * i + e] = -INFINITY;
      }
    }
  };

  // Online softmax in the exp2 domain: P = exp2(S scale_log2 - m scale_log2) in place, this thread's
  // partial row sums, and the factor O must be rescaled by (returns whether any row needs it). Each row
  // keeps a reference max m that only moves when a tile's max exceeds it by more than kRescaleThreshold
  // (log2 units): P stays below 2^8, exact enough in fp16/bf16 and fp32 sums, and after the first
  // tiles O is rarely rescaled. O / sum and LSE = m scale + ln(sum) are the same as with the exact
  // running max. A row that has seen only masked keys keeps m = -inf and subtracts 0: P stays 0.
  constexpr float kRescaleThreshold = 8.0f;
  const auto softmax = [&](float (&correction)[2]) {
    bool rescale = false;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float tile_max = row_max[h];
#pragma unroll
      for (int i = 0; i < kBlockN / 8; ++i) tile_max = fmaxf(tile_max, fmaxf(acc_s[4 * i + 2 * h], acc_s[4 * i + 2 * h + 1]));
      tile_max = quadMax(tile_max);
      correction[h] = 1.0f;
      if ((tile_max - row_max[h]) * scale_log2 > kRescaleThreshold) {  // true for the first key (m = -inf)
        correction[h] = exp2Fast((row_max[h] - tile_max) * scale_log2);
        row_max[h] = tile_max;
        rescale = true;
      }
      const float max_scaled = row_max[h] == -INFINITY ? 0.0f : row_max[h] * scale_log2;
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < kBlockN / 8; ++i) {
#pragma unroll
        for (int e = 2 * h; e < 2 * h + 2; ++e) {
          acc_s[4 * i + e] = exp2Fast(fmaf(acc_s[4 * i + e], scale_log2, -max_scaled));
          sum += acc_s[4 * i + e];
        }
      }
      row_sum[h] = row_sum[h] * correction[h] + sum;
    }
    return __any_sync(0xffffffffu, rescale);
  };
  // P as the A fragments of O += P V: k-step kk is score columns 16kk..16kk+15 (n8 tiles 2kk, 2kk+1).
  const auto convert_p = [&] {
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
#pragma unroll
      for (int r = 0; r < 4; ++r) p_frag[kk][r] = packPair<Element>(acc_s[8 * kk + 2 * r], acc_s[8 * kk + 2 * r + 1]);
    }
  };

  std::uint32_t q_phase = 0;
  RingPosition<kStages> kv;
  for (int round = 0; round * static_cast<int>(gridDim.x) < p.tiles; ++round) {
    const int tile = scheduledTile(round, p.tiles);
    if (tile < 0) continue;
    const WorkItem w = scheduleItem(p, tile, kBlockM, kBlockN, kCausal);
    Element* const o_global = static_cast<Element*>(p.o) + w.batch * p.o_batch_stride + w.head * p.o_head_stride;
    float* const lse = p.lse == nullptr ? nullptr : p.lse + (static_cast<std::int64_t>(w.batch) * p.heads_q + w.head) * p.seq_q;
    if (w.n_tiles == 0) {
      // No row of this tile sees a key (causal, Nq > Nk): O = 0 and LSE = -inf, written directly.
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = w.m0 + tile_row0 + 8 * h;
        if (row >= p.seq_q) continue;
        for (int col = 2 * (lane % 4); col < kHeadDim; col += 8) {
          *reinterpret_cast<std::uint32_t*>(o_global + row * p.o_row_stride + col) = 0u;
        }
        if (lse != nullptr && lane % 4 == 0) lse[row] = -INFINITY;
      }
      continue;
    }

#pragma unroll
    for (int i = 0; i < kHeadDim / 2; ++i) acc_o[i] = 0.0f;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      row_max[h] = -INFINITY;
      row_sum[h] = 0.0f;
    }
    stamp(Stamp::ConsumerItem);
    barrierWait(q_full, q_phase);
    q_phase ^= 1u;
    stamp(Stamp::QReady);

    // First key tile: S only.
    barrierWait(k_full(kv.stage), kv.phase);
    stamp(Stamp::KReady);
    wait_turn();
    stamp(Stamp::SIssue);
    issue_s(kv.stage);
    pass_turn();
    stamp(Stamp::TurnPassed);
    wgmmaWait<0>();
    stamp(Stamp::SDone);
    pinRegisters(acc_s);
    release_after_s(kv.stage, w.n_tiles == 1);
    if (w.n_tiles - 1 >= w.n_unmasked) mask(w.m0, w.n_tiles - 1);
    {
      float unused[2];
      static_cast<void>(softmax(unused));
    }
    convert_p();

    for (int n = w.n_tiles - 2; n >= 0; --n) {
      const RingPosition<kStages> previous = kv;
      kv.advance();
      barrierWait(k_full(kv.stage), kv.phase);
      stamp(Stamp::KReady);
      wait_turn();
      stamp(Stamp::SIssue);
      issue_s(kv.stage);
      barrierWait(v_full(previous.stage), previous.phase);
      issue_pv(previous.stage);
      pass_turn();
      stamp(Stamp::TurnPassed);
      wgmmaWait<1>();  // S done; P V may still run
      stamp(Stamp::SDone);
      pinRegisters(acc_s);
      release_after_s(kv.stage, n == 0);
      if (n >= w.n_unmasked) mask(w.m0, n);
      float correction[2];
      const bool rescale = softmax(correction);
      wgmmaWait<0>();
      stamp(Stamp::PvDone);
      pinRegisters(acc_o);
      release(v_empty(previous.stage));
      // At head dim 64 the vote and branch cost more than the 32 multiplies they save.
      if (kHeadDim < 128 || rescale) {
#pragma unroll
        for (int i = 0; i < kHeadDim / 8; ++i) {
#pragma unroll
          for (int e = 0; e < 4; ++e) acc_o[4 * i + e] *= correction[e / 2];
        }
      }
      convert_p();
    }

    barrierWait(v_full(kv.stage), kv.phase);
    wait_turn();
    stamp(Stamp::LastPvIssue);
    issue_pv(kv.stage);
    pass_turn();
    stamp(Stamp::TurnPassed);
    wgmmaWait<0>();
    stamp(Stamp::PvDone);
    pinRegisters(acc_o);
    release(v_empty(kv.stage));
    kv.advance();

    // ---- epilogue: O / rowsum, LSE, O through shared memory to a TMA store ----
    float inverse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float sum = quadSum(row_sum[h]);
      inverse[h] = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int row = w.m0 + tile_row0 + 8 * h;
      if (lse != nullptr && lane % 4 == 0 && row < p.seq_q) {
        lse[row] = sum > 0.0f ? row_max[h] * p.softmax_scale + logf(sum) : -INFINITY;
      }
    }
    if constexpr (Traits::kSeparateO) {
      if (thread_in_group == 0) tmaStoreWaitRead();  // the previous tile's store has left the buffer
      namedBarrierSync(kEpilogueBarrier + group, 128);
    }
#pragma unroll
    for (int i = 0; i < kHeadDim / 8; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = tile_row0 + 8 * h;  // row % 8 == (lane / 4): the swizzle's XOR
        const std::uint32_t address = o_smem + static_cast<std::uint32_t>((i / 8) * Traits::kQChunkBytes + row * 128 +
                                                                          (((i % 8) ^ (lane / 4)) << 4) + (lane % 4) * 4);
        const std::uint32_t value =
            packPair<Element>(acc_o[4 * i + 2 * h] * inverse[h], acc_o[4 * i + 2 * h + 1] * inverse[h]);
        asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(address), "r"(value) : "memory");
      }
    }
    fenceSharedForAsyncProxy();
    namedBarrierSync(kEpilogueBarrier + group, 128);
    stamp(Stamp::EpilogueStore);
    if (thread_in_group == 0) {
      for (int c = 0; c < Traits::kChunks; ++c) {
        tmaStore(o_map, o_smem + static_cast<std::uint32_t>(c * Traits::kQChunkBytes + group * 64 * 128), c * 64,
                 w.m0 + group * 64, w.head, w.batch);
      }
      tmaStoreCommit();
      if constexpr (!Traits::kSeparateO) {
        tmaStoreWaitRead();
        barrierArrive(q_empty);
      }
    }
    stamp(Stamp::EpilogueEnd);
  }
  stamp.close();
  if (thread_in_group == 0) tmaStoreWaitAll();
#endif
}

// Launches the kernel of `Traits` on a persistent grid of at most one CTA per SM.
template <class Traits, typename Element, bool kCausal>
cudaError_t launchHopperForward(const AttentionParams& params, int multiprocessors, cudaStream_t stream) {
  const auto kernel = hopperFlashForward<Traits, Element, kCausal>;
  // Per launch, like the mma.sync family: the limit belongs to the current device's context.
  if (const cudaError_t status =
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSharedBytes);
      status != cudaSuccess) {
    return status;
  }

  TensorMaps maps;
  if (!encodeTensorMaps(params, kBlockM, Traits::kBlockN, maps)) return cudaErrorInvalidValue;
  int device = 0;
  int l2_bytes = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    l2_bytes = 0;
  }
  const int tiles = (params.seq_q + kBlockM - 1) / kBlockM * params.heads_q * params.batch;
  const int grid = tiles < multiprocessors ? tiles : multiprocessors;
  const KernelParams p = kernelParams(params, kBlockM, Traits::kBlockN, l2_bytes, grid);
  kernel<<<grid, kThreads, Traits::kSharedBytes, stream>>>(maps.q, maps.k, maps.v, maps.o, p);
  return cudaGetLastError();
}

// The tile switch of one (head dim, dtype) instantiation file.
template <int kHeadDim, typename Element, int... kTileIndex>
cudaError_t runTile(const AttentionParams& params, TileShape tile, int multiprocessors, cudaStream_t stream,
                    std::integer_sequence<int, kTileIndex...>) {
  cudaError_t status = cudaErrorNotSupported;
  const auto try_tile = [&](auto index) {
    constexpr HopperTile t = kHopperTiles[decltype(index)::value];
    if constexpr (t.head_dim == kHeadDim) {
      if (status == cudaErrorNotSupported && tile.rows == t.rows && tile.cols == t.cols) {
        using Traits = KernelTraits<kHeadDim, t.cols, t.stages>;
        status = params.causal ? launchHopperForward<Traits, Element, true>(params, multiprocessors, stream)
                               : launchHopperForward<Traits, Element, false>(params, multiprocessors, stream);
      }
    }
  };
  (try_tile(std::integral_constant<int, kTileIndex>{}), ...);
  return status;
}

}  // namespace attnbench::kernels::cuda::hopper

// One instantiation file's entry point.
#define ATTNBENCH_HOPPER_INSTANTIATE(kHeadDim, kDType, Element)                                               \
  template <>                                                                                                 \
  cudaError_t attnbench::kernels::cuda::hopper::runHopperForward<kHeadDim, kDType>(                          \
      const AttentionParams& params, TileShape tile, int multiprocessors, cudaStream_t stream) {              \
    return runTile<kHeadDim, Element>(params, tile, multiprocessors, stream,                                  \
                                      std::make_integer_sequence<int, static_cast<int>(kHopperTiles.size())>{}); \
  }
