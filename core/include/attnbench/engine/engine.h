// The transformer engine of the `inference` workload: a Llama-architecture decoder (embedding,
// RMSNorm, fused QKV projection, rotary embeddings, attention with a contiguous KV cache and GQA,
// output projection + residual, SwiGLU MLP, final norm, LM head on the last position) on the CPU
// (fp32, Eigen; for tiny models) or on CUDA (fp16/bf16 storage, fp32 accumulation, cuBLAS GEMMs,
// flash or standard attention, decode steps optionally replayed from a CUDA graph).
//
// Tensor parallel (EngineConfig::tensor_parallel = T > 1), the Megatron split: each rank holds Hq/T
// query heads and Hkv/T KV heads (the fused QKV projection split by columns, the output projection
// by rows) and ffn/T of the MLP (gate|up by columns, down by rows), with one sum all-reduce of the
// residual stream after the output projection and one after the down projection. The embedding,
// the norms and the LM head are replicated. When T exceeds Hkv (a multiple of it), ranks that share
// a KV head each hold a copy. One process drives every rank, one thread each: on CUDA, rank r on
// device cuda_device + r with an NCCL communicator (ncclCommInitAll); on the CPU, ranks share memory.
//
// A runner drives it per point:
//   predictMemory(config)            -> skip the point when it cannot fit (weights, KV cache, activations)
//   auto engine = makeEngine(config) -> weights loaded or synthesized, cache and buffers allocated
//   engine->forward(prompt, N)       -> time to first token (prefill of N tokens per sequence)
//   engine->decode(tokens, steps)    -> ms for `steps` one-token steps with the KV cache
//   engine->setCacheLength(0); engine->forward(whole, L) -> one decode step without a cache
//   engine->logits()                 -> [batch, vocab] fp32 of the last position, for correctness
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attnbench/kernels/attention_params.h"
#include "attnbench/model_presets.h"

namespace attnbench::engine {

using kernels::DType;

enum class EngineDevice { Cpu, Cuda };
enum class AttentionChoice { Flash, Standard };

struct EngineConfig {
  ModelPreset model;               // shapes, rope theta, norm epsilon (a preset, or readHfConfig's)
  std::string checkpoint_dir;      // Hugging Face checkpoint; empty = synthetic weights from `seed`. With one,
                                   // `model` should be Checkpoint::open(dir).model() (predictMemory reads it;
                                   // makeEngine takes the checkpoint's config.json in any case)
  EngineDevice device = EngineDevice::Cpu;
  int cuda_device = 0;
  DType dtype = DType::F16;        // storage of weights, activations and the KV cache (the CPU runs fp32)
  AttentionChoice attention = AttentionChoice::Flash;
  int batch = 1;                   // sequences decoded together
  int max_tokens = 0;              // KV cache capacity per sequence (depth + prompt + new tokens)
  int max_step_tokens = 0;         // the most tokens one forward() takes per sequence (sizes activations)
  int page_size = 0;               // > 0: a paged KV cache of pages this many tokens long (16-256), the
                                   // sequences' pages interleaved in one pool per layer and found through
                                   // a block table by the decode kernel, gathered into a contiguous copy
                                   // for a prefill; 0: contiguous (flash only when paged)
  bool cuda_graph = false;         // decode steps captured as CUDA graphs and replayed ("reduce-overhead")
  int tensor_parallel = 1;         // ranks the model is split over (see above)
  std::uint64_t seed = 1;          // synthetic weights
};

// Device bytes of an engine, by what holds them (of one rank under tensor parallelism).
struct MemoryBreakdown {
  std::uint64_t weights = 0;      // all parameters in the storage dtype (fused QKV and gate|up included)
  std::uint64_t kv_cache = 0;     // 2 x layers x batch x kv_heads x max_tokens x head_dim (paged: whole pages)
  std::uint64_t activations = 0;  // one forward of max_step_tokens: layer buffers, logits, attention
                                  // workspace (standard attention's N^2 scores per layer) and staging
  std::uint64_t total() const { return weights + kv_cache + activations; }
};

// What makeEngine will allocate for `config`, without touching a device. Throws InputError for a
// config it cannot run (see unsupportedReason).
MemoryBreakdown predictMemory(const EngineConfig& config);

// Empty when the engine can run `config`, else a one-line reason (a dtype the device does not store,
// a head dim flash lacks, a model without layers/ffn/vocab, a tensor parallel degree that does not
// split the heads, KV heads or ffn evenly, tensor parallel on GPUs without NCCL, ...).
std::string unsupportedReason(const EngineConfig& config);

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const EngineConfig& config() const = 0;

