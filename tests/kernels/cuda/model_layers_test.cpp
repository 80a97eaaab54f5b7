// The engine's small CUDA kernels against plain host computations in double (the CPU layers for the
// rotary embedding); outputs are poisoned first, so an element the kernel never writes shows as NaN.
#include <gtest/gtest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <random>
#include <utility>
#include <vector>

#include "attnbench/kernels/cuda_decode.h"
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

// A device buffer of fp16 or bf16 elements (NaN-poisoned), filled from and read back as floats.
struct TypedBuffer {
  TypedBuffer(DType t, std::size_t n) : dtype(t), count(n) {
    EXPECT_EQ(cudaMalloc(&ptr, n * 2), cudaSuccess);
    EXPECT_EQ(cudaMemset(ptr, 0xFF, n * 2), cudaSuccess);
  }
  TypedBuffer(DType t, const std::vector<float>& values) : TypedBuffer(t, values.size()) { upload(values); }
  ~TypedBuffer() { cudaFree(ptr); }
  TypedBuffer(const TypedBuffer&) = delete;
  TypedBuffer& operator=(const TypedBuffer&) = delete;
  void upload(const std::vector<float>& values) {
    std::vector<std::uint16_t> bits(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      bits[i] = dtype == DType::F16 ? static_cast<__half_raw>(__float2half(values[i])).x
                                    : static_cast<__nv_bfloat16_raw>(__float2bfloat16(values[i])).x;
    }
    EXPECT_EQ(cudaMemcpy(ptr, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<float> download() const {
    std::vector<std::uint16_t> bits(count);
    EXPECT_EQ(cudaMemcpy(bits.data(), ptr, count * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i) {
      if (dtype == DType::F16) {
        __half_raw raw;
        raw.x = bits[i];
        out[i] = __half2float(__half(raw));
      } else {
        __nv_bfloat16_raw raw;
        raw.x = bits[i];
        out[i] = __bfloat162float(__nv_bfloat16(raw));
      }
    }
    return out;
  }
  DType dtype;
  void* ptr = nullptr;
  std::size_t count = 0;
};

float roundTo(DType dtype, double x) {
  return dtype == DType::F16 ? __half2float(__float2half(static_cast<float>(x)))
                             : __bfloat162float(__float2bfloat16(static_cast<float>(x)));
}

std::vector<float> randomIn(DType dtype, std::size_t n, float scale, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = roundTo(dtype, dist(gen));
  return v;
}

// The projection's operands for one case: x rows `stride` apart (the gaps hold NaN, which a read of a
// wrong row would spread), the weight and an RMSNorm weight.
struct SkinnyCase {
  SkinnyCase(DType t, int rows_, int in_, int out_, std::int64_t stride_, std::uint32_t seed)
      : dtype(t), rows(rows_), in(in_), out(out_), stride(stride_),
        x(static_cast<std::size_t>(rows_) * stride_, std::numeric_limits<float>::quiet_NaN()),
        w(randomIn(t, static_cast<std::size_t>(out_) * in_, 0.05f, seed)), norm(randomIn(t, in_, 1.0f, seed + 1)) {
    const auto values = randomIn(t, static_cast<std::size_t>(rows) * in, 1.5f, seed + 2);
    for (int r = 0; r < rows; ++r)
      std::copy_n(values.begin() + r * in, in, x.begin() + r * stride);
  }
  // x[r] . w[o], of the RMSNorm'ed row (rounded as Hugging Face rounds it) when `normed`.
  std::vector<double> product(bool normed) const {
    std::vector<double> y(static_cast<std::size_t>(rows) * out, 0.0);
    for (int r = 0; r < rows; ++r) {
      std::vector<double> xr(x.begin() + r * stride, x.begin() + r * stride + in);
      if (normed) {
        double ss = 0;
        for (const double v : xr) ss += v * v;
        const double inv = 1.0 / std::sqrt(ss / in + 1e-5);
        for (int i = 0; i < in; ++i) xr[i] = roundTo(dtype, roundTo(dtype, xr[i] * inv) * norm[i]);
      }
      for (int o = 0; o < out; ++o)
        for (int i = 0; i < in; ++i) y[r * out + o] += xr[i] * w[static_cast<std::size_t>(o) * in + i];
    }
    return y;
  }
  kc::SkinnyLinearParams params(const TypedBuffer& dx, const TypedBuffer& dw, void* y) const {
    kc::SkinnyLinearParams p;
    p.x = dx.ptr;
    p.x_row_stride = stride;
    p.rows = rows;
    p.in = in;
    p.w = dw.ptr;
    p.out = out;
    p.y = y;
    p.y_dtype = dtype;
    p.dtype = dtype;
    return p;
  }
  DType dtype;
  int rows, in, out;
  std::int64_t stride;
  std::vector<float> x, w, norm;
};

class SkinnyLinearTest : public ::testing::TestWithParam<DType> {};

// Every row count (each its own instantiation), odd sizes (out not a multiple of the grid's warps; in
// not a multiple of a warp's round, or rows of whole rounds only), strided rows; =, += and fp32 outputs.
// Even row counts run on one block per SM, so that warps stream several rows each.
TEST_P(SkinnyLinearTest, MatchesDoubleForEveryRowCount) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const DType dt = GetParam();
  const double tol = dt == DType::F16 ? 2e-3 : 1.6e-2;
  for (const int in : {2568, 4096})
  for (int rows = 1; rows <= kc::kSkinnyLinearMaxRows; ++rows) {
    SCOPED_TRACE("rows " + std::to_string(rows) + ", in " + std::to_string(in));
    const SkinnyCase c(dt, rows, in, 2777, in + 16, 10u * rows);
    const auto product = c.product(false);
    const auto y0 = randomIn(dt, product.size(), 1.0f, 99u + rows);
    TypedBuffer dx(dt, c.x), dw(dt, c.w), dy(dt, product.size());
    kc::SkinnyLinearParams p = c.params(dx, dw, dy.ptr);
    p.blocks_per_sm = rows % 2 == 0 ? 1 : 0;
    ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
    expectClose(dy.download(), product, tol, "y = x w^T");
    dy.upload(y0);
    p.accumulate = true;
    ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
    std::vector<double> accumulated(product);
    for (std::size_t i = 0; i < accumulated.size(); ++i) accumulated[i] += y0[i];
    expectClose(dy.download(), accumulated, tol, "y += x w^T");
    float* logits = nullptr;
    ASSERT_EQ(cudaMalloc(&logits, product.size() * 4), cudaSuccess);
    ASSERT_EQ(cudaMemset(logits, 0xFF, product.size() * 4), cudaSuccess);
    p.accumulate = false;
    p.y = logits;
    p.y_dtype = DType::F32;
    ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
    std::vector<float> got(product.size());
    ASSERT_EQ(cudaMemcpy(got.data(), logits, got.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(logits);
    expectClose(got, product, 1e-5, "fp32 output");
  }
}

// The grids a fused projection runs on: persistent blocks (1 per SM, so that warps stream several rows
// each; the kernel's default, 2 per SM), and short blocks with each split of the weight rows.
struct FusedGrid {
  int blocks_per_sm, row_splits;
};
const FusedGrid kFusedGrids[] = {{1, 0}, {0, 0}, {0, 1}, {0, 2}, {0, 4}, {0, 8}};
std::string describe(const FusedGrid& g) {
  return g.row_splits == 0 ? "persistent blocks, " + std::to_string(g.blocks_per_sm) + " per SM (0: default)"
                           : "short blocks, row_splits " + std::to_string(g.row_splits);
}
// The plain projection that sums as the fused one on grid `g` does: whole rows for the persistent
// blocks, the same split of the rows for the short ones.
void sumAsFused(kc::SkinnyLinearParams& p, const FusedGrid& g) {
  p.blocks_per_sm = 0;
  p.row_splits = g.row_splits == 0 ? 1 : g.row_splits;
}

// The fused RMSNorm: bit for bit rmsNorm followed by the plain projection, and close to the double model;
// rows with a last round past their end, and rows of whole rounds only (the unchecked multiplies).
TEST_P(SkinnyLinearTest, FusedRmsNormEqualsTheSeparateKernel) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const DType dt = GetParam();
  for (const int in : {4104, 4096})
  for (int rows = 1; rows <= kc::kSkinnyLinearMaxRows; ++rows) {
    SCOPED_TRACE("rows " + std::to_string(rows) + ", in " + std::to_string(in));
    const SkinnyCase c(dt, rows, in, 1203, 3 * in, 20u * rows);
    TypedBuffer dx(dt, c.x), dw(dt, c.w), dnorm(dt, c.norm), dnormed(dt, static_cast<std::size_t>(rows) * c.in);
    ASSERT_EQ(kc::rmsNorm(dx.ptr, c.stride, dnorm.ptr, rows, c.in, 1e-5f, dnormed.ptr, c.in, dt, nullptr), cudaSuccess);
    const auto want = c.product(true);
    for (const FusedGrid& grid : kFusedGrids) {
      SCOPED_TRACE(describe(grid));
      TypedBuffer fused(dt, static_cast<std::size_t>(rows) * c.out), separate(dt, static_cast<std::size_t>(rows) * c.out);
      kc::SkinnyLinearParams p = c.params(dx, dw, fused.ptr);
      p.norm_weight = dnorm.ptr;
      p.blocks_per_sm = grid.blocks_per_sm;
      p.row_splits = grid.row_splits;
      ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
      p.x = dnormed.ptr;
      p.x_row_stride = c.in;
      p.norm_weight = nullptr;
      sumAsFused(p, grid);
      p.y = separate.ptr;
      ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
      const auto got = fused.download();
      EXPECT_EQ(got, separate.download());
      expectClose(got, want, dt == DType::F16 ? 4e-3 : 3e-2, "rmsNorm(x) w^T");
    }
  }
}

// The SwiGLU epilogue: bit for bit the plain [gate; up] projection followed by swiglu, and close to the
// double model (both factors rounded to the storage type, as the unfused path stores them); rows with a
// last round past their end, and rows of whole rounds only.
TEST_P(SkinnyLinearTest, FusedSwigluEqualsTheSeparateKernel) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const DType dt = GetParam();
  const int ffn = 1389;  // more outputs than the grid's blocks, and not a multiple of a block's share
  for (const int in : {2056, 2048})
  for (int rows = 1; rows <= kc::kSkinnyLinearMaxRows; ++rows) {
    SCOPED_TRACE("rows " + std::to_string(rows) + ", in " + std::to_string(in));
    const SkinnyCase c(dt, rows, in, 2 * ffn, in, 30u * rows);
    TypedBuffer dx(dt, c.x), dw(dt, c.w), dnorm(dt, c.norm), gate_up(dt, static_cast<std::size_t>(rows) * c.out);
    for (const bool normed : {false, true}) {
      const auto product = c.product(normed);
      std::vector<double> want(static_cast<std::size_t>(rows) * ffn);
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < ffn; ++j) {
          const double g = roundTo(dt, product[r * c.out + j]);
          want[r * ffn + j] = g / (1 + std::exp(-g)) * roundTo(dt, product[r * c.out + ffn + j]);
        }
      for (const FusedGrid& grid : kFusedGrids) {
        if (grid.row_splits == 8) continue;  // a block holds the gate and up rows of whole outputs
        SCOPED_TRACE(describe(grid) + (normed ? ", normed" : ""));
        TypedBuffer fused(dt, static_cast<std::size_t>(rows) * ffn), separate(dt, static_cast<std::size_t>(rows) * ffn);
        kc::SkinnyLinearParams p = c.params(dx, dw, fused.ptr);
        p.norm_weight = normed ? dnorm.ptr : nullptr;
        p.blocks_per_sm = grid.blocks_per_sm;
        p.row_splits = grid.row_splits;
        p.swiglu = true;
        ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
        p.swiglu = false;
        sumAsFused(p, grid);
        p.y = gate_up.ptr;
        ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
        ASSERT_EQ(kc::swiglu(gate_up.ptr, rows, ffn, separate.ptr, dt, nullptr), cudaSuccess);
        const auto got = fused.download();
        EXPECT_EQ(got, separate.download());
        expectClose(got, want, dt == DType::F16 ? 4e-3 : 3e-2, "silu(x w_gate^T) * x w_up^T");
      }
    }
  }
}

// The rotary parameters of `new_tokens` tokens of `batch` sequences after `first_position` cached ones
// (room for 5 more), fp16, Llama-3's theta; the caches are left to the caller.
kc::RotaryAppendParams rotaryShape(int batch, int new_tokens, int heads_q, int heads_kv, int head_dim, int first_position) {
  kc::RotaryAppendParams p;
  p.batch = batch;
  p.new_tokens = new_tokens;
  p.heads_q = heads_q;
  p.heads_kv = heads_kv;
  p.head_dim = head_dim;
  p.max_tokens = first_position + new_tokens + 5;
  p.first_position = first_position;
  p.theta = 500000.0f;
  p.dtype = DType::F16;
  return p;
}

// Equal element for element, NaN (the poison of an element never written) where the other has NaN.
void expectSameElements(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  std::size_t differ = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) ? std::isnan(want[i]) : got[i] == want[i]) continue;
    if (differ++ == 0) first = i;
  }
  EXPECT_EQ(differ, 0u) << what << ": first at " << first << ": " << got[first] << " against " << want[first];
}

