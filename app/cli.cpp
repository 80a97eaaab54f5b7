#include "cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "attnbench/backend.h"
#include "attnbench/engine/checkpoint.h"
#include "attnbench/engine/engine.h"
#include "attnbench/errors.h"
#include "attnbench/exporters.h"
#include "attnbench/runner.h"
#include "attnbench/text_checks.h"
#include "cluster.h"
#include "progress.h"
#include "worker_pool.h"

#ifdef ATTNBENCH_HAVE_GUI
#include "attnbench/ui/gui_main.h"
#endif

#ifndef ATTNBENCH_VERSION
#define ATTNBENCH_VERSION "dev"
#endif

namespace attnbench::cli {
namespace {

#ifdef ATTNBENCH_HAVE_GUI
constexpr bool kCanDrawCharts = true;
#else
constexpr bool kCanDrawCharts = false;
#endif

// The figure options of `export --charts`: a style (paper | screen), its size, PNG DPI and theme.
// All empty: the charts at the window's export size, named <chart>.<ext>.
struct FigureFlags {
  std::string style, size, theme;
  int dpi = 0;
  bool empty() const { return style.empty() && size.empty() && theme.empty() && dpi == 0; }
#ifdef ATTNBENCH_HAVE_GUI
  ui::FigureRequest request() const {
    return {QString::fromStdString(style), QString::fromStdString(size), dpi, theme == "dark"};
  }
#endif
};

// Why the GUI library cannot draw `figure` (empty when it can; the charts' style code is there).
std::string checkFigure([[maybe_unused]] const FigureFlags& figure) {
#ifdef ATTNBENCH_HAVE_GUI
  return ui::checkFigureRequest(figure.request()).toStdString();
#else
  return {};
#endif
}

// Draws a run's charts into `dir` (PNG, SVG, PDF) through the GUI library; empty on success, else why.
std::string drawCharts([[maybe_unused]] const RunRecord& run, [[maybe_unused]] const std::vector<PointResult>& points,
                       [[maybe_unused]] const std::string& dir, [[maybe_unused]] const FigureFlags& figure) {
#ifdef ATTNBENCH_HAVE_GUI
  return ui::exportRunCharts(run, points, QString::fromStdString(dir), figure.request()).toStdString();
#else
  return "drawing charts needs the GUI build (Qt 6)";
#endif
}

std::atomic<bool> g_stop_requested{false};

extern "C" void onStopSignal(int) {
  g_stop_requested.store(true);
  // A second signal ends the process the default way.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

const std::vector<std::string> kVerbs = {"models", "devices", "runs", "show", "export", "compare", "rename", "annotate",
                                         "delete", "presets", "merge"};

bool isVerb(const std::string& word) { return std::find(kVerbs.begin(), kVerbs.end(), word) != kVerbs.end(); }

// Levenshtein distance, for "did you mean" suggestions.
std::size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'runs'?)" when a candidate is a typo away from `word`, else the list of candidates.
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  std::size_t best_distance = 0;
  for (const auto& c : candidates) {
    const std::size_t d = editDistance(word, c);
    if (!best || d < best_distance) best = &c, best_distance = d;
  }
  if (best && best_distance <= std::max<std::size_t>(2, best->size() / 3)) return " (did you mean '" + *best + "'?)";
  std::string list;
  for (const auto& c : candidates) list += (list.empty() ? "" : ", ") + c;
  return " (one of: " + list + ")";
}

// A path that the window would take as the database to open (`attnbench results.db`, as the desktop
// file passes it): an existing file, or a name that looks like one.
bool looksLikeDatabasePath(const std::string& word) {
  std::error_code ec;
  return std::filesystem::is_regular_file(word, ec) || word.find('/') != std::string::npos ||
         (word.size() > 3 && word.compare(word.size() - 3, 3, ".db") == 0);
}

std::vector<std::string> splitList(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (!part.empty()) out.push_back(part);
    }
  }
  return out;
}

int parseIntStrict(const std::string& s, const std::string& what) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    throw InputError(what + ": '" + s + "' is not an integer");
  }
  if (used != s.size()) throw InputError(what + ": '" + s + "' is not an integer");
  if (v <= 0) throw InputError(what + ": " + s + " must be positive");
  if (v > (1LL << 30)) throw InputError(what + ": " + s + " is too large");
  return static_cast<int>(v);
}

// "128,256", "128 256" or a power-of-two range "128..65536".
// The entries of a list option; an option given with nothing in it (-m "") is an error, not the default.
std::vector<std::string> nonEmptyList(const std::vector<std::string>& items, const std::string& what) {
  std::vector<std::string> out = splitList(items);
  if (out.empty() && !items.empty()) throw InputError(what + ": the list is empty");
  return out;
}

std::vector<int> parseIntList(const std::vector<std::string>& items, const std::string& what) {
  std::vector<int> out;
  for (const auto& item : splitList(items)) {
    const auto dots = item.find("..");
    if (dots == std::string::npos) {
      out.push_back(parseIntStrict(item, what));
      continue;
    }
    const int lo = parseIntStrict(item.substr(0, dots), what);
    const int hi = parseIntStrict(item.substr(dots + 2), what);
    if (lo > hi) throw InputError(what + ": empty range '" + item + "'");
    for (long long v = lo; v <= hi; v *= 2) out.push_back(static_cast<int>(v));
  }
  if (out.empty()) throw InputError(what + ": the list is empty");
  return out;
}

bool parseBool(const std::string& s, const std::string& what) {
  std::string v;
  for (char c : s) v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw InputError(what + ": '" + s + "' is not a boolean (true/false)");
}

std::string architectureVariantModel(const std::string& architecture, const std::string& variant) {
  // The seed's spelling: --architecture llama --variant 7b.
  return variant.empty() ? architecture : architecture + "/" + variant;
}

// Everything the sweep flags may set; applied over a preset or spec file.
struct SweepFlags {
  std::string spec_file, preset, name;
  std::vector<std::string> models, seq_lens, batch_sizes, dtypes, kernels, tiles;
  std::string architecture, variant, causal, use_flash, check_correctness, device, max_memory, seed;
  int heads = 0, kv_heads = 0, head_dim = 0;
  std::string custom_name = "custom";
  std::optional<int> repetitions, warmup, threads, min_samples;
  std::optional<double> max_noise, min_time, timeout;
  std::string timing;
  bool l2_flush = false, cuda_graph = false, no_check = false;
  std::string workload;
  std::vector<std::string> q_lens;
  std::optional<int> page_size, splits;
  std::optional<double> kv_lens_spread;
  std::optional<int> new_tokens, depth;
  std::string compile_mode, ckpt_dir, tokenizer, prompt;
  bool distributed = false;
  std::optional<int> tensor_parallel;
};

