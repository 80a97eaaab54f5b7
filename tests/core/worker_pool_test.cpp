// One sweep over several worker processes (--workers on the CPU; --gpus builds the same pool from GPU
// slots), end to end: the pool gives exactly the points of a run in one process, each with its worker;
// a worker killed mid-run loses nothing; a point that kills its worker twice is recorded as an error; a
// hung worker is killed after --point-timeout;
// interrupting the parent keeps the completed points and --resume finishes them; bad combinations exit 2.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "exe_support.h"
#include "test_support.h"

namespace attnbench {
namespace {

namespace fs = std::filesystem;
using Result = testing::ExeResult;
using testing::concat;

// The small CPU sweep, one thread per process (the workers share two cores).
const std::vector<std::string> kTinySweep = concat(testing::kSmallCpuSweep, {"--threads", "1"});
constexpr int kTinySweepPoints = testing::kSmallCpuSweepPoints;

// Launcher variables would make a process a rank: the children start without them (nor the abort hook).
Result runAttnbench(const std::vector<std::string>& args, const std::string& dir, std::map<std::string, std::string> env = {}) {
  return testing::runExe(args, dir, testing::launcherEnvironment(std::move(env), {"ATTNBENCH_TEST_WORKER_ABORT"}));
}

struct StoredPoint {
  std::string label;  // what the point is: index, model, shape, kernel
  std::string status, message, worker;
  bool device_index_null = false;
};

// The points of run `run_id`, by index.
std::map<int, StoredPoint> storedPoints(const std::string& db_path, int run_id = 1) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  const std::string sql =
      "SELECT \"index\", model || ' B=' || batch || ' N=' || seq_len || ' ' || kernel || ' ' || dtype, status, "
      "message, worker, device_index IS NULL FROM points WHERE run_id = " + std::to_string(run_id);
  std::map<int, StoredPoint> points;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    const auto text = [&](int col) {
      const auto* t = sqlite3_column_text(st, col);
      return std::string(t ? reinterpret_cast<const char*>(t) : "");
    };
    while (sqlite3_step(st) == SQLITE_ROW) {
      points[sqlite3_column_int(st, 0)] = {text(1), text(2), text(3), text(4), sqlite3_column_int(st, 5) != 0};
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return points;
}

std::string runStatus(const std::string& db_path, int run_id = 1) {
  return testing::queryCell(db_path, "SELECT status FROM runs WHERE id = " + std::to_string(run_id));
}

std::string storedProvenanceJson(const std::string& db_path, int run_id = 1) {
  return testing::queryCell(db_path, "SELECT provenance FROM run_provenance WHERE run_id = " + std::to_string(run_id));
}

// The worker processes still alive that a test's parent started: their environment has the
// XDG_DATA_HOME=`dir` that exe_support gives the parent.
int liveWorkersOf(const std::string& dir) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = testing::slurp(entry.path().string() + "/cmdline");
    const std::string environ = testing::slurp(entry.path().string() + "/environ");
    if (cmdline.find("--pool-worker") != std::string::npos &&
        environ.find(std::string("XDG_DATA_HOME=") + dir + '\0') != std::string::npos) {
      ++count;
    }
  }
  return count;
}

// Expects `pooled` to hold exactly the points of `single` (same indices and shapes), each ok.
void expectSamePoints(const std::map<int, StoredPoint>& single, const std::map<int, StoredPoint>& pooled) {
  ASSERT_EQ(pooled.size(), single.size());
  for (const auto& [index, p] : single) {
    ASSERT_TRUE(pooled.count(index)) << "point #" << index << " missing";
    EXPECT_EQ(pooled.at(index).label, p.label) << "#" << index;
    EXPECT_EQ(pooled.at(index).status, "ok") << "#" << index << ": " << pooled.at(index).message;
  }
}

// Expects all kTinySweepPoints points stored, point `failed` an error whose message holds every one of
// `phrases`, every other point ok.
void expectOnlyPointInError(const std::map<int, StoredPoint>& points, int failed, const std::vector<std::string>& phrases) {
  ASSERT_EQ(static_cast<int>(points.size()), kTinySweepPoints);
  for (const auto& [index, p] : points) {
    if (index == failed) {
      EXPECT_EQ(p.status, "error");
      for (const auto& phrase : phrases) EXPECT_NE(p.message.find(phrase), std::string::npos) << p.message;
    } else {
      EXPECT_EQ(p.status, "ok") << "#" << index << ": " << p.message;
    }
  }
}

