// End-to-end tests of the attnbench executable: exit codes, bad input, signals, concurrent writers,
// resume and exports. Each test works in its own temp directory.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "exe_support.h"
#include "test_support.h"

namespace attnbench {
namespace {

namespace fs = std::filesystem;

// A tiny custom shape keeps every sweep here fast on two cores.
// A headless CPU run of fp32 attention with `heads` heads of `head_dim`, then `options`.
std::vector<std::string> cpuFp32Batch(const std::string& heads, const std::string& head_dim,
                                      const std::vector<std::string>& options) {
  std::vector<std::string> args = {"--batch", "--no-progress", "--device", "cpu",   "--heads",
                                   heads,     "--head-dim",    head_dim, "--dtype", "fp32"};
  args.insert(args.end(), options.begin(), options.end());
  return args;
}

const std::vector<std::string> kTinySweep = cpuFp32Batch("4", "64", {"--causal", "false"});

using testing::slurp;
using Result = testing::ExeResult;
using testing::concat;

// A setup step for the child: the environment variables named in `names` removed.
std::function<void()> unsetting(const std::vector<std::string>& names) {
  return [names] {
    for (const auto& name : names) unsetenv(name.c_str());
  };
}

pid_t spawn(const std::vector<std::string>& args, const std::string& dir, const std::string& tag,
            const std::vector<std::string>& unset = {}) {
  return testing::spawnExe(args, dir, tag, unsetting(unset));
}

int waitExit(pid_t pid) { return testing::waitExe(pid); }

Result runCli(const std::vector<std::string>& args, const std::string& dir, const std::vector<std::string>& unset = {}) {
  return testing::runExe(args, dir, unsetting(unset));
}

std::string queryOne(const std::string& db_path, const std::string& sql) { return testing::queryCell(db_path, sql); }

int pointCount(const std::string& db) {
  const std::string v = queryOne(db, "SELECT count(*) FROM points");
  return v.empty() ? 0 : std::stoi(v);
}

struct BadInput {
  std::string name;
  std::vector<std::string> args;
  std::string expected;  // a fragment of the one-line message
};

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, OneLineMessageExitCodeTwoAndNothingWritten) {
  const BadInput& c = GetParam();
  const std::string dir = testing::freshDir("bad_" + c.name);
  std::ofstream(dir + "/malformed.json") << "{\"models\": [\"llama-2-7b\",";
  std::ofstream(dir + "/wrongtype.json") << R"({"models": ["llama-2-7b"], "seq_lens": "long"})";
  std::ofstream(dir + "/unknownkey.json") << R"({"models": ["llama-2-7b"], "seqlens": [128]})";
  std::ofstream(dir + "/emptyaxis.json") << R"({"models": ["llama-2-7b"], "seq_lens": [], "batch_sizes": [1]})";
  std::ofstream(dir + "/notes.txt") << "not a database" << std::string(2000, '.');
  std::ofstream(dir + "/deep.json") << "{\"models\": [\"llama-2-7b\"], \"seq_lens\": " << std::string(70000, '[')
                                    << std::string(70000, ']') << "}";
  std::ofstream(dir + "/numeric_display_name.json")
      << R"({"models": [{"name": "x", "display_name": 7, "heads": 8, "head_dim": 64}], "seq_lens": [16]})";
  std::ofstream(dir + "/nul_name.json") << R"({"name": "a\u0000b", "models": ["llama-2-7b"]})";
  {
    // A database from a newer attnbench.
    sqlite3* db = nullptr;
    sqlite3_open((dir + "/newer.db").c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE runs(id INTEGER); PRAGMA user_version = 42;", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  std::vector<std::string> args;
  for (const auto& a : c.args) {
    std::string arg = a;
    const auto at = arg.find("@DIR@");
    if (at != std::string::npos) arg.replace(at, 5, dir);
    args.push_back(arg);
  }
  const bool names_db = std::find(c.args.begin(), c.args.end(), "--db") != c.args.end();
  if (!names_db) args = concat(args, {"--db", dir + "/fresh.db"});
  const auto before = std::distance(fs::directory_iterator(dir), fs::directory_iterator{});
  const Result r = runCli(args, dir);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(c.expected), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/fresh.db"));
  EXPECT_FALSE(fs::exists(dir + "/attnbench"));  // the default DB location stays empty too
  // Only the captured stdout/stderr files were added.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), before + 2);
  EXPECT_EQ(slurp(dir + "/notes.txt").substr(0, 14), "not a database");
}

const std::vector<std::string> kBatch = {"--batch", "--device", "cpu"};

INSTANTIATE_TEST_SUITE_P(
    Cli, CliBadInput,
    ::testing::Values(
        BadInput{"unknown_model", concat(kBatch, {"--model", "gpt-9"}), "unknown model 'gpt-9'"},
        BadInput{"unknown_workload", concat(kBatch, {"--workload", "train"}), "unknown workload 'train'"},
        BadInput{"q_lens_on_attention", concat(kBatch, {"--q-lens", "4"}), "decode workload only"},
        BadInput{"q_len_too_long", concat(kBatch, {"--workload", "decode", "--q-lens", "1,17"}), "q_len 17"},
        BadInput{"page_too_small", concat(kBatch, {"--workload", "decode", "--page-size", "8"}), "page size 8"},
        BadInput{"spread_too_wide", concat(kBatch, {"--workload", "decode", "--kv-lens-spread", "2"}), "kv_lens_spread"},
        BadInput{"unknown_architecture", concat(kBatch, {"--architecture", "falcon", "--variant", "7b"}), "unknown model"},
        BadInput{"zero_seq", concat(kBatch, {"--seq-lens", "0"}), "must be positive"},
        BadInput{"negative_seq", concat(kBatch, {"--seq-lens", "128,-5"}), "must be positive"},
        BadInput{"non_numeric_seq", concat(kBatch, {"--seq_lens", "abc"}), "not an integer"},
        BadInput{"huge_seq", concat(kBatch, {"--seq-lens", "99999999999"}), "too large"},
        BadInput{"out_of_range_seq", concat(kBatch, {"--seq-lens", "8388608"}), "out of range"},
        BadInput{"empty_seq", concat(kBatch, {"--seq-lens", ","}), "empty"},
        BadInput{"empty_range", concat(kBatch, {"--seq-lens", "512..128"}), "empty range"},
        BadInput{"zero_batch", concat(kBatch, {"--batch_sizes", "0"}), "must be positive"},
        BadInput{"unknown_dtype", concat(kBatch, {"--dtype", "fp8"}), "unknown dtype 'fp8'"},
        BadInput{"unknown_kernel", concat(kBatch, {"--kernels", "xformers"}), "unknown kernel"},
        BadInput{"head_dim_unsupported", concat(kBatch, {"--heads", "8", "--head-dim", "100"}), "head dim 100 is not supported"},
        BadInput{"kv_heads_not_dividing", concat(kBatch, {"--heads", "32", "--kv-heads", "5", "--head-dim", "128"}), "must divide"},
        BadInput{"missing_spec", concat(kBatch, {"--spec", "@DIR@/none.json"}), "cannot read spec file"},
        BadInput{"malformed_spec", concat(kBatch, {"--spec", "@DIR@/malformed.json"}), "not valid JSON"},
        BadInput{"wrong_type_spec", concat(kBatch, {"--spec", "@DIR@/wrongtype.json"}), "must be an integer"},
        BadInput{"unknown_key_spec", concat(kBatch, {"--spec", "@DIR@/unknownkey.json"}), "unknown key \"seqlens\""},
        BadInput{"empty_axis_spec", concat(kBatch, {"--spec", "@DIR@/emptyaxis.json"}), "is empty"},
        BadInput{"bad_tile", concat(kBatch, {"--tiles", "7x7"}), "bad tile"},
        BadInput{"unknown_device", {"--batch", "--device", "tpu"}, "unknown device"},
        BadInput{"absent_gpu", {"--batch", "--device", "cuda:7"}, "not available"},
        BadInput{"bad_max_memory", concat(kBatch, {"--max-memory", "lots"}), "bad byte size"},
        BadInput{"negative_repetitions", concat(kBatch, {"--repetitions", "-1"}), "out of range [0, 100000]"},
        BadInput{"unknown_timing", concat(kBatch, {"--timing", "fast"}), "unknown timing method 'fast'"},
        BadInput{"noise_over_100", concat(kBatch, {"--max-noise", "200"}), "max_noise 200 is out of range"},
        BadInput{"zero_min_samples", concat(kBatch, {"--min-samples", "0"}), "min_samples 0 is out of range"},
        BadInput{"negative_timeout", concat(kBatch, {"--timeout", "-2"}), "timeout -2 is out of range"},
        BadInput{"bad_causal", concat(kBatch, {"--causal", "maybe"}), "not a boolean"},
        BadInput{"bad_use_flash", concat(kBatch, {"--use_flash", "perhaps"}), "not a boolean"},
        BadInput{"bad_events", concat(kBatch, {"--events", "xml"}), "only 'jsonl'"},
        BadInput{"unknown_flag", concat(kBatch, {"--frobnicate"}), "frobnicate"},
        BadInput{"unwritable_db", concat(kBatch, {"--seq-lens", "16", "--db", "/nonexistent-dir/sub/r.db"}), "cannot open database"},
        BadInput{"db_not_sqlite", concat(kBatch, {"--seq-lens", "16", "--db", "@DIR@/notes.txt"}), "not an attnbench database"},
        BadInput{"db_newer_schema", concat(kBatch, {"--seq-lens", "16", "--db", "@DIR@/newer.db"}), "newer than this attnbench"},
        BadInput{"show_newer_db", {"show", "999", "--db", "@DIR@/newer.db"}, "newer"},
        BadInput{"show_missing_db", {"show", "1", "--db", "@DIR@/none.db"}, "no database at"},
        BadInput{"show_not_a_db", {"show", "abc", "--db", "@DIR@/notes.txt"}, "not an attnbench database"},
        BadInput{"resume_missing_db", {"--batch", "--resume", "42", "--db", "@DIR@/none.db"}, "no database at"},
        // Issue 7.6, 7.12: deep nesting, a directory, a numeric display_name.
        BadInput{"deep_spec", concat(kBatch, {"--spec", "@DIR@/deep.json"}), "nests deeper than"},
        BadInput{"spec_is_a_directory", concat(kBatch, {"--spec", "@DIR@"}), "is a directory"},
        BadInput{"numeric_display_name", concat(kBatch, {"--spec", "@DIR@/numeric_display_name.json"}),
                 "\"display_name\" must be a string"},
        // Issue 7.8: unknown words, sweep options without --batch, sweep options on a verb.
        BadInput{"mistyped_verb", {"rnus"}, "unknown command 'rnus' (did you mean 'runs'?)"},
        BadInput{"unknown_word_after_options", {"--db", "@DIR@/fresh.db", "frobnicate"}, "unknown command 'frobnicate'"},
        BadInput{"mistyped_option", concat(kBatch, {"--seq-len", "16"}), "did you mean '--seq-lens'?"},
        BadInput{"spec_without_batch", {"--spec", "@DIR@/deep.json"}, "add --batch"},
        BadInput{"sweep_option_on_a_verb", {"runs", "--seq-lens", "16"}, "'runs' does not take --seq-lens"},
        // Issue 7.9: invalid UTF-8 in names.
        BadInput{"invalid_utf8_name", concat(kBatch, {"--seq-lens", "16", "--name", "run\xff"}), "not valid UTF-8"},
        BadInput{"nul_in_spec_name", concat(kBatch, {"--spec", "@DIR@/nul_name.json"}), "NUL character"},
        // Issue 7.10: the CLI holds the spec's bounds.
        BadInput{"threads_over_limit", concat(kBatch, {"--threads", "5000"}), "threads 5000 is out of range [0, 4096]"},
        BadInput{"repetitions_over_limit", concat(kBatch, {"--repetitions", "200000"}), "out of range [0, 100000]"},
        BadInput{"warmup_over_limit", concat(kBatch, {"--warmup", "20000"}), "out of range [0, 10000]"},
        BadInput{"half_a_byte_budget", concat(kBatch, {"--max-memory", "0.5"}), "memory budget 0 B is out of range"},
        // Issue 7.11: silent acceptances.
        BadInput{"empty_db", concat(kBatch, {"--db", ""}), "--db needs a value"},
        BadInput{"memory_db", concat(kBatch, {"--db", ":memory:"}), "would throw the results away"},
        BadInput{"empty_model", concat(kBatch, {"-m", ""}), "needs a value"},
        BadInput{"empty_model_list", concat(kBatch, {"-m", ","}), "--model: the list is empty"},
        BadInput{"empty_resume", {"--batch", "--resume", ""}, "--resume needs a value"},
        BadInput{"empty_max_memory", concat(kBatch, {"--max-memory", ""}), "--max-memory needs a value"},
        BadInput{"negative_seed", concat(kBatch, {"--seed", "-1"}), "not an integer in [0, 18446744073709551615]"},
        BadInput{"seed_past_64_bits", concat(kBatch, {"--seed", "18446744073709551616"}), "not an integer in [0,"},
        BadInput{"repeated_seq_len", concat(kBatch, {"--seq-lens", "64,64"}), "repeats 64"},
        // Issue 7.15: output paths are checked before the sweep runs.
        BadInput{"csv_in_missing_folder", concat(kBatch, {"--seq-lens", "16", "--csv", "@DIR@/none/out.csv"}), "no folder"},
        BadInput{"json_is_a_directory", concat(kBatch, {"--seq-lens", "16", "--json", "@DIR@"}), "is a directory"},
        // The inference workload: a checkpoint that is not there, an unknown compile mode, its options
        // on another workload.
        BadInput{"missing_ckpt_dir", concat(kBatch, {"--workload", "inference", "--ckpt_dir", "@DIR@/no-such-ckpt"}),
                 "checkpoint directory"},
        BadInput{"bad_compile_mode", concat(kBatch, {"--workload", "inference", "--compile_mode", "max-autotune"}),
                 "unknown compile mode 'max-autotune' (none, reduce-overhead)"},
        BadInput{"inference_option_on_attention", concat(kBatch, {"--new-tokens", "8"}), "inference workload only"},
        BadInput{"distributed_on_attention", concat(kBatch, {"--distributed"}), "--distributed applies to the inference"},
        BadInput{"prompt_without_tokenizer", concat(kBatch, {"--workload", "inference", "--prompt", "Hello"}),
                 "a prompt needs a tokenizer"},
        BadInput{"ckpt_without_config", concat(kBatch, {"--workload", "inference", "--ckpt_dir", "@DIR@"}),
                 "needs config.json"},
        BadInput{"charts_under_a_file", concat(kBatch, {"--seq-lens", "16", "--export-charts", "@DIR@/notes.txt/c"}),
                 "is not a folder"}),
    [](const ::testing::TestParamInfo<BadInput>& param_info) { return param_info.param.name; });

TEST(Cli, RunIdErrorsOnARealDatabase) {
  const std::string dir = testing::freshDir("cli_runids");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db}), dir).code, 0);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"show", "999"}, "no run 999"},
      {{"show", "abc"}, "not a number"},
      {{"export", "999", "--csv", "-"}, "no run 999"},
      {{"export", "1"}, "needs --csv"},
      {{"compare", "1", "77"}, "no run 77"},
      {{"--batch", "--resume", "42"}, "no run 42"},
      {{"delete", "5"}, "no run 5"},
      {{"rename", "0", "x"}, "not a positive number"}};
  for (const auto& [args, expected] : cases) {
    const Result r = runCli(concat(args, {"--db", db}), dir);
    EXPECT_EQ(r.code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(pointCount(db), 2);
}

TEST(Cli, BatchRunWritesDbSummaryEventsAndExports) {
  const std::string dir = testing::freshDir("cli_batch");
  const std::string db = dir + "/r.db";
  const Result r = runCli(concat(kTinySweep, {"--seq-lens", "32..128", "--db", db, "--events", "jsonl", "--csv",
                                              dir + "/after.csv"}),
                          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // stdout is pure JSON lines; the summary goes to stderr.
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> events;
  while (std::getline(lines, line)) events.push_back(nlohmann::json::parse(line));
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front()["event"], "run_started");
  EXPECT_EQ(events.front()["provenance"]["timing.repetitions"], "3") << events.front().dump();
  EXPECT_EQ(events.back()["event"], "run_finished");
  EXPECT_EQ(events.back()["status"], "completed");
  int finished = 0;
  for (const auto& e : events) {
    if (e["event"] == "point_finished") {
      ++finished;
      EXPECT_EQ(e["result"]["status"], "ok") << e.dump();
      EXPECT_TRUE(e["result"]["passed"].get<bool>());
    }
  }
  EXPECT_EQ(finished, 6);  // 3 lengths x (flash, standard)
  EXPECT_NE(r.err.find("speedup"), std::string::npos);
  EXPECT_EQ(pointCount(db), 6);
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM samples"), "18");
  EXPECT_EQ(queryOne(db, "SELECT status FROM runs"), "completed");

  const Result exp = runCli({"export", "1", "--csv", dir + "/p.csv", "--json", dir + "/p.json", "--db", db}, dir);
  ASSERT_EQ(exp.code, 0) << exp.err;
  const std::string csv = slurp(dir + "/p.csv");
  // The provenance's comment lines, then the header and one row per point.
  std::istringstream csv_lines(csv);
  int comments = 0, rows = 0;
  while (std::getline(csv_lines, line)) {
    if (line.rfind("# ", 0) == 0) {
      EXPECT_EQ(rows, 0) << "a comment after the header: " << line;
      ++comments;
    } else {
      ++rows;
    }
  }
  EXPECT_EQ(rows, 7);
  EXPECT_GE(comments, 10);
  EXPECT_NE(csv.find("# timing.repetitions: 3\n"), std::string::npos) << csv;
  EXPECT_EQ(csv, slurp(dir + "/after.csv"));
  const auto json = nlohmann::json::parse(slurp(dir + "/p.json"));
  EXPECT_EQ(json["points"].size(), 6u);
  EXPECT_EQ(json["points"][0]["samples_ms"].size(), 3u);
  EXPECT_EQ(json["device"]["kind"], "cpu");

  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "32..128", "--db", db, "--name", "second"}), dir).code, 0);
  const Result cmp = runCli({"compare", "1", "2", "--db", db}, dir);
  ASSERT_EQ(cmp.code, 0) << cmp.err;
  EXPECT_NE(cmp.out.find("6 matching point(s)"), std::string::npos) << cmp.out;
  const Result runs = runCli({"runs", "--db", db}, dir);
  EXPECT_NE(runs.out.find("second"), std::string::npos);
  const Result show = runCli({"show", "2", "--db", db, "--points"}, dir);
  EXPECT_EQ(show.code, 0);
  EXPECT_NE(show.out.find("#5"), std::string::npos);

  // How the run was measured, in `show` and in the JSON export: the same facts, from the run's record.
  const nlohmann::json& provenance = json["provenance"];
  ASSERT_TRUE(provenance.is_object()) << json.dump();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::map<std::string, std::string> expected = {
      {"host.name", host}, {"timing.warmup", "1"}, {"timing.repetitions", "3"}, {"timing.l2_flush", "no"},
      {"timing.cuda_graph", "no"}, {"timing.method", "steady clock per call"}};
  for (const auto& [key, value] : expected) EXPECT_EQ(provenance.value(key, "(absent)"), value) << key;
  for (const char* key : {"attnbench.version", "attnbench.commit", "build.compiler", "host.os", "host.cpu",
                          "cpu.model", "cpu.threads", "eigen.version", "eigen.simd"}) {
    ASSERT_TRUE(provenance.contains(key)) << key << " in " << provenance.dump();
    const std::string value = provenance[key].get<std::string>();
    EXPECT_FALSE(value.empty()) << key;
    EXPECT_NE(show.out.find(std::string(key) + ": " + value + "\n"), std::string::npos) << key << "\n" << show.out;
  }
  EXPECT_EQ(provenance["cpu.model"], json["device"]["name"]);
  EXPECT_EQ(provenance["attnbench.version"], json["version"]);
  struct utsname os {};
  ASSERT_EQ(uname(&os), 0);
  EXPECT_EQ(provenance["host.os"].get<std::string>().rfind(std::string(os.sysname) + " " + os.release, 0), 0u)
      << provenance["host.os"];
  EXPECT_EQ(runCli({"rename", "2", "renamed", "--db", db}, dir).code, 0);
  EXPECT_EQ(runCli({"delete", "1", "--db", db}, dir).code, 0);
  EXPECT_EQ(pointCount(db), 6);
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM run_provenance"), "1");  // the deleted run's went with it
  EXPECT_EQ(queryOne(db, "SELECT name FROM runs"), "renamed");
}

