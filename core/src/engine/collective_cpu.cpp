#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "attnbench/errors.h"
#include "collective.h"

namespace attnbench::engine::detail {
namespace {

// What the ranks of one process share: each rank's buffer, and a reusable barrier.
struct Group {
  explicit Group(int ranks) : size(ranks), buffers(static_cast<std::size_t>(ranks)) {}

  // Waits until every rank has arrived (a generation counter makes the barrier reusable).
  void barrier() {
    std::unique_lock lock(mutex);
    if (aborted) throw RankAborted();
    const std::uint64_t generation = arrivals_generation;
    if (++arrived == size) {
      arrived = 0;
      ++arrivals_generation;
      changed.notify_all();
      return;
    }
    changed.wait(lock, [&] { return arrivals_generation != generation || aborted; });
    if (aborted) throw RankAborted();
  }

  const int size;
  std::vector<float*> buffers;
  std::mutex mutex;
  std::condition_variable changed;
  int arrived = 0;
  std::uint64_t arrivals_generation = 0;
  bool aborted = false;
};

class InProcessCollective final : public Collective {
 public:
  InProcessCollective(std::shared_ptr<Group> group, int rank) : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size; }

  void allReduceSum(void* data, std::size_t count, DType dtype, void* /*stream*/) override {
    if (dtype != DType::F32) throw InputError("the in-process all-reduce sums fp32 (the CPU engine's dtype)");
    Group& g = *group_;
    g.buffers[static_cast<std::size_t>(rank_)] = static_cast<float*>(data);
    g.barrier();  // every buffer is published and complete
    // Rank r reduces the r-th slice of the elements over all buffers, in rank order, and writes the
    // sum back into every buffer: the slices are disjoint, so no two threads write one element.
    const auto ranks = static_cast<std::size_t>(g.size);
    const std::size_t begin = count * static_cast<std::size_t>(rank_) / ranks;
    const std::size_t end = count * static_cast<std::size_t>(rank_ + 1) / ranks;
    for (std::size_t i = begin; i < end; ++i) {
      float sum = g.buffers[0][i];
      for (std::size_t r = 1; r < ranks; ++r) sum += g.buffers[r][i];
      for (std::size_t r = 0; r < ranks; ++r) g.buffers[r][i] = sum;
    }
    g.barrier();  // no rank reads its buffer before every slice is summed
  }

  void abort() override {
    std::lock_guard lock(group_->mutex);
    group_->aborted = true;
    group_->changed.notify_all();
  }

 private:
  std::shared_ptr<Group> group_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Collective>> makeInProcessCollectives(int size) {
  auto group = std::make_shared<Group>(size);
  std::vector<std::unique_ptr<Collective>> ranks;
  for (int r = 0; r < size; ++r) ranks.push_back(std::make_unique<InProcessCollective>(group, r));
  return ranks;
}

}  // namespace attnbench::engine::detail
