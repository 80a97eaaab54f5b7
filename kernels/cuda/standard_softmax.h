// The middle step of the standard baseline: a masked row softmax over the materialized scores.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cuda::detail {

// Softmax in place over `rows` rows of `seq_kv` scores each, `row_stride` elements apart (stored as
// `dtype`, math in fp32). Row r is query r % seq_q of its head; with `causal` it keeps keys
// j <= i + seq_kv - seq_q (bottom-right aligned) and writes 0 elsewhere; a row that keeps no key
// becomes all zeros. Where the row stride is a multiple of 16 bytes the rows are read and written in
// 16-byte packs, and the padding up to the next 16 bytes past seq_kv is written 0 as well.
cudaError_t launchMaskedRowSoftmax(void* scores, DType dtype, std::int64_t rows, int seq_q, int seq_kv,
                                   std::int64_t row_stride, bool causal, cudaStream_t stream);

}  // namespace attnbench::kernels::cuda::detail
