#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include "attnbench/errors.h"
#include "attnbench/runner.h"
#include "test_support.h"

namespace attnbench {
namespace {

// A backend whose behaviour per point is scripted by the sequence length, to drive the runner's
// skip / oom / error / cancel paths without real kernels.
class ScriptedBackend final : public Backend {
 public:
  struct Point final : PreparedPoint {
    explicit Point(int seq_len, ScriptedBackend& backend) : n(seq_len), owner(backend) {}
    double runTimed() override {
      ++owner.runs;
      if (n == 300) throw std::runtime_error("kernel launch failed");
      if (n == 400) throw DeviceFault("illegal address");
      if (owner.cancel_after > 0 && owner.runs >= owner.cancel_after) owner.cancel->store(true);
      return owner.sample_ms ? owner.sample_ms(owner.runs) : 0.5;
    }
    TileShape resolvedTile() const override { return {64, 64}; }
    std::uint64_t peakBytes() const override { return 1000; }
    std::int64_t countUnwrittenOutputs() override { return 0; }
    std::vector<float> readRows(TensorId, int, int, int, int) override { return {}; }
    int kvLength(int) const override { return 0; }
    int n;
    ScriptedBackend& owner;
  };

  ScriptedBackend() { device_ = describeHostCpu(); }
  const DeviceInfo& device() const override { return device_; }
  std::string unsupportedReason(const SweepPoint& p) const override {
    return p.seqLen() == 100 ? "flash needs something" : "";
  }
  std::uint64_t predictBytes(const SweepPoint& p) const override { return p.seqLen() == 200 ? 1ULL << 40 : 1000; }
  std::uint64_t memoryBudgetBytes() const override { return 1ULL << 30; }
  void setTimingOptions(const TimingOptions&) override {}
  std::unique_ptr<PreparedPoint> prepare(const SweepPoint& p, std::uint64_t, std::uint64_t) override {
    if (p.seqLen() == 250) throw OutOfMemory("cudaMalloc failed");
    return std::make_unique<Point>(p.seqLen(), *this);
  }
  DeviceCeilings measureCeilings() override { return {1, 1, "fp32"}; }
  std::optional<SmClockReading> readSmClock() const override {
    if (clocks.empty()) return std::nullopt;
    return clocks[std::min(clock_reads++, clocks.size() - 1)];
  }
  // The kernel runs so far: 0 when the run starts, every run's count when it ends.
  Provenance provenance(RunMoment moment) const override {
    return {{moment == RunMoment::Start ? "scripted.runs_at_start" : "scripted.runs_at_end", std::to_string(runs)}};
  }

