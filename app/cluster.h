// The command line's part in sweeps sharded over ranks (docs/CLUSTER.md): --rank/--world-size/--sweep-id
// beside --batch, the database each rank writes, and the `merge` verb that joins the ranks' databases
// into one run. Which rank a process is comes from the flags or from its launcher (core's ranks.h).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "attnbench/ranks.h"
#include "attnbench/store.h"
#include "attnbench/sweep_spec.h"

namespace attnbench::cli {

struct ClusterFlags {
  std::optional<int> rank, world_size;
  std::string sweep_id;
  CLI::App* merge = nullptr;
  std::string merge_out;
  std::vector<std::string> merge_inputs;
};

// --rank, --world-size and --sweep-id, in `group` (the sweep options: they go with --batch only).
void addRankOptions(CLI::App& app, ClusterFlags& flags, const std::string& group);

// The `merge OUT IN...` verb.
void declareMergeVerb(CLI::App& app, ClusterFlags& flags);

// The "ranks:" line of `show` for a run of a sharded sweep (its rank or the merge, the world size and
// the sweep's id); nothing for a run of one process.
void printShard(std::ostream& out, const RunRecord& run);

// One process's share of a sharded sweep: its rank, the sweep's id, the database it writes.
struct RankShare {
  RankInfo rank;
  std::string sweep_uid;
  std::string db_path;
};

// The share this process runs of `spec`: from --rank/--world-size when given (they win over a launcher's
// variables), else from the launcher's variables; nullopt for a run of one process. InputError for
// one of --rank/--world-size without the other, or values out of range.
std::optional<RankShare> rankShare(const ClusterFlags& flags, const SweepSpec& spec, const std::string& db_path);

// Gives each local rank its own GPU: when `device` may be a GPU (auto, cuda) and the launcher has not
// set CUDA_VISIBLE_DEVICES (srun --gpus-per-task does, torchrun and mpirun do not), sets it to the local
// rank. Call before the backend is made.
void pinRankGpu(const RankInfo& rank, const std::string& device);

// Joins the rank runs of one sweep found in `inputs` (read only) into one run in `out_path` (created if
// absent); see docs/CLUSTER.md. Writes a summary to `out`. InputError, with nothing written, for inputs
// of different sweeps or a point held twice with different results. Returns the exit code: 0 when every
// point of the sweep is in the merged run, 1 when some are missing.
int mergeRankDatabases(const std::string& out_path, const std::vector<std::string>& inputs, std::ostream& out);

}  // namespace attnbench::cli
