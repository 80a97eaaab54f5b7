// The small fused CUDA kernels of a Llama-architecture decoder: RMSNorm, rotary embeddings fused with
// the KV-cache append, the SwiGLU gate, embedding lookup, and the element-wise fills and casts that
// put weights on the device. Activations are fp16 or bf16 with fp32 math inside each kernel.
// Matrices are row-major. All launches are asynchronous on `stream` and return the launch status
// (cudaErrorInvalidValue for a dtype a kernel does not take).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cuda {

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight for `rows` rows of `dim`; the row strides let
// the final norm read only the last position of each sequence. fp16/bf16.
cudaError_t rmsNorm(const void* x, std::int64_t x_row_stride, const void* weight, int rows, int dim, float eps,
                    void* out, std::int64_t out_row_stride, DType dtype, cudaStream_t stream);

// A paged KV cache, as the decode kernel reads it (decode_params.h): a pool [pages, heads_kv, page_size,
// head_dim] per K and V, position j of sequence b in page block_table[b * pages_per_sequence + j / page_size].
struct PagedKv {
  const std::int32_t* block_table = nullptr;  // device memory; null = a contiguous cache
  int pages_per_sequence = 0;
  int page_size = 0;
};

// The fused QKV projection's output for `new_tokens` positions of `batch` sequences, appended to a
// contiguous or paged KV cache after `first_position` cached tokens.
struct RotaryAppendParams {
  void* qkv = nullptr;      // [batch, new_tokens, (heads_q + 2 heads_kv) * head_dim]; Q rotated in place...
  void* q_out = nullptr;    // ...or, when set, into [batch, heads_q, new_tokens, head_dim] (packed per head, the
                            // layout in which cuBLAS runs all heads of a KV group as one strided batch)
  void* k_cache = nullptr;  // [batch, heads_kv, max_tokens, head_dim]; rotated K written at the new positions
  void* v_cache = nullptr;  // [batch, heads_kv, max_tokens, head_dim]; V copied to the new positions
  int batch = 0, new_tokens = 0, heads_q = 0, heads_kv = 0, head_dim = 0;
  int max_tokens = 0;       // cache capacity per sequence; first_position + new_tokens must not pass it
  int first_position = 0;   // tokens already cached (the position of the first new token)
  float theta = 10000.0f;   // rotary base; pairs (i, i + D/2) as in Hugging Face Llama
  DType dtype = DType::F16;
  PagedKv pages;            // set: k_cache and v_cache are page pools (max_tokens <= the pages' tokens)
};
cudaError_t rotaryAppendKv(const RotaryAppendParams& params, cudaStream_t stream);

// dst[b, h, j, :] = the paged cache's row j of sequence b and KV head h for j < tokens: a contiguous
// copy [batch, heads_kv, dst_max_tokens, head_dim] of one pool, for the kernels that read a contiguous
// cache (a prefill's flash attention). head_dim a multiple of 8, pool and dst 16-byte aligned.
cudaError_t gatherPagedKv(const void* pool, const PagedKv& pages, int batch, int heads_kv, int head_dim, int tokens,
                          void* dst, int dst_max_tokens, DType dtype, cudaStream_t stream);

// rows[b, t, h, :] = packed[b, h, t, :]: attention output packed per head back to one row per token.
cudaError_t headsToRows(const void* packed, int batch, int heads, int tokens, int head_dim, void* rows, DType dtype,
                        cudaStream_t stream);

// out[r, j] = silu(gate_up[r, j]) * gate_up[r, ffn + j] (the fused gate|up projection's output in).
cudaError_t swiglu(const void* gate_up, int rows, int ffn, void* out, DType dtype, cudaStream_t stream);

// out[r] = table[tokens[r]] for `count` device-resident token ids ([vocab, hidden] table).
cudaError_t embeddingLookup(const void* table, int hidden, const std::int32_t* tokens, int count, void* out,
                            DType dtype, cudaStream_t stream);

// The projections of a decode step: y[rows, out] (= or +=) x[rows, in] . w[out, in]^T for at most
// kSkinnyLinearMaxRows rows. Memory-bound: warps stream weight rows with 16-byte loads that bypass
// L1, so the weights cross the memory bus once per step (cuBLAS serves more rows). On sm_90 and
// later it is launched as a programmatic dependent launch: its first weight loads overlap the end of
// the kernel before it, on the SMs that kernel has left (rmsNorm, rotaryAppendKv, swiglu and
// embeddingLookup are launched so too). Two fusions remove the small kernels around it: the RMSNorm
// of the input rows (bit for bit what rmsNorm writes) and the SwiGLU of the output (bit for bit the
// plain projection summed the same way, whole rows or the same row_splits, followed by swiglu).
constexpr int kSkinnyLinearMaxRows = 8;

