// Attention and decode split over tensor parallel ranks, the Megatron way: each rank holds heads / T
// query heads and its KV heads (a copy of one when T passes the KV heads) and runs them as a problem of
// its own. Attention needs no communication between the ranks (the all-reduce of a layer follows the
// output projection, which this workload does not run), so a sample is the ranks' kernels launched at
// once and its time the slowest rank's.
#include <algorithm>
#include <thread>
#include <type_traits>
#include <utility>

#include "attnbench/errors.h"
#include "backends.h"
#include "rank_threads.h"

namespace attnbench {
namespace {

using detail::RankThreads;

// The problem one rank runs: its heads of the point's model, on one device.
SweepPoint rankPoint(const SweepPoint& point, int ranks) {
  SweepPoint p = point;
  p.model = rankHeads(point.model, ranks);
  p.shape.heads_q = p.model.heads;
  p.shape.heads_kv = p.model.kv_heads;
  p.tensor_parallel = 1;
  return p;
}

// Rank r's inputs: rank 0 keeps the point's seed, so a split of one rank is the plain point.
std::uint64_t rankSeed(std::uint64_t seed, int rank) {
  return seed + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(rank);
}

// f() run on rank `rank`'s thread, its value returned here.
template <typename F>
auto onRankThread(RankThreads& threads, int rank, F&& f) {
  std::invoke_result_t<F> out{};
  threads.runOn(rank, [&] { out = f(); });
  return out;
}

// One rank's prepared point, every call made on the rank's thread (its device current there).
class RankBoundPoint final : public PreparedPoint {
 public:
  RankBoundPoint(RankThreads& threads, int rank, std::unique_ptr<PreparedPoint> point)
      : threads_(threads), rank_(rank), point_(std::move(point)) {}
  ~RankBoundPoint() override {
    // Freed where it was allocated; a failure to free is the device's problem, not the run's.
    try {
      threads_.runOn(rank_, [this] { point_.reset(); });
    } catch (...) {
    }
  }
  RankBoundPoint(const RankBoundPoint&) = delete;
  RankBoundPoint& operator=(const RankBoundPoint&) = delete;

  double runTimed() override { return onRankThread(threads_, rank_, [&] { return point_->runTimed(); }); }
  TileShape resolvedTile() const override { return onRankThread(threads_, rank_, [&] { return point_->resolvedTile(); }); }
  std::uint64_t peakBytes() const override { return onRankThread(threads_, rank_, [&] { return point_->peakBytes(); }); }
  std::int64_t countUnwrittenOutputs() override { return onRankThread(threads_, rank_, [&] { return point_->countUnwrittenOutputs(); }); }
  std::vector<float> readRows(TensorId tensor, int b, int head, int row0, int count) override {
    return onRankThread(threads_, rank_, [&] { return point_->readRows(tensor, b, head, row0, count); });
  }
  int kvLength(int b) const override { return onRankThread(threads_, rank_, [&] { return point_->kvLength(b); }); }
  int splits() const override { return onRankThread(threads_, rank_, [&] { return point_->splits(); }); }

  // The wrapped point, for calls already on the rank's thread.
  PreparedPoint& onItsThread() { return *point_; }

 private:
  RankThreads& threads_;
  int rank_;
  std::unique_ptr<PreparedPoint> point_;
};

class TensorParallelPoint final : public PreparedPoint {
 public:
  TensorParallelPoint(RankThreads& threads, std::vector<std::unique_ptr<RankBoundPoint>> ranks,
                      const kernels::AttentionShape& shape, const kernels::AttentionShape& rank_shape)
      : threads_(threads),
        ranks_(std::move(ranks)),
        rank_shape_(rank_shape),
        kv_copies_(std::max(1, static_cast<int>(ranks_.size()) / shape.heads_kv)),
        last_ms_(ranks_.size(), 0.0) {}

  // Every rank's kernels at once; the sample is done when the slowest rank is.
  double runTimed() override {
    threads_.run([&](int r) { last_ms_[at(r)] = ranks_[at(r)]->onItsThread().runTimed(); });
    return *std::max_element(last_ms_.begin(), last_ms_.end());
  }
  std::vector<double> rankMs() const override { return last_ms_; }

