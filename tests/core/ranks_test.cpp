// Ranks from launchers' variables and flags, and the cost-balanced deal of points to ranks.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "attnbench/errors.h"
#include "attnbench/ranks.h"

namespace attnbench {
namespace {

std::function<const char*(const char*)> env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(Ranks, EachLauncherIsRecognised) {
  EXPECT_FALSE(rankFromEnvironment(env({})).has_value());
  const auto torch = rankFromEnvironment(env({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}}));
  ASSERT_TRUE(torch);
  EXPECT_EQ(torch->launcher, "torchrun");
  EXPECT_EQ(torch->rank, 3);
  EXPECT_EQ(torch->world_size, 8);
  EXPECT_EQ(torch->local_rank, 1);
  const auto mpi = rankFromEnvironment(env({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "4"}}));
  ASSERT_TRUE(mpi);
  EXPECT_EQ(mpi->launcher, "mpirun");
  EXPECT_EQ(mpi->local_rank, 2);
  // A batch script has Slurm's rank variables too, but no job step: it is no rank.
  EXPECT_FALSE(rankFromEnvironment(env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "6"}, {"SLURM_LOCALID", "0"}})));
  const auto slurm = rankFromEnvironment(
      env({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "6"}, {"SLURM_LOCALID", "1"}, {"SLURM_STEP_ID", "0"}}));
  ASSERT_TRUE(slurm);
  EXPECT_EQ(slurm->launcher, "srun");
  EXPECT_TRUE(slurm->distributed());
  const auto pmi = rankFromEnvironment(env({{"PMI_RANK", "0"}, {"PMI_SIZE", "1"}}));
  ASSERT_TRUE(pmi);
  EXPECT_FALSE(pmi->distributed());
}

TEST(Ranks, BadValuesAreInputErrors) {
  EXPECT_THROW(rankFromEnvironment(env({{"RANK", "x"}, {"WORLD_SIZE", "2"}})), InputError);
  EXPECT_THROW(rankFromEnvironment(env({{"RANK", "2"}, {"WORLD_SIZE", "2"}})), InputError);
  EXPECT_THROW(rankFromEnvironment(env({{"RANK", "-1"}, {"WORLD_SIZE", "2"}})), InputError);
  EXPECT_THROW(rankFromEnvironment(env({{"RANK", "0"}, {"WORLD_SIZE", "0"}})), InputError);
  EXPECT_THROW(rankFromFlags(4, 4), InputError);
  EXPECT_THROW(rankFromFlags(-1, 4), InputError);
  EXPECT_EQ(rankFromFlags(1, 4).launcher, "flags");
}

TEST(Ranks, ShardingCoversEveryPointOnceAndBalancesCost) {
  // Costs growing like N^2, as attention's do: 1, 4, 9, ... 400.
  std::vector<double> costs;
  for (int n = 1; n <= 20; ++n) costs.push_back(static_cast<double>(n * n));
  for (int world : {1, 2, 3, 4, 7}) {
    const std::vector<int> owner = shardByCost(costs, world);
    ASSERT_EQ(owner.size(), costs.size());
    std::vector<double> load(static_cast<std::size_t>(world), 0.0);
    for (std::size_t i = 0; i < costs.size(); ++i) {
      ASSERT_GE(owner[i], 0);
      ASSERT_LT(owner[i], world);
      load[static_cast<std::size_t>(owner[i])] += costs[i];
    }
    const double total = std::accumulate(costs.begin(), costs.end(), 0.0);
    const double heaviest = *std::max_element(load.begin(), load.end());
    // Largest-first greedy: the heaviest rank exceeds the ideal share by less than the largest point.
    EXPECT_LT(heaviest, total / world + costs.back()) << world;
    EXPECT_EQ(shardByCost(costs, world), owner);  // deterministic
  }
}

TEST(Ranks, ThePlanIsTheSameForEveryRankAndGivesEachAShare) {
  const SweepSpec spec = sweepPreset("seed-matrix");
  const std::vector<SweepPoint> points = expandPoints(spec);
  const std::vector<int> plan = planShards(spec, points, 4);
  ASSERT_EQ(plan.size(), points.size());
  EXPECT_EQ(planShards(spec, expandPoints(spec), 4), plan);
  std::vector<int> per_rank(4, 0);
  for (const int r : plan) ++per_rank[static_cast<std::size_t>(r)];
  for (const int n : per_rank) EXPECT_GT(n, 0);
}

TEST(Ranks, TheSweepIdComesFromTheFlagTheJobOrTheSpec) {
  const SweepSpec spec = sweepPreset("cpu-quick");
  SweepSpec other = spec;
  other.seq_lens.push_back(8192);
  const auto none = env({});
  const std::string by_spec = sweepUid(spec, 4, "", none);
  EXPECT_EQ(by_spec.rfind("spec:", 0), 0u) << by_spec;
  EXPECT_EQ(sweepUid(spec, 4, "", none), by_spec);
  EXPECT_NE(sweepUid(spec, 2, "", none), by_spec);      // another world size
  EXPECT_NE(sweepUid(other, 4, "", none), by_spec);     // another spec
  const std::string hash = by_spec.substr(5);
  EXPECT_EQ(sweepUid(spec, 4, "", env({{"SLURM_JOB_ID", "812"}, {"SLURM_STEP_ID", "3"}})), "slurm:812.3/" + hash);
  EXPECT_EQ(sweepUid(spec, 4, "", env({{"TORCHELASTIC_RUN_ID", "none"}, {"SLURM_JOB_ID", "9"}})), "slurm:9/" + hash);
  EXPECT_EQ(sweepUid(spec, 4, "", env({{"TORCHELASTIC_RUN_ID", "abc"}})), "torchrun:abc/" + hash);
  EXPECT_EQ(sweepUid(spec, 4, "", env({{"OMPI_MCA_ess_base_jobid", "77"}})), "mpirun:77/" + hash);
  EXPECT_EQ(sweepUid(spec, 4, "nightly", env({{"SLURM_JOB_ID", "9"}})), "id:nightly/" + hash);
}

TEST(Ranks, EachRankWritesItsOwnDatabase) {
  EXPECT_EQ(rankDatabasePath("results.db", 3), "results.rank3.db");
  EXPECT_EQ(rankDatabasePath("/data/v1.2/results.db", 0), "/data/v1.2/results.rank0.db");
  EXPECT_EQ(rankDatabasePath("/data/results", 12), "/data/results.rank12");
  EXPECT_EQ(rankDatabasePath("/data/r{rank}/out-{rank}.sqlite", 5), "/data/r5/out-5.sqlite");
}

}  // namespace
}  // namespace attnbench