// The rotary epilogue of a decode step's QKV projection (RMSNorm fused): bit for bit the projection
// followed by rotaryAppendKv, Q in the output and K, V in a contiguous cache or in 16-token pages (the
// position crosses into a sequence's third page), for 1 and 3 sequences, GQA and MHA heads, the default
// grid and one block per SM; only the new position of the cache written. Invalid uses are refused.
TEST_P(SkinnyLinearTest, RotaryEpilogueEqualsProjectionThenRotaryAppend) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const DType dt = GetParam();
  struct Heads {
    int q, kv, dim;
  };
  constexpr int kMaxTokens = 40, kPosition = 37;
  for (const Heads heads : {Heads{6, 2, 64}, Heads{4, 4, 128}}) {
    const int width = (heads.q + 2 * heads.kv) * heads.dim;
    for (const int rows : {1, 3}) {
      const int in = heads.dim == 64 ? 1032 : 2048;  // a last round past the rows' end; whole rounds only
      const SkinnyCase c(dt, rows, in, width, in + 8, 50u * rows + static_cast<std::uint32_t>(heads.dim));
      TypedBuffer dx(dt, c.x), dw(dt, c.w), dnorm(dt, c.norm);
      for (const int page : {0, 16}) {
        const int per_sequence = page > 0 ? (kMaxTokens + page - 1) / page : 0;
        std::vector<std::int32_t> table;
        for (int b = 0; b < rows; ++b)
          for (int j = 0; j < per_sequence; ++j) table.push_back((per_sequence - 1 - j) * rows + b);
        std::int32_t* dtable = nullptr;
        if (page > 0) {
          ASSERT_EQ(cudaMalloc(&dtable, table.size() * 4), cudaSuccess);
          ASSERT_EQ(cudaMemcpy(dtable, table.data(), table.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
        }
        const std::size_t cache = static_cast<std::size_t>(rows) * heads.kv * heads.dim *
                                  static_cast<std::size_t>(page > 0 ? per_sequence * page : kMaxTokens);
        kc::RotaryAppendParams rope = rotaryShape(rows, 1, heads.q, heads.kv, heads.dim, kPosition);
        rope.max_tokens = kMaxTokens;
        rope.dtype = dt;
        rope.pages = {dtable, per_sequence, page};
        for (const int blocks_per_sm : {0, 1}) {
          SCOPED_TRACE(std::to_string(heads.q) + "/" + std::to_string(heads.kv) + " heads, D = " +
                       std::to_string(heads.dim) + ", rows " + std::to_string(rows) + ", page " +
                       std::to_string(page) + ", blocks per SM " + std::to_string(blocks_per_sm));
          TypedBuffer y(dt, static_cast<std::size_t>(rows) * width), k(dt, cache), v(dt, cache);
          TypedBuffer fused_y(dt, static_cast<std::size_t>(rows) * width), fused_k(dt, cache), fused_v(dt, cache);
          kc::SkinnyLinearParams p = c.params(dx, dw, y.ptr);
          p.norm_weight = dnorm.ptr;
          p.blocks_per_sm = blocks_per_sm;
          ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
          rope.qkv = y.ptr;
          rope.k_cache = k.ptr;
          rope.v_cache = v.ptr;
          ASSERT_EQ(kc::rotaryAppendKv(rope, nullptr), cudaSuccess);
          p.y = fused_y.ptr;
          p.rotary = rope;
          p.rotary.qkv = fused_y.ptr;
          p.rotary.k_cache = fused_k.ptr;
          p.rotary.v_cache = fused_v.ptr;
          ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
          // Q: the first heads of each output row; K and V only in the cache.
          const auto want_y = y.download();
          auto got_y = fused_y.download();
          for (int r = 0; r < rows; ++r) {
            const auto q = [&](const std::vector<float>& row) {
              return std::vector<float>(row.begin() + static_cast<std::ptrdiff_t>(r) * width,
                                        row.begin() + static_cast<std::ptrdiff_t>(r) * width + heads.q * heads.dim);
            };
            expectSameElements(q(got_y), q(want_y), "rotated Q");
          }
          const auto got_k = fused_k.download();
          expectSameElements(got_k, k.download(), "K cache");
          expectSameElements(fused_v.download(), v.download(), "V cache");
          const auto written = std::count_if(got_k.begin(), got_k.end(), [](float e) { return !std::isnan(e); });
          EXPECT_EQ(written, static_cast<std::ptrdiff_t>(rows) * heads.kv * heads.dim);
        }
        cudaFree(dtable);
      }
    }
  }
  // Refused: a batch that is not the row count, several new tokens, the SwiGLU or split rows with it.
  const SkinnyCase c(dt, 2, 1032, 8 * 64, 1032, 7u);
  TypedBuffer dx(dt, c.x), dw(dt, c.w), y(dt, 2 * 8 * 64), cache(dt, 2 * 2 * 64 * 9);
  kc::SkinnyLinearParams valid = c.params(dx, dw, y.ptr);
  valid.rotary = rotaryShape(2, 1, 4, 2, 64, 3);  // 9 tokens of room
  valid.rotary.dtype = dt;
  valid.rotary.k_cache = valid.rotary.v_cache = cache.ptr;
  EXPECT_EQ(kc::skinnyLinear(valid, nullptr), cudaSuccess);
  const auto refused = [&](auto change) {
    kc::SkinnyLinearParams p = valid;
    change(p);
    return kc::skinnyLinear(p, nullptr) == cudaErrorInvalidValue;
  };
  EXPECT_TRUE(refused([](auto& p) { p.rotary.batch = 1; }));
  EXPECT_TRUE(refused([](auto& p) { p.rotary.new_tokens = 2; }));
  EXPECT_TRUE(refused([](auto& p) { p.rotary.first_position = 9; }));
  EXPECT_TRUE(refused([](auto& p) { p.rotary.heads_kv = 1; }));
  EXPECT_TRUE(refused([](auto& p) { p.swiglu = true; }));
  EXPECT_TRUE(refused([](auto& p) { p.row_splits = 2; }));
}

// The plain projection's rows split over 1, 2, 4 or 8 warps: each split close to the double model (=
// and +=, a row of several rounds per warp, outputs not a multiple of a block's), and one warp per row
// bit for bit the persistent blocks' whole-row sums.
TEST_P(SkinnyLinearTest, SplitRowsMatchDoubleAndWholeRows) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const DType dt = GetParam();
  const double tol = dt == DType::F16 ? 3e-3 : 2e-2;
  for (const int rows : {1, 3, kc::kSkinnyLinearMaxRows}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    const SkinnyCase c(dt, rows, 4808, 1203, 4808 + 24, 40u * rows);
    const auto product = c.product(false);
    const auto y0 = randomIn(dt, product.size(), 1.0f, 77u + rows);
    std::vector<double> accumulated(product);
    for (std::size_t i = 0; i < accumulated.size(); ++i) accumulated[i] += y0[i];
    TypedBuffer dx(dt, c.x), dw(dt, c.w), whole(dt, product.size());
    kc::SkinnyLinearParams p = c.params(dx, dw, whole.ptr);
    p.blocks_per_sm = 1;
    ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
    p.blocks_per_sm = 0;
    for (const int splits : {1, 2, 4, 8}) {
      SCOPED_TRACE("row_splits " + std::to_string(splits));
      TypedBuffer dy(dt, product.size());
      p.y = dy.ptr;
      p.row_splits = splits;
      p.accumulate = false;
      ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
      const auto got = dy.download();
      expectClose(got, product, tol, "y = x w^T");
      if (splits == 1) {
        EXPECT_EQ(got, whole.download());
      }
      dy.upload(y0);
      p.accumulate = true;
      ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
      expectClose(dy.download(), accumulated, tol, "y += x w^T");
    }
  }
}