constexpr const char* kSweepGroup = "Sweep (with --batch)";

void addSweepOptions(CLI::App& app, SweepFlags& f) {
  const char* group = kSweepGroup;
  app.add_option("--spec", f.spec_file, "JSON sweep spec file (flags below override its axes)")->group(group);
  app.add_option("--preset", f.preset, "built-in sweep preset (see `attnbench presets`)")->group(group);
  app.add_option("--name", f.name, "name of the run")->group(group);
  app.add_option("--workload", f.workload,
                 "attention (prefill operator, default), decode (one generation step) or inference (a whole model)")
      ->group(group);
  app.add_option("-m,--model,--models", f.models, "model preset(s), comma-separated (see `attnbench models`)")
      ->group(group);
  app.add_option("--architecture", f.architecture, "model architecture, seed spelling (llama, granite)")->group(group);
  app.add_option("--variant", f.variant, "model variant, seed spelling (7b)")->group(group);
  app.add_option("--heads", f.heads, "custom shape: query heads")->group(group);
  app.add_option("--kv-heads", f.kv_heads, "custom shape: key/value heads (default = heads)")->group(group);
  app.add_option("--head-dim", f.head_dim, "custom shape: head dim")->group(group);
  app.add_option("--custom-name", f.custom_name, "custom shape: its name in results")->group(group);
  app.add_option("--seq-lens,--seq_lens,--seq_len", f.seq_lens, "sequence lengths: 128,256 or a power-of-two range 128..65536")
      ->group(group);
  app.add_option("--batch-sizes,--batch_sizes,--batch_size", f.batch_sizes, "batch sizes, e.g. 1,2")->group(group);
  app.add_option("--dtype,--dtypes", f.dtypes, "fp16, bf16, fp32 (comma-separated)")->group(group);
  app.add_option("--causal", f.causal, "causal mask: true, false or both")->group(group);
  app.add_option("--kernels", f.kernels, "flash, standard, cudnn (comma-separated)")->group(group);
  app.add_option("--use_flash,--use-flash", f.use_flash, "seed spelling: true = flash only, false = standard only")
      ->expected(0, 1)
      ->default_str("true")
      ->group(group);
  app.add_option("--tiles,--tile", f.tiles, "flash tiles: auto, 64, 64x64, 128x64, 128x128")->group(group);
  app.add_option("--q-lens,--q_lens", f.q_lens, "decode: new tokens per sequence, 1-16 (default 1)")->group(group);
  app.add_option("--page-size", f.page_size, "decode, inference: paged KV cache with pages of 16-256 tokens (default contiguous)")
      ->group(group);
  app.add_option("--kv-lens-spread", f.kv_lens_spread,
                 "decode: ragged batch, lengths drawn in N(1 +- spread), 0-0.9 (default 0: all N)")
      ->group(group);
  app.add_option("--splits", f.splits, "decode: flash key ranges per sequence (default 0: the heuristic)")->group(group);
  app.add_option("--new-tokens,--new_tokens", f.new_tokens, "inference: decode steps timed per repetition (64)")
      ->group(group);
  app.add_option("--depth", f.depth, "inference: tokens already in the KV cache before the prompt (0)")->group(group);
  app.add_option("--compile_mode,--compile-mode", f.compile_mode,
                 "inference: none (eager) or reduce-overhead (decode steps replayed from CUDA graphs)")
      ->group(group);
  app.add_option("--ckpt_dir,--ckpt-dir", f.ckpt_dir,
                 "inference: Hugging Face checkpoint directory (config.json + safetensors; default synthetic weights)")
      ->group(group);
  app.add_option("--tokenizer", f.tokenizer, "inference: SentencePiece model that tokenizes the prompt")->group(group);
  app.add_option("--prompt", f.prompt, "inference: prompt text (with --tokenizer; default synthetic token ids)")
      ->group(group);
  app.add_flag("--distributed", f.distributed,
               "the seed's spelling: tensor parallel over the visible GPUs (under a launcher: its ranks share "
               "the points)")
      ->group(group);
  app.add_option("--tensor-parallel,--tensor_parallel", f.tensor_parallel,
                 "split each point over N GPUs (or CPU ranks) the Megatron way, one process: attention and decode "
                 "split the heads, inference the whole model (1)")
      ->group(group);
  app.add_option("--repetitions", f.repetitions, "timed samples per point (fixed; default: the noise rule below)")
      ->group(group);
  app.add_option("--max-noise", f.max_noise, "sample until the relative std. deviation is at most this, in % (0.5)")
      ->group(group);
  app.add_option("--min-samples", f.min_samples, "samples before the noise rule may stop (10)")->group(group);
  app.add_option("--min-time", f.min_time, "kernel seconds before the noise rule may stop (0)")->group(group);
  app.add_option("--timeout", f.timeout, "wall seconds after which a point stops sampling, flagged noisy (1)")
      ->group(group);
  app.add_option("--timing", f.timing, "GPU timing: blocked (default), batch, plain (see docs/METHODOLOGY.md)")
      ->group(group);
  app.add_option("--warmup", f.warmup, "untimed runs before the samples")->group(group);
  app.add_option("--check-correctness,--check_correctness", f.check_correctness,
                 "compare against an fp64 reference (true/false)")
      ->expected(0, 1)
      ->default_str("true")
      ->group(group);
  app.add_flag("--no-check", f.no_check, "skip the correctness check")->group(group);
  app.add_option("--device", f.device, "auto, cpu, cuda, cuda:N")->group(group);
  app.add_option("--max-memory", f.max_memory, "memory budget per point, e.g. 8GiB (default: free memory)")->group(group);
  app.add_option("--seed", f.seed, "seed of the random inputs")->group(group);
  app.add_flag("--l2-flush", f.l2_flush, "flush the GPU L2 cache between samples")->group(group);
  app.add_flag("--cuda-graph", f.cuda_graph, "time replays of a captured CUDA graph (reduce-overhead)")->group(group);
  app.add_option("--threads", f.threads, "CPU backend worker threads (0 = all)")->group(group);
}

