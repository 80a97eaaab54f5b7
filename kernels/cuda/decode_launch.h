// Entry points of the decode instantiation files (generated per dtype from instances/decode.cu.in).
#pragma once

#include <cuda_runtime.h>

#include "attnbench/kernels/decode_params.h"

namespace attnbench::kernels::cuda::detail {

// The split kernel with `splits` key ranges per sequence (one split writes O and LSE directly).
template <DType kDType>
cudaError_t runDecodeSplits(const DecodeParams& params, int splits, cudaStream_t stream);

// Merges params.num_splits partials into O (and LSE when set).
template <DType kDType>
cudaError_t runDecodeCombine(const DecodeParams& params, cudaStream_t stream);

}  // namespace attnbench::kernels::cuda::detail
