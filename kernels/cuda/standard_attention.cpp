// The standard baseline: S = scale Q K^T and O = P V on cuBLAS, with the masked row softmax between
// them. The score matrix [B, Hq, Nq, Nk] is the caller's workspace: the N^2 memory that flash avoids.
#include <climits>
#include <cstdint>
#include <string>

#include "attnbench/kernels/cuda_attention.h"
#include "standard_softmax.h"

namespace attnbench::kernels::cuda {
namespace {

cudaDataType_t cudaType(DType dtype) {
  switch (dtype) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F32: return CUDA_R_32F;
  }
  return CUDA_R_32F;
}

// One strided-batched GEMM pair's operands: `count` problems of `rows` query rows each.
struct GemmBatch {
  const void* q;
  const void* k;
  const void* v;
  void* scores;
  void* o;
  int count;
  int rows;
  long long q_stride, k_stride, v_stride, scores_stride, o_stride;
};

const void* offsetBytes(const void* base, std::int64_t elements, std::size_t element_bytes) {
  return static_cast<const char*>(base) + elements * static_cast<std::int64_t>(element_bytes);
}

void* offsetBytes(void* base, std::int64_t elements, std::size_t element_bytes) {
  return static_cast<char*>(base) + elements * static_cast<std::int64_t>(element_bytes);
}

// Calls `gemm` for each batch of problems. Packed [B, H, N, D] tensors make one batch of B * Hkv
// problems: the g query heads of one KV group are contiguous, a (g * Nq) x D matrix against one K
// and one V. Any other layout falls back to one problem per (batch, query head).
template <class Gemm>
cublasStatus_t forEachBatch(const AttentionParams& p, void* scores, Gemm&& gemm) {
  const int group = p.heads_q / p.heads_kv;
  const std::size_t bytes = static_cast<std::size_t>(bytesPerElement(p.dtype));
  const std::int64_t score_rows = static_cast<std::int64_t>(p.seq_q) * p.seq_kv;  // elements per head
  const bool packed = p.q_head_stride == p.seq_q * p.q_row_stride && p.q_batch_stride == p.heads_q * p.q_head_stride &&
                      p.o_head_stride == p.seq_q * p.o_row_stride && p.o_batch_stride == p.heads_q * p.o_head_stride &&
                      p.k_batch_stride == p.heads_kv * p.k_head_stride &&
                      p.v_batch_stride == p.heads_kv * p.v_head_stride;
  if (packed) {
    return gemm(GemmBatch{p.q, p.k, p.v, scores, p.o, p.batch * p.heads_kv, group * p.seq_q,
                          group * p.q_head_stride, p.k_head_stride, p.v_head_stride, group * score_rows,
                          group * p.o_head_stride});
  }
  for (int b = 0; b < p.batch; ++b) {
    for (int h = 0; h < p.heads_q; ++h) {
      const int h_kv = h / group;
      const GemmBatch one{offsetBytes(p.q, b * p.q_batch_stride + h * p.q_head_stride, bytes),
                          offsetBytes(p.k, b * p.k_batch_stride + h_kv * p.k_head_stride, bytes),
                          offsetBytes(p.v, b * p.v_batch_stride + h_kv * p.v_head_stride, bytes),
                          offsetBytes(scores, (static_cast<std::int64_t>(b) * p.heads_q + h) * score_rows, bytes),
                          offsetBytes(p.o, b * p.o_batch_stride + h * p.o_head_stride, bytes),
                          1,
                          p.seq_q,
                          0,
                          0,
                          0,
                          0,
                          0};
      if (const cublasStatus_t status = gemm(one); status != CUBLAS_STATUS_SUCCESS) return status;
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

std::string standardUnsupportedReason(const AttentionParams& p) {
  if (p.batch <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.seq_q <= 0 || p.seq_kv <= 0 || p.head_dim <= 0) {
    return "batch, heads, sequence lengths and head dim must be positive";
  }
  if (p.heads_q % p.heads_kv != 0) return "heads_q must be a multiple of heads_kv";
  const std::int64_t stacked_rows = static_cast<std::int64_t>(p.heads_q / p.heads_kv) * p.seq_q;
  const std::int64_t row_strides[] = {p.q_row_stride, p.k_row_stride, p.v_row_stride, p.o_row_stride};
  bool fits_int = stacked_rows <= INT_MAX && static_cast<std::int64_t>(p.batch) * p.heads_q * p.seq_q <= INT_MAX;
  for (const std::int64_t stride : row_strides) fits_int = fits_int && stride >= p.head_dim && stride <= INT_MAX;
  if (!fits_int) return "cuBLAS takes int dimensions and leading dimensions >= head dim; this shape exceeds them";
  return {};
}

std::size_t standardWorkspaceBytes(const AttentionParams& p) {
  return static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(p.heads_q) * static_cast<std::size_t>(p.seq_q) *
         static_cast<std::size_t>(p.seq_kv) * static_cast<std::size_t>(bytesPerElement(p.dtype));
}

cudaError_t standardAttention(const AttentionParams& p, void* workspace, cublasHandle_t cublas, cudaStream_t stream,
                              cublasStatus_t* cublas_status) {
  if (!standardUnsupportedReason(p).empty() || workspace == nullptr || cublas == nullptr) return cudaErrorInvalidValue;
  const cudaDataType_t type = cudaType(p.dtype);
  const float scale = p.softmax_scale;
  const float one = 1.0f;
  const float zero = 0.0f;
  const auto fail = [&](cublasStatus_t status) {
    if (cublas_status != nullptr) *cublas_status = status;
    return cudaErrorUnknown;
  };

  // Row-major matrices seen by column-major cuBLAS are transposed: S^T (Nk x rows) = K (Nk x D) . Q^T.
  cublasStatus_t status = forEachBatch(p, workspace, [&](const GemmBatch& b) {
    return cublasGemmStridedBatchedEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, p.seq_kv, b.rows, p.head_dim, &scale, b.k, type,
                                      static_cast<int>(p.k_row_stride), b.k_stride, b.q, type,
                                      static_cast<int>(p.q_row_stride), b.q_stride, &zero, b.scores, type, p.seq_kv,
                                      b.scores_stride, b.count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  });
  if (status != CUBLAS_STATUS_SUCCESS) return fail(status);

  const std::int64_t rows = static_cast<std::int64_t>(p.batch) * p.heads_q * p.seq_q;
  if (const cudaError_t error =
          detail::launchMaskedRowSoftmax(workspace, p.dtype, rows, p.seq_q, p.seq_kv, p.causal, stream);
      error != cudaSuccess) {
    return error;
  }

  // O^T (D x rows) = V^T (D x Nk) . P^T (Nk x rows).
  status = forEachBatch(p, workspace, [&](const GemmBatch& b) {
    return cublasGemmStridedBatchedEx(cublas, CUBLAS_OP_N, CUBLAS_OP_N, p.head_dim, b.rows, p.seq_kv, &one, b.v, type,
                                      static_cast<int>(p.v_row_stride), b.v_stride, b.scores, type, p.seq_kv,
                                      b.scores_stride, &zero, b.o, type, static_cast<int>(p.o_row_stride), b.o_stride,
                                      b.count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  });
  if (status != CUBLAS_STATUS_SUCCESS) return fail(status);
  return cudaSuccess;
}

}  // namespace attnbench::kernels::cuda