// Builds the spec: preset or spec file (else the default for the device), then flag overrides.
SweepSpec buildSpec(const SweepFlags& f) {
  if (!f.spec_file.empty() && !f.preset.empty()) throw InputError("give --spec or --preset, not both");
  SweepSpec spec;
  if (!f.spec_file.empty()) {
    spec = loadSpecFile(f.spec_file);
  } else if (!f.preset.empty()) {
    spec = sweepPreset(f.preset);
  } else {
    const bool gpu = resolvesToCuda(f.device.empty() ? "auto" : f.device);
    const Workload workload = parseWorkload(f.workload);
    if (workload == Workload::Decode) spec = sweepPreset(gpu ? "decode" : "cpu-decode");
    else if (workload == Workload::Inference) spec = sweepPreset(gpu ? "seed-inference" : "cpu-inference");
    else spec = sweepPreset(gpu ? "seed-matrix" : "cpu-quick");
  }
  if (!f.workload.empty()) spec.workload = parseWorkload(f.workload);
  if (!f.device.empty()) spec.device = f.device;
  if (!f.name.empty()) {
    requireCleanText(f.name, "--name");
    spec.name = f.name;
  }

  std::vector<ModelPreset> models;
  for (const auto& m : nonEmptyList(f.models, "--model")) models.push_back(findModel(m));
  if (!f.architecture.empty()) models.push_back(findModel(architectureVariantModel(f.architecture, f.variant)));
  else if (!f.variant.empty()) throw InputError("--variant needs --architecture");
  if (f.heads != 0 || f.kv_heads != 0 || f.head_dim != 0) {
    if (f.heads <= 0 || f.head_dim <= 0) throw InputError("a custom shape needs positive --heads and --head-dim");
    requireCleanText(f.custom_name, "--custom-name");
    ModelPreset custom;
    custom.name = custom.display_name = f.custom_name;
    custom.heads = f.heads;
    custom.kv_heads = f.kv_heads > 0 ? f.kv_heads : f.heads;
    if (f.kv_heads < 0) throw InputError("--kv-heads must be positive");
    custom.head_dim = f.head_dim;
    custom.hidden = hiddenSize(f.heads, f.head_dim);
    validateModelShape(custom);
    models.push_back(custom);
  }
  if (!models.empty()) spec.models = models;
  if (!f.seq_lens.empty()) spec.seq_lens = parseIntList(f.seq_lens, "--seq-lens");
  if (!f.batch_sizes.empty()) spec.batch_sizes = parseIntList(f.batch_sizes, "--batch-sizes");
  // Axes given as flags are swept whole (as the seed's command lines do), without a preset's limits.
  if (!f.seq_lens.empty() || !f.batch_sizes.empty()) spec.max_seq_len_by_batch.clear();
  if (!f.dtypes.empty()) {
    spec.dtypes.clear();
    for (const auto& d : nonEmptyList(f.dtypes, "--dtype")) spec.dtypes.push_back(parseDType(d));
  }
  if (!f.causal.empty()) {
    if (f.causal == "both") spec.causal = {false, true};
    else spec.causal = {parseBool(f.causal, "--causal")};
  }
  if (!f.kernels.empty()) {
    spec.kernels.clear();
    for (const auto& k : nonEmptyList(f.kernels, "--kernels")) spec.kernels.push_back(parseKernel(k));
  }
  if (!f.use_flash.empty()) {
    spec.kernels = {parseBool(f.use_flash, "--use_flash") ? KernelKind::Flash : KernelKind::Standard};
  }
  if (!f.tiles.empty()) {
    spec.tiles.clear();
    for (const auto& t : nonEmptyList(f.tiles, "--tiles")) spec.tiles.push_back(parseTile(t));
  }
  // Ranges are validateSpec's (SpecLimits), the same as for spec files and the GUI.
  if (f.repetitions) spec.repetitions = *f.repetitions;
  if (f.warmup) spec.warmup = *f.warmup;
  if (f.max_noise) spec.sampling.max_noise_percent = *f.max_noise;
  if (f.min_samples) spec.sampling.min_samples = *f.min_samples;
  if (f.min_time) spec.sampling.min_time_s = *f.min_time;
  if (f.timeout) spec.sampling.timeout_s = *f.timeout;
  if (!f.timing.empty()) spec.timing = parseTimingMethod(f.timing);
  if (!f.check_correctness.empty()) spec.check_correctness = parseBool(f.check_correctness, "--check-correctness");
  if (f.no_check) spec.check_correctness = false;
  if (!f.max_memory.empty()) spec.max_memory_bytes = parseByteSize(f.max_memory);
  if (!f.seed.empty()) spec.seed = parseSeed(f.seed);
  if (f.l2_flush) spec.l2_flush = true;
  if (f.cuda_graph) spec.cuda_graph = true;
  if (f.threads) spec.threads = *f.threads;
  if (!f.q_lens.empty()) spec.q_lens = parseIntList(f.q_lens, "--q-lens");
  if (f.page_size) spec.decode.page_size = *f.page_size;
  if (f.kv_lens_spread) spec.decode.kv_lens_spread = *f.kv_lens_spread;
  if (f.splits) spec.decode.splits = *f.splits;
  if (f.new_tokens) spec.inference.new_tokens = *f.new_tokens;
  if (f.depth) spec.inference.depth = *f.depth;
  if (!f.compile_mode.empty()) spec.inference.compile_mode = parseCompileMode(f.compile_mode);
  if (!f.tokenizer.empty()) spec.inference.tokenizer = f.tokenizer;
  if (!f.prompt.empty()) spec.inference.prompt = f.prompt;
  if (!f.ckpt_dir.empty()) {
    spec.inference.ckpt_dir = f.ckpt_dir;
    validateSpec(spec);  // names a missing directory before the checkpoint is opened
    // The checkpoint's config.json is the model (the seed names its architecture as well).
    spec.models = {engine::Checkpoint::open(f.ckpt_dir).model()};
  }
  if (f.distributed && spec.workload != Workload::Inference) {
    throw InputError("--distributed applies to the inference workload");
  }
  if (f.tensor_parallel) spec.tensor_parallel = *f.tensor_parallel;
  validateSpec(spec);
  return spec;
}

std::int64_t parseRunId(const std::string& s) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    throw InputError("run id '" + s + "' is not a number (see `attnbench runs`)");
  }
  if (used != s.size() || v <= 0) throw InputError("run id '" + s + "' is not a positive number (see `attnbench runs`)");
  return v;
}

namespace fs = std::filesystem;

