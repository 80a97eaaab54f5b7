// The one parameter block shared by every attention kernel in attnbench (CPU and CUDA, flash and
// standard). Kernels read shapes, strides and pointers from here and nothing else; they know nothing
// of sweeps, stores or the application.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

// The few shape helpers kernels call on the device too.
#if defined(__CUDACC__)
#define ATTNBENCH_HOST_DEVICE __host__ __device__
#else
#define ATTNBENCH_HOST_DEVICE
#endif

namespace attnbench::kernels {

// Storage type of Q, K, V and O. Accumulation is always fp32.
enum class DType : std::uint8_t { F32, F16, BF16 };

constexpr int bytesPerElement(DType dtype) { return dtype == DType::F32 ? 4 : 2; }

constexpr std::string_view dtypeName(DType dtype) {
  switch (dtype) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    case DType::BF16: return "bf16";
  }
  return "?";
}

// The attention problem itself: dimensions, mask and storage type, without pointers or strides. It is
// the one problem type of attnbench: kernels read it through AttentionParams and DecodeParams, core's
// sweep points carry it, and every size check and FLOP count is made on it.
// Causal masking is aligned bottom-right (query i may see keys j <= i + seq_kv - seq_q), the
// convention of flash-attention >= 2.1; with seq_q == seq_kv it is the usual lower triangle.
struct AttentionShape {
  int batch = 1;     // B
  int heads_q = 1;   // Hq, query heads
  int heads_kv = 1;  // Hkv, key/value heads; divides Hq (GQA/MQA when smaller)
  int seq_q = 1;     // Nq, query rows (new tokens in decode)
  int seq_kv = 1;    // Nk, key/value rows (the cache length in decode)
  int head_dim = 64; // D, the same for Q, K and V
  bool causal = false;
  DType dtype = DType::F16;  // storage type of q, k, v, o; accumulation is fp32

  // Query heads sharing one key/value head.
  ATTNBENCH_HOST_DEVICE int groupSize() const { return heads_kv > 0 ? heads_q / heads_kv : 0; }

  // Query-key pairs the mask lets through: Nq*Nk, or with the bottom-right causal mask Nq*Nk - Nq^2/2
  // (half the square when Nq == Nk, the convention of FLOP counts in the FlashAttention papers).
  double visiblePairs() const {
    const double nq = seq_q, nk = seq_kv;
    if (!causal) return nq * nk;
    return nq <= nk ? nq * nk - nq * nq / 2 : nk * nk / 2;
  }
  bool operator==(const AttentionShape& o) const {
    return batch == o.batch && heads_q == o.heads_q && heads_kv == o.heads_kv && seq_q == o.seq_q &&
           seq_kv == o.seq_kv && head_dim == o.head_dim && causal == o.causal && dtype == o.dtype;
  }
  bool operator!=(const AttentionShape& o) const { return !(*this == o); }

  // Forward FLOPs: two GEMMs (Q K^T and P V) of 2*D FLOPs per visible pair, for every query head.
  double flops() const { return 4.0 * batch * heads_q * head_dim * visiblePairs(); }
};

// Forward attention O = softmax(scale * Q K^T + mask) V for a batch of heads.
// Strides are in elements (not bytes) and int64 so that B*H*N*D beyond 2^31 stays addressable.
struct AttentionParams : AttentionShape {
  const void* q = nullptr;  // [batch, heads_q, seq_q, head_dim] via the q_* strides
  const void* k = nullptr;  // [batch, heads_kv, seq_kv, head_dim] via the k_* strides
  const void* v = nullptr;  // [batch, heads_kv, seq_kv, head_dim] via the v_* strides
  void* o = nullptr;        // [batch, heads_q, seq_q, head_dim] via the o_* strides, same dtype as q
  float* lse = nullptr;     // [batch, heads_q, seq_q] contiguous natural-log sum-exp per row; may be null