TEST(Cli, SeedSpellingsSelectModelAndKernel) {
  const std::string dir = testing::freshDir("cli_seed");
  const std::string db = dir + "/r.db";
  const Result r = runCli({"--batch", "--no-progress", "--device", "cpu", "--architecture", "granite", "--variant", "7b",
                           "--seq_lens", "16", "--batch_sizes", "1", "--dtype", "float32", "--repetitions", "2",
                           "--check_correctness", "--use_flash", "--db", db},
                          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(queryOne(db, "SELECT group_concat(DISTINCT model) FROM points"), "granite-7b-instruct");
  EXPECT_EQ(queryOne(db, "SELECT group_concat(DISTINCT kernel) FROM points"), "flash");
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM points WHERE passed = 1"), "2");
}

TEST(Cli, ListsModelsDevicesAndPresets) {
  const std::string dir = testing::freshDir("cli_lists");
  const Result models = runCli({"models"}, dir);
  EXPECT_EQ(models.code, 0);
  for (const char* m : {"llama-2-7b", "granite-7b-instruct", "llama-3-8b", "mistral-7b"}) {
    EXPECT_NE(models.out.find(m), std::string::npos) << m;
  }
  const Result devices = runCli({"devices"}, dir);
  EXPECT_EQ(devices.code, 0);
  EXPECT_NE(devices.out.find("cpu: "), std::string::npos);
  EXPECT_NE(devices.out.find("l2_bytes"), std::string::npos) << devices.out;
  EXPECT_NE(runCli({"presets"}, dir).out.find("seed-matrix"), std::string::npos);
  EXPECT_EQ(runCli({"--help"}, dir).code, 0);
}

TEST(Cli, SkippedPointsKeepTheBytesTheyWouldNeed) {
  const std::string dir = testing::freshDir("cli_skip");
  const std::string db = dir + "/r.db";
  const Result r = runCli(concat(kTinySweep, {"--seq-lens", "64,2048", "--max-memory", "4MiB", "--db", db}), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(queryOne(db, "SELECT status FROM points WHERE seq_len = 2048 AND kernel = 'standard'"), "skipped");
  EXPECT_NE(queryOne(db, "SELECT message FROM points WHERE seq_len = 2048 AND kernel = 'standard'").find("would need"),
            std::string::npos);
  EXPECT_EQ(queryOne(db, "SELECT status FROM points WHERE seq_len = 64 AND kernel = 'standard'"), "ok");
}

TEST(Cli, AllocationsPastTheMemoryAreRecordedAsOom) {
  const std::string dir = testing::freshDir("cli_oom");
  const std::string db = dir + "/r.db";
  // 32 heads at N = 32768 need a 128 GiB fp32 score matrix: --max-memory lets it past the prediction,
  // and the allocation itself must fail cleanly.
  const Result r = runCli(
      cpuFp32Batch("32", "128", {"--seq-lens", "32768", "--kernels", "standard", "--max-memory", "1TiB", "--db", db}), dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(queryOne(db, "SELECT status FROM points"), "oom");
  EXPECT_NE(queryOne(db, "SELECT message FROM points").find("memory limit"), std::string::npos);
  EXPECT_EQ(queryOne(db, "SELECT status FROM runs"), "completed");
}

// A sweep long enough to be caught in the middle: 8 points of 40 samples each.
std::vector<std::string> slowSweep(const std::string& db) {
  return concat(kTinySweep, {"--seq-lens", "256..2048", "--repetitions", "40", "--no-check", "--db", db});
}

void waitForPoints(const std::string& db, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (pointCount(db) < n) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the sweep never reached " << n << " points";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(Cli, SigkillKeepsCompletedPointsAndResumeFinishes) {
  const std::string dir = testing::freshDir("cli_kill");
  const std::string db = dir + "/r.db";
  const pid_t pid = spawn(slowSweep(db), dir, "killed");
  waitForPoints(db, 2);
  kill(pid, SIGKILL);
  EXPECT_EQ(waitExit(pid), 128 + SIGKILL);
  const int kept = pointCount(db);
  EXPECT_GE(kept, 2);
  EXPECT_LT(kept, 8);
  EXPECT_EQ(queryOne(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(queryOne(db, "SELECT status FROM runs"), "running");
  const Result resumed = runCli({"--batch", "--resume", "1", "--no-progress", "--db", db}, dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(pointCount(db), 8);
  EXPECT_EQ(queryOne(db, "SELECT count(DISTINCT \"index\") FROM points"), "8");
  EXPECT_EQ(queryOne(db, "SELECT status FROM runs"), "completed");
}

TEST(Cli, SigtermEndsTheRunInterruptedAndResumable) {
  const std::string dir = testing::freshDir("cli_term");
  const std::string db = dir + "/r.db";
  const pid_t pid = spawn(slowSweep(db), dir, "term");
  waitForPoints(db, 1);
  kill(pid, SIGTERM);
  EXPECT_EQ(waitExit(pid), 130);
  EXPECT_EQ(queryOne(db, "SELECT status FROM runs"), "interrupted");
  EXPECT_NE(slurp(dir + "/term.err").find("--resume 1"), std::string::npos);
  ASSERT_EQ(runCli({"--batch", "--resume", "1", "--no-progress", "--db", db}, dir).code, 0);
  EXPECT_EQ(pointCount(db), 8);
  EXPECT_EQ(queryOne(db, "SELECT status FROM runs"), "completed");
}

TEST(Cli, ConcurrentProcessesWritingOneNewDatabaseLoseNothing) {
  const std::string dir = testing::freshDir("cli_two");
  const std::string db = dir + "/r.db";
  // All start at once on a file that does not exist yet: creation and the switch to WAL race too.
  constexpr int kProcesses = 4;
  const auto args = concat(kTinySweep, {"--seq-lens", "16..512", "--repetitions", "5", "--db", db});
  std::vector<std::string> tags;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcesses; ++i) {
    std::string tag = std::to_string(i);
    tag.insert(0, "writer");
    pids.push_back(spawn(args, dir, tag));
    tags.push_back(tag);
  }
  for (std::size_t i = 0; i < pids.size(); ++i) {
    EXPECT_EQ(waitExit(pids[i]), 0) << slurp(dir + "/" + tags[i] + ".err");
  }
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM runs WHERE status = 'completed'"), std::to_string(kProcesses));
  EXPECT_EQ(pointCount(db), kProcesses * 12);
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM samples"), std::to_string(kProcesses * 12 * 5));
  EXPECT_EQ(queryOne(db, "PRAGMA integrity_check"), "ok");
}

std::string fileBytes(const std::string& path) { return slurp(path); }

// Issue 7.2: an export onto the database (or its WAL/SHM) overwrote it and exited 0.
TEST(Cli, OutputsThatAreTheDatabaseAreRefused) {
  const std::string dir = testing::freshDir("cli_export_db");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db}), dir).code, 0);
  fs::create_directories(dir + "/sub");
  fs::create_hard_link(db, dir + "/hardlink.db");
  const std::string before = fileBytes(db);
  const std::vector<std::vector<std::string>> cases = {
      {"export", "1", "--csv", db},
      {"export", "1", "--json", db},
      {"export", "1", "--csv", dir + "/sub/../r.db"},
      {"export", "1", "--json", db + "-wal"},
      {"export", "1", "--csv", db + "-shm"},
      {"export", "1", "--csv", dir + "/hardlink.db"},
      concat(kTinySweep, {"--seq-lens", "16", "--csv", db}),
      concat(kTinySweep, {"--seq-lens", "16", "--json", dir + "/sub/../r.db"})};
  for (const auto& args : cases) {
    const Result r = runCli(concat(args, {"--db", db}), dir);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("is the results database"), std::string::npos) << r.err;
    EXPECT_EQ(fileBytes(db), before);
  }
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM runs"), "1");
}

