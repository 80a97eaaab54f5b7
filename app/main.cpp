// attnbench entry point: the desktop window opens only when asked for nothing else (no command, no
// option but --db); everything else goes to the command line (cli.cpp) without creating any Qt
// application.
#include "cli.h"

#ifdef ATTNBENCH_HAVE_GUI
#include "attnbench/ui/gui_main.h"
#endif

int main(int argc, char** argv) {
#ifdef ATTNBENCH_HAVE_GUI
  if (attnbench::cli::wantsWindow(argc, argv)) {
    if (!attnbench::cli::displayAvailable()) return attnbench::cli::reportNoDisplay();
    return attnbench::ui::runGui(argc, argv);
  }
#endif
  return attnbench::cli::run(argc, argv);
}
