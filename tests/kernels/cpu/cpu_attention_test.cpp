// CPU standard and flash attention against an fp64 reference: random inputs, outputs poisoned with
// NaN before each run and checked fully written, a guard after the workspace checked untouched.
// fp32 must match to ~1e-5; fp16/bf16 follow flash-attention's rule (flash error within 2x the
// standard kernel's error, plus a small floor).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <gtest/gtest.h>

#include "attnbench/kernels/cpu_attention.h"

namespace {

using namespace attnbench::kernels;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Shape {
  int batch = 1, heads_q = 4, heads_kv = 2, seq_q = 17, seq_kv = 17, head_dim = 64;
  bool causal = false;
  DType dtype = DType::F32;
  bool bnhd = false;  // [B, N, H, D] storage (strided heads) instead of packed [B, H, N, D]
};

std::string shapeName(const Shape& s) {
  return std::string(dtypeName(s.dtype)) + (s.causal ? "_causal" : "_full") + "_B" + std::to_string(s.batch) + "_H" +
         std::to_string(s.heads_q) + "x" + std::to_string(s.heads_kv) + "_N" + std::to_string(s.seq_q) + "x" +
         std::to_string(s.seq_kv) + "_D" + std::to_string(s.head_dim) + (s.bnhd ? "_bnhd" : "");
}

void storeValue(DType dtype, std::byte* base, std::int64_t index, float value) {
  switch (dtype) {
    case DType::F32: reinterpret_cast<float*>(base)[index] = value; return;
    case DType::F16: reinterpret_cast<Eigen::half*>(base)[index] = Eigen::half(value); return;
    case DType::BF16: reinterpret_cast<Eigen::bfloat16*>(base)[index] = Eigen::bfloat16(value); return;
  }
}

double loadValue(DType dtype, const std::byte* base, std::int64_t index) {
  switch (dtype) {
    case DType::F32: return reinterpret_cast<const float*>(base)[index];
    case DType::F16: return static_cast<float>(reinterpret_cast<const Eigen::half*>(base)[index]);
    case DType::BF16: return static_cast<float>(reinterpret_cast<const Eigen::bfloat16*>(base)[index]);
  }
  return 0.0;
}

using Strides = TensorStrides;

Strides layoutStrides(const Shape& s, int heads, int rows) {
  return s.bnhd ? interleavedBnhdStrides(heads, rows, s.head_dim) : packedBhndStrides(heads, rows, s.head_dim);
}

// One attention problem: storage-dtype tensors, the same values decoded to double (packed
// [B, H, N, D]) for the reference, and params pointing at the tensors.
class Problem {
 public:
  explicit Problem(const Shape& shape, unsigned seed = 1) : shape_(shape) {
    q_strides_ = layoutStrides(shape, shape.heads_q, shape.seq_q);
    kv_strides_ = layoutStrides(shape, shape.heads_kv, shape.seq_kv);
    std::mt19937 rng(seed);
    fill(q_bytes_, q_, shape.heads_q, shape.seq_q, q_strides_, rng);
    fill(k_bytes_, k_, shape.heads_kv, shape.seq_kv, kv_strides_, rng);
    fill(v_bytes_, v_, shape.heads_kv, shape.seq_kv, kv_strides_, rng);
    o_bytes_.resize(q_bytes_.size());
    lse_.resize(static_cast<std::size_t>(shape.batch) * shape.heads_q * shape.seq_q);

    params_.q = q_bytes_.data();
    params_.k = k_bytes_.data();
    params_.v = v_bytes_.data();
    params_.o = o_bytes_.data();
    params_.lse = lse_.data();
    setStrides(params_, q_strides_, kv_strides_);
    setShape(params_, {shape.batch, shape.heads_q, shape.heads_kv, shape.seq_q, shape.seq_kv, shape.head_dim,
                       shape.causal, shape.dtype});
  }

  const AttentionParams& params() const { return params_; }
  const Shape& shape() const { return shape_; }

