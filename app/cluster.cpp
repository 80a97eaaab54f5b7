#include "cluster.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <variant>

#include "attnbench/errors.h"
#include "attnbench/result_fields.h"
#include "attnbench/store.h"
#include "attnbench/text_checks.h"
#include "cli.h"

namespace attnbench::cli {
namespace {

// One rank's run, read from its database.
struct RankRun {
  std::string path;
  RunRecord run;
  std::vector<PointResult> points;
};

// Exactly equal, NaN included: a point merged twice must compare equal to itself.
bool sameValue(const FieldValue& a, const FieldValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<double>(&a)) {
    const double y = std::get<double>(b);
    return *x == y || (std::isnan(*x) && std::isnan(y));
  }
  return a == b;
}

bool samePoint(const PointResult& a, const PointResult& b) {
  for (const auto& f : resultFields()) {
    if (!sameValue(f.get(a), f.get(b))) return false;
  }
  return a.samples_ms == b.samples_ms;
}

bool isRankRun(const RunRecord& r) { return r.shard && r.shard->rank != RunShard::kAllRanks; }

// The newest rank run in `store`, of sweep `sweep_uid` when given (else of any sweep).
std::optional<RunRecord> newestRankRun(Store& store, const std::string& sweep_uid) {
  for (auto& r : store.listRuns()) {
    if (isRankRun(r) && (sweep_uid.empty() || r.shard->sweep_uid == sweep_uid)) return r;
  }
  return std::nullopt;
}

// Reads the rank runs to merge: the newest rank run of the first input names the sweep, and every
// input must hold a run of it.
std::vector<RankRun> readRankRuns(const std::vector<std::string>& inputs) {
  std::vector<RankRun> runs;
  std::string sweep_uid;
  for (const auto& path : inputs) {
    auto store = Store::openReadOnly(path);
    std::optional<RunRecord> run = newestRankRun(*store, sweep_uid);
    if (!run) {
      const std::optional<RunRecord> other = newestRankRun(*store, "");
      if (!other) {
        throw InputError("'" + path + "' holds no rank's run (one run with --rank/--world-size or under a launcher)");
      }
      throw InputError("'" + path + "' holds no run of sweep " + sweep_uid + " (from '" + inputs.front() +
                       "'); its newest is of sweep " + other->shard->sweep_uid +
                       ": another spec, world size or launch. Nothing merged");
    }
    if (sweep_uid.empty()) sweep_uid = run->shard->sweep_uid;
    if (!runs.empty() && run->spec_json != runs.front().run.spec_json) {
      throw InputError("'" + path + "' and '" + inputs.front() + "' hold sweep " + sweep_uid +
                       " with different specs. Nothing merged");
    }
    auto points = store->loadPoints(run->id);
    runs.push_back({path, std::move(*run), std::move(points)});
  }
  return runs;
}

// A point of the merge and where it came from.
struct MergedPoint {
  PointResult result;
  std::string source;  // "'PATH' (rank R)"
};

void addPoint(std::map<int, MergedPoint>& merged, const PointResult& p, const std::string& source) {
  const auto [it, added] = merged.try_emplace(p.point.index, MergedPoint{p, source});
  if (!added && !samePoint(it->second.result, p)) {
    throw InputError("point #" + std::to_string(p.point.index) + " is in " + it->second.source + " and in " + source +
                     " with different results. Nothing merged");
  }
}

// The points of all ranks by index, each checked to be the sweep's point of that index.
std::map<int, MergedPoint> collectPoints(const std::vector<RankRun>& runs, const std::vector<SweepPoint>& sweep) {
  std::map<int, MergedPoint> merged;
  for (const auto& r : runs) {
    const std::string source = "'" + r.path + "' (rank " + std::to_string(r.run.shard->rank) + ")";
    for (const auto& p : r.points) {
      const auto i = static_cast<std::size_t>(p.point.index);
      if (p.point.index < 0 || i >= sweep.size() || sweep[i].label() != p.point.label()) {
        throw InputError("point #" + std::to_string(p.point.index) + " in " + source +
                         " is not that point of the sweep's spec. Nothing merged");
      }
      addPoint(merged, p, source);
    }
  }
  return merged;
}

// What the merged run records of each rank: its run's provenance and record, keys prefixed rank<R>.
Provenance perRankProvenance(const std::vector<RankRun>& runs) {
  Provenance p;
  for (const auto& r : runs) {
    const std::string prefix = "rank" + std::to_string(r.run.shard->rank) + ".";
    p.set(prefix + "device", r.run.device.name + " (" + r.run.device.id + ")");
    p.set(prefix + "host", r.run.host);
    p.set(prefix + "started_at", r.run.started_at);
    p.set(prefix + "finished_at", r.run.finished_at);
    p.set(prefix + "status", runStatusName(r.run.status));
    for (const auto& e : r.run.provenance.entries()) p.set(prefix + e.key, e.value);
  }
  return p;
}

std::string joined(const std::set<int>& values) {
  std::string s;
  for (const int v : values) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

// The merged run in `out_path` of sweep `sweep_uid`, if the file exists and holds one.
std::optional<RunRecord> existingMergedRun(const std::string& out_path, const std::string& sweep_uid,
                                           std::vector<PointResult>& points) {
  std::error_code ec;
  if (!std::filesystem::exists(out_path, ec)) return std::nullopt;
  auto store = Store::openReadOnly(out_path);
  for (auto& r : store->listRuns()) {
    if (r.shard && r.shard->rank == RunShard::kAllRanks && r.shard->sweep_uid == sweep_uid) {
      points = store->loadPoints(r.id);
      return r;
    }
  }
  return std::nullopt;
}

constexpr const char* kMissingNote = "merge: missing ";

}  // namespace

void printShard(std::ostream& out, const RunRecord& run) {
  if (!run.shard) return;
  const RunShard& s = *run.shard;
  out << "  ranks:   "
      << (s.rank == RunShard::kAllRanks ? "merged from " + std::to_string(s.world_size) + " ranks"
                                        : "rank " + std::to_string(s.rank) + " of " + std::to_string(s.world_size))
      << ", sweep " << printableText(s.sweep_uid) << '\n';
}

void addRankOptions(CLI::App& app, ClusterFlags& flags, const std::string& group) {
  app.add_option("--rank", flags.rank, "this process's rank in a sharded sweep (with --world-size; see docs/CLUSTER.md)")
      ->group(group);
  app.add_option("--world-size", flags.world_size, "how many ranks share the sweep (default: the launcher's)")
      ->group(group);
  app.add_option("--sweep-id", flags.sweep_id, "id shared by the ranks of one sweep (default: the launcher's job id)")
      ->group(group);
}

void declareMergeVerb(CLI::App& app, ClusterFlags& flags) {
  flags.merge = app.add_subcommand("merge", "join the rank databases of a sharded sweep into one run (docs/CLUSTER.md)");
  flags.merge->add_option("OUT", flags.merge_out, "database to merge into (created if absent)")->required();
  flags.merge->add_option("INPUTS", flags.merge_inputs, "the ranks' databases (read only)")->required()->expected(1, 65536);
}

std::optional<RankShare> rankShare(const ClusterFlags& flags, const SweepSpec& spec, const std::string& db_path) {
  if (flags.rank.has_value() != flags.world_size.has_value()) {
    throw InputError(flags.rank ? "--rank needs --world-size" : "--world-size needs --rank");
  }
  const auto getenv = [](const char* name) { return std::getenv(name); };
  std::optional<RankInfo> rank;
  if (flags.rank) rank = rankFromFlags(*flags.rank, *flags.world_size);
  else rank = rankFromEnvironment(getenv);
  if (!rank) {
    if (!flags.sweep_id.empty()) throw InputError("--sweep-id names a sharded sweep: give --rank and --world-size too");
    return std::nullopt;
  }
  return RankShare{*rank, sweepUid(spec, rank->world_size, flags.sweep_id, getenv), rankDatabasePath(db_path, rank->rank)};
}

void pinRankGpu(const RankInfo& rank, const std::string& device) {
  const bool may_use_gpu = device.empty() || device == "auto" || device == "cuda";
  if (!may_use_gpu || std::getenv("CUDA_VISIBLE_DEVICES") != nullptr) return;
  setenv("CUDA_VISIBLE_DEVICES", std::to_string(rank.local_rank).c_str(), 1);
}

int mergeRankDatabases(const std::string& out_path, const std::vector<std::string>& inputs, std::ostream& out) {
  for (const auto& in : inputs) {
    std::error_code ec;
    if (std::filesystem::equivalent(in, out_path, ec)) throw InputError("'" + in + "' is both OUT and an input");
  }
  // Everything is read and checked before OUT is opened for writing: a refused merge writes nothing.
  const std::vector<RankRun> runs = readRankRuns(inputs);
  const RunRecord& first = runs.front().run;
  const RunShard shard{first.shard->sweep_uid, RunShard::kAllRanks, first.shard->world_size};
  const std::vector<SweepPoint> sweep = expandPoints(first.spec);
  std::map<int, MergedPoint> merged = collectPoints(runs, sweep);

  std::vector<PointResult> stored;
  const std::optional<RunRecord> existing = existingMergedRun(out_path, shard.sweep_uid, stored);
  if (existing && existing->spec_json != first.spec_json) {
    throw InputError("'" + out_path + "' holds sweep " + shard.sweep_uid + " with another spec. Nothing merged");
  }
  std::set<int> already;
  for (const auto& p : stored) {
    addPoint(merged, p, "'" + out_path + "'");
    already.insert(p.point.index);
  }

  std::set<int> ranks;
  for (const auto& r : runs) ranks.insert(r.run.shard->rank);
  Provenance provenance{{"rank.sweep_uid", shard.sweep_uid}, {"rank.world_size", std::to_string(shard.world_size)}};
  provenance.merge(perRankProvenance(runs));
  std::set<int> missing_ranks;
  const std::vector<int> plan = planShards(first.spec, sweep, shard.world_size);
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    if (!merged.count(static_cast<int>(i))) missing_ranks.insert(plan[i]);
  }
  const std::size_t missing = sweep.size() - merged.size();
  const RunStatus status = missing == 0 ? RunStatus::Completed : RunStatus::Interrupted;
  const std::string note = missing == 0 ? "" : kMissingNote + std::to_string(missing) + " point(s) of rank(s) " + joined(missing_ranks);