// The file a path names, for comparing two paths: its device and inode when it exists.
std::optional<std::pair<dev_t, ino_t>> fileIdentity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return std::pair{st.st_dev, st.st_ino};
}

// True when `path` is the database or one of SQLite's files beside it (journal, WAL, shared memory),
// whichever spelling reaches it: relative, through links, or a hard link.
bool isDatabaseFile(const std::string& path, const std::string& db_path) {
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(fs::absolute(path, ec), ec);
  const fs::path db = fs::weakly_canonical(fs::absolute(db_path, ec), ec);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string file = db.string() + suffix;
    if (target == fs::path(file)) return true;
    const auto a = fileIdentity(path), b = fileIdentity(file);
    if (a && b && *a == *b) return true;
  }
  return false;
}

// Checks before anything runs that `path` (given to `option`) can be written: not the database, not
// a directory, in an existing folder that we may write. InputError otherwise.
void checkOutputFile(const std::string& option, const std::string& path, const std::string& db_path) {
  if (path == "-") return;
  const std::string shown = option + " '" + printableText(path) + "'";
  if (isDatabaseFile(path, db_path)) throw InputError(shown + " is the results database; choose another file");
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (fs::is_directory(status)) throw InputError(shown + " is a directory");
  if (fs::exists(status)) {
    if (::access(path.c_str(), W_OK) != 0) throw InputError(shown + " cannot be written: " + std::strerror(errno));
    if (!fs::is_regular_file(status)) return;  // a FIFO or a device is written in place
  }
  // A regular file is replaced through a temporary file in its folder: the folder must be writable.
  const fs::path parent = fs::absolute(path, ec).parent_path();
  if (!fs::is_directory(parent, ec)) throw InputError(shown + ": no folder " + printableText(parent.string()));
  if (::access(parent.c_str(), W_OK | X_OK) != 0) {
    throw InputError(shown + " cannot be written: " + std::strerror(errno));
  }
}

// The same for a chart folder: an existing writable folder, or one that can be created.
void checkOutputFolder(const std::string& option, const std::string& dir, const std::string& db_path) {
  const std::string shown = option + " '" + printableText(dir) + "'";
  if (isDatabaseFile(dir, db_path)) throw InputError(shown + " is the results database; choose a folder");
  std::error_code ec;
  fs::path existing = fs::absolute(dir, ec);
  while (!fs::exists(existing, ec) && existing.has_parent_path() && existing != existing.parent_path()) {
    existing = existing.parent_path();
  }
  if (!fs::is_directory(existing, ec)) throw InputError(shown + ": " + printableText(existing.string()) + " is not a folder");
  if (::access(existing.c_str(), W_OK | X_OK) != 0) throw InputError(shown + " cannot be written: " + std::strerror(errno));
}

// Where a run's exports go; checked as a whole before the run or the export starts.
struct Outputs {
  std::string csv, json, charts;
  FigureFlags figure;
  void check(const std::string& db_path, const char* csv_option, const char* json_option, const char* charts_option) const {
    if (!csv.empty()) checkOutputFile(csv_option, csv, db_path);
    if (!json.empty()) checkOutputFile(json_option, json, db_path);
    if (charts.empty() && !figure.empty()) throw InputError("--style, --size, --dpi and --theme go with --charts DIR");
    if (!charts.empty()) {
      checkOutputFolder(charts_option, charts, db_path);
      if (!kCanDrawCharts) throw InputError(std::string(charts_option) + " needs the GUI build (Qt 6)");
      if (const std::string why = checkFigure(figure); !why.empty()) throw InputError(why);
    }
  }
  // Writes them; a failure is the OS's (disk full, I/O error) and throws std::runtime_error.
  void write(const RunRecord& run, const std::vector<PointResult>& points) const {
    if (!csv.empty()) writeOutputFile(csv, [&](std::ostream& o) { writeCsv(o, points, run.provenance); });
    if (!json.empty()) writeOutputFile(json, [&](std::ostream& o) { o << runToJson(run, points).dump(2) << '\n'; });
    if (!charts.empty()) {
      const std::string err = drawCharts(run, points, charts, figure);
      if (!err.empty()) throw std::runtime_error("chart export failed: " + err);
    }
  }
};

void printModels(std::ostream& out) {
  out << "name                  heads  kv_heads  head_dim  layers  hidden  ffn     vocab   aliases\n";
  for (const auto& m : builtinModels()) {
    char line[256];
    std::snprintf(line, sizeof line, "%-20s  %5d  %8d  %8d  %6d  %6d  %-6d  %-6d  ", m.name.c_str(), m.heads, m.kv_heads,
                  m.head_dim, m.layers, m.hidden, m.ffn, m.vocab);
    out << line;
    for (std::size_t i = 0; i < m.aliases.size(); ++i) out << (i ? ", " : "") << m.aliases[i];
    out << '\n';
  }
  out << "custom shapes: --heads H --kv-heads K --head-dim D (head dims:";
  for (int d : supportedHeadDims()) out << ' ' << d;
  out << ")\n";
}

void printDevices(std::ostream& out) {
  for (const auto& d : listDevices()) {
    out << d.id << ": " << d.name << " (" << formatBytes(d.memory_bytes) << ")\n";
    for (const auto& [key, value] : d.properties.items()) {
      std::string shown = value.is_string() ? value.get<std::string>() : value.dump();
      if (key.size() > 6 && key.substr(key.size() - 6) == "_bytes" && value.is_number_unsigned()) {
        shown = formatBytes(value.get<std::uint64_t>());
      }
      out << "    " << key << ": " << shown << '\n';
    }
  }
}

void printRuns(std::ostream& out, Store& store) {
  const auto runs = store.listRuns();
  if (runs.empty()) {
    out << "no runs in " << store.path() << '\n';
    return;
  }
  out << "   id  status       points   started                   device                          name\n";
  for (const auto& r : runs) {
    char line[512];
    const std::string points = std::to_string(r.finished_points) + "/" + std::to_string(r.total_points);
    std::snprintf(line, sizeof line, "%5lld  %-11s  %-7s  %-24s  %-30s  ", static_cast<long long>(r.id),
                  runStatusName(r.status).c_str(), points.c_str(), printableText(r.started_at).c_str(),
                  printableText(r.device.name).substr(0, 30).c_str());
    // Names and notes are printed escaped and whole: a newline or an escape sequence in them cannot
    // break the table or drive the terminal.
    out << line << printableText(r.name) << (r.note.empty() ? "" : "  # " + printableText(r.note)) << '\n';
  }
}

