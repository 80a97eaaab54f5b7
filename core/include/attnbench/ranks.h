// Several processes sharing one sweep: which rank this process is (from the launcher that started it or
// from --rank/--world-size) and which points it runs. Launchers already exist (torchrun, mpirun, srun);
// attnbench only reads what they set.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "attnbench/provenance.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

struct RankInfo {
  int rank = 0;          // 0 .. world_size-1
  int world_size = 1;
  int local_rank = 0;    // index among the ranks of this host (picks the GPU)
  std::string launcher;  // "torchrun", "mpirun", "srun", "pmi" or "flags"

  bool distributed() const { return world_size > 1; }
};

// Reads a launcher's variables through `getenv`: torchrun (RANK, WORLD_SIZE, LOCAL_RANK), Open MPI
// (OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK), PMI (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID), Slurm (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID, in a job step: with SLURM_STEP_ID), in that order. nullopt when none is set. InputError for values that are
// not numbers or out of range (a rank outside the world).
std::optional<RankInfo> rankFromEnvironment(const std::function<const char*(const char*)>& getenv);

// --rank/--world-size given on the command line (local rank = rank); InputError when out of range.
RankInfo rankFromFlags(int rank, int world_size);

// Deals the points out to `world_size` ranks by predicted cost: the most expensive first, each to the
// rank with the least cost so far (ties to the lower rank), so the ranks finish close together. Every
// rank computes the same plan from the same costs. Returns, per point, its rank.
std::vector<int> shardByCost(const std::vector<double>& costs, int world_size);

// The predicted cost of each of `points` on a nominal device (the cost model's arithmetic and traffic at
// fixed ceilings): it orders and deals points the same way on any hardware.
std::vector<double> nominalPointCosts(const SweepSpec& spec, const std::vector<SweepPoint>& points);

// The plan of a sharded sweep: shardByCost over the points' predicted cost on a nominal device, so that
// ranks on different hardware (or with different measured ceilings) still compute the same plan.
// Returns, per point of `points` (the whole expansion of `spec`), its rank.
std::vector<int> planShards(const SweepSpec& spec, const std::vector<SweepPoint>& points, int world_size);

// The identity shared by all ranks of one sharded sweep: `sweep_id` when given; else the launcher's job
// (TORCHELASTIC_RUN_ID, SLURM_JOB_ID with SLURM_STEP_ID, Open MPI's OMPI_MCA_ess_base_jobid or
// PMIX_NAMESPACE); else nothing but the spec. A hash of the spec and the world size is always part of
// it, so two sweeps of one job differ.
std::string sweepUid(const SweepSpec& spec, int world_size, const std::string& sweep_id,
                     const std::function<const char*(const char*)>& getenv);

// One run's place in a sharded sweep, as the store keeps it.
struct RunShard {
  static constexpr int kAllRanks = -1;  // the rank of a run merged from every rank's database
  std::string sweep_uid;
  int rank = 0;
  int world_size = 1;
  bool operator==(const RunShard&) const = default;
};

// The rank.* provenance entries of a rank's run: rank, world size, local rank, launcher, sweep id.
Provenance rankProvenance(const RankInfo& rank, const std::string& sweep_uid);

// The database a rank writes: `{rank}` in `path` replaced by the rank, else ".rankR" inserted before
// the extension ("results.db" -> "results.rank3.db"; no extension: appended).
std::string rankDatabasePath(const std::string& path, int rank);

}  // namespace attnbench