// Issue 7.3: writing to a full disk exited 0 with an empty file.
TEST(Cli, FailedExportWritesExitNonZeroWithTheOsError) {
  const std::string dir = testing::freshDir("cli_full");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db}), dir).code, 0);
  for (const char* option : {"--csv", "--json"}) {
    const Result r = runCli({"export", "1", option, "/dev/full", "--db", db}, dir);
    EXPECT_EQ(r.code, 1) << option;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  }
  const Result batch = runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db, "--csv", "/dev/full"}), dir);
  EXPECT_EQ(batch.code, 1);
  EXPECT_NE(batch.err.find("No space left on device"), std::string::npos) << batch.err;
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM runs WHERE status = 'completed'"), "2");  // the run itself is kept
}

// Issue 7.7: a shape whose sizes overflow 64 bits predicted 0 bytes and the kernel segfaulted.
// Issue 9: without a GPU, cuDNN points are skipped with the reason and the run succeeds; the noise rule
// and its flags reach the database.
TEST(Cli, CudnnWithoutAGpuIsSkippedWithTheReasonAndTheRunSucceeds) {
  const std::string dir = testing::freshDir("cli_cudnn_cpu");
  const std::string db = dir + "/r.db";
  const Result r = runCli(concat(kTinySweep, {"--seq-lens", "64", "--kernels", "flash,standard,cudnn", "--repetitions",
                                              "0", "--min-samples", "4", "--timeout", "0.3", "--db", db}),
                          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(queryOne(db, "SELECT status FROM points WHERE kernel = 'cudnn'"), "skipped");
  EXPECT_NE(queryOne(db, "SELECT message FROM points WHERE kernel = 'cudnn'").find("NVIDIA GPUs"), std::string::npos);
  // Microsecond CPU samples may or may not meet 0.5 %; either way the flag is stored and the rule took at
  // least --min-samples.
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM points WHERE status = 'ok' AND noisy IN (0, 1)"), "2");
  EXPECT_EQ(queryOne(db, "SELECT min(n) >= 4 FROM (SELECT count(*) AS n FROM samples GROUP BY point_id)"), "1");
}

// The issue's CI sweep: decode on the CPU stores ok points with their bandwidth and split count.
TEST(Cli, CpuDecodeSweepStoresBandwidthAndSplits) {
  const std::string dir = testing::freshDir("cli_decode");
  const std::string db = dir + "/r.db";
  const Result r = runCli({"--batch", "--no-progress", "--workload", "decode", "--q-lens", "1,4", "--seq-lens",
                           "256,1024", "--device", "cpu", "--db", db},
                          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("GB/s"), std::string::npos) << r.out;
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM points WHERE workload = 'decode' AND status = 'ok' AND passed = 1"), "8");
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM points WHERE gbps > 0 AND bandwidth_fraction > 0"), "8");
  EXPECT_EQ(queryOne(db, "SELECT group_concat(DISTINCT q_len) FROM (SELECT q_len FROM points ORDER BY q_len)"), "1,4");
  EXPECT_EQ(queryOne(db, "SELECT min(splits) >= 1 FROM points WHERE kernel = 'flash'"), "1");
  EXPECT_EQ(queryOne(db, "SELECT max(splits) FROM points WHERE kernel = 'standard'"), "0");
  // Compulsory bytes of a flash point: K and V of the cache once, Q read and O written (fp32).
  EXPECT_EQ(queryOne(db, "SELECT CAST(compulsory_bytes AS INTEGER) FROM points WHERE kernel = 'flash' AND seq_len = 1024 "
                         "AND q_len = 4"),
            std::to_string(4 * 128 * (2 * 8 * 1024 + 2 * 32 * 4)));
}

// --tensor-parallel on attention points: CPU ranks (threads) each run their share of the heads; every
// point records the split and each rank's median; a named GPU that is absent stays an error.
TEST(Cli, AttentionHeadsSplitOverTensorParallelRanks) {
  const std::string dir = testing::freshDir("cli_tp_attention");
  const std::string db = dir + "/r.db";
  std::vector<std::string> args = testing::kSmallCpuSweep;
  args.insert(args.end(), {"--kv-heads", "2", "--tensor-parallel", "4", "--db", db});
  const Result r = runCli(args, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("tensor parallel over 4 CPU ranks (threads): each rank runs its share of the heads"),
            std::string::npos) << r.err;
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM points WHERE status = 'ok' AND passed = 1 AND tensor_parallel = 4 AND "
                         "json_array_length(rank_ms) = 4"),
            std::to_string(testing::kSmallCpuSweepPoints));
  EXPECT_EQ(queryOne(db, "SELECT json_extract(provenance, '$.\"tensor_parallel.ranks\"') FROM run_provenance"), "4");
  const Result show = runCli({"show", "1", "--db", db}, dir);
  EXPECT_EQ(show.code, 0) << show.err;
  args.insert(args.end(), {"--device", "cuda:7"});
  EXPECT_EQ(runCli(args, dir).code, 2);
}