  std::int64_t q_batch_stride = 0, q_head_stride = 0, q_row_stride = 0;  // element strides of q
  std::int64_t k_batch_stride = 0, k_head_stride = 0, k_row_stride = 0;  // element strides of k
  std::int64_t v_batch_stride = 0, v_head_stride = 0, v_row_stride = 0;  // element strides of v
  std::int64_t o_batch_stride = 0, o_head_stride = 0, o_row_stride = 0;  // element strides of o

  float softmax_scale = 1.0f;  // usually 1/sqrt(D)
};

// Copies the element strides of Q, K, V and O between params structs that name them alike
// (AttentionParams and DecodeParams): a decode step viewed as a prefill problem and back.
template <typename To, typename From>
constexpr void copyStrides(To& to, const From& from) {
  to.q_batch_stride = from.q_batch_stride, to.q_head_stride = from.q_head_stride, to.q_row_stride = from.q_row_stride;
  to.k_batch_stride = from.k_batch_stride, to.k_head_stride = from.k_head_stride, to.k_row_stride = from.k_row_stride;
  to.v_batch_stride = from.v_batch_stride, to.v_head_stride = from.v_head_stride, to.v_row_stride = from.v_row_stride;
  to.o_batch_stride = from.o_batch_stride, to.o_head_stride = from.o_head_stride, to.o_row_stride = from.o_row_stride;
}

// The usual softmax scale 1/sqrt(D).
inline float defaultSoftmaxScale(int head_dim) { return 1.0f / std::sqrt(static_cast<float>(head_dim)); }

// Sets the problem of `p` (dimensions, mask, dtype) with the usual softmax scale; pointers and strides stay.
inline void setShape(AttentionParams& p, const AttentionShape& s) {
  static_cast<AttentionShape&>(p) = s;
  p.softmax_scale = defaultSoftmaxScale(s.head_dim);
}

// Element strides of one tensor indexed [batch, head, row, :].
struct TensorStrides {
  std::int64_t batch = 0, head = 0, row = 0;
  std::int64_t offset(std::int64_t b, std::int64_t h, std::int64_t i) const { return b * batch + h * head + i * row; }
};

// Densely packed [B, H, N, D] (the layout attnbench allocates).
constexpr TensorStrides packedBhndStrides(int heads, int rows, int dim) {
  return {std::int64_t{heads} * rows * dim, std::int64_t{rows} * dim, dim};
}

// [B, N, H, D]: heads interleaved within each row (the layout of a fused QKV projection's output).
constexpr TensorStrides interleavedBnhdStrides(int heads, int rows, int dim) {
  return {std::int64_t{rows} * heads * dim, dim, std::int64_t{heads} * dim};
}

// Q and O share the `q` strides, K and V the `kv` strides. `Params` is AttentionParams or DecodeParams
// (decode_params.h), which carry the same q_/k_/v_/o_ stride members.
template <class Params>
inline void setKvStrides(Params& p, TensorStrides kv) {
  p.k_batch_stride = p.v_batch_stride = kv.batch;
  p.k_head_stride = p.v_head_stride = kv.head;
  p.k_row_stride = p.v_row_stride = kv.row;
}
template <class Params>
inline void setStrides(Params& p, TensorStrides q, TensorStrides kv) {
  p.q_batch_stride = p.o_batch_stride = q.batch;
  p.q_head_stride = p.o_head_stride = q.head;
  p.q_row_stride = p.o_row_stride = q.row;
  setKvStrides(p, kv);
}

// Fills the strides for densely packed [B, H, N, D] tensors.
inline void setPackedBhndStrides(AttentionParams& p) {
  setStrides(p, packedBhndStrides(p.heads_q, p.seq_q, p.head_dim), packedBhndStrides(p.heads_kv, p.seq_kv, p.head_dim));
}

// Requested flash tile: rows of Q (Br) by rows of K/V (Bc) per step. {0, 0} asks the kernel
// family to choose for the device and head dim.
struct TileShape {
  int rows = 0;
  int cols = 0;
  bool isAuto() const { return rows == 0 && cols == 0; }
};

}  // namespace attnbench::kernels
