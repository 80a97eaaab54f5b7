// cuDNN SDPA forward through cudnn-frontend's graph API, with libcudnn loaded at run time (the
// frontend's dynamic-loading mode resolves every cuDNN entry point on the handle opened here). A
// build without the headers (ATTNBENCH_HAVE_CUDNN undefined) keeps the API and says so.
#include "attnbench/kernels/cudnn_attention.h"

#include <cstdint>
#include <string>

#if ATTNBENCH_HAVE_CUDNN
#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <cudnn_frontend.h>

// The frontend declares this handle and resolves cuDNN's symbols through it; the program defines it.
namespace cudnn_frontend {
void* cudnn_dlhandle = nullptr;
}  // namespace cudnn_frontend
#endif

namespace attnbench::kernels::cuda {

#if !ATTNBENCH_HAVE_CUDNN

namespace {
constexpr const char* kNotBuilt = "built without cuDNN (configure with its headers: scripts/fetch-cudnn.sh)";
}  // namespace

std::string cudnnBuildInfo() { return "built without cuDNN"; }
std::string cudnnVersion() { return {}; }
std::string cudnnUnsupportedReason(const AttentionParams&) { return kNotBuilt; }
std::size_t cudnnWorkspaceBytes(const AttentionParams&) { return 0; }
cudaError_t cudnnAttention(const AttentionParams&, void*, cudaStream_t, std::string* error) {
  if (error != nullptr) *error = kNotBuilt;
  return cudaErrorNotSupported;
}
void cudnnReleasePlans() {}

#else

namespace {

namespace fe = cudnn_frontend;

// ---- the library ---------------------------------------------------------------------------------

struct Library {
  std::string version;  // "9.19.1" once loaded
  std::string error;    // why it cannot be used; empty when it can
};

std::string dottedVersion(std::size_t encoded) {  // cuDNN 9 encodes 9.19.1 as 91901
  return std::to_string(encoded / 10000) + "." + std::to_string(encoded % 10000 / 100) + "." +
         std::to_string(encoded % 100);
}

// Opens libcudnn.so.9 once per process: ATTNBENCH_CUDNN_LIBRARY if set, else the loader's search
// path, then the folder found next to the headers at configure time.
const Library& library() {
  static const Library loaded = [] {
    Library lib;
    // The frontend opens a libcudart of its own for a few runtime calls: make it the one this
    // program runs on, not whichever CUDA major comes first on the search path.
    Dl_info cudart{};
    if (dladdr(reinterpret_cast<void*>(&cudaGetDevice), &cudart) != 0 && cudart.dli_fname != nullptr &&
        std::strstr(cudart.dli_fname, "libcudart") != nullptr) {
      setenv("CUDNN_FRONTEND_CUDART_LIB_NAME", cudart.dli_fname, 0);
    }

    std::vector<std::string> candidates;
    if (const char* requested = std::getenv("ATTNBENCH_CUDNN_LIBRARY"); requested != nullptr && *requested != '\0') {
      candidates.emplace_back(requested);
    } else {
      candidates.emplace_back("libcudnn.so.9");
#ifdef ATTNBENCH_CUDNN_LIBRARY_DIR
      candidates.emplace_back(ATTNBENCH_CUDNN_LIBRARY_DIR "/libcudnn.so.9");
#endif
    }
    void* handle = nullptr;
    std::string tried;
    for (const std::string& candidate : candidates) {
      handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle != nullptr) break;
      const char* why = dlerror();
      tried += (tried.empty() ? "" : "; ") + std::string(why != nullptr ? why : candidate);
    }
    if (handle == nullptr) {
      lib.error = "cuDNN not found at run time (" + tried + "; set ATTNBENCH_CUDNN_LIBRARY or LD_LIBRARY_PATH)";
      return lib;
    }
    using GetVersion = std::size_t (*)();
    const auto get_version = reinterpret_cast<GetVersion>(dlsym(handle, "cudnnGetVersion"));
    if (get_version == nullptr) {
      lib.error = "the libcudnn found at run time has no cudnnGetVersion";
      return lib;
    }
    const std::size_t encoded = get_version();
    lib.version = dottedVersion(encoded);
    if (encoded / 10000 != CUDNN_MAJOR) {
      lib.error = "libcudnn " + lib.version + " found at run time; attnbench was built for cuDNN " +
                  std::to_string(CUDNN_MAJOR);
      return lib;
    }
    fe::cudnn_dlhandle = handle;
    return lib;
  }();
  return loaded;
}

// ---- plans ---------------------------------------------------------------------------------------

constexpr std::int64_t kUidQ = 1, kUidK = 2, kUidV = 3, kUidO = 4, kUidStats = 5;

// Everything a plan depends on: dims, strides, dtype, mask, scale and whether LSE is written.
using PlanKey = std::array<std::int64_t, 22>;

PlanKey planKey(const AttentionParams& p) {
  std::uint32_t scale_bits = 0;
  std::memcpy(&scale_bits, &p.softmax_scale, sizeof scale_bits);
  return {static_cast<std::int64_t>(p.dtype), p.batch, p.heads_q, p.heads_kv, p.seq_q, p.seq_kv, p.head_dim,
          p.q_batch_stride, p.q_head_stride, p.q_row_stride, p.k_batch_stride, p.k_head_stride, p.k_row_stride,
          p.v_batch_stride, p.v_head_stride, p.v_row_stride, p.o_batch_stride, p.o_head_stride, p.o_row_stride,
          p.causal ? 1 : 0, p.lse != nullptr ? 1 : 0, scale_bits};
}

struct Plan {
  std::string reason;  // empty when the graph below is built and runs
  std::shared_ptr<fe::graph::Graph> graph;
  std::size_t workspace_bytes = 0;
};

// One cuDNN handle and the plans built with it, per device.
struct DeviceState {
  cudnnHandle_t handle = nullptr;
  std::string reason;  // why this device cannot run cuDNN SDPA at all
  std::map<PlanKey, std::shared_ptr<const Plan>> plans;
};

struct PlanCache {
  std::mutex mutex;
  std::map<int, DeviceState> devices;
};

// Never destroyed: plans freed at exit, after the CUDA context or libcudnn may be gone, could fault.
PlanCache& planCache() {
  static PlanCache& cache = *new PlanCache;
  return cache;
}

// Reasons that need neither cuDNN nor a device: invalid shapes and attnbench conventions cuDNN lacks.
std::string conventionReason(const AttentionParams& p) {
  if (p.batch <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.seq_q <= 0 || p.seq_kv <= 0 || p.head_dim <= 0) {
    return "batch, heads, sequence lengths and head dim must be positive";
  }
  if (p.heads_q % p.heads_kv != 0) return "heads_q must be a multiple of heads_kv";
  if (p.dtype == DType::F32) return "cuDNN SDPA runs fp16 and bf16, not fp32";
  // attnbench's bottom-right mask leaves the first Nq - Nk rows with no key (O = 0, LSE = -inf);
  // cuDNN refuses a bottom-right mask with Nq > Nk.
  if (p.causal && p.seq_q > p.seq_kv) return "cuDNN's bottom-right causal mask needs Nq <= Nk";
  return {};
}

DeviceState initDevice(int device) {
  DeviceState state;
  int major = 0;
  int minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    state.reason = "no CUDA device";
    return state;
  }
  if (major < 8) {
    state.reason = "cuDNN SDPA needs sm_80 or newer, not sm_" + std::to_string(major * 10 + minor);
    return state;
  }
  try {
    if (const cudnnStatus_t status = fe::detail::create_handle(&state.handle); status != CUDNN_STATUS_SUCCESS) {
      state.reason = std::string("cudnnCreate failed: ") + fe::detail::get_error_string(status);
      state.handle = nullptr;
    }
  } catch (const std::exception& e) {
    state.reason = std::string("cudnnCreate failed: ") + e.what();
  }
  return state;
}

