// Several processes sharing one sweep: which rank this process is (from the launcher that started it or
// from --rank/--world-size) and which points it runs. Launchers already exist (torchrun, mpirun, srun);
// attnbench only reads what they set.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

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
// SLURM_NTASKS, SLURM_LOCALID), in that order. nullopt when none is set. InputError for values that are
// not numbers or out of range (a rank outside the world).
std::optional<RankInfo> rankFromEnvironment(const std::function<const char*(const char*)>& getenv);

// --rank/--world-size given on the command line (local rank = rank); InputError when out of range.
RankInfo rankFromFlags(int rank, int world_size);

// Deals the points out to `world_size` ranks by predicted cost: the most expensive first, each to the
// rank with the least cost so far (ties to the lower rank), so the ranks finish close together. Every
// rank computes the same plan from the same costs. Returns, per point, its rank.
std::vector<int> shardByCost(const std::vector<double>& costs, int world_size);

}  // namespace attnbench