  DeviceInfo device_;
  std::function<double(int run)> sample_ms;  // the time of run number `run` (1-based); 0.5 ms when unset
  std::vector<SmClockReading> clocks;        // successive clock readings (the last repeats); none = no NVML
  mutable std::size_t clock_reads = 0;
  int runs = 0;
  int cancel_after = 0;
  std::atomic<bool>* cancel = nullptr;
};

SweepSpec specWith(std::vector<int> seq_lens) {
  SweepSpec s = sweepPreset("cpu-quick");
  s.seq_lens = std::move(seq_lens);
  s.causal = {false};
  s.kernels = {KernelKind::Flash};
  s.check_correctness = false;
  s.repetitions = 3;
  s.warmup = 1;
  return s;
}

TEST(Runner, RecordsEveryOutcomeAsAStatusAndGoesOn) {
  auto store = Store::open(testing::freshDir("runner_outcomes") + "/r.db");
  ScriptedBackend backend;
  std::vector<std::string> events;
  Runner runner(*store, backend, [&](const RunEvent& e) { events.push_back(eventName(e)); });
  const RunOutcome out = runner.run(specWith({64, 100, 200, 250, 300}));
  ASSERT_EQ(out.results.size(), 5u);
  EXPECT_EQ(out.results[0].status, PointStatus::Ok);
  EXPECT_EQ(out.results[0].samples_ms.size(), 3u);
  EXPECT_EQ(out.results[0].tile.rows, 64);
  EXPECT_EQ(out.results[1].status, PointStatus::Skipped);
  EXPECT_EQ(out.results[1].message, "flash needs something");
  EXPECT_EQ(out.results[2].status, PointStatus::Skipped);
  EXPECT_NE(out.results[2].message.find("would need 1.00 TiB"), std::string::npos);
  EXPECT_EQ(out.results[3].status, PointStatus::Oom);
  EXPECT_EQ(out.results[4].status, PointStatus::Error);
  EXPECT_EQ(out.failed_points(), 1);
  EXPECT_EQ(out.status, RunStatus::Completed);
  EXPECT_EQ(store->loadPoints(out.run_id).size(), 5u);
  EXPECT_EQ(events.front(), "run_started");
  EXPECT_EQ(events.back(), "run_finished");
  EXPECT_EQ(std::count(events.begin(), events.end(), "point_finished"), 5);
  // 1 warm-up + 3 samples at 0.5 ms for the one point that ran fully (the erroring one threw first).
  EXPECT_NEAR(out.kernel_seconds, 4 * 0.5e-3, 1e-9);
}

TEST(Runner, NoiseRuleStopsAtMinSamplesWhenTheSpreadIsBelowTheLimit) {
  auto store = Store::open(testing::freshDir("runner_noise_quiet") + "/r.db");
  ScriptedBackend backend;
  backend.sample_ms = [](int run) { return 1.0 + 1e-4 * (run % 2); };  // 0.005 % spread
  Runner runner(*store, backend, nullptr);
  SweepSpec spec = specWith({64});
  spec.repetitions = 0;
  spec.sampling.min_samples = 12;
  const RunOutcome out = runner.run(spec);
  ASSERT_EQ(out.results.size(), 1u);
  EXPECT_EQ(out.results[0].samples_ms.size(), 12u);
  EXPECT_FALSE(out.results[0].noisy);
  EXPECT_FALSE(store->loadPoints(out.run_id)[0].noisy);
}

TEST(Runner, NoiseRuleSamplesUntilMinTime) {
  auto store = Store::open(testing::freshDir("runner_noise_min_time") + "/r.db");
  ScriptedBackend backend;  // 0.5 ms per sample, no spread
  Runner runner(*store, backend, nullptr);
  SweepSpec spec = specWith({64});
  spec.repetitions = 0;
  spec.sampling.min_samples = 2;
  spec.sampling.min_time_s = 0.01;  // 20 samples of 0.5 ms
  const RunOutcome out = runner.run(spec);
  EXPECT_EQ(out.results[0].samples_ms.size(), 20u);
}

TEST(Runner, NoiseRuleTimeoutFlagsTheSpreadAndStoresIt) {
  auto store = Store::open(testing::freshDir("runner_noise_loud") + "/r.db");
  ScriptedBackend backend;
  backend.sample_ms = [](int run) { return run % 2 ? 0.4 : 0.6; };  // 20 % spread: never below 0.5 %
  Runner runner(*store, backend, nullptr);
  SweepSpec spec = specWith({64});
  spec.repetitions = 0;
  spec.sampling.timeout_s = 0.05;
  const RunOutcome out = runner.run(spec);
  const PointResult& r = out.results[0];
  EXPECT_EQ(r.status, PointStatus::Ok);
  EXPECT_TRUE(r.noisy);
  EXPECT_GT(r.samples_ms.size(), 10u);
  EXPECT_GT(noisePercent(r.stats), 15.0);
  const PointResult stored = store->loadPoints(out.run_id)[0];
  EXPECT_TRUE(stored.noisy);
  EXPECT_EQ(stored.samples_ms.size(), r.samples_ms.size());
}

TEST(Runner, FixedRepetitionsNeverFlagNoise) {
  auto store = Store::open(testing::freshDir("runner_noise_fixed") + "/r.db");
  ScriptedBackend backend;
  backend.sample_ms = [](int run) { return run % 2 ? 0.4 : 0.6; };
  Runner runner(*store, backend, nullptr);
  const RunOutcome out = runner.run(specWith({64}));  // repetitions = 3
  EXPECT_EQ(out.results[0].samples_ms.size(), 3u);
  EXPECT_FALSE(out.results[0].noisy);
}

TEST(Runner, ClockReadingsBelowThreeQuartersOfTheMaximumMarkThePointThrottled) {
  struct Case {
    std::vector<SmClockReading> clocks;
    bool throttled;
  };
  for (const Case& c : {Case{{{1980, 1980}, {1965, 1980}}, false}, Case{{{1980, 1980}, {1200, 1980}}, true},
                        Case{{{1400, 1980}, {1980, 1980}}, true}}) {
    auto store = Store::open(testing::freshDir("runner_clocks") + "/r.db");
    ScriptedBackend backend;
    backend.clocks = c.clocks;
    Runner runner(*store, backend, nullptr);
    const PointResult r = runner.run(specWith({64})).results[0];
    EXPECT_EQ(r.sm_clock_start_mhz, c.clocks[0].current_mhz);
    EXPECT_EQ(r.sm_clock_end_mhz, c.clocks[1].current_mhz);
    EXPECT_EQ(r.sm_clock_max_mhz, 1980);
    EXPECT_EQ(r.throttled, c.throttled);
  }
  auto store = Store::open(testing::freshDir("runner_no_clocks") + "/r.db");
  ScriptedBackend backend;  // no NVML: nothing known, nothing flagged
  Runner runner(*store, backend, nullptr);
  const PointResult r = runner.run(specWith({64})).results[0];
  EXPECT_EQ(r.sm_clock_max_mhz, 0);
  EXPECT_FALSE(r.throttled);
}

TEST(Runner, MaxMemoryOverridesTheDeviceBudget) {
  auto store = Store::open(testing::freshDir("runner_budget") + "/r.db");
  ScriptedBackend backend;
  Runner runner(*store, backend, nullptr);
  SweepSpec spec = specWith({64});
  spec.max_memory_bytes = 10;
  const RunOutcome out = runner.run(spec);
  EXPECT_EQ(out.results[0].status, PointStatus::Skipped);
  EXPECT_NE(out.results[0].message.find("--max-memory"), std::string::npos);
}

TEST(Runner, CancelDropsThePointInProgressAndResumeFinishesTheRun) {
  auto store = Store::open(testing::freshDir("runner_cancel") + "/r.db");
  ScriptedBackend backend;
  std::atomic<bool> cancel{false};
  backend.cancel = &cancel;
  backend.cancel_after = 6;  // during the second point (4 runs per point)
  Runner runner(*store, backend, nullptr);
  runner.setCancelFlag(&cancel);
  const RunOutcome first = runner.run(specWith({16, 32, 48, 64}));
  EXPECT_EQ(first.status, RunStatus::Interrupted);
  EXPECT_EQ(first.results.size(), 1u);
  EXPECT_EQ(store->requireRun(first.run_id).status, RunStatus::Interrupted);
  // The provenance: build and host first, the backend's part read at the start and (on the way out
  // of an interrupted run too) at the end, the timing settings of the spec.
  const Provenance recorded = store->requireRun(first.run_id).provenance;
  ASSERT_FALSE(recorded.empty());
  EXPECT_EQ(recorded.entries().front().key, "attnbench.version");
  EXPECT_EQ(recorded.value("host.name"), hostName());
  EXPECT_EQ(recorded.value("scripted.runs_at_start"), "0");
  EXPECT_EQ(recorded.value("scripted.runs_at_end"), std::to_string(backend.runs));
  EXPECT_EQ(recorded.value("timing.repetitions"), "3");
  EXPECT_EQ(recorded.value("timing.warmup"), "1");
  const int runs_at_resume = backend.runs;

  cancel = false;
  backend.cancel_after = 0;
  const RunOutcome resumed = runner.resume(first.run_id);
  EXPECT_EQ(resumed.status, RunStatus::Completed);
  EXPECT_EQ(resumed.results.size(), 4u);
  // The resume keeps what the run started with and adds what differs now; the end is the last one.
  const Provenance after = store->requireRun(first.run_id).provenance;
  EXPECT_EQ(after.value("scripted.runs_at_start"), "0");
  EXPECT_EQ(after.value("resumed.scripted.runs_at_start"), std::to_string(runs_at_resume));
  EXPECT_FALSE(after.contains("resumed.host.name"));
  EXPECT_EQ(after.value("scripted.runs_at_end"), std::to_string(backend.runs));
  EXPECT_GT(backend.runs, runs_at_resume);
  const auto points = store->loadPoints(first.run_id);
  ASSERT_EQ(points.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(points[static_cast<std::size_t>(i)].point.index, i);
}

TEST(Runner, ResumeRetriesPointsThatEndedInAnError) {
  auto store = Store::open(testing::freshDir("runner_retry") + "/r.db");
  ScriptedBackend backend;
  Runner runner(*store, backend, nullptr);
  const RunOutcome first = runner.run(specWith({64, 300}));
  EXPECT_EQ(first.results[1].status, PointStatus::Error);
  const int runs_before = backend.runs;
  const RunOutcome again = runner.resume(first.run_id);
  EXPECT_EQ(backend.runs, runs_before + 1);  // only the erroring point ran again (and threw at once)
  EXPECT_EQ(again.results.size(), 2u);
  EXPECT_EQ(store->loadPoints(first.run_id).size(), 2u);
}

TEST(Runner, DeviceFaultEndsTheRunMarkedFailedAndKeepsEarlierPoints) {
  auto store = Store::open(testing::freshDir("runner_fault") + "/r.db");
  ScriptedBackend backend;
  Runner runner(*store, backend, nullptr);
  EXPECT_THROW(runner.run(specWith({64, 400, 512})), DeviceFault);
  const auto runs = store->listRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::Failed);
  const auto points = store->loadPoints(runs[0].id);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[1].status, PointStatus::Error);
  EXPECT_NE(points[1].message.find("illegal address"), std::string::npos);
}

TEST(Runner, CpuBackendRunsBothKernelsCorrectlyWithExactMemoryPrediction) {
  auto store = Store::open(testing::freshDir("runner_cpu") + "/r.db");
  std::string note;
  auto backend = makeBackend("cpu", &note);
  Runner runner(*store, *backend, nullptr);
  runner.setMeasureCeilings(false);
  SweepSpec spec = sweepPreset("cpu-quick");
  spec.models = {modelFromJson({{"name", "gqa"}, {"heads", 4}, {"kv_heads", 2}, {"head_dim", 64}})};
  spec.seq_lens = {1, 17, 200};
  spec.dtypes = {DType::F32, DType::F16, DType::BF16};
  spec.causal = {false, true};
  spec.tiles = {TileShape{}, TileShape{64, 32}};
  spec.repetitions = 2;
  const RunOutcome out = runner.run(spec);
  ASSERT_EQ(out.results.size(), 3u * 3 * 2 * 3);
  for (const auto& r : out.results) {
    EXPECT_EQ(r.status, PointStatus::Ok) << r.point.label() << ": " << r.message;
    ASSERT_TRUE(r.correctness) << r.point.label();
    EXPECT_TRUE(r.correctness->passed) << r.point.label();
    EXPECT_EQ(r.correctness->unwritten, 0);
    EXPECT_GT(r.correctness->checked_rows, 0);
    EXPECT_EQ(r.peak_bytes, r.predicted_bytes) << r.point.label();
    EXPECT_GT(r.stats.median_ms, 0.0);
  }
  // Flash points are checked against the standard point's measured error on the same rows.
  for (std::size_t i = 0; i + 1 < out.results.size(); ++i) {
    const auto& standard = out.results[i];
    const auto& flash = out.results[i + 1];
    if (standard.point.kernel != KernelKind::Standard || flash.point.kernel != KernelKind::Flash) continue;
    EXPECT_EQ(flash.correctness->reference_error, standard.correctness->max_abs_error) << flash.point.label();
    EXPECT_EQ(flash.correctness->checked_rows, standard.correctness->checked_rows);
  }
}

TEST(Runner, StandardAttentionNeedsQuadraticMemoryAndFlashDoesNot) {
  std::string note;
  auto backend = makeBackend("cpu", &note);
  backend->setTimingOptions({false, false, 2});
  SweepPoint p;
  p.shape.heads_q = p.shape.heads_kv = 32;
  p.shape.head_dim = 128;
  p.shape.dtype = DType::F32;
  auto bytes = [&](KernelKind k, int n) {
    p.kernel = k;
    p.shape.seq_q = p.shape.seq_kv = n;
    return static_cast<double>(backend->predictBytes(p));
  };
  // Doubling N: flash memory doubles (linear), standard memory grows ~4x (the N^2 score matrix).
  EXPECT_NEAR(bytes(KernelKind::Flash, 8192) / bytes(KernelKind::Flash, 4096), 2.0, 0.05);
  EXPECT_GT(bytes(KernelKind::Standard, 8192) / bytes(KernelKind::Standard, 4096), 3.5);
}

}  // namespace
}  // namespace attnbench
