// Shared by the CUDA kernel tests: random inputs rounded to the storage dtype, device buffers that
// are poisoned (NaN) before a run, the fp64 reference on sampled rows and heads, and a Runner that
// runs a candidate kernel next to the standard baseline and measures both against the reference.
//
// The accuracy rule is flash-attention's: on the same inputs, a fused kernel's max error against the
// fp64 reference must stay within twice the standard baseline's (plus a small absolute floor), since
// both round through the same storage type.
#pragma once

#include <gtest/gtest.h>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "attnbench/kernels/attention_params.h"
#include "attnbench/kernels/cuda_attention.h"

namespace attnbench::cuda_test {

using attnbench::kernels::AttentionParams;
using attnbench::kernels::DType;
using attnbench::kernels::TileShape;
using attnbench::kernels::cuda::FlashFamily;
namespace cuda = attnbench::kernels::cuda;


inline bool cudaDeviceAvailable() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return false;
  }
  return count > 0;
}

#define SKIP_WITHOUT_CUDA_DEVICE() \
  if (!cudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device"

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// ---- host tensors -----------------------------------------------------------------------------

// Logical [B, H, N, D] values, already rounded to the storage dtype.
struct HostTensor {
  int batch = 0, heads = 0, rows = 0, dim = 0;
  std::vector<float> values;
  float at(int b, int h, int n, int d) const {
    return values[((static_cast<std::size_t>(b) * heads + h) * rows + n) * dim + d];
  }
};

using Strides = attnbench::kernels::TensorStrides;
using attnbench::kernels::interleavedBnhdStrides;
using attnbench::kernels::packedBhndStrides;

inline float roundToStorage(float x, DType dtype) {
  switch (dtype) {
    case DType::F16: return __half2float(__float2half_rn(x));
    case DType::BF16: return __bfloat162float(__float2bfloat16_rn(x));
    case DType::F32: return x;
  }
  return x;
}

inline HostTensor randomTensor(int batch, int heads, int rows, int dim, DType dtype, std::mt19937_64& rng) {
  HostTensor t{batch, heads, rows, dim, {}};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  t.values.resize(static_cast<std::size_t>(batch) * heads * rows * dim);
  for (float& x : t.values) x = roundToStorage(normal(rng), dtype);
  return t;
}

inline std::size_t extentElements(const HostTensor& t, Strides s) {
  return static_cast<std::size_t>((t.batch - 1) * s.batch + (t.heads - 1) * s.head + (t.rows - 1) * s.row + t.dim);
}

// The storage bytes of `t` laid out with strides `s`.
inline std::vector<unsigned char> encode(const HostTensor& t, Strides s, DType dtype) {
  const std::size_t element = static_cast<std::size_t>(attnbench::kernels::bytesPerElement(dtype));
  std::vector<unsigned char> bytes(extentElements(t, s) * element);
  for (int b = 0; b < t.batch; ++b) {
    for (int h = 0; h < t.heads; ++h) {
      for (int n = 0; n < t.rows; ++n) {
        for (int d = 0; d < t.dim; ++d) {
          const float x = t.at(b, h, n, d);
          unsigned char* to = bytes.data() + static_cast<std::size_t>(b * s.batch + h * s.head + n * s.row + d) * element;
          if (dtype == DType::F16) {
            const __half value = __float2half_rn(x);
            std::memcpy(to, &value, 2);
          } else if (dtype == DType::BF16) {
            const __nv_bfloat16 value = __float2bfloat16_rn(x);
            std::memcpy(to, &value, 2);
          } else {
            std::memcpy(to, &x, 4);
          }
        }
      }
    }
  }
  return bytes;
}

inline float decodeElement(const unsigned char* from, DType dtype) {
  if (dtype == DType::F16) {
    __half_raw raw;
    std::memcpy(&raw.x, from, 2);
    return __half2float(__half(raw));
  }
  if (dtype == DType::BF16) {
    __nv_bfloat16_raw raw;
    std::memcpy(&raw.x, from, 2);
    return __bfloat162float(__nv_bfloat16(raw));
  }
  float value;
  std::memcpy(&value, from, 4);
  return value;
}

// ---- device buffers ---------------------------------------------------------------------------

class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&data_, std::max<std::size_t>(bytes, 16)) != cudaSuccess) data_ = nullptr;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(data_); }

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  bool upload(const std::vector<unsigned char>& host) const {
    return data_ != nullptr && cudaMemcpy(data_, host.data(), host.size(), cudaMemcpyHostToDevice) == cudaSuccess;
  }
  std::vector<unsigned char> download() const {
    std::vector<unsigned char> host(bytes_);
    if (cudaMemcpy(host.data(), data_, bytes_, cudaMemcpyDeviceToHost) != cudaSuccess) host.clear();
    return host;
  }
  bool poison() const { return cudaMemset(data_, 0xff, bytes_) == cudaSuccess; }  // NaN in fp16, bf16 and fp32

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

