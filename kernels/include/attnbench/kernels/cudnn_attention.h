// cuDNN's fused SDPA forward (the cuDNN graph API through cudnn-frontend) as a third CUDA kernel
// next to flash and standard, with the same AttentionParams. Optional twice over: a build without
// the cuDNN headers compiles this API and reports "built without cuDNN"; a build with them loads
// libcudnn.so.9 at run time (ATTNBENCH_CUDNN_LIBRARY names a file; else the loader's search path,
// then the folder found at configure time) and reports why it cannot run instead of failing.
//
// Plans are cached per device and problem (dims, strides, dtype, mask, scale, with or without LSE):
// the first cudnnUnsupportedReason (or cudnnWorkspaceBytes) for a problem builds the cuDNN graph and
// its execution plan, so call it before timing; cudnnAttention then only looks the plan up and
// enqueues it. Calls for one device must come from one thread at a time (one cuDNN handle each).
#pragma once

#include <cstddef>
#include <string>

#include <cuda_runtime.h>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cuda {

// What this build was compiled against, e.g. "cudnn-frontend 1.32.0, cuDNN 9.19.1 headers", or
// "built without cuDNN".
std::string cudnnBuildInfo();

// Version of the libcudnn loaded at run time ("9.19.1"); empty where none loads (or without cuDNN).
std::string cudnnVersion();

// Empty when cuDNN's SDPA runs `params` on the current device, else a one-line reason: "built
// without cuDNN", "cuDNN not found at run time (...)", "cuDNN SDPA needs sm_80 or newer, not sm_75",
// a shape attnbench's conventions and cuDNN's disagree on, or cuDNN's own support-check message.
// Builds and caches the plan for `params` on first use (pointers need not be set; a non-null
// params.lse asks for the statistics output too, which costs time: leave it null to measure what
// inference pays).
std::string cudnnUnsupportedReason(const AttentionParams& params);

// Device workspace bytes the plan for `params` needs (0 where unsupported); builds the plan if needed.
std::size_t cudnnWorkspaceBytes(const AttentionParams& params);

// Enqueues cuDNN's SDPA forward on `stream`: O (and LSE where params.lse is non-null; natural log,
// [B, Hq, Nq] contiguous), causal masks aligned bottom-right. `workspace` holds
// cudnnWorkspaceBytes(params) bytes (may be null when that is 0). Returns cudaErrorNotSupported where
// cudnnUnsupportedReason is non-empty, cudaErrorMisalignedAddress for pointers not 16-byte aligned,
// cudaErrorInvalidValue for a missing workspace, cudaErrorUnknown when cuDNN fails (its message in
// `*error` when non-null), else cudaSuccess.
cudaError_t cudnnAttention(const AttentionParams& params, void* workspace, cudaStream_t stream,
                           std::string* error = nullptr);

// Frees every cached plan and cuDNN handle (e.g. before a device reset); later calls rebuild them.
void cudnnReleasePlans();

}  // namespace attnbench::kernels::cuda
