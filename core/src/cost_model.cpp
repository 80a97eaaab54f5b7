#include "attnbench/cost_model.h"

#include <algorithm>

namespace attnbench {

namespace {

// Measured here (CPU, fp32, 2026-11) the kernels ran at 10-40% of the GEMM ceiling; on GPUs the flash
// kernel reaches about half of it. One fraction for both keeps the weights between points right,
// which is what the running ETA needs; the pace measured during the run corrects the scale.
constexpr double kRooflineFraction = 0.3;
// Per point: preparing, recording and reporting it (seconds).
constexpr double kPointOverheadSeconds = 0.005;
// The fp64 reference checks 48 rows of 3 heads (reference.cpp), 4 flops per key per head dimension,
// at about a GFLOP/s of scalar host code.
constexpr double kReferenceRows = 48.0 * 3.0;
constexpr double kHostReferenceFlopsPerSecond = 1e9;
// Filling Q, K and V with random values on the host side, bytes per second.
constexpr double kFillBytesPerSecond = 1e9;
// Where no ceilings were measured: only the ratio between them matters for the weights.
constexpr DeviceCeilings kNominalCeilings{100.0, 1.0, "nominal"};

double inputOutputBytes(const SweepPoint& p) {
  const double per_row = 2.0 * (p.shape.heads_q + p.shape.heads_kv) * p.shape.head_dim * kernels::bytesPerElement(p.shape.dtype);
  return per_row * p.shape.batch * p.shape.seq_kv;
}

double scoresBytes(const SweepPoint& p) {
  return p.kernel == KernelKind::Standard ? 4.0 * p.shape.batch * p.shape.heads_q * double(p.shape.seq_kv) * p.shape.seq_kv : 0.0;
}

}  // namespace

KernelWork kernelWork(const SweepPoint& point) {
  // The standard kernel writes the scores, reads them for the softmax, writes and reads the
  // probabilities: about three passes over an N x N matrix per head.
  return {point.flops(), inputOutputBytes(point) + 3.0 * scoresBytes(point)};
}

double predictedPointSeconds(const SweepPoint& point, const SweepSpec& spec, const DeviceInfo& device,
                             const DeviceCeilings& ceilings) {
  const double budget = spec.max_memory_bytes ? static_cast<double>(*spec.max_memory_bytes) : static_cast<double>(device.memory_bytes);
  if (budget > 0 && inputOutputBytes(point) + scoresBytes(point) > budget) return kPointOverheadSeconds;
  const KernelWork work = kernelWork(point);
  const double compute = ceilings.gemm_tflops > 0 ? work.flops / (ceilings.gemm_tflops * 1e12) : 0.0;
  const double memory = ceilings.copy_gbps > 0 ? work.bytes / (ceilings.copy_gbps * 1e9) : 0.0;
  const double runs = spec.warmup + (spec.repetitions > 0 ? spec.repetitions : spec.sampling.min_samples);
  double seconds = kPointOverheadSeconds + runs * std::max(compute, memory) / kRooflineFraction;
  seconds += inputOutputBytes(point) / kFillBytesPerSecond;
  if (spec.check_correctness) {
    seconds += kReferenceRows * 4.0 * point.shape.seq_kv * point.shape.head_dim / kHostReferenceFlopsPerSecond;
  }
  return seconds;
}

SweepEta::SweepEta(const SweepSpec& spec, const DeviceInfo& device) {
  measured_ceilings_ = device.ceilings && device.ceilings->gemm_tflops > 0 && device.ceilings->copy_gbps > 0;
  const DeviceCeilings& ceilings = measured_ceilings_ ? *device.ceilings : kNominalCeilings;
  for (const SweepPoint& p : expandPoints(spec)) {
    const auto i = static_cast<std::size_t>(p.index);
    if (cost_.size() <= i) cost_.resize(i + 1, 0.0);
    cost_[i] = predictedPointSeconds(p, spec, device, ceilings);
  }
  done_.assign(cost_.size(), false);
  remaining_cost_ = 0;
  for (double c : cost_) remaining_cost_ += c;
}

std::optional<double> SweepEta::predictedTotalSeconds() const {
  if (!measured_ceilings_) return std::nullopt;
  double total = 0;
  for (double c : cost_) total += c;
  return total;
}

void SweepEta::start(double now, const std::vector<int>& done_indices) {
  done_.assign(cost_.size(), false);
  remaining_cost_ = 0;
  for (int i : done_indices) {
    if (i >= 0 && static_cast<std::size_t>(i) < done_.size()) done_[static_cast<std::size_t>(i)] = true;
  }
  for (std::size_t i = 0; i < cost_.size(); ++i) {
    if (!done_[i]) remaining_cost_ += cost_[i];
  }
  cost_done_here_ = 0;
  start_ = last_finish_ = now;
}

void SweepEta::pointFinished(int index, double now) {
  if (index < 0 || static_cast<std::size_t>(index) >= done_.size() || done_[static_cast<std::size_t>(index)]) return;
  done_[static_cast<std::size_t>(index)] = true;
  const double cost = cost_[static_cast<std::size_t>(index)];
  remaining_cost_ = std::max(0.0, remaining_cost_ - cost);
  cost_done_here_ += cost;
  last_finish_ = now;
}

double SweepEta::fractionDone() const {
  double total = 0;
  for (double c : cost_) total += c;
  return total > 0 ? 1.0 - remaining_cost_ / total : 0.0;
}

std::optional<double> SweepEta::remainingSeconds(double now) const {
  if (cost_done_here_ <= 0) {
    if (!measured_ceilings_) return std::nullopt;
    return std::max(0.0, remaining_cost_ - (now - start_));
  }
  // The pace is measured up to the last finished point; the time since then is already spent on
  // the point in progress.
  const double pace = (last_finish_ - start_) / cost_done_here_;
  return std::max(0.0, remaining_cost_ * pace - (now - last_finish_));
}

}  // namespace attnbench