inline cublasHandle_t sharedCublas() {
  static cublasHandle_t handle = [] {
    cublasHandle_t created = nullptr;
    if (cublasCreate(&created) != CUBLAS_STATUS_SUCCESS) return static_cast<cublasHandle_t>(nullptr);
    return created;
  }();
  return handle;
}

// ---- the fp64 reference -----------------------------------------------------------------------

struct ReferenceRow {
  std::vector<double> out;  // D values
  double lse = kNegInf;     // natural log; -inf where the row sees no key
};

inline int visibleKeys(int query, int seq_q, int seq_kv, bool causal) {
  if (!causal) return seq_kv;
  return std::clamp(query + seq_kv - seq_q + 1, 0, seq_kv);
}

inline ReferenceRow referenceRow(const HostTensor& q, const HostTensor& k, const HostTensor& v, int b, int h, int row,
                          int group, double scale, bool causal) {
  const int h_kv = h / group;
  const int dim = q.dim;
  const int visible = visibleKeys(row, q.rows, k.rows, causal);
  ReferenceRow result{std::vector<double>(static_cast<std::size_t>(dim), 0.0), kNegInf};
  if (visible == 0) return result;
  std::vector<double> scores(static_cast<std::size_t>(visible));
  double max = kNegInf;
  for (int j = 0; j < visible; ++j) {
    double dot = 0.0;
    for (int d = 0; d < dim; ++d) dot += static_cast<double>(q.at(b, h, row, d)) * k.at(b, h_kv, j, d);
    scores[static_cast<std::size_t>(j)] = dot * scale;
    max = std::max(max, scores[static_cast<std::size_t>(j)]);
  }
  double sum = 0.0;
  for (int j = 0; j < visible; ++j) {
    const double p = std::exp(scores[static_cast<std::size_t>(j)] - max);
    sum += p;
    for (int d = 0; d < dim; ++d) result.out[static_cast<std::size_t>(d)] += p * v.at(b, h_kv, j, d);
  }
  for (double& x : result.out) x /= sum;
  result.lse = max + std::log(sum);
  return result;
}

// Rows checked per head: all of a short sequence; else the first and last 8 (the causal edges) and
// 40 spread between them.
inline std::vector<int> sampleRows(int seq_q) {
  std::vector<int> rows;
  if (seq_q <= 64) {
    for (int i = 0; i < seq_q; ++i) rows.push_back(i);
    return rows;
  }
  for (int i = 0; i < 8; ++i) rows.push_back(i);
  for (int i = 0; i < 40; ++i) rows.push_back(8 + static_cast<int>(static_cast<std::int64_t>(i) * (seq_q - 16) / 40));
  for (int i = seq_q - 8; i < seq_q; ++i) rows.push_back(i);
  return rows;
}

// (batch, head) pairs checked: all of a small problem, else the corners and two heads in between.
inline std::vector<std::pair<int, int>> sampleHeads(int batch, int heads) {
  std::vector<std::pair<int, int>> picked;
  if (batch * heads <= 8) {
    for (int b = 0; b < batch; ++b) {
      for (int h = 0; h < heads; ++h) picked.emplace_back(b, h);
    }
    return picked;
  }
  picked = {{0, 0}, {0, heads / 2 + 1}, {batch - 1, heads / 3}, {batch - 1, heads - 1}};
  return picked;
}

