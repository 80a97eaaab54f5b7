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

// A figure style asked for by name, with what overrides it (the command line's export options).
struct FigureRequest {
  QString style;  // "paper" (3.3 x 2.2 in, 8 pt, no title, 300 dpi) or "screen" (1200 x 800 px at 96 dpi, 9 pt, titled)
  QString size;   // "3.3x2.2in", "84x56mm"; empty: the style's
  int dpi = 0;    // of the PNG files; 0: the style's
  bool dark = false;
  bool isEmpty() const { return style.isEmpty() && size.isEmpty() && dpi == 0 && !dark; }
};
// Why `request` cannot be drawn (an unknown style, a size or DPI out of range), or empty.
QString checkFigureRequest(const FigureRequest& request);

// Draws the run's charts (latency, speedup, TFLOP/s, peak memory) into `dir` as PNG, SVG and PDF.
// With an empty `request`: 1200 x 800 px files named <chart>.png/.svg/.pdf; else figures in the
// requested style named run<ID>-<chart>.<ext>. Works without a display: when no QApplication exists
// it creates one on the offscreen platform. Returns an empty string when every file was written,
// else the reason.
QString exportRunCharts(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir,
                        const FigureRequest& request = {});

}  // namespace attnbench::ui
