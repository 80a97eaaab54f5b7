#include "attnbench/store.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "attnbench/errors.h"
#include "attnbench/result_fields.h"

#ifndef ATTNBENCH_VERSION
#define ATTNBENCH_VERSION "dev"
#endif

namespace attnbench {
namespace {

namespace fs = std::filesystem;

// An SQLite error this file did not turn into one of the public errors; `code` is the extended code.
class SqliteError : public std::runtime_error {
 public:
  SqliteError(const std::string& message, int sqlite_code) : std::runtime_error(message), code(sqlite_code) {}
  int code;
};

// The database was locked by another connection and SQLite did not wait (see Store::open).
class SqliteBusy : public SqliteError {
 public:
  using SqliteError::SqliteError;
};

bool isBusy(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

std::string databaseName(sqlite3* db) {
  const char* name = sqlite3_db_filename(db, "main");
  return name != nullptr && *name != '\0' ? name : "the database";
}

// Turns a failed SQLite call into the error its cause deserves, in words a user can act on: a full
// disk or an I/O error is a StoreWriteError, a damaged or read-only file an InputError.
[[noreturn]] void throwSqlite(sqlite3* db, int rc, const std::string& context) {
  const std::string path = databaseName(db);
  const std::string detail = context + ": " + sqlite3_errmsg(db);
  const int sys = sqlite3_system_errno(db);
  const int primary = rc & 0xff;
  if (isBusy(rc)) throw SqliteBusy(detail, rc);
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR) {
    // SQLite reports a full disk as SQLITE_FULL only when the failing write said ENOSPC; other limits
    // come as a failed write, with the system error when SQLite kept it.
    const bool reading = rc == SQLITE_IOERR_READ || rc == SQLITE_IOERR_SHORT_READ;
    const std::string why = primary == SQLITE_FULL || sys == ENOSPC ? "the disk is full"
                            : sys == EDQUOT                          ? "the disk quota is exhausted"
                            : sys == EFBIG                           ? "a file size limit was reached"
                            : sys != 0                               ? std::strerror(sys)
                            : reading                                ? "a read failed"
                                                                     : "a write failed (is the disk full?)";
    const std::string what = reading ? "cannot read database '" : "cannot save to database '";
    throw StoreWriteError(what + path + "': " + why, why);
  }
  if (primary == SQLITE_NOTADB) throw InputError("'" + path + "' is not an attnbench database (not SQLite)");
  if (primary == SQLITE_CORRUPT) {
    throw InputError("database '" + path + "' is damaged (" + sqlite3_errmsg(db) +
                     "); `sqlite3 FILE 'PRAGMA integrity_check'` tells more");
  }
  // SQLITE_READONLY itself is a write refused; its extended codes (no -shm can be made, say) are
  // conditions that a read-only open may still work around.
  if (rc == SQLITE_READONLY) throw InputError("database '" + path + "' is read-only: it can be read, not changed");
  throw SqliteError(detail, rc);
}

// A prepared statement with positional binding; every SQL text in the store goes through one.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) throwSqlite(db, rc, std::string("SQLite prepare of '") + sql + "'");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, int v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, std::uint64_t v) { return check(sqlite3_bind_int64(stmt_, i, static_cast<sqlite3_int64>(v))); }
  Statement& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
  Statement& bind(int i, bool v) { return check(sqlite3_bind_int(stmt_, i, v ? 1 : 0)); }
  Statement& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Statement& bindNull(int i) { return check(sqlite3_bind_null(stmt_, i)); }

  // True while there is a row to read.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throwSqlite(db_, rc, "SQLite step");
  }
  void run() {
    while (step()) {
    }
  }
  // Makes the statement ready to be bound and run again.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw std::runtime_error(std::string("SQLite bind failed: ") + sqlite3_errmsg(db_));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when an exception leaves the scope. IMMEDIATE takes the
// write lock up front, so two writers wait on the busy timeout instead of deadlocking on upgrade.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { Statement(db, "BEGIN IMMEDIATE").run(); }
  ~Transaction() {
    if (!committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    Statement(db_, "COMMIT").run();
    committed_ = true;
  }

 private:
  sqlite3* db_;
  bool committed_ = false;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  sqlite3_free(err);  // sqlite3_errmsg still holds the message
  if (rc != SQLITE_OK) throwSqlite(db, rc, "SQLite");
}

const char* kSchemaV1 = R"sql(
CREATE TABLE devices(
  fingerprint TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  info_json TEXT NOT NULL,
  copy_gbps REAL,
  gemm_tflops REAL,
  gemm_dtype TEXT,
  measured_at TEXT);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  spec_json TEXT NOT NULL,
  host TEXT NOT NULL,
  device_fingerprint TEXT,
  device_json TEXT NOT NULL,
  version TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL,
  total_points INTEGER NOT NULL);