// A paged, ragged cache with the split count forced: flash passes the fp64 check through the pages and
// per-sequence lengths; the materialized path refuses pages with the reason; a cache shorter than the
// new rows is skipped.
TEST(Cli, PagedRaggedDecodeIsCheckedAndUnsupportedCombinationsAreSkipped) {
  const std::string dir = testing::freshDir("cli_decode_paged");
  const std::string db = dir + "/r.db";
  const Result r = runCli({"--batch", "--no-progress", "--workload", "decode", "--model", "llama-3-8b", "--q-lens",
                           "1,5", "--seq-lens", "4,700", "--batch-sizes", "3", "--page-size", "16", "--kv-lens-spread",
                           "0.5", "--splits", "3", "--device", "cpu", "--dtype", "bf16", "--db", db},
                          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM points WHERE kernel = 'flash' AND seq_len = 700 AND status = 'ok' AND "
                         "passed = 1 AND splits = 3 AND page_size = 16"),
            "2");
  EXPECT_NE(queryOne(db, "SELECT message FROM points WHERE kernel = 'standard' AND seq_len = 700 LIMIT 1").find("paged"),
            std::string::npos);
  EXPECT_NE(queryOne(db, "SELECT message FROM points WHERE seq_len = 4 AND q_len = 5 AND kernel = 'flash'")
                .find("must hold the 5 new tokens"),
            std::string::npos);
}

