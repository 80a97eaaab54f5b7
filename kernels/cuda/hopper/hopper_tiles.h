// Tiles of the Hopper flash kernel family, readable on the host without CUDA device code: the
// shared-memory budget per (head dim, tile) and the list the dispatch and the support checks use.
#pragma once

#include <array>
#include <cstddef>
#include <span>

namespace attnbench::kernels::cuda::hopper {

// One CTA: a producer warpgroup (TMA) and two consumer warpgroups of 64 query rows each.
inline constexpr int kBlockM = 128;
inline constexpr int kConsumerGroups = 2;
inline constexpr int kThreads = 128 * (1 + kConsumerGroups);
inline constexpr std::size_t kSharedLimit = 227 * 1024;  // sm_90 opt-in maximum per block

// Shared memory: Q tile, optional separate O tile, kStages x (K tile, V tile), the mbarriers and
// 1 KB of slack to align the base to the 1024-byte period of the 128-byte swizzle.
struct HopperTile {
  int head_dim = 0;
  int rows = kBlockM;
  int cols = 0;    // key rows per step (Bc)
  int stages = 0;  // K/V pipeline depth
  constexpr std::size_t qBytes() const { return std::size_t(rows) * head_dim * 2; }
  constexpr std::size_t kvBytes() const { return std::size_t(cols) * head_dim * 2; }
  constexpr std::size_t barrierBytes() const { return std::size_t(8) * (2 + 4 * stages); }
  constexpr std::size_t baseBytes() const { return 1024 + qBytes() + 2 * stages * kvBytes() + barrierBytes(); }
  // O gets its own buffer where it fits, so the next tile's Q can load during the epilogue;
  // otherwise O is staged in Q's buffer once every S = Q K^T of the tile has finished.
  constexpr bool separateO() const { return baseBytes() + qBytes() <= kSharedLimit; }
  constexpr std::size_t sharedBytes() const { return baseBytes() + (separateO() ? qBytes() : 0); }
};

// Every instantiated tile, auto choice first per head dim (kernels/cuda/NOTES.md has the sweep).
inline constexpr std::array<HopperTile, 6> kHopperTiles{{
    {64, kBlockM, 128, 3},
    {64, kBlockM, 176, 2},
    {128, kBlockM, 128, 2},
    {128, kBlockM, 176, 2},
    {256, kBlockM, 80, 2},
    {256, kBlockM, 64, 2},
}};

static_assert([] {
  for (const HopperTile& t : kHopperTiles) {
    if (t.sharedBytes() > kSharedLimit || t.cols % 16 != 0 || t.head_dim % 64 != 0) return false;
  }
  return true;
}(), "every Hopper tile fits 227 KB of shared memory with whole k16 steps and 64-column chunks");

}  // namespace attnbench::kernels::cuda::hopper
