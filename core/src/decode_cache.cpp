#include "decode_cache.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "host_tensors.h"

namespace attnbench {

bool DecodeCacheLayout::ragged() const {
  return std::any_of(kv_lens.begin(), kv_lens.end(), [this](int n) { return n != kv_lens.front(); });
}

std::size_t DecodeCacheLayout::cacheElements(const kernels::AttentionShape& s) const {
  const auto per_row = static_cast<std::size_t>(s.heads_kv) * static_cast<std::size_t>(s.head_dim);
  if (paged()) return static_cast<std::size_t>(pool_pages) * static_cast<std::size_t>(page_size) * per_row;
  return static_cast<std::size_t>(s.batch) * static_cast<std::size_t>(longest) * per_row;
}

std::size_t DecodeCacheLayout::rowOffsetElements(const kernels::AttentionShape& s, int b, int head, int row) const {
  const auto d = static_cast<std::size_t>(s.head_dim);
  if (!paged()) {
    return ((static_cast<std::size_t>(b) * static_cast<std::size_t>(s.heads_kv) + static_cast<std::size_t>(head)) *
                static_cast<std::size_t>(longest) +
            static_cast<std::size_t>(row)) *
           d;
  }
  const auto page = static_cast<std::size_t>(
      block_table[static_cast<std::size_t>(b) * static_cast<std::size_t>(pages_per_sequence) +
                  static_cast<std::size_t>(row / page_size)]);
  const auto page_rows = static_cast<std::size_t>(page_size);
  return ((page * static_cast<std::size_t>(s.heads_kv) + static_cast<std::size_t>(head)) * page_rows +
          static_cast<std::size_t>(row % page_size)) *
         d;
}

std::uint64_t DecodeCacheLayout::tableBytes() const {
  return sizeof(int) * (kv_lens.size() + block_table.size());
}

DecodeCacheLayout decodeCacheLayout(const SweepPoint& point) {
  const kernels::AttentionShape& s = point.shape;
  DecodeCacheLayout layout;
  layout.kv_lens.assign(static_cast<std::size_t>(s.batch), s.seq_kv);
  std::mt19937_64 rng(0xDEC0DEULL ^ (std::uint64_t(s.batch) << 40) ^ (std::uint64_t(s.seq_kv) << 8) ^
                      std::uint64_t(point.decode.page_size));
  // Pairs of sequences get N + d and N - d keys, so the batch holds B x N keys; an odd batch's last
  // sequence keeps N. Every length stays at least the new rows (they are part of the cache).
  const int max_delta = static_cast<int>(std::floor(point.decode.kv_lens_spread * s.seq_kv));
  const int delta_limit = std::min(max_delta, s.seq_kv - s.seq_q);
  if (delta_limit > 0) {
    std::uniform_int_distribution<int> delta(0, delta_limit);
    for (std::size_t b = 0; b + 1 < layout.kv_lens.size(); b += 2) {
      const int d = delta(rng);
      layout.kv_lens[b] = s.seq_kv + d;
      layout.kv_lens[b + 1] = s.seq_kv - d;
    }
  }
  layout.longest = *std::max_element(layout.kv_lens.begin(), layout.kv_lens.end());
  layout.page_size = point.decode.page_size;
  if (layout.paged()) {
    layout.pages_per_sequence = static_cast<int>(kernels::decodePagesFor(layout.longest, layout.page_size));
    for (const int n : layout.kv_lens) layout.pool_pages += kernels::decodePagesFor(n, layout.page_size);
    std::vector<int> order(static_cast<std::size_t>(layout.pool_pages));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    layout.block_table.assign(static_cast<std::size_t>(s.batch) * static_cast<std::size_t>(layout.pages_per_sequence), -1);
    std::size_t next = 0;
    for (std::size_t b = 0; b < layout.kv_lens.size(); ++b) {
      const auto pages = kernels::decodePagesFor(layout.kv_lens[b], layout.page_size);
      for (std::int64_t p = 0; p < pages; ++p) {
        layout.block_table[b * static_cast<std::size_t>(layout.pages_per_sequence) + static_cast<std::size_t>(p)] =
            order[next++];
      }
    }
  }
  return layout;
}

std::string decodeShapeReason(const SweepPoint& point) {
  const kernels::AttentionShape& s = point.shape;
  if (s.seq_q > s.seq_kv) {
    return "the KV cache (N = " + std::to_string(s.seq_kv) + ") must hold the " + std::to_string(s.seq_q) +
           " new tokens";
  }
  return {};
}

kernels::DecodeParams decodeParams(const SweepPoint& point, const DecodeCacheLayout& layout, const void* q,
                                   const void* k, const void* v, void* o, float* lse, const int* kv_lens,
                                   const int* block_table) {
  kernels::DecodeParams p;
  kernels::DecodeShape shape;
  static_cast<kernels::AttentionShape&>(shape) = point.shape;
  shape.seq_kv = layout.longest;
  kernels::setShape(p, shape);
  if (layout.paged()) {
    kernels::setPagedStrides(p, layout.page_size);
    p.block_table = block_table;
    p.block_table_stride = layout.pages_per_sequence;
  } else {
    kernels::setPackedStrides(p, layout.longest);
  }
  p.q = q;
  p.k = k;
  p.v = v;
  p.o = o;
  p.lse = lse;
  if (layout.ragged()) {
    p.kv_lens = kv_lens;
    p.kv_lens_host = layout.kv_lens.data();
  }
  p.num_splits = point.decode.splits;
  return p;
}

kernels::DecodeParams decodeShapeParams(const SweepPoint& point, const DecodeCacheLayout& layout) {
  alignas(16) static const int kStandIn[4] = {};
  return decodeParams(point, layout, kStandIn, kStandIn, kStandIn, const_cast<int*>(kStandIn), nullptr, kStandIn, kStandIn);
}

std::uint64_t decodeTensorBytes(const kernels::AttentionShape& shape, const DecodeCacheLayout& layout) {
  const auto element = static_cast<std::uint64_t>(kernels::bytesPerElement(shape.dtype));
  return tensorBytes(shape, TensorId::Q) + tensorBytes(shape, TensorId::O) + 2 * element * layout.cacheElements(shape) +
         lseBytes(shape) + layout.tableBytes();
}

}  // namespace attnbench
