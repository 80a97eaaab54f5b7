#include "attnbench/ranks.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "attnbench/cost_model.h"
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
  const char* only_with;  // a variable that must be set too, or nullptr
};

// Slurm sets SLURM_PROCID and SLURM_NTASKS in a batch script as well, where no ranks were started;
// srun's tasks also have SLURM_STEP_ID, which the batch script lacks.
constexpr LauncherVariables kLaunchers[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", nullptr},
    {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", nullptr},
    {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", nullptr},
    {"srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_STEP_ID"},
};

}  // namespace

std::optional<RankInfo> rankFromEnvironment(const std::function<const char*(const char*)>& getenv) {
  for (const auto& l : kLaunchers) {
    const char* rank = getenv(l.rank);
    const char* size = getenv(l.size);
    if (rank == nullptr || size == nullptr || (l.only_with != nullptr && getenv(l.only_with) == nullptr)) continue;
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

std::vector<double> nominalPointCosts(const SweepSpec& spec, const std::vector<SweepPoint>& points) {
  // No device memory (only the spec's --max-memory skips a point) and fixed ceilings: the costs depend
  // on the spec alone. Only the ratio of the ceilings matters for an order or a deal.
  const DeviceInfo any_device;
  const DeviceCeilings plan_ceilings{100.0, 1.0, "plan"};
  std::vector<double> costs;
  costs.reserve(points.size());
  for (const SweepPoint& p : points) costs.push_back(predictedPointSeconds(p, spec, any_device, plan_ceilings));
  return costs;
}

std::vector<int> planShards(const SweepSpec& spec, const std::vector<SweepPoint>& points, int world_size) {
  return shardByCost(nominalPointCosts(spec, points), world_size);
}

std::string sweepUid(const SweepSpec& spec, int world_size, const std::string& sweep_id,
                     const std::function<const char*(const char*)>& getenv) {
  // FNV-1a over the spec as stored (its JSON) and the world size.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : specToJson(spec).dump() + "/" + std::to_string(world_size)) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(h));
  const auto set = [&getenv](const char* name) -> std::string {
    const char* v = getenv(name);
    return v != nullptr ? v : "";
  };
  std::string job;
  if (!sweep_id.empty()) {
    job = "id:" + sweep_id;
  } else if (const std::string torch = set("TORCHELASTIC_RUN_ID"); !torch.empty() && torch != "none") {
    job = "torchrun:" + torch;  // torchrun's default rendezvous id is "none", shared by every job
  } else if (const std::string slurm = set("SLURM_JOB_ID"); !slurm.empty()) {
    const std::string step = set("SLURM_STEP_ID");
    job = "slurm:" + slurm + (step.empty() ? "" : "." + step);
  } else if (const std::string ompi = set("OMPI_MCA_ess_base_jobid"); !ompi.empty()) {
    job = "mpirun:" + ompi;
  } else if (const std::string pmix = set("PMIX_NAMESPACE"); !pmix.empty()) {
    job = "mpirun:" + pmix;
  }
  return job.empty() ? std::string("spec:") + hash : job + "/" + hash;
}

Provenance rankProvenance(const RankInfo& rank, const std::string& sweep_uid) {
  return {{"rank.rank", std::to_string(rank.rank)},
          {"rank.world_size", std::to_string(rank.world_size)},
          {"rank.local_rank", std::to_string(rank.local_rank)},
          {"rank.launcher", rank.launcher},
          {"rank.sweep_uid", sweep_uid}};
}

std::string rankDatabasePath(const std::string& path, int rank) {
  const std::string r = std::to_string(rank);
  if (const auto at = path.find("{rank}"); at != std::string::npos) {
    std::string out = path;
    for (auto pos = at; pos != std::string::npos; pos = out.find("{rank}", pos + r.size())) out.replace(pos, 6, r);
    return out;
  }
  const std::filesystem::path p(path);
  const std::string name = p.stem().string() + ".rank" + r + p.extension().string();
  return (p.parent_path() / name).string();
}

}  // namespace attnbench
