#include "attnbench/sweep_spec.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "attnbench/errors.h"
#include "attnbench/text_checks.h"
#include "embedded_resources.h"

namespace attnbench {
namespace {

using L = SpecLimits;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A JSON value for an error message: short, whatever the value holds.
std::string shown(const nlohmann::json& v) {
  std::string text = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return printableText(text);
}

void requireInRange(long long v, long long lo, long long hi, const std::string& what) {
  if (v < lo || v > hi) {
    throw InputError(what + " " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  }
}

void requireRealInRange(double v, double lo, double hi, const std::string& what) {
  // Written so that NaN fails too.
  if (!(v >= lo && v <= hi)) {
    std::ostringstream os;
    os << what << " " << v << " is out of range [" << lo << ", " << hi << "]";
    throw InputError(os.str());
  }
}

// Every value of an axis at most once: a repeat would run (and store) the same points twice.
template <typename T, typename Key>
void requireNoRepeats(const std::vector<T>& values, const char* axis, Key key) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (key(values[i]) == key(values[j])) {
        throw InputError(std::string("spec: axis \"") + axis + "\" repeats " + printableText(key(values[i])));
      }
    }
  }
}

// A spec value that may be a scalar or an array of scalars: always returns the elements.
std::vector<nlohmann::json> elementsOf(const nlohmann::json& v) {
  if (v.is_array()) return {v.begin(), v.end()};
  return {v};
}

int intInRange(const nlohmann::json& v, const std::string& key, long long lo, long long hi) {
  if (!v.is_number_integer()) {
    throw InputError("spec: \"" + key + "\" must be an integer, got " + shown(v));
  }
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
    throw InputError("spec: \"" + key + "\" = " + shown(v) + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  }
  const long long x = v.get<long long>();
  requireInRange(x, lo, hi, "spec: \"" + key + "\" =");
  return static_cast<int>(x);
}

double doubleInRange(const nlohmann::json& v, const std::string& key, double lo, double hi) {
  if (!v.is_number()) throw InputError("spec: \"" + key + "\" must be a number, got " + shown(v));
  const double x = v.get<double>();
  requireRealInRange(x, lo, hi, "spec: \"" + key + "\" =");
  return x;
}

bool boolValue(const nlohmann::json& v, const std::string& key) {
  if (!v.is_boolean()) throw InputError("spec: \"" + key + "\" must be true or false, got " + shown(v));
  return v.get<bool>();
}

std::string stringValue(const nlohmann::json& v, const std::string& key) {
  if (!v.is_string()) throw InputError("spec: \"" + key + "\" must be a string, got " + shown(v));
  return v.get<std::string>();
}

// The kernel axis in run order: standard before flash, each once.
std::vector<KernelKind> standardFirst(const std::vector<KernelKind>& kernels) {
  std::vector<KernelKind> out;
  for (KernelKind k : {KernelKind::Standard, KernelKind::Flash, KernelKind::Cudnn}) {
    if (std::find(kernels.begin(), kernels.end(), k) != kernels.end()) out.push_back(k);
  }
  return out;
}

}  // namespace

std::string workloadName(Workload workload) {
  switch (workload) {
    case Workload::Attention: return "attention";
    case Workload::Decode: return "decode";
    case Workload::Inference: return "inference";
  }
  return "?";
}

std::string compileModeName(CompileMode mode) { return mode == CompileMode::GraphReplay ? "reduce-overhead" : "none"; }

CompileMode parseCompileMode(const std::string& s) {
  const std::string m = lower(s);
  if (m == "none" || m == "eager") return CompileMode::None;
  if (m == "reduce-overhead" || m == "reduce_overhead") return CompileMode::GraphReplay;
  throw InputError("unknown compile mode '" + printableText(s) + "' (none, reduce-overhead)");
}

Workload parseWorkload(const std::string& s) {
  const std::string w = lower(s);
  if (w == "attention" || w == "prefill" || w.empty()) return Workload::Attention;
  if (w == "decode") return Workload::Decode;
  if (w == "inference") return Workload::Inference;
  throw InputError("unknown workload '" + printableText(s) + "' (attention, decode, inference)");
}

std::string kernelName(KernelKind kind) {
  switch (kind) {
    case KernelKind::Flash: return "flash";
    case KernelKind::Standard: return "standard";
    case KernelKind::Cudnn: return "cudnn";
  }
  return "?";
}