  TileShape resolvedTile() const override { return ranks_.front()->resolvedTile(); }
  int splits() const override { return ranks_.front()->splits(); }
  int kvLength(int b) const override { return ranks_.front()->kvLength(b); }  // alike on every rank
  // Per device: the fullest rank's.
  std::uint64_t peakBytes() const override {
    std::uint64_t peak = 0;
    for (const auto& r : ranks_) peak = std::max(peak, r->peakBytes());
    return peak;
  }
  std::int64_t countUnwrittenOutputs() override {
    std::int64_t n = 0;
    for (const auto& r : ranks_) n += r->countUnwrittenOutputs();
    return n;
  }
  // Rows by the point's head numbers. A KV head copied onto several ranks is read from the first of
  // them; the ranks' inputs differ (each its own seed), so correctness is checked rank by rank (parts).
  std::vector<float> readRows(TensorId tensor, int b, int head, int row0, int count) override {
    const bool query_side = tensor == TensorId::Q || tensor == TensorId::O;
    const int per_rank = query_side ? rank_shape_.heads_q : rank_shape_.heads_kv;
    const int rank = head / per_rank * (query_side ? 1 : kv_copies_);
    return ranks_.at(at(rank))->readRows(tensor, b, head % per_rank, row0, count);
  }
  std::vector<PreparedPart> parts() override {
    std::vector<PreparedPart> out;
    for (auto& r : ranks_) out.push_back({r.get(), rank_shape_});
    return out;
  }

 private:
  static std::size_t at(int rank) { return static_cast<std::size_t>(rank); }

  RankThreads& threads_;
  std::vector<std::unique_ptr<RankBoundPoint>> ranks_;
  kernels::AttentionShape rank_shape_;
  int kv_copies_;  // ranks holding each KV head: T / kv_heads when T passes them, else 1
  std::vector<double> last_ms_;
};

class TensorParallelBackend final : public Backend {
 public:
  explicit TensorParallelBackend(const std::vector<std::string>& rank_devices)
      : threads_(static_cast<int>(rank_devices.size())), backends_(rank_devices.size()) {
    // Each rank's backend is made on its thread: a CUDA backend makes its device current there.
    const auto errors = threads_.runEach([&](int r) { backends_[at(r)] = makeBackend(rank_devices[at(r)], nullptr); });
    if (std::any_of(errors.begin(), errors.end(), [](const auto& e) { return e != nullptr; })) {
      releaseBackends();
      detail::rethrowFirst(errors);
    }
    device_ = groupDevice();
  }
  ~TensorParallelBackend() override { releaseBackends(); }
  TensorParallelBackend(const TensorParallelBackend&) = delete;
  TensorParallelBackend& operator=(const TensorParallelBackend&) = delete;

  const DeviceInfo& device() const override { return device_; }

  std::string unsupportedReason(const SweepPoint& point) const override {
    if (point.isInference()) return "the inference workload splits its model through the engine, not a backend";
    if (point.tensor_parallel != ranks()) {
      return "a point split over " + std::to_string(point.tensor_parallel) + " ranks, on a backend of " +
             std::to_string(ranks());
    }
    if (std::string why = headSplitReason(point.model, ranks()); !why.empty()) return why;
    return onRankThread(threads_, 0, [&] { return backends_[0]->unsupportedReason(rankPoint(point, ranks())); });
  }
  // Per device: what one rank holds (every rank holds the same shapes).
  std::uint64_t predictBytes(const SweepPoint& point) const override {
    return onRankThread(threads_, 0, [&] { return backends_[0]->predictBytes(rankPoint(point, ranks())); });
  }
  // Per rank: ranks on one device (CPU ranks, or a GPU named twice) share its budget.
  std::uint64_t memoryBudgetBytes() const override {
    std::vector<std::uint64_t> budgets(backends_.size());
    threads_.run([&](int r) { budgets[at(r)] = backends_[at(r)]->memoryBudgetBytes(); });
    std::uint64_t budget = UINT64_MAX;
    for (std::size_t r = 0; r < backends_.size(); ++r) {
      const auto sharing = std::count_if(backends_.begin(), backends_.end(), [&](const auto& b) {
        return b->device().id == backends_[r]->device().id;
      });
      budget = std::min(budget, budgets[r] / static_cast<std::uint64_t>(sharing));
    }
    return budget;
  }
  // CPU ranks share the host's cores: each gets its part of the threads asked for.
  void setTimingOptions(const TimingOptions& timing) override {
    TimingOptions rank = timing;
    const int all = timing.cpu_threads > 0 ? timing.cpu_threads : static_cast<int>(std::thread::hardware_concurrency());
    rank.cpu_threads = std::max(1, all / ranks());
    threads_.run([&](int r) { backends_[at(r)]->setTimingOptions(rank); });
  }