// ---- one comparison run -----------------------------------------------------------------------

struct AttentionCase {
  int batch = 1, heads_q = 2, heads_kv = 1, seq_q = 128, seq_kv = 128, head_dim = 128;
  bool causal = false;
  DType dtype = DType::F16;
  TileShape tile{};
  bool interleaved = false;  // [B, N, H, D] strides instead of packed [B, H, N, D]
  FlashFamily family = FlashFamily::Auto;  // the flash family under test (Auto: the device's choice)

  std::string name() const {
    std::string s = std::string(attnbench::kernels::dtypeName(dtype)) + "_d" + std::to_string(head_dim) + "_" +
                    (tile.isAuto() ? std::string("auto") : std::to_string(tile.rows) + "x" + std::to_string(tile.cols)) +
                    (causal ? "_causal" : "_full") + "_q" + std::to_string(seq_q) + "_k" + std::to_string(seq_kv) +
                    "_b" + std::to_string(batch) + "_h" + std::to_string(heads_q) + "x" + std::to_string(heads_kv);
    if (family != FlashFamily::Auto) s = std::string(cuda::flashFamilyName(family)) + "_" + s;
    return interleaved ? s + "_bnhd" : s;
  }
};

// The case's name as a parameterized test's suffix.
inline std::string caseName(const ::testing::TestParamInfo<AttentionCase>& info) { return info.param.name(); }

// A case of the given problem; tile and family stay at their defaults unless given.
inline AttentionCase makeCase(int batch, int heads_q, int heads_kv, int seq_q, int seq_kv, int head_dim, bool causal,
                              DType dtype, bool interleaved = false, FlashFamily family = FlashFamily::Auto) {
  AttentionCase c;
  c.batch = batch;
  c.heads_q = heads_q;
  c.heads_kv = heads_kv;
  c.seq_q = seq_q;
  c.seq_kv = seq_kv;
  c.head_dim = head_dim;
  c.causal = causal;
  c.dtype = dtype;
  c.interleaved = interleaved;
  c.family = family;
  return c;
}

// Every tile tiles_for(head dim) of a flash family, for head dims 64/128/256 and both 16-bit dtypes,
// causal and not, at each (square) length: the lengths put the sequence ends around the tile edges.
template <class TilesFor>
std::vector<AttentionCase> tileSweepCases(FlashFamily family, TilesFor&& tiles_for, const std::vector<int>& lengths) {
  std::vector<AttentionCase> cases;
  for (const DType dtype : {DType::F16, DType::BF16}) {
    for (const int head_dim : {64, 128, 256}) {
      for (const TileShape tile : tiles_for(head_dim)) {
        for (const bool causal : {false, true}) {
          for (const int n : lengths) {
            AttentionCase c = makeCase(1, 2, 1, n, n, head_dim, causal, dtype, false, family);
            c.tile = tile;
            cases.push_back(c);
          }
        }
      }
    }
  }
  return cases;
}

struct Outcome {
  double candidate_error = 0.0;  // max |candidate - reference| over the sampled rows
  double standard_error = 0.0;   // max |standard - reference| over the same rows
  double lse_error = 0.0;        // max |candidate LSE - reference LSE| over sampled rows that see a key
  bool masked_rows_ok = true;    // rows that see no key: LSE -inf and O exactly 0
  bool all_written = true;       // no poison (NaN) left in the candidate's O (and LSE where asked)
  bool standard_written = true;
};

// The kernel under test: writes O (and LSE where params.lse is set) for `params`, synchronously or on
// the default stream.
using Candidate = std::function<cudaError_t(const AttentionParams&)>;