TEST(Cli, ShapesPastSixtyFourBitSizesAreSkippedWithTheReason) {
  const std::string dir = testing::freshDir("cli_huge");
  const std::string db = dir + "/r.db";
  const Result r = runCli(cpuFp32Batch("268435456", "128",
                                       {"--seq-lens", "4194304", "--batch-sizes", "4096", "--causal", "false", "--db", db}),
                          dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(queryOne(db, "SELECT count(*) FROM points WHERE status = 'skipped'"), "2");
  EXPECT_NE(queryOne(db, "SELECT message FROM points").find("exceed 2^58 elements"), std::string::npos);
}

// Issue 7.8: verbs and options in any order; the window only when nothing else is asked for.
TEST(Cli, VerbsParseWhereverTheyStandAndNoDisplayExitsTwo) {
  const std::string dir = testing::freshDir("cli_order");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db, "--name", "ordered"}), dir).code, 0);
  const Result runs = runCli({"--db", db, "runs"}, dir);
  EXPECT_EQ(runs.code, 0) << runs.err;
  EXPECT_NE(runs.out.find("ordered"), std::string::npos);
  const Result show = runCli({"--db", db, "show", "1"}, dir);
  EXPECT_EQ(show.code, 0) << show.err;
#ifdef ATTNBENCH_HAVE_GUI
  const std::vector<std::string> no_display = {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"};
  for (const auto& args : std::vector<std::vector<std::string>>{{}, {"--db", db}, {db}}) {
    const Result r = runCli(args, dir, no_display);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("no display for the window"), std::string::npos) << r.err;
  }
