// The command line: `--batch` sweeps and the CLI-only verbs (models, devices, runs, show, export,
// compare, rename, annotate, delete). An application like the window: it drives core's runner, store and
// exporters, and draws charts through the GUI library when that is built. main.cpp hands argv here unless
// the window is wanted.
#pragma once

#include <string>
#include <vector>


namespace attnbench::cli {

// Exit codes of the command line.
enum ExitCode : int {
  kExitOk = 0,           // every point ok (skipped points are expected results)
  kExitFailedPoints = 1, // some points failed their correctness check or hit an error
  kExitBadInput = 2,     // bad flags, spec, DB or run id: nothing was written
  kExitDeviceFault = 3,  // the device became unusable mid-run (the completed points are kept)
  kExitInterrupted = 130 // SIGINT/SIGTERM: the run is marked interrupted and can be resumed
};

// True when argv asks for the desktop window: no command and no option but --db FILE or a database
// path. Everything else is the command line's, which rejects what it does not know.
bool wantsWindow(int argc, char** argv);

// True when a window can be shown: DISPLAY or WAYLAND_DISPLAY is set, or QT_QPA_PLATFORM names a
// platform (offscreen, vnc, ...). Checked before any QApplication exists, which would abort without one.
bool displayAvailable();

// Says that the window cannot open for lack of a display; returns kExitBadInput.
int reportNoDisplay();

// Runs the command line; returns the process exit code.
int run(int argc, char** argv);


}  // namespace attnbench::cli
