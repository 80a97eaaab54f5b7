// Exports of a run's points: CSV (one row per point) and JSON (run, device, points with samples),
// plus the summary table and run comparison printed by the CLI.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench {

void writeCsv(std::ostream& out, const std::vector<PointResult>& points);
nlohmann::json runToJson(const RunRecord& run, const std::vector<PointResult>& points);

// Per shape: flash and standard times, TFLOP/s, speedup standard/flash, memory ratio.
struct ShapeSummary {
  std::string model;
  int batch = 0, seq_len = 0;
  std::string dtype;
  bool causal = false;
  const PointResult* flash = nullptr;     // the fastest ok flash point of the shape
  const PointResult* standard = nullptr;  // the ok standard point of the shape
  double speedup() const;       // standard median / flash median (0 when either is missing)
  double memoryRatio() const;   // standard peak / flash peak (0 when either is missing)
};
std::vector<ShapeSummary> summarize(const std::vector<PointResult>& points);
void printSummaryTable(std::ostream& out, const std::vector<PointResult>& points);

// Points of two runs matched by shape and kernel, with the ratio B/A of medians.
void printComparison(std::ostream& out, const RunRecord& a, const std::vector<PointResult>& pa,
                     const RunRecord& b, const std::vector<PointResult>& pb);

}  // namespace attnbench
