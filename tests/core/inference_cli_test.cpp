// The inference workload end to end through the attnbench executable: a tiny checkpoint this test
// writes runs on the CPU engine with its metrics stored and read back, and the seed's command lines
// parse as written (on a machine without a GPU their 7B points are skipped with the reason).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "exe_support.h"
#include "test_support.h"
#include "tiny_checkpoint.h"

namespace attnbench {
namespace {

using testing::ExeResult;

std::vector<std::string> withDb(std::vector<std::string> args, const std::string& db) {
  args.insert(args.end(), {"--no-progress", "--db", db});
  return args;
}

std::string cell(const std::string& db, const std::string& sql) { return testing::queryCell(db, sql); }

TEST(InferenceCli, TinyCheckpointRunsOnTheCpuEngineWithItsMetricsStored) {
  const std::string dir = testing::freshDir("inference_tiny");
  const auto ckpt = tiny::writeTinyCheckpoint("inference_cli", "F16", true);
  const std::string db = dir + "/r.db";
  const ExeResult r = testing::runExe(
      withDb({"--batch", "--workload", "inference", "--ckpt_dir", ckpt.string(), "--device", "cpu", "--dtype", "fp32",
              "--seq_lens", "8", "24", "--batch_sizes", "2", "1", "--new-tokens", "4", "--repetitions", "2",
              "--check_correctness"},
             db),
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // 2 N x 2 B x (standard, flash), the model named by the checkpoint's directory.
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE status = 'ok' AND workload = 'inference'"), "8");
  EXPECT_EQ(cell(db, "SELECT group_concat(DISTINCT model) FROM points"), ckpt.filename().string());
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE ttft_ms > 0 AND median_ms > 0 AND samples = 2 AND "
                     "tokens_per_s > 0 AND decode_no_cache_ms > 0 AND prefill_tflops > 0 AND weights_bytes > 0 AND "
                     "kv_cache_bytes > 0 AND activation_bytes > 0 AND new_tokens = 4 AND depth = 0 AND "
                     "compile_mode = 'none'"),
            "8");
  // tokens/s is the batch over the median ms/token.
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE abs(tokens_per_s * median_ms / 1000.0 - batch) > 1e-9"), "0");
  // Flash's logits against the standard kernel's of the same shape: fp32 on both sides.
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE kernel = 'flash' AND logits_vs_standard_max_abs_diff < 1e-3 "
                     "AND logits_vs_standard_top1 = 1"),
            "4");
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE kernel = 'standard' AND logits_vs_standard_max_abs_diff IS NULL"),
            "4");
  // The summary shows time to first token and ms/token for both kernels, and `show` reads them back.
  EXPECT_NE(r.out.find("flash TTFT ms"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode speedup"), std::string::npos) << r.out;
  const ExeResult show = testing::runExe({"show", "1", "--db", db}, dir);
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("ms/token"), std::string::npos) << show.out;
  std::filesystem::remove_all(ckpt);
}

// --page-size: the engine's KV cache in pages; the page size is stored with each point, and the
// standard baseline, which reads a contiguous cache, is skipped with the reason.
TEST(InferenceCli, PagedKvCacheRunsFlashAndSaysWhyStandardDoesNot) {
  const std::string dir = testing::freshDir("inference_paged");
  const auto ckpt = tiny::writeTinyCheckpoint("inference_paged", "F16", true);
  const std::string db = dir + "/r.db";
  const ExeResult r = testing::runExe(
      withDb({"--batch", "--workload", "inference", "--ckpt_dir", ckpt.string(), "--device", "cpu", "--dtype", "fp32",
              "--seq_lens", "24", "--batch_sizes", "2", "--new-tokens", "4", "--repetitions", "1", "--page-size", "16"},
             db),
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE kernel = 'flash' AND status = 'ok' AND page_size = 16 AND "
                     "ttft_ms > 0 AND median_ms > 0 AND kv_cache_bytes > 0"),
            "1");
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE kernel = 'standard' AND status = 'skipped' AND "
                     "message LIKE '%flash kernels only%'"),
            "1");
  const ExeResult bad = testing::runExe(
      withDb({"--batch", "--workload", "inference", "--ckpt_dir", ckpt.string(), "--device", "cpu", "--dtype", "fp32",
              "--seq_lens", "24", "--page-size", "8"},
             dir + "/bad.db"),
      dir);
  EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("page"), std::string::npos) << bad.err;
  std::filesystem::remove_all(ckpt);
}

