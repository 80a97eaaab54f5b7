#include "cuda_timing.h"

namespace attnbench {
namespace {

__device__ unsigned long long globalNanoseconds() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One thread spins on the host-written flag; marks it 2 when it gave up waiting.
__global__ void holdStream(volatile int* flag, unsigned long long timeout_ns) {
  const unsigned long long start = globalNanoseconds();
  while (*flag == 0) {
    if (globalNanoseconds() - start > timeout_ns) {
      *flag = 2;
      return;
    }
    __nanosleep(1000);
  }
}

}  // namespace

StreamBlocker::StreamBlocker() {
  int* host = nullptr;
  if (cudaHostAlloc(&host, sizeof(int), cudaHostAllocMapped) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  host_flag_ = host;
  *host_flag_ = 1;
  if (cudaHostGetDevicePointer(&device_flag_, host, 0) != cudaSuccess) {
    cudaGetLastError();
    cudaFreeHost(host);
    host_flag_ = nullptr;
    device_flag_ = nullptr;
  }
}

StreamBlocker::~StreamBlocker() {
  if (host_flag_ != nullptr) cudaFreeHost(const_cast<int*>(host_flag_));
}

cudaError_t StreamBlocker::block(cudaStream_t stream, double timeout_ms) {
  if (device_flag_ == nullptr) return cudaErrorNotSupported;
  *host_flag_ = 0;
  holdStream<<<1, 1, 0, stream>>>(device_flag_, static_cast<unsigned long long>(timeout_ms * 1e6));
  return cudaGetLastError();
}

void StreamBlocker::release() {
  if (host_flag_ == nullptr) return;
  // Only a kernel still waiting (0) is released; a 2 written by a timed-out kernel stays readable.
  int waiting = 0;
  __atomic_compare_exchange_n(const_cast<int*>(host_flag_), &waiting, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

bool StreamBlocker::timedOut() const { return host_flag_ != nullptr && *host_flag_ == 2; }

}  // namespace attnbench
