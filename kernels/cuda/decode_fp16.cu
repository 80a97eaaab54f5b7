// Decode kernels for fp16 storage: the split kernel (head dims 64/128/256 x 1/2/4/8 query rows per
// block) and the combine.
#include "decode_kernel.cuh"

namespace attnbench::kernels::cuda::detail {

template <>
cudaError_t runDecodeSplits<DType::F16>(const DecodeParams& params, int splits, cudaStream_t stream) {
  return launchDecodeSplitsForDim<__half>(params, splits, stream);
}

template <>
cudaError_t runDecodeCombine<DType::F16>(const DecodeParams& params, cudaStream_t stream) {
  return launchDecodeCombine<__half>(params, stream);
}

}  // namespace attnbench::kernels::cuda::detail