  // Appends `count` tokens to each of the batch's sequences (tokens: [batch, count] row-major ids in
  // [0, vocab)) and computes the logits of the last position. Returns the time the device took, in
  // ms (CUDA events around the launches; wall clock on the CPU). InputError when the cache would
  // overflow, count passes max_step_tokens or an id is out of range.
  virtual double forward(std::span<const std::int32_t> tokens, int count) = 0;

  // `steps` one-token steps (tokens: [steps, batch]) issued back to back with no host sync between
  // them (each replayed from a CUDA graph when config().cuda_graph); returns the total device ms.
  virtual double decode(std::span<const std::int32_t> tokens, int steps) = 0;

  // Tokens held in the cache per sequence. setCacheLength rewinds (or, up to the current length only,
  // keeps a prefix), so a runner can repeat a measurement from the same state.
  virtual int cacheLength() const = 0;
  virtual void setCacheLength(int tokens) = 0;

  // [batch, vocab] fp32 logits of the last position of the last forward/decode step.
  virtual std::vector<float> logits() = 0;

  // Bytes allocated, by kind (compare with predictMemory); one rank's under tensor parallelism.
  virtual MemoryBreakdown allocated() const = 0;

  // The ms each rank took in the last forward() or decode(), by rank (what that call returned is
  // their max); one entry without tensor parallelism.
  virtual std::vector<double> rankMs() const = 0;

  // Mean ms of one in-place sum all-reduce of `rows` x hidden activations over the ranks (what every
  // layer does twice per forward of `rows` tokens), over `reps` issued back to back after one
  // untimed; 0 without tensor parallelism (there is none). Overwrites the residual stream only.
  virtual double allReduceMs(int rows, int reps) = 0;
};

// Loads or synthesizes the weights and allocates everything. Throws InputError (bad config or
// checkpoint), OutOfMemory (the device refused an allocation) or DeviceFault. Synthetic weights of a
// tensor parallel engine are drawn per rank (the replicated ones alike on every rank), so they are
// another model than the T = 1 engine's; a checkpoint gives every T the same model.
std::unique_ptr<Engine> makeEngine(const EngineConfig& config);

// Prefill FLOPs of `n` tokens per sequence after `depth` cached ones: the projections for every token,
// causal attention (4 B H D (N^2 / 2 + N depth) per layer), the LM head on the last position only.
double prefillFlops(const ModelPreset& model, int batch, int n, int depth);

// Bytes one decode step must read at a mean context of `context` tokens: every weight but the
// embedding table (a step gathers one row of it), plus K and V of the context; per rank under tensor
// parallelism (weight_bytes: one rank's).
double decodeStepBytes(const EngineConfig& config, std::uint64_t weight_bytes, double context);

// Empty when `degree` ranks can split `model` (they divide its query heads and its ffn, and divide
// its KV heads or are a multiple of them), else a one-line reason.
std::string tensorParallelReason(const ModelPreset& model, int degree);

// The engine of one rank of `config`: the model with its heads, KV heads and ffn split (tensor_parallel
// 1). Memory and bytes per rank are this config's.
EngineConfig rankConfig(const EngineConfig& config);

// "NCCL 2.32.3" when tensor parallelism on GPUs can run here, else why not (the build has no NCCL,
// libnccl.so.2 does not load, ...).
std::string gpuCollectivesDescription();
bool gpuCollectivesAvailable();
// CUDA devices this process sees (CUDA_VISIBLE_DEVICES applied); 0 without CUDA.
int visibleCudaDevices();

// Greedy next token per sequence from [batch, vocab] logits (lowest id on ties).
std::vector<std::int32_t> argmaxTokens(std::span<const float> logits, int batch, int vocab);

// `count` deterministic token ids in [0, vocab) from `seed` (synthetic prompts).
std::vector<std::int32_t> syntheticTokens(std::size_t count, int vocab, std::uint64_t seed);

}  // namespace attnbench::engine
