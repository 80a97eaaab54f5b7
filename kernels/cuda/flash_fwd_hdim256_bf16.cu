// Flash forward kernels for head dim 256, bf16: every tile of FlashTileSet<256>, causal and not.
#include "flash_fwd_kernel.cuh"

namespace attnbench::kernels::cuda::detail {

template <>
cudaError_t runFlashForward<256, DType::BF16>(const AttentionParams& params, TileShape tile, cudaStream_t stream) {
  return runFlashForwardTiles<256, __nv_bfloat16>(params, tile, stream);
}

}  // namespace attnbench::kernels::cuda::detail
