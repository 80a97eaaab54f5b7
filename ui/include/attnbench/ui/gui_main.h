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
// one on the offscreen platform. Returns an empty string when every file was written, else the reason.
QString exportRunCharts(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir);

}  // namespace attnbench::ui
