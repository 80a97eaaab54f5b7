// Constructors of the concrete backends (internal to core; users go through makeBackend).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attnbench/backend.h"

namespace attnbench {

std::unique_ptr<Backend> makeCpuBackend();

// A tensor parallel group: rank r on makeBackend(rank_devices[r]) ("cpu", "cuda:1"; a device may
// repeat), each point's heads split over the ranks (tensor_parallel_backend.cpp).
std::unique_ptr<Backend> makeTensorParallelBackend(const std::vector<std::string>& rank_devices);

#ifdef ATTNBENCH_HAVE_CUDA
// Number of usable CUDA devices; 0 (with `why` set) when there is no driver or no GPU.
int cudaDeviceCount(std::string* why);
std::vector<DeviceInfo> listCudaDevices();
std::unique_ptr<Backend> makeCudaBackend(int ordinal);
#endif

}  // namespace attnbench
