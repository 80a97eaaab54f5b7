// Constructors of the concrete backends (internal to core; users go through makeBackend).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attnbench/backend.h"
#include "attnbench/kernels/attention_params.h"

namespace attnbench {

std::unique_ptr<Backend> makeCpuBackend();

#ifdef ATTNBENCH_HAVE_CUDA
// Number of usable CUDA devices; 0 (with `why` set) when there is no driver or no GPU.
int cudaDeviceCount(std::string* why);
std::vector<DeviceInfo> listCudaDevices();
std::unique_ptr<Backend> makeCudaBackend(int ordinal);
#endif

// AttentionParams for a problem over densely packed [B, H, N, D] buffers.
kernels::AttentionParams packedParams(const ProblemShape& shape, const void* q, const void* k, const void* v, void* o,
                                      float* lse);

// Element counts of the four tensors of a problem.
std::size_t tensorElements(const ProblemShape& shape, TensorId tensor);

// Element offset of row `row` of head `head` of batch `b` in a packed [B, H, N, D] tensor.
std::size_t rowOffsetElements(const ProblemShape& shape, TensorId tensor, int b, int head, int row);

}  // namespace attnbench