CREATE TABLE points(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  model TEXT NOT NULL, heads_q INTEGER, heads_kv INTEGER, head_dim INTEGER,
  batch INTEGER, seq_len INTEGER, dtype TEXT, causal INTEGER, kernel TEXT,
  tile_requested TEXT, tile TEXT,
  status TEXT NOT NULL, message TEXT NOT NULL,
  median_ms REAL, mean_ms REAL, std_ms REAL, min_ms REAL, max_ms REAL,
  flops REAL, tflops REAL, predicted_bytes INTEGER, peak_bytes INTEGER,
  max_abs_error REAL, max_rel_error REAL, reference_error REAL, tolerance REAL,
  checked_rows INTEGER, unwritten INTEGER, correct INTEGER,
  started_at TEXT, finished_at TEXT,
  UNIQUE(run_id, idx));
CREATE TABLE samples(
  point_id INTEGER NOT NULL REFERENCES points(id) ON DELETE CASCADE,
  rep INTEGER NOT NULL,
  ms REAL NOT NULL,
  PRIMARY KEY(point_id, rep));
)sql";

// Version 2: the process that owns a run, so that a second process cannot resume a live run and a run
// whose process died reads as interrupted.
// Version 3: the points table's columns are the result fields' names (index and passed were idx and
// correct); the columns of fields added since are added by addMissingPointColumns.
const char* kSchemaV3Step = R"sql(
ALTER TABLE points RENAME COLUMN idx TO "index";
ALTER TABLE points RENAME COLUMN correct TO passed;
)sql";

// Version 4: what each run was measured with (provenance.h), a JSON object of strings. A table of its
// own rather than a column of runs: the runs rows stay small, so that marking a run interrupted after a
// failed write (a full disk) still fits in the pages the failed transaction had claimed.
const char* kSchemaV4Step = R"sql(
CREATE TABLE run_provenance(
  run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  provenance TEXT NOT NULL);
)sql";

// Version 5: a run's place in a sweep sharded over ranks (ranks.h): the sweep's id shared by its ranks,
// the rank (NULL for a run merged from all of them) and the world size. A table of its own, as for
// version 4; runs of one process have no row.
const char* kSchemaV5Step = R"sql(
CREATE TABLE run_shards(
  run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  sweep_uid TEXT NOT NULL,
  rank INTEGER,
  world_size INTEGER NOT NULL);
)sql";

const char* kSchemaV2Step = R"sql(
ALTER TABLE runs ADD COLUMN owner_pid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN owner_host TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN owner_start TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN heartbeat_at REAL NOT NULL DEFAULT 0;
)sql";

int userVersion(sqlite3* db) {
  Statement st(db, "PRAGMA user_version");
  return st.step() ? static_cast<int>(st.integer(0)) : 0;
}

sqlite3* openHandle(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw InputError("cannot open database '" + path + "': " + why);
  }
  sqlite3_busy_timeout(db, 60000);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

// Owns a connection until it is handed on; closes it when an error leaves the scope first.
struct HandleGuard {
  sqlite3* db;
  ~HandleGuard() { sqlite3_close(db); }
  sqlite3* release() { return std::exchange(db, nullptr); }
};

// SQLite could not open or set up the -wal/-shm files next to the database (a read-only folder).
bool isCantOpen(const SqliteError& e) {
  const int primary = e.code & 0xff;
  return primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY;
}