std::string timingMethodName(TimingMethod method) {
  switch (method) {
    case TimingMethod::Blocked: return "blocked";
    case TimingMethod::Batch: return "batch";
    case TimingMethod::Plain: return "plain";
  }
  return "?";
}

TimingMethod parseTimingMethod(const std::string& s) {
  const std::string m = lower(s);
  if (m == "blocked" || m == "cold") return TimingMethod::Blocked;
  if (m == "batch") return TimingMethod::Batch;
  if (m == "plain") return TimingMethod::Plain;
  throw InputError("unknown timing method '" + s + "' (blocked, batch, plain)");
}

KernelKind parseKernel(const std::string& s) {
  const std::string k = lower(s);
  if (k == "flash" || k == "fused") return KernelKind::Flash;
  if (k == "standard" || k == "baseline" || k == "math" || k == "naive") return KernelKind::Standard;
  if (k == "cudnn") return KernelKind::Cudnn;
  throw InputError("unknown kernel '" + s + "' (flash, standard, cudnn)");
}

DType parseDType(const std::string& s) {
  const std::string d = lower(s);
  if (d == "fp16" || d == "float16" || d == "half" || d == "f16") return DType::F16;
  if (d == "bf16" || d == "bfloat16") return DType::BF16;
  if (d == "fp32" || d == "float32" || d == "float" || d == "f32") return DType::F32;
  throw InputError("unknown dtype '" + s + "' (fp16, bf16, fp32)");
}

std::string tileName(TileShape tile) {
  if (tile.isAuto()) return "auto";
  return std::to_string(tile.rows) + "x" + std::to_string(tile.cols);
}

TileShape parseTile(const std::string& s) {
  const std::string t = lower(s);
  if (t == "auto" || t.empty()) return {};
  int rows = 0, cols = 0;
  char tail = 0;
  if (std::sscanf(t.c_str(), "%dx%d%c", &rows, &cols, &tail) == 2 ||
      (std::sscanf(t.c_str(), "%d%c", &rows, &tail) == 1 && (cols = rows) > 0)) {
    if (rows >= 16 && cols >= 16 && rows <= 512 && cols <= 512 && rows % 16 == 0 && cols % 16 == 0) return {rows, cols};
  }
  throw InputError("bad tile '" + s + "' (auto, 64, 64x64, 128x64, 128x128: multiples of 16 up to 512)");
}

std::uint64_t parseByteSize(const std::string& s) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(s, &used);
  } catch (const std::exception&) {
    throw InputError("bad byte size '" + s + "' (e.g. 8GiB, 512MiB, 1e9)");
  }
  const std::string unit = lower(s.substr(used));
  double scale = 1;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "k" || unit == "kib") scale = 1024.0;
  else if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else throw InputError("bad byte size unit in '" + s + "' (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
  const double bytes = value * scale;
  if (!(bytes > 0) || bytes > 1e18) throw InputError("byte size '" + s + "' must be positive");
  return static_cast<std::uint64_t>(bytes);
}

std::uint64_t parseSeed(const std::string& s) {
  std::uint64_t seed = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), seed);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    throw InputError("seed '" + printableText(s) + "' is not an integer in [0, 18446744073709551615]");
  }
  return seed;
}

