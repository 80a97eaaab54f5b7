#include "attnbench/results.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <numeric>

#include "attnbench/errors.h"
#include "attnbench/result_fields.h"

namespace attnbench {

std::string statusName(PointStatus status) {
  switch (status) {
    case PointStatus::Ok: return "ok";
    case PointStatus::Failed: return "failed";
    case PointStatus::Oom: return "oom";
    case PointStatus::Skipped: return "skipped";
    case PointStatus::Error: return "error";
  }
  return "error";
}

PointStatus parseStatus(const std::string& s) {
  for (PointStatus st : {PointStatus::Ok, PointStatus::Failed, PointStatus::Oom, PointStatus::Skipped, PointStatus::Error}) {
    if (statusName(st) == s) return st;
  }
  throw InputError("unknown point status '" + s + "'");
}

SampleStats computeStats(const std::vector<double>& samples) {
  SampleStats st;
  if (samples.empty()) return st;
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  st.median_ms = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  st.min_ms = sorted.front();
  st.max_ms = sorted.back();
  st.mean_ms = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n);
  if (n > 1) {
    double ss = 0;
    for (double x : sorted) ss += (x - st.mean_ms) * (x - st.mean_ms);
    st.std_ms = std::sqrt(ss / static_cast<double>(n - 1));
  }
  return st;
}

void RankSamples::add(const std::vector<double>& ms, double scale) {
  by_rank_.resize(std::max(by_rank_.size(), ms.size()));
  for (std::size_t r = 0; r < ms.size(); ++r) by_rank_[r].push_back(ms[r] * scale);
}

std::vector<double> RankSamples::medians() const {
  std::vector<double> out;
  for (const auto& samples : by_rank_) out.push_back(computeStats(samples).median_ms);
  return out;
}

double noisePercent(const SampleStats& stats) { return stats.mean_ms > 0 ? 100.0 * stats.std_ms / stats.mean_ms : 0.0; }

double compulsoryBytes(const SweepPoint& p) {
  const double element = kernels::bytesPerElement(p.shape.dtype);
  const double rows_q = static_cast<double>(p.shape.batch) * p.shape.heads_q * p.shape.seq_q;
  const double rows_kv = static_cast<double>(p.shape.batch) * p.shape.heads_kv * p.shape.seq_kv;
  double bytes = element * p.shape.head_dim * (2 * rows_q + 2 * rows_kv);  // Q, O; K, V
  if (p.kernel == KernelKind::Standard) bytes += 4 * element * rows_q * p.shape.seq_kv;
  return bytes;
}

void computeRates(PointResult& r, const std::optional<DeviceCeilings>& ceilings) {
  r.tflops = r.gbps = r.gemm_fraction = r.bandwidth_fraction = 0;
  if (r.stats.median_ms <= 0) return;
  const double seconds = r.stats.median_ms * 1e-3;
  r.tflops = r.point.flops() / seconds / 1e12;
  r.gbps = compulsoryBytes(r.point) / seconds / 1e9;
  if (ceilings && ceilings->gemm_tflops > 0) r.gemm_fraction = r.tflops / ceilings->gemm_tflops;
  if (ceilings && ceilings->copy_gbps > 0) r.bandwidth_fraction = r.gbps / ceilings->copy_gbps;
}

nlohmann::json pointResultToJson(const PointResult& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : resultFields()) j[std::string(f.name)] = fieldToJson(f.get(r));
  j["samples_ms"] = r.samples_ms;
  return j;
}

PointResult pointResultFromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw InputError("a point result must be a JSON object");
  // attnbench 0.1 nested the correctness fields in an object of that name: read those files too.
  nlohmann::json flat = j;
  if (const auto nested = j.find("correctness"); nested != j.end() && nested->is_object()) {
    for (const auto& [key, value] : nested->items()) flat[key] = value;
  }
  PointResult r;
  for (const auto& f : resultFields()) {
    if (f.derived()) continue;
    const auto it = flat.find(std::string(f.name));
    if (it == flat.end()) continue;
    f.set(r, fieldFromJson(f.type, *it, f.name));
  }
  if (const auto samples = j.find("samples_ms"); samples != j.end()) {
    if (!samples->is_array()) throw InputError("result field 'samples_ms' must be an array of numbers");
    for (const auto& s : *samples) {
      if (!s.is_number()) throw InputError("result field 'samples_ms' must be an array of numbers");
      r.samples_ms.push_back(s.get<double>());
    }
  }
  return r;
}

std::string isoTimestampNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

PointResult PointResult::started(const SweepPoint& point) {
  PointResult r;
  r.point = point;
  r.started_at = isoTimestampNow();
  return r;
}

PointResult PointResult::finish(PointStatus outcome, std::string text) {
  status = outcome;
  message = std::move(text);
  finished_at = isoTimestampNow();
  return *this;
}

}  // namespace attnbench
