// NCCL through dlopen: built against nccl.h (scripts/fetch-nccl.sh), libnccl.so.2 opened at the first
// use, so the binary runs, and says why tensor parallelism on GPUs is unavailable, where it is missing.
#include <cstdlib>
#include <string>
#include <vector>

#include "attnbench/errors.h"
#include "collective.h"

#ifdef ATTNBENCH_HAVE_NCCL
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <mutex>
#endif

namespace attnbench::engine::detail {

#ifdef ATTNBENCH_HAVE_NCCL
namespace {

// The entry points attnbench calls, resolved once per process.
struct Nccl {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclCommInitAll) init_all = nullptr;
  decltype(&ncclCommDestroy) destroy = nullptr;
  decltype(&ncclCommAbort) abort = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  int version = 0;
  std::string why_not;  // empty when loaded

  Nccl() {
    void* handle = ::dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
#ifdef ATTNBENCH_NCCL_LIBRARY_DIR
    if (handle == nullptr) handle = ::dlopen(ATTNBENCH_NCCL_LIBRARY_DIR "/libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
#endif
    if (handle == nullptr) {
      const char* error = ::dlerror();
      why_not = "libnccl.so.2 does not load (" + std::string(error != nullptr ? error : "not found") +
                "): install NCCL or run scripts/fetch-nccl.sh --with-library";
      return;
    }
    const bool complete = bind(handle, get_version, "ncclGetVersion") && bind(handle, error_string, "ncclGetErrorString") &&
                          bind(handle, init_all, "ncclCommInitAll") && bind(handle, destroy, "ncclCommDestroy") &&
                          bind(handle, abort, "ncclCommAbort") && bind(handle, all_reduce, "ncclAllReduce");
    if (complete && get_version(&version) != ncclSuccess) why_not = "ncclGetVersion failed";
    // The handle stays open for the process's lifetime: communicators may outlive any one owner.
  }

  template <typename Fn>
  bool bind(void* handle, Fn& fn, const char* name) {
    fn = reinterpret_cast<Fn>(::dlsym(handle, name));
    if (fn == nullptr) why_not = std::string("libnccl.so.2 lacks ") + name;
    return fn != nullptr;
  }

  void check(ncclResult_t status, const char* what) const {
    if (status != ncclSuccess) throw DeviceFault(std::string(what) + ": " + error_string(status));
  }
};

const Nccl& nccl() {
  static const Nccl loaded;
  return loaded;
}

ncclDataType_t ncclType(DType dtype) {
  return dtype == DType::F32 ? ncclFloat32 : dtype == DType::BF16 ? ncclBfloat16 : ncclFloat16;
}

class NcclCollective final : public Collective {
 public:
  NcclCollective(ncclComm_t comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  ~NcclCollective() override {
    if (!aborted_) nccl().destroy(comm_);
  }
  NcclCollective(const NcclCollective&) = delete;
  NcclCollective& operator=(const NcclCollective&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allReduceSum(void* data, std::size_t count, DType dtype, void* stream) override {
    nccl().check(nccl().all_reduce(data, data, count, ncclType(dtype), ncclSum, comm_, static_cast<cudaStream_t>(stream)),
                 "ncclAllReduce");
  }
  void abort() override {
    if (!aborted_) nccl().abort(comm_);
    aborted_ = true;
  }

 private:
  ncclComm_t comm_;
  int rank_, size_;
  bool aborted_ = false;
};

}  // namespace

std::string ncclUnavailableReason() { return nccl().why_not; }

std::string ncclDescription() {
  const Nccl& n = nccl();
  if (!n.why_not.empty()) return n.why_not;
  // NCCL_VERSION_CODE's encoding since 2.9: major * 10000 + minor * 100 + patch.
  return "NCCL " + std::to_string(n.version / 10000) + "." + std::to_string(n.version / 100 % 100) + "." +
         std::to_string(n.version % 100);
}

std::vector<std::unique_ptr<Collective>> makeNcclCollectives(const std::vector<int>& devices) {
  const Nccl& n = nccl();
  if (!n.why_not.empty()) throw InputError("tensor parallel on GPUs needs NCCL: " + n.why_not);
  // NVLink multicast (NVLS) off unless the user chose: it reserves device memory per communicator
  // and is not what a single all-reduce of a decode step's activations needs.
  ::setenv("NCCL_NVLS_ENABLE", "0", 0);
  std::vector<ncclComm_t> comms(devices.size());
  n.check(n.init_all(comms.data(), static_cast<int>(devices.size()), devices.data()), "ncclCommInitAll");
  std::vector<std::unique_ptr<Collective>> ranks;
  for (std::size_t r = 0; r < comms.size(); ++r) {
    ranks.push_back(std::make_unique<NcclCollective>(comms[r], static_cast<int>(r), static_cast<int>(comms.size())));
  }
  return ranks;
}

#else

std::string ncclUnavailableReason() {
#ifdef ATTNBENCH_HAVE_CUDA
  return "this build has no NCCL (nccl.h was not found at configure time; scripts/fetch-nccl.sh fetches it)";
#else
  return "this build has no CUDA backend";
#endif
}

std::string ncclDescription() { return ncclUnavailableReason(); }

std::vector<std::unique_ptr<Collective>> makeNcclCollectives(const std::vector<int>& /*devices*/) {
  throw InputError("tensor parallel on GPUs needs NCCL: " + ncclUnavailableReason());
}

#endif

}  // namespace attnbench::engine::detail