TEST_P(SkinnyLinearTest, RejectsWhatItCannotRun) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const DType dt = GetParam();
  const SkinnyCase c(dt, 1, 16, 2, 16, 1);
  TypedBuffer dx(dt, std::vector<float>(16 * 9, 1.0f)), dw(dt, c.w), dy(dt, 16);
  const kc::SkinnyLinearParams good = c.params(dx, dw, dy.ptr);
  ASSERT_EQ(kc::skinnyLinear(good, nullptr), cudaSuccess);
  const auto rejected = [&](auto change) {
    kc::SkinnyLinearParams p = good;
    change(p);
    return kc::skinnyLinear(p, nullptr) == cudaErrorInvalidValue;
  };
  EXPECT_TRUE(rejected([](auto& p) { p.rows = kc::kSkinnyLinearMaxRows + 1; }));
  EXPECT_TRUE(rejected([](auto& p) { p.in = 12; p.x_row_stride = 12; }));
  EXPECT_TRUE(rejected([](auto& p) { p.x_row_stride = 12; }));
  EXPECT_TRUE(rejected([](auto& p) { p.x = static_cast<const char*>(p.x) + 2; }));
  EXPECT_TRUE(rejected([](auto& p) { p.swiglu = true; p.out = 3; }));
  EXPECT_TRUE(rejected([](auto& p) { p.swiglu = true; p.accumulate = true; }));
  EXPECT_TRUE(rejected([](auto& p) { p.swiglu = true; p.y_dtype = DType::F32; }));
  EXPECT_TRUE(rejected([](auto& p) { p.blocks_per_sm = -1; }));
  EXPECT_TRUE(rejected([](auto& p) { p.row_splits = 3; }));
  EXPECT_TRUE(rejected([](auto& p) { p.row_splits = 16; }));
  EXPECT_TRUE(rejected([](auto& p) { p.row_splits = 2; p.blocks_per_sm = 1; }));
  EXPECT_TRUE(rejected([](auto& p) { p.swiglu = true; p.row_splits = 8; }));
  EXPECT_TRUE(rejected([&](auto& p) { p.prefetch_next = {dw.ptr, 24}; }));
  EXPECT_TRUE(rejected([&](auto& p) { p.prefetch_next = {static_cast<const char*>(dw.ptr) + 8, 16}; }));
  EXPECT_TRUE(rejected([](auto& p) { p.prefetch_next = {nullptr, 16}; }));
}