// Builds the SDPA graph for `p` and the plan cuDNN's heuristics pick (mode A, then the fallback
// list), or the reason there is none.
std::shared_ptr<const Plan> buildPlan(const AttentionParams& p, cudnnHandle_t handle) {
  auto plan = std::make_shared<Plan>();
  try {
    auto graph = std::make_shared<fe::graph::Graph>();
    graph->set_io_data_type(p.dtype == DType::BF16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::HALF)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    const auto input = [&](const char* name, std::int64_t uid, int heads, int rows, std::int64_t batch_stride,
                           std::int64_t head_stride, std::int64_t row_stride) {
      return graph->tensor(fe::graph::Tensor_attributes()
                               .set_name(name)
                               .set_uid(uid)
                               .set_dim({p.batch, heads, rows, p.head_dim})
                               .set_stride({batch_stride, head_stride, row_stride, 1}));
    };
    const auto q = input("Q", kUidQ, p.heads_q, p.seq_q, p.q_batch_stride, p.q_head_stride, p.q_row_stride);
    const auto k = input("K", kUidK, p.heads_kv, p.seq_kv, p.k_batch_stride, p.k_head_stride, p.k_row_stride);
    const auto v = input("V", kUidV, p.heads_kv, p.seq_kv, p.v_batch_stride, p.v_head_stride, p.v_row_stride);

    auto options = fe::graph::SDPA_attributes()
                       .set_name("attnbench_sdpa")
                       .set_generate_stats(p.lse != nullptr)
                       .set_attn_scale(p.softmax_scale);
    // Equal lengths: the plain lower triangle, which every cuDNN 9 supports; else bottom-right.
    if (p.causal && p.seq_q == p.seq_kv) options.set_causal_mask(true);
    if (p.causal && p.seq_q != p.seq_kv) options.set_causal_mask_bottom_right(true);

    const auto [o, stats] = graph->sdpa(q, k, v, options);
    o->set_output(true)
        .set_uid(kUidO)
        .set_dim({p.batch, p.heads_q, p.seq_q, p.head_dim})
        .set_stride({p.o_batch_stride, p.o_head_stride, p.o_row_stride, 1});
    if (p.lse != nullptr) {
      const std::int64_t rows = p.seq_q;
      stats->set_output(true)
          .set_uid(kUidStats)
          .set_data_type(fe::DataType_t::FLOAT)
          .set_dim({p.batch, p.heads_q, p.seq_q, 1})
          .set_stride({p.heads_q * rows, rows, 1, 1});
    }

    fe::error_t status = graph->validate();
    if (status.is_good()) status = graph->build_operation_graph(handle);
    if (status.is_good()) status = graph->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK});
    if (status.is_good()) status = graph->check_support();
    if (status.is_good()) status = graph->build_plans(fe::BuildPlanPolicy_t::HEURISTICS_CHOICE);
    std::int64_t workspace = 0;
    if (status.is_good()) status = graph->get_workspace_size(workspace);
    if (status.is_bad()) {
      plan->reason = "cuDNN: " + status.get_message();
      return plan;
    }
    plan->graph = std::move(graph);
    plan->workspace_bytes = static_cast<std::size_t>(workspace);
  } catch (const std::exception& e) {
    plan->reason = std::string("cuDNN: ") + e.what();
  }
  return plan;
}

