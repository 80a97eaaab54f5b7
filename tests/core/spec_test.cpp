#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "attnbench/errors.h"
#include "attnbench/model_presets.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {
namespace {

TEST(ModelPresets, ShipsTheSeedModelsAndGqaModels) {
  const ModelPreset llama = findModel("llama-2-7b");  // a copy: GCC 13 warns on references to returns
  EXPECT_EQ(llama.heads, 32);
  EXPECT_EQ(llama.kv_heads, 32);
  EXPECT_EQ(llama.head_dim, 128);
  EXPECT_EQ(llama.hidden, 4096);
  EXPECT_EQ(llama.ffn, 11008);
  EXPECT_EQ(llama.vocab, 32000);
  EXPECT_EQ(findModel("granite-7b-instruct").vocab, 32008);
  EXPECT_EQ(findModel("llama-3-8b").kv_heads, 8);
  EXPECT_EQ(findModel("mistral-7b").kv_heads, 8);
}

TEST(ModelPresets, FindsAliasesCaseInsensitively) {
  EXPECT_EQ(findModel("LLAMA/7b").name, "llama-2-7b");
  EXPECT_EQ(findModel("granite/7b").name, "granite-7b-instruct");
  EXPECT_THROW(findModel("gpt-9"), InputError);
}

TEST(ModelPresets, RejectsBadCustomShapes) {
  EXPECT_THROW(modelFromJson({{"name", "x"}, {"heads", 32}, {"kv_heads", 5}, {"head_dim", 128}}), InputError);
  EXPECT_THROW(modelFromJson({{"name", "x"}, {"heads", 32}, {"head_dim", 100}}), InputError);
  EXPECT_THROW(modelFromJson({{"name", "x"}, {"heads", -1}, {"head_dim", 64}}), InputError);
  EXPECT_THROW(modelFromJson({{"heads", 8}, {"head_dim", 64}}), InputError);
  const ModelPreset m = modelFromJson({{"name", "tiny"}, {"heads", 8}, {"kv_heads", 2}, {"head_dim", 64}});
  EXPECT_EQ(m.kv_heads, 2);
  EXPECT_EQ(m.hidden, 512);
}

TEST(SweepSpec, ParsesAllAxesAndRoundTrips) {
  const nlohmann::json j = {{"name", "t"},
                            {"models", {"llama-2-7b", {{"name", "c"}, {"heads", 4}, {"kv_heads", 2}, {"head_dim", 64}}}},
                            {"seq_lens", {128, 256}},
                            {"batch_sizes", {1, 2}},
                            {"dtypes", {"fp16", "bf16"}},
                            {"causal", "both"},
                            {"kernels", {"flash", "baseline"}},
                            {"tiles", {"auto", "128x64", 64}},
                            {"repetitions", 5},
                            {"warmup", 2},
                            {"check_correctness", false},
                            {"device", "cpu"},
                            {"max_memory", "2GiB"},
                            {"seed", 7}};
  const SweepSpec s = specFromJson(j);
  EXPECT_EQ(s.models.size(), 2u);
  EXPECT_EQ(s.causal, (std::vector<bool>{false, true}));
  EXPECT_EQ(s.kernels[1], KernelKind::Standard);
  ASSERT_EQ(s.tiles.size(), 3u);
  EXPECT_EQ(s.tiles[2].rows, 64);
  EXPECT_EQ(*s.max_memory_bytes, 2ULL << 30);
  const SweepSpec again = specFromJson(specToJson(s));
  EXPECT_EQ(specToJson(again), specToJson(s));
}

TEST(SweepSpec, RejectsUnknownKeysWrongTypesAndEmptyAxes) {
  EXPECT_THROW(specFromJson({{"modles", {"llama-2-7b"}}}), InputError);
  EXPECT_THROW(specFromJson(nlohmann::json::array()), InputError);
  nlohmann::json base = {{"models", {"llama-2-7b"}}, {"seq_lens", {128}}, {"batch_sizes", {1}},
                         {"dtypes", {"fp32"}},       {"causal", false},   {"kernels", {"flash"}}};
  EXPECT_NO_THROW(specFromJson(base));
  for (const char* key : {"models", "seq_lens", "batch_sizes", "dtypes", "kernels"}) {
    nlohmann::json j = base;
    j[key] = nlohmann::json::array();
    EXPECT_THROW(specFromJson(j), InputError) << key;
  }
  nlohmann::json j = base;
  j["seq_lens"] = {"many"};
  EXPECT_THROW(specFromJson(j), InputError);
  j = base;
  j["seq_lens"] = {0};
  EXPECT_THROW(specFromJson(j), InputError);
  j = base;
  j["seq_lens"] = {1LL << 40};
  EXPECT_THROW(specFromJson(j), InputError);
  j = base;
  j["repetitions"] = 1.5;
  EXPECT_THROW(specFromJson(j), InputError);
  j = base;
  j["dtypes"] = {"fp8"};
  EXPECT_THROW(specFromJson(j), InputError);
  j = base;
  j["device"] = "tpu";
  EXPECT_THROW(specFromJson(j), InputError);
}

TEST(SweepSpec, LoadSpecFileReportsMalformedJson) {
  const std::string path = ::testing::TempDir() + "/bad_spec.json";
  std::ofstream(path) << "{\"models\": [\"llama-2-7b\",";
  EXPECT_THROW(loadSpecFile(path), InputError);
  EXPECT_THROW(loadSpecFile(path + ".missing"), InputError);
}

// Issue 7.6: ~70,000 nested arrays used to overflow the stack while the value was walked or printed.
TEST(SweepSpec, SpecFilesAreBoundedInDepthAndSize) {
  const std::string dir = ::testing::TempDir();
  const std::string deep = std::string(70000, '[') + "1" + std::string(70000, ']');
  const std::vector<std::string> documents = {
      R"({"models": ["llama-2-7b"], "seq_lens": )" + deep + "}",
      R"({"name": )" + deep + R"(, "models": ["llama-2-7b"]})",
      R"({"models": [{"name": "x", "heads": 8, "head_dim": 64, "aliases": )" + deep + "}]}"};
  for (std::size_t i = 0; i < documents.size(); ++i) {
    const std::string path = dir + "/deep_spec" + std::to_string(i) + ".json";
    std::ofstream(path) << documents[i];
    try {
      loadSpecFile(path);
      ADD_FAILURE() << "a " << SpecLimits::kMaxJsonDepth << "+ level spec was accepted: " << i;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("nests deeper than"), std::string::npos) << e.what();
    }
  }
  const std::string big = dir + "/big_spec.json";
  std::ofstream(big) << R"({"name": ")" << std::string(SpecLimits::kMaxSpecFileBytes, 'x') << R"("})";
  EXPECT_THROW(loadSpecFile(big), InputError);
  // Within the bounds, models with aliases (the deepest legitimate spec) still load.
  const std::string ok = dir + "/ok_spec.json";
  std::ofstream(ok) << R"({"models": [{"name": "x", "heads": 8, "head_dim": 64, "aliases": ["y"]}], "seq_lens": [16],
                          "batch_sizes": [1], "dtypes": ["fp32"], "causal": false, "kernels": ["flash"]})";
  EXPECT_EQ(loadSpecFile(ok).models.at(0).aliases, std::vector<std::string>{"y"});
}

