// The KV cache of a decode point as both backends lay it out: per-sequence lengths (uniform, or a
// ragged batch), a contiguous [B, Hkv, longest, D] cache or a paged one (a pool of pages in shuffled
// order and a block table, as vLLM lays it out), and the DecodeParams over buffers allocated to match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attnbench/kernels/decode_params.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

struct DecodeCacheLayout {
  std::vector<int> kv_lens;       // valid keys per sequence; they sum to B x N
  int longest = 0;                // the longest sequence (rows per (sequence, KV head) when contiguous)
  int page_size = 0;              // 0 = contiguous
  int pages_per_sequence = 0;     // paged: block-table entries per sequence (pages of the longest one)
  std::vector<int> block_table;   // paged: [B, pages_per_sequence] page ids; -1 past a sequence's pages
  std::int64_t pool_pages = 0;    // paged: pages in the pool (the sequences' pages, none to spare)

  bool paged() const { return page_size > 0; }
  bool ragged() const;
  // Elements of the K (or V) cache: contiguous B x Hkv x longest x D, paged pool x Hkv x page x D.
  std::size_t cacheElements(const kernels::AttentionShape& shape) const;
  // Element offset of key `row` of sequence `b`, KV head `head`.
  std::size_t rowOffsetElements(const kernels::AttentionShape& shape, int b, int head, int row) const;
  // Bytes of the integer tables a kernel reads: the lengths and, when paged, the block table.
  std::uint64_t tableBytes() const;
};

// The layout of `point`'s cache: lengths drawn when the point asks for a spread, pages assigned in a
// shuffled order (so neighbouring positions are not neighbours in memory). Both are drawn from the
// point's own shape, so the prediction before a run and the run itself see the same layout.
DecodeCacheLayout decodeCacheLayout(const SweepPoint& point);

// Empty when the cache can hold the point (N at least the new rows, a page size in range), else why not.
std::string decodeShapeReason(const SweepPoint& point);

// DecodeParams for `point` over packed Q/O [B, Hq, q_len, D] and the cache as `layout` describes it.
// Lengths and block table are read from `kv_lens` / `block_table` (device or host memory, as the
// kernel needs); the host lengths always come from the layout.
kernels::DecodeParams decodeParams(const SweepPoint& point, const DecodeCacheLayout& layout, const void* q,
                                   const void* k, const void* v, void* o, float* lse, const int* kv_lens,
                                   const int* block_table);

// The same for the checks and sizes before a run: no buffers exist yet, so the pointers are stand-ins
// (16-byte aligned, never dereferenced) for the kernels' own checks that they are set.
kernels::DecodeParams decodeShapeParams(const SweepPoint& point, const DecodeCacheLayout& layout);

// Bytes of a decode point's tensors, before any kernel workspace: Q and O, the K and V caches, the
// LSE rows and the integer tables. Both backends' memory predictions start from it.
std::uint64_t decodeTensorBytes(const kernels::AttentionShape& shape, const DecodeCacheLayout& layout);

}  // namespace attnbench