struct Prepared {
  std::shared_ptr<const Plan> plan;  // null where `reason` says why not
  cudnnHandle_t handle = nullptr;
  std::string reason;
};

// The cached plan for `p` on the current device, built on first use.
Prepared prepare(const AttentionParams& p) {
  if (std::string reason = conventionReason(p); !reason.empty()) return {nullptr, nullptr, std::move(reason)};
  if (const Library& lib = library(); !lib.error.empty()) return {nullptr, nullptr, lib.error};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return {nullptr, nullptr, "no CUDA device"};
  }
  PlanCache& cache = planCache();
  const std::lock_guard lock(cache.mutex);
  auto found = cache.devices.find(device);
  if (found == cache.devices.end()) found = cache.devices.emplace(device, initDevice(device)).first;
  DeviceState& state = found->second;
  if (!state.reason.empty()) return {nullptr, nullptr, state.reason};
  const PlanKey key = planKey(p);
  auto cached = state.plans.find(key);
  if (cached == state.plans.end()) cached = state.plans.emplace(key, buildPlan(p, state.handle)).first;
  const std::shared_ptr<const Plan>& plan = cached->second;
  if (!plan->reason.empty()) return {nullptr, nullptr, plan->reason};
  return {plan, state.handle, {}};
}

bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }

}  // namespace

