// CUDA attention kernels: a FlashAttention-style fused forward kernel (tensor cores, K/V streamed
// through shared memory, online softmax) and the standard three-step baseline (cuBLAS QK^T, a
// masked row softmax, cuBLAS PV). Host-side entry points; all launches are asynchronous on `stream`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

// The two flash kernel families. Sm80: FlashAttention-2 on mma.sync tensor cores, every sm_75+ device.
// Hopper: wgmma, TMA and warp-specialised warpgroups (sm_90a code, so compute capability 9.0 only, and
// only in builds whose CUDA architectures include 90). Auto: Hopper where it can run and the tile is
// left to the kernel ({0,0}); an explicit tile always names an Sm80 tile unless Hopper is asked for.
enum class FlashFamily : std::uint8_t { Auto, Sm80, Hopper };

std::string_view flashFamilyName(FlashFamily family);

// True when this build holds the Hopper kernels.
bool hopperFlashCompiled();

// The family flashForward(params, tile, stream, requested) runs on `device` (never Auto).
FlashFamily resolveFlashFamily(const AttentionParams& params, TileShape tile, FlashFamily requested,
                               const DeviceTraits& device);

// Empty when flash can run `params` with `tile` on the device, else a one-line reason
// (e.g. "flash supports head dim 64, 128 and 256", "bf16 needs sm_80").
std::string flashUnsupportedReason(const AttentionParams& params, TileShape tile, const DeviceTraits& device,
                                   FlashFamily family = FlashFamily::Auto);

// The concrete tile for `requested` ({0,0} = auto: the fastest configuration of the resolved family
// for this device, head dim and sequence length that fits its shared memory; {0,0} back when none fits).
TileShape resolveFlashTile(const AttentionParams& params, TileShape requested, const DeviceTraits& device,
                           FlashFamily family = FlashFamily::Auto);

// Launches the flash forward kernel of `family` (tile {0,0} = resolveFlashTile's choice for the current
// device). Writes O and, when params.lse is non-null, the natural-log LSE per row (-inf, with O = 0, for
// a row that sees no key). Returns cudaErrorNotSupported where flashUnsupportedReason is non-empty,
// cudaErrorMisalignedAddress for pointers that are not 16-byte aligned, else the launch's status.
cudaError_t flashForward(const AttentionParams& params, TileShape tile, cudaStream_t stream,
                         FlashFamily family = FlashFamily::Auto);

// How the standard baseline lays out the score matrix it materializes.
enum class ScoreLayout : std::uint8_t {
  // Rows (and the K, V operands' row counts) padded to a multiple of 16 bytes, so every cuBLAS
  // operand stays aligned for the tensor-core kernels at any Nk. The default.
  Padded,
  // Rows of exactly Nk scores: where Nk is not a multiple of 8 (fp16/bf16) cuBLAS falls back to
  // unaligned kernels at a fraction of the speed. Kept to show what the padding buys.
  Dense,
};

// Empty when the standard baseline can run `params`, else a one-line reason.
std::string standardUnsupportedReason(const AttentionParams& params, ScoreLayout layout = ScoreLayout::Padded);

// Elements from one score row to the next: Nk, or Nk rounded up to 16 bytes when padded.
std::int64_t standardScoreRowStride(const AttentionParams& params, ScoreLayout layout = ScoreLayout::Padded);

// Device scratch bytes for the standard baseline: the score matrix [B, Hq, Nq, row stride] in the
// storage dtype (fp32 for fp32), softmaxed in place into P; padded, where Nk itself is not aligned,
// also K and V copied into [B, Hkv, row stride, D] with zero rows past Nk.
std::size_t standardWorkspaceBytes(const AttentionParams& params, ScoreLayout layout = ScoreLayout::Padded);

// Standard attention: S = scale Q K^T (cuBLAS strided-batched, fp32 compute), masked row softmax in
// place (fp32 math), O = P V (cuBLAS). `cublas` must be bound to `stream` by the caller.
// Returns cudaSuccess, or the first CUDA error; a cuBLAS failure is reported as cudaErrorUnknown
// with the cuBLAS status in `*cublas_status` when it is non-null.
cudaError_t standardAttention(const AttentionParams& params, void* workspace, cublasHandle_t cublas,
                              cudaStream_t stream, cublasStatus_t* cublas_status = nullptr,
                              ScoreLayout layout = ScoreLayout::Padded);

}  // namespace attnbench::kernels::cuda