  void poisonOutputs() {
    const std::int64_t count = static_cast<std::int64_t>(o_bytes_.size()) / bytesPerElement(shape_.dtype);
    for (std::int64_t i = 0; i < count; ++i) storeValue(shape_.dtype, o_bytes_.data(), i, std::nanf(""));
    std::fill(lse_.begin(), lse_.end(), std::nanf(""));
  }

  double output(std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t d) const {
    return loadValue(shape_.dtype, o_bytes_.data(), q_strides_.offset(b, h, i) + d);
  }
  const std::vector<std::byte>& outputBytes() const { return o_bytes_; }
  const std::vector<float>& lse() const { return lse_; }

  // Packed [B, H, N, D] index into the decoded doubles.
  double q(std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t d) const {
    return q_[static_cast<std::size_t>(((b * shape_.heads_q + h) * shape_.seq_q + i) * shape_.head_dim + d)];
  }
  double k(std::int64_t b, std::int64_t h, std::int64_t j, std::int64_t d) const {
    return k_[static_cast<std::size_t>(((b * shape_.heads_kv + h) * shape_.seq_kv + j) * shape_.head_dim + d)];
  }
  double v(std::int64_t b, std::int64_t h, std::int64_t j, std::int64_t d) const {
    return v_[static_cast<std::size_t>(((b * shape_.heads_kv + h) * shape_.seq_kv + j) * shape_.head_dim + d)];
  }

 private:
  void fill(std::vector<std::byte>& bytes, std::vector<double>& decoded, int heads, int rows, const Strides& st,
            std::mt19937& rng) {
    const std::int64_t d = shape_.head_dim;
    const std::size_t count = static_cast<std::size_t>(shape_.batch) * heads * rows * d;
    bytes.assign(count * bytesPerElement(shape_.dtype), std::byte{0});
    decoded.resize(count);
    std::normal_distribution<float> dist;
    std::size_t packed = 0;
    for (std::int64_t b = 0; b < shape_.batch; ++b)
      for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t i = 0; i < rows; ++i)
          for (std::int64_t c = 0; c < d; ++c, ++packed) {
            const std::int64_t index = st.offset(b, h, i) + c;
            storeValue(shape_.dtype, bytes.data(), index, dist(rng));
            decoded[packed] = loadValue(shape_.dtype, bytes.data(), index);
          }
  }

  Shape shape_;
  Strides q_strides_, kv_strides_;
  std::vector<std::byte> q_bytes_, k_bytes_, v_bytes_, o_bytes_;
  std::vector<double> q_, k_, v_;
  std::vector<float> lse_;
  AttentionParams params_;
};

struct Reference {
  std::vector<double> o;    // packed [B, Hq, Nq, D]
  std::vector<double> lse;  // [B, Hq, Nq]; -inf for rows that see no key
  double max_abs_o = 0.0;
};

Reference reference(const Problem& pb) {
  const Shape& s = pb.shape();
  const int group = s.heads_q / s.heads_kv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  Reference ref;
  ref.o.assign(static_cast<std::size_t>(s.batch) * s.heads_q * s.seq_q * s.head_dim, 0.0);
  ref.lse.assign(static_cast<std::size_t>(s.batch) * s.heads_q * s.seq_q, -kInf);
  std::vector<double> scores(static_cast<std::size_t>(s.seq_kv));
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < s.seq_q; ++i) {
        const int visible = s.causal ? std::clamp(i + s.seq_kv - s.seq_q + 1, 0, s.seq_kv) : s.seq_kv;
        if (visible == 0) continue;
        double row_max = -kInf;
        for (int j = 0; j < visible; ++j) {
          double dot = 0.0;
          for (int c = 0; c < s.head_dim; ++c) dot += pb.q(b, h, i, c) * pb.k(b, h / group, j, c);
          scores[j] = dot * scale;
          row_max = std::max(row_max, scores[j]);
        }
        double sum = 0.0;
        for (int j = 0; j < visible; ++j) sum += (scores[j] = std::exp(scores[j] - row_max));
        const std::size_t row = (static_cast<std::size_t>(b) * s.heads_q + h) * s.seq_q + i;
        ref.lse[row] = row_max + std::log(sum);
        for (int c = 0; c < s.head_dim; ++c) {
          double acc = 0.0;
          for (int j = 0; j < visible; ++j) acc += scores[j] * pb.v(b, h / group, j, c);
          ref.o[row * s.head_dim + c] = acc / sum;
          ref.max_abs_o = std::max(ref.max_abs_o, std::abs(acc / sum));
        }
      }
  return ref;
}

