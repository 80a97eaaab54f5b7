// A sweep is a workload and a set of axes (models x batch sizes x sequence lengths x dtypes x causal x
// kernels x tiles, and for decode the new-token counts); expanding it gives the points to run. The same spec comes from CLI flags, a JSON file or
// the GUI's editor, and is stored with each run so that `--resume` can rebuild the exact point list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/kernels/attention_params.h"
#include "attnbench/kernels/decode_params.h"
#include "attnbench/model_presets.h"

namespace attnbench {

using kernels::DType;
using kernels::TileShape;

// The kernels a point can run: attnbench's fused flash kernel, the standard (materialised scores)
// baseline, and the vendor's cuDNN SDPA as a peer (NVIDIA GPUs only).
enum class KernelKind { Flash, Standard, Cudnn };

// What a point measures:
// - Attention: one attention operator, N queries against N keys (prefill).
// - Decode: one generation step, q_len new query rows per sequence against a KV cache of N tokens
//   (memory-bound; bandwidth is its metric).
// - Inference: a whole model (the transformer engine): prefill of an N-token prompt (time to first
//   token), then decode steps with and without the KV cache.
enum class Workload { Attention, Decode, Inference };

std::string workloadName(Workload workload);      // "attention" / "decode" / "inference"
Workload parseWorkload(const std::string& s);

std::string kernelName(KernelKind kind);        // "flash" / "standard" / "cudnn"
KernelKind parseKernel(const std::string& s);   // also "fused"; "baseline", "math", "naive" for standard
DType parseDType(const std::string& s);         // fp16/float16/half, bf16/bfloat16, fp32/float32/float
std::string tileName(TileShape tile);           // "auto", "64x64", "128x64"
TileShape parseTile(const std::string& s);      // "auto", "64" (= 64x64), "128x64"
std::uint64_t parseByteSize(const std::string& s);  // "8GiB", "512MiB", "1e9", "1073741824"
std::string formatBytes(std::uint64_t bytes);       // "1.50 GiB"
std::uint64_t parseSeed(const std::string& s);      // a decimal integer in [0, 2^64 - 1]

// The bounds of every spec value: one table for the CLI flags, spec files, the GUI's editor and
// `--resume`, all of which go through validateSpec.
struct SpecLimits {
  static constexpr int kMaxSeqLen = 1 << 22;
  static constexpr int kMaxBatch = 4096;
  static constexpr int kMaxRepetitions = 100000;
  static constexpr int kMaxMinSamples = 100000;
  static constexpr double kMaxNoisePercent = 100.0;
  static constexpr double kMaxSamplingSeconds = 3600;  // --min-time and --timeout
  static constexpr int kMaxWarmup = 10000;
  static constexpr int kMaxThreads = 4096;
  // Decode: new rows per sequence, the KV cache's page sizes, the split count, the length spread.
  static constexpr int kMaxQueryLen = kernels::kMaxDecodeQueryLen;
  static constexpr int kMinPageSize = 16;
  static constexpr int kMaxPageSize = 256;
  static constexpr int kMaxSplits = kernels::kMaxDecodeSplits;
  static constexpr double kMaxKvLensSpread = 0.9;
  // Inference: decode steps per repetition, and the prompt text's length.
  static constexpr int kMaxNewTokens = 8192;
  static constexpr int kMaxTensorParallel = 64;  // ranks one process drives (GPUs of one node)
  static constexpr std::size_t kMaxPromptBytes = 1 << 16;
  // A budget of 0 bytes (--max-memory 0.5) is a typo, not a request; past the upper bound no machine
  // has the memory.
  static constexpr std::uint64_t kMinMemoryBytes = 1;
  static constexpr std::uint64_t kMaxMemoryBytes = 1ULL << 60;
  // Spec files are a few hundred bytes of shallow JSON: the bounds keep a hostile file from
  // exhausting the memory or the stack.
  static constexpr std::size_t kMaxSpecFileBytes = 1 << 20;
  static constexpr int kMaxJsonDepth = 16;
};

// How a sample's launch is timed on a GPU (docs/METHODOLOGY.md):
// - Blocked: the stream is held by a spinning kernel while the start event, the launch and the stop
//   event are enqueued, then released, so launch latency and host work stay outside the events.
// - Batch: back-to-back launches between one pair of events, the time divided by their count (a
//   hot-cache figure; each launch's latency hides behind the previous kernel).
// - Plain: events around one launch as the host issues it; host work and launch latency count. Kept
//   to show what the other two remove at short sequences.
// Graph replay (cuda_graph) is orthogonal: what is launched is then one captured graph.
enum class TimingMethod { Blocked, Batch, Plain };

std::string timingMethodName(TimingMethod method);         // "blocked" / "batch" / "plain"
TimingMethod parseTimingMethod(const std::string& s);

// When a point stops sampling (after nvbench's rule): once it has min_samples samples, min_time_s of
// kernel time and a relative standard deviation at most max_noise_percent; or, past min_samples, when
// timeout_s of wall time have passed (the point is then flagged noisy). The timeout is short by default
// because a sweep has hundreds of points: a noisy microsecond kernel still gets thousands of samples.
// SweepSpec::repetitions > 0 fixes the count instead.
struct SamplingRule {
  double max_noise_percent = 0.5;  // relative standard deviation of the samples, in percent
  int min_samples = 10;
  double min_time_s = 0.0;
  double timeout_s = 1.0;
};

// How a decode point's KV cache is laid out and split (Workload::Decode; an inference point uses
// page_size only, for its engine's cache).
struct DecodeCacheOptions {
  int page_size = 0;          // tokens per page of a paged cache (a block table, as vLLM uses); 0 = contiguous
  // Ragged batches: sequence lengths drawn in [N (1 - spread), N (1 + spread)], in pairs that sum to 2N,
  // so the batch holds B x N keys as a uniform one does (same bytes and FLOPs, unequal work). 0 = all N.
  double kv_lens_spread = 0;
  int splits = 0;             // flash decode's key ranges per sequence; 0 = the kernel's heuristic