// Reads the schema version and checks that the tables are attnbench's, without writing anything.
// 0 for an empty database; InputError for another program's database, a damaged file or a newer
// schema. A busy database is not a verdict on the file: SqliteBusy goes up for the caller to retry.
int inspectSchema(sqlite3* db, const std::string& path) {
  const int version = userVersion(db);
  std::vector<std::string> tables;
  Statement st(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  while (st.step()) tables.push_back(st.text(0));
  if (version > Store::kSchemaVersion) {
    throw InputError("database '" + path + "' has schema version " + std::to_string(version) +
                     ", newer than this attnbench understands (" + std::to_string(Store::kSchemaVersion) + ")");
  }
  std::string missing;
  for (const char* table : {"devices", "points", "runs", "samples"}) {
    if (std::find(tables.begin(), tables.end(), table) == tables.end()) missing += missing.empty() ? table : std::string(", ") + table;
  }
  if (version == 0 && tables.empty()) return 0;
  if (!missing.empty()) {
    std::string found;
    for (std::size_t i = 0; i < tables.size() && i < 3; ++i) found += (i ? ", " : "") + tables[i];
    if (tables.size() > 3) found += ", ...";
    throw InputError("'" + path + "' is an SQLite database of another program (tables: " + found +
                     "); attnbench leaves it untouched, choose another --db");
  }
  return version;
}

// Percent-encodes a path for an SQLite "file:" URI.
std::string fileUri(const std::string& path) {
  std::string uri = "file:";
  for (unsigned char c : fs::absolute(path).string()) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      uri += hex;
    }
  }
  return uri;
}

// A read-only connection to an existing database, and its schema version. In a read-only folder
// SQLite cannot create the -shm file a WAL database needs; when the -wal file is absent or empty
// there is nothing beyond the main file, which is then read as immutable.
std::pair<sqlite3*, int> openForReading(const std::string& path) {
  HandleGuard guard{openHandle(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX)};
  try {
    const int version = inspectSchema(guard.db, path);
    return {guard.release(), version};
  } catch (const SqliteError& e) {
    if (!isCantOpen(e)) throw;
    std::error_code ec;
    const auto wal_size = fs::file_size(path + "-wal", ec);
    if (!ec && wal_size > 0) {
      throw InputError("cannot read database '" + path + "': its folder is read-only and '" + path +
                       "-wal' holds changes that SQLite cannot read without creating '" + path + "-shm'");
    }
  }
  sqlite3_close(guard.release());
  guard.db = openHandle(fileUri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX);
  const int version = inspectSchema(guard.db, path);
  return {guard.release(), version};
}

// Before any write to an existing file: a damaged file is refused while nothing has touched it (a
// write open would otherwise switch its journal mode or migrate it before SQLite trips on the damage).
void refuseDamaged(const std::string& path) {
  auto [db, version] = openForReading(path);
  HandleGuard guard{db};
  static_cast<void>(version);
  Statement st(db, "PRAGMA quick_check(1)");
  const std::string verdict = st.step() ? st.text(0) : std::string("no answer");
  if (verdict != "ok") {
    throw InputError("database '" + path + "' is damaged (" + verdict +
                     "); `sqlite3 FILE 'PRAGMA integrity_check'` tells more");
  }
}

std::set<std::string> tableColumns(sqlite3* db, const char* table);

// Whether a write open must migrate: an older schema, or result fields without their column.
bool needsMigration(sqlite3* db, int version) {
  if (version < Store::kSchemaVersion) return true;
  const auto columns = tableColumns(db, "points");
  for (const auto& f : resultFields()) {
    if (!columns.count(std::string(f.name))) return true;
  }
  return false;
}

