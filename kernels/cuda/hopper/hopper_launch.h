// Host-side pieces of the Hopper flash family shared by the dispatch (flash_api.cpp), the tensor-map
// encoder (hopper_tma.cpp) and the instantiation files (generated from the Hopper list in
// cmake/KernelInstances.cmake as <build>/kernels/cuda/instances/hopper_fwd_hdim<D>_<dtype>.cu).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "attnbench/kernels/attention_params.h"
#include "flash_instances.h"

namespace attnbench::kernels::cuda::hopper {

// n / d for 0 <= n < 2^31 by a multiply-high, an add and a shift (Granlund and Montgomery, "Division by
// invariant integers using multiplication", 1994): with l = ceil(log2 d) and m = floor(2^32 (2^l - d) / d)
// + 1, n / d = (mulhi(m, n) + n) >> l. The kernel walks its schedule at every work item boundary, where
// both consumers wait on it; hardware has no integer divide, and the three divisions by run-time values
// took about a third of the boundary (NOTES: "Where an item's time goes").
struct FastDivisor {
  std::uint32_t divisor = 1, magic = 1, shift = 0;

  FastDivisor() = default;
  explicit FastDivisor(int d) : divisor(static_cast<std::uint32_t>(d)) {
    while ((std::uint64_t{1} << shift) < divisor) ++shift;
    magic = static_cast<std::uint32_t>(((std::uint64_t{1} << 32) * ((std::uint64_t{1} << shift) - divisor)) / divisor + 1);
  }
  __host__ __device__ int divide(int n) const {
    const auto u = static_cast<std::uint32_t>(n);
#ifdef __CUDA_ARCH__
    const std::uint32_t high = __umulhi(magic, u);
#else
    const auto high = static_cast<std::uint32_t>((static_cast<std::uint64_t>(magic) * u) >> 32);
#endif
    return static_cast<int>((high + u) >> shift);
  }
};

// What the kernel reads besides the tensor maps.
struct KernelParams {
  void* o = nullptr;     // for rows that see no key, written directly
  float* lse = nullptr;  // may be null
  std::int64_t o_batch_stride = 0, o_head_stride = 0, o_row_stride = 0;
  int batch = 0, heads_q = 0, group = 0, seq_q = 0, seq_kv = 0;
  int m_blocks = 0;       // query tiles per (batch, head)
  int tiles = 0;          // work items: m_blocks x heads_q x batch
  int section_heads = 0;  // (batch, head) pairs per L2 section of the schedule (see scheduleItem); set
                          // with setSectionHeads, which also sets the divisors below
  FastDivisor by_section_items, by_section_heads, by_last_section_heads, by_heads_q;
  int last_section = 0;   // the last section, which may be narrower
  float softmax_scale = 1.0f;
  std::uint64_t* stamps = nullptr;  // diagnostic builds only (hopper_stamps.h): where the launch records its events
};

// Work item `tile` of the static schedule. The (batch, head) pairs are cut into sections of
// section_heads whose K/V fit about half the L2; sections run one after the other, and within one the
// query tiles go from the last (the longest under a causal mask) to the first, the heads of a query
// tile next to each other. So the CTAs in flight share the K/V of a few heads (L2 hits instead of HBM
// reads) and, causal, each section still starts with its longest items. The kernel walks the
// schedule with it; the host simulates the schedule with it to choose the section width.
struct WorkItem {
  int m0 = 0, head = 0, batch = 0;
  int n_tiles = 0;     // key tiles visited: [0, n_tiles), from the last down
  int n_unmasked = 0;  // key tiles [0, n_unmasked) need no mask
};

// Sections of `width` (batch, head) pairs: section_heads and the divisors scheduleItem uses.
inline void setSectionHeads(KernelParams& p, int width) {
  const int all_heads = p.heads_q * p.batch;
  p.section_heads = width;
  p.last_section = (all_heads - 1) / width;
  p.by_section_items = FastDivisor(p.m_blocks * width);
  p.by_section_heads = FastDivisor(width);
  p.by_last_section_heads = FastDivisor(all_heads - p.last_section * width);
  p.by_heads_q = FastDivisor(p.heads_q);
}

__host__ __device__ inline WorkItem scheduleItem(const KernelParams& p, int tile, int block_m, int block_n,
                                                 bool causal) {
  const auto lesser = [](int a, int b) { return a < b ? a : b; };
  const int section = p.by_section_items.divide(tile);
  // The last section may be narrower.
  const FastDivisor& width = section == p.last_section ? p.by_last_section_heads : p.by_section_heads;
  const int item = tile - section * static_cast<int>(p.by_section_items.divisor);
  const int item_row = width.divide(item);
  WorkItem w;
  const int m_block = p.m_blocks - 1 - item_row;
  const int head_batch = section * p.section_heads + item - item_row * static_cast<int>(width.divisor);
  w.batch = p.by_heads_q.divide(head_batch);
  w.head = head_batch - w.batch * p.heads_q;
  w.m0 = m_block * block_m;
  const int rows_valid = lesser(block_m, p.seq_q - w.m0);
  const int causal_offset = p.seq_kv - p.seq_q;  // query row i sees keys j <= i + causal_offset
  w.n_tiles = (p.seq_kv + block_n - 1) / block_n;
  w.n_unmasked = p.seq_kv / block_n;
  if (causal) {
    // Tile counts of the causal bounds, where the row/key offset may be negative (Nq > Nk).
    const int seen = w.m0 + rows_valid + causal_offset;  // keys [0, seen) are seen by the last row
    const int unmasked = w.m0 + causal_offset + 1;       // keys [0, unmasked) are seen by every row
    w.n_tiles = lesser(w.n_tiles, seen <= 0 ? 0 : (seen + block_n - 1) / block_n);
    w.n_unmasked = lesser(w.n_unmasked, unmasked <= 0 ? 0 : unmasked / block_n);
  }
  return w;
}

// The slot of CTA `cta` in round `round` of the schedule (and the CTA of a slot: the map is its own
// inverse). Odd rounds run backwards over the CTAs, so a CTA that took one of the longer items of a
// round takes one of the shorter ones of the next (the items are ordered longest first in a section).
__host__ __device__ inline int roundSlot(int round, int ctas, int cta) {
  return (round & 1) != 0 ? ctas - 1 - cta : cta;
}

// `l2_bytes`: the device's L2 size (the schedule keeps the K/V of about half of it in flight);
// `ctas`: the persistent grid. Causal, the section width is the one (at or above what L2 and balance
// ask for) whose static schedule, simulated here, leaves the busiest CTA the least work.
KernelParams kernelParams(const AttentionParams& params, int block_m, int block_n, int l2_bytes, int ctas);

// TMA descriptors of Q, K, V (loads: boxes of 64 columns x block rows) and O (stores: 64 x 64, one
// consumer warpgroup's rows), all with the 128-byte swizzle, over 4-d views (column, row, head, batch).
struct TensorMaps {
  CUtensorMap q, k, v, o;
};

// False when the driver offers no cuTensorMapEncodeTiled or rejects a map.
bool encodeTensorMaps(const AttentionParams& params, int block_m, int block_n, TensorMaps& maps);

// One per (head dim, dtype) of the Hopper list, each defined in its instance file; `tile` must be one
// of kHopperTiles for the head dim (else cudaErrorNotSupported).
template <int kHeadDim, DType kDType>
cudaError_t runHopperForward(const AttentionParams& params, TileShape tile, int multiprocessors, cudaStream_t stream);

#define ATTNBENCH_DECLARE_HOPPER_FORWARD(kHeadDim, kDType) \
  template <>                                              \
  cudaError_t runHopperForward<kHeadDim, DType::kDType>(const AttentionParams&, TileShape, int, cudaStream_t);
ATTNBENCH_HOPPER_FLASH_INSTANCES(ATTNBENCH_DECLARE_HOPPER_FORWARD)
#undef ATTNBENCH_DECLARE_HOPPER_FORWARD

}  // namespace attnbench::kernels::cuda::hopper