TEST(WorkerPool, ThreeWorkersGiveTheSingleProcessRunsPointsEachWithItsWorker) {
  const std::string dir = testing::freshDir("pool_three");
  const std::string single_db = dir + "/single.db", pool_db = dir + "/pool.db";
  const Result single = runAttnbench(concat(kTinySweep, {"--db", single_db}), dir);
  ASSERT_EQ(single.code, 0) << single.err;
  const Result pooled = runAttnbench(concat(kTinySweep, {"--db", pool_db, "--workers", "3", "--events", "jsonl"}), dir);
  ASSERT_EQ(pooled.code, 0) << pooled.err;

  const auto single_points = storedPoints(single_db), pool_points = storedPoints(pool_db);
  ASSERT_EQ(static_cast<int>(single_points.size()), kTinySweepPoints);
  expectSamePoints(single_points, pool_points);
  std::set<std::string> workers;
  for (const auto& [index, p] : pool_points) {
    EXPECT_TRUE(p.worker == "worker0" || p.worker == "worker1" || p.worker == "worker2") << "#" << index << ": " << p.worker;
    EXPECT_TRUE(p.device_index_null) << "a CPU worker has no GPU index";
    workers.insert(p.worker);
  }
  EXPECT_GE(workers.size(), 2u) << "the points were not shared out";
  for (const auto& [index, p] : single_points) EXPECT_EQ(p.worker, "") << "a one-process point names no worker";
  EXPECT_EQ(runStatus(pool_db), "completed");

  // Every worker's device is in the run's provenance; the parent's event stream carries the worker.
  const auto provenance = nlohmann::json::parse(storedProvenanceJson(pool_db));
  EXPECT_EQ(provenance.value("pool.workers", ""), "worker0,worker1,worker2");
  for (const char* w : {"worker0", "worker1", "worker2"}) {
    EXPECT_FALSE(provenance.value(std::string(w) + ".device", "").empty()) << w;
  }
  std::istringstream lines(pooled.out);
  std::string line;
  int finished = 0;
  std::map<std::string, std::pair<int, int>> first_shape;  // worker -> (batch, N) of the first point it ran
  while (std::getline(lines, line)) {
    const auto event = nlohmann::json::parse(line);
    if (event.at("event") != "point_finished") continue;
    const auto& result = event.at("result");
    first_shape.try_emplace(result.at("worker").get<std::string>(), result.at("batch").get<int>(),
                            result.at("seq_len").get<int>());
    ++finished;
    EXPECT_EQ(event.at("run_id"), 1);
    EXPECT_EQ(event.at("result").at("worker"), pool_points.at(event.at("index").get<int>()).worker);
  }
  EXPECT_EQ(finished, kTinySweepPoints);
  // The most expensive shapes go out first, one to each worker (each runs its points one after the other).
  const std::map<std::string, std::pair<int, int>> most_expensive_first = {
      {"worker0", {2, 128}}, {"worker1", {1, 128}}, {"worker2", {2, 64}}};
  EXPECT_EQ(first_shape, most_expensive_first);
}

