// Device-side fills for the CUDA backend: the same counter-based random values as fillRandom on the
// host (value i depends only on the seed and i), and the poison pattern.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "attnbench/kernels/attention_params.h"

namespace attnbench {

cudaError_t fillRandomDevice(void* dst, kernels::DType dtype, std::size_t count, std::uint64_t seed, cudaStream_t stream);

}  // namespace attnbench
