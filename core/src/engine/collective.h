// The one collective tensor parallelism needs: an in-place sum all-reduce of a rank's activations.
// Two implementations: NCCL for the CUDA engine (one communicator per GPU, all driven by this
// process: ncclCommInitAll) and an in-process one for the CPU engine (ranks are threads sharing
// memory), so that the split of the model is tested without GPUs.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::engine::detail {

using kernels::DType;

// What a rank waiting in allReduceSum throws when another rank aborted: the other rank's own error is
// the one to report.
class RankAborted : public std::runtime_error {
 public:
  RankAborted() : std::runtime_error("tensor parallel: another rank failed") {}
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums `count` elements of `data` over the ranks, in place: every rank ends with the same sum. Each
  // rank calls it from its own thread. NCCL: `data` on the rank's GPU, the all-reduce enqueued on
  // `stream` (a cudaStream_t; returns before it completes). In-process: host memory, `stream` unused,
  // returns with the sum in place.
  virtual void allReduceSum(void* data, std::size_t count, DType dtype, void* stream) = 0;
  // Wakes every rank waiting in allReduceSum with an error: one rank failed and will not arrive.
  virtual void abort() = 0;
};

// `size` ranks of one process that share host memory (fp32 only). Sums in rank order, so every
// rank gets the same bits, and the sum does not depend on which thread arrives first.
std::vector<std::unique_ptr<Collective>> makeInProcessCollectives(int size);

// One NCCL communicator per CUDA device of `devices` (ncclCommInitAll), rank i on devices[i]. Sets
// NCCL_NVLS_ENABLE=0 unless the environment sets it (NVLink multicast off). Throws InputError when
// NCCL is not available (see ncclUnavailableReason), DeviceFault when its initialization fails.
std::vector<std::unique_ptr<Collective>> makeNcclCollectives(const std::vector<int>& devices);

// Empty when makeNcclCollectives can work (built with nccl.h, libnccl.so.2 loads), else why not.
std::string ncclUnavailableReason();
// "NCCL 2.32.3" (the loaded library's version) or the reason it is unavailable.
std::string ncclDescription();

}  // namespace attnbench::engine::detail
