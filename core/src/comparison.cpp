#include "attnbench/comparison.h"

#include <cmath>
#include <tuple>

namespace attnbench {
namespace {

// Rows are ordered as a reader groups them: one workload, model, dtype and mask at a time, then batch,
// N, the new rows and cache layout of a decode step, kernel.
using RowKey = std::tuple<int, std::string, std::string, bool, int, int, int, int, int, int, int, double, int,
                          std::string>;

RowKey rowKey(const SweepPoint& p) {
  return {static_cast<int>(p.workload), p.model.name, std::string(kernels::dtypeName(p.shape.dtype)),
          p.shape.causal, p.shape.batch, p.shape.heads_q, p.shape.heads_kv, p.shape.head_dim, p.shape.seq_kv,
          p.shape.seq_q, p.decode.page_size, p.decode.kv_lens_spread, p.decode.splits, kernelName(p.kernel)};
}

bool ranOk(const PointResult* r) { return r != nullptr && r->status == PointStatus::Ok && r->stats.median_ms > 0; }

}  // namespace

std::string verdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::Same: return "same";
    case Verdict::Faster: return "faster";
    case Verdict::Slower: return "slower";
    case Verdict::Missing: return "-";
  }
  return "-";
}

Verdict compareIntervals(const PointResult& baseline, const PointResult& point) {
  if (!ranOk(&baseline) || !ranOk(&point)) return Verdict::Missing;
  const double base_lo = baseline.stats.median_ms - baseline.stats.std_ms;
  const double base_hi = baseline.stats.median_ms + baseline.stats.std_ms;
  const double lo = point.stats.median_ms - point.stats.std_ms;
  const double hi = point.stats.median_ms + point.stats.std_ms;
  if (hi < base_lo) return Verdict::Faster;
  if (lo > base_hi) return Verdict::Slower;
  return Verdict::Same;
}

Comparison compareRuns(const std::vector<RunPoints>& runs) {
  Comparison out;
  std::map<RowKey, std::size_t> row_of;
  for (std::size_t run = 0; run < runs.size(); ++run) {
    for (const auto& r : runs[run].points) {
      const RowKey key = rowKey(r.point);
      auto [it, inserted] = row_of.try_emplace(key, out.rows.size());
      if (inserted) {
        const SweepPoint& p = r.point;
        ComparisonRow row{p.model.name, p.shape.batch, p.shape.seq_kv, p.shape.heads_q, p.shape.heads_kv, p.shape.head_dim,
                          std::string(kernels::dtypeName(p.shape.dtype)), p.shape.causal, kernelName(p.kernel), {},
                          p.workload, p.shape.seq_q};
        row.runs.resize(runs.size());
        out.rows.push_back(std::move(row));
      }
      // Several tiles of one kernel: the fastest ok one stands for the kernel.
      ComparedPoint& cell = out.rows[it->second].runs[run];
      if (ranOk(&r) && (!ranOk(cell.point) || r.stats.median_ms < cell.point->stats.median_ms)) cell.point = &r;
    }
  }
  // Present the rows in key order.
  std::vector<ComparisonRow> ordered;
  ordered.reserve(out.rows.size());
  for (const auto& [key, index] : row_of) ordered.push_back(std::move(out.rows[index]));
  out.rows = std::move(ordered);

  out.summaries.resize(runs.size());
  std::vector<std::map<std::string, double>> log_sums(runs.size());
  for (auto& row : out.rows) {
    const PointResult* base = row.runs.empty() ? nullptr : row.runs[0].point;
    for (std::size_t run = 0; run < row.runs.size(); ++run) {
      ComparedPoint& cell = row.runs[run];
      if (!ranOk(base) || !ranOk(cell.point)) {
        cell.verdict = Verdict::Missing;
        continue;
      }
      cell.ratio = cell.point->stats.median_ms / base->stats.median_ms;
      cell.verdict = run == 0 ? Verdict::Same : compareIntervals(*base, *cell.point);
      if (run == 0) continue;
      KernelSummary& s = out.summaries[run][row.kernel];
      ++s.points;
      s.faster += cell.verdict == Verdict::Faster;
      s.slower += cell.verdict == Verdict::Slower;
      log_sums[run][row.kernel] += std::log(cell.ratio);
    }
  }
  for (std::size_t run = 1; run < runs.size(); ++run) {
    for (auto& [kernel, s] : out.summaries[run]) s.geomean_ratio = std::exp(log_sums[run][kernel] / s.points);
  }
  return out;
}

}  // namespace attnbench
