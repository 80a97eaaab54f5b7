// Sweeps sharded over ranks, end to end: CPU ranks started as processes (with torchrun's variables and
// with --rank/--world-size) share a tiny sweep, `attnbench merge` joins their databases into the run one
// process gives, and docs/CLUSTER.md's sbatch script and mpirun lines run under local launcher stubs.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "attnbench/store.h"
#include "exe_support.h"
#include "test_support.h"

namespace attnbench {
namespace {

namespace fs = std::filesystem;
using Result = testing::ExeResult;
using testing::concat;

const std::vector<std::string>& kTinySweep = testing::kSmallCpuSweep;
constexpr int kTinySweepPoints = testing::kSmallCpuSweepPoints;

// A child starts with no launcher variables (testing::kLauncherVariables) but those a test sets.
Result runAttnbench(const std::vector<std::string>& args, const std::string& dir,
                    std::map<std::string, std::string> env = {}) {
  return testing::runExe(args, dir, testing::launcherEnvironment(std::move(env)));
}

// The one run of a database, with its points.
struct StoredRun {
  RunRecord run;
  std::vector<PointResult> points;
};

StoredRun onlyRun(const std::string& db) {
  auto store = Store::openReadOnly(db);
  const auto runs = store->listRuns();
  EXPECT_EQ(runs.size(), 1u) << db;
  if (runs.empty()) return {};
  return {runs.front(), store->loadPoints(runs.front().id)};
}

// Index -> label of a run's points, each checked ok.
std::map<int, std::string> okPointLabels(const StoredRun& r) {
  std::map<int, std::string> labels;
  for (const auto& p : r.points) {
    EXPECT_EQ(p.status, PointStatus::Ok) << p.point.label() << ": " << p.message;
    EXPECT_FALSE(p.samples_ms.empty());
    EXPECT_TRUE(labels.emplace(p.point.index, p.point.label()).second) << "index " << p.point.index << " twice";
  }
  return labels;
}

// All that a merge could change in a database: its runs, notes, statuses, provenance, points and samples.
std::string snapshot(const std::string& db) {
  auto store = Store::openReadOnly(db);
  std::ostringstream s;
  for (const auto& r : store->listRuns()) {
    s << r.id << ' ' << r.name << ' ' << runStatusName(r.status) << ' ' << r.started_at << ' ' << r.finished_at << ' '
      << r.note << ' ' << r.total_points << ' ' << serializeProvenance(r.provenance) << '\n';
    for (const auto& p : store->loadPoints(r.id)) {
      s << p.point.index << ' ' << p.point.label() << ' ' << statusName(p.status);
      for (const double ms : p.samples_ms) s << ' ' << ms;
      s << '\n';
    }
  }
  return s.str();
}

// The single-process run of the tiny sweep: the set of points every sharded run must add up to.
const std::map<int, std::string>& singleProcessPoints() {
  static const std::map<int, std::string> labels = [] {
    const std::string dir = testing::freshDir("cluster_single");
    const Result r = runAttnbench(concat(kTinySweep, {"--db", dir + "/single.db"}), dir);
    EXPECT_EQ(r.code, 0) << r.err;
    return okPointLabels(onlyRun(dir + "/single.db"));
  }();
  return labels;
}

enum class RankSource { Torchrun, Flags };

class ShardedSweep : public ::testing::TestWithParam<RankSource> {};

TEST_P(ShardedSweep, FourRanksLoseNoPointAndMergeToTheSingleProcessRun) {
  const std::map<int, std::string>& single = singleProcessPoints();
  ASSERT_EQ(single.size(), static_cast<std::size_t>(kTinySweepPoints));
  const std::string dir = testing::freshDir(GetParam() == RankSource::Torchrun ? "cluster_torchrun" : "cluster_flags");
  constexpr int kWorld = 4;

  // Four processes at once, as a launcher starts them; each writes its own database.
  std::vector<pid_t> ranks;
  for (int r = 0; r < kWorld; ++r) {
    const std::string rank = std::to_string(r);
    std::vector<std::string> args = concat(kTinySweep, {"--db", dir + "/results.db"});
    std::map<std::string, std::string> env;
    if (GetParam() == RankSource::Torchrun) {
      env = {{"RANK", rank}, {"WORLD_SIZE", std::to_string(kWorld)}, {"LOCAL_RANK", rank}};
    } else {
      args = concat(args, {"--rank", rank, "--world-size", std::to_string(kWorld)});
    }
    ranks.push_back(testing::spawnExe(args, dir, "rank" + rank, testing::launcherEnvironment(env)));
  }
  for (int r = 0; r < kWorld; ++r) ASSERT_EQ(testing::waitExe(ranks[static_cast<std::size_t>(r)]), 0) << testing::slurp(dir + "/rank" + std::to_string(r) + ".err");
  EXPECT_FALSE(fs::exists(dir + "/results.db"));  // each rank writes results.rankR.db only

  // Each rank ran its share, disjoint from the others', each point with its index in the whole sweep.
  std::map<int, std::string> all;
  std::set<std::string> uids;
  std::vector<std::string> inputs;
  for (int r = 0; r < kWorld; ++r) {
    inputs.push_back(dir + "/results.rank" + std::to_string(r) + ".db");
    const StoredRun run = onlyRun(inputs.back());
    ASSERT_TRUE(run.run.shard.has_value());
    EXPECT_EQ(run.run.shard->rank, r);
    EXPECT_EQ(run.run.shard->world_size, kWorld);
    EXPECT_EQ(run.run.status, RunStatus::Completed);
    EXPECT_EQ(run.run.total_points, static_cast<int>(run.points.size()));
    EXPECT_GE(run.points.size(), 2u) << "rank " << r << " got too small a share";
    EXPECT_EQ(run.run.provenance.value("rank.launcher"), GetParam() == RankSource::Torchrun ? "torchrun" : "flags");
    EXPECT_EQ(run.run.provenance.value("rank.rank"), std::to_string(r));
    uids.insert(run.run.shard->sweep_uid);
    for (const auto& [index, label] : okPointLabels(run)) {
      EXPECT_TRUE(all.emplace(index, label).second) << "point " << index << " ran on two ranks";
    }
  }
  EXPECT_EQ(uids.size(), 1u) << "the ranks disagree on the sweep's id";
  EXPECT_EQ(all, single);

  // `show` says where a rank's run belongs.
  const Result shown = runAttnbench({"show", "1", "--db", inputs[2]}, dir);
  EXPECT_NE(shown.out.find("ranks:   rank 2 of 4, sweep " + *uids.begin()), std::string::npos) << shown.out;

  // The merge is the single-process run's set of points, completed, with each rank's provenance.
  const std::string merged = dir + "/merged.db";
  const std::string input_bytes = testing::slurp(inputs[0]);
  const Result merge = runAttnbench(concat({"merge", merged}, inputs), dir);
  ASSERT_EQ(merge.code, 0) << merge.err;
  EXPECT_TRUE(testing::slurp(inputs[0]) == input_bytes);  // the inputs are only read
  const StoredRun run = onlyRun(merged);
  EXPECT_EQ(okPointLabels(run), single);
  EXPECT_EQ(run.run.status, RunStatus::Completed);
  EXPECT_EQ(run.run.total_points, kTinySweepPoints);
  ASSERT_TRUE(run.run.shard.has_value());
  EXPECT_EQ(*run.run.shard, (RunShard{*uids.begin(), RunShard::kAllRanks, kWorld}));
  for (int r = 0; r < kWorld; ++r) {
    EXPECT_EQ(run.run.provenance.value("rank" + std::to_string(r) + ".rank.rank"), std::to_string(r));
  }
  EXPECT_NE(runAttnbench({"show", "1", "--db", merged}, dir).out.find("ranks:   merged from 4 ranks"), std::string::npos);
  const Result exported = runAttnbench({"export", "1", "--db", merged, "--json", "-"}, dir);
  ASSERT_EQ(exported.code, 0) << exported.err;
  const auto shard = nlohmann::json::parse(exported.out).at("shard");
  EXPECT_EQ(shard, (nlohmann::json{{"sweep_uid", *uids.begin()}, {"rank", nullptr}, {"world_size", kWorld}}));

  // Merging again, or one input twice, changes nothing.
  const std::string before = snapshot(merged);
  const Result again = runAttnbench(concat({"merge", merged, inputs[1]}, inputs), dir);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("nothing new"), std::string::npos) << again.out;
  EXPECT_EQ(snapshot(merged), before);
}

INSTANTIATE_TEST_SUITE_P(RankSources, ShardedSweep, ::testing::Values(RankSource::Torchrun, RankSource::Flags),
                         [](const auto& test) { return test.param == RankSource::Torchrun ? "Torchrun" : "Flags"; });

// Runs rank `rank` of `world` of `sweep` into DIR/NAME.
void runRank(const std::string& dir, const std::string& name, int rank, int world,
             const std::vector<std::string>& sweep = kTinySweep) {
  const Result r = runAttnbench(
      concat(sweep, {"--db", dir + "/" + name, "--rank", std::to_string(rank), "--world-size", std::to_string(world)}),
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
}

TEST(Merge, AMergeOfSomeRanksIsInterruptedUntilTheRestArriveOrAResumeFinishesIt) {
  const std::string dir = testing::freshDir("cluster_partial");
  for (int r = 0; r < 3; ++r) runRank(dir, "r.db", r, 3);
  const std::string merged = dir + "/merged.db";
  const Result part = runAttnbench({"merge", merged, dir + "/r.rank0.db"}, dir);
  EXPECT_EQ(part.code, 1);
  StoredRun run = onlyRun(merged);
  EXPECT_EQ(run.run.status, RunStatus::Interrupted);
  EXPECT_NE(run.run.note.find("of rank(s) 1,2"), std::string::npos) << run.run.note;
  EXPECT_LT(run.points.size(), static_cast<std::size_t>(kTinySweepPoints));

  // A merged run with points missing can also be finished by one process.
  const std::string alone = dir + "/alone.db";
  ASSERT_EQ(runAttnbench({"merge", alone, dir + "/r.rank0.db"}, dir).code, 1);
  const Result resumed = runAttnbench({"--batch", "--no-progress", "--resume", "1", "--db", alone}, dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(onlyRun(alone).run.status, RunStatus::Completed);
  EXPECT_EQ(okPointLabels(onlyRun(alone)), singleProcessPoints());

  const Result rest = runAttnbench({"merge", merged, dir + "/r.rank2.db", dir + "/r.rank1.db"}, dir);
  EXPECT_EQ(rest.code, 0) << rest.err;
  run = onlyRun(merged);
  EXPECT_EQ(run.run.status, RunStatus::Completed);
  EXPECT_EQ(run.run.note, "");
  EXPECT_EQ(okPointLabels(run), singleProcessPoints());
}

// A refused merge: exit 2, one line naming the problem, nothing written.
void expectRefused(const std::vector<std::string>& inputs, const std::string& dir, const std::string& why) {
  const std::string out = dir + "/merged.db";
  const Result r = runAttnbench(concat({"merge", out}, inputs), dir);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(Merge, RefusesRunsOfDifferentSweepsAndConflictingPoints) {
  const std::string dir = testing::freshDir("cluster_refused");
  runRank(dir, "a.db", 0, 2);
  runRank(dir, "a.db", 1, 2);
  // The same flags but one more sequence length: another spec, so another sweep.
  std::vector<std::string> other = kTinySweep;
  *std::find(other.begin(), other.end(), "16..128") = "16..256";
  runRank(dir, "b.db", 1, 2, other);
  expectRefused({dir + "/a.rank0.db", dir + "/b.rank1.db"}, dir, "holds no run of sweep");

  // Rank 0 measured twice: the same points with other timings.
  runRank(dir, "c.db", 0, 2);
  expectRefused({dir + "/a.rank0.db", dir + "/c.rank0.db"}, dir, "with different results");

  // A run of one process is no rank's.
  ASSERT_EQ(runAttnbench(concat(kTinySweep, {"--db", dir + "/plain.db"}), dir).code, 0);
  expectRefused({dir + "/plain.db"}, dir, "holds no rank's run");
}

TEST(Merge, BadRankFlagsAreRefusedBeforeAnythingRuns) {
  const std::string dir = testing::freshDir("cluster_bad_flags");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--rank", "1"}, "--rank needs --world-size"},
      {{"--world-size", "2"}, "--world-size needs --rank"},
      {{"--rank", "2", "--world-size", "2"}, "outside a world of 2"},
      {{"--rank", "0", "--world-size", "2", "--csv", dir + "/x.csv"}, "export after `attnbench merge`"},
      {{"--sweep-id", "s1"}, "--sweep-id names a sharded sweep"}};
  for (const auto& [flags, why] : cases) {
    const Result r = runAttnbench(concat(concat(kTinySweep, {"--db", dir + "/r.db"}), flags), dir);
    EXPECT_EQ(r.code, 2) << why;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  }
  for (const auto& entry : fs::directory_iterator(dir)) EXPECT_NE(entry.path().extension(), ".db") << entry.path();
  EXPECT_EQ(runAttnbench({"--rank", "0", "--world-size", "2"}, dir).code, 2);  // a sweep option without --batch
}

TEST(Merge, AResumedRankRunsOnlyItsOwnShare) {
  const std::string dir = testing::freshDir("cluster_resume");
  runRank(dir, "r.db", 1, 2);
  const std::string db = dir + "/r.rank1.db";
  const StoredRun full = onlyRun(db);
  // Lose two points and the run's end, as a killed rank leaves them.
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle,
                         "CREATE TEMP TABLE lost AS SELECT id FROM points ORDER BY \"index\" LIMIT 2; "
                         "DELETE FROM samples WHERE point_id IN (SELECT id FROM lost); "
                         "DELETE FROM points WHERE id IN (SELECT id FROM lost); "
                         "UPDATE runs SET status = 'interrupted'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);
  ASSERT_EQ(onlyRun(db).points.size(), full.points.size() - 2);

  const Result r = runAttnbench({"--batch", "--no-progress", "--resume", "1", "--db", db}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const StoredRun resumed = onlyRun(db);
  EXPECT_EQ(resumed.run.status, RunStatus::Completed);
  std::map<int, std::string> expected;
  for (const auto& p : full.points) expected[p.point.index] = p.point.label();
  EXPECT_EQ(okPointLabels(resumed), expected);
}

// The ```bash block after `<!-- NAME -->` in docs/CLUSTER.md.
std::string docBlock(const std::string& name) {
  const std::string doc = testing::slurp(std::string(ATTNBENCH_SOURCE_DIR) + "/docs/CLUSTER.md");
  const auto marker = doc.find("<!-- " + name + " -->");
  EXPECT_NE(marker, std::string::npos) << name;
  const auto begin = doc.find("```bash\n", marker);
  const auto end = doc.find("```\n", begin + 8);
  if (marker == std::string::npos || begin == std::string::npos || end == std::string::npos) return "";
  return doc.substr(begin + 8, end - begin - 8);
}

void writeExecutable(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  fs::permissions(path, fs::perms::owner_all);
}

// Runs `script` with bash in DIR, attnbench and the launcher stubs first on PATH, launcher variables as
// in `env` only. The exit status; output in DIR/script.out.
int runScript(const std::string& dir, const std::string& script, const std::string& env) {
  const std::string bin = dir + "/bin";
  fs::create_directories(bin);
  fs::create_symlink(ATTNBENCH_EXE, bin + "/attnbench");
  // Local stand-ins for the launchers: N copies of the command, with the variables each sets.
  writeExecutable(bin + "/srun",
                  "#!/bin/sh\n"
                  "i=0; pids=\n"
                  "while [ $i -lt \"$SLURM_NTASKS\" ]; do\n"
                  "  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_STEP_ID=0 \"$@\" & pids=\"$pids $!\"; i=$((i+1))\n"
                  "done\n"
                  "rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc\n");
  writeExecutable(bin + "/mpirun",
                  "#!/bin/sh\n"
                  "[ \"$1\" = -np ] || exit 2; n=$2; shift 2; i=0; pids=\n"
                  "while [ $i -lt $n ]; do\n"
                  "  OMPI_COMM_WORLD_RANK=$i OMPI_COMM_WORLD_SIZE=$n OMPI_COMM_WORLD_LOCAL_RANK=$i \"$@\" &\n"
                  "  pids=\"$pids $!\"; i=$((i+1))\n"
                  "done\n"
                  "rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc\n");
  std::ofstream(dir + "/job.sh") << script;
  std::string sweep;
  for (std::size_t i = 1; i < kTinySweep.size(); ++i) {  // all but --batch, which the scripts give
    if (kTinySweep[i] != "--no-progress") sweep += kTinySweep[i] + " ";
  }
  const std::string command = "cd '" + dir + "' && env -i PATH='" + bin + ":/usr/bin:/bin' HOME='" + dir +
                              "' XDG_DATA_HOME='" + dir + "' SWEEP='" + sweep + "' " + env +
                              " bash job.sh > script.out 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ClusterDoc, TheSbatchScriptRunsUnderAnSrunStub) {
  const std::string dir = testing::freshDir("cluster_sbatch");
  const std::string script = docBlock("sbatch script");
  ASSERT_NE(script.find("srun attnbench"), std::string::npos);
  ASSERT_EQ(runScript(dir, script, "SLURM_JOB_ID=4242 SLURM_NTASKS=3 TMPDIR=" + dir + "/node"), 0) << testing::slurp(dir + "/script.out");
  const StoredRun run = onlyRun(dir + "/attnbench-4242/merged.db");
  EXPECT_EQ(run.run.status, RunStatus::Completed);
  ASSERT_TRUE(run.run.shard.has_value());
  EXPECT_EQ(run.run.shard->world_size, 3);
  EXPECT_EQ(run.run.shard->sweep_uid.rfind("slurm:4242.0/", 0), 0u) << run.run.shard->sweep_uid;
  EXPECT_EQ(okPointLabels(run), singleProcessPoints());
  EXPECT_EQ(run.run.provenance.value("rank2.rank.launcher"), "srun");
}

TEST(ClusterDoc, TheMpirunLinesRunUnderAnMpirunStub) {
  const std::string dir = testing::freshDir("cluster_mpirun");
  std::string lines = docBlock("mpirun lines");
  const auto np = lines.find("-np 8");
  ASSERT_NE(np, std::string::npos);
  lines.replace(np, 5, "-np 3");  // three CPU ranks are enough here
  ASSERT_EQ(runScript(dir, lines, "OMPI_MCA_ess_base_jobid=77"), 0) << testing::slurp(dir + "/script.out");
  const StoredRun run = onlyRun(dir + "/merged.db");
  EXPECT_EQ(run.run.status, RunStatus::Completed);
  EXPECT_EQ(run.run.shard->sweep_uid.rfind("mpirun:77/", 0), 0u) << run.run.shard->sweep_uid;
  EXPECT_EQ(okPointLabels(run), singleProcessPoints());
}

}  // namespace
}  // namespace attnbench
