#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "attnbench/errors.h"
#include "attnbench/store.h"
#include "test_support.h"

namespace attnbench {
namespace {

SweepSpec smallSpec() {
  SweepSpec s = sweepPreset("cpu-quick");
  s.seq_lens = {128};
  return s;
}

PointResult result(int index, PointStatus status) {
  PointResult r;
  r.point = expandPoints(smallSpec())[static_cast<std::size_t>(index)];
  r.status = status;
  r.samples_ms = {1.0, 2.0, 3.0};
  r.stats = computeStats(r.samples_ms);
  r.tile = {64, 64};
  r.correctness = CorrectnessResult{1e-6, 1e-6, 1e-7, 1e-5, 10, 0, true};
  return r;
}

int sqliteInt(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  int v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

TEST(Store, CreatesSchemaWithVersionAndWal) {
  const std::string path = testing::freshDir("store_schema") + "/r.db";
  auto store = Store::open(path);
  EXPECT_EQ(sqliteInt(path, "PRAGMA user_version"), Store::kSchemaVersion);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  // Opening again neither fails nor re-creates anything.
  EXPECT_NO_THROW(Store::open(path));
}

TEST(Store, RecordsRunsPointsAndSamples) {
  const std::string path = testing::freshDir("store_points") + "/r.db";
  auto store = Store::open(path);
  DeviceInfo dev = describeHostCpu();
  const std::int64_t id = store->createRun(smallSpec(), dev, 4);
  store->recordPoint(id, result(1, PointStatus::Ok));  // a flash point (index 0 is standard)
  store->recordPoint(id, result(2, PointStatus::Skipped));
  auto runs = store->listRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].finished_points, 2);
  EXPECT_EQ(runs[0].total_points, 4);
  EXPECT_EQ(runs[0].status, RunStatus::Running);
  EXPECT_EQ(runs[0].device.name, dev.name);
  EXPECT_EQ(runs[0].spec.seq_lens, std::vector<int>{128});

  const auto points = store->loadPoints(id);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].samples_ms, (std::vector<double>{1.0, 2.0, 3.0}));
  EXPECT_EQ(points[1].status, PointStatus::Skipped);
  EXPECT_EQ(points[0].tile.rows, 64);
  ASSERT_TRUE(points[0].correctness);
  EXPECT_TRUE(points[0].correctness->passed);

  // Recording the same index again replaces it (and its samples).
  PointResult again = result(1, PointStatus::Failed);
  again.samples_ms = {9.0};
  store->recordPoint(id, again);
  const auto replaced = store->loadPoints(id);
  ASSERT_EQ(replaced.size(), 2u);
  EXPECT_EQ(replaced[0].status, PointStatus::Failed);
  EXPECT_EQ(replaced[0].samples_ms, std::vector<double>{9.0});
  EXPECT_EQ(sqliteInt(path, "SELECT count(*) FROM samples"), 4);

  store->setRunStatus(id, RunStatus::Completed);
  store->renameRun(id, "renamed");
  store->annotateRun(id, "a note");
  const RunRecord run = store->requireRun(id);
  EXPECT_EQ(run.status, RunStatus::Completed);
  EXPECT_EQ(run.name, "renamed");
  EXPECT_EQ(run.note, "a note");
  EXPECT_FALSE(run.finished_at.empty());

  store->deleteRun(id);
  EXPECT_TRUE(store->listRuns().empty());
  EXPECT_EQ(sqliteInt(path, "SELECT count(*) FROM samples"), 0);
  EXPECT_THROW(store->requireRun(id), InputError);
}

TEST(Store, CachesCeilingsPerDevice) {
  const std::string path = testing::freshDir("store_ceilings") + "/r.db";
  auto store = Store::open(path);
  DeviceInfo dev = describeHostCpu();
  EXPECT_FALSE(store->cachedCeilings(dev.fingerprint));
  store->cacheCeilings(dev, DeviceCeilings{12.5, 0.2, "fp32"});
  const auto c = store->cachedCeilings(dev.fingerprint);
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->copy_gbps, 12.5);
  EXPECT_EQ(c->gemm_dtype, "fp32");
}

