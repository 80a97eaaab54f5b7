// What the CPU and CUDA engines share: the weight layout (which checkpoint tensors make up each
// engine matrix, fused QKV and gate|up included), the activation buffer sizes, and the checks of a
// forward call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attnbench/engine/checkpoint.h"
#include "attnbench/engine/engine.h"

namespace attnbench::engine::detail {

// One engine matrix, stacked by rows from checkpoint tensors of `cols` columns (a vector: cols = 1
// in the layout, one row per element).
struct WeightSpec {
  std::vector<std::string> pieces;  // checkpoint tensor names, stacked in this order
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  float synthetic_scale = 1.0f;     // synthetic fill: standard-normal values * scale + shift
  float synthetic_shift = 0.0f;
  std::int64_t count() const { return rows * cols; }
};

// The engine's weights in order: embedding, then per layer (attention norm, QKV, output
// projection, MLP norm, gate|up, down), then the final norm and the LM head. `lm_head` names the
// checkpoint tensor of the LM head (the embedding matrix when tied).
enum LayerWeight : int { kAttnNorm, kQkv, kOut, kMlpNorm, kGateUp, kDown, kWeightsPerLayer };
std::vector<WeightSpec> weightPlan(const ModelPreset& model, const std::string& lm_head);
// weightPlan for a checkpoint (its own LM head, else the tied embedding), every piece's shape checked
// against config.json; throws InputError naming the first tensor that is missing or misshapen.
std::vector<WeightSpec> checkpointPlan(const Checkpoint& ckpt);
inline std::size_t embeddingIndex() { return 0; }
inline std::size_t layerIndex(int layer, LayerWeight w) { return 1 + static_cast<std::size_t>(layer) * kWeightsPerLayer + w; }
inline std::size_t finalNormIndex(const ModelPreset& m) { return 1 + static_cast<std::size_t>(m.layers) * kWeightsPerLayer; }
inline std::size_t lmHeadIndex(const ModelPreset& m) { return finalNormIndex(m) + 1; }

// Elements per row of the fused QKV projection's output.
inline std::int64_t qkvWidth(const ModelPreset& m) { return static_cast<std::int64_t>(m.heads + 2 * m.kv_heads) * m.head_dim; }

// Element counts of the activation buffers for `tokens` rows in flight (batch x step tokens):
// residual stream, normed stream, one scratch for QKV then gate|up, one for attention output then
// the SwiGLU output.
struct ActivationLayout {
  std::int64_t residual = 0, normed = 0, wide = 0, narrow = 0;
  std::int64_t total() const { return residual + normed + wide + narrow; }
};
ActivationLayout activationLayout(const ModelPreset& m, std::int64_t tokens);

// The attention problem of a forward of `count` tokens per sequence after `cached` ones, K/V from
// the contiguous cache. Q and O are either interleaved rows (Q read in place from the fused QKV
// output, O straight into the output projection's input) or, with `packed_heads`, [B, Hq, N, D].
kernels::AttentionParams attentionShape(const EngineConfig& c, int count, int cached, bool packed_heads = false);

// Throws InputError unless `tokens` holds batch x count ids in [0, vocab) that fit the cache.
void checkForward(const EngineConfig& c, std::span<const std::int32_t> tokens, int count, int cached);

std::unique_ptr<Engine> makeCpuEngine(const EngineConfig& config);
std::unique_ptr<Engine> makeCudaEngine(const EngineConfig& config);
MemoryBreakdown predictCudaMemory(const EngineConfig& config);

}  // namespace attnbench::engine::detail
