#include "inference_runner.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "attnbench/engine/checkpoint.h"
#include "attnbench/engine/engine.h"
#include "attnbench/engine/tokenizer.h"
#include "attnbench/errors.h"

namespace attnbench {
namespace {

using engine::AttentionChoice;
using engine::EngineConfig;
using engine::EngineDevice;

// The prompt text when a tokenizer is given without --prompt (repeated to N tokens).
constexpr const char* kDefaultPrompt =
    "Flash attention computes exact attention in tiles that stay on chip, so the score matrix never "
    "reaches device memory. ";
// Decode steps whose logits the correctness check compares, after the prompt's own.
constexpr int kCheckedSteps = 8;
// Logits pass when they differ from the reference by at most this fraction of the reference's largest
// |logit|: fp16 storage of weights and activations keeps about three digits per layer, and the error
// grows over a model's layers. Top-1 agreement is recorded, not required (near-ties flip legitimately).
constexpr double kLogitTolerance = 0.02;

// All-reduces timed back to back per measurement (after one untimed).
constexpr int kAllReduceReps = 20;

// nccl-tests' bus bandwidth of an all-reduce of `bytes` over `ranks` in `ms`, GB/s: the algorithm
// bandwidth (bytes / time) x 2 (n - 1) / n, what each rank's links carry in a ring.
double allReduceBusGbps(double bytes, double ms, int ranks) {
  if (ms <= 0 || ranks < 2) return 0;
  return bytes / (ms * 1e-3) / 1e9 * 2.0 * (ranks - 1) / ranks;
}

// The points of one shape share their inputs and weights, whatever the kernel and compile mode.
std::string shapeKey(const SweepPoint& p) {
  return p.model.name + "/" + std::to_string(p.shape.batch) + "/" + std::to_string(p.shape.seq_kv) + "/" +
         std::string(kernels::dtypeName(p.shape.dtype)) + "/" + std::to_string(p.inference.depth);
}

struct Comparison {
  double max_abs_diff = 0;
  double max_abs_ref = 0;
  double top1 = 0;  // fraction of rows with the same argmax
};

std::size_t argmax(const std::vector<float>& v, std::size_t begin, std::size_t end) {
  std::size_t best = begin;
  for (std::size_t i = begin + 1; i < end; ++i) best = v[i] > v[best] ? i : best;
  return best - begin;
}

// Rows of `vocab` logits, row by row.
Comparison compareLogits(const std::vector<float>& got, const std::vector<float>& ref, int vocab) {
  Comparison c;
  const std::size_t rows = ref.size() / static_cast<std::size_t>(vocab);
  std::size_t same = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const auto begin = r * static_cast<std::size_t>(vocab);
    const auto end = begin + static_cast<std::size_t>(vocab);
    for (std::size_t i = begin; i < end; ++i) {
      // A NaN logit must fail the check: max() would drop it.
      const double diff = std::fabs(static_cast<double>(got[i]) - ref[i]);
      c.max_abs_diff = std::isnan(diff) ? INFINITY : std::max(c.max_abs_diff, diff);
      c.max_abs_ref = std::max(c.max_abs_ref, std::fabs(static_cast<double>(ref[i])));
    }
    same += argmax(got, begin, end) == argmax(ref, begin, end) ? 1 : 0;
  }
  c.top1 = rows > 0 ? static_cast<double>(same) / static_cast<double>(rows) : 0;
  return c;
}

bool withinTolerance(const Comparison& c) { return c.max_abs_diff <= kLogitTolerance * c.max_abs_ref; }

// The ids of every sequence's prompt: the tokenized text repeated to n tokens, or synthetic ids.
std::vector<std::int32_t> promptTokens(const InferenceSettings& o, int batch, int n, int vocab, std::uint64_t seed) {
  const std::size_t total = static_cast<std::size_t>(batch) * static_cast<std::size_t>(n);
  if (o.tokenizer.empty()) return engine::syntheticTokens(total, vocab, seed);
  const auto text = engine::tokenize(o.tokenizer, o.prompt.empty() ? kDefaultPrompt : o.prompt);
  if (text.empty()) throw InputError("the prompt has no tokens");
  std::vector<std::int32_t> out(total);
  for (std::size_t i = 0; i < total; ++i) out[i] = text[(i % static_cast<std::size_t>(n)) % text.size()];
  return out;
}

// Puts `depth` tokens per sequence in the cache (chunks of at most `chunk`), from the start.
void fillDepth(engine::Engine& e, int depth, int chunk, std::uint64_t seed) {
  const EngineConfig& c = e.config();
  e.setCacheLength(0);
  for (int done = 0; done < depth;) {
    const int count = std::min(chunk, depth - done);
    e.forward(engine::syntheticTokens(static_cast<std::size_t>(c.batch) * static_cast<std::size_t>(count), c.model.vocab,
                                      seed + static_cast<std::uint64_t>(done)),
              count);
    done += count;
  }
}

// Last-position logits of the prompt and of `steps` teacher-forced decode steps, after the depth.
std::vector<float> checkedLogits(engine::Engine& e, int depth, std::span<const std::int32_t> prompt, int n,
                                 std::span<const std::int32_t> steps, int count) {
  e.setCacheLength(depth);
  e.forward(prompt, n);
  std::vector<float> out = e.logits();
  const auto batch = static_cast<std::size_t>(e.config().batch);
  for (int s = 0; s < count; ++s) {
    e.decode(steps.subspan(static_cast<std::size_t>(s) * batch, batch), 1);
    const auto l = e.logits();
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

std::string memoryText(const engine::MemoryBreakdown& m) {
  return formatBytes(m.total()) + " (weights " + formatBytes(m.weights) + ", KV cache " + formatBytes(m.kv_cache) +
         ", activations " + formatBytes(m.activations) + ")";
}

}  // namespace

PointResult InferencePointRunner::run(const SweepSpec& spec, const SweepPoint& point, const DeviceInfo& device,
                                      std::uint64_t budget_bytes, const std::function<void()>& check_cancel,
                                      double& kernel_ms) {
  PointResult r = PointResult::started(point);
  if (point.kernel == KernelKind::Cudnn) {
    return r.finish(PointStatus::Skipped, "the inference engine runs flash and standard attention, not cuDNN");
  }
  const InferenceSettings& o = point.inference;
  const int n = point.shape.seq_kv;
  const int batch = point.shape.batch;

  EngineConfig c;
  try {
    c.model = o.ckpt_dir.empty() ? point.model : engine::Checkpoint::open(o.ckpt_dir).model();
  } catch (const InputError& ex) {  // the checkpoint changed since the run started (a resumed run, say)
    return r.finish(PointStatus::Error, ex.what());
  }
  c.checkpoint_dir = o.ckpt_dir;
  c.device = device.kind == "cuda" ? EngineDevice::Cuda : EngineDevice::Cpu;
  if (c.device == EngineDevice::Cuda && device.id.size() > 5) c.cuda_device = std::stoi(device.id.substr(5));
  c.dtype = point.shape.dtype;
  c.attention = point.kernel == KernelKind::Standard ? AttentionChoice::Standard : AttentionChoice::Flash;
  c.batch = batch;
  // Room for the depth, the prompt and the decode steps; one forward of the whole sequence (the step
  // without a cache) is the longest.
  c.max_tokens = o.depth + n + o.new_tokens + 1;
  c.max_step_tokens = o.depth + n + 1;
  c.cuda_graph = o.compile_mode == CompileMode::GraphReplay;
  c.page_size = point.decode.page_size;
  c.tensor_parallel = point.tensor_parallel;
  c.seed = spec.seed;
  if (const std::string reason = engine::unsupportedReason(c); !reason.empty()) {
    return r.finish(PointStatus::Skipped, reason);
  }
  const engine::MemoryBreakdown need = engine::predictMemory(c);
  r.predicted_bytes = need.total();
  // Tensor parallel CPU ranks share the host: every rank's weights count.
  if (c.device == EngineDevice::Cpu && need.weights * static_cast<std::uint64_t>(c.tensor_parallel) > kCpuEngineMaxWeightBytes) {
    return r.finish(PointStatus::Skipped, "the CPU engine runs tiny models (weights up to " +
                                            formatBytes(kCpuEngineMaxWeightBytes) + "); " + c.model.name + " has " +
                                            formatBytes(need.weights) + " of fp32 weights");
  }
  if (need.total() > budget_bytes) {
    return r.finish(PointStatus::Skipped, "would need " + memoryText(need) + ", limit " + formatBytes(budget_bytes) +
                                            (spec.max_memory_bytes ? " (--max-memory)" : " (free memory)"));
  }

  const int vocab = c.model.vocab;
  const auto steps = engine::syntheticTokens(static_cast<std::size_t>(batch) * static_cast<std::size_t>(o.new_tokens),
                                             vocab, spec.seed + 2);
  const std::uint64_t depth_seed = spec.seed + 3;
  InferenceMetrics m;
  std::unique_ptr<engine::Engine> e;
  try {
    const auto prompt = promptTokens(o, batch, n, vocab, spec.seed + 1);
    e = engine::makeEngine(c);
    fillDepth(*e, o.depth, n, depth_seed);
    // Warm-up repetitions also capture the decode graphs; a repetition restarts from the depth.
    const int repetitions = spec.repetitions > 0 ? spec.repetitions : 3;
    std::vector<double> ttft;
    RankSamples rank_ttft, rank_decode;
    for (int i = 0; i < spec.warmup + repetitions; ++i) {
      check_cancel();
      e->setCacheLength(o.depth);
      const double prefill = e->forward(prompt, n);
      const std::vector<double> prefill_ranks = e->rankMs();
      const double decode = e->decode(steps, o.new_tokens);
      kernel_ms += prefill + decode;
      if (i < spec.warmup) continue;
      ttft.push_back(prefill);
      r.samples_ms.push_back(decode / o.new_tokens);
      rank_ttft.add(prefill_ranks);
      rank_decode.add(e->rankMs(), 1.0 / o.new_tokens);
    }
    // Without a cache every step recomputes the whole sequence: one forward of depth + N + 1 tokens.
    const int whole_count = o.depth + n + 1;
    const auto whole = engine::syntheticTokens(static_cast<std::size_t>(batch) * static_cast<std::size_t>(whole_count),
                                               vocab, spec.seed + 4);
    std::vector<double> no_cache;
    for (int i = 0; i < std::min(repetitions, 3); ++i) {
      check_cancel();
      e->setCacheLength(0);
      no_cache.push_back(e->forward(whole, whole_count));
      kernel_ms += no_cache.back();
    }
    r.stats = computeStats(r.samples_ms);
    const SampleStats ttft_stats = computeStats(ttft);
    m.ttft_ms = ttft_stats.median_ms;
    m.ttft_min_ms = ttft_stats.min_ms;
    m.ttft_max_ms = ttft_stats.max_ms;
    m.decode_no_cache_ms = computeStats(no_cache).median_ms;
    m.rank_ttft_ms = rank_ttft.medians();
    m.rank_decode_ms = rank_decode.medians();
    if (c.tensor_parallel > 1) {
      check_cancel();
      const double element = kernels::bytesPerElement(c.device == EngineDevice::Cpu ? DType::F32 : c.dtype);
      const double row_bytes = element * c.model.hidden;
      m.allreduce_decode_ms = e->allReduceMs(batch, kAllReduceReps);
      m.allreduce_decode_busbw_gbps = allReduceBusGbps(row_bytes * batch, m.allreduce_decode_ms, c.tensor_parallel);
      m.allreduce_prefill_ms = e->allReduceMs(batch * n, kAllReduceReps);
      m.allreduce_prefill_busbw_gbps =
          allReduceBusGbps(row_bytes * batch * n, m.allreduce_prefill_ms, c.tensor_parallel);
    }
    m.tokens_per_s = 1e3 * batch / r.stats.median_ms;
    const double flops = engine::prefillFlops(c.model, batch, n, o.depth);
    m.prefill_tflops = flops / (m.ttft_ms * 1e-3) / 1e12;
    const engine::MemoryBreakdown have = e->allocated();
    m.weights_bytes = have.weights;
    m.kv_cache_bytes = have.kv_cache;
    m.activation_bytes = have.activations;
    r.peak_bytes = have.total();
    // Per rank under tensor parallelism: one rank's weights and KV heads over the step's time.
    m.decode_gbps = engine::decodeStepBytes(engine::rankConfig(c), have.weights, o.depth + n + o.new_tokens / 2.0) /
                    (r.stats.median_ms * 1e-3) / 1e9;
    if (device.ceilings && device.ceilings->gemm_tflops > 0) {
      // The ranks' GPUs together: each does 1/T of the (split) FLOPs.
      const double ceiling = device.ceilings->gemm_tflops * 1e12 * c.tensor_parallel;
      m.ttft_over_gemm_bound = m.ttft_ms / (flops / ceiling * 1e3);
    }
    if (device.ceilings && device.ceilings->copy_gbps > 0) m.decode_copy_fraction = m.decode_gbps / device.ceilings->copy_gbps;

    std::string failed;
    if (spec.check_correctness) {
      check_cancel();
      const int checked = std::min(kCheckedSteps, o.new_tokens);
      fillDepth(*e, o.depth, n, depth_seed);
      const auto logits = checkedLogits(*e, o.depth, prompt, n, steps, checked);
      const std::string key = shapeKey(point);
      if (point.kernel == KernelKind::Standard) {
        standard_logits_[key] = logits;
      } else if (const auto it = standard_logits_.find(key); it != standard_logits_.end()) {
        const Comparison vs = compareLogits(logits, it->second, vocab);
        standard_logits_.erase(it);  // one flash point per shape: the logits are not needed again
        m.vs_standard_max_abs_diff = vs.max_abs_diff;
        m.vs_standard_top1 = vs.top1;
        if (!withinTolerance(vs)) failed = "logits differ from the standard kernel's by " + std::to_string(vs.max_abs_diff);
      }
      // The fp32 reference: the CPU engine on the same weights and tokens, where it can hold the model.
      EngineConfig ref = c;
      ref.device = EngineDevice::Cpu;
      ref.dtype = DType::F32;
      ref.attention = AttentionChoice::Standard;
      ref.cuda_graph = false;
      ref.page_size = 0;  // the reference's cache is contiguous: a paged point is checked against it
      ref.max_step_tokens = std::max(n, 1);
      ref.max_tokens = o.depth + n + checked;
      if (c.device == EngineDevice::Cuda && engine::unsupportedReason(ref).empty()) {
        const engine::MemoryBreakdown ref_need = engine::predictMemory(ref);
        if (ref_need.weights <= kCpuEngineMaxWeightBytes && ref_need.total() <= hostAvailableMemoryBytes()) {
          auto& reference = fp32_logits_[key];
          if (reference.empty()) {
            auto cpu = engine::makeEngine(ref);
            fillDepth(*cpu, o.depth, n, depth_seed);
            reference = checkedLogits(*cpu, o.depth, prompt, n, steps, checked);
          }
          const Comparison vs = compareLogits(logits, reference, vocab);
          m.vs_fp32_max_abs_diff = vs.max_abs_diff;
          m.vs_fp32_top1 = vs.top1;
          if (!withinTolerance(vs) && failed.empty()) {
            failed = "logits differ from the fp32 reference by " + std::to_string(vs.max_abs_diff);
          }
        }
      }
      if (!failed.empty()) failed += " (tolerance " + std::to_string(kLogitTolerance) + " x the largest |logit|)";
    }
    r.inference = m;
    return r.finish(failed.empty() ? PointStatus::Ok : PointStatus::Failed, failed);
  } catch (const OutOfMemory& ex) {
    if (e) r.peak_bytes = e->allocated().total();
    return r.finish(PointStatus::Oom, ex.what());
  } catch (const DeviceFault&) {
    throw;
  } catch (const std::runtime_error& ex) {
    return r.finish(PointStatus::Error, ex.what());
  }
}

}  // namespace attnbench
