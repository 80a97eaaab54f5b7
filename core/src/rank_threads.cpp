#include "rank_threads.h"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace attnbench::detail {

// A thread and its one-slot mailbox: a task is posted, run on the thread, and its end awaited.
struct RankThreads::Lane {
  Lane() : thread([this] { serve(); }) {}
  ~Lane() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    changed.notify_all();
    thread.join();
  }

  void post(std::function<void()> work) {
    {
      std::lock_guard lock(mutex);
      task = std::move(work);
      error = nullptr;
      pending = true;
    }
    changed.notify_all();
  }

  std::exception_ptr wait() {
    std::unique_lock lock(mutex);
    changed.wait(lock, [this] { return !pending; });
    return error;
  }

  void serve() {
    std::unique_lock lock(mutex);
    for (;;) {
      changed.wait(lock, [this] { return pending || stopping; });
      if (!pending) return;  // stopping, with nothing left to run
      std::function<void()> work = std::move(task);
      lock.unlock();
      std::exception_ptr thrown;
      try {
        work();
      } catch (...) {
        thrown = std::current_exception();
      }
      lock.lock();
      error = thrown;
      pending = false;
      changed.notify_all();
    }
  }

  std::mutex mutex;
  std::condition_variable changed;
  std::function<void()> task;
  std::exception_ptr error;
  bool pending = false;
  bool stopping = false;
  std::thread thread;  // last: starts after the members it uses
};

RankThreads::RankThreads(int ranks) {
  for (int r = 0; r < ranks; ++r) lanes_.push_back(std::make_unique<Lane>());
}

RankThreads::~RankThreads() = default;

std::vector<std::exception_ptr> RankThreads::runEach(const std::function<void(int)>& work) {
  for (int r = 0; r < size(); ++r) lanes_[static_cast<std::size_t>(r)]->post([&work, r] { work(r); });
  std::vector<std::exception_ptr> errors;
  for (auto& lane : lanes_) errors.push_back(lane->wait());
  return errors;
}

void RankThreads::run(const std::function<void(int)>& work) { rethrowFirst(runEach(work)); }

void RankThreads::runOn(int rank, const std::function<void()>& work) {
  Lane& lane = *lanes_.at(static_cast<std::size_t>(rank));
  lane.post(work);
  if (std::exception_ptr e = lane.wait()) std::rethrow_exception(e);
}

void rethrowFirst(const std::vector<std::exception_ptr>& errors) {
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace attnbench::detail