// L2 prefetches are hints: a projection whose blocks prefetch the next weights (a part of one 16 KiB
// bulk prefetch per block, several per block) writes what it writes without them, bit for bit, and
// leaves the prefetched memory as it was.
TEST_P(SkinnyLinearTest, L2PrefetchesChangeNothing) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const DType dt = GetParam();
  const SkinnyCase c(dt, 2, 4096, 1500, 4096, 5);
  const auto next_values = randomIn(dt, std::size_t{3} << 20, 1.0f, 6);  // 6 MiB
  TypedBuffer dx(dt, c.x), dw(dt, c.w), next(dt, next_values);
  for (const int blocks_per_sm : {0, 1}) {
    SCOPED_TRACE(blocks_per_sm == 0 ? "short blocks" : "persistent blocks");
    TypedBuffer plain(dt, 2 * 1500);
    kc::SkinnyLinearParams p = c.params(dx, dw, plain.ptr);
    p.blocks_per_sm = blocks_per_sm;
    ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
    expectClose(plain.download(), c.product(false), dt == DType::F16 ? 2e-3 : 1.6e-2, "y = x w^T");
    for (const std::size_t bytes : {std::size_t{16}, std::size_t{4096 + 48}, next.count * 2}) {
      SCOPED_TRACE("prefetch of " + std::to_string(bytes) + " bytes");
      TypedBuffer prefetching(dt, 2 * 1500);
      p.prefetch_next = {next.ptr, bytes};
      p.y = prefetching.ptr;
      ASSERT_EQ(kc::skinnyLinear(p, nullptr), cudaSuccess);
      EXPECT_EQ(prefetching.download(), plain.download());
    }
  }
  EXPECT_EQ(next.download(), next_values);
}