std::string formatBytes(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

SweepSpec specFromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw InputError("spec: the top level must be a JSON object");
  static const std::set<std::string> known = {
      "name", "models", "seq_lens", "batch_sizes", "dtypes", "causal", "kernels", "tiles", "repetitions", "warmup",
      "check_correctness", "device", "max_memory", "seed", "l2_flush", "cuda_graph", "threads", "timing", "max_noise",
      "min_samples", "min_time", "timeout", "workload", "q_lens", "page_size", "kv_lens_spread", "splits",
      "new_tokens", "depth", "compile_mode", "ckpt_dir", "tokenizer", "prompt", "tensor_parallel", "max_seq_len_by_batch"};
  for (const auto& [key, value] : j.items()) {
    if (!known.count(key)) throw InputError("spec: unknown key \"" + key + "\"");
  }
  SweepSpec s;
  if (j.contains("name")) s.name = stringValue(j.at("name"), "name");
  if (j.contains("workload")) s.workload = parseWorkload(stringValue(j.at("workload"), "workload"));
  if (j.contains("q_lens")) {
    s.q_lens.clear();
    for (const auto& v : elementsOf(j.at("q_lens"))) s.q_lens.push_back(intInRange(v, "q_lens", 1, L::kMaxQueryLen));
  }
  if (j.contains("page_size")) s.decode.page_size = intInRange(j.at("page_size"), "page_size", 0, L::kMaxPageSize);
  if (j.contains("kv_lens_spread")) {
    s.decode.kv_lens_spread = doubleInRange(j.at("kv_lens_spread"), "kv_lens_spread", 0.0, L::kMaxKvLensSpread);
  }
  if (j.contains("splits")) s.decode.splits = intInRange(j.at("splits"), "splits", 0, L::kMaxSplits);
  InferenceSettings& inf = s.inference;
  if (j.contains("new_tokens")) inf.new_tokens = intInRange(j.at("new_tokens"), "new_tokens", 1, L::kMaxNewTokens);
  if (j.contains("depth")) inf.depth = intInRange(j.at("depth"), "depth", 0, L::kMaxSeqLen);
  if (j.contains("compile_mode")) inf.compile_mode = parseCompileMode(stringValue(j.at("compile_mode"), "compile_mode"));
  if (j.contains("ckpt_dir")) inf.ckpt_dir = stringValue(j.at("ckpt_dir"), "ckpt_dir");
  if (j.contains("tokenizer")) inf.tokenizer = stringValue(j.at("tokenizer"), "tokenizer");
  if (j.contains("prompt")) inf.prompt = stringValue(j.at("prompt"), "prompt");
  if (j.contains("tensor_parallel")) {
    s.tensor_parallel = intInRange(j.at("tensor_parallel"), "tensor_parallel", 1, L::kMaxTensorParallel);
  }
  if (j.contains("models")) {
    for (const auto& m : elementsOf(j.at("models"))) {
      if (m.is_string()) s.models.push_back(findModel(m.get<std::string>()));
      else if (m.is_object()) s.models.push_back(modelFromJson(m));
      else throw InputError("spec: \"models\" entries must be names or objects, got " + shown(m));
    }
  }
  if (j.contains("seq_lens")) {
    for (const auto& v : elementsOf(j.at("seq_lens"))) s.seq_lens.push_back(intInRange(v, "seq_lens", 1, L::kMaxSeqLen));
  }
  if (j.contains("batch_sizes")) {
    for (const auto& v : elementsOf(j.at("batch_sizes"))) s.batch_sizes.push_back(intInRange(v, "batch_sizes", 1, L::kMaxBatch));
  }
  if (j.contains("dtypes")) {
    for (const auto& v : elementsOf(j.at("dtypes"))) s.dtypes.push_back(parseDType(stringValue(v, "dtypes")));
  }
  if (j.contains("causal")) {
    for (const auto& v : elementsOf(j.at("causal"))) {
      if (v.is_string() && lower(v.get<std::string>()) == "both") {
        s.causal.push_back(false);
        s.causal.push_back(true);
      } else {
        s.causal.push_back(boolValue(v, "causal"));
      }
    }
  }
  if (j.contains("kernels")) {
    for (const auto& v : elementsOf(j.at("kernels"))) s.kernels.push_back(parseKernel(stringValue(v, "kernels")));
  }
  if (j.contains("tiles")) {
    for (const auto& v : elementsOf(j.at("tiles"))) {
      s.tiles.push_back(v.is_number_integer() ? parseTile(std::to_string(v.get<long long>())) : parseTile(stringValue(v, "tiles")));
    }
  } else {
    s.tiles = {TileShape{}};
  }
  if (j.contains("repetitions")) s.repetitions = intInRange(j.at("repetitions"), "repetitions", 0, L::kMaxRepetitions);
  if (j.contains("max_noise")) s.sampling.max_noise_percent = doubleInRange(j.at("max_noise"), "max_noise", 0.0, L::kMaxNoisePercent);
  if (j.contains("min_samples")) s.sampling.min_samples = intInRange(j.at("min_samples"), "min_samples", 1, L::kMaxMinSamples);
  if (j.contains("min_time")) s.sampling.min_time_s = doubleInRange(j.at("min_time"), "min_time", 0.0, L::kMaxSamplingSeconds);
  if (j.contains("timeout")) s.sampling.timeout_s = doubleInRange(j.at("timeout"), "timeout", 0.0, L::kMaxSamplingSeconds);
  if (j.contains("timing")) s.timing = parseTimingMethod(stringValue(j.at("timing"), "timing"));
  if (j.contains("warmup")) s.warmup = intInRange(j.at("warmup"), "warmup", 0, L::kMaxWarmup);
  if (j.contains("check_correctness")) s.check_correctness = boolValue(j.at("check_correctness"), "check_correctness");
  if (j.contains("device")) s.device = stringValue(j.at("device"), "device");
  if (j.contains("max_memory") && !j.at("max_memory").is_null()) {
    const auto& v = j.at("max_memory");
    // Range-checked as a double first: casting a huge double to an integer is undefined.
    if (v.is_number() && v.get<double>() >= 1 && v.get<double>() <= static_cast<double>(L::kMaxMemoryBytes)) {
      s.max_memory_bytes = static_cast<std::uint64_t>(v.get<double>());
    } else if (v.is_string()) {
      s.max_memory_bytes = parseByteSize(v.get<std::string>());
    } else {
      throw InputError("spec: \"max_memory\" must be a byte count in [" + formatBytes(L::kMinMemoryBytes) + ", " +
                       formatBytes(L::kMaxMemoryBytes) + "] or a string like \"8GiB\"");
    }
  }
  if (j.contains("seed")) {
    // A negative seed would wrap around: only non-negative integers pass.
    const auto& seed = j.at("seed");
    if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<std::int64_t>() >= 0)) {
      throw InputError("spec: \"seed\" must be an integer in [0, 18446744073709551615], got " + shown(j.at("seed")));
    }
    s.seed = j.at("seed").get<std::uint64_t>();
  }
  if (j.contains("l2_flush")) s.l2_flush = boolValue(j.at("l2_flush"), "l2_flush");
  if (j.contains("cuda_graph")) s.cuda_graph = boolValue(j.at("cuda_graph"), "cuda_graph");
  if (j.contains("threads")) s.threads = intInRange(j.at("threads"), "threads", 0, L::kMaxThreads);
  if (j.contains("max_seq_len_by_batch")) {
    const auto& limits = j.at("max_seq_len_by_batch");
    if (!limits.is_object()) {
      throw InputError("spec: \"max_seq_len_by_batch\" must be an object of batch size: longest N, got " + shown(limits));
    }
    for (const auto& [batch, n] : limits.items()) {
      int b = 0;
      const auto [end, ec] = std::from_chars(batch.data(), batch.data() + batch.size(), b);
      if (ec != std::errc() || end != batch.data() + batch.size()) {
        throw InputError("spec: \"max_seq_len_by_batch\" key '" + printableText(batch) + "' is not a batch size");
      }
      requireInRange(b, 1, L::kMaxBatch, "spec: max_seq_len_by_batch: batch size");
      s.max_seq_len_by_batch[b] = intInRange(n, "max_seq_len_by_batch", 1, L::kMaxSeqLen);
    }
  }
  validateSpec(s);
  return s;
}

