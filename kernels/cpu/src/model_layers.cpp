#include "attnbench/kernels/model_layers.h"

#include <cmath>
#include <cstddef>

#include <Eigen/Core>

namespace attnbench::kernels::cpu {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

void rmsNorm(const float* x, const float* weight, int rows, int dim, float eps, float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* in = x + static_cast<std::ptrdiff_t>(r) * dim;
    float* dst = out + static_cast<std::ptrdiff_t>(r) * dim;
    double sum_squares = 0;
    for (int i = 0; i < dim; ++i) sum_squares += static_cast<double>(in[i]) * in[i];
    const auto inv_rms = static_cast<float>(1.0 / std::sqrt(sum_squares / dim + eps));
    for (int i = 0; i < dim; ++i) dst[i] = in[i] * inv_rms * weight[i];
  }
}

void applyRotary(float* x, int rows, int heads, int head_dim, std::int64_t row_stride, int first_position,
                 double theta) {
  const int half = head_dim / 2;
  for (int r = 0; r < rows; ++r) {
    const auto position = static_cast<float>(first_position + r);
    for (int i = 0; i < half; ++i) {
      // Hugging Face rounds the inverse frequency and the angle to fp32 before the cosine; so do we,
      // so that long positions land on the same angles as a checkpoint's reference implementation.
      const auto inv_freq = static_cast<float>(1.0 / std::pow(theta, 2.0 * i / head_dim));
      const double angle = position * inv_freq;
      const auto c = static_cast<float>(std::cos(angle));
      const auto s = static_cast<float>(std::sin(angle));
      for (int h = 0; h < heads; ++h) {
        float* head = x + r * row_stride + static_cast<std::int64_t>(h) * head_dim;
        const float a = head[i];
        const float b = head[i + half];
        head[i] = a * c - b * s;
        head[i + half] = b * c + a * s;
      }
    }
  }
}

void swiglu(const float* gate_up, int rows, int ffn, float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* gate = gate_up + static_cast<std::ptrdiff_t>(r) * 2 * ffn;
    const float* up = gate + ffn;
    float* dst = out + static_cast<std::ptrdiff_t>(r) * ffn;
    for (int j = 0; j < ffn; ++j) dst[j] = gate[j] / (1.0f + std::exp(-gate[j])) * up[j];
  }
}

void embeddingLookup(const float* table, int hidden, const std::int32_t* tokens, int count, float* out) {
  for (int r = 0; r < count; ++r) {
    const float* row = table + static_cast<std::ptrdiff_t>(tokens[r]) * hidden;
    float* dst = out + static_cast<std::ptrdiff_t>(r) * hidden;
    for (int i = 0; i < hidden; ++i) dst[i] = row[i];
  }
}

void linear(const float* x, int rows, int in, const float* w, int out, float* y, bool accumulate) {
  const Eigen::Map<const RowMajor> X(x, rows, in);
  const Eigen::Map<const RowMajor> W(w, out, in);
  Eigen::Map<RowMajor> Y(y, rows, out);
  if (accumulate) {
    Y.noalias() += X * W.transpose();
  } else {
    Y.noalias() = X * W.transpose();
  }
}

}  // namespace attnbench::kernels::cpu
