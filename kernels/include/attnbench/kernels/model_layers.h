// The small layers of a Llama-architecture decoder on the CPU, in fp32: RMSNorm, rotary position
// embeddings, the SwiGLU gate, embedding lookup, and the projections (Eigen GEMMs). Matrices are
// row-major; a weight is [out, in] as Hugging Face stores it. The attention itself is
// cpu_attention.h's. Every function is serial: the models the CPU engine runs are tiny.
#pragma once

#include <cstdint>

namespace attnbench::kernels::cpu {

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for `rows` rows of `dim` (x and out may alias).
void rmsNorm(const float* x, const float* weight, int rows, int dim, float eps, float* out);

// Rotates `heads` heads of `rows` consecutive positions in place; row r is at position
// first_position + r, its heads start at x + r * row_stride + h * head_dim. Pairs are (i, i + D/2)
// (the "rotate half" layout of Hugging Face Llama checkpoints), angle = position * theta^(-2i/D).
void applyRotary(float* x, int rows, int heads, int head_dim, std::int64_t row_stride, int first_position,
                 double theta);

// out[r, j] = silu(gate_up[r, j]) * gate_up[r, ffn + j]: the fused gate|up projection's output in.
void swiglu(const float* gate_up, int rows, int ffn, float* out);

// out[r] = table[tokens[r]] ([vocab, hidden] table). Token ids must be in [0, vocab).
void embeddingLookup(const float* table, int hidden, const std::int32_t* tokens, int count, float* out);

// y[rows, out] (=|+=) x[rows, in] . w[out, in]^T; `accumulate` adds into y (the residual connection).
void linear(const float* x, int rows, int in, const float* w, int out, float* y, bool accumulate);

}  // namespace attnbench::kernels::cpu
