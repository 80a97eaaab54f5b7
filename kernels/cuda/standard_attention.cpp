// The standard baseline: S = scale Q K^T and O = P V on cuBLAS, with the masked row softmax between
// them. The score matrix [B, Hq, Nq, Nk] is the caller's workspace: the N^2 memory that flash avoids.
// Padded (the default), its rows and the GEMMs' Nk extent are rounded up to 16 bytes: cuBLAS's
// tensor-core kernels need every leading dimension and the extent along each operand's contiguous
// dimension aligned (S^T's Nk in the first GEMM, P^T's Nk in the second), so at Nk = 12345 the
// unpadded GEMMs run on slow unaligned kernels. K and V then go through zero-padded copies.
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

// Elements per 16 bytes: the alignment cuBLAS's tensor-core kernels want of every leading dimension
// and of the extent along each operand's contiguous dimension.
std::int64_t alignedElements(DType dtype) { return 16 / bytesPerElement(dtype); }

std::int64_t roundUp(std::int64_t value, std::int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// Where the GEMMs find the score matrix and K, V, and how many key rows they run over.
struct ScoreGeometry {
  std::int64_t row_stride;  // elements between score rows
  int key_rows;             // the GEMMs' Nk extent: Nk, or the row stride where K and V are padded copies
  bool copies_kv;           // K and V are copied to [B, Hkv, key_rows, D] with zero rows past Nk
};

ScoreGeometry scoreGeometry(const AttentionParams& p, ScoreLayout layout) {
  if (layout == ScoreLayout::Dense) return {p.seq_kv, p.seq_kv, false};
  const std::int64_t padded = roundUp(p.seq_kv, alignedElements(p.dtype));
  return {padded, static_cast<int>(padded), padded != p.seq_kv};
}

std::size_t scoreBytes(const AttentionParams& p, const ScoreGeometry& g) {
  return static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(p.heads_q) * static_cast<std::size_t>(p.seq_q) *
         static_cast<std::size_t>(g.row_stride) * static_cast<std::size_t>(bytesPerElement(p.dtype));
}

std::size_t roundUp256(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// Bytes of one padded K (or V) copy, rounded up to 256 so that the next buffer starts aligned.
std::size_t kvCopyBytes(const AttentionParams& p, const ScoreGeometry& g) {
  return roundUp256(static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(p.heads_kv) *
                    static_cast<std::size_t>(g.key_rows) * static_cast<std::size_t>(p.head_dim) *
                    static_cast<std::size_t>(bytesPerElement(p.dtype)));
}

// One K or V operand as the GEMMs read it.
struct KvOperand {
  const void* data;
  std::int64_t batch_stride, head_stride, row_stride;
};

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

// Copies `source` ([B, Hkv, Nk, D] through its strides) to `target` ([B, Hkv, key_rows, D], packed)
// and zeroes rows Nk..key_rows-1, so that the padded GEMMs read defined zeros there.
cudaError_t copyPaddedKv(const AttentionParams& p, const KvOperand& source, void* target, const ScoreGeometry& g,
                         cudaStream_t stream) {
  const std::size_t bytes = static_cast<std::size_t>(bytesPerElement(p.dtype));
  const std::size_t row_bytes = static_cast<std::size_t>(p.head_dim) * bytes;
  const std::size_t head_bytes = static_cast<std::size_t>(g.key_rows) * row_bytes;
  const std::size_t heads = static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(p.heads_kv);
  cudaError_t error = cudaSuccess;
  if (source.row_stride == p.head_dim && source.batch_stride == p.heads_kv * source.head_stride) {
    // Rows contiguous within a head: one 2D copy of B * Hkv blocks of Nk rows.
    error = cudaMemcpy2DAsync(target, head_bytes, source.data, static_cast<std::size_t>(source.head_stride) * bytes,
                              static_cast<std::size_t>(p.seq_kv) * row_bytes, heads, cudaMemcpyDeviceToDevice, stream);
  } else {
    for (int b = 0; b < p.batch && error == cudaSuccess; ++b) {
      for (int h = 0; h < p.heads_kv && error == cudaSuccess; ++h) {
        error = cudaMemcpy2DAsync(
            offsetBytes(target, (static_cast<std::int64_t>(b) * p.heads_kv + h) * g.key_rows * p.head_dim, bytes),
            row_bytes, offsetBytes(source.data, b * source.batch_stride + h * source.head_stride, bytes),
            static_cast<std::size_t>(source.row_stride) * bytes, row_bytes, static_cast<std::size_t>(p.seq_kv),
            cudaMemcpyDeviceToDevice, stream);
      }
    }
  }
  if (error != cudaSuccess) return error;
  return cudaMemset2DAsync(offsetBytes(target, static_cast<std::int64_t>(p.seq_kv) * p.head_dim, bytes), head_bytes, 0,
                           static_cast<std::size_t>(g.key_rows - p.seq_kv) * row_bytes, heads, stream);
}

// Calls `gemm` for each batch of problems. Packed [B, H, N, D] tensors make one batch of B * Hkv
// problems: the g query heads of one KV group are contiguous, a (g * Nq) x D matrix against one K
// and one V. Any other layout falls back to one problem per (batch, query head).
template <class Gemm>
cublasStatus_t forEachBatch(const AttentionParams& p, const KvOperand& k, const KvOperand& v, void* scores,
                            std::int64_t score_row_stride, Gemm&& gemm) {
  const int group = p.heads_q / p.heads_kv;
  const std::size_t bytes = static_cast<std::size_t>(bytesPerElement(p.dtype));
  const std::int64_t score_rows = static_cast<std::int64_t>(p.seq_q) * score_row_stride;  // elements per head
  const bool packed = p.q_head_stride == p.seq_q * p.q_row_stride && p.q_batch_stride == p.heads_q * p.q_head_stride &&
                      p.o_head_stride == p.seq_q * p.o_row_stride && p.o_batch_stride == p.heads_q * p.o_head_stride &&
                      k.batch_stride == p.heads_kv * k.head_stride && v.batch_stride == p.heads_kv * v.head_stride;
  if (packed) {
    return gemm(GemmBatch{p.q, k.data, v.data, scores, p.o, p.batch * p.heads_kv, group * p.seq_q,
                          group * p.q_head_stride, k.head_stride, v.head_stride, group * score_rows,
                          group * p.o_head_stride});
  }
  for (int b = 0; b < p.batch; ++b) {
    for (int h = 0; h < p.heads_q; ++h) {
      const int h_kv = h / group;
      const GemmBatch one{offsetBytes(p.q, b * p.q_batch_stride + h * p.q_head_stride, bytes),
                          offsetBytes(k.data, b * k.batch_stride + h_kv * k.head_stride, bytes),
                          offsetBytes(v.data, b * v.batch_stride + h_kv * v.head_stride, bytes),
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

std::string standardUnsupportedReason(const AttentionParams& p, ScoreLayout layout) {
  if (p.batch <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.seq_q <= 0 || p.seq_kv <= 0 || p.head_dim <= 0) {
    return "batch, heads, sequence lengths and head dim must be positive";
  }
  if (p.heads_q % p.heads_kv != 0) return "heads_q must be a multiple of heads_kv";
  const std::int64_t stacked_rows = static_cast<std::int64_t>(p.heads_q / p.heads_kv) * p.seq_q;
  const std::int64_t row_strides[] = {p.q_row_stride, p.k_row_stride, p.v_row_stride, p.o_row_stride};
  bool fits_int = stacked_rows <= INT_MAX && static_cast<std::int64_t>(p.batch) * p.heads_q * p.seq_q <= INT_MAX &&
                  scoreGeometry(p, layout).row_stride <= INT_MAX;
  for (const std::int64_t stride : row_strides) fits_int = fits_int && stride >= p.head_dim && stride <= INT_MAX;
  if (!fits_int) return "cuBLAS takes int dimensions and leading dimensions >= head dim; this shape exceeds them";
  return {};
}

std::int64_t standardScoreRowStride(const AttentionParams& p, ScoreLayout layout) {
  return scoreGeometry(p, layout).row_stride;
}

std::size_t standardWorkspaceBytes(const AttentionParams& p, ScoreLayout layout) {
  const ScoreGeometry g = scoreGeometry(p, layout);
  return g.copies_kv ? roundUp256(scoreBytes(p, g)) + 2 * kvCopyBytes(p, g) : scoreBytes(p, g);
}

cudaError_t standardAttention(const AttentionParams& p, void* workspace, cublasHandle_t cublas, cudaStream_t stream,
                              cublasStatus_t* cublas_status, ScoreLayout layout) {
  if (!standardUnsupportedReason(p, layout).empty() || workspace == nullptr || cublas == nullptr) {
    return cudaErrorInvalidValue;
  }
  const cudaDataType_t type = cudaType(p.dtype);
  const ScoreGeometry g = scoreGeometry(p, layout);
  const int ld_scores = static_cast<int>(g.row_stride);
  const float scale = p.softmax_scale;
  const float one = 1.0f;
  const float zero = 0.0f;
  const auto fail = [&](cublasStatus_t status) {
    if (cublas_status != nullptr) *cublas_status = status;
    return cudaErrorUnknown;
  };

  KvOperand k{p.k, p.k_batch_stride, p.k_head_stride, p.k_row_stride};
  KvOperand v{p.v, p.v_batch_stride, p.v_head_stride, p.v_row_stride};
  if (g.copies_kv) {
    const std::int64_t head = static_cast<std::int64_t>(g.key_rows) * p.head_dim;
    // Workspace: [scores | K copy | V copy].
    void* const k_copy = static_cast<char*>(workspace) + roundUp256(scoreBytes(p, g));
    void* const v_copy = static_cast<char*>(k_copy) + kvCopyBytes(p, g);
    if (const cudaError_t error = copyPaddedKv(p, k, k_copy, g, stream); error != cudaSuccess) return error;
    if (const cudaError_t error = copyPaddedKv(p, v, v_copy, g, stream); error != cudaSuccess) return error;
    k = {k_copy, p.heads_kv * head, head, p.head_dim};
    v = {v_copy, p.heads_kv * head, head, p.head_dim};
  }

  // Row-major matrices seen by column-major cuBLAS are transposed: S^T (Nk x rows) = K (Nk x D) . Q^T.
  cublasStatus_t status = forEachBatch(p, k, v, workspace, g.row_stride, [&](const GemmBatch& b) {
    return cublasGemmStridedBatchedEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, g.key_rows, b.rows, p.head_dim, &scale, b.k,
                                      type, static_cast<int>(k.row_stride), b.k_stride, b.q, type,
                                      static_cast<int>(p.q_row_stride), b.q_stride, &zero, b.scores, type, ld_scores,
                                      b.scores_stride, b.count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  });
  if (status != CUBLAS_STATUS_SUCCESS) return fail(status);

  // Padded: the softmax writes 0 to the scores past Nk, which the second GEMM then multiplies with
  // the zero rows of the padded V.
  const std::int64_t rows = static_cast<std::int64_t>(p.batch) * p.heads_q * p.seq_q;
  if (const cudaError_t error =
          detail::launchMaskedRowSoftmax(workspace, p.dtype, rows, p.seq_q, p.seq_kv, g.row_stride, p.causal, stream);
      error != cudaSuccess) {
    return error;
  }

  // O^T (D x rows) = V^T (D x Nk) . P^T (Nk x rows).
  status = forEachBatch(p, k, v, workspace, g.row_stride, [&](const GemmBatch& b) {
    return cublasGemmStridedBatchedEx(cublas, CUBLAS_OP_N, CUBLAS_OP_N, p.head_dim, b.rows, g.key_rows, &one, b.v, type,
                                      static_cast<int>(v.row_stride), b.v_stride, b.scores, type, ld_scores,
                                      b.scores_stride, &zero, b.o, type, static_cast<int>(p.o_row_stride), b.o_stride,
                                      b.count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  });
  if (status != CUBLAS_STATUS_SUCCESS) return fail(status);
  return cudaSuccess;
}

}  // namespace attnbench::kernels::cuda
