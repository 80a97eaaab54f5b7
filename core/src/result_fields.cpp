#include "attnbench/result_fields.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/errors.h"

namespace attnbench {
namespace {

std::int64_t asInteger(const FieldValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  return 0;
}
double asReal(const FieldValue& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return 0;
}
std::string asText(const FieldValue& v) {
  const auto* s = std::get_if<std::string>(&v);
  return s ? *s : std::string();
}
// Whether a stored value is present (a column added by a later schema reads NULL in older rows).
bool isSet(const FieldValue& v) { return !std::holds_alternative<std::monostate>(v); }
bool asBoolean(const FieldValue& v) { return asInteger(v) != 0; }
int asInt(const FieldValue& v) { return static_cast<int>(asInteger(v)); }
std::uint64_t asBytes(const FieldValue& v) { return static_cast<std::uint64_t>(asInteger(v)); }

// The correctness record, created when one of its fields is set to a value.
CorrectnessResult* correctness(PointResult& r, const FieldValue& v) {
  if (std::holds_alternative<std::monostate>(v)) return nullptr;
  if (!r.correctness) r.correctness = CorrectnessResult{};
  return &*r.correctness;
}
template <typename T>
FieldValue ifChecked(const PointResult& r, T CorrectnessResult::*member) {
  if (!r.correctness) return std::monostate{};
  const T value = (*r.correctness).*member;
  if constexpr (std::is_same_v<T, bool>) return value;
  else if constexpr (std::is_integral_v<T>) return static_cast<std::int64_t>(value);
  else return static_cast<double>(value);
}

// The inference record, created when one of its fields is set to a value (null in other workloads' rows).
InferenceMetrics* inference(PointResult& r, const FieldValue& v) {
  if (std::holds_alternative<std::monostate>(v)) return nullptr;
  if (!r.inference) r.inference = InferenceMetrics{};
  return &*r.inference;
}
template <typename T>
FieldValue ifInference(const PointResult& r, T InferenceMetrics::*member) {
  if (!r.inference) return std::monostate{};
  const T& value = (*r.inference).*member;
  if constexpr (std::is_same_v<T, std::optional<double>>) {
    return value ? FieldValue{*value} : FieldValue{};
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<std::int64_t>(value);
  } else {
    return static_cast<double>(value);
  }
}

// Tensor parallel per-rank times as a JSON array, rank 0 first.
std::string rankListText(const std::vector<double>& ms) { return nlohmann::json(ms).dump(); }
std::vector<double> parseRankList(const FieldValue& v) {
  std::vector<double> ms;
  const auto j = nlohmann::json::parse(asText(v), nullptr, false);
  if (j.is_array()) {
    for (const auto& x : j) ms.push_back(x.is_number() ? x.get<double>() : 0.0);
  }
  return ms;
}
// An inference point's list; null outside the inference workload.
FieldValue rankList(const PointResult& r, std::vector<double> InferenceMetrics::*member) {
  if (!r.inference) return std::monostate{};
  return rankListText((*r.inference).*member);
}
void setRankList(PointResult& r, const FieldValue& v, std::vector<double> InferenceMetrics::*member) {
  if (asText(v).empty() || !inference(r, v)) return;  // text columns read "" where null was written
  (*r.inference).*member = parseRankList(v);
}

// The tile a kernel ran with, which may be clamped below the tiles one can ask for (the CPU's 1x1 at
// N = 1): any positive rows x cols reads back; "-" (the standard kernel) and anything else read as none.
TileShape ranTile(const std::string& text) {
  int rows = 0, cols = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%dx%d%c", &rows, &cols, &tail) == 2 && rows > 0 && cols > 0) return {rows, cols};
  return {};
}

using F = FieldType;
using R = PointResult;
using V = const FieldValue&;

const std::vector<ResultField>& fields() {
  static const std::vector<ResultField> kFields = {
      {"index", F::Integer, "", "position of the point in the expanded sweep (stable for a spec)",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.index}; },
       [](R& r, V v) { r.point.index = asInt(v); }, true},
      {"workload", F::Text, "", "what the point measures: attention (prefill operator), decode (one generation step) or inference (a whole model)",
       [](const R& r) -> FieldValue { return workloadName(r.point.workload); },
       [](R& r, V v) { r.point.workload = parseWorkload(asText(v)); }, true},
      {"model", F::Text, "", "model preset (or custom shape) name",
       [](const R& r) -> FieldValue { return r.point.model.name; },
       [](R& r, V v) { r.point.model.name = r.point.model.display_name = asText(v); }, true},
      {"heads_q", F::Integer, "", "query heads",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.shape.heads_q}; },
       [](R& r, V v) { r.point.shape.heads_q = asInt(v); }, true},
      {"heads_kv", F::Integer, "", "key/value heads (fewer than heads_q: GQA)",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.shape.heads_kv}; },
       [](R& r, V v) { r.point.shape.heads_kv = asInt(v); }, true},
      {"head_dim", F::Integer, "", "head dimension D",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.shape.head_dim}; },
       [](R& r, V v) { r.point.shape.head_dim = asInt(v); }, true},
      {"batch", F::Integer, "", "batch size B",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.shape.batch}; },
       [](R& r, V v) { r.point.shape.batch = asInt(v); }, true},
      {"seq_len", F::Integer, "", "sequence length N: queries and keys (attention), the KV cache's length (decode)",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.shape.seq_kv}; },
       [](R& r, V v) { r.point.shape.seq_q = r.point.shape.seq_kv = asInt(v); }, true},  // q_len, read after, may differ
      {"q_len", F::Integer, "", "query rows per sequence: N for attention, the new tokens of a decode step",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.shape.seq_q}; },
       [](R& r, V v) { if (isSet(v)) r.point.shape.seq_q = asInt(v); }, true},
      {"dtype", F::Text, "", "storage type of Q, K, V and O (fp16, bf16, fp32)",
       [](const R& r) -> FieldValue { return std::string(kernels::dtypeName(r.point.shape.dtype)); },
       [](R& r, V v) { r.point.shape.dtype = parseDType(asText(v)); }, true},
      {"causal", F::Boolean, "", "causal mask (bottom-right aligned)",
       [](const R& r) -> FieldValue { return r.point.shape.causal; }, [](R& r, V v) { r.point.shape.causal = asBoolean(v); }, true},
      {"kernel", F::Text, "", "kernel (flash, standard, cudnn)",
       [](const R& r) -> FieldValue { return kernelName(r.point.kernel); },
       [](R& r, V v) { r.point.kernel = parseKernel(asText(v)); }, true},
      {"tile_requested", F::Text, "", "flash tile asked for (auto, or rows x cols)",
       [](const R& r) -> FieldValue { return tileName(r.point.tile); },
       [](R& r, V v) { r.point.tile = parseTile(asText(v)); }, true},
      {"tile", F::Text, "", "flash tile that ran (auto resolved); - for the standard kernel",
       [](const R& r) -> FieldValue { return r.point.kernel == KernelKind::Flash ? tileName(r.tile) : std::string("-"); },
       [](R& r, V v) { r.tile = ranTile(asText(v)); }},
      {"page_size", F::Integer, "", "decode, inference: tokens per page of the paged KV cache (0: contiguous)",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.decode.page_size}; },
       [](R& r, V v) { r.point.decode.page_size = asInt(v); }, true},
      {"kv_lens_spread", F::Real, "", "decode: sequence lengths drawn in N(1 +- spread), summing to B x N (0: all N)",
       [](const R& r) -> FieldValue { return r.point.decode.kv_lens_spread; },
       [](R& r, V v) { r.point.decode.kv_lens_spread = asReal(v); }, true},
      {"splits_requested", F::Integer, "", "decode: flash key ranges per sequence asked for (0: heuristic)",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.decode.splits}; },
       [](R& r, V v) { r.point.decode.splits = asInt(v); }, true},
      {"splits", F::Integer, "", "decode: flash key ranges per sequence that ran (0: not a flash decode point)",
       [](const R& r) -> FieldValue { return std::int64_t{r.splits}; }, [](R& r, V v) { r.splits = asInt(v); }},
      {"new_tokens", F::Integer, "", "inference: decode steps timed per repetition (null: other workloads)",
       [](const R& r) -> FieldValue {
         return r.point.isInference() ? FieldValue{std::int64_t{r.point.inference.new_tokens}} : FieldValue{};
       },
       [](R& r, V v) { if (isSet(v)) r.point.inference.new_tokens = asInt(v); }, true},
      {"depth", F::Integer, "", "inference: tokens in the KV cache before the prompt",
       [](const R& r) -> FieldValue {
         return r.point.isInference() ? FieldValue{std::int64_t{r.point.inference.depth}} : FieldValue{};
       },
       [](R& r, V v) { if (isSet(v)) r.point.inference.depth = asInt(v); }, true},
      {"compile_mode", F::Text, "", "inference: none (eager decode) or reduce-overhead (decode steps as CUDA graphs)",
       [](const R& r) -> FieldValue {
         return r.point.isInference() ? FieldValue{compileModeName(r.point.inference.compile_mode)} : FieldValue{};
       },
       [](R& r, V v) { if (isSet(v) && !asText(v).empty()) r.point.inference.compile_mode = parseCompileMode(asText(v)); },
       true},
      {"tensor_parallel", F::Integer, "", "ranks (GPUs) the point is split over, Megatron-style: attention and decode split the heads, inference the model (1: one device)",
       [](const R& r) -> FieldValue { return std::int64_t{r.point.tensor_parallel}; },
       [](R& r, V v) { if (isSet(v)) r.point.tensor_parallel = asInt(v); }, true},
      {"rank_ms", F::Text, "ms", "attention and decode under tensor parallel: each rank's median ms for its heads, a JSON array by rank (median_ms: the slowest rank per sample); null on one device",
       [](const R& r) -> FieldValue { return r.rank_ms.empty() ? FieldValue{} : FieldValue{rankListText(r.rank_ms)}; },
       [](R& r, V v) { if (isSet(v) && !asText(v).empty()) r.rank_ms = parseRankList(v); }},
      {"status", F::Text, "", "ok, failed (wrong output), oom, skipped or error",
       [](const R& r) -> FieldValue { return statusName(r.status); },
       [](R& r, V v) { r.status = parseStatus(asText(v)); }},
      {"message", F::Text, "", "skip reason, error text or a note",
       [](const R& r) -> FieldValue { return r.message; }, [](R& r, V v) { r.message = asText(v); }},
      {"samples", F::Integer, "", "timed samples taken (each stored in samples_ms)",
       [](const R& r) -> FieldValue { return static_cast<std::int64_t>(r.samples_ms.size()); }, nullptr},
      {"median_ms", F::Real, "ms", "median of the samples",
       [](const R& r) -> FieldValue { return r.stats.median_ms; }, [](R& r, V v) { r.stats.median_ms = asReal(v); }},
      {"mean_ms", F::Real, "ms", "mean of the samples",
       [](const R& r) -> FieldValue { return r.stats.mean_ms; }, [](R& r, V v) { r.stats.mean_ms = asReal(v); }},
      {"std_ms", F::Real, "ms", "sample standard deviation",
       [](const R& r) -> FieldValue { return r.stats.std_ms; }, [](R& r, V v) { r.stats.std_ms = asReal(v); }},
      {"min_ms", F::Real, "ms", "fastest sample",
       [](const R& r) -> FieldValue { return r.stats.min_ms; }, [](R& r, V v) { r.stats.min_ms = asReal(v); }},
      {"max_ms", F::Real, "ms", "slowest sample",
       [](const R& r) -> FieldValue { return r.stats.max_ms; }, [](R& r, V v) { r.stats.max_ms = asReal(v); }},
      {"flops", F::Real, "FLOP", "4*B*Hq*D per visible query-key pair (N^2, halved when causal)",
       [](const R& r) -> FieldValue { return r.point.flops(); }, nullptr},
      {"noise", F::Real, "%", "relative standard deviation of the samples (std_ms / mean_ms)",
       [](const R& r) -> FieldValue { return noisePercent(r.stats); }, nullptr},
      {"noisy", F::Boolean, "", "sampling stopped at --timeout with the noise above --max-noise",
       [](const R& r) -> FieldValue { return r.noisy; }, [](R& r, V v) { r.noisy = asBoolean(v); }},
      {"sm_clock_start_mhz", F::Integer, "MHz", "SM clock before the first sample (0: unknown)",
       [](const R& r) -> FieldValue { return std::int64_t{r.sm_clock_start_mhz}; },
       [](R& r, V v) { r.sm_clock_start_mhz = asInt(v); }},
      {"sm_clock_end_mhz", F::Integer, "MHz", "SM clock after the last sample (0: unknown)",
       [](const R& r) -> FieldValue { return std::int64_t{r.sm_clock_end_mhz}; },
       [](R& r, V v) { r.sm_clock_end_mhz = asInt(v); }},
      {"sm_clock_max_mhz", F::Integer, "MHz", "the SM clock's maximum (0: unknown)",
       [](const R& r) -> FieldValue { return std::int64_t{r.sm_clock_max_mhz}; },
       [](R& r, V v) { r.sm_clock_max_mhz = asInt(v); }},
      {"throttled", F::Boolean, "", "an SM clock reading below 75 % of its maximum",
       [](const R& r) -> FieldValue { return r.throttled; }, [](R& r, V v) { r.throttled = asBoolean(v); }},
      {"tflops", F::Real, "TFLOP/s", "flops / median time",
       [](const R& r) -> FieldValue { return r.tflops; }, [](R& r, V v) { r.tflops = asReal(v); }},
      {"compulsory_bytes", F::Real, "bytes",
       "least device-memory traffic: Q, K (the cache), V read and O written once (+4 passes over the scores for standard)",
       [](const R& r) -> FieldValue { return compulsoryBytes(r.point); }, nullptr},
      {"intensity", F::Real, "FLOP/byte", "arithmetic intensity: flops / compulsory_bytes",
       [](const R& r) -> FieldValue { return r.point.flops() / compulsoryBytes(r.point); }, nullptr},
      {"gbps", F::Real, "GB/s", "compulsory_bytes / median time",
       [](const R& r) -> FieldValue { return r.gbps; }, [](R& r, V v) { r.gbps = asReal(v); }},
      {"gemm_fraction", F::Real, "", "tflops / the device's measured GEMM ceiling",
       [](const R& r) -> FieldValue { return r.gemm_fraction; }, [](R& r, V v) { r.gemm_fraction = asReal(v); }},
      {"bandwidth_fraction", F::Real, "", "gbps / the device's measured copy bandwidth",
       [](const R& r) -> FieldValue { return r.bandwidth_fraction; },
       [](R& r, V v) { r.bandwidth_fraction = asReal(v); }},
      {"predicted_bytes", F::Integer, "bytes", "device memory predicted before the run",
       [](const R& r) -> FieldValue { return static_cast<std::int64_t>(r.predicted_bytes); },
       [](R& r, V v) { r.predicted_bytes = asBytes(v); }},
      {"peak_bytes", F::Integer, "bytes", "peak of the point's tracked allocations",
       [](const R& r) -> FieldValue { return static_cast<std::int64_t>(r.peak_bytes); },
       [](R& r, V v) { r.peak_bytes = asBytes(v); }},
      {"max_abs_error", F::Real, "", "largest |output - fp64 reference| over the checked rows (null: not checked)",
       [](const R& r) { return ifChecked(r, &CorrectnessResult::max_abs_error); },
       [](R& r, V v) { if (auto* c = correctness(r, v)) c->max_abs_error = asReal(v); }},
      {"max_rel_error", F::Real, "", "max_abs_error / largest |reference|",
       [](const R& r) { return ifChecked(r, &CorrectnessResult::max_rel_error); },
       [](R& r, V v) { if (auto* c = correctness(r, v)) c->max_rel_error = asReal(v); }},
      {"reference_error", F::Real, "", "the standard kernel's error on the same rows (measured, or emulated)",
       [](const R& r) { return ifChecked(r, &CorrectnessResult::reference_error); },
       [](R& r, V v) { if (auto* c = correctness(r, v)) c->reference_error = asReal(v); }},
      {"tolerance", F::Real, "", "the bar: 2 x reference_error plus a small floor",
       [](const R& r) { return ifChecked(r, &CorrectnessResult::tolerance); },
       [](R& r, V v) { if (auto* c = correctness(r, v)) c->tolerance = asReal(v); }},
      {"checked_rows", F::Integer, "", "query rows compared with the reference",
       [](const R& r) { return ifChecked(r, &CorrectnessResult::checked_rows); },
       [](R& r, V v) { if (auto* c = correctness(r, v)) c->checked_rows = asInteger(v); }},
      {"unwritten", F::Integer, "", "output elements still holding the poison after the run",
       [](const R& r) { return ifChecked(r, &CorrectnessResult::unwritten); },
       [](R& r, V v) { if (auto* c = correctness(r, v)) c->unwritten = asInteger(v); }},
      {"passed", F::Boolean, "", "the output passed the correctness check",
       [](const R& r) { return ifChecked(r, &CorrectnessResult::passed); },
       [](R& r, V v) { if (auto* c = correctness(r, v)) c->passed = asBoolean(v); }},
      {"ttft_ms", F::Real, "ms", "inference: time to first token, the prefill of N tokens (median; samples_ms hold ms/token)",
       [](const R& r) { return ifInference(r, &InferenceMetrics::ttft_ms); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->ttft_ms = asReal(v); }},
      {"ttft_min_ms", F::Real, "ms", "inference: fastest prefill",
       [](const R& r) { return ifInference(r, &InferenceMetrics::ttft_min_ms); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->ttft_min_ms = asReal(v); }},
      {"ttft_max_ms", F::Real, "ms", "inference: slowest prefill",
       [](const R& r) { return ifInference(r, &InferenceMetrics::ttft_max_ms); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->ttft_max_ms = asReal(v); }},
      {"decode_no_cache_ms", F::Real, "ms", "inference: one decode step without a KV cache (the whole sequence recomputed)",
       [](const R& r) { return ifInference(r, &InferenceMetrics::decode_no_cache_ms); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->decode_no_cache_ms = asReal(v); }},
      {"tokens_per_s", F::Real, "tokens/s", "inference: batch / decode ms per token (median_ms)",
       [](const R& r) { return ifInference(r, &InferenceMetrics::tokens_per_s); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->tokens_per_s = asReal(v); }},
      {"prefill_tflops", F::Real, "TFLOP/s", "inference: prefill FLOPs (projections, causal attention, LM head) / ttft_ms",
       [](const R& r) { return ifInference(r, &InferenceMetrics::prefill_tflops); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->prefill_tflops = asReal(v); }},
      {"ttft_over_gemm_bound", F::Real, "", "inference: ttft_ms / (prefill FLOPs at the measured GEMM ceiling); 0: unknown",
       [](const R& r) { return ifInference(r, &InferenceMetrics::ttft_over_gemm_bound); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->ttft_over_gemm_bound = asReal(v); }},
      {"decode_gbps", F::Real, "GB/s", "inference: bytes a decode step reads (weights, K and V) / ms per token",
       [](const R& r) { return ifInference(r, &InferenceMetrics::decode_gbps); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->decode_gbps = asReal(v); }},
      {"decode_copy_fraction", F::Real, "", "inference: decode_gbps / the measured copy bandwidth; 0: unknown",
       [](const R& r) { return ifInference(r, &InferenceMetrics::decode_copy_fraction); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->decode_copy_fraction = asReal(v); }},
      {"weights_bytes", F::Integer, "bytes", "inference: device bytes of the weights",
       [](const R& r) { return ifInference(r, &InferenceMetrics::weights_bytes); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->weights_bytes = asBytes(v); }},
      {"kv_cache_bytes", F::Integer, "bytes", "inference: device bytes of the KV cache",
       [](const R& r) { return ifInference(r, &InferenceMetrics::kv_cache_bytes); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->kv_cache_bytes = asBytes(v); }},
      {"activation_bytes", F::Integer, "bytes", "inference: device bytes of activations and attention workspace",
       [](const R& r) { return ifInference(r, &InferenceMetrics::activation_bytes); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->activation_bytes = asBytes(v); }},
      {"logits_vs_standard_max_abs_diff", F::Real, "", "inference: largest absolute difference from the standard kernel's logits (null: not compared)",
       [](const R& r) { return ifInference(r, &InferenceMetrics::vs_standard_max_abs_diff); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->vs_standard_max_abs_diff = asReal(v); }},
      {"logits_vs_standard_top1", F::Real, "", "inference: fraction of checked positions whose top-1 token equals the standard kernel's",
       [](const R& r) { return ifInference(r, &InferenceMetrics::vs_standard_top1); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->vs_standard_top1 = asReal(v); }},
      {"logits_vs_fp32_max_abs_diff", F::Real, "", "inference: largest absolute difference from the fp32 CPU engine's logits (null: not compared)",
       [](const R& r) { return ifInference(r, &InferenceMetrics::vs_fp32_max_abs_diff); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->vs_fp32_max_abs_diff = asReal(v); }},
      {"logits_vs_fp32_top1", F::Real, "", "inference: fraction of checked positions whose top-1 token equals the fp32 engine's",
       [](const R& r) { return ifInference(r, &InferenceMetrics::vs_fp32_top1); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->vs_fp32_top1 = asReal(v); }},
      // Tensor parallel: the ranks' own times and the all-reduce beside the compute.
      {"rank_ttft_ms", F::Text, "ms", "inference: each rank's median prefill, a JSON array by rank (ttft_ms: the slowest rank per repetition)",
       [](const R& r) { return rankList(r, &InferenceMetrics::rank_ttft_ms); },
       [](R& r, V v) { setRankList(r, v, &InferenceMetrics::rank_ttft_ms); }},
      {"rank_decode_ms", F::Text, "ms", "inference: each rank's median decode ms per token, a JSON array by rank",
       [](const R& r) { return rankList(r, &InferenceMetrics::rank_decode_ms); },
       [](R& r, V v) { setRankList(r, v, &InferenceMetrics::rank_decode_ms); }},
      {"allreduce_decode_ms", F::Real, "ms", "inference: one all-reduce of a decode step's residual (batch x hidden), timed alone; a step does 2 x layers; 0: one rank",
       [](const R& r) { return ifInference(r, &InferenceMetrics::allreduce_decode_ms); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->allreduce_decode_ms = asReal(v); }},
      {"allreduce_decode_busbw_gbps", F::Real, "GB/s", "inference: bus bandwidth of that all-reduce (nccl-tests: bytes / time x 2(T-1)/T)",
       [](const R& r) { return ifInference(r, &InferenceMetrics::allreduce_decode_busbw_gbps); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->allreduce_decode_busbw_gbps = asReal(v); }},
      {"allreduce_prefill_ms", F::Real, "ms", "inference: one all-reduce of the prefill's residual (batch x N x hidden), timed alone; 0: one rank",
       [](const R& r) { return ifInference(r, &InferenceMetrics::allreduce_prefill_ms); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->allreduce_prefill_ms = asReal(v); }},
      {"allreduce_prefill_busbw_gbps", F::Real, "GB/s", "inference: bus bandwidth of the prefill's all-reduce (nccl-tests' busbw)",
       [](const R& r) { return ifInference(r, &InferenceMetrics::allreduce_prefill_busbw_gbps); },
       [](R& r, V v) { if (auto* m = inference(r, v)) m->allreduce_prefill_busbw_gbps = asReal(v); }},
      {"started_at", F::Text, "", "ISO 8601 UTC", [](const R& r) -> FieldValue { return r.started_at; },
       [](R& r, V v) { r.started_at = asText(v); }},
      {"finished_at", F::Text, "", "ISO 8601 UTC", [](const R& r) -> FieldValue { return r.finished_at; },
       [](R& r, V v) { r.finished_at = asText(v); }},
      {"worker", F::Text, "", "the worker process that ran the point (gpu3, worker1) in a run of several; empty: the run's one process",
       [](const R& r) -> FieldValue { return r.worker; }, [](R& r, V v) { r.worker = asText(v); }},
      {"device_index", F::Integer, "", "the GPU index --gpus named for the point's worker (null: the run's device)",
       [](const R& r) -> FieldValue { return r.device_index >= 0 ? FieldValue{std::int64_t{r.device_index}} : FieldValue{}; },
       [](R& r, V v) { r.device_index = isSet(v) ? asInt(v) : -1; }},
      {"worker_device", F::Text, "", "the point's worker's device: its name and PCI bus id (empty: the run's device)",
       [](const R& r) -> FieldValue { return r.worker_device; }, [](R& r, V v) { r.worker_device = asText(v); }},
  };
  return kFields;
}

}  // namespace

