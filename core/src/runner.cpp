#include "attnbench/runner.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "attnbench/errors.h"
#include "inference_runner.h"

namespace attnbench {

std::uint64_t pointInputSeed(std::uint64_t base, const SweepPoint& p) {
  std::uint64_t h = base ^ 0x51ED2701ULL;
  auto mix = [&h](std::uint64_t v) { h = (h ^ v) * 0x100000001B3ULL; };
  for (char c : p.model.name) mix(static_cast<unsigned char>(c));
  const kernels::AttentionShape& s = p.shape;
  for (const int dimension : {s.heads_q, s.heads_kv, s.head_dim, s.batch, s.seq_kv}) mix(static_cast<std::uint64_t>(dimension));
  mix(static_cast<std::uint64_t>(s.dtype));
  mix(s.causal ? 1 : 2);
  // Decode points differ in their new rows and cache layout too; attention points keep the seeds
  // they have always had.
  if (p.isDecode()) {
    for (const int v : {s.seq_q, p.decode.page_size, static_cast<int>(p.decode.kv_lens_spread * 1000)}) {
      mix(static_cast<std::uint64_t>(v) + 0x100);
    }
  }
  return h;
}

namespace {

// Raised inside a point when the cancel flag is seen; the point is dropped, not recorded.
struct Cancelled {};

// Refreshes a run's heartbeat from its own connection while the sweep measures, so that a point that
// takes minutes does not make a live run look abandoned to other hosts.
class HeartbeatThread {
 public:
  HeartbeatThread(const std::string& db_path, std::int64_t run_id)
      : thread_([this, db_path, run_id] { beat(db_path, run_id); }) {}
  ~HeartbeatThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  HeartbeatThread(const HeartbeatThread&) = delete;
  HeartbeatThread& operator=(const HeartbeatThread&) = delete;