// Issue 7.12: a directory or a non-string display_name used to escape as a generic error (exit 1).
TEST(SweepSpec, DirectoriesAndWrongTypesAreInputErrors) {
  EXPECT_THROW(loadSpecFile(::testing::TempDir()), InputError);
  const nlohmann::json model = {{"name", "x"}, {"display_name", 42}, {"heads", 8}, {"head_dim", 64}};
  EXPECT_THROW(modelFromJson(model), InputError);
}

// Issue 7.10 and 7.11: one set of bounds (SpecLimits) for every source of a spec, and no repeats.
TEST(SweepSpec, ValidateSpecHoldsEveryValueToSpecLimits) {
  SweepSpec base = specFromJson({{"models", {"llama-2-7b"}}, {"seq_lens", {128}}, {"batch_sizes", {1}},
                                 {"dtypes", {"fp32"}}, {"causal", false}, {"kernels", {"flash"}}});
  EXPECT_NO_THROW(validateSpec(base));
  const std::vector<std::pair<const char*, std::function<void(SweepSpec&)>>> bad = {
      {"threads", [](SweepSpec& s) { s.threads = SpecLimits::kMaxThreads + 1; }},
      {"negative threads", [](SweepSpec& s) { s.threads = -1; }},
      {"repetitions", [](SweepSpec& s) { s.repetitions = SpecLimits::kMaxRepetitions + 1; }},
      {"warmup", [](SweepSpec& s) { s.warmup = SpecLimits::kMaxWarmup + 1; }},
      {"tiny budget", [](SweepSpec& s) { s.max_memory_bytes = SpecLimits::kMinMemoryBytes - 1; }},
      {"repeated seq_len", [](SweepSpec& s) { s.seq_lens = {64, 64}; }},
      {"repeated model", [](SweepSpec& s) { s.models.push_back(s.models.front()); }},
      {"repeated dtype", [](SweepSpec& s) { s.dtypes = {DType::F32, DType::F32}; }},
      {"invalid UTF-8 name", [](SweepSpec& s) { s.name = "run\xff"; }},
      {"NUL in the name", [](SweepSpec& s) { s.name = std::string("a\0b", 3); }}};
  for (const auto& [what, mutate] : bad) {
    SweepSpec s = base;
    mutate(s);
    EXPECT_THROW(validateSpec(s), InputError) << what;
  }
  // The spec file path holds the same bounds.
  nlohmann::json j = specToJson(base);
  j["threads"] = SpecLimits::kMaxThreads + 1;
  EXPECT_THROW(specFromJson(j), InputError);
  j = specToJson(base);
  j["seed"] = -1;  // used to wrap around to 2^64 - 1
  EXPECT_THROW(specFromJson(j), InputError);
  j["seed"] = 18446744073709551615ULL;
  EXPECT_EQ(specFromJson(j).seed, 18446744073709551615ULL);
  j = specToJson(base);
  j["max_memory"] = 1e300;  // used to be cast to an integer (undefined)
  EXPECT_THROW(specFromJson(j), InputError);
  EXPECT_EQ(parseSeed("18446744073709551615"), 18446744073709551615ULL);
  EXPECT_THROW(parseSeed("18446744073709551616"), InputError);
  EXPECT_THROW(parseSeed("-1"), InputError);
  EXPECT_THROW(parseSeed("12x"), InputError);
}