// Runs `step` again while another process holds the lock and SQLite did not wait for it (it answers
// "busy" at once where waiting could deadlock, e.g. processes creating one new file together).
template <typename Step>
auto retryWhileBusy(const std::string& path, Step step) {
  for (int attempt = 0;; ++attempt) {
    try {
      return step();
    } catch (const SqliteBusy& e) {
      if (attempt == 600) throw InputError("database '" + path + "' stayed locked: " + e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

// After a create that failed (a full disk, say), removes what it left unless another process has
// made the file an attnbench database meanwhile.
void removeFailedCreate(const std::string& path) {
  try {
    auto [db, version] = openForReading(path);
    sqlite3_close(db);
    if (version > 0) return;
  } catch (const std::exception&) {
    // Unreadable: only the partial header this create began.
  }
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
}

// The start time of a process (field 22 of /proc/PID/stat), which tells a live owner from a later
// process that reuses its pid; empty where unknown. Sets `zombie` when the process has exited.
std::string processStart(std::int64_t pid, bool* zombie = nullptr) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 3 && zombie != nullptr) *zombie = field == "Z" || field == "X";
    if (i == 22) return field;
  }
  return "";
}

double unixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Whether the recorded owner of a run is still alive: on this host the process table decides (the
// pid exists, is not a zombie, and started when the owner did); elsewhere the heartbeat's age.
bool ownerAlive(std::int64_t pid, const std::string& host, const std::string& start, double heartbeat_at) {
  if (pid <= 0) return false;
  if (host != hostName()) return unixNow() - heartbeat_at < Store::kOwnerStaleSeconds;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  bool zombie = false;
  const std::string now_start = processStart(pid, &zombie);
  if (zombie) return false;
  return start.empty() || now_start.empty() || now_start == start;
}

bool ownedByThisProcess(std::int64_t pid, const std::string& host) {
  return pid == static_cast<std::int64_t>(::getpid()) && host == hostName();
}

// The points table has one column per result field (result_fields.h), named as the field. Version 2
// and older files name two of them differently; reading such a file maps them.
std::string legacyColumn(std::string_view field) {
  if (field == "index") return "idx";
  if (field == "passed") return "correct";
  return std::string(field);
}

std::string sqlName(std::string_view name) { return "\"" + std::string(name) + "\""; }

const char* sqlType(FieldType type) {
  switch (type) {
    case FieldType::Integer:
    case FieldType::Boolean: return "INTEGER";
    case FieldType::Real: return "REAL";
    case FieldType::Text: return "TEXT";
  }
  return "TEXT";
}

std::set<std::string> tableColumns(sqlite3* db, const char* table) {
  std::set<std::string> columns;
  Statement st(db, (std::string("PRAGMA table_info(") + table + ")").c_str());
  while (st.step()) columns.insert(st.text(1));
  return columns;
}

// Adds a column for every result field the table lacks (a field added since the file was made).
void addMissingPointColumns(sqlite3* db) {
  const auto columns = tableColumns(db, "points");
  for (const auto& f : resultFields()) {
    if (columns.count(std::string(f.name))) continue;
    exec(db, ("ALTER TABLE points ADD COLUMN " + sqlName(f.name) + " " + sqlType(f.type)).c_str());
  }
}

void bindField(Statement& st, int i, const FieldValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) st.bindNull(i);
        else st.bind(i, x);
      },
      v);
}

FieldValue readField(const Statement& st, int col, FieldType type) {
  if (st.isNull(col)) return {};
  switch (type) {
    case FieldType::Integer: return st.integer(col);
    case FieldType::Real: return st.real(col);
    case FieldType::Boolean: return st.integer(col) != 0;
    case FieldType::Text: return st.text(col);
  }
  return {};
}

}  // namespace

std::string runStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::Running: return "running";
    case RunStatus::Completed: return "completed";
    case RunStatus::Interrupted: return "interrupted";
    case RunStatus::Failed: return "failed";
  }
  return "failed";
}

RunStatus parseRunStatus(const std::string& s) {
  for (RunStatus st : {RunStatus::Running, RunStatus::Completed, RunStatus::Interrupted, RunStatus::Failed}) {
    if (runStatusName(st) == s) return st;
  }
  return RunStatus::Failed;
}

std::string Store::defaultPath() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  std::string base;
  if (xdg != nullptr && *xdg != '\0') {
    base = xdg;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home ? home : ".") + "/.local/share";
  }
  return base + "/attnbench/results.db";
}

