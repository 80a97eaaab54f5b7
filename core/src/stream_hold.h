// Holds a CUDA stream while the host enqueues the launches to be timed (the blocking-kernel method of
// NVIDIA's nvbench): a kernel spins on a host-mapped flag, the start event, the timed launches and the
// stop event queue up behind it, and the host releases the flag once everything is enqueued. Launch
// latency and every host call made while enqueueing then happen before the start event executes, so
// the events bracket device work only.
#pragma once

#include <cuda_runtime.h>

namespace attnbench {

class StreamHold {
 public:
  // How long the spinning kernel waits before giving up on its own, so that a host that never
  // releases (an exception between hold and release) cannot hang the device.
  static constexpr unsigned long long kTimeoutNs = 2'000'000'000ULL;

  StreamHold();  // allocates the mapped flag; throws std::runtime_error when the device refuses
  ~StreamHold();
  StreamHold(const StreamHold&) = delete;
  StreamHold& operator=(const StreamHold&) = delete;

  // Enqueues the spinning kernel on `stream`.
  cudaError_t hold(cudaStream_t stream);
  // Lets the held stream go on.
  void release();
  // True when the last hold ended by its timeout rather than by release(): the host took longer than
  // kTimeoutNs to enqueue, and what was timed may include host time. Valid after the stream is synchronised.
  bool timedOut() const;

 private:
  volatile int* flag_ = nullptr;      // host view: 0 = hold, 1 = go
  volatile int* timed_out_ = nullptr;  // host view: set by the kernel when it gave up
  int* device_flag_ = nullptr;
  int* device_timed_out_ = nullptr;
};

}  // namespace attnbench
