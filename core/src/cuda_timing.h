// Device-side timing without host work in the window. A blocking kernel holds the stream while the
// timed launches and their events are enqueued behind it (nvbench's approach): when it is released, the
// device runs them back to back, so launch latency, argument setup and driver work on the host never
// land between a start and a stop event.
#pragma once

#include <cuda_runtime.h>

namespace attnbench {

class StreamBlocker {
 public:
  StreamBlocker();
  ~StreamBlocker();
  StreamBlocker(const StreamBlocker&) = delete;
  StreamBlocker& operator=(const StreamBlocker&) = delete;

  // Enqueues the blocking kernel on `stream`. It spins until release() or, should the host never
  // release it (an exception between block and release), until `timeout_ms` have passed.
  cudaError_t block(cudaStream_t stream, double timeout_ms = 5000);
  // Lets the blocked stream go on.
  void release();
  // True when the last blocking kernel ended by its timeout instead of release(): everything behind it
  // ran while the host was still enqueueing, so those timings include launch gaps and are discarded.
  bool timedOut() const;

  // How many timed samples to enqueue behind one block: the launch queue holds about a thousand entries,
  // and a full queue would make the host wait on a device that waits on the host.
  static constexpr int kMaxSamplesPerBlock = 64;

 private:
  volatile int* host_flag_ = nullptr;  // host-mapped: 0 hold, 1 released, 2 the kernel timed out
  int* device_flag_ = nullptr;
};

}  // namespace attnbench
