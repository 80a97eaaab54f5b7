// End-to-end tests of the results database through the attnbench executable: a full disk mid-sweep,
// a run resumed while its process lives, damaged, read-only and foreign database files, and a create
// that fails. Each test works in its own temp directory.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "exe_support.h"
#include "test_support.h"

namespace attnbench {
namespace {

namespace fs = std::filesystem;
using testing::queryCell;
using testing::runExe;
using testing::slurp;

// A tiny custom shape on the CPU keeps every sweep here fast on two cores.
std::vector<std::string> tinySweep(const std::string& db, const std::string& seq_lens) {
  return {"--batch",  "--no-progress", "--device", "cpu",  "--heads",    "4",      "--head-dim", "64",
          "--dtype",  "fp32",          "--causal", "false", "--seq-lens", seq_lens, "--db",       db};
}

int intCell(const std::string& db, const std::string& sql) {
  const std::string v = queryCell(db, sql);
  return v.empty() ? -1 : std::stoi(v);
}

// The child may write no file beyond `bytes`, as on a nearly full disk; the write fails with EFBIG
// instead of killing the process with SIGXFSZ.
std::function<void()> fileSizeLimit(rlim_t bytes) {
  return [bytes] {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{bytes, bytes};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
  };
}

// The child runs without the right to write files it does not own (a root test process drops to
// nobody: root ignores file modes).
void asUnprivilegedUser() {
  if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(126);
}

TEST(StoreCli, DiskFullMidSweepMarksTheRunInterruptedAndSaysHowToResume) {
  const std::string dir = testing::freshDir("store_cli_full");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runExe(tinySweep(db, "16"), dir).code, 0);
  // 48 points need far more than 96 KiB of WAL (each commit writes several 4 KiB pages): the limit
  // is met mid-sweep, after the run was created.
  const auto limit = static_cast<rlim_t>(fs::file_size(db) + 96 * 1024);
  const auto args = [&](const std::string& seq) {
    auto a = tinySweep(db, seq);
    a.insert(a.end(), {"--batch-sizes", "1,2", "--repetitions", "2", "--warmup", "0"});
    return a;
  };
  const std::string seq = "16,32,48,64,80,96,112,128,144,160,176,192";
  const auto full = runExe(args(seq), dir, fileSizeLimit(limit));
  EXPECT_EQ(full.code, 1) << full.err;
  EXPECT_NE(full.err.find("cannot save to database"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("reads as interrupted"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("attnbench --batch --resume 2 --db " + db), std::string::npos) << full.err;
  EXPECT_EQ(full.err.find("SQLite"), std::string::npos) << "a raw SQLite message: " << full.err;

  EXPECT_EQ(queryCell(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(queryCell(db, "SELECT status FROM runs WHERE id = 2"), "interrupted");
  const int saved = intCell(db, "SELECT count(*) FROM points WHERE run_id = 2");
  EXPECT_GT(saved, 0);
  EXPECT_LT(saved, 48);
  const auto runs = runExe({"runs", "--db", db}, dir);
  EXPECT_EQ(runs.code, 0) << runs.err;
  EXPECT_NE(runs.out.find("interrupted"), std::string::npos) << runs.out;
  EXPECT_EQ(runs.out.find("running"), std::string::npos) << runs.out;

  // With room again, the printed command finishes it.
  const auto resumed = runExe({"--batch", "--no-progress", "--resume", "2", "--db", db}, dir);
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(intCell(db, "SELECT count(*) FROM points WHERE run_id = 2"), 48);
  EXPECT_EQ(queryCell(db, "SELECT status FROM runs WHERE id = 2"), "completed");
}

TEST(StoreCli, ResumingARunThatAnotherProcessRunsIsRefusedUntilItDies) {
  const std::string dir = testing::freshDir("store_cli_owner");
  const std::string db = dir + "/r.db";
  auto args = tinySweep(db, "256,512,768,1024,1280,1536,1792,2048");
  args.insert(args.end(), {"--repetitions", "20"});
  const pid_t owner = testing::spawnExe(args, dir, "owner");
  // Wait until the run exists and has a point, so that the owner is mid-sweep.
  for (int i = 0; i < 600 && intCell(db, "SELECT count(*) FROM points") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(intCell(db, "SELECT count(*) FROM points"), 1) << slurp(dir + "/owner.err");
  ASSERT_LT(intCell(db, "SELECT count(*) FROM points"), 16) << "the sweep ended before the test could resume it";

  const auto refused = runExe({"--batch", "--no-progress", "--resume", "1", "--db", db}, dir);
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_NE(refused.err.find("still running in process " + std::to_string(owner)), std::string::npos) << refused.err;
  EXPECT_NE(runExe({"runs", "--db", db}, dir).out.find("running"), std::string::npos);

  kill(owner, SIGKILL);
  EXPECT_EQ(testing::waitExe(owner), 128 + SIGKILL);
  const auto runs = runExe({"runs", "--db", db}, dir);
  EXPECT_NE(runs.out.find("interrupted"), std::string::npos) << runs.out;
  EXPECT_EQ(runs.out.find("running"), std::string::npos) << runs.out;
  EXPECT_NE(runExe({"show", "1", "--db", db}, dir).out.find("[interrupted]"), std::string::npos);
  EXPECT_EQ(queryCell(db, "SELECT status FROM runs WHERE id = 1"), "running");  // as the killed owner left it

  const auto resumed = runExe({"--batch", "--no-progress", "--resume", "1", "--db", db}, dir);
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(intCell(db, "SELECT count(*) FROM points"), 16);
}

TEST(StoreCli, DamagedDatabaseIsBadInputAndStaysAsItWas) {
  const std::string dir = testing::freshDir("store_cli_damaged");
  const std::string db = dir + "/r.db";
  ASSERT_EQ(runExe(tinySweep(db, "16,32,64"), dir).code, 0);
  {
    // Overwrite everything after the header page: the file still opens as SQLite, its tables do not read.
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string junk(fs::file_size(db) - 4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  const std::string before = slurp(db);
  for (const auto& verb : std::vector<std::vector<std::string>>{{"runs"}, {"show", "1"}, {"export", "1", "--csv", "-"}}) {
    auto args = verb;
    args.insert(args.end(), {"--db", db});
    const auto r = runExe(args, dir);
    EXPECT_EQ(r.code, 2) << verb[0] << ": " << r.err;
    EXPECT_NE(r.err.find("damaged"), std::string::npos) << r.err;
  }
  EXPECT_EQ(runExe(tinySweep(db, "16"), dir).code, 2);
  EXPECT_TRUE(slurp(db) == before);
}

TEST(StoreCli, ReadOnlyDatabaseIsReadableAndSaysReadOnlyWhenChanged) {
  for (const bool folder_read_only : {false, true}) {
    SCOPED_TRACE(folder_read_only ? "read-only folder" : "writable folder");
    const std::string dir = testing::freshDir(folder_read_only ? "store_cli_ro_dir" : "store_cli_ro_file");
    const std::string data = dir + "/data";
    fs::create_directories(data);
    const std::string db = data + "/r.db";
    ASSERT_EQ(runExe(tinySweep(db, "16"), dir).code, 0);
    ASSERT_FALSE(fs::exists(db + "-wal"));
    fs::permissions(db, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    const auto read_and_enter = fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec;
    fs::permissions(data, folder_read_only ? read_and_enter : fs::perms::all);
    const std::string before = slurp(db);

    const auto runs = runExe({"runs", "--db", db}, dir, asUnprivilegedUser);
    EXPECT_EQ(runs.code, 0) << runs.err;
    EXPECT_NE(runs.out.find("completed"), std::string::npos) << runs.out;
    const auto show = runExe({"show", "1", "--db", db}, dir, asUnprivilegedUser);
    EXPECT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("run 1:"), std::string::npos) << show.out;
    const auto exported = runExe({"export", "1", "--csv", "-", "--db", db}, dir, asUnprivilegedUser);
    EXPECT_EQ(exported.code, 0) << exported.err;

    for (const auto& args : std::vector<std::vector<std::string>>{{"rename", "1", "x", "--db", db}, tinySweep(db, "16")}) {
      const auto r = runExe(args, dir, asUnprivilegedUser);
      EXPECT_EQ(r.code, 2) << args[0] << ": " << r.err;
      EXPECT_NE(r.err.find("read-only"), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("not an attnbench database"), std::string::npos) << r.err;
    }
    EXPECT_TRUE(slurp(db) == before);
    fs::permissions(data, fs::perms::all);
  }
}

TEST(StoreCli, AnotherProgramsSqliteFileIsNeverModified) {
  const std::string dir = testing::freshDir("store_cli_foreign");
  const std::string db = dir + "/notes.db";
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    sqlite3_exec(h, "CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES('keep me');", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  {
    // Another program that also numbers its schema, with a table called runs.
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/other.db").c_str(), &h), SQLITE_OK);
    sqlite3_exec(h, "CREATE TABLE runs(x); PRAGMA user_version = 1;", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  for (const std::string& file : {db, dir + "/other.db"}) {
    const std::string before = slurp(file);
    for (const auto& args : std::vector<std::vector<std::string>>{tinySweep(file, "16"), {"runs", "--db", file}}) {
      const auto r = runExe(args, dir);
      EXPECT_EQ(r.code, 2) << r.err;
      EXPECT_NE(r.err.find("another program"), std::string::npos) << r.err;
    }
    EXPECT_TRUE(slurp(file) == before) << file;
    EXPECT_FALSE(fs::exists(file + "-wal"));
    EXPECT_EQ(queryCell(file, "PRAGMA journal_mode"), "delete");
  }
}

TEST(StoreCli, ACreateThatFailsLeavesNoFile) {
  // Room for part of the first page, for the first page only, and for a few pages.
  for (const rlim_t limit : {rlim_t{1024}, rlim_t{4096}, rlim_t{12288}}) {
    SCOPED_TRACE("file size limit " + std::to_string(limit));
    const std::string dir = testing::freshDir("store_cli_create_" + std::to_string(limit));
    const std::string db = dir + "/new.db";
    const auto r = runExe(tinySweep(db, "16"), dir, fileSizeLimit(limit));
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("cannot create database"), std::string::npos) << r.err;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) EXPECT_FALSE(fs::exists(db + suffix)) << suffix;
  }
}

}  // namespace
}  // namespace attnbench
