// CUDA decode kernels (DecodeParams). Flash decode: a split-KV kernel (grid: splits x (KV head, block
// of query rows) x sequence; the G x q_len query rows of one KV head share each K/V row, read once from
// HBM through a multi-stage cp.async pipeline) and, with more than one split, a combine kernel that
// merges the fp32 partials by LSE. Standard decode: cuda::standardAttention (cuBLAS QK^T, masked
// softmax, cuBLAS PV) over a contiguous cache. All launches are asynchronous on `stream`.
#pragma once

#include <cstddef>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "attnbench/kernels/cuda_attention.h"
#include "attnbench/kernels/decode_params.h"

namespace attnbench::kernels::cuda {

// The split count flashDecode runs: params.num_splits, else decodeSplitHeuristic for the device's SMs.
int flashDecodeSplits(const DecodeParams& params, const DeviceTraits& device);

// Empty when flashDecode can run `params` on the device, else a one-line reason (head dim 64/128/256,
// fp16/bf16, strides multiple of 8 elements, kv_lens in device memory for a ragged batch, ...).
std::string flashDecodeUnsupportedReason(const DecodeParams& params, const DeviceTraits& device);

// The split kernel, then (more than one split, no split_counters) the combine kernel. params.num_splits
// 0 takes flashDecodeSplits; partial_o/partial_lse (and split_counters, zeroed before the first call)
// must hold decodeWorkspaceBytes for the count used: setDecodeWorkspace lays them out.
// Returns cudaErrorNotSupported where flashDecodeUnsupportedReason is non-empty,
// cudaErrorInvalidValue for missing pointers or workspace, cudaErrorMisalignedAddress for k, v or
// partial_o off 16 bytes (Q and O are accessed element by element), else the launch status.
cudaError_t flashDecode(const DecodeParams& params, cudaStream_t stream);

// The combine step alone (params.num_splits > 1, partials written): O and LSE from the partials.
// Exposed so that a harness can time it as part of the launch-latency floor.
cudaError_t flashDecodeCombine(const DecodeParams& params, cudaStream_t stream);

// Empty when standardDecode can run `params`: a contiguous cache, kv_lens_host for a ragged batch, and
// what cuda::standardUnsupportedReason asks of the prefill problem.
std::string standardDecodeUnsupportedReason(const DecodeParams& params);

// Standard decode writes O only: params.lse is not written (cuda::standardAttention has no LSE output).
// Device scratch for standardDecode: the scores of the whole batch at seq_kv, [B, Hq, q_len, N].
std::size_t standardDecodeWorkspaceBytes(const DecodeParams& params);

// One cuda::standardAttention call over the batch when all lengths are equal, else one per sequence
// (sizes from kv_lens_host), each into its own slice of the workspace.
cudaError_t standardDecode(const DecodeParams& params, void* workspace, cublasHandle_t cublas, cudaStream_t stream,
                           cublasStatus_t* cublas_status = nullptr);

}  // namespace attnbench::kernels::cuda
