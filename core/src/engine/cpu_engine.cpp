// The engine on the CPU: fp32 everywhere, Eigen projections, the CPU flash or standard attention
// kernel over a contiguous KV cache (a paged one is gathered into a contiguous copy per layer, so that
// the page bookkeeping is checked against the contiguous cache). For tiny models (tests, CI); timed by
// the wall clock.
#include <chrono>
#include <cstring>

#include "attnbench/engine/checkpoint.h"
#include "attnbench/errors.h"
#include "attnbench/kernels/cpu_attention.h"
#include "attnbench/kernels/model_layers.h"
#include "collective.h"
#include "engine_internal.h"
#include "host_tensors.h"

namespace attnbench::engine::detail {
namespace {

namespace cpu = kernels::cpu;

class CpuEngine final : public Engine {
 public:
  CpuEngine(const EngineConfig& config, const Shard& shard) : shard_(shard) {
    const RankSetup setup = rankSetup(config, shard);
    config_ = setup.config;
    const auto& plan = setup.plan;
    if (!setup.checkpoint) {
      for (std::size_t i = 0; i < plan.size(); ++i) {
        auto& w = weights_.emplace_back(static_cast<std::size_t>(plan[i].count()));
        fillRandom(w.data(), DType::F32, w.size(), syntheticSeed(config_.seed, i, plan[i]));
        for (float& x : w) x = x * plan[i].synthetic_scale + plan[i].synthetic_shift;
      }
    } else {
      std::vector<std::byte> scratch;
      for (const auto& spec : plan) {
        auto& w = weights_.emplace_back(static_cast<std::size_t>(spec.count()));
        std::size_t filled = 0;
        for (std::size_t p = 0; p < spec.pieces.size(); ++p) {
          const TensorRef& t = setup.checkpoint->tensor(spec.pieces[p]);
          const auto bytes = pieceBytes(t, spec, p, scratch);
          const std::size_t count = bytes.size() / static_cast<std::size_t>(kernels::bytesPerElement(t.dtype));
          toFloat(bytes.data(), t.dtype, count, w.data() + filled);
          filled += count;
        }
      }
    }
    const ModelPreset& m = config_.model;
    const KvLayout kv(config_);
    const auto cache = static_cast<std::size_t>(kv.rows()) * static_cast<std::size_t>(m.head_dim);
    k_cache_.assign(m.layers, std::vector<float>(cache));
    v_cache_.assign(m.layers, std::vector<float>(cache));
    gathered_k_.resize(static_cast<std::size_t>(kv.gatheredRows()) * static_cast<std::size_t>(m.head_dim));
    gathered_v_.resize(gathered_k_.size());
    const auto layout = activationLayout(m, static_cast<std::int64_t>(config_.batch) * config_.max_step_tokens);
    residual_.resize(static_cast<std::size_t>(layout.residual));
    normed_.resize(static_cast<std::size_t>(layout.normed));
    wide_.resize(static_cast<std::size_t>(layout.wide));
    narrow_.resize(static_cast<std::size_t>(layout.narrow));
    last_.resize(static_cast<std::size_t>(config_.batch) * m.hidden);
    logits_.resize(static_cast<std::size_t>(config_.batch) * m.vocab);
    // The attention kernel's scratch: what predictMemory counts beyond the buffers above, so that
    // prediction and allocation share one formula.
    workspace_.resize(predictMemory(config_).activations -
                      (layout.total() + last_.size() + logits_.size() + gathered_k_.size() + gathered_v_.size()) * sizeof(float));
  }

  const EngineConfig& config() const override { return config_; }
  int cacheLength() const override { return cached_; }
  void setCacheLength(int tokens) override {
    if (tokens < 0 || tokens > cached_) throw InputError("the cache can only be rewound to 0.." + std::to_string(cached_));
    cached_ = tokens;
  }
  std::vector<float> logits() override { return logits_; }

