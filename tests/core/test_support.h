// Small helpers shared by the core tests.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

namespace attnbench::testing {

// A fresh directory under the test temp dir, removed first if a previous run left it. The process id
// is part of the name: test processes of two builds (or two ctest runs) on one machine never share it.
inline std::string freshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/attnbench_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace attnbench::testing
