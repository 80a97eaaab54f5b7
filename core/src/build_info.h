// Facts about this build that only the build system or nvcc know (internal to core).
#pragma once

#include <string>

namespace attnbench {

// `git describe --always --dirty` of the source tree when this library was last built; "unknown"
// outside a git checkout. Refreshed by every build (cmake/GitDescribe.cmake), no configure needed.
const char* gitDescribe();

#ifdef ATTNBENCH_HAVE_CUDA
// nvcc's version (__CUDACC_VER_MAJOR/MINOR/BUILD__) and the CUDA runtime headers' (CUDART_VERSION).
std::string nvccVersion();
std::string cudaHeadersVersion();
#endif

}  // namespace attnbench