nlohmann::json specToJson(const SweepSpec& s) {
  nlohmann::json j;
  j["name"] = s.name;
  j["workload"] = workloadName(s.workload);
  j["models"] = nlohmann::json::array();
  for (const auto& m : s.models) j["models"].push_back(modelToJson(m));
  j["seq_lens"] = s.seq_lens;
  j["batch_sizes"] = s.batch_sizes;
  j["dtypes"] = nlohmann::json::array();
  for (DType d : s.dtypes) j["dtypes"].push_back(std::string(kernels::dtypeName(d)));
  j["causal"] = s.causal;
  j["kernels"] = nlohmann::json::array();
  for (KernelKind k : s.kernels) j["kernels"].push_back(kernelName(k));
  j["tiles"] = nlohmann::json::array();
  for (TileShape t : s.tiles) j["tiles"].push_back(tileName(t));
  j["repetitions"] = s.repetitions;
  j["warmup"] = s.warmup;
  j["check_correctness"] = s.check_correctness;
  j["device"] = s.device;
  j["max_memory"] = s.max_memory_bytes ? nlohmann::json(*s.max_memory_bytes) : nlohmann::json(nullptr);
  j["seed"] = s.seed;
  j["max_noise"] = s.sampling.max_noise_percent;
  j["min_samples"] = s.sampling.min_samples;
  j["min_time"] = s.sampling.min_time_s;
  j["timeout"] = s.sampling.timeout_s;
  j["timing"] = timingMethodName(s.timing);
  j["l2_flush"] = s.l2_flush;
  j["cuda_graph"] = s.cuda_graph;
  j["threads"] = s.threads;
  if (!s.max_seq_len_by_batch.empty()) {
    j["max_seq_len_by_batch"] = nlohmann::json::object();
    for (const auto& [batch, n] : s.max_seq_len_by_batch) j["max_seq_len_by_batch"][std::to_string(batch)] = n;
  }
  if (s.workload == Workload::Decode) {
    j["q_lens"] = s.q_lens;
    j["page_size"] = s.decode.page_size;
    j["kv_lens_spread"] = s.decode.kv_lens_spread;
    j["splits"] = s.decode.splits;
  }
  if (s.workload == Workload::Inference) {
    j["page_size"] = s.decode.page_size;
    j["new_tokens"] = s.inference.new_tokens;
    j["depth"] = s.inference.depth;
    j["compile_mode"] = compileModeName(s.inference.compile_mode);
    j["ckpt_dir"] = s.inference.ckpt_dir;
    j["tokenizer"] = s.inference.tokenizer;
    j["prompt"] = s.inference.prompt;
  }
  // Written only when split, so that the spec of a one-device run stays what it was.
  if (s.tensor_parallel != 1) j["tensor_parallel"] = s.tensor_parallel;
  return j;
}