void printRunHeader(std::ostream& out, const RunRecord& r) {
  out << "run " << r.id << ": " << printableText(r.name) << " [" << runStatusName(r.status) << "]\n"
      << "  device:  " << printableText(r.device.name) << " (" << printableText(r.device.id) << ") on "
      << printableText(r.host) << '\n'
      << "  started: " << printableText(r.started_at)
      << (r.finished_at.empty() ? "" : ", finished: " + printableText(r.finished_at)) << '\n'
      << "  points:  " << r.finished_points << "/" << r.total_points << "   attnbench " << printableText(r.version) << '\n';
  printShard(out, r);
  if (r.device.ceilings) {
    char line[160];
    std::snprintf(line, sizeof line, "  ceilings: %.1f GB/s copy, %.3g TFLOP/s %s GEMM\n", r.device.ceilings->copy_gbps,
                  r.device.ceilings->gemm_tflops, r.device.ceilings->gemm_dtype.c_str());
    out << line;
  }
  if (!r.note.empty()) out << "  note:    " << printableText(r.note) << '\n';
  if (r.provenance.empty()) {
    out << "  provenance: none recorded (a run stored before attnbench recorded it)\n";
  } else {
    out << "  provenance:\n";
    for (const auto& e : r.provenance.entries()) {
      out << "    " << printableText(e.key) << ": " << printableText(e.value) << '\n';
    }
  }
}

// The tensor parallel degree of a new run: --tensor-parallel N, or --distributed = every visible GPU
// (one process drives them: the inference workload through NCCL, attention and decode with each
// rank's heads on their own). Under a launcher's ranks, --distributed keeps its sharding of the
// points, each point on one device. Returns what to tell the user, if anything.
std::string resolveTensorParallel(const SweepFlags& f, bool launcher_ranks, SweepSpec& spec) {
  int& degree = spec.tensor_parallel;
  const bool gpu = resolvesToCuda(spec.device);
  const bool model_split = spec.workload == Workload::Inference;  // else the heads only, no collective
  if (f.distributed && !f.tensor_parallel) {
    if (launcher_ranks) {
      return "--distributed under a launcher: its ranks share the sweep's points, each point on one device "
             "(tensor parallel runs one process per node: --tensor-parallel N, docs/CLUSTER.md)";
    }
    degree = gpu ? std::clamp(engine::visibleCudaDevices(), 1, SpecLimits::kMaxTensorParallel) : 1;
  }
  const std::string flag = "--tensor-parallel " + std::to_string(degree);
  for (const ModelPreset& m : spec.models) {
    const std::string why = model_split ? engine::tensorParallelReason(m, degree) : headSplitReason(m, degree);
    if (!why.empty()) throw InputError(flag + ": " + why);
  }
  if (degree > 1 && launcher_ranks) {
    throw InputError(flag + " runs one process over " + std::to_string(degree) +
                     " devices: start it once per node, not as a launcher's ranks (docs/CLUSTER.md)");
  }
  if (degree > 1 && gpu) {
    if (model_split && !engine::gpuCollectivesAvailable()) {
      throw InputError(flag + " on GPUs needs NCCL: " + engine::gpuCollectivesDescription());
    }
    if (const int visible = engine::visibleCudaDevices(); degree > visible) {
      throw InputError(flag + " needs " + std::to_string(degree) + " GPUs; " + std::to_string(visible) + " visible");
    }
  }
  if (degree > 1) {
    const std::string over = gpu ? std::to_string(degree) + " GPUs" : std::to_string(degree) + " CPU ranks (threads)";
    if (!model_split) return "tensor parallel over " + over + ": each rank runs its share of the heads";
    return "tensor parallel over " + over + (gpu ? " (" + engine::gpuCollectivesDescription() + ")" : std::string());
  }
  return f.distributed ? "--distributed: one device visible, a run of world size 1 (the points of a plain run)" : "";
}

// The pool's part of a sweep's checks: --gpus/--workers beside rank sharding is refused (a rank is one
// process on one GPU; a host's GPUs are either ranks or one pool).
void requireNoShardWithPool(const std::optional<RankShare>& share) {
  if (share) {
    throw InputError("--gpus/--workers run one host's workers from one process; this process is rank " +
                     std::to_string(share->rank.rank) + " of a sharded sweep (" + share->rank.launcher +
                     "): drop --gpus/--workers, or the launcher's ranks (docs/CLUSTER.md)");
  }
}

