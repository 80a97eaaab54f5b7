// Tile traits of the flash forward kernel: one constexpr struct per (head dim, Br, Bc, warps), and
// per head dim the list of tiles the dispatch instantiates. Host code reads the same structs (shared
// memory, warps) to answer "does this tile fit this device" without touching a GPU.
//
// Budgets per thread, in 32-bit registers (a warp owns kWarpRows = 16 * kMTiles query rows):
//   O accumulator  kMTiles * D / 2     (fp32, m16n8 C fragments over D / 8 column tiles)
//   S / P scores   kMTiles * Bc / 2    (fp32; P reuses them as packed fp16/bf16 pairs)
//   Q fragment     kMTiles * D / 4     (fp16/bf16 A fragments, only when it is kept in registers)
// plus ~40 for addresses, row statistics and the K/V fragments in flight. Q stays in registers when
// the three terms sum to at most 192, so the whole thread stays under the 255-register cap without
// spilling; otherwise each warp re-reads its Q fragment from shared memory at every K tile (what
// FlashAttention-2 does at head dim 128).
//
// Shared memory: two stages of [K tile | V tile] (cp.async prefetch of tile j-1 while tile j is
// computed) and, when Q is not kept in registers, the Q tile. A Q tile held in registers is loaded
// through the second stage's space before the first prefetch needs it. Every tile row is D fp16/bf16
// values whose 16-byte chunks are XOR-swizzled by (row % 8), so ldmatrix (8 rows, one chunk each) and
// the cp.async writes (consecutive chunks of one row) hit 8 distinct bank groups.
#pragma once

#include <array>
#include <cstddef>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cuda::detail {

template <int kHeadDim_, int kBlockM_, int kBlockN_, int kWarps_>
struct FlashTraits {
  static constexpr int kHeadDim = kHeadDim_;  // D
  static constexpr int kBlockM = kBlockM_;    // Br: query rows per CTA
  static constexpr int kBlockN = kBlockN_;    // Bc: key/value rows per step
  static constexpr int kWarps = kWarps_;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kWarpRows = kBlockM / kWarps;
  static constexpr int kMTiles = kWarpRows / 16;  // m16 row tiles per warp

  static constexpr int kAccRegisters = kMTiles * kHeadDim / 2;
  static constexpr int kScoreRegisters = kMTiles * kBlockN / 2;
  static constexpr int kQRegisters = kMTiles * kHeadDim / 4;
  static constexpr bool kQInRegisters = kAccRegisters + kScoreRegisters + kQRegisters <= 192;

  static constexpr int kStages = 2;
  static constexpr std::size_t kElementBytes = 2;
  static constexpr std::size_t kQTileBytes = std::size_t{kBlockM} * kHeadDim * kElementBytes;
  static constexpr std::size_t kKvTileBytes = std::size_t{kBlockN} * kHeadDim * kElementBytes;
  static constexpr std::size_t kStageBytes = 2 * kKvTileBytes;  // K tile then V tile
  static constexpr std::size_t kSmemBytes = kStages * kStageBytes + (kQInRegisters ? 0 : kQTileBytes);

  // Occupancy hint for __launch_bounds__: two 4-warp CTAs per SM (8 warps to hide the softmax
  // behind the other CTA's MMAs) need <= 255 registers per thread, which the cap gives anyway.
  static constexpr int kMinBlocksPerSm = kWarps == 4 ? 2 : 1;

  static_assert(kHeadDim % 64 == 0, "the swizzle needs rows of at least 8 chunks of 16 bytes");
  static_assert(kWarpRows % 16 == 0 && kWarpRows >= 16, "a warp owns whole m16 row tiles");
  static_assert(kBlockN % 16 == 0, "P V steps over keys 16 at a time");
  static_assert(kQInRegisters ? kQTileBytes <= kStageBytes : true,
                "a Q tile held in registers is staged (and O written back) through one K/V stage");
  static_assert(kThreads % (kHeadDim / 8) == 0, "each thread copies a fixed 16-byte column chunk");
  static_assert(kBlockN % (kThreads / (kHeadDim / 8)) == 0 && kBlockM % (kThreads / (kHeadDim / 8)) == 0,
                "tile rows are a whole number of copy passes");
};

