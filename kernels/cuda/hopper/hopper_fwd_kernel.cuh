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
#include "hopper_tiles.h"
#include "wgmma_ops.cuh"

namespace attnbench::kernels::cuda::hopper {

template <int kHeadDim_, int kRows_, int kBlockN_, int kStages_>
struct KernelTraits {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kRows = kRows_;  // query rows per work item (hopper_tiles.h)
  static constexpr int kBlockN = kBlockN_;
  static constexpr int kStages = kStages_;
  static constexpr HopperTile kTile{kHeadDim, kRows, kBlockN, kStages};
  static constexpr int kStreams = kTile.streams();          // 2: every consumer has its own items
  static constexpr int kStreamConsumers = kConsumerGroups / kStreams;
  static constexpr int kChunks = kHeadDim / 64;             // 64-column (128-byte) swizzle chunks per row
  static constexpr int kQChunkBytes = kRows * 128;          // one chunk of all Q (or O) rows
  static constexpr int kKvChunkBytes = kBlockN * 128;       // one chunk of all K (or V) rows of a tile
  static constexpr int kQBytes = kQChunkBytes * kChunks;
  static constexpr int kKvBytes = kKvChunkBytes * kChunks;
  static constexpr bool kSeparateO = kTile.separateO();
  static constexpr int kSharedBytes = static_cast<int>(kTile.sharedBytes());
  // Per stream, kStreamBytes apart: Q, O (if separate), K stages, V stages; after all streams the
  // barriers, kStreamBarrierBytes per stream, then the consumers' finish words.
  static constexpr int kOOffset = kSeparateO ? kQBytes : 0;
  static constexpr int kKOffset = kQBytes + (kSeparateO ? kQBytes : 0);
  static constexpr int kVOffset = kKOffset + kStages * kKvBytes;
  static constexpr int kStreamBytes = kVOffset + kStages * kKvBytes;
  static constexpr int kBarrierOffset = kStreams * kStreamBytes;
  static constexpr int kStreamBarrierBytes = static_cast<int>(kTile.streamBarrierBytes());
  static constexpr int kFinishOffset = kBarrierOffset + kStreams * kStreamBarrierBytes;
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = 240;
  static_assert(kProducerRegisters * 128 + kConsumerRegisters * 128 * kConsumerGroups <= 65536);
};

// The work item of schedule slot `slot` (of `slots`: one per CTA, or one per consumer when every consumer
// has its own items) in round `round` of the static schedule (see roundSlot), or -1 past the end.
__device__ __forceinline__ int scheduledTile(int round, int tiles, int slots, int slot) {
  const int tile = round * slots + roundSlot(round, slots, slot);
  return tile < tiles ? tile : -1;
}

// The shared-memory buffers and mbarriers of one stream (see KernelTraits): full barriers complete on
// the TMA bytes, empty ones on the consumers' releases.
template <class Traits>
struct StreamSmem {
  std::uint32_t base;
  std::uint32_t barriers;
  __device__ __forceinline__ StreamSmem(std::uint32_t smem, int stream)
      : base(smem + static_cast<std::uint32_t>(stream * Traits::kStreamBytes)),
        barriers(smem + static_cast<std::uint32_t>(Traits::kBarrierOffset + stream * Traits::kStreamBarrierBytes)) {}
  __device__ __forceinline__ std::uint32_t q() const { return base; }
  __device__ __forceinline__ std::uint32_t o() const { return base + Traits::kOOffset; }
  __device__ __forceinline__ std::uint32_t k(int stage) const {
    return base + static_cast<std::uint32_t>(Traits::kKOffset + stage * Traits::kKvBytes);
  }
  __device__ __forceinline__ std::uint32_t v(int stage) const {
    return base + static_cast<std::uint32_t>(Traits::kVOffset + stage * Traits::kKvBytes);
  }
  __device__ __forceinline__ std::uint32_t qFull() const { return barriers; }
  __device__ __forceinline__ std::uint32_t qEmpty() const { return barriers + 8; }
  __device__ __forceinline__ std::uint32_t kFull(int stage) const { return slot(stage); }
  __device__ __forceinline__ std::uint32_t kEmpty(int stage) const { return slot(Traits::kStages + stage); }
  __device__ __forceinline__ std::uint32_t vFull(int stage) const { return slot(2 * Traits::kStages + stage); }
  __device__ __forceinline__ std::uint32_t vEmpty(int stage) const { return slot(3 * Traits::kStages + stage); }