int runSweep(const SweepFlags& flags, const ClusterFlags& cluster, const PoolFlags& pool, const std::string& db_path,
             const std::string& events, bool no_progress, const std::optional<std::string>& resume_id,
             const Outputs& outputs) {
  if (!events.empty() && events != "jsonl") throw InputError("--events supports only 'jsonl'");
  outputs.check(db_path, "--csv", "--json", "--export-charts");  // before the sweep, not after it

  std::unique_ptr<Store> store;
  std::unique_ptr<Backend> backend;  // none when workers measure (--gpus, --workers)
  std::vector<WorkerSlot> worker_slots;
  std::string note;
  std::int64_t resume_run = 0;
  SweepSpec spec;
  std::optional<RankShare> share;  // this process's share of a sweep sharded over ranks
  std::string tensor_parallel_note;
  if (resume_id) {
    resume_run = parseRunId(*resume_id);
    // The request is checked through a read-only connection: a refused resume opens nothing for writing.
    const RunRecord run = Store::openReadOnly(db_path)->requireRun(resume_run);
    if (run.spec.models.empty()) throw InputError("run " + *resume_id + " has a spec this build cannot read");
    if (run.status == RunStatus::Completed) {
      throw InputError("run " + *resume_id + " is already completed: nothing to resume");
    }
    try {
      validateSpec(run.spec);  // the bounds every new run is held to
    } catch (const InputError& e) {
      throw InputError("run " + *resume_id + " cannot be resumed: " + e.what());
    }
    worker_slots = poolSlots(pool, run.spec.device);
    if (!worker_slots.empty()) spec = run.spec;
    else backend = makeRunBackend(run.spec, &note);
    store = Store::openExisting(db_path);
  } else {
    spec = buildSpec(flags);  // bad input stops here, before anything is created
    share = rankShare(cluster, spec, db_path);
    worker_slots = poolSlots(pool, spec.device);
    if (!worker_slots.empty()) requireNoShardWithPool(share);
    if (share && !(outputs.csv.empty() && outputs.json.empty() && outputs.charts.empty())) {
      throw InputError("a rank writes its share only: export after `attnbench merge` (docs/CLUSTER.md)");
    }
    if (share) pinRankGpu(share->rank, spec.device);
    tensor_parallel_note = resolveTensorParallel(flags, share.has_value(), spec);
    if (!worker_slots.empty() && spec.tensor_parallel > 1) {
      throw InputError("--gpus/--workers give each worker one device; --tensor-parallel " +
                       std::to_string(spec.tensor_parallel) +
                       " (or --distributed over several GPUs) runs one process over several: drop one of them");
    }
    if (worker_slots.empty()) backend = makeRunBackend(spec, &note);
    store = Store::open(share ? share->db_path : db_path);
  }

  const bool jsonl = events == "jsonl";
  std::FILE* human = jsonl ? stderr : stdout;
  std::unique_ptr<ProgressBar> bar;
  if (!no_progress && isatty(fileno(stderr))) bar = std::make_unique<ProgressBar>(stderr);
  const auto writeEvent = [jsonl](const RunEvent& e) {
    if (!jsonl) return;
    std::fputs(eventToJson(e).dump().c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  };
  const EventSink sink = [&](const RunEvent& e) {
    writeEvent(e);
    if (bar) bar->onEvent(e);
    // The pool's notes (a worker restarted or dropped) are for the person watching too.
    if (const auto* n = std::get_if<NoteEvent>(&e); n != nullptr && !worker_slots.empty()) {
      std::fprintf(stderr, "note: %s\n", n->message.c_str());
    }
  };
  const auto announce = [&](const std::string& text) {
    writeEvent(NoteEvent{"info", text});
    std::fprintf(stderr, "note: %s\n", text.c_str());
  };
  if (!note.empty()) announce(note);
  if (!tensor_parallel_note.empty()) announce(tensor_parallel_note);

  g_stop_requested.store(false);
  std::signal(SIGINT, onStopSignal);
  std::signal(SIGTERM, onStopSignal);

  RunOutcome outcome;
  try {
    if (!worker_slots.empty()) {
      outcome = runPool(*store, spec, resume_run, worker_slots, pool.point_timeout_s, sink, g_stop_requested);
    } else {
      Runner runner(*store, *backend, sink);
      runner.setCancelFlag(&g_stop_requested);
      if (share) runner.setShard(share->rank, share->sweep_uid);
      outcome = resume_run ? runner.resume(resume_run) : runner.run(spec);
    }
  } catch (const DeviceFault& e) {
    std::fprintf(stderr, "attnbench: device fault, run stopped (completed points are saved): %s\n", e.what());
    return kExitDeviceFault;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  std::ostringstream table;
  printSummaryTable(table, outcome.results);
  std::fputs(table.str().c_str(), human);
  const RunRecord record = store->requireRun(outcome.run_id);
  std::fprintf(human, "run %lld %s: %zu point(s), %d failed; wall %.2f s, kernels %.2f s; db %s\n",
               static_cast<long long>(outcome.run_id), runStatusName(outcome.status).c_str(), outcome.results.size(),
               outcome.failed_points(), outcome.wall_seconds, outcome.kernel_seconds, store->path().c_str());
  try {
    outputs.write(record, outcome.results);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnbench: %s (the run is saved in %s)\n", e.what(), store->path().c_str());
    return kExitFailedPoints;
  }
  if (outcome.status == RunStatus::Interrupted) {
    std::fprintf(stderr, "interrupted: resume with `attnbench --batch --resume %lld --db %s`\n",
                 static_cast<long long>(outcome.run_id), store->path().c_str());
    return kExitInterrupted;
  }
  return outcome.failed_points() > 0 ? kExitFailedPoints : kExitOk;
}

// Options that only a sweep takes: --batch and everything it is given with.
bool isSweepOption(const CLI::Option* opt) {
  static const std::set<std::string> batch_only = {"--batch", "--events",  "--no-progress", "--resume",
                                                   "--export-charts", "--csv", "--json", "--gpus", "--workers"};
  return opt->get_group() == kSweepGroup || batch_only.count(opt->get_name()) > 0;
}

// The options given on the command line among `app`'s own, in a stable order.
std::vector<const CLI::Option*> givenOptions(const CLI::App& app) {
  std::vector<const CLI::Option*> given;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() > 0 && !opt->get_name().empty()) given.push_back(opt);
  }
  return given;
}

// An option given an empty value (--db "", -m "", --resume "") is a mistake, not the default.
void requireNonEmptyValues(const CLI::App& app) {
  for (const CLI::Option* opt : givenOptions(app)) {
    if (opt->get_expected_min() == 0) continue;  // flags and --use_flash[=VALUE]
    for (const auto& value : opt->results()) {
      if (value.empty()) throw InputError(opt->get_name() + " needs a value, not an empty string");
    }
  }
}

void requireUsableDatabasePath(const std::string& db_path) {
  // SQLite takes ":memory:" as a database that vanishes at exit: the results would be thrown away.
  if (db_path == ":memory:") throw InputError("--db :memory: would throw the results away; give a file");
}

// The message for arguments CLI11 did not expect: an unknown command or option, with a suggestion.
std::string unexpectedArgumentMessage(const CLI::App& app, const std::vector<std::string>& extras) {
  const std::string& word = extras.front();
  if (word.rfind("-", 0) == 0) {
    std::vector<std::string> names;
    for (const CLI::Option* opt : app.get_options()) {
      for (const auto& n : opt->get_lnames()) names.push_back("--" + n);
    }
    const std::string bare = word.substr(0, word.find('='));
    return "unknown option '" + printableText(bare) + "'" + suggestion(bare, names);
  }
  return "unknown command '" + printableText(word) + "'" + suggestion(word, kVerbs);
}

// The command line as declared and, after parsing, as given: the top-level options, the sweep flags,
// and the verbs with their arguments.
struct CommandLine {
  CLI::App app{"attnbench: FlashAttention-style fused attention vs standard attention on LLM shapes.", "attnbench"};
  std::string db_path = Store::defaultPath();
  bool batch = false, no_progress = false;
  std::string events;
  std::optional<std::string> resume_id;
  Outputs batch_outputs;
  SweepFlags flags;
  ClusterFlags cluster;  // --rank, --world-size, --sweep-id and the merge verb
  PoolFlags pool;        // --gpus, --workers

