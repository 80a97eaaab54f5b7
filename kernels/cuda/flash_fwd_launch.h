// Entry points of the flash instantiation files: one per (head dim, dtype) of the sm80 list in
// cmake/KernelInstances.cmake, each compiled in its own generated translation unit
// (<build>/kernels/cuda/instances/flash_fwd_hdim<D>_<dtype>.cu) so that a parallel build spreads the
// kernels, and the tables the dispatch (flash_api.cpp) reads.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <span>

#include "attnbench/kernels/attention_params.h"
#include "flash_fwd_traits.h"
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

// One row per instance: the dispatch finds the head dim and dtype here.
struct FlashInstance {
  int head_dim = 0;
  DType dtype = DType::F16;
  cudaError_t (*run)(const AttentionParams&, TileShape, cudaStream_t) = nullptr;
};

#define ATTNBENCH_FLASH_INSTANCE_ROW(kHeadDim, kDType) \
  FlashInstance{kHeadDim, DType::kDType, &runFlashForward<kHeadDim, DType::kDType>},
inline constexpr std::array kFlashInstances{ATTNBENCH_SM80_FLASH_INSTANCES(ATTNBENCH_FLASH_INSTANCE_ROW)};
#undef ATTNBENCH_FLASH_INSTANCE_ROW

// One row per head dim: its instantiated tiles and its auto-tile order (FlashTileSet).
struct FlashHeadDim {
  int head_dim = 0;
  std::span<const FlashTileInfo> tiles;
  std::span<const TileShape> preferred;
};

#define ATTNBENCH_FLASH_HEAD_DIM_ROW(kHeadDim) \
  FlashHeadDim{kHeadDim, kFlashTileInfos<kHeadDim>, FlashTileSet<kHeadDim>::kPreferred},
inline constexpr std::array kFlashHeadDims{ATTNBENCH_SM80_FLASH_HEAD_DIMS(ATTNBENCH_FLASH_HEAD_DIM_ROW)};
#undef ATTNBENCH_FLASH_HEAD_DIM_ROW

}  // namespace attnbench::kernels::cuda::detail
