// Pieces both CPU kernels share: Eigen views of row-major fp32 blocks, the storage-dtype dispatch and
// conversions, the causal window, the exponentiated softmax row, and the worker pool over work items.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cpu::detail {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Every GEMM operand is one of these two view types, whatever the storage dtype, so Eigen's GEMM is
// instantiated once per product shape rather than once per dtype.
using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Scratch buffers start on 64-byte lines. Eigen peels unaligned heads of a vectorized loop into
// scalar code (std::exp instead of its packet exp, another summation order), so the bits of a result
// would otherwise depend on where the caller's workspace or a worker's slice happens to start.
constexpr std::size_t kLineBytes = 64;
constexpr std::size_t kFloatsPerLine = kLineBytes / sizeof(float);
constexpr std::size_t padToLine(std::size_t floats) {
  return (floats + kFloatsPerLine - 1) / kFloatsPerLine * kFloatsPerLine;
}
// Lays out one worker's scratch as float offsets: each take() is a buffer of `floats` floats on its own
// line run, after the ones taken before it; size() is the scratch's whole length.
class ScratchLayoutBuilder {
 public:
  std::size_t take(std::size_t floats) {
    const std::size_t offset = end_;
    end_ += padToLine(floats);
    return offset;
  }
  std::size_t size() const { return end_; }

 private:
  std::size_t end_ = 0;
};
// The first line boundary at or after `p`; workspaces that are aligned this way carry kLineBytes of slack.
inline float* alignToLine(void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<float*>((address + kLineBytes - 1) / kLineBytes * kLineBytes);
}

// Calls fn with a value of the C++ storage type of `dtype` (float, Eigen::half or Eigen::bfloat16).
template <class Fn>
void dispatchStorage(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::F32: fn(float{}); return;
    case DType::F16: fn(Eigen::half{}); return;
    case DType::BF16: fn(Eigen::bfloat16{}); return;
  }
}

// dst[r, :] = scale * float(src[r, :]) for a rows x cols block; strides in elements.
template <class T>
void loadRows(const T* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, float scale,
              float* dst, std::int64_t dst_stride) {
  using Storage = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  for (std::int64_t r = 0; r < rows; ++r) {
    Eigen::Map<Eigen::ArrayXf> out(dst + r * dst_stride, cols);
    if (scale == 1.0f) {
      out = Storage(src + r * src_stride, cols).template cast<float>();
    } else {
      out = Storage(src + r * src_stride, cols).template cast<float>() * scale;
    }
  }
}

// dst[r, :] = T(row_scale[r] * src[r, :]) for a rows x cols block (the final store of O); a null
// row_scale means 1.
template <class T>
void storeRows(const float* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols,
               const float* row_scale, T* dst, std::int64_t dst_stride) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float scale = row_scale != nullptr ? row_scale[r] : 1.0f;
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(dst + r * dst_stride, cols) =
        (Eigen::Map<const Eigen::ArrayXf>(src + r * src_stride, cols) * scale).template cast<T>();
  }
}

// Number of keys (a prefix of 0..seq_kv-1) that query row `row` may see: bottom-right aligned causal
// window, or all keys. Zero for rows above the diagonal when seq_q > seq_kv.
inline std::int64_t visibleKeys(const AttentionParams& p, std::int64_t row) {
  if (!p.causal) return p.seq_kv;
  return std::clamp<std::int64_t>(row + p.seq_kv - p.seq_q + 1, 0, p.seq_kv);
}

// Over one score row: row[0, valid) becomes exp(row - shift), row[valid, size) becomes 0.
// Returns the sum of the exponentials.
inline float exponentiateRow(float* row, std::int64_t valid, std::int64_t size, float shift) {
  Eigen::Map<Eigen::ArrayXf> head(row, valid);
  head = (head - shift).exp();
  std::fill(row + valid, row + size, 0.0f);
  return head.sum();
}

inline float rowMax(const float* row, std::int64_t valid) {
  return valid > 0 ? Eigen::Map<const Eigen::ArrayXf>(row, valid).maxCoeff() : kNegInf;
}

// True when every dimension is positive and the head counts fit GQA; otherwise there is no work
// (or no valid work) and the kernels return without touching memory.
inline bool hasWork(const AttentionParams& p) {
  return p.batch > 0 && p.heads_q > 0 && p.heads_kv > 0 && p.heads_q % p.heads_kv == 0 && p.seq_q > 0 &&
         p.head_dim > 0;
}

// Workers actually started for `items` work items: never more than requested, never idle ones.
inline int workerCount(std::int64_t items, int threads) {
  return static_cast<int>(std::clamp<std::int64_t>(items, 1, std::max(threads, 1)));
}

// Runs body(item, worker) for every item in [0, items); workers pull items from a shared counter,
// worker ids are 0 .. workerCount(items, threads) - 1. One worker runs on the calling thread.
template <class Body>
void parallelFor(std::int64_t items, int threads, const Body& body) {
  const int workers = workerCount(items, threads);
  std::atomic<std::int64_t> next{0};
  auto drain = [&](int worker) {
    for (std::int64_t item = next.fetch_add(1); item < items; item = next.fetch_add(1)) body(item, worker);
  };
  std::vector<std::jthread> pool;
  pool.reserve(static_cast<std::size_t>(workers - 1));
  for (int w = 1; w < workers; ++w) pool.emplace_back(drain, w);
  drain(0);
}

}  // namespace attnbench::kernels::cpu::detail
