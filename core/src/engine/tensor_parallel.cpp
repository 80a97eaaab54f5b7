// The tensor parallel engine: one engine per rank, each called on its own thread (RankThreads), so
// that the ranks meet in their all-reduces; rank r of a CUDA split runs on device cuda_device + r.
#include <algorithm>
#include <exception>
#include <functional>

#ifdef ATTNBENCH_HAVE_CUDA
#include <cuda_runtime.h>
#endif

#include "attnbench/errors.h"
#include "collective.h"
#include "engine_internal.h"
#include "rank_threads.h"

namespace attnbench::engine::detail {
namespace {

std::vector<int> rankDevices(const EngineConfig& c) {
  const int visible = visibleCudaDevices();
  if (c.cuda_device < 0 || c.cuda_device + c.tensor_parallel > visible) {
    throw InputError("tensor parallel " + std::to_string(c.tensor_parallel) + " from cuda:" + std::to_string(c.cuda_device) +
                     " needs devices cuda:" + std::to_string(c.cuda_device) + " to cuda:" +
                     std::to_string(c.cuda_device + c.tensor_parallel - 1) + "; " + std::to_string(visible) + " visible");
  }
  std::vector<int> devices;
  for (int r = 0; r < c.tensor_parallel; ++r) devices.push_back(c.cuda_device + r);
  return devices;
}

class TensorParallelEngine final : public Engine {
 public:
  explicit TensorParallelEngine(const EngineConfig& config) : config_(config), threads_(config.tensor_parallel) {
    const bool cuda = config_.device == EngineDevice::Cuda;
    const std::vector<int> devices = cuda ? rankDevices(config_) : std::vector<int>{};
    collectives_ = cuda ? makeNcclCollectives(devices) : makeInProcessCollectives(config_.tensor_parallel);
    for (int r = 0; r < config_.tensor_parallel; ++r) {
      EngineConfig rank = config_;
      const Shard shard{r, config_.tensor_parallel, collectives_[static_cast<std::size_t>(r)].get()};
      if (cuda) rank.cuda_device = devices[static_cast<std::size_t>(r)];
      ranks_.push_back(makeRankEngine(rank, shard));
    }
    last_ms_.assign(ranks_.size(), 0.0);
  }

  const EngineConfig& config() const override { return config_; }
  int cacheLength() const override { return ranks_.front()->cacheLength(); }
  void setCacheLength(int tokens) override {
    for (auto& r : ranks_) r->setCacheLength(tokens);
  }
  // Every rank holds the same logits (the residual stream is the same after each all-reduce, and the
  // LM head is replicated).
  std::vector<float> logits() override { return ranks_.front()->logits(); }
  MemoryBreakdown allocated() const override { return ranks_.front()->allocated(); }
  std::vector<double> rankMs() const override { return last_ms_; }

  double forward(std::span<const std::int32_t> tokens, int count) override {
    // Checked here, before any rank starts: a rank refusing alone would leave the others waiting.
    checkForward(config_, tokens, count, cacheLength());
    return timedOnEveryRank([&](Engine& e) { return e.forward(tokens, count); });
  }

  double decode(std::span<const std::int32_t> tokens, int steps) override {
    const auto batch = static_cast<std::size_t>(config_.batch);
    if (steps <= 0 || tokens.size() != batch * static_cast<std::size_t>(steps)) {
      throw InputError("decode of " + std::to_string(steps) + " steps needs steps x batch token ids");
    }
    for (int s = 0; s < steps; ++s) checkForward(config_, tokens.subspan(s * batch, batch), 1, cacheLength() + s);
    return timedOnEveryRank([&](Engine& e) { return e.decode(tokens, steps); });
  }

  double allReduceMs(int rows, int reps) override {
    if (rows <= 0 || rows > config_.batch * config_.max_step_tokens || reps <= 0) {
      throw InputError("allReduceMs: 1 to " + std::to_string(config_.batch * config_.max_step_tokens) + " rows");
    }
    const auto ms = onEveryRank([&](Engine& e) { return e.allReduceMs(rows, reps); });
    return *std::max_element(ms.begin(), ms.end());
  }

 private:
  // The call's time is the slowest rank's: the step is done when every rank is.
  double timedOnEveryRank(const std::function<double(Engine&)>& work) {
    last_ms_ = onEveryRank(work);
    return *std::max_element(last_ms_.begin(), last_ms_.end());
  }

  // Runs `work` on every rank at once. A rank that fails aborts the collectives, so that no other
  // rank waits for it forever, and its error is the one rethrown.
  std::vector<double> onEveryRank(const std::function<double(Engine&)>& work) {
    std::vector<double> out(ranks_.size(), 0.0);
    const std::vector<std::exception_ptr> errors = threads_.runEach([&](int rank) {
      const auto r = static_cast<std::size_t>(rank);
      try {
        out[r] = work(*ranks_[r]);
      } catch (...) {
        for (auto& c : collectives_) c->abort();
        throw;
      }
    });
    std::exception_ptr aborted;
    for (const auto& e : errors) {
      if (!e) continue;
      try {
        std::rethrow_exception(e);
      } catch (const RankAborted&) {
        aborted = e;  // reported only when no rank has an error of its own
      }
    }
    if (aborted) std::rethrow_exception(aborted);
    return out;
  }

  EngineConfig config_;
  // Declared before the ranks, so destroyed after them: an engine may use its collective to the end.
  std::vector<std::unique_ptr<Collective>> collectives_;
  std::vector<std::unique_ptr<Engine>> ranks_;
  ::attnbench::detail::RankThreads threads_;
  std::vector<double> last_ms_;
};

}  // namespace

std::unique_ptr<Engine> makeRankEngine(const EngineConfig& config, const Shard& shard) {
#ifdef ATTNBENCH_HAVE_CUDA
  if (config.device == EngineDevice::Cuda) return makeCudaEngine(config, shard);
#endif
  return makeCpuEngine(config, shard);
}

std::unique_ptr<Engine> makeTensorParallelEngine(const EngineConfig& config) {
  return std::make_unique<TensorParallelEngine>(config);
}

}  // namespace attnbench::engine::detail

namespace attnbench::engine {

int visibleCudaDevices() {
  int visible = 0;
#ifdef ATTNBENCH_HAVE_CUDA
  if (cudaGetDeviceCount(&visible) != cudaSuccess) {
    (void)cudaGetLastError();
    visible = 0;
  }
#endif
  return visible;
}

}  // namespace attnbench::engine
