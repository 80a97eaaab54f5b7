#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

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

TEST(Store, RejectsUnwritableLocations) {
  EXPECT_THROW(Store::open("/nonexistent-dir/sub/r.db"), InputError);
  EXPECT_THROW(Store::openExisting(testing::freshDir("store_missing") + "/none.db"), InputError);
}

}  // namespace
}  // namespace attnbench
