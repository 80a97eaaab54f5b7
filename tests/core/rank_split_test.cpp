// Attention and decode points split over tensor parallel ranks (each rank its share of the heads), on
// CPU ranks; and the rank threads under them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "attnbench/errors.h"
#include "attnbench/runner.h"
#include "rank_threads.h"
#include "test_support.h"

namespace attnbench {
namespace {

using detail::RankThreads;

TEST(RankThreads, EveryRankRunsConcurrentlyOnItsOwnThread) {
  constexpr int kRanks = 4;
  RankThreads threads(kRanks);
  std::mutex mutex;
  std::condition_variable arrived_cv;
  int arrived = 0;
  std::vector<bool> met(kRanks, false);
  std::vector<std::thread::id> ids(kRanks);
  // Each rank waits for all the others: ranks run one after another would time out instead.
  threads.run([&](int r) {
    std::unique_lock lock(mutex);
    ++arrived;
    arrived_cv.notify_all();
    met[static_cast<std::size_t>(r)] =
        arrived_cv.wait_for(lock, std::chrono::seconds(10), [&] { return arrived == kRanks; });
    ids[static_cast<std::size_t>(r)] = std::this_thread::get_id();
  });
  EXPECT_EQ(std::count(met.begin(), met.end(), true), kRanks);
  std::vector<std::thread::id> distinct = ids;
  std::sort(distinct.begin(), distinct.end());
  EXPECT_EQ(std::unique(distinct.begin(), distinct.end()), distinct.end());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), std::this_thread::get_id()), 0);
  // A rank's work always lands on the same thread (a GPU rank's device stays current there).
  std::thread::id again;
  threads.runOn(2, [&] { again = std::this_thread::get_id(); });
  EXPECT_EQ(again, ids[2]);
}

TEST(RankThreads, ErrorsComeBackByRankAndTheThreadsStayUsable) {
  RankThreads threads(4);
  const auto errors = threads.runEach([](int r) {
    if (r % 2 == 1) throw std::runtime_error("rank " + std::to_string(r));
  });
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_FALSE(errors[0]);
  EXPECT_TRUE(errors[1]);
  EXPECT_FALSE(errors[2]);
  EXPECT_TRUE(errors[3]);
  try {
    threads.run([](int r) {
      if (r >= 2) throw std::runtime_error("rank " + std::to_string(r));
    });
    ADD_FAILURE() << "run() returned although ranks threw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "rank 2");  // the lowest failing rank
  }
  EXPECT_THROW(threads.runOn(1, [] { throw std::logic_error("once more"); }), std::logic_error);
  int sum = 0;
  std::mutex mutex;
  threads.run([&](int r) {
    std::lock_guard lock(mutex);
    sum += r;
  });
  EXPECT_EQ(sum, 0 + 1 + 2 + 3);
}

SweepSpec splitSpec(int ranks) {
  SweepSpec spec = sweepPreset("cpu-quick");
  spec.models = {modelFromJson({{"name", "gqa"}, {"heads", 8}, {"kv_heads", 2}, {"head_dim", 32}})};
  spec.seq_lens = {1, 33, 130};
  spec.batch_sizes = {2};
  spec.dtypes = {DType::F32, DType::F16};
  spec.causal = {false, true};
  spec.tiles = {TileShape{}};
  spec.repetitions = 3;
  spec.device = "cpu";
  spec.tensor_parallel = ranks;
  return spec;
}

RunOutcome runOnCpu(Store& store, const SweepSpec& spec) {
  std::string note;
  std::unique_ptr<Backend> backend = makeRunBackend(spec, &note);
  Runner runner(store, *backend, nullptr);
  runner.setMeasureCeilings(false);
  return runner.run(spec);
}