TEST(Store, RejectsFilesThatAreNotSqlite) {
  const std::string path = testing::freshDir("store_notdb") + "/notes.txt";
  std::ofstream(path) << "these are my notes, not a database\n" << std::string(4096, 'x');
  EXPECT_THROW(Store::open(path), InputError);
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "these are my notes, not a database");  // untouched
}

TEST(Store, RejectsNewerSchema) {
  const std::string path = testing::freshDir("store_newer") + "/r.db";
  Store::open(path).reset();
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_THROW(Store::open(path), InputError);
  EXPECT_THROW(Store::openExisting(path), InputError);
}

void sqliteExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::string fileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Store, MigratesAVersionOneDatabase) {
  const std::string path = testing::freshDir("store_v1") + "/r.db";
  {
    auto store = Store::open(path);
    const std::int64_t id = store->createRun(smallSpec(), describeHostCpu(), 4);
    store->recordPoint(id, result(1, PointStatus::Ok));
  }
  // Back to the version-1 layout: no owner columns, version 1's point column names, and a run left
  // running by a version that recorded no owner.
  sqliteExec(path,
             "ALTER TABLE points RENAME COLUMN \"index\" TO idx; ALTER TABLE points RENAME COLUMN passed TO correct; "
             "ALTER TABLE points DROP COLUMN gbps; "
             "ALTER TABLE runs DROP COLUMN owner_pid; ALTER TABLE runs DROP COLUMN owner_host; "
             "ALTER TABLE runs DROP COLUMN owner_start; ALTER TABLE runs DROP COLUMN heartbeat_at; "
             "DROP TABLE run_provenance; DROP TABLE run_shards; PRAGMA user_version = 1;");
  const std::string v1 = fileBytes(path);

  // Reading leaves it as it is; its running run has no live owner.
  {
    auto reader = Store::openReadOnly(path);
    const auto runs = reader->listRuns();
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].status, RunStatus::Interrupted);
    EXPECT_EQ(runs[0].owner_pid, 0);
    EXPECT_TRUE(runs[0].provenance.empty());
    EXPECT_EQ(reader->loadPoints(runs[0].id).size(), 1u);
  }
  EXPECT_TRUE(fileBytes(path) == v1);

  // Opening it for writing migrates it in place and keeps its data.
  auto store = Store::open(path);
  EXPECT_EQ(sqliteInt(path, "PRAGMA user_version"), Store::kSchemaVersion);
  EXPECT_EQ(sqliteInt(path, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'owner_pid'"), 1);
  const RunRecord run = store->requireRun(1);
  EXPECT_EQ(run.status, RunStatus::Interrupted);
  EXPECT_EQ(run.finished_points, 1);
  EXPECT_EQ(sqliteInt(path, "SELECT count(*) FROM pragma_table_info('points') WHERE name IN ('index', 'passed', 'gbps')"), 3);
  EXPECT_EQ(store->loadPoints(1).size(), 1u);
  store->claimRun(1);
  EXPECT_EQ(store->requireRun(1).status, RunStatus::Running);
  EXPECT_EQ(store->requireRun(1).owner_pid, ::getpid());
}

TEST(Store, KeepsARunsProvenanceInOrderAndAddsToIt) {
  const std::string path = testing::freshDir("store_provenance") + "/r.db";
  auto store = Store::open(path);
  const std::int64_t id = store->createRun(smallSpec(), describeHostCpu(), 4);
  EXPECT_TRUE(store->requireRun(id).provenance.empty());
  store->addProvenance(id, {{"host.name", "box"}, {"gpu.sm_clock_start_mhz", "1980"}, {"timing.warmup", "1"}});
  store->addProvenance(id, {{"gpu.sm_clock_end_mhz", "1755"}, {"host.name", "box2"}});
  const std::vector<ProvenanceEntry> expected = {
      {"host.name", "box2"}, {"gpu.sm_clock_start_mhz", "1980"}, {"timing.warmup", "1"}, {"gpu.sm_clock_end_mhz", "1755"}};
  EXPECT_EQ(store->requireRun(id).provenance.entries(), expected);
  EXPECT_EQ(Store::openReadOnly(path)->listRuns().front().provenance.entries(), expected);
  EXPECT_THROW(store->addProvenance(id + 1, {{"k", "v"}}), InputError);
  store->deleteRun(id);
  EXPECT_EQ(sqliteInt(path, "SELECT count(*) FROM run_provenance"), 0);
}

// Older layouts, as the versions before them left them: 4 lacks the shards table, 3 also the
// provenance table, 2 also names two points columns the old way.
class StoreMigration : public ::testing::TestWithParam<int> {};

TEST_P(StoreMigration, AnOlderDatabaseKeepsItsRunsAndGainsProvenance) {
  const int version = GetParam();
  const std::string path = testing::freshDir("store_v" + std::to_string(version)) + "/r.db";
  {
    auto store = Store::open(path);
    const std::int64_t id = store->createRun(smallSpec(), describeHostCpu(), 4);
    store->recordPoint(id, result(1, PointStatus::Ok));
    store->setRunStatus(id, RunStatus::Completed);
  }
  std::string downgrade = "DROP TABLE run_shards; ";
  if (version < 4) downgrade += "DROP TABLE run_provenance; ";
  if (version < 3) {
    downgrade += "ALTER TABLE points RENAME COLUMN \"index\" TO idx; ALTER TABLE points RENAME COLUMN passed TO correct; ";
  }
  sqliteExec(path, downgrade + "PRAGMA user_version = " + std::to_string(version) + ";");
  const std::string old_bytes = fileBytes(path);

  // Read as it is: the run, its point and no provenance; the file is not touched.
  {
    auto reader = Store::openReadOnly(path);
    const auto runs = reader->listRuns();
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].status, RunStatus::Completed);
    EXPECT_TRUE(runs[0].provenance.empty());
    ASSERT_EQ(reader->loadPoints(runs[0].id).size(), 1u);
    EXPECT_EQ(reader->loadPoints(runs[0].id)[0].point.index, 1);
  }
  EXPECT_TRUE(fileBytes(path) == old_bytes);

  // Opened for writing: migrated in place, its run and point kept, provenance empty and writable.
  auto store = Store::open(path);
  EXPECT_EQ(sqliteInt(path, "PRAGMA user_version"), Store::kSchemaVersion);
  EXPECT_EQ(sqliteInt(path, "SELECT count(*) FROM sqlite_master WHERE name = 'run_provenance'"), 1);
  RunRecord run = store->requireRun(1);
  EXPECT_EQ(run.status, RunStatus::Completed);
  EXPECT_EQ(run.finished_points, 1);
  EXPECT_TRUE(run.provenance.empty());
  ASSERT_EQ(store->loadPoints(1).size(), 1u);
  EXPECT_TRUE(store->loadPoints(1)[0].correctness->passed);
  store->addProvenance(1, {{"host.name", "box"}});
  EXPECT_EQ(store->requireRun(1).provenance.value("host.name"), "box");
  // The run of one process has no shard; a rank's run and a merged run keep theirs.
  EXPECT_FALSE(run.shard.has_value());
  const RunShard rank{"spec:0123", 1, 4}, merged{"spec:0123", RunShard::kAllRanks, 4};
  const std::int64_t rank_run = store->createRun(smallSpec(), describeHostCpu(), 2, rank);
  const std::int64_t merged_run = store->createRun(smallSpec(), describeHostCpu(), 8, merged);
  EXPECT_EQ(store->requireRun(rank_run).shard, rank);
  EXPECT_EQ(Store::openReadOnly(path)->requireRun(merged_run).shard, merged);
  store->deleteRun(rank_run);
  EXPECT_EQ(sqliteInt(path, "SELECT count(*) FROM run_shards"), 1);
}