// --tensor-parallel on the CPU engine: the ranks are threads of the process; the points record the
// degree, each rank's times and the all-reduce next to them, and the logits check still holds.
TEST(InferenceCli, TensorParallelRecordsRanksAndTheAllReduce) {
  const std::string dir = testing::freshDir("inference_tp");
  const auto ckpt = tiny::writeTinyCheckpoint("inference_tp", "BF16", false);
  const std::string db = dir + "/r.db";
  const std::vector<std::string> base = {"--batch", "--workload", "inference", "--ckpt_dir", ckpt.string(), "--device",
                                         "cpu", "--dtype", "fp32", "--seq_lens", "8", "--batch_sizes", "2",
                                         "--new-tokens", "4", "--repetitions", "2", "--check_correctness"};
  std::vector<std::string> split = base;
  split.insert(split.end(), {"--tensor-parallel", "2"});
  const ExeResult r = testing::runExe(withDb(split, db), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("tensor parallel over 2 CPU ranks"), std::string::npos) << r.err;
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE status = 'ok' AND tensor_parallel = 2 AND "
                     "json_array_length(rank_ttft_ms) = 2 AND json_array_length(rank_decode_ms) = 2 AND "
                     "allreduce_decode_ms > 0 AND allreduce_decode_busbw_gbps > 0 AND allreduce_prefill_ms > 0 AND "
                     "allreduce_prefill_busbw_gbps > 0 AND (kernel = 'standard' OR logits_vs_standard_max_abs_diff < 1e-3)"),
            "2");
  // Each repetition's time is the slowest rank's, so no rank's median exceeds the largest sample.
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points, json_each(points.rank_ttft_ms) AS rank WHERE rank.value > ttft_max_ms"),
            "0");
  // busbw = bytes / time x 2 (T - 1) / T with T = 2: batch x hidden x 4 bytes / time.
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE abs(allreduce_decode_busbw_gbps * allreduce_decode_ms * 1e6 - "
                     "2 * 256 * 4) > 1e-6"),
            "0");
  // The KV cache of a rank holds one of the two KV heads.
  ASSERT_EQ(testing::runExe(withDb(base, db), dir).code, 0);
  EXPECT_EQ(cell(db, "SELECT DISTINCT a.kv_cache_bytes * 2 = b.kv_cache_bytes FROM points a, points b WHERE "
                     "a.run_id = 1 AND b.run_id = 2"),
            "1");
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE run_id = 2 AND tensor_parallel = 1 AND allreduce_decode_ms = 0 "
                     "AND json_array_length(rank_decode_ms) = 1"),
            "2");

  // A degree that does not split the model is refused, in the inference workload (its MLP too) and in
  // the attention workload (its heads).
  std::vector<std::string> uneven = base;
  uneven.insert(uneven.end(), {"--tensor-parallel", "3"});
  const ExeResult bad = testing::runExe(withDb(uneven, db), dir);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("tensor parallel 3 does not divide"), std::string::npos) << bad.err;
  const ExeResult attention = testing::runExe(
      withDb({"--batch", "--device", "cpu", "--seq_lens", "128", "--tensor-parallel", "3"}, db), dir);
  EXPECT_EQ(attention.code, 2);
  EXPECT_NE(attention.err.find("tensor parallel 3 does not divide"), std::string::npos) << attention.err;
  std::filesystem::remove_all(ckpt);
}

TEST(InferenceCli, DepthTokensAreCachedBeforeThePromptAndTheBudgetSkipsWithTheBytes) {
  const std::string dir = testing::freshDir("inference_depth");
  const std::string db = dir + "/r.db";
  // The tiny synthetic preset with 40 tokens cached before the 16-token prompt: the KV cache holds
  // depth + N + new tokens + 1 per sequence.
  const std::vector<std::string> base = {"--batch", "--workload", "inference", "--device", "cpu", "--seq_lens", "16",
                                         "--batch_sizes", "1", "--new-tokens", "4", "--repetitions", "2"};
  std::vector<std::string> deep = base;
  deep.insert(deep.end(), {"--depth", "40", "--name", "deep"});
  ASSERT_EQ(testing::runExe(withDb(deep, db), dir).code, 0);
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE status = 'ok' AND depth = 40 AND ttft_ms > 0"), "2");
  // tiny-llama: 2 layers x 2 KV heads x 64 dims, K and V, fp32: 2048 bytes per cached token.
  EXPECT_EQ(cell(db, "SELECT DISTINCT kv_cache_bytes FROM points"), std::to_string(2048 * (40 + 16 + 4 + 1)));

  std::vector<std::string> tight = base;
  tight.insert(tight.end(), {"--max-memory", "1MiB", "--name", "tight"});
  ASSERT_EQ(testing::runExe(withDb(tight, db), dir).code, 0);
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE run_id = 2 AND status = 'skipped' AND message LIKE "
                     "'would need % (weights %, KV cache %, activations %), limit 1.00 MiB (--max-memory)' AND "
                     "predicted_bytes > 1048576"),
            "2");
}