// Largest |O - reference| over every element; fails the test if any element was left unwritten (NaN)
// or any LSE differs from the reference by more than `lse_tolerance`.
double checkAgainstReference(const Problem& pb, const Reference& ref, const char* kernel, double lse_tolerance) {
  const Shape& s = pb.shape();
  double max_error = 0.0;
  std::int64_t unwritten = 0;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < s.seq_q; ++i) {
        const std::size_t row = (static_cast<std::size_t>(b) * s.heads_q + h) * s.seq_q + i;
        for (int c = 0; c < s.head_dim; ++c) {
          const double got = pb.output(b, h, i, c);
          if (!std::isfinite(got)) {
            ++unwritten;
          } else {
            max_error = std::max(max_error, std::abs(got - ref.o[row * s.head_dim + c]));
          }
        }
        const double lse = pb.lse()[row];
        if (std::isinf(ref.lse[row])) {
          EXPECT_EQ(lse, ref.lse[row]) << kernel << " LSE of a row that sees no key, row " << row;
        } else {
          EXPECT_NEAR(lse, ref.lse[row], lse_tolerance) << kernel << " LSE row " << row;
        }
      }
  EXPECT_EQ(unwritten, 0) << kernel << " left outputs unwritten (still NaN)";
  return max_error;
}

// Workspace of exactly `bytes`, poisoned (so no kernel may rely on its content), followed by a
// guard that must stay untouched.
class GuardedWorkspace {
 public:
  explicit GuardedWorkspace(std::size_t bytes) : bytes_(bytes), storage_((bytes + kGuard) / sizeof(float) + 1) {
    std::memset(storage_.data(), 0xFF, storage_.size() * sizeof(float));
  }
  void* data() { return storage_.data(); }
  bool guardIntact() const {
    const auto* raw = reinterpret_cast<const unsigned char*>(storage_.data());
    return std::all_of(raw + bytes_, raw + bytes_ + kGuard, [](unsigned char c) { return c == 0xFF; });
  }

 private:
  static constexpr std::size_t kGuard = 256;
  std::size_t bytes_;
  std::vector<float> storage_;
};

double runStandard(Problem& pb, const Reference& ref, int threads) {
  GuardedWorkspace ws(cpu::standardWorkspaceBytes(pb.params()));
  pb.poisonOutputs();
  cpu::standardAttention(pb.params(), ws.data(), threads);
  EXPECT_TRUE(ws.guardIntact()) << "standard wrote past its workspace";
  return checkAgainstReference(pb, ref, "standard", 1e-4);
}

double runFlash(Problem& pb, const Reference& ref, TileShape tile, int threads) {
  GuardedWorkspace ws(cpu::flashWorkspaceBytes(pb.params(), tile, threads));
  pb.poisonOutputs();
  cpu::flashAttention(pb.params(), tile, ws.data(), threads);
  EXPECT_TRUE(ws.guardIntact()) << "flash wrote past its workspace";
  return checkAgainstReference(pb, ref, "flash", 1e-4);
}

