#include "attnbench/exporters.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "attnbench/comparison.h"
#include "attnbench/result_fields.h"
#include "attnbench/text_checks.h"

namespace attnbench {
namespace {

std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A text cell that a spreadsheet would evaluate (=HYPERLINK(...), +1, -1, @SUM) is kept as text.
std::string csvText(const std::string& s) {
  // A lone "-" (the standard kernel's tile) is no formula; anything longer that starts so may be.
  const bool formula_like = !s.empty() && s != "-" && std::strchr("=+-@\t\r", s.front()) != nullptr;
  return csvField(formula_like ? "'" + s : s);
}

[[noreturn]] void throwWriteError(const std::string& path, int error) {
  throw std::runtime_error("writing '" + printableText(path) + "' failed: " + std::strerror(error));
}

void writeAll(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throwWriteError(path, n < 0 ? errno : ENOSPC);
    done += static_cast<std::size_t>(n);
  }
}

// Closes `fd`; a failed close (NFS, some quotas) is a failed write.
void closeChecked(int fd, const std::string& path) {
  if (::close(fd) != 0 && errno != EINTR) throwWriteError(path, errno);
}

void writeInPlace(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throwWriteError(path, errno);
  try {
    writeAll(fd, bytes, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  closeChecked(fd, path);
}

void writeReplacing(const std::string& path, const std::string& bytes, const struct stat* existing) {
  std::string temp = path + ".XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) throwWriteError(path, errno);
  try {
    // mkstemp creates 0600; give the file the mode it had, or the one a plain create would give.
    mode_t mode = 0;
    if (existing) {
      mode = existing->st_mode & 07777;
    } else {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      mode = 0666 & ~mask;
    }
    if (::fchmod(fd, mode) != 0) throwWriteError(path, errno);
    writeAll(fd, bytes, path);
    if (::fsync(fd) != 0) throwWriteError(path, errno);
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  try {
    closeChecked(fd, path);
    if (::rename(temp.c_str(), path.c_str()) != 0) throwWriteError(path, errno);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Points that describe one attention problem (whatever the kernel and tile).
// What the points of one shape share, whatever their kernel: the workload, the problem and, for decode,
// the cache layout.
using ShapeKey = std::tuple<int, std::string, int, int, int, int, int, int, std::string, bool, int, double, int>;
ShapeKey shapeKey(const SweepPoint& p) {
  return {static_cast<int>(p.workload), p.model.name, p.shape.heads_q, p.shape.heads_kv, p.shape.head_dim,
          p.shape.batch, p.shape.seq_q, p.shape.seq_kv, std::string(kernels::dtypeName(p.shape.dtype)),
          p.shape.causal, p.decode.page_size, p.decode.kv_lens_spread, p.decode.splits};
}

// Pads or truncates to a column width (left-aligned text, right-aligned numbers).
std::string cell(const std::string& s, int width, bool right) {
  std::string t = s.size() > static_cast<std::size_t>(width) ? s.substr(0, static_cast<std::size_t>(width)) : s;
  const std::string pad(static_cast<std::size_t>(width) - t.size(), ' ');
  return right ? pad + t : t + pad;
}

}  // namespace

void writeCsv(std::ostream& out, const std::vector<PointResult>& points, const Provenance& provenance) {
  for (const auto& e : provenance.entries()) out << "# " << printableText(e.key) << ": " << printableText(e.value) << '\n';
  // One column per result field, in their declared order and by their names (result_fields.h).
  const auto fields = resultFields();
  for (std::size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << fields[i].name;
  out << '\n';
  for (const auto& r : points) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const std::string text = fieldText(fields[i].get(r));
      out << (i ? "," : "") << (fields[i].type == FieldType::Text ? csvText(text) : text);
    }
    out << '\n';
  }
}

void writeOutputFile(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::ostringstream text;
  write(text);
  const std::string bytes = text.str();
  if (path == "-") {
    std::cout << bytes;
    std::cout.flush();
    if (!std::cout) throwWriteError("stdout", errno != 0 ? errno : EIO);
    return;
  }
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) writeInPlace(path, bytes);
  else writeReplacing(path, bytes, exists ? &st : nullptr);
}

nlohmann::json runToJson(const RunRecord& run, const std::vector<PointResult>& points) {
  nlohmann::json j = {{"run_id", run.id},
                      {"name", run.name},
                      {"note", run.note},
                      {"status", runStatusName(run.status)},
                      {"host", run.host},
                      {"version", run.version},
                      {"started_at", run.started_at},
                      {"finished_at", run.finished_at},
                      {"provenance", provenanceToJson(run.provenance)},
                      {"device", deviceInfoToJson(run.device)},
                      {"spec", run.spec_json},
                      {"points", nlohmann::json::array()}};
  if (run.shard) {  // a run of a sharded sweep (docs/CLUSTER.md); rank null for the merge of all ranks
    const RunShard& s = *run.shard;
    j["shard"] = {{"sweep_uid", s.sweep_uid},
                  {"rank", s.rank == RunShard::kAllRanks ? nlohmann::json(nullptr) : nlohmann::json(s.rank)},
                  {"world_size", s.world_size}};
  }
  for (const auto& r : points) j["points"].push_back(pointResultToJson(r));
  return j;
}

double ShapeSummary::speedup() const {
  if (!flash || !standard || flash->stats.median_ms <= 0) return 0;
  return standard->stats.median_ms / flash->stats.median_ms;
}

double ShapeSummary::memoryRatio() const {
  if (!flash || !standard || flash->peak_bytes == 0) return 0;
  return static_cast<double>(standard->peak_bytes) / static_cast<double>(flash->peak_bytes);
}

std::vector<ShapeSummary> summarize(const std::vector<PointResult>& points) {
  std::vector<ShapeSummary> out;
  std::map<ShapeKey, std::size_t> index;
  for (const auto& r : points) {
    const ShapeKey key = shapeKey(r.point);
    auto [it, inserted] = index.try_emplace(key, out.size());
    if (inserted) {
      ShapeSummary s;
      s.model = r.point.model.name;
      s.batch = r.point.shape.batch;
      s.seq_len = r.point.shape.seq_kv;
      s.dtype = std::string(kernels::dtypeName(r.point.shape.dtype));
      s.causal = r.point.shape.causal;
      s.point = r.point;
      out.push_back(s);
    }
    ShapeSummary& s = out[it->second];
    if (r.status != PointStatus::Ok) continue;
    switch (r.point.kernel) {
      case KernelKind::Flash:
        if (!s.flash || r.stats.median_ms < s.flash->stats.median_ms) s.flash = &r;
        break;
      case KernelKind::Standard: s.standard = &r; break;
      case KernelKind::Cudnn: s.cudnn = &r; break;
    }
  }
  return out;
}

// Inference runs: one row per shape, flash and standard side by side: time to first token, decode
// ms/token with the KV cache and tokens/s, then flash's speedup of both and the fraction of the copy
// bandwidth flash's decode reaches.
void printInferenceTable(std::ostream& out, const std::vector<PointResult>& points) {
  out << cell("model", 20, false) << cell("B", 3, true) << cell("N", 8, true) << ' ' << cell("dtype", 6, false);
  for (const char* kernel : {"flash", "std"}) {
    out << cell(std::string(kernel) + " TTFT ms", 15, true) << cell("ms/token", 10, true) << cell("tokens/s", 10, true);
  }
  out << cell("TTFT speedup", 13, true) << cell("decode speedup", 15, true) << cell("% of copy", 10, true) << '\n';
  const auto ratio = [](const PointResult* flash, const PointResult* standard, auto value) {
    return flash && standard && flash->inference && standard->inference && value(*flash) > 0
               ? fmt("%.2fx", value(*standard) / value(*flash))
               : std::string("-");
  };
  for (const auto& s : summarize(points)) {
    out << cell(printableText(s.model), 20, false) << cell(std::to_string(s.batch), 3, true)
        << cell(std::to_string(s.seq_len), 8, true) << ' ' << cell(s.dtype, 6, false);
    for (const auto& [ok, kind] : {std::pair{s.flash, KernelKind::Flash}, std::pair{s.standard, KernelKind::Standard}}) {
      if (ok && ok->inference) {
        out << cell(fmt("%.2f", ok->inference->ttft_ms), 15, true) << cell(fmt("%.3f", ok->stats.median_ms), 10, true)
            << cell(fmt("%.1f", ok->inference->tokens_per_s), 10, true);
        continue;
      }
      std::string status = "-";
      for (const auto& r : points) {
        if (r.point.kernel == kind && shapeKey(r.point) == shapeKey(s.point)) status = statusName(r.status);
      }
      out << cell(status, 15, true) << cell("", 10, true) << cell("", 10, true);
    }
    out << cell(ratio(s.flash, s.standard, [](const PointResult& r) { return r.inference->ttft_ms; }), 13, true)
        << cell(ratio(s.flash, s.standard, [](const PointResult& r) { return r.stats.median_ms; }), 15, true)
        << cell(s.flash && s.flash->inference && s.flash->inference->decode_copy_fraction > 0
                    ? fmt("%.0f%%", 100 * s.flash->inference->decode_copy_fraction)
                    : "-",
                10, true)
        << '\n';
  }
}

// One row per shape: flash and standard side by side (the seed's comparison), cudnn where it ran. The
// rate is TFLOP/s for attention and GB/s of compulsory traffic for decode (memory-bound); decode rows
// also show the new rows per sequence (q) and flash's split count.
void printSummaryTable(std::ostream& out, const std::vector<PointResult>& points) {
  if (std::any_of(points.begin(), points.end(), [](const PointResult& r) { return r.point.isInference(); })) {
    printInferenceTable(out, points);
    return;
  }
  const bool decode = std::any_of(points.begin(), points.end(), [](const PointResult& r) { return r.point.isDecode(); });
  const bool cudnn = std::any_of(points.begin(), points.end(), [](const PointResult& r) { return r.point.kernel == KernelKind::Cudnn; });
  const char* rate_name = decode ? "GB/s" : "TFLOP/s";
  const auto rate = [decode](const PointResult& r) { return decode ? fmt("%.0f", r.gbps) : fmt("%.2f", r.tflops); };
  out << cell("model", 20, false) << cell("B", 3, true) << cell("N", 8, true);
  if (decode) out << cell("q", 3, true) << cell("splits", 7, true);
  out << ' ' << cell("dtype", 6, false) << cell("causal", 7, false) << cell("flash ms", 11, true) << cell(rate_name, 9, true)
      << cell("std ms", 11, true) << cell(rate_name, 9, true);
  if (cudnn) out << cell("cudnn ms", 11, true) << cell(rate_name, 9, true);
  out << cell("speedup", 9, true) << cell("mem ratio", 10, true) << "  flash peak / std peak\n";
  // A kernel's columns: its median and rate when it ran ok, else why not (skipped, oom, failed).
  auto kernelCells = [&](const ShapeSummary& s, const PointResult* ok, KernelKind kind) {
    if (ok) {
      out << cell(fmt("%.3f", ok->stats.median_ms), 11, true) << cell(rate(*ok), 9, true);
      return;
    }
    std::string status = "-";
    for (const auto& r : points) {
      if (r.point.kernel == kind && shapeKey(r.point) == shapeKey(s.point)) status = statusName(r.status);
    }
    out << cell(status, 11, true) << cell("", 9, true);
  };
  for (const auto& s : summarize(points)) {
    out << cell(printableText(s.model), 20, false) << cell(std::to_string(s.batch), 3, true) << cell(std::to_string(s.seq_len), 8, true);
    if (decode) {
      out << cell(std::to_string(s.point.shape.seq_q), 3, true)
          << cell(s.flash && s.flash->splits > 0 ? std::to_string(s.flash->splits) : "-", 7, true);
    }
    out << ' ' << cell(s.dtype, 6, false) << cell(s.causal ? "yes" : "no", 7, false);
    kernelCells(s, s.flash, KernelKind::Flash);
    kernelCells(s, s.standard, KernelKind::Standard);
    if (cudnn) kernelCells(s, s.cudnn, KernelKind::Cudnn);
    out << cell(s.speedup() > 0 ? fmt("%.2fx", s.speedup()) : "-", 9, true)
        << cell(s.memoryRatio() > 0 ? fmt("%.1fx", s.memoryRatio()) : "-", 10, true) << "  "
        << (s.flash ? formatBytes(s.flash->peak_bytes) : "-") << " / "
        << (s.standard ? formatBytes(s.standard->peak_bytes) : "-") << '\n';
  }
}

void printComparison(std::ostream& out, const std::vector<RunPoints>& runs) {
  const Comparison cmp = compareRuns(runs);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& r = runs[i].run;
    out << (i == 0 ? "baseline" : "compared") << ": run " << r.id << " (" << printableText(r.name) << ", "
        << printableText(r.device.name) << ", " << r.started_at << ")\n";
  }
  const bool decode = std::any_of(cmp.rows.begin(), cmp.rows.end(),
                                  [](const ComparisonRow& row) { return row.workload == Workload::Decode; });
  out << cell("model", 20, false) << cell("B", 3, true) << cell("N", 8, true);
  if (decode) out << cell("q", 3, true);
  out << ' ' << cell("dtype", 6, false) << cell("causal", 7, false) << cell("kernel", 9, false);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const std::string id = std::to_string(runs[i].run.id);
    out << cell("#" + id + " ms", 11, true);
    if (i > 0) out << cell("ratio", 8, true) << "  " << cell("verdict", 7, false);
  }
  out << '\n';
  int matched = 0;
  for (const auto& row : cmp.rows) {
    bool everywhere = true;
    for (const auto& c : row.runs) everywhere = everywhere && c.point != nullptr;
    matched += everywhere;
    out << cell(printableText(row.model), 20, false) << cell(std::to_string(row.batch), 3, true)
        << cell(std::to_string(row.seq_len), 8, true) << (decode ? cell(std::to_string(row.q_len), 3, true) : "")
        << ' ' << cell(row.dtype, 6, false)
        << cell(row.causal ? "yes" : "no", 7, false) << cell(row.kernel, 9, false);
    for (std::size_t i = 0; i < row.runs.size(); ++i) {
      const ComparedPoint& c = row.runs[i];
      out << cell(c.point ? fmt("%.3f", c.point->stats.median_ms) : "-", 11, true);
      if (i > 0) out << cell(c.ratio > 0 ? fmt("%.3f", c.ratio) : "-", 8, true) << "  " << cell(verdictName(c.verdict), 7, false);
    }
    out << '\n';
  }
  out << matched << " matching point(s); ratio = run / baseline (< 1: faster); a verdict other than same needs the "
      << "two runs' median +- std intervals not to overlap\n";
  for (std::size_t i = 1; i < runs.size(); ++i) {
    for (const auto& [kernel, summary] : cmp.summaries[i]) {
      out << "run " << runs[i].run.id << " " << kernel << ": geometric mean ratio " << fmt("%.3f", summary.geomean_ratio)
          << " over " << summary.points << " point(s), " << summary.faster << " faster, " << summary.slower
          << " slower\n";
    }
  }
}

}  // namespace attnbench