  std::unique_ptr<PreparedPoint> prepare(const SweepPoint& point, std::uint64_t seed, std::uint64_t limit_bytes) override {
    if (std::string why = unsupportedReason(point); !why.empty()) throw InputError(why);
    const SweepPoint local = rankPoint(point, ranks());
    std::vector<std::unique_ptr<RankBoundPoint>> prepared(backends_.size());
    const auto errors = threads_.runEach([&](int r) {
      prepared[at(r)] = std::make_unique<RankBoundPoint>(
          threads_, r, backends_[at(r)]->prepare(local, rankSeed(seed, r), limit_bytes));
    });
    detail::rethrowFirst(errors);  // the ranks that did prepare free theirs as `prepared` goes
    return std::make_unique<TensorParallelPoint>(threads_, std::move(prepared), point.shape, local.shape);
  }

  // The lowest current clock of the ranks (one slow GPU slows the step) and the highest maximum.
  std::optional<SmClockReading> readSmClock() const override {
    std::vector<std::optional<SmClockReading>> clocks(backends_.size());
    threads_.run([&](int r) { clocks[at(r)] = backends_[at(r)]->readSmClock(); });
    std::optional<SmClockReading> out;
    for (const auto& c : clocks) {
      if (!c) continue;
      if (!out) out = c;
      out->current_mhz = std::min(out->current_mhz, c->current_mhz);
      out->max_mhz = std::max(out->max_mhz, c->max_mhz);
    }
    return out;
  }

  // The group's ceilings: every rank measured at once, summed (a point's rates are the group's).
  DeviceCeilings measureCeilings() override {
    std::vector<DeviceCeilings> each(backends_.size());
    threads_.run([&](int r) { each[at(r)] = backends_[at(r)]->measureCeilings(); });
    DeviceCeilings sum = each.front();
    sum.copy_gbps = sum.gemm_tflops = 0;
    for (const auto& c : each) {
      sum.copy_gbps += c.copy_gbps;
      sum.gemm_tflops += c.gemm_tflops;
    }
    return sum;
  }

  // Rank 0's provenance, then every other rank's under "rankR.", and the split itself.
  Provenance provenance(RunMoment moment) const override {
    std::vector<Provenance> each(backends_.size());
    threads_.run([&](int r) { each[at(r)] = backends_[at(r)]->provenance(moment); });
    Provenance out = each.front();
    if (moment == RunMoment::Start) out.set("tensor_parallel.ranks", std::to_string(ranks()));
    for (std::size_t r = 1; r < each.size(); ++r) {
      for (const auto& e : each[r].entries()) out.set("rank" + std::to_string(r) + "." + e.key, e.value);
    }
    return out;
  }

 private:
  static std::size_t at(int rank) { return static_cast<std::size_t>(rank); }
  int ranks() const { return threads_.size(); }

  // Rank 0's device named for the group: "NVIDIA H200 x2"; its fingerprint apart from one device's, so
  // the group's summed ceilings are cached as the group's.
  DeviceInfo groupDevice() const {
    DeviceInfo d = backends_.front()->device();
    const std::string times = " x" + std::to_string(ranks());
    d.name += times;
    d.fingerprint += "|tensor parallel" + times;
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& b : backends_) devices.push_back(b->device().id);
    d.properties["tensor_parallel_devices"] = devices;
    return d;
  }

  void releaseBackends() {
    threads_.runEach([&](int r) { backends_[at(r)].reset(); });
  }

  mutable RankThreads threads_;
  std::vector<std::unique_ptr<Backend>> backends_;
  DeviceInfo device_;
};

}  // namespace

std::unique_ptr<Backend> makeTensorParallelBackend(const std::vector<std::string>& rank_devices) {
  if (rank_devices.size() < 2) throw InputError("a tensor parallel backend needs at least two ranks");
  return std::make_unique<TensorParallelBackend>(rank_devices);
}

}  // namespace attnbench
