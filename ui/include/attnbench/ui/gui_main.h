// Entry points of the desktop application, called by app/main.cpp.
#pragma once

#include <vector>

#include <QString>

#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench::ui {

// Runs the desktop application (creates the QApplication) and returns its exit code.
// Options: `--db FILE` (or FILE alone) opens that database instead of the last one used
// (Store::defaultPath() the first time).
int runGui(int argc, char** argv);

// Draws the run's charts (latency, speedup, TFLOP/s, peak memory) into `dir` as PNG, SVG and PDF
// files named <chart>.png/.svg/.pdf. Works without a display: when no QApplication exists it creates
// one on the offscreen platform. Returns 0 when every file was written, else 1 (reason on stderr).
int exportRunCharts(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir);

// Registers exportRunCharts with the command line (cli::setChartExporter), so that
// `--batch ... --export-charts DIR` and `export RUN --charts DIR` can draw charts.
void installChartExporter();

}  // namespace attnbench::ui
