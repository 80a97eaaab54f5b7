// Correctness against an fp64 reference on a subsample of (batch, head, row), with the bar set by
// flash-attention's rule: a kernel's error may be at most twice that of standard attention computed
// at the storage precision (emulated here on the same rows), plus a small floor.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "attnbench/runner.h"
#include "host_tensors.h"

namespace attnbench {
namespace {

constexpr int kMaxHeadsChecked = 3;
constexpr int kMaxRowsChecked = 48;

// Absolute floor of the tolerance: summation order alone moves results by about this much.
double toleranceFloor(DType dtype) {
  switch (dtype) {
    case DType::F32: return 1e-5;
    case DType::F16: return 1e-4;
    case DType::BF16: return 1e-3;
  }
  return 1e-3;
}

struct RowErrors {
  double kernel = 0;     // max |kernel - fp64|
  double emulated = 0;   // max |standard-at-storage-precision - fp64|
  double reference = 0;  // max |fp64|
  bool finite = true;
};

// One query row: fp64 reference, emulated low-precision standard attention, and the kernel's row.
RowErrors checkRow(const kernels::AttentionShape& s, const float* q, const std::vector<float>& k, const std::vector<float>& v,
                   const float* o, int row) {
  const int d = s.head_dim;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  // Bottom-right aligned causal mask: key j is visible when j <= row + (Nk - Nq).
  const int visible = s.causal ? std::clamp(row + 1 + (s.seq_kv - s.seq_q), 0, s.seq_kv) : s.seq_kv;
  RowErrors e;
  if (visible == 0) {
    for (int c = 0; c < d; ++c) e.kernel = std::max(e.kernel, std::abs(static_cast<double>(o[c])));
    e.finite = std::all_of(o, o + d, [](float x) { return std::isfinite(x); });
    return e;
  }
  std::vector<double> s64(static_cast<std::size_t>(visible));
  std::vector<float> s_low(static_cast<std::size_t>(visible));
  double max64 = -std::numeric_limits<double>::infinity();
  float max_low = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < visible; ++j) {
    const float* kj = &k[static_cast<std::size_t>(j) * d];
    double acc64 = 0;
    float acc32 = 0;
    for (int c = 0; c < d; ++c) {
      acc64 += static_cast<double>(q[c]) * kj[c];
      acc32 += q[c] * kj[c];
    }
    s64[j] = acc64 * scale;
    s_low[j] = roundToDType(acc32 * static_cast<float>(scale), s.dtype);  // S stored in the dtype
    max64 = std::max(max64, s64[j]);
    max_low = std::max(max_low, s_low[j]);
  }
  double sum64 = 0;
  float sum_low = 0;
  for (int j = 0; j < visible; ++j) {
    s64[j] = std::exp(s64[j] - max64);
    sum64 += s64[j];
    s_low[j] = std::exp(s_low[j] - max_low);
    sum_low += s_low[j];
  }
  for (int j = 0; j < visible; ++j) s_low[j] = roundToDType(s_low[j] / sum_low, s.dtype);  // P stored in the dtype
  for (int c = 0; c < d; ++c) {
    double ref = 0;
    float low = 0;
    for (int j = 0; j < visible; ++j) {
      const float vj = v[static_cast<std::size_t>(j) * d + c];
      ref += s64[j] * vj;
      low += s_low[j] * vj;
    }
    ref /= sum64;
    low = roundToDType(low, s.dtype);
    if (!std::isfinite(o[c])) e.finite = false;
    e.kernel = std::max(e.kernel, std::abs(static_cast<double>(o[c]) - ref));
    e.emulated = std::max(e.emulated, std::abs(static_cast<double>(low) - ref));
    e.reference = std::max(e.reference, std::abs(ref));
  }
  return e;
}

}  // namespace

