// Comparing runs, the one set of rules that `attnbench compare` and the desktop application's Compare
// tab both use: points are matched by their problem and kernel, each run is measured against the first
// (the baseline) by the ratio of medians, and a difference counts only where the two runs' measured
// intervals (median ± one standard deviation of the samples) do not overlap — the spread decides, not a
// fixed percentage (the rule of nvbench's compare).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench {

struct RunPoints {
  RunRecord run;
  std::vector<PointResult> points;
};

enum class Verdict {
  Same,    // the intervals overlap: no measurable difference
  Faster,  // this run's interval lies entirely below the baseline's
  Slower,  // entirely above it
  Missing  // not run ok in one of the two runs
};
std::string verdictName(Verdict verdict);  // "same", "faster", "slower", "-"

struct ComparedPoint {
  const PointResult* point = nullptr;  // this run's ok point of the row (the fastest tile), or null
  double ratio = 0;                    // median / baseline median; 0 when either is missing
  Verdict verdict = Verdict::Missing;  // against the baseline (the baseline's own cell: Same)
};

struct ComparisonRow {
  std::string model;
  int batch = 0, seq_len = 0, heads_q = 0, heads_kv = 0, head_dim = 0;
  std::string dtype;
  bool causal = false;
  std::string kernel;
  std::vector<ComparedPoint> runs;  // one per compared run, the baseline first
  Workload workload = Workload::Attention;
  int q_len = 0;                    // query rows per sequence (N for attention, the new tokens of a decode step)
};

struct KernelSummary {
  double geomean_ratio = 0;  // geometric mean of the ratios over the points both runs have
  int points = 0;
  int faster = 0, slower = 0;  // points with a measurable difference
};

struct Comparison {
  std::vector<ComparisonRow> rows;  // grouped by model, dtype, causal, batch, then N and kernel
  // Per compared run (the baseline's entry stays empty): a summary per kernel family.
  std::vector<std::map<std::string, KernelSummary>> summaries;
};

// Compares any number of runs against the first. Points that did not run ok count as missing.
Comparison compareRuns(const std::vector<RunPoints>& runs);

// The verdict of `point` against `baseline` from their medians and spreads.
Verdict compareIntervals(const PointResult& baseline, const PointResult& point);

}  // namespace attnbench
