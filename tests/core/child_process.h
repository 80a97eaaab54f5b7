// Runs the attnbench executable as a child process for end-to-end tests: arguments, environment,
// captured output, a time limit, and how it ended (exit code or signal).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace attnbench::testing {

struct ChildOptions {
  std::string stdout_path = "/dev/null";
  std::string stderr_path = "/dev/null";
  // Variables set (value) or removed (nullopt) in the child's environment.
  std::map<std::string, std::optional<std::string>> env;
  // After this long the child gets SIGTERM, and SIGKILL `kill_grace` later.
  std::chrono::milliseconds time_limit{60000};
  std::chrono::milliseconds kill_grace{10000};
};

struct ChildOutcome {
  int exit_code = -1;        // when it exited
  int signal = 0;            // when a signal ended it
  bool terminated = false;   // we sent SIGTERM because it ran past its time limit
  bool killed = false;       // we sent SIGKILL because SIGTERM did not end it
  bool exited() const { return signal == 0; }
};

inline std::string readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline ChildOutcome runChild(const std::string& exe, const std::vector<std::string>& args, const ChildOptions& options) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(options.stdout_path.c_str(), "w", stdout) || !freopen(options.stderr_path.c_str(), "w", stderr)) _exit(127);
    if (!freopen("/dev/null", "r", stdin)) _exit(127);
    for (const auto& [name, value] : options.env) {
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  ChildOutcome outcome;
  const auto started = std::chrono::steady_clock::now();
  auto deadline = started + options.time_limit;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!outcome.terminated) {
        outcome.terminated = true;
        kill(pid, SIGTERM);
        deadline = std::chrono::steady_clock::now() + options.kill_grace;
      } else {
        outcome.killed = true;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  return outcome;
}

}  // namespace attnbench::testing