INSTANTIATE_TEST_SUITE_P(Versions, StoreMigration, ::testing::Values(2, 3, 4));

// The run's recorded owner, as another process would have left it.
void setOwner(const std::string& path, std::int64_t pid, const std::string& host, const std::string& start,
              double heartbeat_age_s) {
  sqliteExec(path, "UPDATE runs SET owner_pid = " + std::to_string(pid) + ", owner_host = '" + host +
                       "', owner_start = '" + start + "', heartbeat_at = (julianday('now') - 2440587.5) * 86400.0 - " +
                       std::to_string(heartbeat_age_s));
}

TEST(Store, ARunIsLiveWhileItsOwnerLives) {
  const std::string path = testing::freshDir("store_owner") + "/r.db";
  auto store = Store::open(path);
  const std::int64_t id = store->createRun(smallSpec(), describeHostCpu(), 4);
  RunRecord run = store->requireRun(id);
  EXPECT_EQ(run.status, RunStatus::Running);
  EXPECT_EQ(run.owner_pid, ::getpid());
  EXPECT_EQ(run.owner_host, hostName());
  EXPECT_NO_THROW(store->claimRun(id));  // its own run

  // A live process on this host owns it: refused, whatever its heartbeat says.
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  setOwner(path, child, hostName(), "", 3600);
  EXPECT_EQ(store->requireRun(id).status, RunStatus::Running);
  try {
    store->claimRun(id);
    ADD_FAILURE() << "claimed a run that a live process owns";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("still running in process " + std::to_string(child)), std::string::npos)
        << e.what();
  }
  // The same pid with another start time is a later process that reuses it: the owner is gone.
  setOwner(path, child, hostName(), "1", 0);
  EXPECT_EQ(store->requireRun(id).status, RunStatus::Interrupted);

  // Once the owner is dead, the run reads interrupted and can be taken over.
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  setOwner(path, child, hostName(), "", 0);
  EXPECT_EQ(store->requireRun(id).status, RunStatus::Interrupted);
  EXPECT_EQ(store->listRuns().front().status, RunStatus::Interrupted);
  store->claimRun(id);
  run = store->requireRun(id);
  EXPECT_EQ(run.status, RunStatus::Running);
  EXPECT_EQ(run.owner_pid, ::getpid());

  // A heartbeat stamps only a run this process owns.
  setOwner(path, ::getpid(), hostName(), "", 1000);
  store->heartbeat(id);
  const double fresh = store->requireRun(id).heartbeat_at;
  setOwner(path, 4242, "another-host", "", 1000);
  const double stale = store->requireRun(id).heartbeat_at;
  EXPECT_GT(fresh - stale, 900);
  store->heartbeat(id);
  EXPECT_EQ(store->requireRun(id).heartbeat_at, stale);

  // On another host only the heartbeat tells: fresh is live, stale is abandoned.
  setOwner(path, 4242, "another-host", "", 5);
  EXPECT_EQ(store->requireRun(id).status, RunStatus::Running);
  EXPECT_THROW(store->claimRun(id), InputError);
  setOwner(path, 4242, "another-host", "", Store::kOwnerStaleSeconds + 5);
  EXPECT_EQ(store->requireRun(id).status, RunStatus::Interrupted);
  EXPECT_NO_THROW(store->claimRun(id));
}