std::span<const ResultField> resultFields() { return fields(); }

const ResultField* findResultField(std::string_view name) {
  for (const auto& f : fields()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string_view fieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::Integer: return "integer";
    case FieldType::Real: return "real";
    case FieldType::Text: return "text";
    case FieldType::Boolean: return "boolean";
  }
  return "text";
}

std::string fieldText(const FieldValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return {};
        } else if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "1" : "0";
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[40];
          std::snprintf(buf, sizeof buf, "%.17g", v);
          return buf;
        } else {
          return std::to_string(v);
        }
      },
      value);
}

FieldValue parseFieldText(FieldType type, const std::string& text) {
  if (text.empty()) return type == FieldType::Text ? FieldValue{std::string()} : FieldValue{};
  switch (type) {
    case FieldType::Integer: return static_cast<std::int64_t>(std::stoll(text));
    case FieldType::Real: return std::stod(text);
    case FieldType::Boolean: return text == "1" || text == "true";
    case FieldType::Text: return text;
  }
  return {};
}

nlohmann::json fieldToJson(const FieldValue& value) {
  return std::visit(
      [](const auto& v) -> nlohmann::json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) return nullptr;
        else return v;
      },
      value);
}

FieldValue fieldFromJson(FieldType type, const nlohmann::json& j, std::string_view name) {
  if (j.is_null()) return {};
  auto wrong = [&] { return InputError("result field '" + std::string(name) + "' must be " + std::string(fieldTypeName(type))); };
  switch (type) {
    case FieldType::Integer:
      if (!j.is_number_integer()) throw wrong();
      return j.get<std::int64_t>();
    case FieldType::Real:
      if (!j.is_number()) throw wrong();
      return j.get<double>();
    case FieldType::Boolean:
      if (!j.is_boolean()) throw wrong();
      return j.get<bool>();
    case FieldType::Text:
      if (!j.is_string()) throw wrong();
      return j.get<std::string>();
  }
  return {};
}

std::string resultFieldsMarkdown() {
  std::string out = "| field | type | unit | meaning |\n|---|---|---|---|\n";
  for (const auto& f : fields()) {
    out += "| `" + std::string(f.name) + "` | " + std::string(fieldTypeName(f.type)) + " | " + std::string(f.unit) +
           " | " + std::string(f.description) + (f.derived() ? " (derived)" : "") + " |\n";
  }
  return out;
}

}  // namespace attnbench