std::unique_ptr<Store> Store::open(const std::string& path) {
  if (path == defaultPath()) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
  }
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  // An existing file is judged read-only first: a file that is not ours is never written to, not
  // even by the switch to WAL.
  if (existed && fs::is_regular_file(path, ec) && fs::file_size(path, ec) > 0) {
    retryWhileBusy(path, [&] { refuseDamaged(path); });
  }
  try {
    std::unique_ptr<Store> store(
        new Store(path, openHandle(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX)));
    if (sqlite3_db_readonly(store->db_, "main") == 1) throw InputError("database '" + path + "' is read-only");
    retryWhileBusy(path, [&] {
      try {
        // Again: the file may have been created since.
        if (needsMigration(store->db_, inspectSchema(store->db_, path))) store->migrate();
      } catch (const SqliteError& e) {
        if (dynamic_cast<const SqliteBusy*>(&e) != nullptr) throw;
        throw InputError("cannot write database '" + path + "': " + e.what());
      }
    });
    return store;
  } catch (const std::exception& e) {
    if (existed) throw;
    removeFailedCreate(path);
    if (dynamic_cast<const InputError*>(&e) != nullptr) throw;
    const auto* write_error = dynamic_cast<const StoreWriteError*>(&e);
    throw InputError("cannot create database '" + path + "': " + (write_error ? write_error->reason() : e.what()));
  }
}

std::unique_ptr<Store> Store::openChecked(const std::string& path, bool read_only) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError("no database at '" + path + "'");
  std::unique_ptr<Store> store;
  int version = 0;
  if (read_only) {
    auto [db, v] = retryWhileBusy(path, [&] { return openForReading(path); });
    store.reset(new Store(path, db));
    version = v;
  } else {
    retryWhileBusy(path, [&] { refuseDamaged(path); });
    store.reset(new Store(path, openHandle(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX)));
    if (sqlite3_db_readonly(store->db_, "main") == 1) {
      throw InputError("database '" + path + "' is read-only: it can be listed, shown, exported and compared, not changed");
    }
    version = retryWhileBusy(path, [&] {
      try {
        return inspectSchema(store->db_, path);
      } catch (const SqliteError& e) {
        if (!isCantOpen(e)) throw;
        throw InputError("cannot open database '" + path + "' for writing (" + e.what() +
                         "); SQLite needs to create '" + path + "-wal' and '-shm' in its folder");
      }
    });
  }
  if (version == 0) throw InputError("'" + path + "' is not an attnbench database (no schema)");
  if (version < kSchemaVersion && read_only) {
    // Read an older file as it is: temporary objects (in memory, shadowing the file's) supply what its
    // version did not record: the owner columns before version 2, the provenance table before 4, the
    // shards table before 5.
    if (version < 2) {
      exec(store->db_,
           "CREATE TEMP VIEW runs AS SELECT *, 0 AS owner_pid, '' AS owner_host, '' AS owner_start, "
           "0.0 AS heartbeat_at FROM main.runs");
    }
    if (version < 4) {
      exec(store->db_, "CREATE TEMP TABLE run_provenance(run_id INTEGER PRIMARY KEY, provenance TEXT NOT NULL)");
    }
    exec(store->db_,
         "CREATE TEMP TABLE run_shards(run_id INTEGER PRIMARY KEY, sweep_uid TEXT NOT NULL, rank INTEGER, "
         "world_size INTEGER NOT NULL)");
  } else if (!read_only && needsMigration(store->db_, version)) {
    // Also at the current version when result fields were added since the file was made.
    retryWhileBusy(path, [&] { store->migrate(); });
  }
  if (!read_only) exec(store->db_, "PRAGMA foreign_keys = ON");
  return store;
}

std::unique_ptr<Store> Store::openExisting(const std::string& path) { return openChecked(path, false); }

std::unique_ptr<Store> Store::openReadOnly(const std::string& path) { return openChecked(path, true); }

