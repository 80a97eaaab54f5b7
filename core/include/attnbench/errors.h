// Error types that carry their meaning to the command line: bad input exits 2, a failed run 1.
#pragma once

#include <stdexcept>
#include <string>

namespace attnbench {

// Something the user gave us is wrong (a flag, a spec file, a DB path, a run id). The message is one
// line that names the problem; the CLI prints it and exits with code 2 without writing anything.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

// The results database could not be written (the disk or a file size limit is full, an I/O error).
// The message says so in plain words with the database path; the points committed before are intact.
// A sweep that meets it marks its run interrupted and rethrows it with the `--resume` command.
class StoreWriteError : public std::runtime_error {
 public:
  // `reason`: the cause alone ("the disk is full"), for callers that phrase their own message.
  StoreWriteError(const std::string& message, std::string reason)
      : std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// A device allocation failed: recorded as an `oom` point, never a crash.
class OutOfMemory : public std::runtime_error {
 public:
  explicit OutOfMemory(const std::string& message) : std::runtime_error(message) {}
};

// The device is no longer usable (a sticky CUDA error): the run ends with a clear message.
class DeviceFault : public std::runtime_error {
 public:
  explicit DeviceFault(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace attnbench
