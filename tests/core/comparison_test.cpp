// One comparison of N runs: matching, ratios against the baseline, spread-aware verdicts, geometric means.
#include <gtest/gtest.h>

#include <cmath>

#include "attnbench/comparison.h"

namespace attnbench {
namespace {

PointResult point(int seq_len, KernelKind kernel, std::vector<double> samples, PointStatus status = PointStatus::Ok) {
  PointResult r;
  r.point.model = findModel("llama-2-7b");
  r.point.shape = modelShape(r.point.model, 1, seq_len, DType::F16, false);
  r.point.kernel = kernel;
  r.status = status;
  r.samples_ms = std::move(samples);
  r.stats = computeStats(r.samples_ms);
  return r;
}

TEST(Comparison, OverlappingIntervalsAreTheSameAndSeparateOnesDiffer) {
  const PointResult base = point(1024, KernelKind::Flash, {1.00, 1.10, 0.90});
  EXPECT_EQ(compareIntervals(base, point(1024, KernelKind::Flash, {0.95, 1.05, 0.85})), Verdict::Same);
  EXPECT_EQ(compareIntervals(base, point(1024, KernelKind::Flash, {0.50, 0.52, 0.51})), Verdict::Faster);
  EXPECT_EQ(compareIntervals(base, point(1024, KernelKind::Flash, {2.0, 2.1, 1.9})), Verdict::Slower);
  // A 3 % difference with no spread is measurable; with a 10 % spread it is not.
  EXPECT_EQ(compareIntervals(point(1024, KernelKind::Flash, {1.0, 1.0}), point(1024, KernelKind::Flash, {1.03, 1.03})),
            Verdict::Slower);
  EXPECT_EQ(compareIntervals(point(1024, KernelKind::Flash, {0.9, 1.1}), point(1024, KernelKind::Flash, {1.03, 1.03})),
            Verdict::Same);
  EXPECT_EQ(compareIntervals(base, point(1024, KernelKind::Flash, {}, PointStatus::Skipped)), Verdict::Missing);
}

TEST(Comparison, ThreeRunsAgainstTheFirst) {
  RunPoints a, b, c;
  a.points = {point(1024, KernelKind::Standard, {4.0, 4.0}), point(1024, KernelKind::Flash, {2.0, 2.0}),
              point(2048, KernelKind::Flash, {8.0, 8.0})};
  b.points = {point(1024, KernelKind::Flash, {1.0, 1.0}), point(2048, KernelKind::Flash, {4.0, 4.0}),
              point(1024, KernelKind::Standard, {4.0, 4.0})};
  // c: flash at 1024 twice (two tiles; the faster stands), 2048 skipped, a shape the baseline lacks.
  c.points = {point(1024, KernelKind::Flash, {3.0, 3.0}), point(1024, KernelKind::Flash, {2.0, 2.0}),
              point(2048, KernelKind::Flash, {}, PointStatus::Skipped), point(4096, KernelKind::Flash, {9.0, 9.0})};
  const Comparison cmp = compareRuns({a, b, c});
  ASSERT_EQ(cmp.rows.size(), 4u);
  // Ordered by N then kernel within one model/dtype/mask/batch.
  EXPECT_EQ(cmp.rows[0].seq_len, 1024);
  EXPECT_EQ(cmp.rows[0].kernel, "flash");
  EXPECT_EQ(cmp.rows[1].kernel, "standard");
  EXPECT_EQ(cmp.rows[3].seq_len, 4096);
  EXPECT_DOUBLE_EQ(cmp.rows[0].runs[1].ratio, 0.5);
  EXPECT_EQ(cmp.rows[0].runs[1].verdict, Verdict::Faster);
  EXPECT_DOUBLE_EQ(cmp.rows[0].runs[2].ratio, 1.0);
  EXPECT_EQ(cmp.rows[0].runs[2].verdict, Verdict::Same);
  EXPECT_EQ(cmp.rows[2].runs[2].verdict, Verdict::Missing);
  EXPECT_EQ(cmp.rows[3].runs[0].verdict, Verdict::Missing);
  ASSERT_EQ(cmp.summaries.size(), 3u);
  EXPECT_TRUE(cmp.summaries[0].empty());
  EXPECT_NEAR(cmp.summaries[1].at("flash").geomean_ratio, 0.5, 1e-12);
  EXPECT_EQ(cmp.summaries[1].at("flash").points, 2);
  EXPECT_EQ(cmp.summaries[1].at("flash").faster, 2);
  EXPECT_NEAR(cmp.summaries[1].at("standard").geomean_ratio, 1.0, 1e-12);
  EXPECT_EQ(cmp.summaries[2].at("flash").points, 1);
}

}  // namespace
}  // namespace attnbench

namespace attnbench {
namespace {

// Decode steps of one cache length but different new rows (or attention at the same N) are different rows.
TEST(Comparison, DecodeRowsAreKeptApartByTheirNewRowsAndWorkload) {
  const auto decode = [](int q_len, std::vector<double> samples) {
    PointResult r = point(4096, KernelKind::Flash, std::move(samples));
    r.point.workload = Workload::Decode;
    r.point.shape.seq_q = q_len;
    return r;
  };
  RunPoints a, b;
  a.points = {decode(1, {1.0, 1.0}), decode(4, {2.0, 2.0}), point(4096, KernelKind::Flash, {9.0, 9.0})};
  b.points = {decode(4, {1.0, 1.0}), decode(1, {1.0, 1.0}), point(4096, KernelKind::Flash, {9.0, 9.0})};
  const std::vector<RunPoints> runs = {a, b};  // the comparison points into these
  const Comparison cmp = compareRuns(runs);
  ASSERT_EQ(cmp.rows.size(), 3u);
  int decode_rows = 0;
  for (const auto& row : cmp.rows) {
    ASSERT_NE(row.runs[1].point, nullptr);
    EXPECT_EQ(row.runs[0].point->point.shape.seq_q, row.runs[1].point->point.shape.seq_q);
    EXPECT_EQ(row.runs[0].point->point.workload, row.runs[1].point->point.workload);
    if (row.workload == Workload::Decode) {
      ++decode_rows;
      EXPECT_DOUBLE_EQ(row.runs[1].ratio, row.q_len == 4 ? 0.5 : 1.0);
    }
  }
  EXPECT_EQ(decode_rows, 2);
}

}  // namespace
}  // namespace attnbench
