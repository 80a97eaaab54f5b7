#include <gtest/gtest.h>

#include <cmath>

#include "attnbench/runner.h"

namespace attnbench {
namespace {

// A point whose output is computed exactly (in double) from known inputs, then damaged on demand.
class ExactPoint final : public PreparedPoint {
 public:
  explicit ExactPoint(const kernels::AttentionShape& s) : s_(s) {
    auto fill = [](std::vector<float>& t, std::size_t n, unsigned salt) {
      t.resize(n);
      for (std::size_t i = 0; i < n; ++i) t[i] = std::sin(static_cast<float>(i * 7 + salt) * 0.37f);
    };
    const std::size_t d = static_cast<std::size_t>(s.head_dim);
    fill(q_, static_cast<std::size_t>(s.heads_q) * s.seq_q * d, 1);
    fill(k_, static_cast<std::size_t>(s.heads_kv) * s.seq_kv * d, 2);
    fill(v_, static_cast<std::size_t>(s.heads_kv) * s.seq_kv * d, 3);
    o_.assign(q_.size(), 0);
    const int group = s.heads_q / s.heads_kv;
    for (int h = 0; h < s.heads_q; ++h) {
      for (int i = 0; i < s.seq_q; ++i) {
        const int visible = s.causal ? i + 1 : s.seq_kv;
        std::vector<double> p(static_cast<std::size_t>(visible));
        double mx = -1e300, sum = 0;
        for (int j = 0; j < visible; ++j) {
          double dot = 0;
          for (std::size_t c = 0; c < d; ++c) dot += double(at(q_, h, i)[c]) * at(k_, h / group, j)[c];
          p[static_cast<std::size_t>(j)] = dot / std::sqrt(double(d));
          mx = std::max(mx, p[static_cast<std::size_t>(j)]);
        }
        for (auto& x : p) sum += (x = std::exp(x - mx));
        for (std::size_t c = 0; c < d; ++c) {
          double acc = 0;
          for (int j = 0; j < visible; ++j) acc += p[static_cast<std::size_t>(j)] * at(v_, h / group, j)[c];
          at(o_, h, i)[c] = static_cast<float>(acc / sum);
        }
      }
    }
  }
  float* at(std::vector<float>& t, int head, int row) {
    const int rows = &t == &k_ || &t == &v_ ? s_.seq_kv : s_.seq_q;
    return &t[(static_cast<std::size_t>(head) * rows + row) * static_cast<std::size_t>(s_.head_dim)];
  }
  double runTimed() override { return 0; }
  TileShape resolvedTile() const override { return {}; }
  std::uint64_t peakBytes() const override { return 0; }
  std::int64_t countUnwrittenOutputs() override { return unwritten; }
  int kvLength(int) const override { return s_.seq_kv; }
  std::vector<float> readRows(TensorId t, int, int head, int row0, int count) override {
    std::vector<float>& src = t == TensorId::Q ? q_ : t == TensorId::K ? k_ : t == TensorId::V ? v_ : o_;
    const float* p = at(src, head, row0);
    return {p, p + static_cast<std::size_t>(count) * s_.head_dim};
  }
  kernels::AttentionShape s_;
  std::vector<float> q_, k_, v_, o_;
  std::int64_t unwritten = 0;
};

kernels::AttentionShape shape(DType dtype, bool causal) {
  kernels::AttentionShape s;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.seq_q = s.seq_kv = 70;
  s.head_dim = 32;
  s.dtype = dtype;
  s.causal = causal;
  return s;
}

TEST(Correctness, ExactOutputPasses) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (bool causal : {false, true}) {
      ExactPoint p(shape(dtype, causal));
      const CorrectnessResult r = checkCorrectness(p, p.s_, 1);
      EXPECT_TRUE(r.passed) << kernels::dtypeName(dtype) << " causal=" << causal;
      EXPECT_LT(r.max_abs_error, 1e-6);
      EXPECT_GT(r.checked_rows, 40);
      if (dtype != DType::F32) {
        EXPECT_GT(r.reference_error, 0.0);  // the low-precision bar is not zero
      }
    }
  }
}

