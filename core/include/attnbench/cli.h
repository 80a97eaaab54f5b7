// The command line: `--batch` sweeps and the CLI-only verbs (models, devices, runs, show, export,
// compare, rename, annotate, delete). app/main.cpp hands argv here unless the GUI is wanted.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench::cli {

// Exit codes of the command line.
enum ExitCode : int {
  kExitOk = 0,           // every point ok (skipped points are expected results)
  kExitFailedPoints = 1, // some points failed their correctness check or hit an error
  kExitBadInput = 2,     // bad flags, spec, DB or run id: nothing was written
  kExitDeviceFault = 3,  // the device became unusable mid-run (the completed points are kept)
  kExitInterrupted = 130 // SIGINT/SIGTERM: the run is marked interrupted and can be resumed
};

// True when argv asks for command-line work (a verb, --batch, --resume, --help, --version).
bool wantsCli(int argc, char** argv);

// Runs the command line; returns the process exit code.
int run(int argc, char** argv);

// Draws a run's charts into `dir` (PNG, SVG, PDF); provided by the GUI library when it is built.
// Returns an empty string on success, else the error.
using ChartExporter = std::function<std::string(const RunRecord&, const std::vector<PointResult>&, const std::string& dir)>;
void setChartExporter(ChartExporter exporter);

}  // namespace attnbench::cli
