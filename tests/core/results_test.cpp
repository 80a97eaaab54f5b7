#include <gtest/gtest.h>

#include <sstream>

#include "attnbench/exporters.h"
#include "attnbench/results.h"

namespace attnbench {
namespace {

TEST(SampleStats, MedianMeanStdMinMax) {
  const SampleStats s = computeStats({4.0, 1.0, 3.0, 2.0});
  EXPECT_DOUBLE_EQ(s.median_ms, 2.5);
  EXPECT_DOUBLE_EQ(s.mean_ms, 2.5);
  EXPECT_NEAR(s.std_ms, 1.2909944, 1e-6);
  EXPECT_DOUBLE_EQ(s.min_ms, 1.0);
  EXPECT_DOUBLE_EQ(s.max_ms, 4.0);
  EXPECT_DOUBLE_EQ(computeStats({5.0}).std_ms, 0.0);
  EXPECT_DOUBLE_EQ(computeStats({3.0, 9.0, 1.0}).median_ms, 3.0);
}

PointResult makeResult(int index, KernelKind kernel, double median, std::uint64_t peak) {
  PointResult r;
  r.point.index = index;
  r.point.model = findModel("llama-2-7b");
  r.point.seq_len = 1024;
  r.point.dtype = DType::F16;
  r.point.kernel = kernel;
  r.samples_ms = {median, median};
  r.stats = computeStats(r.samples_ms);
  r.peak_bytes = peak;
  r.tflops = r.point.flops() / (median * 1e-3) / 1e12;
  r.correctness = CorrectnessResult{1e-3, 1e-3, 2e-3, 5e-3, 48, 0, true};
  return r;
}

TEST(PointResultJson, RoundTrips) {
  PointResult r = makeResult(3, KernelKind::Flash, 1.25, 1000);
  r.tile = {128, 64};
  r.message = "note, with \"quotes\"";
  const PointResult back = pointResultFromJson(pointResultToJson(r));
  EXPECT_EQ(back.point.index, 3);
  EXPECT_EQ(back.tile.rows, 128);
  EXPECT_EQ(back.message, r.message);
  EXPECT_EQ(back.samples_ms, r.samples_ms);
  ASSERT_TRUE(back.correctness.has_value());
  EXPECT_EQ(back.correctness->checked_rows, 48);
  EXPECT_EQ(pointResultToJson(back), pointResultToJson(r));
}

TEST(Summary, SpeedupAndMemoryRatioPerShape) {
  const std::vector<PointResult> points = {makeResult(0, KernelKind::Flash, 1.0, 100),
                                           makeResult(1, KernelKind::Standard, 3.0, 400)};
  const auto summary = summarize(points);
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_DOUBLE_EQ(summary[0].speedup(), 3.0);
  EXPECT_DOUBLE_EQ(summary[0].memoryRatio(), 4.0);
  std::ostringstream table;
  printSummaryTable(table, points);
  EXPECT_NE(table.str().find("3.00x"), std::string::npos);
}

TEST(Csv, OneRowPerPointWithEscapedMessages) {
  PointResult r = makeResult(0, KernelKind::Standard, 2.0, 10);
  r.status = PointStatus::Skipped;
  r.message = "would need 3 GiB, limit 1 GiB";
  std::ostringstream out;
  writeCsv(out, {r, makeResult(1, KernelKind::Flash, 1.0, 5)});
  const std::string csv = out.str();
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find("\"would need 3 GiB, limit 1 GiB\""), std::string::npos);
  EXPECT_NE(csv.find(",skipped,"), std::string::npos);
}

}  // namespace
}  // namespace attnbench