TEST(Correctness, AMeasuredBaselineErrorSetsTheBar) {
  kernels::AttentionShape s = shape(DType::F16, false);
  s.seq_q = s.seq_kv = 40;
  ExactPoint p(s);
  p.at(p.o_, 0, 5)[3] += 0.05f;
  EXPECT_FALSE(checkCorrectness(p, s, 1).passed);  // emulated fp16 bar: far below 0.05
  const CorrectnessResult loose = checkCorrectness(p, s, 1, 0.04);
  EXPECT_DOUBLE_EQ(loose.reference_error, 0.04);
  EXPECT_NEAR(loose.tolerance, 0.08 + 1e-4, 1e-12);
  EXPECT_TRUE(loose.passed);
}

// A point of parts (tensor parallel ranks, each with its own heads and inputs) is checked part by part.
class PartsPoint final : public PreparedPoint {
 public:
  PartsPoint(ExactPoint& a, ExactPoint& b) : a_(a), b_(b) {}
  double runTimed() override { return 0; }
  TileShape resolvedTile() const override { return {}; }
  std::uint64_t peakBytes() const override { return 0; }
  std::int64_t countUnwrittenOutputs() override { return 0; }
  int kvLength(int) const override { return 0; }
  std::vector<float> readRows(TensorId, int, int, int, int) override { return {}; }  // never read: the parts are checked
  std::vector<PreparedPart> parts() override { return {{&a_, a_.s_}, {&b_, b_.s_}}; }
  ExactPoint &a_, &b_;
};

TEST(Correctness, APointOfPartsPassesOnlyWhenEveryPartDoes) {
  kernels::AttentionShape s = shape(DType::F16, false);
  s.seq_q = s.seq_kv = 40;
  ExactPoint first(s), second(s);
  PartsPoint split(first, second);
  const CorrectnessResult good = checkCorrectness(split, s, 1);
  EXPECT_TRUE(good.passed);
  EXPECT_EQ(good.checked_rows, 2 * checkCorrectness(first, s, 1).checked_rows);
  second.at(second.o_, 0, 7)[2] += 0.05f;  // a wrong element in the second part only
  const CorrectnessResult bad = checkCorrectness(split, s, 1);
  EXPECT_FALSE(bad.passed);
  EXPECT_GT(bad.max_abs_error, 0.04);
  second.unwritten = 3;
  second.at(second.o_, 0, 7)[2] -= 0.05f;
  const CorrectnessResult unwritten = checkCorrectness(split, s, 1);
  EXPECT_EQ(unwritten.unwritten, 3);
  EXPECT_FALSE(unwritten.passed);
}

TEST(Correctness, DetectsAWrongElementAnUnwrittenOutputAndNaN) {
  kernels::AttentionShape s = shape(DType::F16, false);
  s.seq_q = s.seq_kv = 40;  // all rows are checked
  {
    ExactPoint p(s);
    p.at(p.o_, 0, 5)[3] += 0.05f;
    EXPECT_FALSE(checkCorrectness(p, s, 1).passed);
  }
  {
    ExactPoint p(s);
    p.unwritten = 1;
    EXPECT_FALSE(checkCorrectness(p, s, 1).passed);
  }
  {
    ExactPoint p(s);
    p.at(p.o_, 0, 39)[0] = std::nanf("");
    const CorrectnessResult r = checkCorrectness(p, s, 1);
    EXPECT_FALSE(r.passed);
    EXPECT_TRUE(std::isinf(r.max_abs_error));
  }
  {
    // Masking the wrong way (ignoring causality) must be caught.
    ExactPoint p(shape(DType::F32, false));
    kernels::AttentionShape causal = p.s_;
    causal.causal = true;
    EXPECT_FALSE(checkCorrectness(p, causal, 1).passed);
  }
}

}  // namespace
}  // namespace attnbench
