// Small helpers shared by the core tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace attnbench::testing {

// A fresh directory under the test temp dir, removed first if a previous run left it.
inline std::string freshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/attnbench_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace attnbench::testing