  MemoryBreakdown allocated() const override {
    MemoryBreakdown b;
    for (const auto& w : weights_) b.weights += w.size() * sizeof(float);
    for (std::size_t l = 0; l < k_cache_.size(); ++l) b.kv_cache += (k_cache_[l].size() + v_cache_[l].size()) * sizeof(float);
    b.activations = (residual_.size() + normed_.size() + wide_.size() + narrow_.size() + last_.size() + logits_.size() +
                     gathered_k_.size() + gathered_v_.size()) *
                        sizeof(float) +
                    workspace_.size();
    return b;
  }

  double forward(std::span<const std::int32_t> tokens, int count) override {
    checkForward(config_, tokens, count, cached_);
    const auto start = std::chrono::steady_clock::now();
    run(tokens, count);
    last_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return last_ms_;
  }

  std::vector<double> rankMs() const override { return {last_ms_}; }

  double allReduceMs(int rows, int reps) override {
    if (shard_.collective == nullptr) return 0;
    const auto count = static_cast<std::size_t>(rows) * static_cast<std::size_t>(config_.model.hidden);
    if (rows <= 0 || reps <= 0 || count > residual_.size()) throw InputError("allReduceMs: rows outside the activations");
    shard_.collective->allReduceSum(residual_.data(), count, DType::F32, nullptr);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) shard_.collective->allReduceSum(residual_.data(), count, DType::F32, nullptr);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / reps;
  }

  double decode(std::span<const std::int32_t> tokens, int steps) override {
    const auto batch = static_cast<std::size_t>(config_.batch);
    if (steps <= 0 || tokens.size() != batch * static_cast<std::size_t>(steps)) {
      throw InputError("decode of " + std::to_string(steps) + " steps needs steps x batch token ids");
    }
    double total = 0;
    for (int s = 0; s < steps; ++s) total += forward(tokens.subspan(static_cast<std::size_t>(s) * batch, batch), 1);
    last_ms_ = total;
    return total;
  }

 private:
  void run(std::span<const std::int32_t> tokens, int count) {
    const ModelPreset& m = config_.model;
    const int rows = config_.batch * count;
    const auto eps = static_cast<float>(m.rms_norm_eps);
    const std::int64_t width = qkvWidth(m);
    const int attn_width = m.heads * m.head_dim;
    cpu::embeddingLookup(weights_[embeddingIndex()].data(), m.hidden, tokens.data(), rows, residual_.data());
    kernels::AttentionParams attn = attentionShape(config_, count, cached_);
    attn.q = wide_.data();
    attn.o = narrow_.data();
    for (int l = 0; l < m.layers; ++l) {
      const auto w = [&](LayerWeight which) { return weights_[layerIndex(l, which)].data(); };
      cpu::rmsNorm(residual_.data(), w(kAttnNorm), rows, m.hidden, eps, normed_.data());
      cpu::linear(normed_.data(), rows, m.hidden, w(kQkv), static_cast<int>(width), wide_.data(), false);
      for (int b = 0; b < config_.batch; ++b) {
        float* qkv = wide_.data() + static_cast<std::int64_t>(b) * count * width;
        cpu::applyRotary(qkv, count, m.heads + m.kv_heads, m.head_dim, width, cached_, m.rope_theta);
        appendToCache(l, b, qkv, count);
      }
      if (gathered_k_.empty()) {
        attn.k = k_cache_[l].data();
        attn.v = v_cache_[l].data();
      } else {
        gatherCache(l, cached_ + count);
        attn.k = gathered_k_.data();
        attn.v = gathered_v_.data();
      }
      if (config_.attention == AttentionChoice::Flash) {
        cpu::flashAttention(attn, cpu::resolveFlashTile(attn, {}), workspace_.data(), 1);
      } else {
        cpu::standardAttention(attn, workspace_.data(), 1);
      }
      cpu::linear(narrow_.data(), rows, attn_width, w(kOut), m.hidden, residual_.data(), ownsResidual());
      sumResidual(rows);
      cpu::rmsNorm(residual_.data(), w(kMlpNorm), rows, m.hidden, eps, normed_.data());
      cpu::linear(normed_.data(), rows, m.hidden, w(kGateUp), 2 * m.ffn, wide_.data(), false);
      cpu::swiglu(wide_.data(), rows, m.ffn, narrow_.data());
      cpu::linear(narrow_.data(), rows, m.ffn, w(kDown), m.hidden, residual_.data(), ownsResidual());
      sumResidual(rows);
    }
    for (int b = 0; b < config_.batch; ++b) {
      const float* row = residual_.data() + (static_cast<std::int64_t>(b) * count + count - 1) * m.hidden;
      cpu::rmsNorm(row, weights_[finalNormIndex(m)].data(), 1, m.hidden, eps, last_.data() + static_cast<std::int64_t>(b) * m.hidden);
    }
    cpu::linear(last_.data(), config_.batch, m.hidden, weights_[lmHeadIndex(m)].data(), m.vocab, logits_.data(), false);
    cached_ += count;
  }

