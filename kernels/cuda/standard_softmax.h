// The middle step of the standard baseline: a masked row softmax over the materialized scores.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cuda::detail {

// Softmax in place over `rows` contiguous rows of `seq_kv` scores each (stored as `dtype`, math in
// fp32). Row r is query r % seq_q of its head; with `causal` it keeps keys j <= i + seq_kv - seq_q
// (bottom-right aligned) and writes 0 elsewhere; a row that keeps no key becomes all zeros.
cudaError_t launchMaskedRowSoftmax(void* scores, DType dtype, std::int64_t rows, int seq_q, int seq_kv, bool causal,
                                   cudaStream_t stream);

}  // namespace attnbench::kernels::cuda::detail
