// Runs the attnbench executable from a test: arguments, an optional setup step in the child before
// exec (a resource limit, dropped privileges), stdout and stderr captured into files.
#pragma once

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace attnbench::testing {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ExeResult {
  int code;  // exit status, or 128 + signal
  std::string out, err;
};

// Starts attnbench with `args` in the background; its output goes to DIR/TAG.out and DIR/TAG.err.
inline pid_t spawnExe(const std::vector<std::string>& args, const std::string& dir, const std::string& tag,
                      const std::function<void()>& setup = {}) {
  const std::string out = dir + "/" + tag + ".out", err = dir + "/" + tag + ".err";
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(out.c_str(), "w", stdout) || !freopen(err.c_str(), "w", stderr)) _exit(127);
    if (setup) setup();
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(ATTNBENCH_EXE));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    setenv("XDG_DATA_HOME", dir.c_str(), 1);  // never touch the real default database
    execv(ATTNBENCH_EXE, argv.data());
    _exit(127);
  }
  return pid;
}

inline int waitExe(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

inline ExeResult runExe(const std::vector<std::string>& args, const std::string& dir,
                        const std::function<void()>& setup = {}) {
  static int counter = 0;
  const std::string tag = "exe" + std::to_string(counter++);
  const int code = waitExe(spawnExe(args, dir, tag, setup));
  return {code, slurp(dir + "/" + tag + ".out"), slurp(dir + "/" + tag + ".err")};
}

// One cell of a query on a database opened read-only ("" when there is no row or it fails).
inline std::string queryCell(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* st = nullptr;
  std::string v;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(st, 0);
    v = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// A sweep of 16 points (4 sequence lengths x 2 batch sizes x 2 kernels of a tiny fp32 shape on the
// CPU) for the tests that split one sweep over several processes and compare with a single run.
inline const std::vector<std::string> kSmallCpuSweep = {
    "--batch", "--no-progress", "--device", "cpu", "--heads", "4", "--head-dim", "32", "--dtype", "fp32", "--causal",
    "false", "--seq-lens", "16..128", "--batch-sizes", "1,2", "--kernels", "flash,standard", "--repetitions", "3"};
constexpr int kSmallCpuSweepPoints = 16;

// Every variable by which a launcher (torchrun, Open MPI, PMI, Slurm) names a process's rank or job:
// a test's children start without them unless the test sets them.
inline const char* const kLauncherVariables[] = {
    "RANK",          "WORLD_SIZE",         "LOCAL_RANK",   "TORCHELASTIC_RUN_ID", "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE",
    "PMI_RANK",      "PMI_SIZE",           "MPI_LOCALRANKID", "SLURM_PROCID",     "SLURM_NTASKS",
    "SLURM_LOCALID", "SLURM_JOB_ID",       "SLURM_STEP_ID"};

// A child's setup (for runExe): no launcher variables and none of `unset`, then `set`.
inline std::function<void()> launcherEnvironment(std::map<std::string, std::string> set,
                                                 std::vector<std::string> unset = {}) {
  return [set = std::move(set), unset = std::move(unset)] {
    for (const char* name : kLauncherVariables) unsetenv(name);
    for (const auto& name : unset) unsetenv(name.c_str());
    for (const auto& [name, value] : set) setenv(name.c_str(), value.c_str(), 1);
  };
}

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace attnbench::testing
