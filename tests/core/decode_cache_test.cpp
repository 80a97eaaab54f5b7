// The decode cache layout both backends allocate: ragged lengths, the paged pool and its block table.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "decode_cache.h"

namespace attnbench {
namespace {

SweepPoint decodePoint(int batch, int n, int q_len, DecodeCacheOptions options) {
  SweepPoint p;
  p.workload = Workload::Decode;
  p.model = findModel("llama-3-8b");
  p.shape = modelShape(p.model, batch, n, DType::F16, true);
  p.shape.seq_q = q_len;
  p.decode = options;
  return p;
}

TEST(DecodeCache, RaggedLengthsStayInTheSpreadAndSumToTheUniformBatch) {
  const SweepPoint p = decodePoint(7, 1000, 4, {0, 0.5, 0});
  const DecodeCacheLayout layout = decodeCacheLayout(p);
  ASSERT_EQ(layout.kv_lens.size(), 7u);
  EXPECT_TRUE(layout.ragged());
  EXPECT_EQ(std::accumulate(layout.kv_lens.begin(), layout.kv_lens.end(), 0), 7 * 1000);
  for (const int n : layout.kv_lens) {
    EXPECT_GE(n, 500);
    EXPECT_LE(n, 1500);
  }
  EXPECT_EQ(layout.kv_lens.back(), 1000);  // the odd one out keeps N
  EXPECT_EQ(layout.longest, *std::max_element(layout.kv_lens.begin(), layout.kv_lens.end()));
  // The same point gets the same layout (prediction and run agree).
  EXPECT_EQ(decodeCacheLayout(p).kv_lens, layout.kv_lens);
  // Without a spread every sequence holds N.
  EXPECT_FALSE(decodeCacheLayout(decodePoint(3, 1000, 1, {})).ragged());
}

TEST(DecodeCache, PagedPoolIsAShuffledPermutationCoveringEverySequence) {
  const SweepPoint p = decodePoint(4, 1000, 1, {64, 0.3, 0});
  const DecodeCacheLayout layout = decodeCacheLayout(p);
  ASSERT_TRUE(layout.paged());
  std::int64_t pages = 0;
  for (const int n : layout.kv_lens) pages += (n + 63) / 64;
  EXPECT_EQ(layout.pool_pages, pages);
  std::set<int> used;
  bool in_order = true;
  int previous = -1;
  for (int b = 0; b < 4; ++b) {
    const int own = (layout.kv_lens[static_cast<std::size_t>(b)] + 63) / 64;
    for (int i = 0; i < layout.pages_per_sequence; ++i) {
      const int page = layout.block_table[static_cast<std::size_t>(b * layout.pages_per_sequence + i)];
      if (i >= own) {
        EXPECT_EQ(page, -1);
        continue;
      }
      EXPECT_TRUE(used.insert(page).second) << "page " << page << " used twice";
      in_order = in_order && page == previous + 1;
      previous = page;
    }
  }
  EXPECT_EQ(static_cast<std::int64_t>(used.size()), layout.pool_pages);
  EXPECT_FALSE(in_order) << "pages should not be laid out in sequence order";
  // Row offsets: row j of a sequence lies in its j / 64-th page, at row j % 64 of that page's head slice.
  const auto& s = p.shape;
  const int page = layout.block_table[static_cast<std::size_t>(1 * layout.pages_per_sequence + 2)];
  EXPECT_EQ(layout.rowOffsetElements(s, 1, 3, 2 * 64 + 5),
            ((static_cast<std::size_t>(page) * 8 + 3) * 64 + 5) * 128);
  EXPECT_EQ(layout.cacheElements(s), static_cast<std::size_t>(layout.pool_pages) * 64 * 8 * 128);
}

TEST(DecodeCache, AContiguousCacheHoldsTheLongestSequenceForEveryOne) {
  const SweepPoint p = decodePoint(2, 512, 1, {0, 0.5, 0});
  const DecodeCacheLayout layout = decodeCacheLayout(p);
  EXPECT_EQ(layout.cacheElements(p.shape), static_cast<std::size_t>(2) * 8 * layout.longest * 128);
  EXPECT_EQ(layout.rowOffsetElements(p.shape, 1, 2, 7), ((static_cast<std::size_t>(1) * 8 + 2) * layout.longest + 7) * 128);
  const kernels::DecodeParams params = decodeShapeParams(p, layout);
  EXPECT_EQ(params.seq_kv, layout.longest);
  EXPECT_EQ(params.kv_lens_host, layout.kv_lens.data());
  EXPECT_EQ(decodeShapeReason(decodePoint(1, 8, 16, {})).find("must hold the 16 new tokens") != std::string::npos, true);
}

}  // namespace
}  // namespace attnbench
