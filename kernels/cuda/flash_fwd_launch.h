// Entry points of the flash instantiation files: one per (head dim, dtype) of the sm80 list in
// cmake/KernelInstances.cmake, each compiled in its own generated translation unit
// (<build>/kernels/cuda/instances/flash_fwd_hdim<D>_<dtype>.cu) so that a parallel build spreads the
// kernels.
#pragma once

#include <cuda_runtime.h>

#include "attnbench/kernels/attention_params.h"
#include "flash_instances.h"

namespace attnbench::kernels::cuda::detail {

// Launches the kernel of `tile` (an instantiated shape, see flash_fwd_traits.h) for params.causal.
template <int kHeadDim, DType kDType>
cudaError_t runFlashForward(const AttentionParams& params, TileShape tile, cudaStream_t stream);

#define ATTNBENCH_DECLARE_FLASH_FORWARD(kHeadDim, kDType) \
  template <>                                             \
  cudaError_t runFlashForward<kHeadDim, DType::kDType>(const AttentionParams&, TileShape, cudaStream_t);
ATTNBENCH_SM80_FLASH_INSTANCES(ATTNBENCH_DECLARE_FLASH_FORWARD)
#undef ATTNBENCH_DECLARE_FLASH_FORWARD

}  // namespace attnbench::kernels::cuda::detail