TEST(InferenceCli, SyntheticModelsTooLargeForTheCpuEngineAreSkippedWithTheReason) {
  const std::string dir = testing::freshDir("inference_big");
  const std::string db = dir + "/r.db";
  const ExeResult r = testing::runExe(
      withDb({"--batch", "--workload", "inference", "--device", "cpu", "--model", "llama-2-7b", "--dtype", "fp32",
              "--seq_lens", "128", "--batch_size", "1"},
             db),
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE status = 'skipped' AND message LIKE '%tiny models%'"), "2");
  EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE ttft_ms IS NULL"), "2");
}

// The seed's three command lines (inference.py for one point, benchmark_inference.py for the matrix of
// each model), with the script replaced by `attnbench --batch --workload inference`. Here, without a
// GPU, the checkpoint is the tiny one and every fp16 point is skipped by the CPU engine with the reason.
TEST(InferenceCli, TheSeedCommandLinesRunAsWritten) {
  const std::string dir = testing::freshDir("inference_seed");
  const auto ckpt = tiny::writeTinyCheckpoint("inference_seed", "F16", false);
  const std::string tokenizer = dir + "/tokenizer.model";
  std::ofstream(tokenizer) << "a SentencePiece model (never read: every point is skipped)";
  const std::vector<std::string> matrix_lens = {"128", "256", "512", "1024", "2048", "4096", "8192", "16384", "32768", "65536"};
  struct SeedLine {
    std::vector<std::string> args;
    int points;
    std::string kernels;
  };
  std::vector<std::string> llama = {"--architecture=llama", "--variant=7b", "--seq_lens"};
  std::vector<std::string> granite = {"--architecture=granite", "--variant=7b-instruct", "--seq_lens"};
  for (auto* line : {&llama, &granite}) {
    line->insert(line->end(), matrix_lens.begin(), matrix_lens.end());
    line->insert(line->end(), {"--batch_sizes", "2", "1", "--dtype", "fp16", "--compile_mode", "reduce-overhead",
                               "--repetitions", "3", "--distributed"});
  }
  const std::vector<SeedLine> lines = {
      {{"--architecture=llama", "--variant=7b", "--tokenizer", tokenizer, "--ckpt_dir", ckpt.string(), "--seq_len", "512",
        "--batch_size", "1", "--dtype", "fp16", "--use_flash", "--compile_mode", "reduce-overhead", "--check_correctness"},
       1, "flash"},
      {llama, 40, "standard,flash"},
      {granite, 40, "standard,flash"},
  };
  int run = 0;
  for (const auto& line : lines) {
    ++run;
    const std::string db = dir + "/seed" + std::to_string(run) + ".db";
    std::vector<std::string> args = {"--batch", "--workload", "inference", "--device", "cpu"};
    args.insert(args.end(), line.args.begin(), line.args.end());
    const ExeResult r = testing::runExe(withDb(args, db), dir);
    ASSERT_EQ(r.code, 0) << "line " << run << ": " << r.err;
    EXPECT_EQ(cell(db, "SELECT count(*) FROM points WHERE status = 'skipped' AND message <> ''"),
              std::to_string(line.points))
        << "line " << run;
    EXPECT_EQ(cell(db, "SELECT group_concat(DISTINCT kernel) FROM points"), line.kernels) << "line " << run;
    EXPECT_EQ(cell(db, "SELECT group_concat(DISTINCT compile_mode) FROM points"), "reduce-overhead") << "line " << run;
    const bool distributed = std::find(line.args.begin(), line.args.end(), "--distributed") != line.args.end();
    EXPECT_EQ(r.err.find("world size 1") != std::string::npos, distributed) << r.err;
  }
  EXPECT_EQ(cell(dir + "/seed1.db", "SELECT model FROM points"), ckpt.filename().string());
  EXPECT_EQ(cell(dir + "/seed2.db", "SELECT group_concat(DISTINCT batch) FROM points"), "2,1");
  EXPECT_EQ(cell(dir + "/seed3.db", "SELECT group_concat(DISTINCT model) FROM points"), "granite-7b-instruct");
  std::filesystem::remove_all(ckpt);
}

}  // namespace
}  // namespace attnbench
