// What one benchmark point produced. The store, the exporters, the event stream and the GUI all speak
// this struct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/device_info.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

enum class PointStatus {
  Ok,       // ran, and (when checked) the output was correct
  Failed,   // ran, but the output was wrong (correctness check failed)
  Oom,      // an allocation failed although the prediction fitted
  Skipped,  // not run: unsupported combination or predicted memory over the budget (see message)
  Error     // the kernel or the device reported an error
};

std::string statusName(PointStatus status);
PointStatus parseStatus(const std::string& s);

struct SampleStats {
  double median_ms = 0, mean_ms = 0, std_ms = 0, min_ms = 0, max_ms = 0;
};

// Median/mean/sample-std/min/max of `samples_ms` (empty -> zeros).
SampleStats computeStats(const std::vector<double>& samples_ms);

// A tensor parallel point's samples by rank: add() takes one sample's rank times (times `scale`).
class RankSamples {
 public:
  void add(const std::vector<double>& ms, double scale = 1.0);
  std::vector<double> medians() const;  // by rank; empty when nothing was added

 private:
  std::vector<std::vector<double>> by_rank_;
};

struct CorrectnessResult {
  double max_abs_error = 0;        // kernel output vs fp64 reference, over the checked rows
  double max_rel_error = 0;        // max |err| / max |ref| over the checked rows
  // The bar: the error of standard attention vs fp64 on the same rows. Measured from the standard
  // point of the same shape when it ran ok in this run (it runs first), else emulated on the host
  // (scores and probabilities rounded to the storage dtype, as the baseline stores them).
  double reference_error = 0;
  double tolerance = 0;            // 2 x reference_error plus a small floor (flash-attention's rule)
  std::int64_t checked_rows = 0;   // query rows compared
  std::int64_t unwritten = 0;      // output elements still holding the poison after the run
  bool passed = false;
};

// What an inference point measured (Workload::Inference only). Its samples_ms are the decode time per
// token with the KV cache, one sample per repetition (the repetition's new_tokens steps / new_tokens), so
// median_ms is the point's ms/token; time to first token and the rest are here.
struct InferenceMetrics {
  double ttft_ms = 0;                 // median prefill of the N-token prompt (after `depth` cached tokens)
  double ttft_min_ms = 0, ttft_max_ms = 0;
  double decode_no_cache_ms = 0;      // one step without a KV cache (depth + N + 1 tokens recomputed), median
  double tokens_per_s = 0;            // batch / decode ms per token
  double prefill_tflops = 0;          // prefill FLOPs (projections, causal attention, LM head) / ttft
  double ttft_over_gemm_bound = 0;    // ttft / (prefill FLOPs / the measured GEMM ceiling); 0: no ceiling
  double decode_gbps = 0;             // bytes read per step (weights but the embedding table, K and V at the
                                      // steps' mean context) / decode time per token
  double decode_copy_fraction = 0;    // decode_gbps / the measured copy bandwidth; 0: no ceiling
  std::uint64_t weights_bytes = 0, kv_cache_bytes = 0, activation_bytes = 0;  // allocated, by kind
  // --check_correctness: last-position logits of the prompt and of each checked decode step, teacher-
  // forced with the same tokens, against the standard kernel's point of the same shape and against an
  // fp32 reference on the CPU (tiny models only); unset where that comparison did not run.
  std::optional<double> vs_standard_max_abs_diff, vs_standard_top1;
  std::optional<double> vs_fp32_max_abs_diff, vs_fp32_top1;
  // Tensor parallel (point.tensor_parallel ranks): each repetition's times above are the
  // slowest rank's; these are each rank's medians, by rank (one entry on one device). The all-reduce
  // of one layer's residual stream, timed alone (mean of calls back to back) at a decode step's size
  // (batch x hidden) and at the prefill's (batch x N x hidden), with its bus bandwidth as nccl-tests
  // defines it (bytes / time x 2 (T - 1) / T); a forward does 2 x layers of them; 0 on one rank.
  std::vector<double> rank_ttft_ms, rank_decode_ms;
  double allreduce_decode_ms = 0, allreduce_decode_busbw_gbps = 0;
  double allreduce_prefill_ms = 0, allreduce_prefill_busbw_gbps = 0;
};

struct PointResult {
  SweepPoint point;
  PointStatus status = PointStatus::Ok;
  std::string message;  // skip reason, error text, or a note ("peak 3% above prediction")
  TileShape tile;       // the tile that actually ran (auto resolved)
  int splits = 0;       // decode: the key ranges per sequence flash decode ran with (0: not flash decode)
  // Each sample is the time of the slowest rank of a tensor parallel point (point.tensor_parallel > 1, the
  // ranks running their heads at once); rank_ms holds each rank's median, by rank (empty on one device).
  std::vector<double> samples_ms;
  std::vector<double> rank_ms;
  SampleStats stats;
  // The noise rule ended sampling at its timeout with the spread still above --max-noise (never set
  // when --repetitions fixed the count).
  bool noisy = false;
  // SM clock before the first and after the last sample, and the clock's maximum, in MHz (NVML); 0 where
  // unknown (the CPU, or no NVML). Throttled: a reading below kThrottledClockFraction of the maximum.
  int sm_clock_start_mhz = 0, sm_clock_end_mhz = 0, sm_clock_max_mhz = 0;
  bool throttled = false;
  double tflops = 0;  // point.flops() / median
  // Roofline: compulsory bytes over the median, and the fractions of the device's measured ceilings
  // (0 where the ceilings are unknown or the point did not run).
  double gbps = 0;                 // compulsoryBytes(point) / median, GB/s
  double gemm_fraction = 0;        // tflops / the measured GEMM ceiling
  double bandwidth_fraction = 0;   // gbps / the measured copy bandwidth
  std::uint64_t predicted_bytes = 0;
  std::uint64_t peak_bytes = 0;  // tracking allocator peak during the point
  std::optional<CorrectnessResult> correctness;
  std::optional<InferenceMetrics> inference;  // inference points that ran
  std::string started_at, finished_at;  // ISO 8601 UTC
  // The worker process that ran the point, in a run spread over several (--gpus, --workers): its label
  // ("gpu3", "worker1"), the GPU index that --gpus named (-1: a CPU worker), and its device's name
  // with the PCI bus id where known. Empty label: the run's one process on the run's device.
  std::string worker;
  int device_index = -1;
  std::string worker_device;

  // A point's result as it starts (the point and the start time), and its end: the outcome and its
  // message stamped with the finish time, returned as a copy for the runner to hand on.
  static PointResult started(const SweepPoint& point);
  PointResult finish(PointStatus outcome, std::string text);
};

// The bytes a kernel must move through device memory at the least: Q, K and V read once, O written once;
// the standard kernel also writes the score matrix, reads it and writes the probabilities in place (the
// softmax), and reads them again (PV): four passes over B*H*Nq*Nk elements.
double compulsoryBytes(const SweepPoint& point);

// A clock below this fraction of its maximum marks a point's samples as throttled.
constexpr double kThrottledClockFraction = 0.75;

// Relative standard deviation of the samples, in percent (0 for fewer than two).
double noisePercent(const SampleStats& stats);

// Fills tflops and the roofline fields of a point that ran, from its median and the device's ceilings.
void computeRates(PointResult& result, const std::optional<DeviceCeilings>& ceilings);

nlohmann::json pointResultToJson(const PointResult& r);
PointResult pointResultFromJson(const nlohmann::json& j);

// Now as ISO 8601 UTC with milliseconds ("2026-11-25T13:45:00.123Z").
std::string isoTimestampNow();

}  // namespace attnbench
