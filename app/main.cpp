// attnbench entry point: command-line verbs and `--batch` go to the command line (cli.cpp) without
// creating any Qt application; everything else opens the desktop window (when the GUI is built).
#include "cli.h"

#ifdef ATTNBENCH_HAVE_GUI
#include "attnbench/ui/gui_main.h"
#endif

int main(int argc, char** argv) {
#ifdef ATTNBENCH_HAVE_GUI
  if (!attnbench::cli::wantsCli(argc, argv)) return attnbench::ui::runGui(argc, argv);
#endif
  return attnbench::cli::run(argc, argv);
}
