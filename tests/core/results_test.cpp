#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "attnbench/exporters.h"
#include "attnbench/results.h"
#include "attnbench/text_checks.h"

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
  r.point.shape = modelShape(r.point.model, 1, 1024, DType::F16, false);
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

// Issue 7.14: a lone CR broke rows; formula-like text ran as a formula in a spreadsheet.
TEST(Csv, QuotesPerRfc4180AndNeutralisesFormulas) {
  PointResult a = makeResult(0, KernelKind::Standard, 2.0, 10);
  a.point.model.name = "=HYPERLINK(\"http://x\",\"y\")";
  a.message = "line\rbreak";
  PointResult b = makeResult(1, KernelKind::Flash, 1.0, 5);
  b.point.model.name = "@SUM(A1)";
  b.message = "-1+2";
  std::ostringstream out;
  writeCsv(out, {a, b});
  const std::string csv = out.str();
  EXPECT_NE(csv.find(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",\"line\rbreak\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",'@SUM(A1),"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",'-1+2,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",standard,auto,-,"), std::string::npos) << csv;
  // Every row has the header's field count once quoted fields are taken as one.
  std::size_t rows = 0, fields = 1, header_fields = 0;
  bool quoted = false;
  for (char c : csv) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) ++fields;
    else if (c == '\n' && !quoted) {
      if (rows++ == 0) header_fields = fields;
      EXPECT_EQ(fields, header_fields) << "row " << rows;
      fields = 1;
    }
  }
  EXPECT_EQ(rows, 3u);
}

TEST(TextChecks, ValidatesUtf8AndEscapesControlCharacters) {
  EXPECT_TRUE(isValidUtf8("Llama \xE2\x80\x94 7B \xF0\x9F\x9A\x80"));
  for (const char* bad : {"\xff", "\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x80"}) {
    EXPECT_FALSE(isValidUtf8(bad)) << printableText(bad);
  }
  EXPECT_EQ(printableText("a\nb\tc\x1B[31m\x7F"), "a\\nb\\tc\\x1B[31m\\x7F");
  EXPECT_EQ(printableText(std::string("a\0b", 3)), "a\\x00b");  // the NUL shown, the rest kept
  EXPECT_EQ(printableText("\xC2\x9B" "2J \xC3\xA9"), "\\xC2\\x9B2J \xC3\xA9");  // C1 CSI escaped, é kept
  EXPECT_EQ(printableText("\xff"), "\\xFF");
}

// Issue 7.3: a write to a full device exited 0 with an empty file.
TEST(WriteOutputFile, ReportsTheOsErrorAndReplacesFilesAtomically) {
  try {
    writeOutputFile("/dev/full", [](std::ostream& o) { o << "data\n"; });
    ADD_FAILURE() << "a write to /dev/full succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  const std::string dir = ::testing::TempDir() + "/attnbench_write_output";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/out.csv";
  std::ofstream(path) << "old";
  writeOutputFile(path, [](std::ostream& o) { o << "new\n"; });
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "new\n");
  EXPECT_THROW(writeOutputFile(dir + "/missing/out.csv", [](std::ostream& o) { o << "x"; }), std::runtime_error);
  // No temporary file is left behind, whatever happened.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}), 1);
}

}  // namespace
}  // namespace attnbench
