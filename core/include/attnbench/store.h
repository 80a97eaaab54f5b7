// SQLite store of runs, points, samples and devices. WAL journal, prepared statements only, each
// point committed in its own transaction as it completes, schema version in PRAGMA user_version.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/device_info.h"
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
  RunStatus status = RunStatus::Running;
  int total_points = 0;
  int finished_points = 0;  // points recorded so far
};

class Store {
 public:
  // Opens (creating or migrating) the database. InputError for a path that cannot be created or
  // written, a file that is not SQLite, or a schema newer than this build understands.
  static std::unique_ptr<Store> open(const std::string& path);
  // Opens an existing database without creating or migrating it (for reading a run's results).
  static std::unique_ptr<Store> openExisting(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int kSchemaVersion = 1;
  const std::string& path() const { return path_; }

  std::int64_t createRun(const SweepSpec& spec, const DeviceInfo& device, int total_points);
  void setRunStatus(std::int64_t run_id, RunStatus status);  // also stamps finished_at unless Running
  void renameRun(std::int64_t run_id, const std::string& name);
  void annotateRun(std::int64_t run_id, const std::string& note);
  void deleteRun(std::int64_t run_id);  // with its points and samples

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
  void migrate();
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace attnbench