class Runner {
 public:
  explicit Runner(const AttentionCase& c) : c_(c) {
    std::mt19937_64 rng(std::hash<std::string>{}(c.name()));
    q_ = randomTensor(c.batch, c.heads_q, c.seq_q, c.head_dim, c.dtype, rng);
    k_ = randomTensor(c.batch, c.heads_kv, c.seq_kv, c.head_dim, c.dtype, rng);
    v_ = randomTensor(c.batch, c.heads_kv, c.seq_kv, c.head_dim, c.dtype, rng);
    const auto strides = [&](int heads, int rows) {
      return c.interleaved ? interleavedBnhdStrides(heads, rows, c.head_dim) : packedBhndStrides(heads, rows, c.head_dim);
    };
    q_strides_ = strides(c.heads_q, c.seq_q);
    kv_strides_ = strides(c.heads_kv, c.seq_kv);

    attnbench::kernels::setShape(
        params_, {c.batch, c.heads_q, c.heads_kv, c.seq_q, c.seq_kv, c.head_dim, c.causal, c.dtype});
    attnbench::kernels::setStrides(params_, q_strides_, kv_strides_);
  }

  const AttentionParams& params() const { return params_; }

  // Runs `candidate` (none: only the baseline) with or without LSE, and the standard baseline for
  // the error budget, and measures both.
  Outcome run(const Candidate& candidate, bool with_lse = true) {
    const bool with_candidate = static_cast<bool>(candidate);
    Outcome outcome;
    const std::size_t element = static_cast<std::size_t>(attnbench::kernels::bytesPerElement(c_.dtype));
    const std::size_t out_bytes = extentElements(q_, q_strides_) * element;
    const std::size_t lse_count = static_cast<std::size_t>(c_.batch) * c_.heads_q * c_.seq_q;
    DeviceBuffer q(out_bytes), k(extentElements(k_, kv_strides_) * element), v(extentElements(v_, kv_strides_) * element);
    DeviceBuffer o_candidate(out_bytes), o_standard(out_bytes), lse(lse_count * sizeof(float));
    DeviceBuffer workspace(cuda::standardWorkspaceBytes(params_));
    EXPECT_TRUE(q.upload(encode(q_, q_strides_, c_.dtype)));
    EXPECT_TRUE(k.upload(encode(k_, kv_strides_, c_.dtype)));
    EXPECT_TRUE(v.upload(encode(v_, kv_strides_, c_.dtype)));
    EXPECT_TRUE(o_candidate.poison() && o_standard.poison() && lse.poison());

    AttentionParams p = params_;
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();
    p.lse = with_lse ? static_cast<float*>(lse.data()) : nullptr;
    if (with_candidate) {
      p.o = o_candidate.data();
      EXPECT_EQ(candidate(p), cudaSuccess);
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    }
    p.o = o_standard.data();
    cublasStatus_t cublas_status = CUBLAS_STATUS_SUCCESS;
    EXPECT_EQ(cublasSetStream(sharedCublas(), nullptr), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cuda::standardAttention(p, workspace.data(), sharedCublas(), nullptr, &cublas_status), cudaSuccess)
        << "cuBLAS status " << cublas_status;
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);