TEST(Store, LeavesAnotherProgramsDatabaseUntouched) {
  const std::string path = testing::freshDir("store_foreign") + "/app.db";
  sqliteExec(path, "CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES('mine');");
  const std::string before = fileBytes(path);
  EXPECT_THROW(Store::open(path), InputError);
  EXPECT_THROW(Store::openExisting(path), InputError);
  EXPECT_THROW(Store::openReadOnly(path), InputError);
  EXPECT_TRUE(fileBytes(path) == before);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  // An empty SQLite file is no one's yet: it becomes an attnbench database.
  const std::string empty = testing::freshDir("store_empty") + "/e.db";
  std::ofstream{empty};
  EXPECT_NO_THROW(Store::open(empty));
  EXPECT_EQ(sqliteInt(empty, "PRAGMA user_version"), Store::kSchemaVersion);
}

TEST(Store, ReadOnlyConnectionsDoNotWrite) {
  const std::string path = testing::freshDir("store_readonly") + "/r.db";
  Store::open(path)->createRun(smallSpec(), describeHostCpu(), 4);
  auto reader = Store::openReadOnly(path);
  EXPECT_EQ(reader->listRuns().size(), 1u);
  EXPECT_THROW(reader->renameRun(1, "x"), InputError);
  EXPECT_EQ(reader->requireRun(1).name, smallSpec().name);
}

TEST(Store, RejectsUnwritableLocations) {
  EXPECT_THROW(Store::open("/nonexistent-dir/sub/r.db"), InputError);
  EXPECT_THROW(Store::openExisting(testing::freshDir("store_missing") + "/none.db"), InputError);
}

}  // namespace
}  // namespace attnbench