  // Tensor parallel: a row-parallel projection's partial sums become the residual's update by an
  // all-reduce of the residual itself: rank 0 adds its part to the residual, the other ranks write
  // theirs in its place, and the sum over ranks is residual + every part.
  bool ownsResidual() const { return shard_.rank == 0; }
  void sumResidual(int rows) {
    if (shard_.collective == nullptr) return;
    shard_.collective->allReduceSum(residual_.data(), static_cast<std::size_t>(rows) * config_.model.hidden, DType::F32,
                                    nullptr);
  }

  // Copies the rotated K and the V of `count` new positions of sequence `b` into layer l's cache.
  void appendToCache(int l, int b, const float* qkv, int count) {
    const ModelPreset& m = config_.model;
    const KvLayout kv(config_);
    const std::int64_t width = qkvWidth(m);
    const auto row_bytes = static_cast<std::size_t>(m.head_dim) * sizeof(float);
    for (int i = 0; i < count; ++i) {
      for (int h = 0; h < m.kv_heads; ++h) {
        const std::int64_t dst = kv.row(b, h, cached_ + i) * m.head_dim;
        const float* k = qkv + i * width + static_cast<std::int64_t>(m.heads + h) * m.head_dim;
        std::memcpy(k_cache_[l].data() + dst, k, row_bytes);
        std::memcpy(v_cache_[l].data() + dst, k + static_cast<std::int64_t>(m.kv_heads) * m.head_dim, row_bytes);
      }
    }
  }

  // The first `tokens` positions of layer l's paged K and V, copied into the contiguous layout.
  void gatherCache(int l, int tokens) {
    const ModelPreset& m = config_.model;
    const KvLayout kv(config_);
    const auto row_bytes = static_cast<std::size_t>(m.head_dim) * sizeof(float);
    for (int b = 0; b < config_.batch; ++b) {
      for (int h = 0; h < m.kv_heads; ++h) {
        for (int j = 0; j < tokens; ++j) {
          const std::int64_t src = kv.row(b, h, j) * m.head_dim;
          const std::int64_t dst = kv.contiguousRow(b, h, j) * m.head_dim;
          std::memcpy(gathered_k_.data() + dst, k_cache_[l].data() + src, row_bytes);
          std::memcpy(gathered_v_.data() + dst, v_cache_[l].data() + src, row_bytes);
        }
      }
    }
  }

  Shard shard_;
  EngineConfig config_;  // the rank's: its model has the rank's heads, KV heads and ffn
  std::vector<std::vector<float>> weights_;
  std::vector<std::vector<float>> k_cache_, v_cache_;  // per layer, in the KvLayout
  std::vector<float> gathered_k_, gathered_v_;          // paged: one layer's K and V, contiguous
  std::vector<float> residual_, normed_, wide_, narrow_, last_, logits_;
  std::vector<std::byte> workspace_;
  int cached_ = 0;
  double last_ms_ = 0;
};

}  // namespace

std::unique_ptr<Engine> makeCpuEngine(const EngineConfig& config, const Shard& shard) {
  return std::make_unique<CpuEngine>(config, shard);
}

}  // namespace attnbench::engine::detail