// Issue 7.7: heads x head_dim of a huge custom shape overflowed an int (undefined behaviour).
TEST(ModelPresets, HiddenSizeOfHugeShapesIsUnknownNotWrapped) {
  EXPECT_EQ(hiddenSize(32, 128), 4096);
  EXPECT_EQ(hiddenSize(268435456, 128), 0);
  const ModelPreset m = modelFromJson({{"name", "huge"}, {"heads", 268435456}, {"head_dim", 128}});
  EXPECT_EQ(m.hidden, 0);
  EXPECT_EQ(modelFromJson(modelToJson(m)).heads, 268435456);  // it round-trips for --resume
}

TEST(SweepSpec, PresetsParse) {
  ASSERT_FALSE(sweepPresetNames().empty());
  for (const auto& name : sweepPresetNames()) EXPECT_NO_THROW(sweepPreset(name)) << name;
  const SweepSpec seed = sweepPreset("seed-matrix");
  EXPECT_EQ(seed.seq_lens.front(), 128);
  EXPECT_EQ(seed.seq_lens.back(), 65536);
  EXPECT_EQ(seed.batch_sizes, (std::vector<int>{1, 2}));
  EXPECT_EQ(seed.models.size(), 2u);
}

TEST(SweepSpec, ExpandsInCurveOrderAndAppliesTilesToFlashOnly) {
  SweepSpec s = sweepPreset("cpu-quick");
  s.seq_lens = {128, 256};
  s.causal = {false};
  s.tiles = {TileShape{}, TileShape{64, 64}};
  const auto points = expandPoints(s);
  // per N: standard, flash auto, flash 64x64
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].kernel, KernelKind::Standard);
  EXPECT_EQ(points[1].kernel, KernelKind::Flash);
  EXPECT_TRUE(points[1].tile.isAuto());
  EXPECT_EQ(points[2].tile.rows, 64);
  EXPECT_EQ(points[3].seqLen(), 256);
  for (std::size_t i = 0; i < points.size(); ++i) EXPECT_EQ(points[i].index, static_cast<int>(i));
}