// fp32: both kernels within ~1e-5 of fp64. fp16/bf16: the standard kernel within a few output ulps,
// flash within 2x the standard kernel's error plus a small floor.
void expectAccurate(DType dtype, double standard_error, double flash_error, double max_abs_o) {
  const double magnitude = std::max(1.0, max_abs_o);
  if (dtype == DType::F32) {
    EXPECT_LE(standard_error, 1e-5 * magnitude);
    EXPECT_LE(flash_error, 1e-5 * magnitude);
    return;
  }
  const double epsilon = dtype == DType::F16 ? 0x1p-10 : 0x1p-7;
  EXPECT_LE(standard_error, 2 * epsilon * magnitude);
  EXPECT_LE(flash_error, 2 * standard_error + 0.05 * epsilon * magnitude);
}

// --- Both kernels over shapes, dtypes, masks and layouts -----------------------------------------

class CpuKernelShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(CpuKernelShapes, MatchFp64Reference) {
  Problem pb(GetParam());
  const Reference ref = reference(pb);
  const double standard_error = runStandard(pb, ref, 2);
  const double flash_error = runFlash(pb, ref, {}, 2);
  expectAccurate(GetParam().dtype, standard_error, flash_error, ref.max_abs_o);
}

std::vector<Shape> shapeCases() {
  std::vector<Shape> cases;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16})
    for (bool causal : {false, true}) {
      for (int n : {1, 17, 127, 128, 300})
        for (int d : {64, 128}) cases.push_back({1, 4, 2, n, n, d, causal, dtype, false});
      cases.push_back({2, 8, 1, 127, 127, 64, causal, dtype, false});   // MQA, two batches
      cases.push_back({1, 2, 2, 1, 300, 64, causal, dtype, false});     // one-token decode
      cases.push_back({1, 4, 2, 17, 300, 128, causal, dtype, false});   // Nq < Nk
      cases.push_back({1, 4, 4, 300, 17, 64, causal, dtype, false});    // Nq > Nk: masked rows if causal
      cases.push_back({2, 4, 2, 127, 200, 64, causal, dtype, true});    // strided [B, N, H, D]
    }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cpu, CpuKernelShapes, ::testing::ValuesIn(shapeCases()),
                         [](const ::testing::TestParamInfo<Shape>& case_info) { return shapeName(case_info.param); });

// --- Flash tile configurations, tails included ---------------------------------------------------

struct TileCase {
  TileShape tile;
  DType dtype;
  bool causal;
};

class CpuKernelFlashTiles : public ::testing::TestWithParam<TileCase> {};

TEST_P(CpuKernelFlashTiles, MatchFp64Reference) {
  const TileCase& tc = GetParam();
  // 300 query rows over 260 keys: no tile edge divides either, and the causal diagonal is offset.
  Problem pb({1, 4, 2, 300, 260, 64, tc.causal, tc.dtype, false}, 7);
  const Reference ref = reference(pb);
  const double standard_error = runStandard(pb, ref, 1);
  const double flash_error = runFlash(pb, ref, tc.tile, 2);
  expectAccurate(tc.dtype, standard_error, flash_error, ref.max_abs_o);
}

std::vector<TileCase> tileCases() {
  std::vector<TileCase> cases;
  const TileShape tiles[] = {{64, 64}, {128, 64}, {128, 128}, {64, 256}, {33, 47}, {1, 1}, {7, 300}, {512, 512}};
  for (TileShape tile : tiles)
    for (bool causal : {false, true})
      for (DType dtype : {DType::F32, DType::BF16}) cases.push_back({tile, dtype, causal});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cpu, CpuKernelFlashTiles, ::testing::ValuesIn(tileCases()),
                         [](const ::testing::TestParamInfo<TileCase>& case_info) {
                           const TileCase& tc = case_info.param;
                           return std::to_string(tc.tile.rows) + "x" + std::to_string(tc.tile.cols) + "_" +
                                  std::string(dtypeName(tc.dtype)) + (tc.causal ? "_causal" : "_full");
                         });

// --- Determinism, tile resolution, workspace formulas ---------------------------------------------

