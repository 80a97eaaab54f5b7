#include <algorithm>
#include <cmath>
#include <cstring>

#include "attnbench/engine/engine.h"
#include "attnbench/errors.h"
#include "attnbench/kernels/cpu_attention.h"
#include "attnbench/sweep_spec.h"
#include "collective.h"
#include "engine_internal.h"

namespace attnbench::engine {
namespace detail {

std::vector<WeightSpec> weightPlan(const ModelPreset& m, const std::string& lm_head) {
  const float matrix_scale = 1.0f / std::sqrt(static_cast<float>(m.hidden));
  // Norm weights near one (not exactly one, so that a mix-up of norm vectors shows in the logits).
  const auto norm = [&](std::string name) { return WeightSpec{{std::move(name)}, m.hidden, 1, 0.1f, 1.0f}; };
  std::vector<WeightSpec> plan;
  plan.push_back({{"model.embed_tokens.weight"}, m.vocab, m.hidden, 1.0f, 0.0f});
  for (int l = 0; l < m.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    plan.push_back(norm(p + "input_layernorm.weight"));
    plan.push_back({{p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"},
                    qkvWidth(m), m.hidden, matrix_scale, 0.0f});
    plan.push_back({{p + "self_attn.o_proj.weight"}, m.hidden, static_cast<std::int64_t>(m.heads) * m.head_dim,
                    1.0f / std::sqrt(static_cast<float>(m.heads * m.head_dim)), 0.0f});
    plan.push_back(norm(p + "post_attention_layernorm.weight"));
    plan.push_back({{p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"}, 2 * static_cast<std::int64_t>(m.ffn),
                    m.hidden, matrix_scale, 0.0f});
    plan.push_back({{p + "mlp.down_proj.weight"}, m.hidden, m.ffn, 1.0f / std::sqrt(static_cast<float>(m.ffn)), 0.0f});
  }
  plan.push_back(norm("model.norm.weight"));
  plan.push_back({{lm_head}, m.vocab, m.hidden, matrix_scale, 0.0f});
  return plan;
}

std::vector<WeightSpec> checkpointPlan(const Checkpoint& ckpt) {
  const ModelPreset& m = ckpt.model();
  auto plan = weightPlan(m, ckpt.hasTensor("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight");
  for (const auto& spec : plan) {
    std::int64_t rows = 0;
    for (const auto& name : spec.pieces) {
      const TensorRef& t = ckpt.tensor(name);
      const bool vector = spec.cols == 1 && t.shape.size() == 1;
      const bool matrix = spec.cols > 1 && t.shape.size() == 2 && t.shape[1] == spec.cols;
      if (!vector && !matrix) {
        throw InputError("checkpoint tensor '" + name + "' does not have the shape config.json implies");
      }
      rows += t.shape[0];
    }
    if (rows != spec.rows) {
      throw InputError("checkpoint tensor" + std::string(spec.pieces.size() > 1 ? "s '" : " '") + spec.pieces.front() +
                       (spec.pieces.size() > 1 ? "'... have " : "' has ") + std::to_string(rows) + " rows; config.json implies " +
                       std::to_string(spec.rows));
    }
  }
  return plan;
}

ModelPreset shardModel(const ModelPreset& full, int size) {
  ModelPreset m = rankHeads(full, size);
  m.ffn = full.ffn / size;
  return m;
}

std::vector<WeightSpec> shardPlan(std::vector<WeightSpec> plan, const ModelPreset& full, int rank, int size) {
  if (size == 1) return plan;
  // KV heads are cut into min(size, kv_heads) blocks; with more ranks than KV heads, each run of
  // size / kv_heads consecutive ranks (whose query heads share a KV head) holds the same block.
  const int kv_parts = std::min(size, full.kv_heads);
  const PieceBlock q_block{size, rank};
  const PieceBlock kv_block{kv_parts, rank / (size / kv_parts)};
  const ModelPreset local = shardModel(full, size);
  for (int l = 0; l < full.layers; ++l) {
    WeightSpec& qkv = plan[layerIndex(l, kQkv)];
    qkv.blocks = {q_block, kv_block, kv_block};
    qkv.rows = qkvWidth(local);
    WeightSpec& out = plan[layerIndex(l, kOut)];
    out.blocks = {q_block};
    out.split_columns = true;
    out.cols = static_cast<std::int64_t>(local.heads) * local.head_dim;
    WeightSpec& gate_up = plan[layerIndex(l, kGateUp)];
    gate_up.blocks = {q_block, q_block};
    gate_up.rows = 2 * static_cast<std::int64_t>(local.ffn);
    WeightSpec& down = plan[layerIndex(l, kDown)];
    down.blocks = {q_block};
    down.split_columns = true;
    down.cols = local.ffn;
    for (const auto which : {kQkv, kOut, kGateUp, kDown}) plan[layerIndex(l, which)].shard_rank = rank;
  }
  return plan;
}

std::span<const std::byte> pieceBytes(const TensorRef& t, const WeightSpec& spec, std::size_t piece,
                                      std::vector<std::byte>& scratch) {
  if (spec.blocks.empty() || spec.blocks[piece].parts == 1) return {t.data, t.bytes};
  const PieceBlock b = spec.blocks[piece];
  const auto rows = static_cast<std::size_t>(t.shape[0]);
  const std::size_t row_bytes = t.bytes / rows;
  if (!spec.split_columns) {  // a run of whole rows
    const std::size_t bytes = t.bytes / static_cast<std::size_t>(b.parts);
    return {t.data + static_cast<std::size_t>(b.index) * bytes, bytes};
  }
  const std::size_t block_bytes = row_bytes / static_cast<std::size_t>(b.parts);
  scratch.resize(rows * block_bytes);
  for (std::size_t r = 0; r < rows; ++r) {
    std::memcpy(scratch.data() + r * block_bytes, t.data + r * row_bytes + static_cast<std::size_t>(b.index) * block_bytes,
                block_bytes);
  }
  return {scratch.data(), scratch.size()};
}

RankSetup rankSetup(const EngineConfig& config, const Shard& shard) {
  RankSetup s;
  EngineConfig full = config;
  if (!config.checkpoint_dir.empty()) {
    s.checkpoint.emplace(Checkpoint::open(config.checkpoint_dir));
    full.model = s.checkpoint->model();
  }
  full.tensor_parallel = shard.size;
  if (const std::string reason = unsupportedReason(full); !reason.empty()) throw InputError(reason);
  s.config = rankConfig(full);
  s.plan = shardPlan(s.checkpoint ? checkpointPlan(*s.checkpoint) : weightPlan(full.model, "lm_head.weight"), full.model,
                     shard.rank, shard.size);
  return s;
}

std::uint64_t syntheticSeed(std::uint64_t seed, std::size_t index, const WeightSpec& spec) {
  const std::uint64_t base = seed * 1000003 + index;
  return spec.blocks.empty() ? base : base + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(spec.shard_rank);
}

ActivationLayout activationLayout(const ModelPreset& m, std::int64_t tokens) {
  ActivationLayout a;
  a.residual = tokens * m.hidden;
  a.normed = tokens * m.hidden;
  a.wide = tokens * std::max<std::int64_t>(qkvWidth(m), 2 * static_cast<std::int64_t>(m.ffn));
  a.narrow = tokens * std::max<std::int64_t>(static_cast<std::int64_t>(m.heads) * m.head_dim, m.ffn);
  return a;
}

kernels::AttentionParams attentionShape(const EngineConfig& c, int count, int cached, bool packed_heads) {
  const ModelPreset& m = c.model;
  kernels::AttentionParams p;
  kernels::setShape(p, {c.batch, m.heads, m.kv_heads, count, cached + count, m.head_dim, true,
                        c.device == EngineDevice::Cpu ? DType::F32 : c.dtype});
  const std::int64_t width = qkvWidth(m);
  const std::int64_t out_width = static_cast<std::int64_t>(m.heads) * m.head_dim;
  kernels::setStrides(p, {count * width, m.head_dim, width},
                      kernels::packedBhndStrides(m.kv_heads, c.max_tokens, m.head_dim));
  p.o_batch_stride = count * out_width;
  p.o_head_stride = m.head_dim;
  p.o_row_stride = out_width;
  if (packed_heads) {
    const auto packed = kernels::packedBhndStrides(m.heads, count, m.head_dim);
    p.q_batch_stride = p.o_batch_stride = packed.batch;
    p.q_head_stride = p.o_head_stride = packed.head;
    p.q_row_stride = p.o_row_stride = packed.row;
  }
  return p;
}

KvLayout::KvLayout(const EngineConfig& c)
    : batch(c.batch), kv_heads(c.model.kv_heads), max_tokens(c.max_tokens), page_size(c.page_size) {
  if (!paged()) return;
  pages_per_sequence = (max_tokens + page_size - 1) / page_size;
  pages = pages_per_sequence * batch;
}

std::vector<std::int32_t> KvLayout::blockTable() const {
  std::vector<std::int32_t> table;
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < pages_per_sequence; ++j) table.push_back(pageOf(b, j));
  return table;
}

void checkForward(const EngineConfig& c, std::span<const std::int32_t> tokens, int count, int cached) {
  if (count <= 0 || count > c.max_step_tokens) {
    throw InputError("a forward step takes 1 to " + std::to_string(c.max_step_tokens) + " tokens per sequence, not " +
                     std::to_string(count));
  }
  if (tokens.size() != static_cast<std::size_t>(c.batch) * static_cast<std::size_t>(count)) {
    throw InputError("a forward step of " + std::to_string(count) + " tokens needs batch x count = " +
                     std::to_string(c.batch * count) + " token ids, not " + std::to_string(tokens.size()));
  }
  if (cached + count > c.max_tokens) {
    throw InputError("the KV cache holds " + std::to_string(c.max_tokens) + " tokens; " + std::to_string(cached) +
                     " + " + std::to_string(count) + " do not fit");
  }
  for (const std::int32_t t : tokens) {
    if (t < 0 || t >= c.model.vocab) {
      throw InputError("token id " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(c.model.vocab) + ")");
    }
  }
}

}  // namespace detail

std::string tensorParallelReason(const ModelPreset& m, int t) {
  if (std::string why = headSplitReason(m, t); !why.empty()) return why;
  if (m.ffn % t != 0) {
    return "tensor parallel " + std::to_string(t) + " does not divide " + m.name + "'s MLP width " + std::to_string(m.ffn) +
           " (ffn)";
  }
  return {};
}

std::string unsupportedReason(const EngineConfig& c) {
  const ModelPreset& m = c.model;
  if (m.layers <= 0 || m.ffn <= 0 || m.vocab <= 0 || m.hidden <= 0) {
    return "model '" + m.name + "' lacks layers, hidden, ffn or vocab: the inference workload needs a full model";
  }
  if (m.heads <= 0 || m.kv_heads <= 0 || m.heads % m.kv_heads != 0) return "kv_heads must divide heads";
  if (m.head_dim % 2 != 0 || m.head_dim > 2048) return "rotary embeddings need an even head dim up to 2048";
  if (c.batch <= 0 || c.max_tokens <= 0 || c.max_step_tokens <= 0 || c.max_step_tokens > c.max_tokens) {
    return "batch and cache size must be positive, and a step no longer than the cache";
  }
  if (c.page_size != 0) {
    if (c.page_size < SpecLimits::kMinPageSize || c.page_size > SpecLimits::kMaxPageSize) {
      return "a KV cache page holds " + std::to_string(SpecLimits::kMinPageSize) + " to " +
             std::to_string(SpecLimits::kMaxPageSize) + " tokens, not " + std::to_string(c.page_size);
    }
    if (c.attention == AttentionChoice::Standard) {
      return "the paged KV cache is read by the flash kernels only: run the standard baseline without a page size";
    }
  }
  if (const int t = c.tensor_parallel; t != 1) {
    if (std::string why = tensorParallelReason(m, t); !why.empty()) return why;
    if (c.device == EngineDevice::Cuda && !gpuCollectivesAvailable()) {
      return "tensor parallel " + std::to_string(t) + " on GPUs needs NCCL: " + gpuCollectivesDescription();
    }
    // What each rank runs must be runnable on its own (a head dim flash lacks, say).
    return unsupportedReason(rankConfig(c));
  }
  if (c.device == EngineDevice::Cpu) {
    if (c.dtype != DType::F32) return "the CPU engine stores fp32, not " + std::string(kernels::dtypeName(c.dtype));
    if (c.cuda_graph) return "CUDA graphs need the CUDA engine";
    return {};
  }
#ifdef ATTNBENCH_HAVE_CUDA
  if (c.dtype == DType::F32) return "the CUDA engine stores fp16 or bf16, not fp32";
  if (c.attention == AttentionChoice::Flash && m.head_dim != 64 && m.head_dim != 128 && m.head_dim != 256) {
    return "flash supports head dim 64, 128 and 256, not " + std::to_string(m.head_dim);
  }
  return {};
#else
  return "this build has no CUDA backend";
#endif
}

MemoryBreakdown predictMemory(const EngineConfig& c) {
  if (const std::string reason = unsupportedReason(c); !reason.empty()) throw InputError(reason);
  // One rank's: its weight matrices have the sizes of the rank's model's (the split ones are the
  // full model's blocks, the replicated ones whole).
  if (c.tensor_parallel > 1) return predictMemory(rankConfig(c));
#ifdef ATTNBENCH_HAVE_CUDA
  if (c.device == EngineDevice::Cuda) return detail::predictCudaMemory(c);
#endif
  const ModelPreset& m = c.model;
  MemoryBreakdown b;
  for (const auto& w : detail::weightPlan(m, "lm_head.weight")) b.weights += static_cast<std::uint64_t>(w.count()) * 4;
  const detail::KvLayout kv(c);
  const auto kv_rows = static_cast<std::uint64_t>(kv.rows());
  b.kv_cache = 2ULL * m.layers * kv_rows * m.head_dim * 4;
  const auto shape = detail::attentionShape(c, c.max_step_tokens, c.max_tokens - c.max_step_tokens);
  const std::size_t workspace = c.attention == AttentionChoice::Flash
                                    ? kernels::cpu::flashWorkspaceBytes(shape, kernels::cpu::resolveFlashTile(shape, {}), 1)
                                    : kernels::cpu::standardWorkspaceBytes(shape);
  const std::int64_t tokens = static_cast<std::int64_t>(c.batch) * c.max_step_tokens;
  // Paged: attention reads a contiguous copy of one layer's K and V (gathered before each layer's attention).
  const std::uint64_t gathered = 2ULL * static_cast<std::uint64_t>(kv.gatheredRows()) * m.head_dim * 4;
  b.activations = static_cast<std::uint64_t>(detail::activationLayout(m, tokens).total()) * 4 + workspace + gathered +
                  static_cast<std::uint64_t>(c.batch) * (static_cast<std::uint64_t>(m.hidden) + m.vocab) * 4;
  return b;
}

EngineConfig rankConfig(const EngineConfig& c) {
  EngineConfig local = c;
  local.model = detail::shardModel(c.model, c.tensor_parallel);
  local.tensor_parallel = 1;
  return local;
}

std::string gpuCollectivesDescription() { return detail::ncclDescription(); }
bool gpuCollectivesAvailable() { return detail::ncclUnavailableReason().empty(); }

std::unique_ptr<Engine> makeEngine(const EngineConfig& c) {
  if (const std::string reason = unsupportedReason(c); !reason.empty()) throw InputError(reason);
  return c.tensor_parallel > 1 ? detail::makeTensorParallelEngine(c) : detail::makeRankEngine(c, {});
}

double prefillFlops(const ModelPreset& m, int batch, int n, int depth) {
  // Multiply-adds of the projections per token (fused QKV, output, gate|up, down), times two.
  const double projections = 2.0 * m.layers *
                             (static_cast<double>(m.hidden) * ((m.heads + 2.0 * m.kv_heads) * m.head_dim) +
                              static_cast<double>(m.heads) * m.head_dim * m.hidden + 3.0 * m.hidden * m.ffn);
  const double attention = 4.0 * batch * m.heads * m.head_dim * m.layers *
                           (static_cast<double>(n) * n / 2 + static_cast<double>(n) * depth);
  return batch * static_cast<double>(n) * projections + attention + 2.0 * batch * m.hidden * static_cast<double>(m.vocab);
}

double decodeStepBytes(const EngineConfig& c, std::uint64_t weight_bytes, double context) {
  const ModelPreset& m = c.model;
  const double element = kernels::bytesPerElement(c.device == EngineDevice::Cpu ? DType::F32 : c.dtype);
  const double embedding = static_cast<double>(m.vocab) * m.hidden * element;
  const double kv = 2.0 * m.layers * c.batch * m.kv_heads * context * m.head_dim * element;
  return static_cast<double>(weight_bytes) - embedding + kv;
}

std::vector<std::int32_t> argmaxTokens(std::span<const float> logits, int batch, int vocab) {
  std::vector<std::int32_t> out;
  for (int b = 0; b < batch; ++b) {
    const auto row = logits.subspan(static_cast<std::size_t>(b) * vocab, static_cast<std::size_t>(vocab));
    out.push_back(static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
  }
  return out;
}

std::vector<std::int32_t> syntheticTokens(std::size_t count, int vocab, std::uint64_t seed) {
  std::vector<std::int32_t> out(count);
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (auto& t : out) {
    // splitmix64: a counter-based stream, the same ids on every machine.
    state += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    t = static_cast<std::int32_t>(z % static_cast<std::uint64_t>(vocab));
  }
  return out;
}

}  // namespace attnbench::engine
