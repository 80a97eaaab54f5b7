// Entry points of the flash instantiation files: one per (head dim, dtype), each compiled in its own
// translation unit (flash_fwd_hdim<D>_<dtype>.cu) so that a parallel build spreads the kernels.
#pragma once

#include <cuda_runtime.h>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cuda::detail {

// Launches the kernel of `tile` (an instantiated shape, see flash_fwd_traits.h) for params.causal.
template <int kHeadDim, DType kDType>
cudaError_t runFlashForward(const AttentionParams& params, TileShape tile, cudaStream_t stream);

template <>
cudaError_t runFlashForward<64, DType::F16>(const AttentionParams&, TileShape, cudaStream_t);
template <>
cudaError_t runFlashForward<64, DType::BF16>(const AttentionParams&, TileShape, cudaStream_t);
template <>
cudaError_t runFlashForward<128, DType::F16>(const AttentionParams&, TileShape, cudaStream_t);
template <>
cudaError_t runFlashForward<128, DType::BF16>(const AttentionParams&, TileShape, cudaStream_t);
template <>
cudaError_t runFlashForward<256, DType::F16>(const AttentionParams&, TileShape, cudaStream_t);
template <>
cudaError_t runFlashForward<256, DType::BF16>(const AttentionParams&, TileShape, cudaStream_t);

}  // namespace attnbench::kernels::cuda::detail