Store::Store(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

Store::~Store() { sqlite3_close(db_); }

void Store::migrate() {
  exec(db_, "PRAGMA journal_mode = WAL");
  exec(db_, "PRAGMA synchronous = NORMAL");
  exec(db_, "PRAGMA foreign_keys = ON");
  Transaction tx(db_);
  // Re-read under the write lock: another process may have migrated meanwhile.
  const int version = userVersion(db_);
  if (version < 1) {
    exec(db_, kSchemaV1);
    exec(db_, "CREATE INDEX points_by_run ON points(run_id, idx)");  // renamed with the column in version 3
  }
  if (version < 2) exec(db_, kSchemaV2Step);
  if (version < 3) exec(db_, kSchemaV3Step);
  if (version < 4) exec(db_, kSchemaV4Step);
  if (version < 5) exec(db_, kSchemaV5Step);
  addMissingPointColumns(db_);
  if (version < kSchemaVersion) exec(db_, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  tx.commit();
}

std::int64_t Store::createRun(const SweepSpec& spec, const DeviceInfo& device, int total_points,
                              const std::optional<RunShard>& shard) {
  Transaction tx(db_);
  Statement st(db_,
               "INSERT INTO runs(name, spec_json, host, device_fingerprint, device_json, version, started_at, status, "
               "total_points, owner_pid, owner_host, owner_start, heartbeat_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  st.bind(1, spec.name)
      .bind(2, specToJson(spec).dump())
      .bind(3, hostName())
      .bind(4, device.fingerprint)
      .bind(5, deviceInfoToJson(device).dump())
      .bind(6, std::string(ATTNBENCH_VERSION))
      .bind(7, isoTimestampNow())
      .bind(8, runStatusName(RunStatus::Running))
      .bind(9, total_points)
      .bind(10, static_cast<std::int64_t>(::getpid()))
      .bind(11, hostName())
      .bind(12, processStart(::getpid()))
      .bind(13, unixNow())
      .run();
  const std::int64_t id = sqlite3_last_insert_rowid(db_);
  if (shard) {
    Statement insert(db_, "INSERT INTO run_shards(run_id, sweep_uid, rank, world_size) VALUES(?,?,?,?)");
    insert.bind(1, id).bind(2, shard->sweep_uid);
    if (shard->rank == RunShard::kAllRanks) insert.bindNull(3);
    else insert.bind(3, shard->rank);
    insert.bind(4, shard->world_size).run();
  }
  tx.commit();
  return id;
}

void Store::claimRun(std::int64_t run_id) {
  Transaction tx(db_);  // the check and the take-over are one step: of two resumers, one wins
  Statement st(db_, "SELECT status, owner_pid, owner_host, owner_start, heartbeat_at FROM runs WHERE id = ?");
  st.bind(1, run_id);
  if (!st.step()) throw InputError("no run " + std::to_string(run_id) + " in " + path_);
  const std::int64_t pid = st.integer(1);
  const std::string host = st.text(2);
  if (parseRunStatus(st.text(0)) == RunStatus::Running && ownerAlive(pid, host, st.text(3), st.real(4)) &&
      !ownedByThisProcess(pid, host)) {
    char age[32];
    std::snprintf(age, sizeof age, "%.0f", unixNow() - st.real(4));
    throw InputError("run " + std::to_string(run_id) + " is still running in process " + std::to_string(pid) + " on " +
                     host + " (last heartbeat " + age + " s ago); wait for it to finish or stop that process first");
  }
  Statement(db_,
            "UPDATE runs SET status = ?, finished_at = NULL, owner_pid = ?, owner_host = ?, owner_start = ?, "
            "heartbeat_at = ? WHERE id = ?")
      .bind(1, runStatusName(RunStatus::Running))
      .bind(2, static_cast<std::int64_t>(::getpid()))
      .bind(3, hostName())
      .bind(4, processStart(::getpid()))
      .bind(5, unixNow())
      .bind(6, run_id)
      .run();
  tx.commit();
}

void Store::heartbeat(std::int64_t run_id) {
  Statement(db_, "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND owner_pid = ? AND owner_host = ?")
      .bind(1, unixNow())
      .bind(2, run_id)
      .bind(3, static_cast<std::int64_t>(::getpid()))
      .bind(4, hostName())
      .run();
}

void Store::setRunStatus(std::int64_t run_id, RunStatus status) {
  Statement st(db_, "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?");
  st.bind(1, runStatusName(status));
  if (status == RunStatus::Running) st.bindNull(2);
  else st.bind(2, isoTimestampNow());
  st.bind(3, run_id).run();
}

void Store::renameRun(std::int64_t run_id, const std::string& name) {
  requireRun(run_id);
  Statement(db_, "UPDATE runs SET name = ? WHERE id = ?").bind(1, name).bind(2, run_id).run();
}

void Store::annotateRun(std::int64_t run_id, const std::string& note) {
  requireRun(run_id);
  Statement(db_, "UPDATE runs SET note = ? WHERE id = ?").bind(1, note).bind(2, run_id).run();
}

void Store::deleteRun(std::int64_t run_id) {
  requireRun(run_id);
  Transaction tx(db_);
  Statement(db_, "DELETE FROM samples WHERE point_id IN (SELECT id FROM points WHERE run_id = ?)").bind(1, run_id).run();
  Statement(db_, "DELETE FROM points WHERE run_id = ?").bind(1, run_id).run();
  Statement(db_, "DELETE FROM run_provenance WHERE run_id = ?").bind(1, run_id).run();
  Statement(db_, "DELETE FROM run_shards WHERE run_id = ?").bind(1, run_id).run();
  Statement(db_, "DELETE FROM runs WHERE id = ?").bind(1, run_id).run();
  tx.commit();
}

void Store::addProvenance(std::int64_t run_id, const Provenance& more) {
  Transaction tx(db_);  // read, merge and write as one step
  Statement read(db_,
                 "SELECT coalesce((SELECT provenance FROM run_provenance WHERE run_id = r.id), '') FROM runs r "
                 "WHERE r.id = ?");
  read.bind(1, run_id);
  if (!read.step()) throw InputError("no run " + std::to_string(run_id) + " in " + path_);
  Provenance provenance = parseProvenance(read.text(0));
  provenance.merge(more);
  Statement(db_, "INSERT OR REPLACE INTO run_provenance(run_id, provenance) VALUES(?, ?)")
      .bind(1, run_id)
      .bind(2, serializeProvenance(provenance))
      .run();
  tx.commit();
}

void Store::recordPoint(std::int64_t run_id, const PointResult& r) {
  Transaction tx(db_);
  Statement(db_, "DELETE FROM samples WHERE point_id IN (SELECT id FROM points WHERE run_id = ? AND \"index\" = ?)")
      .bind(1, run_id)
      .bind(2, r.point.index)
      .run();
  Statement(db_, "DELETE FROM points WHERE run_id = ? AND \"index\" = ?").bind(1, run_id).bind(2, r.point.index).run();
  std::string columns = "run_id", values = "?";
  for (const auto& f : resultFields()) {
    columns += ", " + sqlName(f.name);
    values += ",?";
  }
  Statement st(db_, ("INSERT INTO points(" + columns + ") VALUES(" + values + ")").c_str());
  st.bind(1, run_id);
  int i = 2;
  for (const auto& f : resultFields()) bindField(st, i++, f.get(r));
  st.run();
  const std::int64_t point_id = sqlite3_last_insert_rowid(db_);
  Statement sample(db_, "INSERT INTO samples(point_id, rep, ms) VALUES(?,?,?)");
  for (std::size_t k = 0; k < r.samples_ms.size(); ++k) {
    sample.reset();
    sample.bind(1, point_id).bind(2, static_cast<int>(k)).bind(3, r.samples_ms[k]).run();
  }
  tx.commit();
}

namespace {
RunRecord readRun(const Statement& st) {
  RunRecord r;
  r.id = st.integer(0);
  r.name = st.text(1);
  r.note = st.text(2);
  r.spec_json = nlohmann::json::parse(st.text(3), nullptr, false);
  if (!r.spec_json.is_discarded()) {
    try {
      r.spec = specFromJson(r.spec_json);
    } catch (const InputError&) {
      // A spec this build cannot parse (e.g. a preset renamed since): the record is still listed.
    }
  }
  r.host = st.text(4);
  const auto device = nlohmann::json::parse(st.text(5), nullptr, false);
  if (!device.is_discarded()) r.device = deviceInfoFromJson(device);
  r.version = st.text(6);
  r.started_at = st.text(7);
  r.finished_at = st.text(8);
  r.status = parseRunStatus(st.text(9));
  r.total_points = static_cast<int>(st.integer(10));
  r.finished_points = static_cast<int>(st.integer(11));
  r.owner_pid = st.integer(12);
  r.owner_host = st.text(13);
  r.heartbeat_at = st.real(15);
  r.provenance = parseProvenance(st.text(16));
  if (!st.isNull(17)) {
    r.shard = RunShard{st.text(17), st.isNull(18) ? RunShard::kAllRanks : static_cast<int>(st.integer(18)),
                       static_cast<int>(st.integer(19))};
  }
  if (r.status == RunStatus::Running && !ownerAlive(r.owner_pid, r.owner_host, st.text(14), r.heartbeat_at)) {
    r.status = RunStatus::Interrupted;  // its process died without saying so (killed, crashed, disk full)
  }
  return r;
}
constexpr const char* kRunQuery =
    "SELECT r.id, r.name, r.note, r.spec_json, r.host, r.device_json, r.version, r.started_at, "
    "coalesce(r.finished_at, ''), r.status, r.total_points, "
    "(SELECT count(*) FROM points p WHERE p.run_id = r.id), r.owner_pid, r.owner_host, r.owner_start, r.heartbeat_at, "
    "coalesce((SELECT provenance FROM run_provenance WHERE run_id = r.id), ''), s.sweep_uid, s.rank, s.world_size "
    "FROM runs r LEFT JOIN run_shards s ON s.run_id = r.id ";
}  // namespace

std::vector<RunRecord> Store::listRuns() {
  Statement st(db_, (std::string(kRunQuery) + "ORDER BY r.id DESC").c_str());
  std::vector<RunRecord> out;
  while (st.step()) out.push_back(readRun(st));
  return out;
}

std::optional<RunRecord> Store::findRun(std::int64_t run_id) {
  Statement st(db_, (std::string(kRunQuery) + "WHERE r.id = ?").c_str());
  st.bind(1, run_id);
  if (!st.step()) return std::nullopt;
  return readRun(st);
}

RunRecord Store::requireRun(std::int64_t run_id) {
  auto run = findRun(run_id);
  if (!run) throw InputError("no run " + std::to_string(run_id) + " in " + path_);
  return *run;
}

std::vector<PointResult> Store::loadPoints(std::int64_t run_id) {
  std::vector<PointResult> out;
  std::map<std::int64_t, std::size_t> by_id;
  // Read the stored fields this file has: older files lack the fields added since (they keep their
  // defaults) and name two columns differently.
  const auto columns = tableColumns(db_, "points");
  std::vector<const ResultField*> read;
  std::string select = "SELECT id";
  for (const auto& f : resultFields()) {
    if (f.derived()) continue;
    const std::string column = columns.count(std::string(f.name)) ? std::string(f.name) : legacyColumn(f.name);
    if (!columns.count(column)) continue;
    select += ", " + sqlName(column);
    read.push_back(&f);
  }
  const std::string order = columns.count("index") ? "\"index\"" : "idx";
  Statement st(db_, (select + " FROM points WHERE run_id = ? ORDER BY " + order).c_str());
  st.bind(1, run_id);
  while (st.step()) {
    by_id[st.integer(0)] = out.size();
    PointResult r;
    for (std::size_t k = 0; k < read.size(); ++k) {
      read[k]->set(r, readField(st, static_cast<int>(k) + 1, read[k]->type));
    }
    out.push_back(std::move(r));
  }
  Statement samples(db_,
                    "SELECT s.point_id, s.ms FROM samples s JOIN points p ON p.id = s.point_id "
                    "WHERE p.run_id = ? ORDER BY s.point_id, s.rep");
  samples.bind(1, run_id);
  while (samples.step()) {
    auto it = by_id.find(samples.integer(0));
    if (it != by_id.end()) out[it->second].samples_ms.push_back(samples.real(1));
  }
  return out;
}

std::optional<DeviceCeilings> Store::cachedCeilings(const std::string& fingerprint) {
  Statement st(db_, "SELECT copy_gbps, gemm_tflops, gemm_dtype FROM devices WHERE fingerprint = ? AND gemm_tflops IS NOT NULL");
  st.bind(1, fingerprint);
  if (!st.step()) return std::nullopt;
  return DeviceCeilings{st.real(0), st.real(1), st.text(2)};
}

void Store::cacheCeilings(const DeviceInfo& device, const DeviceCeilings& c) {
  Statement(db_,
            "INSERT OR REPLACE INTO devices(fingerprint, kind, name, info_json, copy_gbps, gemm_tflops, gemm_dtype, "
            "measured_at) VALUES(?,?,?,?,?,?,?,?)")
      .bind(1, device.fingerprint)
      .bind(2, device.kind)
      .bind(3, device.name)
      .bind(4, deviceInfoToJson(device).dump())
      .bind(5, c.copy_gbps)
      .bind(6, c.gemm_tflops)
      .bind(7, c.gemm_dtype)
      .bind(8, isoTimestampNow())
      .run();
}

}  // namespace attnbench