    const auto candidate_bytes = o_candidate.download();
    const auto standard_bytes = o_standard.download();
    std::vector<float> lse_values(lse_count);
    EXPECT_EQ(cudaMemcpy(lse_values.data(), lse.data(), lse_count * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);

    const auto output = [&](const std::vector<unsigned char>& bytes, int b, int h, int n, int d) {
      const std::int64_t index = b * q_strides_.batch + h * q_strides_.head + n * q_strides_.row + d;
      return decodeElement(bytes.data() + static_cast<std::size_t>(index) * element, c_.dtype);
    };
    for (int b = 0; b < c_.batch; ++b) {
      for (int h = 0; h < c_.heads_q; ++h) {
        for (int n = 0; n < c_.seq_q; ++n) {
          for (int d = 0; d < c_.head_dim; ++d) {
            if (with_candidate && std::isnan(output(candidate_bytes, b, h, n, d))) outcome.all_written = false;
            if (std::isnan(output(standard_bytes, b, h, n, d))) outcome.standard_written = false;
          }
          if (with_candidate && with_lse && std::isnan(lse_values[(static_cast<std::size_t>(b) * c_.heads_q + h) * c_.seq_q + n])) {
            outcome.all_written = false;
          }
        }
      }
    }

    const int group = c_.heads_q / c_.heads_kv;
    for (const auto& [b, h] : sampleHeads(c_.batch, c_.heads_q)) {
      for (const int n : sampleRows(c_.seq_q)) {
        const ReferenceRow ref = referenceRow(q_, k_, v_, b, h, n, group, params_.softmax_scale, c_.causal);
        for (int d = 0; d < c_.head_dim; ++d) {
          const double expected = ref.out[static_cast<std::size_t>(d)];
          outcome.standard_error = std::max(outcome.standard_error, std::abs(output(standard_bytes, b, h, n, d) - expected));
          if (with_candidate) {
            const double got = output(candidate_bytes, b, h, n, d);
            outcome.candidate_error = std::max(outcome.candidate_error, std::abs(got - expected));
            if (ref.lse == kNegInf && got != 0.0) outcome.masked_rows_ok = false;
          }
        }
        if (!with_candidate || !with_lse) continue;
        const double lse_got = lse_values[(static_cast<std::size_t>(b) * c_.heads_q + h) * c_.seq_q + n];
        if (ref.lse == kNegInf) {
          if (lse_got != kNegInf) outcome.masked_rows_ok = false;
        } else {
          outcome.lse_error = std::max(outcome.lse_error, std::abs(lse_got - ref.lse));
        }
      }
    }
    return outcome;
  }

 private:
  AttentionCase c_;
  HostTensor q_, k_, v_;
  Strides q_strides_{}, kv_strides_{};
  AttentionParams params_;
};

// Absolute slack on top of "2x the baseline": a few output ulps, for rows where both are exact.
inline double errorFloor(DType dtype) { return dtype == DType::BF16 ? 4e-3 : 5e-4; }
// A gross bound that also catches a baseline broken the same way as the kernel under test.
inline double grossBound(DType dtype) { return dtype == DType::BF16 ? 6e-2 : 1e-2; }

// The accuracy rule on a candidate's outcome: everything written, rows that see no key exact, error
// within twice the standard baseline's (and a gross bound), LSE close where the run asked for it (its
// error stays 0 otherwise). `candidate` names the kernel in messages and in the recorded properties.
inline void expectCandidateMatches(const Outcome& outcome, DType dtype, const std::string& candidate) {
  EXPECT_TRUE(outcome.all_written) << candidate << " left poisoned (unwritten) elements in O or LSE";
  EXPECT_TRUE(outcome.standard_written) << "standard left poisoned (unwritten) elements in O";
  EXPECT_TRUE(outcome.masked_rows_ok) << "a row that sees no key must give O = 0 and LSE = -inf";
  EXPECT_LE(outcome.candidate_error, 2.0 * outcome.standard_error + errorFloor(dtype))
      << "standard error " << outcome.standard_error;
  EXPECT_LE(outcome.candidate_error, grossBound(dtype));
  EXPECT_LE(outcome.lse_error, 2e-3);
  ::testing::Test::RecordProperty(candidate + "_error", std::to_string(outcome.candidate_error));
  ::testing::Test::RecordProperty("standard_error", std::to_string(outcome.standard_error));
}

// Flash of the case's family against the reference, within twice the standard baseline's error.
inline void expectFlashMatches(const AttentionCase& c) {
  Runner runner(c);
  const cuda::DeviceTraits device = cuda::queryDeviceTraits(0);
  const std::string reason = cuda::flashUnsupportedReason(runner.params(), c.tile, device, c.family);
  if (!reason.empty()) GTEST_SKIP() << "unsupported here: " << reason;
  expectCandidateMatches(
      runner.run([&](const AttentionParams& p) { return cuda::flashForward(p, c.tile, nullptr, c.family); }), c.dtype,
      "flash");
}

}  // namespace attnbench::cuda_test