 private:
  void beat(const std::string& db_path, std::int64_t run_id) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::unique_ptr<Store> store;
    while (!wake_.wait_for(lock, std::chrono::seconds(Store::kHeartbeatSeconds), [this] { return stop_; })) {
      // A failed beat (a full disk, a locked file) is not the sweep's problem: the owner's pid still
      // says it is alive on this host, and the next beat tries again.
      try {
        if (!store) store = Store::openExisting(db_path);
        store->heartbeat(run_id);
      } catch (const std::exception&) {
        store.reset();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int RunOutcome::failed_points() const {
  int n = 0;
  for (const auto& r : results) n += r.status == PointStatus::Failed || r.status == PointStatus::Error;
  return n;
}

Runner::Runner(Store& store, Backend& backend, EventSink sink)
    : store_(&store), backend_(backend), sink_(std::move(sink)), inference_(std::make_unique<InferencePointRunner>()) {}

Runner::Runner(Backend& backend)
    : store_(nullptr), backend_(backend), inference_(std::make_unique<InferencePointRunner>()) {}

Runner::~Runner() = default;

void Runner::emit(const RunEvent& event) const {
  if (sink_) sink_(event);
}

bool Runner::takeSamples(const SweepSpec& spec, PreparedPoint& prepared, std::vector<double>& samples_ms,
                         RankSamples& rank_samples) {
  const SamplingRule& rule = spec.sampling;
  const auto start = std::chrono::steady_clock::now();
  double kernel_seconds = 0;
  // Welford's running mean and variance: the noise after each sample without revisiting the others (a
  // noisy microsecond kernel takes thousands of samples).
  double mean = 0, squares = 0;
  for (;;) {
    if (cancelled()) throw Cancelled{};
    const double ms = prepared.runTimed();
    samples_ms.push_back(ms);
    rank_samples.add(prepared.rankMs());
    kernel_seconds += ms / 1e3;
    const auto n = static_cast<int>(samples_ms.size());
    const double delta = ms - mean;
    mean += delta / n;
    squares += delta * (ms - mean);
    if (spec.repetitions > 0) {
      if (n == spec.repetitions) return true;
      continue;
    }
    if (n < rule.min_samples) continue;
    const double noise_percent = n > 1 && mean > 0 ? 100.0 * std::sqrt(squares / (n - 1)) / mean : 0.0;
    if (kernel_seconds >= rule.min_time_s && noise_percent <= rule.max_noise_percent) return true;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= rule.timeout_s) return false;
  }
}

void Runner::recordClocks(PointResult& r, const std::optional<SmClockReading>& before,
                          const std::optional<SmClockReading>& after) {
  if (!before || !after) return;
  r.sm_clock_start_mhz = before->current_mhz;
  r.sm_clock_end_mhz = after->current_mhz;
  r.sm_clock_max_mhz = std::max(before->max_mhz, after->max_mhz);
  const double floor = kThrottledClockFraction * r.sm_clock_max_mhz;
  r.throttled = r.sm_clock_max_mhz > 0 && std::min(r.sm_clock_start_mhz, r.sm_clock_end_mhz) < floor;
}

PointResult Runner::runPointTimed(const SweepSpec& spec, const SweepPoint& point, double& kernel_ms) {
  if (point.isInference()) {
    const auto check_cancel = [this] {
      if (cancelled()) throw Cancelled{};
    };
    return inference_->run(spec, point, device_, spec.max_memory_bytes.value_or(backend_.memoryBudgetBytes()),
                           check_cancel, kernel_ms);
  }
  PointResult r = PointResult::started(point);

  if (std::string reason = backend_.unsupportedReason(point); !reason.empty()) {
    return r.finish(PointStatus::Skipped, reason);
  }
  r.predicted_bytes = backend_.predictBytes(point);
  const std::uint64_t budget = spec.max_memory_bytes.value_or(backend_.memoryBudgetBytes());
  if (r.predicted_bytes > budget) {
    return r.finish(PointStatus::Skipped, "would need " + formatBytes(r.predicted_bytes) + ", limit " + formatBytes(budget) +
                                            (spec.max_memory_bytes ? " (--max-memory)" : " (free device memory)"));
  }

  std::unique_ptr<PreparedPoint> prepared;
  try {
    prepared = backend_.prepare(point, pointInputSeed(spec.seed, point), budget);
  } catch (const OutOfMemory& e) {
    return r.finish(PointStatus::Oom, e.what());
  } catch (const DeviceFault&) {
    throw;
  } catch (const std::runtime_error& e) {
    return r.finish(PointStatus::Error, e.what());
  }
  r.tile = prepared->resolvedTile();
  r.splits = prepared->splits();
  try {
    for (int i = 0; i < spec.warmup; ++i) {
      if (cancelled()) throw Cancelled{};
      kernel_ms += prepared->runTimed();
    }
    const std::optional<SmClockReading> clock_before = backend_.readSmClock();
    RankSamples rank_samples;
    r.noisy = !takeSamples(spec, *prepared, r.samples_ms, rank_samples);
    r.rank_ms = rank_samples.medians();
    for (const double ms : r.samples_ms) kernel_ms += ms;
    recordClocks(r, clock_before, backend_.readSmClock());
  } catch (const OutOfMemory& e) {
    r.peak_bytes = prepared->peakBytes();
    return r.finish(PointStatus::Oom, e.what());
  } catch (const DeviceFault&) {
    throw;
  } catch (const std::runtime_error& e) {
    r.peak_bytes = prepared->peakBytes();
    return r.finish(PointStatus::Error, e.what());
  }
  r.stats = computeStats(r.samples_ms);
  computeRates(r, device_.ceilings);
  r.peak_bytes = prepared->peakBytes();

  std::string note;
  if (r.peak_bytes != r.predicted_bytes) {
    note = "peak " + formatBytes(r.peak_bytes) + " differs from the prediction " + formatBytes(r.predicted_bytes);
  }
  if (spec.check_correctness) {
    std::optional<double> baseline_error;
    if (point.kernel != KernelKind::Standard) {
      if (auto it = baseline_errors_.find(pointInputSeed(spec.seed, point)); it != baseline_errors_.end()) {
        baseline_error = it->second;
      }
    }
    r.correctness = checkCorrectness(*prepared, point.shape, pointInputSeed(spec.seed, point), baseline_error);
    if (point.kernel == KernelKind::Standard && r.correctness->passed) {
      baseline_errors_[pointInputSeed(spec.seed, point)] = r.correctness->max_abs_error;
    }
    if (!r.correctness->passed) {
      const auto& c = *r.correctness;
      std::string why = c.unwritten > 0 ? std::to_string(c.unwritten) + " output elements never written"
                                        : "max error " + std::to_string(c.max_abs_error) + " > tolerance " +
                                              std::to_string(c.tolerance);
      return r.finish(PointStatus::Failed, note.empty() ? why : why + "; " + note);
    }
  }
  return r.finish(PointStatus::Ok, note);
}

DeviceInfo Runner::deviceWithCeilings() {
  DeviceInfo device = backend_.device();
  device.ceilings = store_->cachedCeilings(device.fingerprint);
  if (!device.ceilings && measure_ceilings_) {
    device.ceilings = backend_.measureCeilings();
    store_->cacheCeilings(device, *device.ceilings);
  }
  return device;
}

void Runner::setShard(const RankInfo& rank, std::string sweep_uid) {
  rank_ = rank;
  sweep_uid_ = std::move(sweep_uid);
}

namespace {
// The points of the whole expansion that the plan gives `rank` of `world_size`, in sweep order.
std::vector<SweepPoint> pointsOfRank(const SweepSpec& spec, const std::vector<SweepPoint>& all, int rank, int world_size) {
  const std::vector<int> plan = planShards(spec, all, world_size);
  std::vector<SweepPoint> own;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (plan[i] == rank) own.push_back(all[i]);
  }
  return own;
}
}  // namespace

RunOutcome Runner::run(const SweepSpec& spec) {
  validateSpec(spec);
  std::vector<SweepPoint> points = expandPoints(spec);
  std::optional<RunShard> shard;
  if (rank_) {
    points = pointsOfRank(spec, points, rank_->rank, rank_->world_size);
    shard = RunShard{sweep_uid_, rank_->rank, rank_->world_size};
  }
  device_ = deviceWithCeilings();
  const std::int64_t run_id = store_->createRun(spec, device_, static_cast<int>(points.size()), shard);
  if (rank_) store_->addProvenance(run_id, rankProvenance(*rank_, sweep_uid_));
  return runPoints(run_id, spec, points, {}, false);
}

std::vector<SweepPoint> pointsToResume(Store& store, const RunRecord& run, std::vector<PointResult>& earlier) {
  // Points never recorded, and points that ended in an error (a device fault, a kernel error), run again.
  std::set<int> done;
  for (auto& r : store.loadPoints(run.id)) {
    if (r.status == PointStatus::Error) continue;
    done.insert(r.point.index);
    earlier.push_back(std::move(r));
  }
  std::vector<SweepPoint> missing;
  std::vector<SweepPoint> share = expandPoints(run.spec);
  if (run.shard && run.shard->rank != RunShard::kAllRanks) {
    share = pointsOfRank(run.spec, share, run.shard->rank, run.shard->world_size);
  }
  for (const auto& p : share) {
    if (!done.count(p.index)) missing.push_back(p);
  }
  return missing;
}

RunOutcome Runner::resume(std::int64_t run_id) {
  const RunRecord run = store_->requireRun(run_id);
  store_->claimRun(run_id);  // refuses a run that a live process is still measuring
  std::vector<PointResult> earlier;
  const std::vector<SweepPoint> missing = pointsToResume(*store_, run, earlier);
  device_ = deviceWithCeilings();
  return runPoints(run_id, run.spec, missing, std::move(earlier), true);
}

const DeviceInfo& Runner::startWorker(const SweepSpec& spec, const std::optional<DeviceCeilings>& ceilings) {
  backend_.setTimingOptions({spec.l2_flush, spec.cuda_graph, spec.threads, spec.timing});
  device_ = backend_.device();
  device_.ceilings = ceilings;
  if (!ceilings && measure_ceilings_) device_.ceilings = backend_.measureCeilings();
  return device_;
}

std::optional<PointResult> Runner::runUnrecorded(const SweepSpec& spec, const SweepPoint& point,
                                                 std::optional<double> baseline_error, double& kernel_ms) {
  if (baseline_error && point.kernel != KernelKind::Standard) {
    baseline_errors_[pointInputSeed(spec.seed, point)] = *baseline_error;
  }
  try {
    return runPointTimed(spec, point, kernel_ms);
  } catch (const Cancelled&) {
    return std::nullopt;
  }
}

RunOutcome Runner::runPoints(std::int64_t run_id, const SweepSpec& spec, const std::vector<SweepPoint>& points,
                             std::vector<PointResult> earlier, bool resumed) {
  backend_.setTimingOptions({spec.l2_flush, spec.cuda_graph, spec.threads, spec.timing});
  // What the run is measured with, recorded at its start; a resume adds what differs now (resumed.*).
  const Provenance provenance = collectProvenance(spec, backend_);
  store_->addProvenance(run_id, resumed ? resumeChanges(store_->requireRun(run_id).provenance, provenance) : provenance);
  RunOutcome outcome;
  outcome.run_id = run_id;
  outcome.results = std::move(earlier);
  for (const auto& r : outcome.results) {  // a resumed run keeps its standard points' bars
    if (r.point.kernel == KernelKind::Standard && r.correctness && r.correctness->passed) {
      baseline_errors_[pointInputSeed(spec.seed, r.point)] = r.correctness->max_abs_error;
    }
  }
  const int total = static_cast<int>(points.size() + outcome.results.size());
  emit(RunStartedEvent{run_id, store_->path(), spec.name, total, static_cast<int>(outcome.results.size()), resumed,
                       device_, specToJson(spec), store_->requireRun(run_id).provenance});

  const auto t0 = std::chrono::steady_clock::now();
  double kernel_ms = 0;
  RunStatus status = RunStatus::Completed;
  HeartbeatThread heartbeat(store_->path(), run_id);
  try {
    for (const SweepPoint& point : points) {
      if (cancelled()) throw Cancelled{};
      emit(PointStartedEvent{run_id, point});
      PointResult r;
      try {
        r = runPointTimed(spec, point, kernel_ms);
      } catch (const DeviceFault& e) {
        // Record the point that hit the fault, then end the run: the context is unusable.
        r = PointResult::started(point).finish(PointStatus::Error, std::string("device fault: ") + e.what());
        store_->recordPoint(run_id, r);
        throw;
      }
      store_->recordPoint(run_id, r);
      outcome.results.push_back(r);
      emit(PointFinishedEvent{run_id, static_cast<int>(outcome.results.size()), total, r});
    }
  } catch (const Cancelled&) {
    status = RunStatus::Interrupted;
  } catch (const StoreWriteError& e) {
    stopOnStoreError(run_id, outcome.results.size(), e);
  } catch (const DeviceFault& e) {
    store_->setRunStatus(run_id, RunStatus::Failed);
    emit(NoteEvent{"warning", std::string("device fault: ") + e.what()});
    throw;
  }
  outcome.status = status;
  outcome.wall_seconds = secondsSince(t0);
  outcome.kernel_seconds = kernel_ms / 1e3;
  try {
    store_->addProvenance(run_id, backend_.provenance(RunMoment::End));
    store_->setRunStatus(run_id, status);
  } catch (const StoreWriteError& e) {
    stopOnStoreError(run_id, outcome.results.size(), e);
  }

  std::map<std::string, int> counts;
  for (const auto& r : outcome.results) ++counts[statusName(r.status)];
  emit(RunFinishedEvent{run_id, status, counts, outcome.wall_seconds, outcome.kernel_seconds});
  return outcome;
}

void Runner::stopOnStoreError(std::int64_t run_id, std::size_t saved_points, const StoreWriteError& e) {
  // Rewriting one row usually fits in the space the failed transaction had claimed; if not, the run
  // still reads as interrupted once this process has exited (its owner is gone).
  try {
    store_->setRunStatus(run_id, RunStatus::Interrupted);
  } catch (const std::exception&) {
  }
  const std::string id = std::to_string(run_id);
  const std::string message = std::string(e.what()) + ". Run " + id + " stopped and reads as interrupted; its " +
                              std::to_string(saved_points) + " completed point(s) are saved. Once there is room, " +
                              "finish it with `attnbench --batch --resume " + id + " --db " + store_->path() + "`";
  emit(NoteEvent{"warning", message});
  throw StoreWriteError(message, e.reason());
}

}  // namespace attnbench