  CLI::App *models = nullptr, *presets = nullptr, *devices = nullptr, *runs = nullptr, *show = nullptr,
           *export_run = nullptr, *compare = nullptr, *rename = nullptr, *annotate = nullptr, *remove = nullptr;
  std::string run_id, text;  // the RUN argument of a verb; a new name or note
  bool show_points = false;
  Outputs export_outputs;
  std::vector<std::string> compared_ids;
};

void declareTopLevel(CommandLine& c) {
  CLI::App& app = c.app;
  app.footer(
      "Examples:\n"
      "  attnbench --batch                                   default sweep (seed matrix on a GPU, cpu-quick on the CPU)\n"
      "  attnbench --batch --architecture llama --variant 7b --seq_lens 128..65536 --batch_sizes 1,2 \\\n"
      "            --dtype fp16 --repetitions 3 --check_correctness\n"
      "  attnbench --batch -m llama-3-8b --seq-lens 1024,4096 --causal both --tiles 64x64,128x64\n"
      "  attnbench --batch --kernels flash,cudnn,standard --max-noise 1 --timing blocked\n"
      "  attnbench --batch --spec sweep.json --events jsonl > events.jsonl\n"
      "  attnbench runs;  attnbench show 3;  attnbench export 3 --csv out.csv;  attnbench compare 3 5\n"
      "Commands and options may come in any order. With neither, attnbench opens its window.\n"
      "Exit codes: 0 ok, 1 some points failed, 2 bad input, 3 device fault, 130 interrupted (resume with --resume).");
  app.set_version_flag("--version", std::string("attnbench ") + ATTNBENCH_VERSION +
#ifdef ATTNBENCH_HAVE_CUDA
                                        " (CUDA backend built)"
#else
                                        " (CPU backend only)"
#endif
  );
  app.add_option("--db", c.db_path,
                 "SQLite database (default: $XDG_DATA_HOME/attnbench/results.db); a rank of a sharded sweep writes "
                 "FILE with {rank} replaced by its rank, else FILE with .rankR before its extension");
  app.add_flag("--batch", c.batch, "run a sweep headless");
  app.add_option("--events", c.events, "stream progress as JSON lines on stdout: jsonl");
  app.add_flag("--no-progress", c.no_progress, "no progress bar on stderr");
  app.add_option("--resume", c.resume_id, "finish the missing points of run RUN (its own spec: no sweep options)");
  app.add_option("--export-charts", c.batch_outputs.charts, "after the run, draw its charts (PNG, SVG, PDF) into DIR");
  app.add_option("--csv", c.batch_outputs.csv, "after the run, write its points as CSV (- for stdout)");
  app.add_option("--json", c.batch_outputs.json, "after the run, write run and points as JSON (- for stdout)");
  addSweepOptions(app, c.flags);
  addRankOptions(app, c.cluster, kSweepGroup);
  addPoolOptions(app, c.pool, "Worker processes (with --batch or --resume)");
}

void declareVerbs(CommandLine& c) {
  CLI::App& app = c.app;
  app.fallthrough();  // inherited by the verbs: global options such as --db may follow them
  c.models = app.add_subcommand("models", "list the model presets");
  c.presets = app.add_subcommand("presets", "list the sweep presets");
  c.devices = app.add_subcommand("devices", "list devices with their memory hierarchy");
  c.runs = app.add_subcommand("runs", "list the runs in the database");
  c.show = app.add_subcommand("show", "summary of a run");
  c.show->add_option("RUN", c.run_id, "run id")->required();
  c.show->add_flag("--points", c.show_points, "also list every point");
  c.export_run = app.add_subcommand("export", "export a run as CSV and/or JSON");
  c.export_run->add_option("RUN", c.run_id, "run id")->required();
  c.export_run->add_option("--csv", c.export_outputs.csv, "CSV file (- for stdout)");
  c.export_run->add_option("--json", c.export_outputs.json, "JSON file (- for stdout)");
  c.export_run->add_option("--charts", c.export_outputs.charts, "directory for PNG/SVG/PDF charts (GUI build)");
  c.export_run->add_option("--style", c.export_outputs.figure.style,
                           "charts as figures named run<ID>-<chart>: paper (3.3x2.2in, 8 pt, 300 dpi) or screen")
      ->check(CLI::IsMember({"paper", "screen"}));
  c.export_run->add_option("--size", c.export_outputs.figure.size, "figure size, e.g. 3.3x2.2in, 7x3in, 84x56mm");
  c.export_run->add_option("--dpi", c.export_outputs.figure.dpi, "resolution of the PNG figures");
  c.export_run->add_option("--theme", c.export_outputs.figure.theme, "light (default) or dark")
      ->check(CLI::IsMember({"light", "dark"}));
  c.export_run->footer("Example: attnbench export 3 --charts figs --style paper --size 3.3x2.2in --dpi 300 --theme dark\n"
                       "--size, --dpi or --theme without --style start from the screen style.");
  c.compare = app.add_subcommand("compare", "compare runs point by point against the first (ratio of medians)");
  c.compare->add_option("RUNS", c.compared_ids, "run ids: the baseline first, then one or more to compare")
      ->required()
      ->expected(2, 64);
  c.rename = app.add_subcommand("rename", "rename a run");
  c.rename->add_option("RUN", c.run_id, "run id")->required();
  c.rename->add_option("NAME", c.text, "new name")->required();
  c.annotate = app.add_subcommand("annotate", "attach a note to a run");
  c.annotate->add_option("RUN", c.run_id, "run id")->required();
  c.annotate->add_option("NOTE", c.text, "the note")->required();
  c.remove = app.add_subcommand("delete", "delete a run with its points");
  c.remove->add_option("RUN", c.run_id, "run id")->required();
  declareMergeVerb(app, c.cluster);
  app.require_subcommand(0, 1);
}

// Parses argv; the exit code when parsing ended the program (help, version, a parse error).
std::optional<int> parseArguments(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError&) {
    // The extras of whichever command was parsed; the top level's when none was.
    const CLI::App* parsed = &app;
    for (const CLI::App* sub : app.get_subcommands()) parsed = sub;
    std::vector<std::string> extras = parsed->remaining();
    if (extras.empty()) extras = app.remaining();
    std::fprintf(stderr, "attnbench: %s\n", unexpectedArgumentMessage(app, extras).c_str());
    return kExitBadInput;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::fprintf(stderr, "attnbench: %s (see --help)\n", printableText(msg).c_str());
    return kExitBadInput;
  }
  return std::nullopt;
}

