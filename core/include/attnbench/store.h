// SQLite store of runs, points, samples and devices. WAL journal, prepared statements only, each
// point committed in its own transaction as it completes, schema version in PRAGMA user_version.
//
// A Store is one connection; opening one is cheap (a file open and a few reads of the schema), so a
// long-lived program such as the GUI opens one per operation and holds none in between: with SQLite's
// POSIX locks, any close() of another descriptor of the database file in the process (a file dialog
// sniffing it) drops every lock a held connection has, and other processes may then checkpoint and
// delete the -wal/-shm under it. Reading goes through openReadOnly, which never writes the file.
// Errors: InputError for a path or file that is not a usable attnbench database (missing, another
// program's, damaged, newer schema, read-only where writing is asked); StoreWriteError when a write
// fails (disk full, I/O error).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/device_info.h"
#include "attnbench/provenance.h"
#include "attnbench/ranks.h"
#include "attnbench/results.h"
#include "attnbench/sweep_spec.h"

struct sqlite3;

namespace attnbench {

enum class RunStatus { Running, Completed, Interrupted, Failed };
std::string runStatusName(RunStatus s);
RunStatus parseRunStatus(const std::string& s);

struct RunRecord {
  std::int64_t id = 0;
  std::string name;
  std::string note;
  SweepSpec spec;
  nlohmann::json spec_json;
  std::string host;
  DeviceInfo device;
  std::string version;
  std::string started_at, finished_at;
  // As stored, except that a run stored as running whose owning process is gone reads Interrupted.
  RunStatus status = RunStatus::Running;
  // The process that runs (or last ran) it: pid and host, and its last heartbeat (Unix seconds).
  // Runs from schema version 1 have none (pid 0).
  std::int64_t owner_pid = 0;
  std::string owner_host;
  double heartbeat_at = 0;
  int total_points = 0;
  int finished_points = 0;  // points recorded so far
  // What the run was measured with (provenance.h); empty for runs stored before schema version 4.
  Provenance provenance;
  // Its place in a sweep sharded over ranks (ranks.h): one rank's share, or the merge of them all
  // (rank RunShard::kAllRanks); none for a run of one process (and runs stored before schema version 5).
  std::optional<RunShard> shard;
};

class Store {
 public:
  // Opens (creating or migrating) the database. An existing file is first inspected read-only and
  // left untouched unless it is an attnbench database (or an empty one). InputError for a path that
  // cannot be created or written, a file that is not SQLite or belongs to another program, or a
  // schema newer than this build understands. A create that fails removes the files it made.
  static std::unique_ptr<Store> open(const std::string& path);
  // Opens an existing attnbench database for writing, without creating or migrating it.
  static std::unique_ptr<Store> openExisting(const std::string& path);
  // Opens an existing attnbench database for reading only: never writes, creates or migrates
  // anything, and works on a read-only file or folder. Writing through it throws InputError.
  static std::unique_ptr<Store> openReadOnly(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // 2: runs record their owning process (owner_pid, owner_host, owner_start, heartbeat_at).
  // 3: points columns named as the result fields. 4: runs record their provenance. 5: runs record
  // their place in a sharded sweep.
  static constexpr int kSchemaVersion = 5;
  // A running sweep refreshes its run's heartbeat this often; a run on another host whose heartbeat is
  // older than kOwnerStaleSeconds counts as abandoned (on this host the process table decides).
  static constexpr int kHeartbeatSeconds = 10;
  static constexpr int kOwnerStaleSeconds = 60;
  const std::string& path() const { return path_; }

  // Creates a running run owned by this process; `shard` when it is part of a sharded sweep.
  std::int64_t createRun(const SweepSpec& spec, const DeviceInfo& device, int total_points,
                         const std::optional<RunShard>& shard = std::nullopt);
  // Takes over `run_id` to resume it: sets it running and owned by this process, in one transaction.
  // InputError when the run is still running in a live process (this one aside).
  void claimRun(std::int64_t run_id);
  // Stamps the heartbeat of a run this process owns.
  void heartbeat(std::int64_t run_id);
  void setRunStatus(std::int64_t run_id, RunStatus status);  // also stamps finished_at unless Running
  void renameRun(std::int64_t run_id, const std::string& name);
  void annotateRun(std::int64_t run_id, const std::string& note);
  void deleteRun(std::int64_t run_id);  // with its points and samples
  // Adds to the run's provenance: a key already there takes the new value in its place, others append.
  void addProvenance(std::int64_t run_id, const Provenance& more);

  // Records a finished point and its samples atomically; replaces an earlier record of the same index.
  void recordPoint(std::int64_t run_id, const PointResult& result);

  std::vector<RunRecord> listRuns();                    // newest first
  std::optional<RunRecord> findRun(std::int64_t run_id);
  RunRecord requireRun(std::int64_t run_id);            // InputError "no run N in DB"
  std::vector<PointResult> loadPoints(std::int64_t run_id);  // by point index, with samples

  // Measured ceilings cached per device fingerprint.
  std::optional<DeviceCeilings> cachedCeilings(const std::string& fingerprint);
  void cacheCeilings(const DeviceInfo& device, const DeviceCeilings& ceilings);

  // The default database: $XDG_DATA_HOME/attnbench/results.db (~/.local/share/...).
  static std::string defaultPath();

 private:
  Store(std::string path, sqlite3* db);
  static std::unique_ptr<Store> openChecked(const std::string& path, bool read_only);
  void migrate();
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace attnbench