template <class... Ts>
struct TypeList {};

// The tiles instantiated per head dim (resolveFlashTile decides which one a device prefers).
// Registers are ptxas's figures for sm_90 (kernels/cuda/NOTES.md has the full report).
//   64x64,  4 warps x 16 rows: the small tile. At D = 128 it needs 2 x (16 + 16) KB = 64 KB, exactly
//           the T4's (sm_75) opt-in limit, with Q in registers; ~200 registers, two CTAs per SM.
//           Also the auto choice for short sequences, where 128-row blocks would leave SMs idle.
//   128x64, 4 warps x 32 rows: FlashAttention-2's Ampere/Hopper tile and the fastest on the H100.
//           Each K/V fragment loaded from shared memory feeds two m16 tiles, halving ldmatrix
//           traffic per MMA against 16-row warps. At D = 128: O 128 + S 64 registers, so Q is
//           re-read from shared memory; 255 registers (16 bytes of stack), 32 + 64 = 96 KB shared
//           memory, two CTAs per SM on A100/H100.
//   128x128, 8 warps x 16 rows: half the softmax rounds per key; at D = 128 O 64 + S 64 + Q 32
//           registers (240 with addresses), 2 x 64 KB shared memory, one CTA per SM.
// Head dim 256 has twice the O accumulator, so its warps own 16 rows and Q is re-read from shared
// memory; 128x128 would need 320 KB of shared memory and is not offered; 64x32 (96 KB) is the tile
// that fits the 99 KB of sm_86/sm_89.
//
// kPreferred is the auto-tile order, first that fits the device's shared memory wins: 128x64 was
// the fastest at N >= 1024 on an H100 (kernels/cuda/NOTES.md); 128x128 is never faster there, so it
// is only run on request. sm_75/86/89 lose the big tiles to the shared-memory filter.
//
// One specialisation per head dim of the sm80 list in cmake/KernelInstances.cmake.
template <int kHeadDim>
struct FlashTileSet;

template <>
struct FlashTileSet<64> {
  using Tiles = TypeList<FlashTraits<64, 64, 64, 4>, FlashTraits<64, 128, 64, 4>, FlashTraits<64, 128, 128, 8>>;
  static constexpr std::array<TileShape, 2> kPreferred{{{128, 64}, {64, 64}}};
};
template <>
struct FlashTileSet<128> {
  using Tiles = TypeList<FlashTraits<128, 64, 64, 4>, FlashTraits<128, 128, 64, 4>, FlashTraits<128, 128, 128, 8>>;
  static constexpr std::array<TileShape, 2> kPreferred{{{128, 64}, {64, 64}}};
};
template <>
struct FlashTileSet<256> {
  using Tiles = TypeList<FlashTraits<256, 64, 32, 4>, FlashTraits<256, 64, 64, 4>, FlashTraits<256, 128, 64, 8>>;
  static constexpr std::array<TileShape, 3> kPreferred{{{128, 64}, {64, 64}, {64, 32}}};
};

// What the host needs to know about one instantiated tile.
struct FlashTileInfo {
  int rows = 0;
  int cols = 0;
  int warps = 0;
  bool q_in_registers = false;
  std::size_t smem_bytes = 0;
};

template <class... Ts>
constexpr std::array<FlashTileInfo, sizeof...(Ts)> tileInfos(TypeList<Ts...>) {
  return {FlashTileInfo{Ts::kBlockM, Ts::kBlockN, Ts::kWarps, Ts::kQInRegisters, Ts::kSmemBytes}...};
}

template <int kHeadDim>
inline constexpr auto kFlashTileInfos = tileInfos(typename FlashTileSet<kHeadDim>::Tiles{});

}  // namespace attnbench::kernels::cuda::detail
