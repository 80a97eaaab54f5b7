#include "attnbench/results.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <numeric>

#include "attnbench/errors.h"

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

nlohmann::json pointResultToJson(const PointResult& r) {
  const SweepPoint& p = r.point;
  nlohmann::json j = {
      {"index", p.index},
      {"model", p.model.name},
      {"heads_q", p.model.heads},
      {"heads_kv", p.model.kv_heads},
      {"head_dim", p.model.head_dim},
      {"batch", p.batch},
      {"seq_len", p.seq_len},
      {"dtype", std::string(kernels::dtypeName(p.dtype))},
      {"causal", p.causal},
      {"kernel", kernelName(p.kernel)},
      {"tile_requested", tileName(p.tile)},
      {"tile", p.kernel == KernelKind::Flash ? tileName(r.tile) : "-"},
      {"status", statusName(r.status)},
      {"message", r.message},
      {"samples_ms", r.samples_ms},
      {"median_ms", r.stats.median_ms},
      {"mean_ms", r.stats.mean_ms},
      {"std_ms", r.stats.std_ms},
      {"min_ms", r.stats.min_ms},
      {"max_ms", r.stats.max_ms},
      {"flops", p.flops()},
      {"tflops", r.tflops},
      {"predicted_bytes", r.predicted_bytes},
      {"peak_bytes", r.peak_bytes},
      {"started_at", r.started_at},
      {"finished_at", r.finished_at},
  };
  if (r.correctness) {
    const CorrectnessResult& c = *r.correctness;
    j["correctness"] = {{"max_abs_error", c.max_abs_error}, {"max_rel_error", c.max_rel_error},
                        {"reference_error", c.reference_error}, {"tolerance", c.tolerance},
                        {"checked_rows", c.checked_rows}, {"unwritten", c.unwritten}, {"passed", c.passed}};
  } else {
    j["correctness"] = nullptr;
  }
  return j;
}

PointResult pointResultFromJson(const nlohmann::json& j) {
  PointResult r;
  SweepPoint& p = r.point;
  p.index = j.at("index").get<int>();
  p.model.name = j.at("model").get<std::string>();
  p.model.display_name = p.model.name;
  p.model.heads = j.at("heads_q").get<int>();
  p.model.kv_heads = j.at("heads_kv").get<int>();
  p.model.head_dim = j.at("head_dim").get<int>();
  p.batch = j.at("batch").get<int>();
  p.seq_len = j.at("seq_len").get<int>();
  p.dtype = parseDType(j.at("dtype").get<std::string>());
  p.causal = j.at("causal").get<bool>();
  p.kernel = parseKernel(j.at("kernel").get<std::string>());
  p.tile = parseTile(j.value("tile_requested", "auto"));
  const std::string tile = j.value("tile", "-");
  r.tile = tile == "-" ? TileShape{} : parseTile(tile);
  r.status = parseStatus(j.at("status").get<std::string>());
  r.message = j.value("message", "");
  r.samples_ms = j.value("samples_ms", std::vector<double>{});
  r.stats = {j.value("median_ms", 0.0), j.value("mean_ms", 0.0), j.value("std_ms", 0.0), j.value("min_ms", 0.0),
             j.value("max_ms", 0.0)};
  r.tflops = j.value("tflops", 0.0);
  r.predicted_bytes = j.value("predicted_bytes", std::uint64_t{0});
  r.peak_bytes = j.value("peak_bytes", std::uint64_t{0});
  if (j.contains("correctness") && j.at("correctness").is_object()) {
    const auto& c = j.at("correctness");
    r.correctness = CorrectnessResult{c.value("max_abs_error", 0.0), c.value("max_rel_error", 0.0),
                                      c.value("reference_error", 0.0), c.value("tolerance", 0.0),
                                      c.value("checked_rows", std::int64_t{0}), c.value("unwritten", std::int64_t{0}),
                                      c.value("passed", false)};
  }
  r.started_at = j.value("started_at", "");
  r.finished_at = j.value("finished_at", "");
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

}  // namespace attnbench