TEST(CpuKernelFlash, ThreadCountDoesNotChangeResults) {
  for (const Shape& shape : {Shape{1, 1, 1, 300, 300, 64, true, DType::F32, false},
                             Shape{1, 4, 2, 200, 333, 128, false, DType::BF16, false},
                             Shape{2, 2, 1, 129, 129, 64, true, DType::F16, true}}) {
    Problem pb(shape);
    std::vector<std::byte> first_o;
    std::vector<float> first_lse;
    for (int threads : {1, 2, 3}) {
      GuardedWorkspace ws(cpu::flashWorkspaceBytes(pb.params(), {64, 64}, threads));
      pb.poisonOutputs();
      cpu::flashAttention(pb.params(), {64, 64}, ws.data(), threads);
      if (first_o.empty()) {
        first_o = pb.outputBytes();
        first_lse = pb.lse();
        continue;
      }
      EXPECT_EQ(std::memcmp(first_o.data(), pb.outputBytes().data(), first_o.size()), 0)
          << shapeName(shape) << ": O differs between 1 and " << threads << " threads";
      EXPECT_EQ(std::memcmp(first_lse.data(), pb.lse().data(), first_lse.size() * sizeof(float)), 0)
          << shapeName(shape) << ": LSE differs between 1 and " << threads << " threads";
    }
  }
}

TEST(CpuKernelFlash, ResolvesAutoAndClampsInvalidTiles) {
  Problem pb({1, 2, 1, 300, 200, 128, false, DType::F32, false});
  const AttentionParams& p = pb.params();
  const TileShape automatic = cpu::resolveFlashTile(p, {});
  EXPECT_GE(automatic.rows, 1);
  EXPECT_GE(automatic.cols, 1);
  EXPECT_LE(automatic.rows, 300);
  EXPECT_LE(automatic.cols, 200);

  const TileShape explicit_tile = cpu::resolveFlashTile(p, {128, 64});
  EXPECT_EQ(explicit_tile.rows, 128);
  EXPECT_EQ(explicit_tile.cols, 64);

  const TileShape huge = cpu::resolveFlashTile(p, {1 << 30, 1 << 30});
  EXPECT_EQ(huge.rows, 300);  // clamped to the sequence lengths
  EXPECT_EQ(huge.cols, 200);

  const TileShape negative = cpu::resolveFlashTile(p, {-5, 0});
  EXPECT_EQ(negative.rows, automatic.rows);  // non-positive edges take the auto value
  EXPECT_EQ(negative.cols, automatic.cols);

  // Invalid requests still run and stay correct.
  const Reference ref = reference(pb);
  for (TileShape tile : {TileShape{1 << 30, 1 << 30}, TileShape{-5, 0}, TileShape{0, 7}}) {
    EXPECT_LE(runFlash(pb, ref, tile, 2), 1e-5 * std::max(1.0, ref.max_abs_o));
  }
}

TEST(CpuKernelFlash, LargeSequenceTileClampsToMaximumEdge) {
  AttentionParams p;
  p.batch = 1;
  p.heads_q = p.heads_kv = 1;
  p.seq_q = p.seq_kv = 1 << 20;
  p.head_dim = 64;
  const TileShape huge = cpu::resolveFlashTile(p, {1 << 30, 1 << 30});
  EXPECT_EQ(huge.rows, 1024);
  EXPECT_EQ(huge.cols, 1024);
}

AttentionParams packedParams(int batch, int heads_q, int heads_kv, int seq_q, int seq_kv, int head_dim, DType dtype) {
  AttentionParams p;
  p.batch = batch;
  p.heads_q = heads_q;
  p.heads_kv = heads_kv;
  p.seq_q = seq_q;
  p.seq_kv = seq_kv;
  p.head_dim = head_dim;
  p.dtype = dtype;
  setPackedBhndStrides(p);
  return p;
}

