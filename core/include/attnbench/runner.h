// Runs a sweep on a backend: for each point predict memory, skip or prepare, warm up, take samples,
// check correctness, record in the store, and report progress as events.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/backend.h"
#include "attnbench/errors.h"
#include "attnbench/events.h"
#include "attnbench/ranks.h"
#include "attnbench/results.h"
#include "attnbench/store.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

// Receives the run's events as they happen (events.h; docs/EVENTS.md for their JSON).
using EventSink = std::function<void(const RunEvent&)>;

struct RunOutcome {
  std::int64_t run_id = 0;
  RunStatus status = RunStatus::Completed;
  std::vector<PointResult> results;  // every point of the run (earlier ones too when resuming)
  double wall_seconds = 0;           // whole sweep, from the first point to the last
  double kernel_seconds = 0;         // sum of warm-up and timed runs of this invocation
  int failed_points() const;         // Failed or Error
};

class InferencePointRunner;

class Runner {
 public:
  Runner(Store& store, Backend& backend, EventSink sink);
  // A runner without a store, for a pool worker whose parent records the points (docs/CLUSTER.md):
  // only startWorker and runUnrecorded may be called.
  explicit Runner(Backend& backend);
  ~Runner();
  // Set from a signal handler or the GUI; checked between samples. The point in progress is dropped
  // and the run is marked interrupted.
  void setCancelFlag(const std::atomic<bool>* cancel) { cancel_ = cancel; }

  // Measure the device's ceilings (copy bandwidth, GEMM) when the store has none cached (default on).
  void setMeasureCeilings(bool on) { measure_ceilings_ = on; }

  // Makes run() one rank's share of a sweep sharded over `rank.world_size` processes: it runs only the
  // points planShards gives this rank (each keeping its index in the whole sweep) and records the run
  // as part of sweep `sweep_uid`.
  void setShard(const RankInfo& rank, std::string sweep_uid);

  RunOutcome run(const SweepSpec& spec);
  // Finishes the points of `run_id` that have no record yet or ended in an error, with the run's stored spec
  // (of a rank's run, only the points of its share).
  // InputError when another live process is still running it. A database write that fails (a full
  // disk) ends run() and resume() with a StoreWriteError that says how to resume.
  RunOutcome resume(std::int64_t run_id);

  // A pool worker's start: the timing options of `spec`, and the device with `ceilings` (measured now
  // when nullopt, unless setMeasureCeilings(false)). Returns the device.
  const DeviceInfo& startWorker(const SweepSpec& spec, const std::optional<DeviceCeilings>& ceilings);
  // Runs one point of `spec` without recording it and adds its kernel time to `kernel_ms`; nullopt when
  // the cancel flag stopped it. A DeviceFault propagates. The correctness bar is `baseline_error` when
  // given (the standard kernel's measured error on the point's inputs, measured by another process),
  // else, as in run(), the error of the standard point of the same inputs this runner ran.
  std::optional<PointResult> runUnrecorded(const SweepSpec& spec, const SweepPoint& point,
                                           std::optional<double> baseline_error, double& kernel_ms);

 private:
  RunOutcome runPoints(std::int64_t run_id, const SweepSpec& spec, const std::vector<SweepPoint>& points,
                       std::vector<PointResult> earlier, bool resumed);
  // Runs one point (no store) and adds the time of every kernel run (warm-up included) to `kernel_ms`.
  PointResult runPointTimed(const SweepSpec& spec, const SweepPoint& point, double& kernel_ms);
  // Runs the timed samples: spec.repetitions of them, or as many as spec.sampling asks. False when the
  // noise rule's timeout ended them first (the point is noisy).
  bool takeSamples(const SweepSpec& spec, PreparedPoint& prepared, std::vector<double>& samples_ms,
                   RankSamples& rank_samples);
  static void recordClocks(PointResult& result, const std::optional<SmClockReading>& before,
                           const std::optional<SmClockReading>& after);
  DeviceInfo deviceWithCeilings();
  // Marks the run interrupted (as far as the disk allows) and rethrows `e` with how to resume it.
  [[noreturn]] void stopOnStoreError(std::int64_t run_id, std::size_t saved_points, const StoreWriteError& e);
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(); }
  void emit(const RunEvent& event) const;

  Store* store_;  // null in a pool worker's runner
  Backend& backend_;
  EventSink sink_;
  const std::atomic<bool>* cancel_ = nullptr;
  bool measure_ceilings_ = true;
  std::optional<RankInfo> rank_;  // set by setShard
  std::string sweep_uid_;
  DeviceInfo device_;  // the backend's device with its ceilings, for the run record and events
  // Measured error of each shape's standard point (keyed by the shape's input seed): flash's bar.
  std::map<std::uint64_t, double> baseline_errors_;
  std::unique_ptr<InferencePointRunner> inference_;  // the inference workload's points (the engine)
};

// The seed of a point's random inputs. It depends on the shape only (not the kernel or tile), so every
// kernel of one shape sees the same Q, K, V and flash is checked against the standard kernel's error.
std::uint64_t pointInputSeed(std::uint64_t spec_seed, const SweepPoint& point);

// The points of `run` that a resume measures: those never recorded or recorded as an error (of a rank's
// run, only its share), in sweep order. `earlier` receives the recorded points it keeps.
std::vector<SweepPoint> pointsToResume(Store& store, const RunRecord& run, std::vector<PointResult>& earlier);

// Checks the sampled rows of a prepared, already-run point against an fp64 reference. The rows depend
// only on `seed`, so points of one shape are checked on the same rows. `baseline_error`: the measured
// error of the standard kernel on those rows, when known; else the bar is emulated.
CorrectnessResult checkCorrectness(PreparedPoint& prepared, const kernels::AttentionShape& shape, std::uint64_t seed,
                                   std::optional<double> baseline_error = std::nullopt);

}  // namespace attnbench
