// Terminal progress for the batch mode: a one-line bar on stderr (when it is a terminal) fed by the
// runner's events.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "attnbench/events.h"

namespace attnbench {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out) : out_(out) {}
  void onEvent(const RunEvent& event);

 private:
  void draw(const std::string& label);
  std::FILE* out_;
  int done_ = 0, total_ = 0, done_at_start_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace attnbench
