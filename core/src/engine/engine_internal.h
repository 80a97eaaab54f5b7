// What the CPU and CUDA engines share: the weight layout (which checkpoint tensors make up each
// engine matrix, fused QKV and gate|up included), the activation buffer sizes, and the checks of a
// forward call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "attnbench/engine/checkpoint.h"
#include "attnbench/engine/engine.h"

namespace attnbench::engine::detail {

// A tensor parallel rank's part of one checkpoint tensor: the tensor cut into `parts` equal blocks
// (of rows, or of columns) and block `index` of them.
struct PieceBlock {
  int parts = 1;
  int index = 0;
};

// One engine matrix, stacked by rows from checkpoint tensors of `cols` columns (a vector: cols = 1
// in the layout, one row per element).
struct WeightSpec {
  WeightSpec(std::vector<std::string> names, std::int64_t row_count, std::int64_t col_count, float scale, float shift)
      : pieces(std::move(names)), rows(row_count), cols(col_count), synthetic_scale(scale), synthetic_shift(shift) {}
  std::vector<std::string> pieces;  // checkpoint tensor names, stacked in this order
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  float synthetic_scale = 1.0f;     // synthetic fill: standard-normal values * scale + shift
  float synthetic_shift = 0.0f;
  // Tensor parallel: the block of each piece this rank holds (empty: whole pieces, replicated), cut
  // by rows (a column-parallel layer: QKV, gate|up) or by columns (a row-parallel one: output, down);
  // rows and cols above are the rank's.
  std::vector<PieceBlock> blocks;
  bool split_columns = false;
  int shard_rank = 0;               // salts the synthetic fill of a split matrix
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

// Tensor parallel: where a rank sits, and the collective it sums its residual stream with (null: a
// single engine, no all-reduce).
class Collective;
struct Shard {
  int rank = 0;
  int size = 1;
  Collective* collective = nullptr;
};
// The model one rank of `size` computes: heads/size query heads, max(1, kv_heads/size) KV heads
// (replicated when size exceeds them), ffn/size; see unsupportedReason for the degrees allowed.
ModelPreset shardModel(const ModelPreset& full, int size);
// `plan` (of the full model) cut to rank `rank` of `size`: QKV and gate|up by rows, the output and
// down projections by columns; everything else whole.
std::vector<WeightSpec> shardPlan(std::vector<WeightSpec> plan, const ModelPreset& full, int rank, int size);
// The bytes of piece `piece` of `spec` that the rank holds, in the tensor's dtype: the tensor itself,
// a contiguous run of rows, or its columns gathered into `scratch`.
std::span<const std::byte> pieceBytes(const TensorRef& tensor, const WeightSpec& spec, std::size_t piece,
                                      std::vector<std::byte>& scratch);
// What an engine that is rank `shard` of `config` loads: the checkpoint (none: synthetic weights), its
// own config (the rank's model, read from the checkpoint's config.json when there is one) and its
// weight plan. Throws InputError for a checkpoint or split it cannot run.
struct RankSetup {
  std::optional<Checkpoint> checkpoint;
  EngineConfig config;
  std::vector<WeightSpec> plan;
};
RankSetup rankSetup(const EngineConfig& config, const Shard& shard);
// The synthetic fill's seed of weight `index`: the same on every rank for replicated weights.
std::uint64_t syntheticSeed(std::uint64_t seed, std::size_t index, const WeightSpec& spec);

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

// The KV cache's layout: a per layer K and V block [batch, kv_heads, max_tokens, head_dim] rows, or,
// paged, a pool [pages, kv_heads, page_size, head_dim] of which sequence b's j-th page is pageOf(b, j) =
// j * batch + b: the sequences' pages interleave in the pool, as an allocator handing out pages while
// every sequence grows would leave them (so a block table that is not read shows).
struct KvLayout {
  explicit KvLayout(const EngineConfig& c);
  bool paged() const { return page_size > 0; }
  std::int64_t rowsPerHead() const { return paged() ? static_cast<std::int64_t>(pages_per_sequence) * page_size : max_tokens; }
  std::int64_t rows() const { return static_cast<std::int64_t>(batch) * kv_heads * rowsPerHead(); }  // of one K or V
  std::int32_t pageOf(int b, int j) const { return j * batch + b; }
  std::vector<std::int32_t> blockTable() const;  // [batch, pages_per_sequence] of pageOf
  // Row (of head_dim elements) of sequence b, KV head h, position j.
  std::int64_t row(int b, int h, int j) const {
    if (!paged()) return contiguousRow(b, h, j);
    return (static_cast<std::int64_t>(pageOf(b, j / page_size)) * kv_heads + h) * page_size + j % page_size;
  }
  // The same row in the contiguous layout [batch, kv_heads, max_tokens]: the cache itself when not
  // paged, else the copy a layer's K or V is gathered into for the attention kernels that need one.
  std::int64_t contiguousRow(int b, int h, int j) const {
    return (static_cast<std::int64_t>(b) * kv_heads + h) * max_tokens + j;
  }
  std::int64_t gatheredRows() const { return paged() ? static_cast<std::int64_t>(batch) * kv_heads * max_tokens : 0; }
  int batch, kv_heads, max_tokens, page_size;
  int pages_per_sequence = 0, pages = 0;  // paged only
};

// Throws InputError unless `tokens` holds batch x count ids in [0, vocab) that fit the cache.
void checkForward(const EngineConfig& c, std::span<const std::int32_t> tokens, int count, int cached);

// One engine of `config` (the full model; its tensor_parallel is ignored) as rank `shard` of a split.
std::unique_ptr<Engine> makeCpuEngine(const EngineConfig& config, const Shard& shard = {});
std::unique_ptr<Engine> makeCudaEngine(const EngineConfig& config, const Shard& shard = {});
// makeCudaEngine or makeCpuEngine, by config.device.
std::unique_ptr<Engine> makeRankEngine(const EngineConfig& config, const Shard& shard);
// config.tensor_parallel ranks of makeRankEngine, one thread each, behind one Engine.
std::unique_ptr<Engine> makeTensorParallelEngine(const EngineConfig& config);
MemoryBreakdown predictCudaMemory(const EngineConfig& config);

}  // namespace attnbench::engine::detail