// streamRead reads every row to its end, on both grids: zeros everywhere leave the sink alone; the mark
// in the first word of the first or of the last chunk (a lane's chunks xor to it) is written there.
TEST(CudaModelLayers, StreamReadReachesEveryChunkAndRejectsBadShapes) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  constexpr std::size_t kRows = 1001;  // not a multiple of a block's warps, nor of a persistent grid's
  constexpr int kRowBytes = 11008 * 2;   // 1376 chunks: five rounds of 256 and part of a sixth
  const std::size_t words = kRows * kRowBytes / 4;
  std::uint32_t* data = nullptr;
  std::uint32_t* sink = nullptr;
  ASSERT_EQ(cudaMalloc(&data, words * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&sink, 4), cudaSuccess);
  const auto params = [&](int blocks_per_sm) {
    kc::StreamReadParams p;
    p.src = data;
    p.rows = kRows;
    p.row_bytes = kRowBytes;
    p.blocks_per_sm = blocks_per_sm;
    p.sink = sink;
    return p;
  };
  const auto readWith = [&](std::size_t marked_word, int blocks_per_sm) {
    EXPECT_EQ(cudaMemset(data, 0, words * 4), cudaSuccess);
    EXPECT_EQ(cudaMemset(sink, 0, 4), cudaSuccess);
    if (marked_word < words) {
      EXPECT_EQ(cudaMemcpy(data + marked_word, &kc::kStreamReadMark, 4, cudaMemcpyHostToDevice), cudaSuccess);
    }
    EXPECT_EQ(kc::streamRead(params(blocks_per_sm), nullptr), cudaSuccess);
    std::uint32_t got = 1;
    EXPECT_EQ(cudaMemcpy(&got, sink, 4, cudaMemcpyDeviceToHost), cudaSuccess);
    return got;
  };
  for (const int blocks_per_sm : {0, 1, kc::kSkinnyBlocksPerSm}) {
    SCOPED_TRACE("blocks per SM " + std::to_string(blocks_per_sm));
    EXPECT_EQ(readWith(words, blocks_per_sm), 0u) << "zeros fold to the mark";
    EXPECT_EQ(readWith(0, blocks_per_sm), kc::kStreamReadMark) << "first chunk";
    EXPECT_EQ(readWith(words - 4, blocks_per_sm), kc::kStreamReadMark) << "last chunk";
  }
  const auto rejected = [&](auto change) {
    kc::StreamReadParams p = params(0);
    change(p);
    return kc::streamRead(p, nullptr) == cudaErrorInvalidValue;
  };
  EXPECT_TRUE(rejected([](auto& p) { p.src = nullptr; }));
  EXPECT_TRUE(rejected([](auto& p) { p.sink = nullptr; }));
  EXPECT_TRUE(rejected([](auto& p) { p.rows = 0; }));
  EXPECT_TRUE(rejected([](auto& p) { p.row_bytes = 24; }));
  EXPECT_TRUE(rejected([](auto& p) { p.blocks_per_sm = -1; }));
  EXPECT_TRUE(rejected([&](auto& p) { p.src = reinterpret_cast<const char*>(data) + 8; }));
  cudaFree(data);
  cudaFree(sink);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SkinnyLinearTest, ::testing::Values(DType::F16, DType::BF16),
                         [](const auto& param_info) { return param_info.param == DType::F16 ? std::string("fp16") : std::string("bf16"); });

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
  // 16-byte accesses need ffn % 8 == 0; other widths take one element per thread. Many short rows: a
  // prefill of 64K tokens has more rows than a grid's y dimension allows.
  for (const auto& [many_rows, odd_ffn] : {std::pair{3, 1001}, std::pair{70000, 24}, std::pair{70000, 13}}) {
    const auto gu = randomHalves(static_cast<std::size_t>(many_rows) * 2 * odd_ffn, 2.0f, 8);
    std::vector<double> want(static_cast<std::size_t>(many_rows) * odd_ffn);
    for (std::size_t r = 0; r < static_cast<std::size_t>(many_rows); ++r)
      for (std::size_t j = 0; j < static_cast<std::size_t>(odd_ffn); ++j) {
        const double g = gu[r * 2 * odd_ffn + j];
        want[r * odd_ffn + j] = g / (1 + std::exp(-g)) * gu[r * 2 * odd_ffn + odd_ffn + j];
      }
    HalfBuffer dgu2(gu), dout2(want.size());
    ASSERT_EQ(kc::swiglu(dgu2.ptr, many_rows, odd_ffn, dout2.ptr, DType::F16, nullptr), cudaSuccess);
    const std::string what = "swiglu " + std::to_string(many_rows) + " x " + std::to_string(odd_ffn);
    expectClose(dout2.download(), want, 2e-3, what.c_str());
  }

  const std::vector<std::int32_t> ids = {7, 0, 49, 7, 13};
  std::int32_t* dids = nullptr;
  ASSERT_EQ(cudaMalloc(&dids, ids.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dids, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  // Rows of whole 16-byte chunks are copied in chunks (4096: 2 per thread; 8200: a second pass), others
  // element by element (4100).
  for (const int width : {dim, 4096, 8200}) {
    const auto table = randomHalves(static_cast<std::size_t>(vocab) * width, 1.0f, 6);
    HalfBuffer dtable(table), demb(static_cast<std::size_t>(rows) * width);
    ASSERT_EQ(kc::embeddingLookup(dtable.ptr, width, dids, rows, demb.ptr, DType::F16, nullptr), cudaSuccess);
    std::vector<double> rows_want;
    for (const auto id : ids) {
      rows_want.insert(rows_want.end(), table.begin() + id * width, table.begin() + (id + 1) * width);
    }
    expectClose(demb.download(), rows_want, 0.0 + 1e-12, ("embedding " + std::to_string(width)).c_str());
  }
  cudaFree(dids);
}

// rmsNorm reads 16-byte aligned rows of whole chunks with 16-byte loads and any other row element by
// element, in the same order: the same rows at an odd address normalize to the same bits.
TEST(CudaModelLayers, RmsNormOfAlignedAndUnalignedRowsAgreeBitForBit) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const int rows = 3, dim = 4104;
  const auto x = randomHalves(static_cast<std::size_t>(rows) * dim, 2.0f, 21);
  std::vector<float> shifted(x.size() + 1, 0.5f);
  std::copy(x.begin(), x.end(), shifted.begin() + 1);
  HalfBuffer aligned(x), unaligned(shifted), weight(randomHalves(dim, 1.0f, 22)), out_aligned(x.size()),
      out_unaligned(x.size());
  ASSERT_EQ(kc::rmsNorm(aligned.ptr, dim, weight.ptr, rows, dim, 1e-5f, out_aligned.ptr, dim, DType::F16, nullptr),
            cudaSuccess);
  ASSERT_EQ(kc::rmsNorm(static_cast<__half*>(unaligned.ptr) + 1, dim, weight.ptr, rows, dim, 1e-5f, out_unaligned.ptr,
                        dim, DType::F16, nullptr),
            cudaSuccess);
  const auto got = out_aligned.download();
  for (const float v : got) ASSERT_TRUE(std::isfinite(v));
  EXPECT_EQ(got, out_unaligned.download());
}