  std::size_t added = 0;
  std::int64_t run_id = existing ? existing->id : 0;
  Provenance recorded = existing ? existing->provenance : Provenance{};
  recorded.merge(provenance);
  if (existing && merged.size() == already.size() && recorded == existing->provenance) {
    out << "nothing new: run " << existing->id << " of " << out_path << " already holds these ranks' points\n";
  } else {
    auto store = Store::open(out_path);
    if (!existing) {
      run_id = store->createRun(first.spec, first.device, static_cast<int>(sweep.size()), shard);
      store->renameRun(run_id, first.name);
    }
    for (const auto& [index, p] : merged) {
      if (already.count(index)) continue;
      store->recordPoint(run_id, p.result);
      ++added;
    }
    store->addProvenance(run_id, provenance);
    // The note says what is missing; a user's own note stays.
    if (!existing || existing->note.empty() || existing->note.rfind(kMissingNote, 0) == 0) {
      store->annotateRun(run_id, note);
    }
    store->setRunStatus(run_id, status);
  }
  out << "merged rank(s) " << joined(ranks) << " of " << shard.world_size << " (sweep " << printableText(shard.sweep_uid)
      << "): " << merged.size() << "/" << sweep.size() << " point(s), " << added << " new, into run " << run_id
      << " of " << out_path << " [" << runStatusName(status) << "]\n";
  if (missing > 0) out << "missing " << missing << " point(s) of rank(s) " << joined(missing_ranks) << '\n';
  return missing == 0 ? kExitOk : kExitFailedPoints;
}

}  // namespace attnbench::cli