CorrectnessResult checkCorrectness(PreparedPoint& prepared, const kernels::AttentionShape& s, std::uint64_t seed,
                                   std::optional<double> baseline_error) {
  if (const std::vector<PreparedPart> parts = prepared.parts(); !parts.empty()) {
    // Each part against its own reference; the point passes when every part does, and reports the
    // part furthest over (or nearest to) its tolerance.
    CorrectnessResult worst;
    std::int64_t rows = 0, unwritten = 0;
    bool passed = true, first = true;
    for (const PreparedPart& part : parts) {
      const CorrectnessResult r = checkCorrectness(*part.point, part.shape, seed, baseline_error);
      rows += r.checked_rows;
      unwritten += r.unwritten;
      passed = passed && r.passed;
      if (first || r.max_abs_error - r.tolerance > worst.max_abs_error - worst.tolerance) worst = r;
      first = false;
    }
    worst.checked_rows = rows;
    worst.unwritten = unwritten;
    worst.passed = passed;
    return worst;
  }
  CorrectnessResult result;
  result.unwritten = prepared.countUnwrittenOutputs();

  std::mt19937_64 rng(seed ^ 0xC0FFEEULL);
  // Heads: the first and last (batch, head), plus one drawn at random.
  std::set<std::pair<int, int>> heads = {{0, 0}, {s.batch - 1, s.heads_q - 1}};
  heads.insert({static_cast<int>(rng() % static_cast<unsigned>(s.batch)), static_cast<int>(rng() % static_cast<unsigned>(s.heads_q))});
  // Rows: all of them for short sequences, else the first, the last and random ones between.
  std::set<int> rows;
  if (s.seq_q <= kMaxRowsChecked) {
    for (int r = 0; r < s.seq_q; ++r) rows.insert(r);
  } else {
    rows = {0, s.seq_q - 1};
    while (static_cast<int>(rows.size()) < kMaxRowsChecked) rows.insert(static_cast<int>(rng() % static_cast<unsigned>(s.seq_q)));
  }

  double kernel_err = 0, emulated_err = 0, ref_max = 0;
  bool finite = true;
  int checked_heads = 0;
  for (const auto& [b, h] : heads) {
    if (checked_heads++ == kMaxHeadsChecked) break;
    const int kv_head = h / (s.heads_q / s.heads_kv);
    // This sequence's problem: a decode batch may be ragged, each sequence with its own cache length.
    kernels::AttentionShape sequence = s;
    sequence.seq_kv = prepared.kvLength(b);
    const std::vector<float> k = prepared.readRows(TensorId::K, b, kv_head, 0, sequence.seq_kv);
    const std::vector<float> v = prepared.readRows(TensorId::V, b, kv_head, 0, sequence.seq_kv);
    // Reads stay on this thread (the device API is called from one place); the fp64 rows, which cost
    // N*D each and dominate a long-sequence check, are spread over the hardware threads.
    const std::vector<int> row_list(rows.begin(), rows.end());
    std::vector<std::vector<float>> q(row_list.size()), o(row_list.size());
    for (std::size_t i = 0; i < row_list.size(); ++i) {
      q[i] = prepared.readRows(TensorId::Q, b, h, row_list[i], 1);
      o[i] = prepared.readRows(TensorId::O, b, h, row_list[i], 1);
    }
    std::vector<RowErrors> errors(row_list.size());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t i = next++; i < row_list.size(); i = next++) {
        errors[i] = checkRow(sequence, q[i].data(), k, v, o[i].data(), row_list[i]);
      }
    };
    const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, static_cast<unsigned>(row_list.size()));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    for (const RowErrors& e : errors) {
      kernel_err = std::max(kernel_err, e.kernel);
      emulated_err = std::max(emulated_err, e.emulated);
      ref_max = std::max(ref_max, e.reference);
      finite = finite && e.finite;
      ++result.checked_rows;
    }
  }
  result.max_abs_error = finite ? kernel_err : std::numeric_limits<double>::infinity();
  result.max_rel_error = ref_max > 0 ? result.max_abs_error / ref_max : result.max_abs_error;
  result.reference_error = baseline_error.value_or(emulated_err);
  result.tolerance = 2.0 * result.reference_error + toleranceFloor(s.dtype);
  result.passed = finite && result.unwritten == 0 && result.max_abs_error <= result.tolerance;
  return result;
}

}  // namespace attnbench