TEST(WorkerPool, AWorkerKilledMidRunLosesNothingItsPointIsRetried) {
  const std::string dir = testing::freshDir("pool_kill");
  const std::string single_db = dir + "/single.db", pool_db = dir + "/pool.db";
  ASSERT_EQ(runAttnbench(concat(kTinySweep, {"--db", single_db}), dir).code, 0);
  // The worker handed point #5 first kills itself with SIGKILL, as the OOM killer would.
  const Result r = runAttnbench(concat(kTinySweep, {"--db", pool_db, "--workers", "3"}), dir,
                                {{"ATTNBENCH_TEST_WORKER_ABORT", "5:" + dir + "/died-once"}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/died-once"));
  EXPECT_NE(r.err.find("died (killed by signal 9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("restarted"), std::string::npos) << r.err;
  expectSamePoints(storedPoints(single_db), storedPoints(pool_db));
  EXPECT_EQ(runStatus(pool_db), "completed");
}

TEST(WorkerPool, APointThatKillsItsWorkerTwiceIsRecordedAsAnErrorAndTheRestRun) {
  const std::string dir = testing::freshDir("pool_kill_twice");
  const std::string pool_db = dir + "/pool.db";
  const Result r = runAttnbench(concat(kTinySweep, {"--db", pool_db, "--workers", "2"}), dir,
                                {{"ATTNBENCH_TEST_WORKER_ABORT", "5"}});
  EXPECT_EQ(r.code, 1) << r.err;  // some point did not run
  const auto points = storedPoints(pool_db);
  ASSERT_NO_FATAL_FAILURE(expectOnlyPointInError(points, 5, {"died twice", "signal 9"}));
  // Retried on the other worker: both died on it.
  EXPECT_NE(points.at(5).message.find("worker0"), std::string::npos) << points.at(5).message;
  EXPECT_NE(points.at(5).message.find("worker1"), std::string::npos) << points.at(5).message;
}

TEST(WorkerPool, InterruptingTheParentKeepsCompletedPointsAndResumeFinishesThem) {
  const std::string dir = testing::freshDir("pool_interrupt");
  const std::string single_db = dir + "/single.db", pool_db = dir + "/pool.db";
  ASSERT_EQ(runAttnbench(concat(kTinySweep, {"--db", single_db}), dir).code, 0);
  // Points of many samples leave time to interrupt.
  std::vector<std::string> slow = concat(kTinySweep, {"--db", pool_db, "--workers", "2"});
  *(std::find(slow.begin(), slow.end(), "--repetitions") + 1) = "3000";
  const pid_t pid = testing::spawnExe(slow, dir, "interrupted", testing::launcherEnvironment({}, {"ATTNBENCH_TEST_WORKER_ABORT"}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (testing::queryCell(pool_db, "SELECT count(*) FROM points").empty() ||
         std::stoi(testing::queryCell(pool_db, "SELECT count(*) FROM points")) < 2) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no points recorded";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(liveWorkersOf(dir), 2);  // they are found while they run
  kill(pid, SIGINT);
  EXPECT_EQ(testing::waitExe(pid), 130) << testing::slurp(dir + "/interrupted.err");
  EXPECT_EQ(liveWorkersOf(dir), 0) << "the parent left workers behind";
  EXPECT_EQ(runStatus(pool_db), "interrupted");
  const auto kept = storedPoints(pool_db);
  EXPECT_GE(kept.size(), 2u);
  EXPECT_LT(static_cast<int>(kept.size()), kTinySweepPoints) << "the run finished before the interrupt";
  for (const auto& [index, p] : kept) EXPECT_EQ(p.status, "ok") << "#" << index;

  const Result resumed = runAttnbench({"--batch", "--no-progress", "--resume", "1", "--db", pool_db, "--workers", "3"}, dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(runStatus(pool_db), "completed");
  const auto all = storedPoints(pool_db);
  expectSamePoints(storedPoints(single_db), all);
  for (const auto& [index, p] : kept) EXPECT_EQ(all.at(index).worker, p.worker) << "a kept point was measured again";
}

// A worker that stops answering on a point (a hung kernel) is killed after --point-timeout and
// restarted; the point is recorded as an error, not retried, and every other point runs.
TEST(WorkerPool, AHungWorkerIsKilledAfterThePointTimeoutAndTheRestRun) {
  const std::string dir = testing::freshDir("pool_hang");
  const std::string pool_db = dir + "/pool.db";
  const auto t0 = std::chrono::steady_clock::now();
  const Result r = runAttnbench(concat(kTinySweep, {"--db", pool_db, "--workers", "2", "--point-timeout", "2"}), dir,
                                {{"ATTNBENCH_TEST_WORKER_HANG", "5"}});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.code, 1) << r.err;  // a point ended in an error
  EXPECT_NE(r.err.find("point 5 still running after 2 s (--point-timeout): the worker is killed"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("restarted"), std::string::npos) << r.err;
  ASSERT_NO_FATAL_FAILURE(expectOnlyPointInError(storedPoints(pool_db), 5, {"still running after 2 s (--point-timeout)"}));
  EXPECT_LT(seconds, 60.0) << "the pool waited on the hung worker";
}

TEST(WorkerPool, BadCombinationsExitWithTwoBeforeAnythingRuns) {
  const std::string dir = testing::freshDir("pool_bad");
  const std::string db = dir + "/r.db";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {concat(kTinySweep, {"--gpus", "0"}), "sweep's device is cpu"},
      {concat(kTinySweep, {"--gpus", "all", "--workers", "2"}), "not both"},
      {concat(kTinySweep, {"--workers", "0"}), "--workers must be 1 to 64"},
      {concat(kTinySweep, {"--workers", "2", "--rank", "0", "--world-size", "2"}), "rank 0 of a sharded sweep"},
      {{"--batch", "--gpus", "x1", "--device", "cuda"}, "--gpus"},
      {{"--batch", "--gpus", "99"}, "--gpus"},
      {{"runs", "--workers", "2"}, "does not take --workers"},
      {{"--workers", "2"}, "add --batch"},
      {{"--batch", "--workload", "inference", "--device", "cpu", "--workers", "2", "--tensor-parallel", "2"},
       "give each worker one device"},
      {concat(kTinySweep, {"--workers", "2", "--point-timeout", "0"}), "--point-timeout must be"},
      {concat(kTinySweep, {"--point-timeout", "30"}), "give it with --gpus or --workers"},
  };
  for (const auto& [args, expected] : cases) {
    const Result r = runAttnbench(concat(args, {"--db", db}), dir);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
  }
  // Under a launcher the process is a rank: a pool is refused there too.
  const Result ranked = runAttnbench(concat(kTinySweep, {"--db", db, "--workers", "2"}), dir, {{"RANK", "1"}, {"WORLD_SIZE", "2"}});
  EXPECT_EQ(ranked.code, 2) << ranked.err;
  EXPECT_NE(ranked.err.find("rank 1 of a sharded sweep (torchrun)"), std::string::npos) << ranked.err;
  EXPECT_FALSE(fs::exists(db)) << "a refused pool created the database";
}

}  // namespace
}  // namespace attnbench
