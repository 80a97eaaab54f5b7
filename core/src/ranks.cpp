#include "attnbench/ranks.h"

#include <algorithm>
#include <numeric>

#include "attnbench/errors.h"

namespace attnbench {
namespace {

int parseRankNumber(const char* name, const char* text) {
  std::size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || text[used] != '\0' || v < 0 || v > 1'000'000) {
    throw InputError(std::string(name) + "='" + text + "' is not a rank number");
  }
  return static_cast<int>(v);
}

RankInfo checked(RankInfo info) {
  if (info.world_size < 1) throw InputError("world size " + std::to_string(info.world_size) + " must be at least 1");
  if (info.rank >= info.world_size) {
    throw InputError("rank " + std::to_string(info.rank) + " is outside a world of " + std::to_string(info.world_size));
  }
  return info;
}

struct LauncherVariables {
  const char* launcher;
  const char* rank;
  const char* size;
  const char* local_rank;
};

constexpr LauncherVariables kLaunchers[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
    {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
    {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
    {"srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
};

}  // namespace

std::optional<RankInfo> rankFromEnvironment(const std::function<const char*(const char*)>& getenv) {
  for (const auto& l : kLaunchers) {
    const char* rank = getenv(l.rank);
    const char* size = getenv(l.size);
    if (rank == nullptr || size == nullptr) continue;
    RankInfo info;
    info.launcher = l.launcher;
    info.rank = parseRankNumber(l.rank, rank);
    info.world_size = parseRankNumber(l.size, size);
    const char* local = getenv(l.local_rank);
    info.local_rank = local != nullptr ? parseRankNumber(l.local_rank, local) : info.rank;
    return checked(info);
  }
  return std::nullopt;
}

RankInfo rankFromFlags(int rank, int world_size) {
  if (rank < 0) throw InputError("--rank must not be negative");
  return checked(RankInfo{rank, world_size, rank, "flags"});
}

std::vector<int> shardByCost(const std::vector<double>& costs, int world_size) {
  std::vector<int> owner(costs.size(), 0);
  if (world_size <= 1) return owner;
  std::vector<std::size_t> order(costs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Stable: equal costs keep their sweep order, so every rank sorts the same way.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return costs[a] > costs[b]; });
  std::vector<double> load(static_cast<std::size_t>(world_size), 0.0);
  for (const std::size_t point : order) {
    const auto lightest = std::min_element(load.begin(), load.end());
    *lightest += costs[point];
    owner[point] = static_cast<int>(lightest - load.begin());
  }
  return owner;
}

}  // namespace attnbench
