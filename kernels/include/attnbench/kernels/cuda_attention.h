// CUDA attention kernels: a FlashAttention-style fused forward kernel (tensor cores, K/V streamed
// through shared memory, online softmax) and the standard three-step baseline (cuBLAS QK^T, a
// masked row softmax, cuBLAS PV). Host-side entry points; all launches are asynchronous on `stream`.
#pragma once

#include <cstddef>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cuda {

// Facts about the device that the tile choice depends on.
struct DeviceTraits {
  int sm_major = 0;
  int sm_minor = 0;
  std::size_t smem_per_block_optin = 0;  // cudaDevAttrMaxSharedMemoryPerBlockOptin
  int multiprocessor_count = 0;          // SMs; 0 = unknown (the auto tile then ignores grid size)
};

DeviceTraits queryDeviceTraits(int device);

// Empty when flash can run `params` with `tile` on the device, else a one-line reason
// (e.g. "flash supports head dim 64, 128 and 256", "bf16 needs sm_80").
std::string flashUnsupportedReason(const AttentionParams& params, TileShape tile, const DeviceTraits& device);

// The concrete tile for `requested` ({0,0} = auto: the fastest configuration for this device,
// head dim and sequence length that fits its shared memory; {0,0} back when none fits).
TileShape resolveFlashTile(const AttentionParams& params, TileShape requested, const DeviceTraits& device);

// Launches the flash forward kernel (tile {0,0} = resolveFlashTile's choice for the current device).
// Writes O and, when params.lse is non-null, the natural-log LSE per row (-inf, with O = 0, for a row
// that sees no key). Returns cudaErrorNotSupported where flashUnsupportedReason is non-empty,
// cudaErrorMisalignedAddress for pointers that are not 16-byte aligned, else the launch's status.
cudaError_t flashForward(const AttentionParams& params, TileShape tile, cudaStream_t stream);

// Empty when the standard baseline can run `params`, else a one-line reason.
std::string standardUnsupportedReason(const AttentionParams& params);

// Device scratch bytes for the standard baseline: the score matrix [B, Hq, Nq, Nk] in the storage
// dtype (fp32 for fp32), softmaxed in place into P.
std::size_t standardWorkspaceBytes(const AttentionParams& params);

// Standard attention: S = scale Q K^T (cuBLAS strided-batched, fp32 compute), masked row softmax in
// place (fp32 math), O = P V (cuBLAS). `cublas` must be bound to `stream` by the caller.
// Returns cudaSuccess, or the first CUDA error; a cuBLAS failure is reported as cudaErrorUnknown
// with the cuBLAS status in `*cublas_status` when it is non-null.
cudaError_t standardAttention(const AttentionParams& params, void* workspace, cublasHandle_t cublas,
                              cudaStream_t stream, cublasStatus_t* cublas_status = nullptr);

}  // namespace attnbench::kernels::cuda