  bool operator==(const DecodeCacheOptions&) const = default;
};

// What an inference point runs besides its shape (Workload::Inference only).
// GraphReplay is the seed's "reduce-overhead": each decode step replayed from a captured CUDA graph.
enum class CompileMode { None, GraphReplay };
std::string compileModeName(CompileMode mode);  // "none" / "reduce-overhead"
CompileMode parseCompileMode(const std::string& s);

struct InferenceSettings {
  int new_tokens = 64;   // decode steps timed per repetition
  int depth = 0;         // tokens already in the KV cache before the prompt (llama-bench's pp512@d8192)
  CompileMode compile_mode = CompileMode::None;  // reduce-overhead: decode steps replayed from a CUDA graph
  std::string ckpt_dir;   // Hugging Face checkpoint (config.json + safetensors); empty: synthetic weights
  std::string tokenizer;  // SentencePiece model that tokenizes `prompt`; empty: synthetic prompt ids
  std::string prompt;     // text whose tokens start every prompt (repeated to N tokens)

  bool operator==(const InferenceSettings&) const = default;
};

struct SweepSpec {
  std::string name = "sweep";
  Workload workload = Workload::Attention;
  std::vector<ModelPreset> models;
  std::vector<int> seq_lens;
  std::vector<int> batch_sizes;
  // The longest N a batch size runs at (batch -> N; absent: every N): the seed's rule of batch 2 up to
  // 2K and batch 1 beyond. Points past it are not part of the sweep.
  std::map<int, int> max_seq_len_by_batch;
  std::vector<DType> dtypes;
  std::vector<bool> causal;
  std::vector<KernelKind> kernels;
  std::vector<TileShape> tiles;  // applies to flash attention points only
  std::vector<int> q_lens = {1}; // decode: new query rows per sequence (1; 2-16 for speculative decoding)
  DecodeCacheOptions decode;     // decode: the cache layout and split count
  InferenceSettings inference;    // inference: decode steps, depth, CUDA graphs, checkpoint, prompt
  // Ranks (GPUs, or CPU threads) each point is split over, Megatron-style: the attention and decode
  // workloads give each rank its share of the query and KV heads (no communication: a rank's heads are
  // a problem of their own); the inference workload splits the whole model (engine/engine.h).
  int tensor_parallel = 1;
  int repetitions = 0;           // timed samples per point; 0 = as many as `sampling` asks
  SamplingRule sampling;
  int warmup = 1;                // untimed runs before the samples
  bool check_correctness = true;
  std::string device = "auto";   // "auto", "cpu", "cuda", "cuda:N"
  std::optional<std::uint64_t> max_memory_bytes;  // overrides the device's free memory as the budget
  std::uint64_t seed = 20241125;                  // inputs are reproducible per point
  bool l2_flush = false;    // flush the GPU L2 between samples
  bool cuda_graph = false;  // replay a captured CUDA graph ("reduce-overhead") when timing
  TimingMethod timing = TimingMethod::Blocked;  // GPU only; the CPU times each call with a steady clock
  int threads = 0;          // CPU worker threads; 0 = all hardware threads
};

// Parses a JSON spec; unknown keys, wrong types and out-of-range values raise InputError naming the key.
SweepSpec specFromJson(const nlohmann::json& j);
nlohmann::json specToJson(const SweepSpec& spec);
// Parses spec text within SpecLimits' size and nesting depth; InputError naming `what` otherwise.
nlohmann::json parseSpecText(const std::string& text, const std::string& what);
// Reads and parses a spec file; InputError on unreadable/malformed files.
SweepSpec loadSpecFile(const std::string& path);
// Named presets shipped in resources/sweeps (e.g. "seed-matrix", "cpu-quick").
SweepSpec sweepPreset(const std::string& name);
std::vector<std::string> sweepPresetNames();

// Checks that the axes are non-empty and free of repeats, and every value within SpecLimits; the name
// must be clean text. Throws InputError naming the value.
void validateSpec(const SweepSpec& spec);

// One benchmark point: the workload, the attention problem (the one shape type core and kernels share;
// for decode seq_q = the new rows, seq_kv = the cache length N), the kernel and tile that run it, and
// the model the problem's heads come from.
struct SweepPoint {
  int index = 0;  // position in the expanded sweep; stable for a given spec (resume relies on it)
  Workload workload = Workload::Attention;
  ModelPreset model;
  kernels::AttentionShape shape;
  KernelKind kernel = KernelKind::Flash;
  TileShape tile;              // as requested; the backend resolves auto (attention flash points only)
  DecodeCacheOptions decode;   // decode points only
  InferenceSettings inference;  // inference points only
  int tensor_parallel = 1;      // ranks the point is split over (SweepSpec::tensor_parallel)

  bool isDecode() const { return workload == Workload::Decode; }
  bool isInference() const { return workload == Workload::Inference; }
  double flops() const { return shape.flops(); }
  int seqLen() const { return shape.seq_kv; }  // the sweep's N (keys; queries too for attention)
  std::string label() const;  // "llama-2-7b B=1 N=2048 fp16 causal flash 128x64", "... N=16384 q=1 ... decode"
};

// The attention problem of `model` at batch size `batch` and sequence length `seq_len` (queries and keys).
kernels::AttentionShape modelShape(const ModelPreset& model, int batch, int seq_len, DType dtype, bool causal);

// Expands the axes in the order model, dtype, causal, batch, seq_len, (q_len,) kernel, tile, so that each
// curve grows left to right and the kernels of one shape sit side by side: standard first, whose
// measured error then sets flash's correctness bar.
std::vector<SweepPoint> expandPoints(const SweepSpec& spec);

}  // namespace attnbench