nlohmann::json parseSpecText(const std::string& text, const std::string& what) {
  if (text.size() > L::kMaxSpecFileBytes) {
    throw InputError(what + " is larger than " + formatBytes(L::kMaxSpecFileBytes));
  }
  // The parser itself keeps no recursion, but dumping, comparing or walking a deeper document would.
  const auto boundDepth = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > L::kMaxJsonDepth) {
      throw InputError(what + " nests deeper than " + std::to_string(L::kMaxJsonDepth) + " levels");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, boundDepth);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(what + " is not valid JSON: " + printableText(e.what()));
  }
}

SweepSpec loadSpecFile(const std::string& path) {
  const std::string what = "spec file '" + printableText(path) + "'";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(what + " is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + what);
  // Read one byte past the limit, so that a larger file (or an endless device) is refused, not read.
  std::string text(L::kMaxSpecFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) throw InputError("cannot read " + what);
  text.resize(static_cast<std::size_t>(in.gcount()));
  return specFromJson(parseSpecText(text, what));
}

SweepSpec sweepPreset(const std::string& name) {
  for (const auto& [preset, text] : resources::sweepPresetsJson()) {
    if (preset == name) return specFromJson(nlohmann::json::parse(text));
  }
  std::string known;
  for (const auto& n : sweepPresetNames()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("unknown sweep preset '" + name + "' (known: " + known + ")");
}

std::vector<std::string> sweepPresetNames() {
  std::vector<std::string> names;
  for (const auto& entry : resources::sweepPresetsJson()) names.emplace_back(entry.first);
  return names;
}

void validateSpec(const SweepSpec& s) {
  requireCleanText(s.name, "spec: the name");
  auto requireNonEmpty = [](bool empty, const char* axis) {
    if (empty) throw InputError(std::string("spec: axis \"") + axis + "\" is empty");
  };
  requireNonEmpty(s.models.empty(), "models");
  requireNonEmpty(s.seq_lens.empty(), "seq_lens");
  requireNonEmpty(s.batch_sizes.empty(), "batch_sizes");
  requireNonEmpty(s.dtypes.empty(), "dtypes");
  requireNonEmpty(s.causal.empty(), "causal");
  requireNonEmpty(s.kernels.empty(), "kernels");
  requireNonEmpty(s.tiles.empty(), "tiles");
  requireNonEmpty(s.q_lens.empty(), "q_lens");
  for (const auto& m : s.models) validateModelShape(m);
  for (int n : s.seq_lens) requireInRange(n, 1, L::kMaxSeqLen, "spec: sequence length");
  for (int b : s.batch_sizes) requireInRange(b, 1, L::kMaxBatch, "spec: batch size");
  requireInRange(s.repetitions, 0, L::kMaxRepetitions, "spec: repetitions");
  requireInRange(s.sampling.min_samples, 1, L::kMaxMinSamples, "spec: min_samples");
  requireRealInRange(s.sampling.max_noise_percent, 0.0, L::kMaxNoisePercent, "spec: max_noise");
  requireRealInRange(s.sampling.min_time_s, 0.0, L::kMaxSamplingSeconds, "spec: min_time");
  requireRealInRange(s.sampling.timeout_s, 0.0, L::kMaxSamplingSeconds, "spec: timeout");
  requireInRange(s.warmup, 0, L::kMaxWarmup, "spec: warmup");
  requireInRange(s.threads, 0, L::kMaxThreads, "spec: threads");
  for (int q : s.q_lens) requireInRange(q, 1, L::kMaxQueryLen, "spec: q_len");
  if (s.decode.page_size != 0) requireInRange(s.decode.page_size, L::kMinPageSize, L::kMaxPageSize, "spec: page size");
  requireRealInRange(s.decode.kv_lens_spread, 0.0, L::kMaxKvLensSpread, "spec: kv_lens_spread");
  requireInRange(s.decode.splits, 0, L::kMaxSplits, "spec: splits");
  if (s.workload != Workload::Decode &&
      (s.q_lens != std::vector<int>{1} || s.decode.kv_lens_spread != 0 || s.decode.splits != 0)) {
    throw InputError("spec: q_lens, kv_lens_spread and splits apply to the decode workload only");
  }
  if (s.workload == Workload::Attention && s.decode.page_size != 0) {
    throw InputError("spec: page_size applies to the decode and inference workloads only");
  }
  for (const auto& [batch, n] : s.max_seq_len_by_batch) {
    requireInRange(batch, 1, L::kMaxBatch, "spec: max_seq_len_by_batch: batch size");
    requireInRange(n, 1, L::kMaxSeqLen, "spec: max_seq_len_by_batch: sequence length");
  }
  const InferenceSettings& inf = s.inference;
  requireInRange(inf.new_tokens, 1, L::kMaxNewTokens, "spec: new_tokens");
  requireInRange(inf.depth, 0, L::kMaxSeqLen, "spec: depth");
  requireInRange(s.tensor_parallel, 1, L::kMaxTensorParallel, "spec: tensor_parallel");
  for (const ModelPreset& m : s.models) {
    if (std::string why = headSplitReason(m, s.tensor_parallel); !why.empty()) throw InputError("spec: " + why);
  }
  if (inf.prompt.size() > L::kMaxPromptBytes) {
    throw InputError("spec: the prompt is longer than " + formatBytes(L::kMaxPromptBytes));
  }
  if (!inf.prompt.empty() && inf.tokenizer.empty()) {
    throw InputError("spec: a prompt needs a tokenizer (--tokenizer) to become token ids");
  }
  if (s.workload == Workload::Inference && s.causal != std::vector<bool>{true}) {
    throw InputError("spec: a decoder's inference is causal: \"causal\" must be [true] for the inference workload");
  }
  if (s.workload != Workload::Inference && inf != InferenceSettings{}) {
    throw InputError("spec: new_tokens, depth, compile_mode, ckpt_dir, tokenizer and prompt apply to the inference "
                     "workload only");
  }
  if (!inf.ckpt_dir.empty() && !std::filesystem::is_directory(inf.ckpt_dir)) {
    throw InputError("checkpoint directory '" + printableText(inf.ckpt_dir) + "' does not exist");
  }
  if (!inf.tokenizer.empty() && !std::filesystem::is_regular_file(inf.tokenizer)) {
    throw InputError("tokenizer model '" + printableText(inf.tokenizer) + "' is not a readable file");
  }
  if (s.max_memory_bytes && (*s.max_memory_bytes < L::kMinMemoryBytes || *s.max_memory_bytes > L::kMaxMemoryBytes)) {
    throw InputError("spec: memory budget " + formatBytes(*s.max_memory_bytes) + " is out of range [" +
                     formatBytes(L::kMinMemoryBytes) + ", " + formatBytes(L::kMaxMemoryBytes) + "]");
  }
  requireNoRepeats(s.models, "models", [](const ModelPreset& m) { return m.name; });
  requireNoRepeats(s.seq_lens, "seq_lens", [](int n) { return std::to_string(n); });
  requireNoRepeats(s.batch_sizes, "batch_sizes", [](int b) { return std::to_string(b); });
  requireNoRepeats(s.dtypes, "dtypes", [](DType d) { return std::string(kernels::dtypeName(d)); });
  requireNoRepeats(s.causal, "causal", [](bool c) { return std::string(c ? "true" : "false"); });
  requireNoRepeats(s.kernels, "kernels", [](KernelKind k) { return kernelName(k); });
  requireNoRepeats(s.tiles, "tiles", [](TileShape t) { return tileName(t); });
  requireNoRepeats(s.q_lens, "q_lens", [](int q) { return std::to_string(q); });
  const std::string d = lower(s.device);
  const bool known_device = d == "auto" || d == "cpu" || d == "cuda" ||
                        (d.rfind("cuda:", 0) == 0 && d.size() > 5 &&
                         std::all_of(d.begin() + 5, d.end(), [](unsigned char c) { return std::isdigit(c); }));
  if (!known_device) throw InputError("spec: unknown device '" + s.device + "' (auto, cpu, cuda, cuda:N)");
}

std::string SweepPoint::label() const {
  std::ostringstream os;
  os << model.name << " B=" << shape.batch << " N=" << seqLen();
  if (isDecode()) os << " q=" << shape.seq_q;
  if (isInference() && inference.depth > 0) os << " depth=" << inference.depth;
  os << " " << kernels::dtypeName(shape.dtype) << (shape.causal ? " causal" : "") << " " << kernelName(kernel);
  if (isDecode()) {
    os << " decode";
    if (decode.page_size > 0) os << " paged" << decode.page_size;
    if (decode.kv_lens_spread > 0) os << " ragged" << decode.kv_lens_spread;
    if (decode.splits > 0) os << " splits=" << decode.splits;
  } else if (isInference()) {
    os << " inference";
    if (decode.page_size > 0) os << " paged" << decode.page_size;
    if (inference.compile_mode != CompileMode::None) os << " " << compileModeName(inference.compile_mode);
  } else if (kernel == KernelKind::Flash) {
    os << " " << tileName(tile);
  }
  if (tensor_parallel > 1) os << " tp=" << tensor_parallel;
  return os.str();
}

kernels::AttentionShape modelShape(const ModelPreset& model, int batch, int seq_len, DType dtype, bool causal) {
  return {batch, model.heads, model.kv_heads, seq_len, seq_len, model.head_dim, causal, dtype};
}

std::vector<SweepPoint> expandPoints(const SweepSpec& s) {
  std::vector<SweepPoint> points;
  const bool decode = s.workload == Workload::Decode;
  for (const auto& model : s.models)
    for (DType dtype : s.dtypes)
      for (bool causal : s.causal)
        for (int batch : s.batch_sizes)
          for (int n : s.seq_lens) {
            if (const auto limit = s.max_seq_len_by_batch.find(batch); limit != s.max_seq_len_by_batch.end() && n > limit->second) {
              continue;
            }
            for (int q_len : decode ? s.q_lens : std::vector<int>{n})
              for (KernelKind kernel : standardFirst(s.kernels)) {
                // The tile axis only applies to flash attention; the other points run once per shape.
                const bool tiled = kernel == KernelKind::Flash && s.workload == Workload::Attention;
                for (TileShape tile : tiled ? s.tiles : std::vector<TileShape>{TileShape{}}) {
                  SweepPoint p;
                  p.index = static_cast<int>(points.size());
                  p.workload = s.workload;
                  p.model = model;
                  p.shape = modelShape(model, batch, n, dtype, causal);
                  p.shape.seq_q = q_len;
                  p.kernel = kernel;
                  p.tile = tile;
                  if (decode) p.decode = s.decode;
                  if (s.workload == Workload::Inference) {
                    p.inference = s.inference;
                    p.decode.page_size = s.decode.page_size;  // the engine's KV cache
                  }
                  p.tensor_parallel = s.tensor_parallel;
                  points.push_back(std::move(p));
                }
              }
          }
  return points;
}

}  // namespace attnbench
