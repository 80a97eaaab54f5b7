// Compiled by nvcc so that nvcc's own version macros are the ones read.
#include <cuda_runtime_api.h>

#include "build_info.h"

namespace attnbench {

std::string nvccVersion() {
  return std::to_string(__CUDACC_VER_MAJOR__) + "." + std::to_string(__CUDACC_VER_MINOR__) + "." +
         std::to_string(__CUDACC_VER_BUILD__);
}

std::string cudaHeadersVersion() {
  return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
}

}  // namespace attnbench