// Runs rotaryAppendKv on random Q|K|V rows and checks rotated Q (in place) and K (in the cache)
// against the CPU layer, V copied bit for bit, and that only the new cache positions were written.
// Returns the rotated rows. With `page_size`, the cache is paged (pages of that many tokens, the
// sequences' pages interleaved and in reverse order) and gatherPagedKv copies it back into the
// contiguous layout for the same checks.
std::vector<float> expectRotaryAppendMatchesCpu(kc::RotaryAppendParams p, std::uint32_t seed, int page_size = 0) {
  const int width = (p.heads_q + 2 * p.heads_kv) * p.head_dim;
  const auto qkv = randomHalves(static_cast<std::size_t>(p.batch) * p.new_tokens * width, 1.0f, seed);
  const std::size_t cache = static_cast<std::size_t>(p.batch) * p.heads_kv * p.max_tokens * p.head_dim;
  HalfBuffer dqkv(qkv), dk(cache), dv(cache);
  p.qkv = dqkv.ptr;
  p.k_cache = dk.ptr;
  p.v_cache = dv.ptr;
  std::optional<HalfBuffer> pool_k, pool_v;
  std::int32_t* table = nullptr;
  if (page_size > 0) {
    const int per_sequence = (p.max_tokens + page_size - 1) / page_size;
    std::vector<std::int32_t> pages;
    for (int b = 0; b < p.batch; ++b)
      for (int j = 0; j < per_sequence; ++j) pages.push_back((per_sequence - 1 - j) * p.batch + b);
    EXPECT_EQ(cudaMalloc(&table, pages.size() * 4), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(table, pages.data(), pages.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    const std::size_t pool = pages.size() * p.heads_kv * page_size * p.head_dim;
    pool_k.emplace(pool);
    pool_v.emplace(pool);
    p.k_cache = pool_k->ptr;
    p.v_cache = pool_v->ptr;
    p.pages = {table, per_sequence, page_size};
  }
  EXPECT_EQ(kc::rotaryAppendKv(p, nullptr), cudaSuccess);
  if (page_size > 0) {
    for (const auto& [pool, contiguous] : {std::pair{&*pool_k, &dk}, std::pair{&*pool_v, &dv}}) {
      EXPECT_EQ(kc::gatherPagedKv(pool->ptr, p.pages, p.batch, p.heads_kv, p.head_dim, p.first_position + p.new_tokens,
                                  contiguous->ptr, p.max_tokens, DType::F16, nullptr),
                cudaSuccess);
    }
  }

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
  EXPECT_LT(worst, 2e-3) << "rotary embedding (fp16 rounding, fp32 angles), " << p.batch * p.new_tokens << " tokens, "
                         << p.heads_q << "/" << p.heads_kv << " heads, D = " << p.head_dim;
  // Only the new positions were written: the slot before them still holds the poison.
  if (p.first_position > 0) {
    EXPECT_TRUE(std::isnan(got_k[static_cast<std::size_t>(p.first_position - 1) * p.head_dim]));
  }
  cudaFree(table);
  return got_qkv;
}

// The launch spreads heads over blocks differently for a decode step (one token: a few heads per
// block) and a prefill (many tokens: every head of a token in one block, several per thread), with
// head counts that do not fill the last group of threads.
TEST(CudaModelLayers, RotaryAppendMatchesTheCpuLayerForEveryGrid) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  expectRotaryAppendMatchesCpu(rotaryShape(1, 1, 32, 8, 128, 700), 11);    // decode step, several groups
  expectRotaryAppendMatchesCpu(rotaryShape(1, 1, 5, 1, 64, 3), 12);        // 7 heads for 8 lanes
  expectRotaryAppendMatchesCpu(rotaryShape(2, 600, 8, 2, 128, 0), 13);     // prefill: 12 heads per thread row
  expectRotaryAppendMatchesCpu(rotaryShape(1, 300, 3, 3, 256, 40), 14);    // D = 256: two lanes, 9 heads
  expectRotaryAppendMatchesCpu(rotaryShape(3, 40, 6, 2, 64, 100), 15);     // 120 tokens: a few groups per token
}

// A paged cache: positions 27-35 of two sequences cross two 16-token page ends; 64-token pages hold a
// sequence in one. Prefills of 600 and 340 rows end the gather's last block of rows part way (16 rows
// per block at D = 128, 8 at D = 256). A table too short for the cache, and a gather without one, are
// refused.
TEST(CudaModelLayers, RotaryAppendIntoPagesAndTheirGatherMatchTheCpuLayer) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  for (const int page : {16, 64}) {
    SCOPED_TRACE("page " + std::to_string(page));
    expectRotaryAppendMatchesCpu(rotaryShape(2, 9, 4, 2, 64, 27), 31, page);
    expectRotaryAppendMatchesCpu(rotaryShape(2, 600, 8, 2, 128, 0), 32, page);
    expectRotaryAppendMatchesCpu(rotaryShape(1, 300, 3, 3, 256, 40), 33, page);
  }
  kc::RotaryAppendParams p = rotaryShape(1, 1, 4, 2, 64, 27);
  HalfBuffer qkv(std::vector<float>(8 * 64, 1.0f)), pool(4 * 2 * 16 * 64), out(2 * 64 * static_cast<std::size_t>(p.max_tokens));
  std::int32_t* table = nullptr;
  ASSERT_EQ(cudaMalloc(&table, 4 * 4), cudaSuccess);
  ASSERT_EQ(cudaMemset(table, 0, 4 * 4), cudaSuccess);
  p.qkv = qkv.ptr;
  p.k_cache = p.v_cache = pool.ptr;
  p.pages = {table, 1, 16};  // 16 tokens per sequence, the cache needs 33
  EXPECT_EQ(kc::rotaryAppendKv(p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(kc::gatherPagedKv(pool.ptr, {}, 1, 2, 64, 28, out.ptr, p.max_tokens, DType::F16, nullptr), cudaErrorInvalidValue);
  cudaFree(table);
}

TEST(CudaModelLayers, RotaryAppendMatchesTheCpuLayer) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  // Long positions: angles must agree in fp32 as Hugging Face rounds them.
  kc::RotaryAppendParams p = rotaryShape(2, 3, 4, 2, 64, 3990);
  p.max_tokens = 4000;
  const int width = (p.heads_q + 2 * p.heads_kv) * p.head_dim;
  const auto qkv = randomHalves(static_cast<std::size_t>(p.batch) * p.new_tokens * width, 1.0f, 7);
  const auto got_qkv = expectRotaryAppendMatchesCpu(p, 7);
  const std::size_t cache = static_cast<std::size_t>(p.batch) * p.heads_kv * p.max_tokens * p.head_dim;
  HalfBuffer dk(cache), dv(cache);
  p.k_cache = dk.ptr;
  p.v_cache = dv.ptr;

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

// A decode step's attention launched overlapped after the kernel that appends the step's K/V row (the
// engine's chain): the split kernel copies the older keys before it waits for that kernel and the new
// row only after. Here the append waits in turn for a projection that streams 16 MB through one block
// (hundreds of microseconds), so the decode blocks start long before the row is written: had they
// copied it early, they would have read its poison (NaN). Bit for bit the same kernel launched once the
// append has completed; the cache rows after the position stay poisoned throughout.
TEST(CudaModelLayers, OverlappedDecodeReadsTheAppendedRowAfterItsWait) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  constexpr DType dt = DType::F16;
  constexpr int kHeadsQ = 8, kHeadsKv = 2, kDim = 128, kPosition = 300, kMaxTokens = 320;
  constexpr int kWidth = (kHeadsQ + 2 * kHeadsKv) * kDim;
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> k_host(std::size_t{kHeadsKv} * kMaxTokens * kDim, nan), v_host = k_host, qkv_host(kWidth);
  for (std::size_t e = 0; e < k_host.size(); ++e) {
    if (e / kDim % kMaxTokens < kPosition) k_host[e] = uniform(rng), v_host[e] = uniform(rng);
  }
  for (float& e : qkv_host) e = uniform(rng);
  TypedBuffer k(dt, k_host), v(dt, v_host), qkv(dt, qkv_host);

  constexpr int kSlowIn = 1 << 20;
  TypedBuffer slow_x(dt, std::vector<float>(kSlowIn, 0.5f)), slow_w(dt, std::vector<float>(8u * kSlowIn, 0.25f));
  TypedBuffer slow_y(dt, 8);
  kc::SkinnyLinearParams slow;
  slow.x = slow_x.ptr;
  slow.x_row_stride = slow.in = kSlowIn;
  slow.rows = 1;
  slow.w = slow_w.ptr;
  slow.out = 8;
  slow.y = slow_y.ptr;
  slow.dtype = slow.y_dtype = dt;

  kc::RotaryAppendParams rope = rotaryShape(1, 1, kHeadsQ, kHeadsKv, kDim, kPosition);
  rope.max_tokens = kMaxTokens;
  rope.qkv = qkv.ptr;
  rope.k_cache = k.ptr;
  rope.v_cache = v.ptr;

  namespace kn = attnbench::kernels;
  kn::DecodeParams p;
  kn::setShape(p, kn::DecodeShape{kn::AttentionShape{1, kHeadsQ, kHeadsKv, 1, kPosition + 1, kDim, false, dt}});
  kn::setPackedStrides(p, kMaxTokens);
  p.q_batch_stride = p.q_row_stride = kWidth;  // Q: the rotated heads at the front of the QKV row
  p.q_head_stride = kDim;
  p.q = qkv.ptr;
  p.k = k.ptr;
  p.v = v.ptr;
  int device = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  // The heuristic's split count (3), then 2, 5 and 6 (one of the six ranges empty).
  for (const int requested : {0, 2, 5, 6}) {
    p.num_splits = requested;
    const int splits = kc::flashDecodeSplits(p, kc::queryDeviceTraits(device));
    void* workspace = nullptr;
    ASSERT_EQ(cudaMalloc(&workspace, std::max<std::size_t>(kn::decodeWorkspaceBytes(p, splits), 16)), cudaSuccess);
    kn::setDecodeWorkspace(p, splits, workspace);
    if (p.split_counters != nullptr) {
      ASSERT_EQ(cudaMemset(p.split_counters, 0, static_cast<std::size_t>(kn::decodeBlocksPerSplit(p)) * sizeof(int)),
                cudaSuccess);
    }
    TypedBuffer overlapped_o(dt, std::size_t{kHeadsQ} * kDim), ordered_o(dt, std::size_t{kHeadsQ} * kDim);
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_EQ(kc::skinnyLinear(slow, stream), cudaSuccess);
    ASSERT_EQ(kc::rotaryAppendKv(rope, stream), cudaSuccess);
    p.o = overlapped_o.ptr;
    p.overlapped = true;
    ASSERT_EQ(kc::flashDecode(p, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    p.o = ordered_o.ptr;
    p.overlapped = false;
    ASSERT_EQ(kc::flashDecode(p, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    cudaStreamDestroy(stream);
    cudaFree(workspace);
    const auto want = ordered_o.download();
    const std::string what = "O, " + std::to_string(splits) + " splits";
    EXPECT_EQ(std::count_if(want.begin(), want.end(), [](float e) { return std::isnan(e); }), 0) << what;
    expectSameElements(overlapped_o.download(), want, what.c_str());
    EXPECT_EQ(splits, requested == 0 ? 3 : requested) << "the cases should cover these split counts";
  }
}

}  // namespace
