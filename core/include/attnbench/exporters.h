// Exports of a run's points: CSV (one row per point) and JSON (run, device, points with samples),
// plus the summary table and run comparison printed by the CLI.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/comparison.h"
#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench {

// RFC 4180: fields with a comma, quote, CR or LF are quoted. Text cells (model, message) that start
// like a spreadsheet formula (= + - @, tab, CR) get a leading apostrophe so that they stay text.
// The run's provenance comes first, one `# key: value` comment line per entry (control characters
// escaped), then the header row: readers skip lines starting with '#' (pandas: comment='#').
void writeCsv(std::ostream& out, const std::vector<PointResult>& points, const Provenance& provenance = {});

// Writes what `write` produces to `path` ("-" = stdout). A regular file is replaced atomically: the
// text goes to a temporary file in the same folder, which is flushed, synced, closed and renamed over
// `path`, so that a failure leaves the old file (or none) and no truncated one. Special files (a FIFO,
// a terminal, /dev/full) are written in place. Every write and the close are checked: failures throw
// std::runtime_error naming the path and the OS error.
void writeOutputFile(const std::string& path, const std::function<void(std::ostream&)>& write);
// The run (its provenance as a `provenance` object of strings), its device, spec and points.
nlohmann::json runToJson(const RunRecord& run, const std::vector<PointResult>& points);

// Per shape: flash and standard times, TFLOP/s, speedup standard/flash, memory ratio.
struct ShapeSummary {
  std::string model;
  int batch = 0, seq_len = 0;
  std::string dtype;
  bool causal = false;
  SweepPoint point;                       // the shape's first point: what all its kernels' points share
  const PointResult* flash = nullptr;     // the fastest ok flash point of the shape
  const PointResult* standard = nullptr;  // the ok standard point of the shape
  const PointResult* cudnn = nullptr;     // the ok cudnn point of the shape
  double speedup() const;       // standard median / flash median (0 when either is missing)
  double memoryRatio() const;   // standard peak / flash peak (0 when either is missing)
};
std::vector<ShapeSummary> summarize(const std::vector<PointResult>& points);
void printSummaryTable(std::ostream& out, const std::vector<PointResult>& points);

// The comparison of runs (comparison.h) as a table: the first run is the baseline; every other run's
// medians, ratios and verdicts follow, then per run and kernel the geometric mean of the ratios.
void printComparison(std::ostream& out, const std::vector<RunPoints>& runs);

}  // namespace attnbench
