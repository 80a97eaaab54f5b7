// The Hopper kernel's static schedule, on the host (no GPU): the item map the kernel walks
// (scheduleItem, roundSlot) covers every (query tile, head, batch) once at any section width, and the
// causal section width kernelParams picks by simulating the schedule spreads the work evenly.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "hopper/hopper_launch.h"

namespace {

using attnbench::kernels::AttentionParams;
using attnbench::kernels::cuda::hopper::FastDivisor;
using attnbench::kernels::cuda::hopper::KernelParams;
using attnbench::kernels::cuda::hopper::kernelParams;
using attnbench::kernels::cuda::hopper::roundSlot;
using attnbench::kernels::cuda::hopper::scheduleItem;
using attnbench::kernels::cuda::hopper::setSectionHeads;
using attnbench::kernels::cuda::hopper::WorkItem;

constexpr int kBlockM = 128;
constexpr int kBlockN = 128;
constexpr int kCtas = 132;                      // the H200's SMs
constexpr int kL2Bytes = 50 * 1024 * 1024;      // its L2

AttentionParams problem(int batch, int heads_q, int heads_kv, int seq, int head_dim, bool causal) {
  AttentionParams p;
  p.batch = batch;
  p.heads_q = heads_q;
  p.heads_kv = heads_kv;
  p.seq_q = p.seq_kv = seq;
  p.head_dim = head_dim;
  p.causal = causal;
  return p;
}

TEST(HopperSchedule, EveryItemOnceAtEveryWidth) {
  for (const bool causal : {false, true}) {
    for (const auto& [batch, heads, seq] : {std::tuple{1, 1, 100}, std::tuple{2, 5, 1000}, std::tuple{1, 32, 1020},
                                            std::tuple{3, 7, 129}}) {
      KernelParams p = kernelParams(problem(batch, heads, heads, seq, 128, causal), kBlockM, kBlockN, kL2Bytes, kCtas);
      for (int width = 1; width <= batch * heads; ++width) {
        setSectionHeads(p, width);
        std::set<std::tuple<int, int, int>> seen;
        for (int tile = 0; tile < p.tiles; ++tile) {
          const WorkItem w = scheduleItem(p, tile, kBlockM, kBlockN, causal);
          ASSERT_GE(w.m0, 0);
          ASSERT_LT(w.m0, seq);
          ASSERT_EQ(w.m0 % kBlockM, 0);
          ASSERT_LT(w.head, heads);
          ASSERT_LT(w.batch, batch);
          ASSERT_LE(w.n_unmasked, w.n_tiles);
          seen.insert({w.m0, w.head, w.batch});
        }
        EXPECT_EQ(static_cast<int>(seen.size()), p.tiles)
            << "batch " << batch << " heads " << heads << " N " << seq << " width " << width;
      }
    }
  }
}

// The schedule's division by multiply and shift equals integer division for every divisor the
// schedule can meet (1 .. 2^16 exhaustively at the edges of each quotient, and large ones) and every
// dividend 0 .. 2^31 - 1 it was tried at.
TEST(HopperSchedule, FastDivisionEqualsIntegerDivision) {
  constexpr int kMaxDividend = 0x7fffffff;
  long long wrong = 0, checked = 0;
  std::string first_wrong;
  const auto check = [&](int d, int n) {
    ++checked;
    const int got = FastDivisor(d).divide(n);
    if (got != n / d && wrong++ == 0) first_wrong = std::to_string(n) + " / " + std::to_string(d) + " = " + std::to_string(got);
  };
  std::vector<int> divisors;
  for (int d = 1; d <= 1 << 16; ++d) divisors.push_back(d);
  for (const int d : {(1 << 20) - 1, 1 << 20, (1 << 20) + 1, 999'983, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, kMaxDividend})
    divisors.push_back(d);
  for (const int d : divisors) {
    for (const long long n : {0LL, 1LL, d - 1LL, d + 0LL, d + 1LL, kMaxDividend - 1LL, kMaxDividend + 0LL, kMaxDividend - d + 0LL}) {
      if (n <= kMaxDividend) check(d, static_cast<int>(n));
    }
    // The edges of a few quotients spread over the range.
    for (long long q = 1; q * d <= kMaxDividend; q = q * 7 + 3) {
      const auto n = static_cast<int>(q * d);
      check(d, n - 1);
      check(d, n);
      if (n < kMaxDividend) check(d, n + 1);
    }
  }
  EXPECT_EQ(wrong, 0) << "first: " << first_wrong;
  EXPECT_GT(checked, 1'500'000);
}

TEST(HopperSchedule, RoundSlotsArePermutationsAndTheirOwnInverse) {
  for (const int ctas : {1, 7, kCtas}) {
    for (int round = 0; round < 4; ++round) {
      std::vector<int> slots;
      for (int cta = 0; cta < ctas; ++cta) {
        slots.push_back(roundSlot(round, ctas, cta));
        EXPECT_EQ(roundSlot(round, ctas, slots.back()), cta);
      }
      std::sort(slots.begin(), slots.end());
      for (int i = 0; i < ctas; ++i) EXPECT_EQ(slots[static_cast<std::size_t>(i)], i);
    }
  }
}

// The busiest CTA's work over the mean under the static schedule: key tiles + 2 per item, as the
// launcher's simulation counts them.
double busiestOverMean(const KernelParams& p, bool causal) {
  const int ctas = std::min(p.tiles, kCtas);
  std::vector<long long> work(static_cast<std::size_t>(ctas), 0);
  long long total = 0;
  for (int tile = 0; tile < p.tiles; ++tile) {
    const int round = tile / ctas;
    const long long cost = scheduleItem(p, tile, kBlockM, kBlockN, causal).n_tiles + 2;
    work[static_cast<std::size_t>(roundSlot(round, ctas, tile - round * ctas))] += cost;
    total += cost;
  }
  return static_cast<double>(*std::max_element(work.begin(), work.end())) * ctas / static_cast<double>(total);
}

TEST(HopperSchedule, CausalSectionsSpreadTheWorkEvenly) {
  // Shapes where the L2-sized sections alone left the busiest CTA 5-20 % above the mean.
  for (const auto& [heads, heads_kv, seq, head_dim] : {std::tuple{32, 32, 8192, 128}, std::tuple{32, 32, 16384, 128},
                                                       std::tuple{32, 8, 16384, 128}, std::tuple{16, 16, 8192, 64}}) {
    const AttentionParams params = problem(1, heads, heads_kv, seq, head_dim, true);
    const KernelParams p = kernelParams(params, kBlockM, kBlockN, kL2Bytes, kCtas);
    EXPECT_LE(busiestOverMean(p, true), 1.03) << heads << "/" << heads_kv << " heads, N " << seq << ", width "
                                              << p.section_heads;
    // Asked again, after another shape, it answers the same.
    static_cast<void>(kernelParams(problem(1, 8, 8, 2048, 128, true), kBlockM, kBlockN, kL2Bytes, kCtas));
    EXPECT_EQ(kernelParams(params, kBlockM, kBlockN, kL2Bytes, kCtas).section_heads, p.section_heads);
  }
}

}  // namespace
