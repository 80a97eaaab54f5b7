#include "stream_hold.h"

#include <stdexcept>
#include <string>

namespace attnbench {

namespace {

__device__ unsigned long long globalNanoseconds() {
  unsigned long long t = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One thread polls the flag every microsecond; the rest of the device stays free.
__global__ void spinUntilReleased(const volatile int* flag, volatile int* timed_out, unsigned long long timeout_ns) {
  const unsigned long long start = globalNanoseconds();
  while (*flag == 0) {
    if (globalNanoseconds() - start > timeout_ns) {
      *timed_out = 1;
      return;
    }
    __nanosleep(1000);
  }
}

void require(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

StreamHold::StreamHold() {
  void* host = nullptr;
  require(cudaHostAlloc(&host, 2 * sizeof(int), cudaHostAllocMapped), "stream hold flag");
  auto* ints = static_cast<int*>(host);
  flag_ = ints;
  timed_out_ = ints + 1;
  *flag_ = 1;
  *timed_out_ = 0;
  void* device = nullptr;
  require(cudaHostGetDevicePointer(&device, host, 0), "stream hold flag mapping");
  device_flag_ = static_cast<int*>(device);
  device_timed_out_ = device_flag_ + 1;
}

StreamHold::~StreamHold() {
  if (flag_ != nullptr) {
    *flag_ = 1;
    cudaFreeHost(const_cast<int*>(flag_));
  }
}

cudaError_t StreamHold::hold(cudaStream_t stream) {
  *flag_ = 0;
  *timed_out_ = 0;
  spinUntilReleased<<<1, 1, 0, stream>>>(device_flag_, device_timed_out_, kTimeoutNs);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) *flag_ = 1;
  return e;
}

void StreamHold::release() { *flag_ = 1; }

bool StreamHold::timedOut() const { return *timed_out_ != 0; }

}  // namespace attnbench