 private:
  __device__ __forceinline__ std::uint32_t slot(int index) const {
    return barriers + static_cast<std::uint32_t>(16 + 8 * index);
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
  // Consumer g's word: nonzero once it has taken its last turn (with a stream per consumer only).
  const auto finish_word = [&](int group) {
    return smem + static_cast<std::uint32_t>(Traits::kFinishOffset + 4 * group);
  };

  const int thread = static_cast<int>(threadIdx.x);
  // Read from lane 0, so the compiler knows it is the same in every lane of the warp: what is derived
  // from it (the consumer's Q descriptor, its barrier ids) then lives in uniform registers instead of
  // being rebuilt per thread and copied into them (R2UR) before every wgmma.
  const int warpgroup = __shfl_sync(0xffffffffu, thread / 128, 0);
  const int lane = thread % 32;
  // Consumers release a stage once per warp (4 arrivals per consumer of the stream) after their wgmma
  // on it has completed; Q likewise, or, when O is staged in Q's buffer, once per consumer after the O
  // store has read it.
  constexpr std::uint32_t kWarpArrivals = Traits::kStreamConsumers * 4;
  constexpr std::uint32_t kQEmptyArrivals = Traits::kSeparateO ? kWarpArrivals : Traits::kStreamConsumers;
  // Schedule slots: one per CTA, or one per consumer (slot kStreams * CTA + stream).
  const int slots = static_cast<int>(gridDim.x) * Traits::kStreams;
  const auto slot_of = [&](int stream) { return static_cast<int>(blockIdx.x) * Traits::kStreams + stream; };
  if (thread == 0) {
    for (int stream = 0; stream < Traits::kStreams; ++stream) {
      const StreamSmem<Traits> buf(smem, stream);
      barrierInit(buf.qFull(), 1);
      barrierInit(buf.qEmpty(), kQEmptyArrivals);
      for (int s = 0; s < kStages; ++s) {
        barrierInit(buf.kFull(s), 1);
        barrierInit(buf.kEmpty(s), kWarpArrivals);
        barrierInit(buf.vFull(s), 1);
        barrierInit(buf.vEmpty(s), kWarpArrivals);
      }
    }
    if constexpr (Traits::kStreams > 1) {
      for (int g = 0; g < kConsumerGroups; ++g) sharedStoreVolatile(finish_word(g), 0u);
    }
    fenceBarrierInit();
  }
  __syncthreads();

  if (warpgroup == 0) {
    // ---- producer ------------------------------------------------------------------------------
    releaseRegisters<Traits::kProducerRegisters>();
    if (thread != 0) return;
    prefetchTensorMap(q_map);
    prefetchTensorMap(k_map);
    prefetchTensorMap(v_map);
    prefetchTensorMap(o_map);
    // One stream's loads: the items of its schedule slot, each its Q tile and then its key tiles from
    // the last down, K before V.
    struct Loads {
      int round = -1;
      WorkItem item{};
      int n = 0;              // the key tile to load next
      bool q_next = false;    // the item's Q comes first
      bool v_next = false;    // K of tile n is issued, V not yet
      bool done = false;
      std::uint32_t q_phase = 0;
      RingPosition<kStages> kv;
    };
    const auto next_item = [&](Loads& l, int stream) {
      for (++l.round; l.round * slots < p.tiles; ++l.round) {
        const int tile = scheduledTile(l.round, p.tiles, slots, slot_of(stream));
        if (tile < 0) continue;
        l.item = scheduleItem(p, tile, Traits::kRows, kBlockN, kCausal);
        if (l.item.n_tiles == 0) continue;
        l.n = l.item.n_tiles - 1;
        l.q_next = true;
        return;
      }
      l.done = true;
    };
    // With one stream the producer waits for a free buffer; with a stream per consumer it only tests,
    // so that one consumer's next tile never waits behind the other consumer's busy stage.
    const auto ready = [](std::uint32_t barrier, std::uint32_t parity) {
      if constexpr (Traits::kStreams == 1) {
        barrierWait(barrier, parity);
        return true;
      } else {
        return barrierTest(barrier, parity);
      }
    };
    // Issues the stream's next copies as far as their buffers are free; false if none was.
    const auto step = [&](Loads& l, int stream) {
      const StreamSmem<Traits> buf(smem, stream);
      const WorkItem& w = l.item;
      if (l.q_next) {
        if (!ready(buf.qEmpty(), l.q_phase ^ 1u)) return false;
        barrierArriveExpectBytes(buf.qFull(), Traits::kQBytes);
        for (int c = 0; c < Traits::kChunks; ++c) {
          tmaLoad(buf.q() + static_cast<std::uint32_t>(c * Traits::kQChunkBytes), q_map, buf.qFull(), c * 64, w.m0,
                  w.head, w.batch);
        }
        l.q_phase ^= 1u;
        l.q_next = false;
        if constexpr (Traits::kStreams > 1) return true;
      }
      const int head_kv = w.head / p.group;
      const int stage = l.kv.stage;
      const std::uint32_t parity = l.kv.phase ^ 1u;
      const bool k_issued = !l.v_next;
      if (k_issued) {
        if (!ready(buf.kEmpty(stage), parity)) return false;
        barrierArriveExpectBytes(buf.kFull(stage), Traits::kKvBytes);
        for (int c = 0; c < Traits::kChunks; ++c) {
          tmaLoad(buf.k(stage) + static_cast<std::uint32_t>(c * Traits::kKvChunkBytes), k_map, buf.kFull(stage),
                  c * 64, l.n * kBlockN, head_kv, w.batch);
        }
        l.v_next = true;
      }
      if (!ready(buf.vEmpty(stage), parity)) return k_issued;
      barrierArriveExpectBytes(buf.vFull(stage), Traits::kKvBytes);
      for (int c = 0; c < Traits::kChunks; ++c) {
        tmaLoad(buf.v(stage) + static_cast<std::uint32_t>(c * Traits::kKvChunkBytes), v_map, buf.vFull(stage),
                c * 64, l.n * kBlockN, head_kv, w.batch);
      }
      l.v_next = false;
      l.kv.advance();
      if (--l.n < 0) next_item(l, stream);
      return true;
    };
    Loads loads[Traits::kStreams];
#pragma unroll
    for (int stream = 0; stream < Traits::kStreams; ++stream) next_item(loads[stream], stream);
    for (bool busy = true; busy;) {
      busy = false;
      bool issued = false;
#pragma unroll
      for (int stream = 0; stream < Traits::kStreams; ++stream) {
        if (loads[stream].done) continue;
        issued = step(loads[stream], stream) || issued;
        busy = true;
      }
      // Polling, a pass that found every buffer busy leaves the issue slots of the producer's SM
      // sub-partition to the consumer warps there for a while (short against a key tile's ~1 us).
      if (Traits::kStreams > 1 && !issued) __nanosleep(64);
    }
    return;
  }

  // ---- consumers -----------------------------------------------------------------------------------
  claimRegisters<Traits::kConsumerRegisters>();
  const int group = warpgroup - 1;
  const int stream = Traits::kStreams == 1 ? 0 : group;
  const StreamSmem<Traits> buf(smem, stream);
  const int thread_in_group = thread % 128;
  const int warp_in_group = thread_in_group / 32;
  const bool warp_leader = lane == 0;
  const int item_row0 = Traits::kStreams == 1 ? group * kConsumerRows : 0;  // this consumer's rows of the item
  const int tile_row0 = item_row0 + warp_in_group * 16 + lane / 4;          // this thread's rows: +0 and +8
  const float scale_log2 = p.softmax_scale * 1.4426950408889634f;

  // With a stream per consumer the two consumers take different numbers of turns (their items differ):
  // a consumer done with its items takes one last turn with its finish word set, and the other, seeing
  // it after a turn, goes on without turns.
  bool alone = false;
  const auto wait_turn = [&] {
    if constexpr (Traits::kStreams == 1) {
      namedBarrierSync(kTurnBarrier + group, 256);
    } else if (!alone) {
      namedBarrierSync(kTurnBarrier + group, 256);
      alone = sharedLoadVolatile(finish_word(group ^ 1)) != 0u;
    }
  };
  const auto pass_turn = [&] {
    if (!alone) namedBarrierArrive(kTurnBarrier + (group ^ 1), 256);
  };
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
      opaque(matrixDescriptor(buf.q() + static_cast<std::uint32_t>(item_row0 * 128), 16, 1024));
  const std::uint64_t k_descriptor = opaque(matrixDescriptor(buf.k(0), 16, 1024));
  const std::uint64_t v_descriptor = opaque(matrixDescriptor(buf.v(0), Traits::kKvChunkBytes, 1024));
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
    release(buf.kEmpty(stage));
    if constexpr (Traits::kSeparateO) {
      if (last_s) release(buf.qEmpty());
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
  for (int round = 0; round * slots < p.tiles; ++round) {
    const int tile = scheduledTile(round, p.tiles, slots, slot_of(stream));
    if (tile < 0) continue;
    const WorkItem w = scheduleItem(p, tile, Traits::kRows, kBlockN, kCausal);
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
    barrierWait(buf.qFull(), q_phase);
    q_phase ^= 1u;

    // First key tile: S only.
    barrierWait(buf.kFull(kv.stage), kv.phase);
    wait_turn();
    issue_s(kv.stage);
    pass_turn();
    wgmmaWait<0>();
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
      barrierWait(buf.kFull(kv.stage), kv.phase);
      wait_turn();
      issue_s(kv.stage);
      barrierWait(buf.vFull(previous.stage), previous.phase);
      issue_pv(previous.stage);
      pass_turn();
      wgmmaWait<1>();  // S done; P V may still run
      pinRegisters(acc_s);
      release_after_s(kv.stage, n == 0);
      if (n >= w.n_unmasked) mask(w.m0, n);
      float correction[2];
      const bool rescale = softmax(correction);
      wgmmaWait<0>();
      pinRegisters(acc_o);
      release(buf.vEmpty(previous.stage));
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

    barrierWait(buf.vFull(kv.stage), kv.phase);
    wait_turn();
    issue_pv(kv.stage);
    pass_turn();
    wgmmaWait<0>();
    pinRegisters(acc_o);
    release(buf.vEmpty(kv.stage));
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
        const std::uint32_t address = buf.o() + static_cast<std::uint32_t>((i / 8) * Traits::kQChunkBytes + row * 128 +
                                                                          (((i % 8) ^ (lane / 4)) << 4) + (lane % 4) * 4);
        const std::uint32_t value =
            packPair<Element>(acc_o[4 * i + 2 * h] * inverse[h], acc_o[4 * i + 2 * h + 1] * inverse[h]);
        asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(address), "r"(value) : "memory");
      }
    }
    fenceSharedForAsyncProxy();
    namedBarrierSync(kEpilogueBarrier + group, 128);
    if (thread_in_group == 0) {
      for (int c = 0; c < Traits::kChunks; ++c) {
        tmaStore(o_map, buf.o() + static_cast<std::uint32_t>(c * Traits::kQChunkBytes + item_row0 * 128), c * 64,
                 w.m0 + item_row0, w.head, w.batch);
      }
      tmaStoreCommit();
      if constexpr (!Traits::kSeparateO) {
        tmaStoreWaitRead();
        barrierArrive(buf.qEmpty());
      }
    }
  }
  if constexpr (Traits::kStreams > 1) {
    wait_turn();
    if (thread_in_group == 0) sharedStoreVolatile(finish_word(group), 1u);
    pass_turn();
  }
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
  if (!encodeTensorMaps(params, Traits::kRows, Traits::kBlockN, maps)) return cudaErrorInvalidValue;
  int device = 0;
  int l2_bytes = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    l2_bytes = 0;
  }
  const int tiles = (params.seq_q + Traits::kRows - 1) / Traits::kRows * params.heads_q * params.batch;
  const int ctas = (tiles + Traits::kStreams - 1) / Traits::kStreams;
  const int grid = ctas < multiprocessors ? ctas : multiprocessors;
  const KernelParams p = kernelParams(params, Traits::kRows, Traits::kBlockN, l2_bytes, grid * Traits::kStreams);
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
        using Traits = KernelTraits<kHeadDim, t.rows, t.cols, t.stages>;
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
