// Predicted cost of a sweep's points, for time estimates: before a run, the sweep's time from each
// point's arithmetic and memory traffic over the device's measured ceilings; during a run, the time
// left from the points still to run weighted by that cost and scaled by the pace measured so far.
// Cost grows with B*H*N^2*D, so an average over the points done (small ones first) is far too low.
#pragma once

#include <optional>
#include <vector>

#include "attnbench/device_info.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

// Work of one invocation of a point's kernel.
struct KernelWork {
  double flops = 0;  // SweepPoint::flops()
  double bytes = 0;  // Q, K, V, O; for the standard kernel also the N x N scores written and read
};
KernelWork kernelWork(const SweepPoint& point);

// Predicted seconds of one point of `spec` on a device with `ceilings`: its warm-up and timed runs at
// a fixed fraction of the roofline, its input fill and fp64 reference check, a fixed overhead; a
// point whose memory will not fit the budget (spec's max_memory, else the device's memory) is
// skipped at once and costs the overhead only.
double predictedPointSeconds(const SweepPoint& point, const SweepSpec& spec, const DeviceInfo& device,
                             const DeviceCeilings& ceilings);

// Time left in a run. Feed it the run's start, then each finished point; times are in seconds on any
// one clock.
class SweepEta {
 public:
  // Weights every point of the expanded sweep; without measured ceilings, nominal ones set the
  // weights and no estimate is given before the first point.
  SweepEta(const SweepSpec& spec, const DeviceInfo& device);

  // The whole sweep before it runs, at the measured ceilings; nullopt without them.
  std::optional<double> predictedTotalSeconds() const;
  // Starts (or resumes, with the indices already recorded) at `now`.
  void start(double now, const std::vector<int>& done_indices = {});
  void pointFinished(int index, double now);
  // Seconds left: the remaining points' predicted cost at the pace of the points finished since
  // start(); before the first of them, the prediction (nullopt without ceilings).
  std::optional<double> remainingSeconds(double now) const;
  int pointCount() const { return static_cast<int>(cost_.size()); }
  // The share of the sweep's predicted cost already done (recorded before start() included).
  double fractionDone() const;

 private:
  std::vector<double> cost_;  // predicted seconds by point index
  std::vector<bool> done_;
  bool measured_ceilings_ = false;
  double remaining_cost_ = 0;
  double cost_done_here_ = 0;  // predicted seconds of the points finished since start()
  double start_ = 0;
  double last_finish_ = 0;
};

}  // namespace attnbench