TEST(SweepSpec, InferencePresetsKeepTheSeedsBatchRuleAndOptionsRoundTrip) {
  // The seed's matrix: 128 ... 64K, batch 2 up to 2K and batch 1 over the whole range, two models,
  // flash and standard: 2 x (5 + 10) x 2 points, each carrying the inference options.
  const SweepSpec seed = sweepPreset("seed-inference");
  EXPECT_EQ(seed.workload, Workload::Inference);
  const auto points = expandPoints(seed);
  ASSERT_EQ(points.size(), 60u);
  for (const auto& p : points) {
    EXPECT_TRUE(p.isInference());
    EXPECT_TRUE(p.shape.batch == 1 || p.seqLen() <= 2048) << p.label();
    EXPECT_EQ(p.shape.seq_q, p.seqLen());
    EXPECT_EQ(p.inference.compile_mode, CompileMode::GraphReplay);
    EXPECT_EQ(p.inference.new_tokens, 64);
  }
  EXPECT_EQ(points.back().label(), "granite-7b-instruct B=1 N=65536 fp16 causal flash inference reduce-overhead");
  // The table's rule: batch 1 up to 8K, batch 2 up to 2K.
  EXPECT_EQ(expandPoints(sweepPreset("seed-inference-table")).size(), 2u * (5 + 7) * 2);

  SweepSpec s = seed;
  s.inference.depth = 512;
  s.inference.new_tokens = 16;
  s.inference.prompt = "hello";
  s.inference.tokenizer = std::string(ATTNBENCH_SOURCE_DIR) + "/README.md";  // a file that exists (never read here)
  const SweepSpec again = specFromJson(specToJson(s));
  EXPECT_EQ(again.inference, s.inference);
  EXPECT_EQ(again.max_seq_len_by_batch, s.max_seq_len_by_batch);
  EXPECT_EQ(specToJson(again), specToJson(s));

  // Options of one workload are refused on another; a decoder is causal; the ranges hold.
  SweepSpec attention = sweepPreset("cpu-quick");
  attention.inference.new_tokens = 8;
  EXPECT_THROW(validateSpec(attention), InputError);
  SweepSpec bidirectional = seed;
  bidirectional.causal = {false};
  EXPECT_THROW(validateSpec(bidirectional), InputError);
  SweepSpec untokenized = seed;
  untokenized.inference.prompt = "hello";
  EXPECT_THROW(validateSpec(untokenized), InputError);
  SweepSpec no_steps = seed;
  no_steps.inference.new_tokens = 0;
  EXPECT_THROW(validateSpec(no_steps), InputError);
  EXPECT_THROW(specFromJson({{"models", {"llama-2-7b"}}, {"workload", "inference"}, {"causal", true},
                             {"max_seq_len_by_batch", {{"two", 2048}}}}),
               InputError);
  EXPECT_THROW(specFromJson({{"models", {"llama-2-7b"}}, {"workload", "inference"}, {"causal", true},
                             {"compile_mode", "max-autotune"}}),
               InputError);
}

TEST(SweepPoint, FlopsFollowTheFlashAttentionConvention) {
  SweepSpec spec = sweepPreset("cpu-quick");
  spec.models = {findModel("llama-2-7b")};
  spec.batch_sizes = {2};
  spec.seq_lens = {1024};
  spec.causal = {false};
  spec.kernels = {KernelKind::Flash};
  SweepPoint p = expandPoints(spec).at(0);
  EXPECT_EQ(p.shape, (kernels::AttentionShape{2, 32, 32, 1024, 1024, 128, false, DType::F32}));
  EXPECT_DOUBLE_EQ(p.flops(), 4.0 * 2 * 32 * 1024.0 * 1024 * 128);
  p.shape.causal = true;
  EXPECT_DOUBLE_EQ(p.flops(), 2.0 * 2 * 32 * 1024.0 * 1024 * 128);
  // Bottom-right causal with one query row (decode): Nq*Nk - Nq^2/2, about every key.
  p.shape.seq_q = 1;
  EXPECT_DOUBLE_EQ(p.flops(), 4.0 * 2 * 32 * 128 * (1024.0 - 0.5));
}

TEST(Parsing, ByteSizesTilesDtypesKernels) {
  EXPECT_EQ(parseByteSize("8GiB"), 8ULL << 30);
  EXPECT_EQ(parseByteSize("512MiB"), 512ULL << 20);
  EXPECT_EQ(parseByteSize("1e9"), 1000000000ULL);
  EXPECT_EQ(parseByteSize("2GB"), 2000000000ULL);
  EXPECT_THROW(parseByteSize("lots"), InputError);
  EXPECT_THROW(parseByteSize("-5GiB"), InputError);
  EXPECT_THROW(parseByteSize("5 parsecs"), InputError);
  EXPECT_TRUE(parseTile("auto").isAuto());
  EXPECT_EQ(parseTile("128x64").rows, 128);
  EXPECT_EQ(parseTile("128x64").cols, 64);
  EXPECT_EQ(parseTile("64").cols, 64);
  EXPECT_THROW(parseTile("7x7"), InputError);
  EXPECT_THROW(parseTile("big"), InputError);
  EXPECT_EQ(parseDType("bfloat16"), DType::BF16);
  EXPECT_EQ(parseKernel("math"), KernelKind::Standard);
  EXPECT_THROW(parseKernel("xformers"), InputError);
  EXPECT_EQ(formatBytes(3ULL << 29), "1.50 GiB");
}

}  // namespace
}  // namespace attnbench

