// Flash forward kernels for head dim 128, fp16: every tile of FlashTileSet<128>, causal and not.
#include "flash_fwd_kernel.cuh"

namespace attnbench::kernels::cuda::detail {

template <>
cudaError_t runFlashForward<128, DType::F16>(const AttentionParams& params, TileShape tile, cudaStream_t stream) {
  return runFlashForwardTiles<128, __half>(params, tile, stream);
}

}  // namespace attnbench::kernels::cuda::detail