// Combinations the parser cannot see: empty values, a verb with sweep flags, sweep flags without
// --batch or beside --resume. InputError naming the offending option.
void checkCombinations(const CommandLine& c) {
  requireNonEmptyValues(c.app);
  for (const CLI::App* sub : c.app.get_subcommands()) requireNonEmptyValues(*sub);
  requireUsableDatabasePath(c.db_path);
  const std::vector<CLI::App*> verbs = c.app.get_subcommands();
  const auto given = givenOptions(c.app);
  const auto sweep_option = std::find_if(given.begin(), given.end(), isSweepOption);
  if (!verbs.empty() && sweep_option != given.end()) {
    throw InputError("'" + verbs.front()->get_name() + "' does not take " + (*sweep_option)->get_name());
  }
  if (c.resume_id) {
    // A resumed run keeps its stored spec: a sweep flag beside --resume would be silently ignored.
    for (const CLI::Option* opt : given) {
      if (opt->get_group() == kSweepGroup) {
        throw InputError("--resume runs the stored spec of run " + printableText(*c.resume_id) + "; drop " +
                         opt->get_name());
      }
    }
  } else if (!c.batch && verbs.empty() && sweep_option != given.end()) {
    throw InputError((*sweep_option)->get_name() + " is a sweep option: add --batch to run the sweep");
  }
}

void showRun(const CommandLine& c) {
  auto store = Store::openReadOnly(c.db_path);
  const RunRecord run = store->requireRun(parseRunId(c.run_id));
  const auto points = store->loadPoints(run.id);
  printRunHeader(std::cout, run);
  printSummaryTable(std::cout, points);
  if (!c.show_points) return;
  for (const auto& p : points) {
    std::cout << "  #" << p.point.index << " " << printableText(p.point.label()) << ": " << statusName(p.status);
    if (p.status == PointStatus::Ok) std::cout << " " << p.stats.median_ms << " ms";
    if (!p.message.empty()) std::cout << " (" << printableText(p.message) << ")";
    std::cout << '\n';
  }
}

void exportRun(const CommandLine& c) {
  const Outputs& outputs = c.export_outputs;
  if (outputs.csv.empty() && outputs.json.empty() && outputs.charts.empty()) {
    throw InputError("export needs --csv FILE, --json FILE or --charts DIR");
  }
  outputs.check(c.db_path, "--csv", "--json", "--charts");
  auto store = Store::openReadOnly(c.db_path);
  const RunRecord run = store->requireRun(parseRunId(c.run_id));
  outputs.write(run, store->loadPoints(run.id));
}

void compareStoredRuns(const CommandLine& c) {
  auto store = Store::openReadOnly(c.db_path);
  std::vector<RunPoints> compared;
  for (const auto& id : c.compared_ids) {
    RunRecord run = store->requireRun(parseRunId(id));
    auto points = store->loadPoints(run.id);
    compared.push_back({std::move(run), std::move(points)});
  }
  printComparison(std::cout, compared);
}

// Renames, annotates or deletes the run `c.run_id`.
void editRun(const CommandLine& c) {
  const std::int64_t id = parseRunId(c.run_id);
  if (*c.remove) {
    Store::openExisting(c.db_path)->deleteRun(id);
    return;
  }
  const bool renaming = c.rename->parsed();
  requireCleanText(c.text, renaming ? "the new name" : "the note");
  if (renaming && c.text.empty()) throw InputError("the new name is empty");
  auto store = Store::openExisting(c.db_path);
  if (renaming) store->renameRun(id, c.text);
  else store->annotateRun(id, c.text);
}

// Runs what the parsed command line asks for; its exit code.
int dispatch(const CommandLine& c) {
  if (*c.models) {
    printModels(std::cout);
  } else if (*c.presets) {
    for (const auto& name : sweepPresetNames()) std::cout << name << ": " << specToJson(sweepPreset(name)).dump() << '\n';
  } else if (*c.devices) {
    printDevices(std::cout);
  } else if (*c.runs) {
    printRuns(std::cout, *Store::openReadOnly(c.db_path));
  } else if (*c.show) {
    showRun(c);
  } else if (*c.export_run) {
    exportRun(c);
  } else if (*c.compare) {
    compareStoredRuns(c);
  } else if (*c.rename || *c.annotate || *c.remove) {
    editRun(c);
  } else if (*c.cluster.merge) {
    return mergeRankDatabases(c.cluster.merge_out, c.cluster.merge_inputs, std::cout);
  } else if (c.batch || c.resume_id) {
    return runSweep(c.flags, c.cluster, c.pool, c.db_path, c.events, c.no_progress, c.resume_id, c.batch_outputs);
  } else {
    std::cout << c.app.help();
  }
  return kExitOk;
}

int runCli(int argc, char** argv) {
  CommandLine c;
  declareTopLevel(c);
  declareVerbs(c);
  if (const std::optional<int> code = parseArguments(c.app, argc, argv)) return *code;
  try {
    checkCombinations(c);
    return dispatch(c);
  } catch (const InputError& e) {
    std::fprintf(stderr, "attnbench: %s\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnbench: error: %s\n", e.what());
    return kExitFailedPoints;
  }
}

}  // namespace

bool wantsWindow(int argc, char** argv) {
  // The window takes --db FILE (or --db=FILE) and one database path, as its desktop file passes it;
  // anything else is for the command line, which answers unknown words with an error.
  bool database_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--db" && i + 1 < argc && argv[i + 1][0] != '\0') {
      ++i;
    } else if (a.rfind("--db=", 0) == 0 && a.size() > 5) {
    } else if (!database_given && !a.empty() && a[0] != '-' && !isVerb(a) && looksLikeDatabasePath(a)) {
      database_given = true;
    } else {
      return false;
    }
  }
  return true;
}

bool displayAvailable() {
  for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return true;
  }
  return false;
}

int reportNoDisplay() {
  std::fprintf(stderr,
               "attnbench: no display for the window (DISPLAY and WAYLAND_DISPLAY are unset); run a command "
               "or --batch instead (see --help)\n");
  return kExitBadInput;
}

int run(int argc, char** argv) {
  // A worker of a pool (worker_pool.h), started by its parent with nothing else on its command line.
  if (argc == 3 && std::strcmp(argv[1], "--pool-worker") == 0) return runPoolWorker(argv[2]);
  return runCli(argc, argv);
}

}  // namespace attnbench::cli
