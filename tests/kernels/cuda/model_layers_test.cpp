// The engine's small CUDA kernels against plain host computations in double (the CPU layers for the
// rotary embedding); outputs are poisoned first, so an element the kernel never writes shows as NaN.
#include <gtest/gtest.h>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "attnbench/kernels/cuda_model_layers.h"
#include "attnbench/kernels/model_layers.h"

namespace {

namespace kc = attnbench::kernels::cuda;
using attnbench::kernels::DType;

bool haveGpu() {
  int count = 0;
  const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  (void)cudaGetLastError();
  return ok;
}

// fp16 device buffer filled from host floats (rounded), read back as floats.
struct HalfBuffer {
  explicit HalfBuffer(std::size_t n) : count(n) {
    EXPECT_EQ(cudaMalloc(&ptr, n * 2), cudaSuccess);
    EXPECT_EQ(cudaMemset(ptr, 0xFF, n * 2), cudaSuccess);  // NaN poison
  }
  HalfBuffer(const std::vector<float>& values) : HalfBuffer(values.size()) { upload(values); }
  ~HalfBuffer() { cudaFree(ptr); }
  HalfBuffer(const HalfBuffer&) = delete;
  HalfBuffer& operator=(const HalfBuffer&) = delete;
  void upload(const std::vector<float>& values) {
    std::vector<__half> h(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) h[i] = __float2half(values[i]);
    EXPECT_EQ(cudaMemcpy(ptr, h.data(), h.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<float> download() const {
    std::vector<__half> h(count);
    EXPECT_EQ(cudaMemcpy(h.data(), ptr, count * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i) out[i] = __half2float(h[i]);
    return out;
  }
  void* ptr = nullptr;
  std::size_t count = 0;
};

// Values already rounded to fp16, so that host references see exactly what the device sees.
std::vector<float> randomHalves(std::size_t n, float scale, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = __half2float(__float2half(dist(gen)));
  return v;
}

void expectClose(const std::vector<float>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << ": element " << i << " not written";
    worst = std::max(worst, std::fabs(got[i] - want[i]) / (1.0 + std::fabs(want[i])));
  }
  EXPECT_LT(worst, tol) << what;
}

TEST(CudaModelLayers, SkinnyLinearMatchesDoubleForEveryRowCount) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const int in = 1032, out = 777;  // neither a multiple of the warp's stride nor of the block's rows
  const auto w = randomHalves(static_cast<std::size_t>(out) * in, 0.05f, 1);
  for (const int rows : {1, 3, 8}) {
    const auto x = randomHalves(static_cast<std::size_t>(rows) * in, 1.0f, 2 + rows);
    const auto y0 = randomHalves(static_cast<std::size_t>(rows) * out, 1.0f, 20 + rows);
    std::vector<double> product(static_cast<std::size_t>(rows) * out, 0.0);
    for (int r = 0; r < rows; ++r)
      for (int o = 0; o < out; ++o)
        for (int i = 0; i < in; ++i) product[r * out + o] += static_cast<double>(x[r * in + i]) * w[static_cast<std::size_t>(o) * in + i];
    HalfBuffer dx(x), dw(w), dy(product.size());
    ASSERT_EQ(kc::skinnyLinear(dx.ptr, rows, in, dw.ptr, out, dy.ptr, DType::F16, false, DType::F16, nullptr), cudaSuccess);
    expectClose(dy.download(), product, 2e-3, "y = x w^T");
    dy.upload(y0);
    ASSERT_EQ(kc::skinnyLinear(dx.ptr, rows, in, dw.ptr, out, dy.ptr, DType::F16, true, DType::F16, nullptr), cudaSuccess);
    std::vector<double> accumulated(product);
    for (std::size_t i = 0; i < accumulated.size(); ++i) accumulated[i] += y0[i];
    expectClose(dy.download(), accumulated, 2e-3, "y += x w^T");
    float* logits = nullptr;
    ASSERT_EQ(cudaMalloc(&logits, product.size() * 4), cudaSuccess);
    ASSERT_EQ(cudaMemset(logits, 0xFF, product.size() * 4), cudaSuccess);
    ASSERT_EQ(kc::skinnyLinear(dx.ptr, rows, in, dw.ptr, out, logits, DType::F32, false, DType::F16, nullptr), cudaSuccess);
    std::vector<float> got(product.size());
    ASSERT_EQ(cudaMemcpy(got.data(), logits, got.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(logits);
    expectClose(got, product, 1e-5, "fp32 output");
  }
  HalfBuffer dx(std::vector<float>(16, 1.0f)), dw(std::vector<float>(16, 1.0f)), dy(2);
  EXPECT_EQ(kc::skinnyLinear(dx.ptr, 9, 8, dw.ptr, 2, dy.ptr, DType::F16, false, DType::F16, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(kc::skinnyLinear(dx.ptr, 1, 12, dw.ptr, 1, dy.ptr, DType::F16, false, DType::F16, nullptr), cudaErrorInvalidValue);
}

TEST(CudaModelLayers, RmsNormSwigluEmbedding) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const int rows = 5, dim = 4100, ffn = 3000, vocab = 50;
  const auto x = randomHalves(static_cast<std::size_t>(rows) * dim, 2.0f, 3);
  const auto weight = randomHalves(dim, 1.0f, 4);
  std::vector<double> normed(x.size());
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (int i = 0; i < dim; ++i) normed[r * dim + i] = x[r * dim + i] * inv * weight[i];
  }
  HalfBuffer dx(x), dweight(weight), dout(x.size());
  ASSERT_EQ(kc::rmsNorm(dx.ptr, dim, dweight.ptr, rows, dim, 1e-5f, dout.ptr, dim, DType::F16, nullptr), cudaSuccess);
  expectClose(dout.download(), normed, 4e-3, "rmsNorm");

  const auto gate_up = randomHalves(static_cast<std::size_t>(rows) * 2 * ffn, 2.0f, 5);
  std::vector<double> act(static_cast<std::size_t>(rows) * ffn);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < ffn; ++j) {
      const double g = gate_up[r * 2 * ffn + j];
      act[r * ffn + j] = g / (1 + std::exp(-g)) * gate_up[r * 2 * ffn + ffn + j];
    }
  HalfBuffer dgu(gate_up), dact(act.size());
  ASSERT_EQ(kc::swiglu(dgu.ptr, rows, ffn, dact.ptr, DType::F16, nullptr), cudaSuccess);
  expectClose(dact.download(), act, 2e-3, "swiglu");

  const auto table = randomHalves(static_cast<std::size_t>(vocab) * dim, 1.0f, 6);
  const std::vector<std::int32_t> ids = {7, 0, 49, 7, 13};
  std::int32_t* dids = nullptr;
  ASSERT_EQ(cudaMalloc(&dids, ids.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dids, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  HalfBuffer dtable(table), demb(static_cast<std::size_t>(rows) * dim);
  ASSERT_EQ(kc::embeddingLookup(dtable.ptr, dim, dids, rows, demb.ptr, DType::F16, nullptr), cudaSuccess);
  std::vector<double> rows_want;
  for (const auto id : ids) rows_want.insert(rows_want.end(), table.begin() + id * dim, table.begin() + (id + 1) * dim);
  expectClose(demb.download(), rows_want, 0.0 + 1e-12, "embedding");
  cudaFree(dids);
}

TEST(CudaModelLayers, RotaryAppendMatchesTheCpuLayer) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  kc::RotaryAppendParams p;
  p.batch = 2;
  p.new_tokens = 3;
  p.heads_q = 4;
  p.heads_kv = 2;
  p.head_dim = 64;
  p.max_tokens = 4000;
  p.first_position = 3990;  // long positions: angles must agree in fp32 as Hugging Face rounds them
  p.theta = 500000.0f;
  p.dtype = DType::F16;
  const int width = (p.heads_q + 2 * p.heads_kv) * p.head_dim;
  const auto qkv = randomHalves(static_cast<std::size_t>(p.batch) * p.new_tokens * width, 1.0f, 7);
  const std::size_t cache = static_cast<std::size_t>(p.batch) * p.heads_kv * p.max_tokens * p.head_dim;
  HalfBuffer dqkv(qkv), dk(cache), dv(cache);
  p.qkv = dqkv.ptr;
  p.k_cache = dk.ptr;
  p.v_cache = dv.ptr;
  ASSERT_EQ(kc::rotaryAppendKv(p, nullptr), cudaSuccess);

  std::vector<float> rotated(qkv);
  for (int b = 0; b < p.batch; ++b) {
    attnbench::kernels::cpu::applyRotary(rotated.data() + static_cast<std::size_t>(b) * p.new_tokens * width, p.new_tokens,
                                         p.heads_q + p.heads_kv, p.head_dim, width, p.first_position, p.theta);
  }
  const auto got_qkv = dqkv.download();
  const auto got_k = dk.download();
  const auto got_v = dv.download();
  double worst = 0;
  int checked = 0;
  for (int b = 0; b < p.batch; ++b) {
    for (int t = 0; t < p.new_tokens; ++t) {
      const std::size_t row = (static_cast<std::size_t>(b) * p.new_tokens + t) * width;
      for (int i = 0; i < p.heads_q * p.head_dim; ++i) worst = std::max(worst, std::fabs(double{got_qkv[row + i]} - rotated[row + i]) / (1.0 + std::fabs(rotated[row + i])));
      for (int h = 0; h < p.heads_kv; ++h) {
        const std::size_t slot = ((static_cast<std::size_t>(b) * p.heads_kv + h) * p.max_tokens + p.first_position + t) * p.head_dim;
        for (int d = 0; d < p.head_dim; ++d) {
          const std::size_t k_src = row + static_cast<std::size_t>(p.heads_q + h) * p.head_dim + d;
          worst = std::max(worst, std::fabs(double{got_k[slot + d]} - rotated[k_src]) / (1.0 + std::fabs(rotated[k_src])));
          EXPECT_EQ(got_v[slot + d], qkv[k_src + static_cast<std::size_t>(p.heads_kv) * p.head_dim]);
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, p.batch * p.new_tokens * p.heads_kv * p.head_dim);
  EXPECT_LT(worst, 2e-3) << "rotary embedding (fp16 rounding, fp32 angles)";
  // Only the new positions were written: the slot before them still holds the poison.
  EXPECT_TRUE(std::isnan(got_k[static_cast<std::size_t>(p.first_position - 1) * p.head_dim]));

  // Q packed per head instead of in place, then back to rows: the standard baseline's round trip.
  const std::size_t q_count = static_cast<std::size_t>(p.batch) * p.new_tokens * p.heads_q * p.head_dim;
  HalfBuffer fresh(qkv), packed(q_count), rows(q_count);
  p.qkv = fresh.ptr;
  p.q_out = packed.ptr;
  ASSERT_EQ(kc::rotaryAppendKv(p, nullptr), cudaSuccess);
  ASSERT_EQ(kc::headsToRows(packed.ptr, p.batch, p.heads_q, p.new_tokens, p.head_dim, rows.ptr, DType::F16, nullptr), cudaSuccess);
  const auto got_packed = packed.download();
  const auto got_rows = rows.download();
  const auto untouched = fresh.download();
  for (int b = 0; b < p.batch; ++b) {
    for (int t = 0; t < p.new_tokens; ++t) {
      const std::size_t row = (static_cast<std::size_t>(b) * p.new_tokens + t) * width;
      for (int h = 0; h < p.heads_q; ++h) {
        for (int d = 0; d < p.head_dim; ++d) {
          const std::size_t in_rows = row + static_cast<std::size_t>(h) * p.head_dim + d;
          const std::size_t in_packed = ((static_cast<std::size_t>(b) * p.heads_q + h) * p.new_tokens + t) * p.head_dim + d;
          ASSERT_EQ(got_packed[in_packed], got_qkv[in_rows]) << "packed Q differs from the in-place Q";
          ASSERT_EQ(got_rows[(static_cast<std::size_t>(b) * p.new_tokens + t) * p.heads_q * p.head_dim + h * p.head_dim + d],
                    got_qkv[in_rows]);
          ASSERT_EQ(untouched[in_rows], qkv[in_rows]) << "Q rotated in place although q_out was set";
        }
      }
    }
  }
  p.first_position = p.max_tokens - 2;
  EXPECT_EQ(kc::rotaryAppendKv(p, nullptr), cudaErrorInvalidValue);
}

}  // namespace