namespace attnbench {
namespace {

TEST(SweepSpec, DecodeWorkloadParsesRoundTripsAndExpandsOverNewRows) {
  const SweepSpec s = specFromJson(nlohmann::json::parse(R"({
      "workload": "decode", "models": ["llama-3-8b"], "seq_lens": [1024, 4096], "batch_sizes": [2],
      "q_lens": [1, 4], "dtypes": ["fp16"], "causal": [true], "kernels": ["flash", "standard"],
      "page_size": 64, "kv_lens_spread": 0.25, "splits": 8})"));
  EXPECT_EQ(s.workload, Workload::Decode);
  EXPECT_EQ(s.q_lens, (std::vector<int>{1, 4}));
  EXPECT_EQ(s.decode, (DecodeCacheOptions{64, 0.25, 8}));
  const SweepSpec again = specFromJson(specToJson(s));
  EXPECT_EQ(again.workload, Workload::Decode);
  EXPECT_EQ(again.q_lens, s.q_lens);
  EXPECT_EQ(again.decode, s.decode);

  // Per N: q = 1 (standard, flash), q = 4 (standard, flash); no tile axis for decode.
  const auto points = expandPoints(s);
  ASSERT_EQ(points.size(), 8u);
  EXPECT_EQ(points[0].kernel, KernelKind::Standard);
  EXPECT_EQ(points[1].kernel, KernelKind::Flash);
  EXPECT_EQ(points[1].shape.seq_q, 1);
  EXPECT_EQ(points[2].shape.seq_q, 4);
  EXPECT_EQ(points[4].shape.seq_kv, 4096);
  for (const auto& p : points) {
    EXPECT_TRUE(p.isDecode());
    EXPECT_EQ(p.decode, s.decode);
    EXPECT_EQ(p.shape.heads_kv, 8);
  }
  EXPECT_EQ(points[3].label(), "llama-3-8b B=2 N=1024 q=4 fp16 causal flash decode paged64 ragged0.25 splits=8");
}

// Runs `parse`, expecting an InputError whose message names `fragment`.
template <typename F>
void expectInputError(F parse, const std::string& fragment) {
  try {
    parse();
    ADD_FAILURE() << "no InputError; expected one naming " << fragment;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(SweepSpec, DecodeOptionsAreBoundedAndBelongToDecode) {
  const auto parse = [](const std::string& extra) {
    return specFromJson(nlohmann::json::parse(
        R"({"models": ["llama-2-7b"], "seq_lens": [256], "batch_sizes": [1], "dtypes": ["fp32"], "causal": [false],
            "kernels": ["flash"])" + extra + "}"));
  };
  EXPECT_NO_THROW(parse(R"(, "workload": "decode", "q_lens": 16, "page_size": 256)"));
  expectInputError([&] { parse(R"(, "workload": "decode", "q_lens": 17)"); }, "q_lens");
  expectInputError([&] { parse(R"(, "workload": "decode", "q_lens": [2, 2])"); }, "repeats");
  expectInputError([&] { parse(R"(, "workload": "decode", "page_size": 8)"); }, "page size");
  expectInputError([&] { parse(R"(, "workload": "decode", "kv_lens_spread": 0.95)"); }, "kv_lens_spread");
  expectInputError([&] { parse(R"(, "workload": "decode", "splits": 129)"); }, "splits");
  expectInputError([&] { parse(R"(, "workload": "generate")"); }, "unknown workload");
  // Decode options on an attention sweep would be silently ignored: refused instead.
  expectInputError([&] { parse(R"(, "q_lens": [4])"); }, "decode workload only");
  expectInputError([&] { parse(R"(, "page_size": 16)"); }, "decode and inference workloads only");
  // An inference sweep takes the page size (its engine's KV cache), not the decode kernel's other options.
  const auto parseInference = [](const std::string& extra) {
    return specFromJson(nlohmann::json::parse(
        R"({"models": ["llama-2-7b"], "seq_lens": [256], "batch_sizes": [1], "dtypes": ["fp16"], "causal": [true],
            "kernels": ["flash"], "workload": "inference")" + extra + "}"));
  };
  const SweepSpec inference = parseInference(R"(, "page_size": 32)");
  EXPECT_EQ(inference.decode.page_size, 32);
  EXPECT_EQ(specFromJson(specToJson(inference)).decode.page_size, 32);
  EXPECT_EQ(expandPoints(inference).front().decode.page_size, 32);
  EXPECT_NE(expandPoints(inference).front().label().find("paged32"), std::string::npos);
  expectInputError([&] { parseInference(R"(, "page_size": 300)"); }, "page_size");
  expectInputError([&] { parseInference(R"(, "splits": 4)"); }, "decode workload only");
}

}  // namespace
}  // namespace attnbench
