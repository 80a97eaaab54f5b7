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