#endif
}

// Issue 7.9: invalid UTF-8 in rename/annotate exited 1, or was stored and broke the JSON export.
TEST(Cli, InvalidUtf8NamesAndNotesAreRefusedWithNothingWritten) {
  const std::string dir = testing::freshDir("cli_utf8");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db}), dir).code, 0);
  const std::string before = fileBytes(db);
  for (const auto& args : std::vector<std::vector<std::string>>{{"rename", "1", "bad\xC3"}, {"annotate", "1", "\xff note"}}) {
    const Result r = runCli(concat(args, {"--db", db}), dir);
    EXPECT_EQ(r.code, 2) << args[0];
    EXPECT_NE(r.err.find("not valid UTF-8"), std::string::npos) << r.err;
    EXPECT_EQ(fileBytes(db), before) << args[0];
  }
  EXPECT_EQ(runCli({"rename", "1", "", "--db", db}, dir).code, 2);
  EXPECT_EQ(fileBytes(db), before);
}

// Issue 7.11: --resume beside sweep flags ignored them; resuming a finished run rewrote its finish time.
TEST(Cli, ResumeTakesNoSweepFlagsAndRefusesAFinishedRun) {
  const std::string dir = testing::freshDir("cli_resume_checks");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db}), dir).code, 0);
  const std::string before = fileBytes(db);
  const Result flags = runCli({"--batch", "--resume", "1", "--seq-lens", "32", "--db", db}, dir);
  EXPECT_EQ(flags.code, 2);
  EXPECT_NE(flags.err.find("drop --seq-lens"), std::string::npos) << flags.err;
  const Result finished = runCli({"--batch", "--resume", "1", "--db", db}, dir);
  EXPECT_EQ(finished.code, 2);
  EXPECT_NE(finished.err.find("already completed"), std::string::npos) << finished.err;
  EXPECT_EQ(fileBytes(db), before);
}

// Issue 7.14: names were printed raw (a newline broke the table, escapes drove the terminal).
TEST(Cli, RunsAndShowEscapeControlCharacters) {
  const std::string dir = testing::freshDir("cli_escape");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runCli(concat(kTinySweep, {"--seq-lens", "16", "--db", db, "--name", "two\nlines \x1B[2J"}), dir).code, 0);
  ASSERT_EQ(runCli({"annotate", "1", "bell\x07", "--db", db}, dir).code, 0);
  const Result runs = runCli({"runs", "--db", db}, dir);
  const Result show = runCli({"show", "1", "--db", db}, dir);
  for (const Result* r : {&runs, &show}) {
    EXPECT_EQ(r->code, 0);
    EXPECT_NE(r->out.find("two\\nlines \\x1B[2J"), std::string::npos) << r->out;
    EXPECT_NE(r->out.find("bell\\x07"), std::string::npos) << r->out;
    EXPECT_EQ(r->out.find('\x1B'), std::string::npos);
    EXPECT_EQ(r->out.find('\x07'), std::string::npos);
  }
  EXPECT_EQ(std::count(runs.out.begin(), runs.out.end(), '\n'), 2);  // header and one row
}

}  // namespace
}  // namespace attnbench