std::string cudnnBuildInfo() {
  return "cudnn-frontend " + std::to_string(CUDNN_FRONTEND_MAJOR_VERSION) + "." +
         std::to_string(CUDNN_FRONTEND_MINOR_VERSION) + "." + std::to_string(CUDNN_FRONTEND_PATCH_VERSION) +
         ", cuDNN " + std::to_string(CUDNN_MAJOR) + "." + std::to_string(CUDNN_MINOR) + "." +
         std::to_string(CUDNN_PATCHLEVEL) + " headers";
}

std::string cudnnVersion() { return library().version; }

std::string cudnnUnsupportedReason(const AttentionParams& params) { return prepare(params).reason; }

std::size_t cudnnWorkspaceBytes(const AttentionParams& params) {
  const Prepared prepared = prepare(params);
  return prepared.plan != nullptr ? prepared.plan->workspace_bytes : 0;
}

cudaError_t cudnnAttention(const AttentionParams& params, void* workspace, cudaStream_t stream, std::string* error) {
  const auto fail = [&](cudaError_t code, const std::string& message) {
    if (error != nullptr) *error = message;
    return code;
  };
  const Prepared prepared = prepare(params);
  if (prepared.plan == nullptr) return fail(cudaErrorNotSupported, prepared.reason);
  if (!aligned16(params.q) || !aligned16(params.k) || !aligned16(params.v) || !aligned16(params.o) ||
      !aligned16(params.lse)) {
    return fail(cudaErrorMisalignedAddress, "cuDNN SDPA needs 16-byte aligned Q, K, V, O and LSE");
  }
  if (prepared.plan->workspace_bytes > 0 && workspace == nullptr) {
    return fail(cudaErrorInvalidValue, "cuDNN SDPA needs a workspace of " +
                                           std::to_string(prepared.plan->workspace_bytes) + " bytes");
  }
  try {
    if (const cudnnStatus_t status = fe::detail::set_stream(prepared.handle, stream); status != CUDNN_STATUS_SUCCESS) {
      return fail(cudaErrorUnknown, std::string("cudnnSetStream: ") + fe::detail::get_error_string(status));
    }
    std::unordered_map<std::int64_t, void*> pointers{{kUidQ, const_cast<void*>(params.q)},
                                                      {kUidK, const_cast<void*>(params.k)},
                                                      {kUidV, const_cast<void*>(params.v)},
                                                      {kUidO, params.o}};
    if (params.lse != nullptr) pointers.emplace(kUidStats, params.lse);
    fe::error_t status = prepared.plan->graph->execute(prepared.handle, pointers, workspace);
    if (status.is_bad()) return fail(cudaErrorUnknown, "cuDNN: " + status.get_message());
  } catch (const std::exception& e) {
    return fail(cudaErrorUnknown, std::string("cuDNN: ") + e.what());
  }
  return cudaSuccess;
}

void cudnnReleasePlans() {
  PlanCache& cache = planCache();
  const std::lock_guard lock(cache.mutex);
  for (auto& entry : cache.devices) {
    entry.second.plans.clear();
    if (entry.second.handle != nullptr) static_cast<void>(fe::detail::destroy_handle(entry.second.handle));
  }
  cache.devices.clear();
}

#endif

}  // namespace attnbench::kernels::cuda