// Two ranks split the KV heads; four hold a copy of one each (more ranks than KV heads).
TEST(TensorParallelAttention, HeadsSplitOverCpuRanksAreCheckedRankByRank) {
  for (const int ranks : {2, 4}) {
    SCOPED_TRACE("ranks " + std::to_string(ranks));
    auto store = Store::open(testing::freshDir("tp_attention") + "/r.db");
    const RunOutcome split = runOnCpu(*store, splitSpec(ranks));
    // The same sweep of one rank's heads, on one device.
    SweepSpec one = splitSpec(1);
    one.models = {rankHeads(one.models.front(), ranks)};
    const RunOutcome single = runOnCpu(*store, one);
    ASSERT_EQ(split.results.size(), 2u * 2 * 3 * 2);
    ASSERT_EQ(single.results.size(), split.results.size());
    constexpr int kRowsCheckedPerHead = 48;  // all rows up to this many
    for (std::size_t i = 0; i < split.results.size(); ++i) {
      const PointResult& r = split.results[i];
      SCOPED_TRACE(r.point.label());
      EXPECT_NE(r.point.label().find("tp=" + std::to_string(ranks)), std::string::npos);
      ASSERT_EQ(r.status, PointStatus::Ok) << r.message;
      ASSERT_TRUE(r.correctness);
      EXPECT_TRUE(r.correctness->passed);
      EXPECT_EQ(r.correctness->unwritten, 0);
      // Every rank is checked on the same sampled (sequence, head) pairs of its own heads, at least two.
      EXPECT_EQ(r.correctness->checked_rows % ranks, 0);
      EXPECT_GE(r.correctness->checked_rows, ranks * 2 * std::min(r.point.shape.seq_q, kRowsCheckedPerHead));
      // Each sample is the slowest rank's, so its median is at least every rank's median.
      ASSERT_EQ(r.rank_ms.size(), static_cast<std::size_t>(ranks));
      for (const double ms : r.rank_ms) {
        EXPECT_GT(ms, 0.0);
        EXPECT_LE(ms, r.stats.median_ms);
      }
      EXPECT_EQ(r.peak_bytes, r.predicted_bytes);  // one rank's, as the budget is per device
      EXPECT_TRUE(single.results[i].rank_ms.empty());
      EXPECT_DOUBLE_EQ(r.point.flops(), ranks * single.results[i].point.flops());
    }
    const auto stored = store->loadPoints(split.run_id);
    ASSERT_EQ(stored.size(), split.results.size());
    EXPECT_EQ(stored.front().point.tensor_parallel, ranks);
    EXPECT_EQ(stored.front().rank_ms, split.results.front().rank_ms);
    const RunRecord run = store->requireRun(split.run_id);
    EXPECT_EQ(run.provenance.value("tensor_parallel.ranks"), std::to_string(ranks));
    EXPECT_NE(run.provenance.value("rank1.cpu.hardware_threads"), "");
    EXPECT_NE(run.device.name.find(" x" + std::to_string(ranks)), std::string::npos) << run.device.name;
  }
}

TEST(TensorParallelAttention, PagedRaggedDecodeSplitsItsHeadsToo) {
  SweepSpec spec = splitSpec(2);
  spec.workload = Workload::Decode;
  spec.kernels = {KernelKind::Flash};  // the standard decode reads contiguous caches only
  spec.causal = {false};
  spec.q_lens = {1, 4};
  spec.seq_lens = {300};
  spec.decode.page_size = 16;
  spec.decode.kv_lens_spread = 0.5;
  auto store = Store::open(testing::freshDir("tp_decode") + "/r.db");
  const RunOutcome out = runOnCpu(*store, spec);
  ASSERT_EQ(out.results.size(), 2u * 2);
  for (const PointResult& r : out.results) {
    SCOPED_TRACE(r.point.label());
    ASSERT_EQ(r.status, PointStatus::Ok) << r.message;
    EXPECT_TRUE(r.correctness && r.correctness->passed);
    EXPECT_EQ(r.rank_ms.size(), 2u);
    EXPECT_GT(r.splits, 0);
  }
}

TEST(TensorParallelAttention, ADegreeThatDoesNotSplitTheHeadsIsRefused) {
  SweepSpec spec = splitSpec(3);
  EXPECT_THROW(validateSpec(spec), InputError);
  spec.tensor_parallel = 8;  // 8 query heads over 8 ranks, 2 KV heads copied four times each
  EXPECT_NO_THROW(validateSpec(spec));
  spec.tensor_parallel = 16;
  EXPECT_THROW(validateSpec(spec), InputError);
}

}  // namespace
}  // namespace attnbench
