// The one list of result fields: every field round-trips through each encoding derived from it.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "attnbench/errors.h"
#include "attnbench/result_fields.h"

namespace attnbench {
namespace {

// A result whose every field holds a distinctive, non-default value.
PointResult distinctiveResult() {
  PointResult r;
  r.point.index = 17;
  r.point.model = findModel("llama-3-8b");
  r.point.shape = modelShape(r.point.model, 3, 12345, DType::BF16, true);
  r.point.kernel = KernelKind::Flash;
  r.point.tile = {128, 64};
  r.tile = {64, 64};
  r.status = PointStatus::Failed;
  r.message = "max error 0.5 > tolerance, \"quoted\"\nsecond line";
  r.samples_ms = {1.5, 1.25, 1.75};
  r.stats = computeStats(r.samples_ms);
  r.point.tensor_parallel = 2;
  r.rank_ms = {1.25, 1.5};
  r.tflops = 123.456789012345;
  r.gbps = 3210.5;
  r.gemm_fraction = 0.456;
  r.bandwidth_fraction = 0.789;
  r.predicted_bytes = 5'000'000'123ULL;
  r.peak_bytes = 5'000'000'456ULL;
  r.correctness = CorrectnessResult{0.5, 0.25, 1e-3, 2.5e-3, 96, 7, false};
  r.started_at = "2026-11-29T03:00:00.123Z";
  r.finished_at = "2026-11-29T03:00:01.456Z";
  return r;
}

TEST(ResultFields, NamesAreUniqueAndDescribed) {
  std::set<std::string_view> names;
  for (const auto& f : resultFields()) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_FALSE(f.description.empty()) << f.name;
    EXPECT_EQ(findResultField(f.name), &f);
  }
  EXPECT_EQ(findResultField("no_such_field"), nullptr);
}

TEST(ResultFields, EveryFieldRoundTripsThroughJsonAndText) {
  const PointResult original = distinctiveResult();
  PointResult via_json, via_text;
  via_json.point.model.name = via_text.point.model.name = "other";
  for (const auto& f : resultFields()) {
    if (f.derived()) continue;
    const FieldValue value = f.get(original);
    f.set(via_json, fieldFromJson(f.type, nlohmann::json::parse(fieldToJson(value).dump()), f.name));
    f.set(via_text, parseFieldText(f.type, fieldText(value)));
  }
  via_json.samples_ms = via_text.samples_ms = original.samples_ms;
  for (const auto& f : resultFields()) {
    EXPECT_EQ(f.get(via_json), f.get(original)) << "json: " << f.name;
    EXPECT_EQ(f.get(via_text), f.get(original)) << "text: " << f.name;
  }
}

TEST(ResultFields, UncheckedPointsHaveNoCorrectnessValues) {
  PointResult r = distinctiveResult();
  r.correctness.reset();
  EXPECT_TRUE(std::holds_alternative<std::monostate>(findResultField("passed")->get(r)));
  EXPECT_TRUE(fieldToJson(findResultField("max_abs_error")->get(r)).is_null());
  PointResult copy;
  findResultField("passed")->set(copy, FieldValue{});
  EXPECT_FALSE(copy.correctness.has_value());
}

TEST(Roofline, CompulsoryBytesAndRates) {
  PointResult r;
  r.point.model = findModel("llama-3-8b");  // 32 query heads, 8 KV heads, D = 128
  r.point.shape = modelShape(r.point.model, 2, 1024, DType::F16, false);
  r.point.kernel = KernelKind::Flash;
  const double q_or_o = 2.0 * 2 * 32 * 1024 * 128, k_or_v = 2.0 * 2 * 8 * 1024 * 128;
  EXPECT_DOUBLE_EQ(compulsoryBytes(r.point), 2 * q_or_o + 2 * k_or_v);
  SweepPoint standard = r.point;
  standard.kernel = KernelKind::Standard;
  EXPECT_DOUBLE_EQ(compulsoryBytes(standard), 2 * q_or_o + 2 * k_or_v + 4 * 2.0 * 2 * 32 * 1024.0 * 1024);

  r.samples_ms = {0.5};
  r.stats = computeStats(r.samples_ms);
  computeRates(r, DeviceCeilings{1000.0, 100.0, "fp16"});
  EXPECT_NEAR(r.tflops, r.point.flops() / 0.5e-3 / 1e12, 1e-9);
  EXPECT_NEAR(r.gbps, compulsoryBytes(r.point) / 0.5e-3 / 1e9, 1e-9);
  EXPECT_NEAR(r.gemm_fraction, r.tflops / 100.0, 1e-12);
  EXPECT_NEAR(r.bandwidth_fraction, r.gbps / 1000.0, 1e-12);
  computeRates(r, std::nullopt);
  EXPECT_EQ(r.gemm_fraction, 0.0);
  EXPECT_GT(r.tflops, 0.0);
}

TEST(ResultFields, DocsListEveryField) {
  std::ifstream in(std::string(ATTNBENCH_SOURCE_DIR) + "/docs/EVENTS.md");
  std::stringstream docs;
  docs << in.rdbuf();
  EXPECT_NE(docs.str().find(resultFieldsMarkdown()), std::string::npos)
      << "docs/EVENTS.md is out of date; its result-field table should read:\n" << resultFieldsMarkdown();
}

TEST(ResultFields, WrongJsonTypeNamesTheField) {
  try {
    fieldFromJson(FieldType::Integer, nlohmann::json("twelve"), "batch");
    FAIL() << "accepted a string for an integer";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'batch' must be integer"), std::string::npos);
  }
}

// A kernel may run a tile clamped below what one can ask for (the CPU flash tile at N = 1 is 1x1):
// reading it back must not fail, or the run could never be shown again.
TEST(ResultFields, TheTileThatRanReadsBackWhateverItsSize) {
  const ResultField& tile = *findResultField("tile");
  PointResult r;
  r.point.kernel = KernelKind::Flash;
  for (const TileShape t : {TileShape{1, 1}, TileShape{3, 40}, TileShape{128, 64}}) {
    r.tile = t;
    PointResult back;
    back.point.kernel = KernelKind::Flash;
    tile.set(back, tile.get(r));
    EXPECT_EQ(back.tile.rows, t.rows);
    EXPECT_EQ(back.tile.cols, t.cols);
  }
  PointResult back;
  tile.set(back, FieldValue{std::string("-")});
  EXPECT_TRUE(back.tile.isAuto());
  tile.set(back, FieldValue{std::string("garbage")});
  EXPECT_TRUE(back.tile.isAuto());
}

}  // namespace
}  // namespace attnbench
