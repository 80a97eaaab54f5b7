// Standard attention on the CPU: S = scale Q K^T for a whole block of query rows against all keys
// (materialized in the caller's workspace), a masked row softmax in place, then O = P V.
#include <cmath>

#include "attnbench/kernels/cpu_attention.h"
#include "cpu_support.h"

namespace attnbench::kernels::cpu {
namespace {

using detail::ConstRowMap;
using detail::RowMap;

// fp32 views of the inputs: the caller's tensors when they are fp32, else packed fp32 copies in the
// workspace (whose copy of Q, once a block's scores exist, then holds that block's fp32 O).
struct Fp32Inputs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  std::int64_t q_batch = 0, q_head = 0, q_row = 0;
  std::int64_t k_batch = 0, k_head = 0, k_row = 0;
  std::int64_t v_batch = 0, v_head = 0, v_row = 0;
};

std::int64_t scoreElements(const AttentionParams& p) {
  return std::int64_t{p.batch} * p.heads_q * p.seq_q * p.seq_kv;
}
std::int64_t queryElements(const AttentionParams& p) {
  return std::int64_t{p.batch} * p.heads_q * p.seq_q * p.head_dim;
}
std::int64_t keyElements(const AttentionParams& p) {
  return std::int64_t{p.batch} * p.heads_kv * p.seq_kv * p.head_dim;
}

// Query rows per work item: whole heads when there are enough of them to keep every worker busy,
// else each head is cut into row blocks (B * Hq = 1 still uses every thread).
std::int64_t rowsPerItem(const AttentionParams& p, int threads) {
  const std::int64_t heads = std::int64_t{p.batch} * p.heads_q;
  const std::int64_t wanted_items = 2 * std::int64_t{std::max(threads, 1)};
  const std::int64_t blocks = heads >= wanted_items ? 1 : (wanted_items + heads - 1) / heads;
  return (p.seq_q + blocks - 1) / blocks;
}

// Converts Q, K and V to packed fp32 copies (layout [B, H, N, D]) in parallel over heads.
template <class T>
Fp32Inputs convertInputs(const AttentionParams& p, float* copies, int threads) {
  const std::int64_t d = p.head_dim;
  Fp32Inputs in;
  float* q32 = copies;
  float* k32 = q32 + queryElements(p);
  float* v32 = k32 + keyElements(p);
  in.q = q32;
  in.k = k32;
  in.v = v32;
  in.q_row = in.k_row = in.v_row = d;
  in.q_head = p.seq_q * d;
  in.k_head = in.v_head = p.seq_kv * d;
  in.q_batch = in.q_head * p.heads_q;
  in.k_batch = in.v_batch = in.k_head * p.heads_kv;

  const std::int64_t q_heads = std::int64_t{p.batch} * p.heads_q;
  const std::int64_t kv_heads = std::int64_t{p.batch} * p.heads_kv;
  detail::parallelFor(q_heads + 2 * kv_heads, threads, [&](std::int64_t item, int) {
    if (item < q_heads) {
      const std::int64_t b = item / p.heads_q, h = item % p.heads_q;
      detail::loadRows(static_cast<const T*>(p.q) + b * p.q_batch_stride + h * p.q_head_stride, p.q_row_stride,
                       p.seq_q, d, 1.0f, q32 + item * in.q_head, d);
      return;
    }
    const bool is_key = item < q_heads + kv_heads;
    const std::int64_t kv = (item - q_heads) % kv_heads;
    const std::int64_t b = kv / p.heads_kv, h = kv % p.heads_kv;
    const T* src = is_key ? static_cast<const T*>(p.k) + b * p.k_batch_stride + h * p.k_head_stride
                          : static_cast<const T*>(p.v) + b * p.v_batch_stride + h * p.v_head_stride;
    detail::loadRows(src, is_key ? p.k_row_stride : p.v_row_stride, p.seq_kv, d, 1.0f,
                     (is_key ? k32 : v32) + kv * in.k_head, d);
  });
  return in;
}

template <class T>
void runStandard(const AttentionParams& p, float* workspace, int threads) {
  const std::int64_t n_kv = p.seq_kv;
  const std::int64_t d = p.head_dim;
  float* scores = workspace;

  Fp32Inputs in;
  if constexpr (std::is_same_v<T, float>) {
    in = {static_cast<const float*>(p.q), static_cast<const float*>(p.k), static_cast<const float*>(p.v),
          p.q_batch_stride, p.q_head_stride, p.q_row_stride, p.k_batch_stride, p.k_head_stride, p.k_row_stride,
          p.v_batch_stride, p.v_head_stride, p.v_row_stride};
  } else {
    in = convertInputs<T>(p, scores + scoreElements(p), threads);
  }

  const std::int64_t block_rows = rowsPerItem(p, threads);
  const std::int64_t blocks_per_head = (p.seq_q + block_rows - 1) / block_rows;
  const std::int64_t items = std::int64_t{p.batch} * p.heads_q * blocks_per_head;
  const int group = p.groupSize();

  detail::parallelFor(items, threads, [&](std::int64_t item, int) {
    const std::int64_t head = item / blocks_per_head;  // b * Hq + h
    const std::int64_t b = head / p.heads_q, h = head % p.heads_q, kv_h = h / group;
    const std::int64_t r0 = (item % blocks_per_head) * block_rows;
    const std::int64_t rows = std::min(block_rows, p.seq_q - r0);

    const float* q_block = in.q + b * in.q_batch + h * in.q_head + r0 * in.q_row;
    const ConstRowMap q(q_block, rows, d, Eigen::OuterStride<>(in.q_row));
    const ConstRowMap k(in.k + b * in.k_batch + kv_h * in.k_head, n_kv, d, Eigen::OuterStride<>(in.k_row));
    const ConstRowMap v(in.v + b * in.v_batch + kv_h * in.v_head, n_kv, d, Eigen::OuterStride<>(in.v_row));
    RowMap s(scores + (head * p.seq_q + r0) * n_kv, rows, n_kv, Eigen::OuterStride<>(n_kv));

    s.noalias() = p.softmax_scale * q * k.transpose();

    for (std::int64_t i = 0; i < rows; ++i) {
      float* row = s.row(i).data();
      const std::int64_t visible = detail::visibleKeys(p, r0 + i);
      const float row_max = detail::rowMax(row, visible);
      float lse = detail::kNegInf;
      if (visible == 0) {
        std::fill(row, row + n_kv, 0.0f);  // a row that sees no key outputs zeros
      } else {
        const float sum = detail::exponentiateRow(row, visible, n_kv, row_max);
        Eigen::Map<Eigen::ArrayXf>(row, visible) *= 1.0f / sum;
        lse = row_max + std::log(sum);
      }
      if (p.lse != nullptr) p.lse[head * p.seq_q + r0 + i] = lse;
    }

    if constexpr (std::is_same_v<T, float>) {
      RowMap o(static_cast<float*>(p.o) + b * p.o_batch_stride + h * p.o_head_stride + r0 * p.o_row_stride, rows,
               d, Eigen::OuterStride<>(p.o_row_stride));
      o.noalias() = s * v;
    } else {
      // The block's fp32 Q rows are no longer needed: they receive the fp32 O before conversion.
      float* o32 = scores + scoreElements(p) + b * in.q_batch + h * in.q_head + r0 * in.q_row;
      RowMap o(o32, rows, d, Eigen::OuterStride<>(in.q_row));
      o.noalias() = s * v;
      detail::storeRows(o32, in.q_row, rows, d, nullptr,
                        static_cast<T*>(p.o) + b * p.o_batch_stride + h * p.o_head_stride + r0 * p.o_row_stride,
                        p.o_row_stride);
    }
  });
}

}  // namespace

std::size_t standardWorkspaceBytes(const AttentionParams& params) {
  if (!detail::hasWork(params)) return 0;
  std::int64_t floats = scoreElements(params);
  if (params.dtype != DType::F32) floats += queryElements(params) + 2 * keyElements(params);
  return static_cast<std::size_t>(floats) * sizeof(float);
}

void standardAttention(const AttentionParams& params, void* workspace, int threads) {
  if (!detail::hasWork(params)) return;
  detail::dispatchStorage(params.dtype, [&](auto tag) {
    runStandard<decltype(tag)>(params, static_cast<float*>(workspace), threads);
  });
}

}  // namespace attnbench::kernels::cpu
