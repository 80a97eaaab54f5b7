// One thread per rank of a tensor parallel group in one process, kept for the group's lifetime, so
// that everything a rank does (a GPU rank's allocations, launches and reads) happens on its own
// thread, with its own device current, and the ranks of a step run at once.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <vector>

namespace attnbench::detail {

class RankThreads {
 public:
  explicit RankThreads(int ranks);
  ~RankThreads();  // waits for the work in flight, then joins
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  int size() const { return static_cast<int>(lanes_.size()); }

  // Runs work(r) on rank r's thread for every rank at once and waits for all of them. Returns what
  // each rank threw, by rank (null where it returned).
  std::vector<std::exception_ptr> runEach(const std::function<void(int rank)>& work);
  // runEach, rethrowing the lowest rank's exception.
  void run(const std::function<void(int rank)>& work);
  // Runs `work` on rank `rank`'s thread alone and waits; rethrows what it threw.
  void runOn(int rank, const std::function<void()>& work);

 private:
  struct Lane;
  std::vector<std::unique_ptr<Lane>> lanes_;
};

// The first non-null entry of `errors` rethrown; nothing when all are null.
void rethrowFirst(const std::vector<std::exception_ptr>& errors);

}  // namespace attnbench::detail