// Bytes that a kernel asks the memory system to bring into L2 for a later kernel (nothing is read into
// registers; sm_90 issues bulk L2 prefetches, older devices one prefetch per 128-byte line). 16-byte
// aligned, `bytes` a multiple of 16 (0: none).
struct L2Prefetch {
  const void* base = nullptr;
  std::size_t bytes = 0;
};

struct SkinnyLinearParams {
  const void* x = nullptr;            // [rows, in], rows x_row_stride elements apart; 16-byte aligned
  std::int64_t x_row_stride = 0;      // >= in, a multiple of 8
  int rows = 0, in = 0;               // rows 1..kSkinnyLinearMaxRows; in a multiple of 8
  const void* w = nullptr;            // [out, in], 16-byte aligned
  int out = 0;
  void* y = nullptr;                  // [rows, out], or [rows, out / 2] with swiglu
  DType y_dtype = DType::F16;         // dtype, or F32 (the LM head's logits)
  bool accumulate = false;            // y += x . w^T in fp32 (the residual connection)
  const void* norm_weight = nullptr;  // when set, each x row is first rmsNorm'ed with this [in] weight...
  float norm_eps = 1e-5f;             // ...and this epsilon (rows x in elements of shared memory per block,
                                      // fp32 up to 4 rows)
  bool swiglu = false;                // w = [gate; up] (out even): y[r, j] = silu(gate_j) * up_j, both rounded
                                      // to dtype first as swiglu sees them; not with accumulate, y_dtype = dtype
  DType dtype = DType::F16;           // x, w and norm_weight: fp16 or bf16
  int blocks_per_sm = 0;              // > 0: at most that many persistent blocks per SM (fewer when that
                                      // gives no warp more rows), whose warps stream whole rows in turn;
                                      // 0: short blocks (row_splits) for a plain projection and up to
                                      // kSkinnyBlocksPerSm persistent ones for a fused one
  int row_splits = 0;                 // short blocks: warps per weight row, 1, 2, 4 or 8 (their partial sums
                                      // added in a fixed order; 1 = whole rows, as the persistent blocks
                                      // sum them, bit for bit); at most 4 with swiglu (a block holds the gate
                                      // and up rows of its outputs). Set, it puts a fused projection on short
                                      // blocks too, each normalizing the input rows itself. 0 = whole rows
  L2Prefetch prefetch_next;           // issued by each block once its own weights are loaded: the head of the
                                      // next kernel's weights, so that its first wave reads them from L2
  RotaryAppendParams rotary;          // k_cache set: the QKV projection of a decode step (one new token per
                                      // row: batch = rows, new_tokens = 1, out = (Hq + 2 Hkv) D; qkv null or
                                      // y) does rotaryAppendKv's work in its epilogue: Q rotated into y (or
                                      // q_out), K rotated and V copied into the cache, bit for bit what the
                                      // plain projection then rotaryAppendKv write there (K and V are not
                                      // written to y). Not with swiglu or accumulate; persistent blocks only
};
constexpr int kSkinnyBlocksPerSm = 2;  // persistent blocks of 256 threads per SM for the fused projections
cudaError_t skinnyLinear(const SkinnyLinearParams& params, cudaStream_t stream);

// Reads `rows` weight rows of `row_bytes` (a multiple of 16; 16-byte aligned) the way skinnyLinear
// streams a projection's weights, with the same loads, rounds and grids, and multiplies nothing: the
// time below which that kernel design cannot take a projection of the size. blocks_per_sm = 0: short
// blocks of one row per warp and one round in flight (the plain projections' grid); > 0: that many
// persistent blocks per SM whose warps stream rows in turn, two rounds in flight (the fused ones').
// Launched as the projections are (programmatic dependent launch, the first round before the wait).
// `sink` (4 bytes) is written, with kStreamReadMark, only by a lane whose 16-byte chunks xor to it
// (each chunk's four words xored together), so that no load can be optimized away.
constexpr std::uint32_t kStreamReadMark = 0x9e3779b9u;
struct StreamReadParams {
  const void* src = nullptr;
  std::size_t rows = 0;
  int row_bytes = 0;
  int blocks_per_sm = 0;
  std::uint32_t* sink = nullptr;
};
cudaError_t streamRead(const StreamReadParams& params, cudaStream_t stream);

// x = x * scale + shift, element-wise over `count` elements (any dtype): shapes random fills into
// weights of a sensible magnitude.
cudaError_t scaleShift(void* x, std::size_t count, float scale, float shift, DType dtype, cudaStream_t stream);

// dst = src converted element-wise (fp32, fp16, bf16 either way; rounding to nearest).
cudaError_t convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, std::size_t count,
                    cudaStream_t stream);

}  // namespace attnbench::kernels::cuda