TEST(CpuKernelWorkspace, StandardHoldsScoresPlusFp32CopiesForHalfStorage) {
  const std::size_t scores = 2ull * 8 * 100 * 300;
  const std::size_t q = 2ull * 8 * 100 * 64, kv = 2ull * 2 * 300 * 64;
  EXPECT_EQ(cpu::standardWorkspaceBytes(packedParams(2, 8, 2, 100, 300, 64, DType::F32)), 4 * scores);
  EXPECT_EQ(cpu::standardWorkspaceBytes(packedParams(2, 8, 2, 100, 300, 64, DType::F16)), 4 * (scores + q + 2 * kv));
  EXPECT_EQ(cpu::standardWorkspaceBytes(packedParams(2, 8, 2, 100, 300, 64, DType::BF16)),
            4 * (scores + q + 2 * kv));
  // 32 heads of N = 2048: the full 512 MiB score matrix.
  EXPECT_EQ(cpu::standardWorkspaceBytes(packedParams(1, 32, 32, 2048, 2048, 128, DType::F32)), 512ull << 20);
}

TEST(CpuKernelWorkspace, FlashIsPerWorkerTilesWithoutAnNSquaredTerm) {
  // Tile 64 x 64, D = 64: Q, S and O tiles (4096 floats each) plus max and sum (64 each) per worker;
  // fp16/bf16 add fp32 K and V tiles (4096 floats each); 64 bytes to start the scratch on a line.
  const std::size_t fp32_worker = 4 * (3 * 4096 + 2 * 64);
  const std::size_t half_worker = fp32_worker + 4 * 2 * 4096;
  const std::size_t align = 64;
  EXPECT_EQ(cpu::flashWorkspaceBytes(packedParams(1, 8, 2, 4096, 4096, 64, DType::F32), {64, 64}, 2),
            2 * fp32_worker + align);
  EXPECT_EQ(cpu::flashWorkspaceBytes(packedParams(1, 8, 2, 4096, 4096, 64, DType::BF16), {64, 64}, 2),
            2 * half_worker + align);
  // No term in N: 4x the sequence, same bytes.
  EXPECT_EQ(cpu::flashWorkspaceBytes(packedParams(1, 8, 2, 16384, 16384, 64, DType::F32), {64, 64}, 2),
            2 * fp32_worker + align);
  // Never more workers than work items: one block of one head needs one worker's scratch.
  EXPECT_EQ(cpu::flashWorkspaceBytes(packedParams(1, 1, 1, 64, 64, 64, DType::F32), {64, 64}, 4),
            fp32_worker + align);
  // Score rows are padded to whole 64-byte lines: tile 64 x 40 stores 64 x 48 scores.
  EXPECT_EQ(cpu::flashWorkspaceBytes(packedParams(1, 1, 1, 64, 64, 64, DType::F32), {64, 40}, 1),
            4 * (2 * 4096 + 64 * 48 + 2 * 64) + align);
  // Every shape at the CPU target is well under a mebibyte per worker with the auto tile.
  EXPECT_LT(cpu::flashWorkspaceBytes(packedParams(1, 32, 32, 2048, 2048, 128, DType::F32), {}, 2), 4u << 20);
}

TEST(CpuKernel, NoKeysGiveZerosAndMinusInfinityLse) {
  Problem pb({1, 2, 1, 5, 0, 64, false, DType::BF16, false});
  const Reference ref = reference(pb);
  EXPECT_EQ(runStandard(pb, ref, 2), 0.0);
  EXPECT_EQ(runFlash(pb, ref, {}, 2), 0.0);
}

TEST(CpuKernel, EmptyShapesDoNothing) {
  AttentionParams p = packedParams(1, 2, 2, 0, 16, 64, DType::F32);
  EXPECT_EQ(cpu::standardWorkspaceBytes(p), 0u);
  EXPECT_EQ(cpu::flashWorkspaceBytes(p, {}, 2), 0u);
  cpu::standardAttention(p, nullptr, 2);  // null tensors: must not be touched
  cpu::flashAttention(p, {}, nullptr, 2);
}

}  // namespace
