// The CUDA backend: tracked cudaMalloc for every buffer of a point, CUDA events around the kernels
// only (the stream held while they are enqueued, or a batch of launches), optional L2 flush and
// CUDA-graph replay, three kernels (flash, the cuBLAS standard baseline, cuDNN's SDPA), out-of-memory
// as a result and sticky errors as a DeviceFault that ends the run.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "attnbench/errors.h"
#include "attnbench/kernels/cuda_attention.h"
#include "attnbench/kernels/cuda_decode.h"
#include "attnbench/kernels/cudnn_attention.h"
#include "backends.h"
#include "cuda_fill.h"
#include "decode_cache.h"
#include "host_tensors.h"
#include "nvml.h"
#include "size_checks.h"
#include "stream_hold.h"
#include "tracking_allocator.h"

namespace attnbench {

namespace kcuda = kernels::cuda;

namespace {

// Errors after which the context is unusable: the run must end (the GUI restarts its worker).
bool isSticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
      return true;
    default:
      return false;
  }
}

// Throws the exception that matches a CUDA error: OutOfMemory, DeviceFault or runtime_error.
void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  const std::string msg = std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the sweep goes on
    throw OutOfMemory(msg);
  }
  if (isSticky(e)) throw DeviceFault(msg);
  cudaGetLastError();
  throw std::runtime_error(msg);
}

// The cuBLAS library that runs ("13.1.0"), as it reports itself.
std::string cublasVersion() {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS) {
    return "unknown";
  }
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

int attribute(cudaDeviceAttr attr, int device) {
  int v = 0;
  cudaDeviceGetAttribute(&v, attr, device);
  return v;
}

DeviceInfo describeCudaDevice(int ordinal) {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, ordinal), "cudaGetDeviceProperties");
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  const int mem_clock_khz = attribute(cudaDevAttrMemoryClockRate, ordinal);
  const int clock_khz = attribute(cudaDevAttrClockRate, ordinal);
  DeviceInfo d;
  d.id = "cuda:" + std::to_string(ordinal);
  d.kind = "cuda";
  d.name = prop.name;
  d.memory_bytes = prop.totalGlobalMem;
  nlohmann::json p;
  p["compute_capability"] = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  p["sm_count"] = prop.multiProcessorCount;
  p["clock_khz"] = clock_khz;
  p["registers_per_sm"] = prop.regsPerMultiprocessor;
  p["registers_per_block"] = prop.regsPerBlock;
  p["max_threads_per_sm"] = prop.maxThreadsPerMultiProcessor;
  p["shared_memory_per_sm"] = prop.sharedMemPerMultiprocessor;
  p["shared_memory_per_block"] = prop.sharedMemPerBlock;
  p["shared_memory_per_block_optin"] = prop.sharedMemPerBlockOptin;
  p["l2_cache_bytes"] = prop.l2CacheSize;
  p["memory_bytes"] = prop.totalGlobalMem;
  p["memory_bus_width_bits"] = prop.memoryBusWidth;
  p["memory_clock_khz"] = mem_clock_khz;
  // DDR: two transfers per clock.
  p["memory_peak_gbps"] = 2.0 * mem_clock_khz * 1e3 * (prop.memoryBusWidth / 8.0) / 1e9;
  p["driver_version"] = std::to_string(driver / 1000) + "." + std::to_string((driver % 1000) / 10);
  p["runtime_version"] = std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10);
  char bus[32] = {};
  cudaDeviceGetPCIBusId(bus, sizeof bus, ordinal);
  p["pci_bus_id"] = bus;
  d.properties = p;
  d.fingerprint = std::string("cuda|") + prop.name + "|" + std::to_string(prop.totalGlobalMem >> 20) + "|" +
                  std::to_string(prop.major) + std::to_string(prop.minor) + "|" + std::to_string(clock_khz) + "|" +
                  std::to_string(driver);
  return d;
}

// A device allocation counted by the point's tracker.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(MemoryTracker& tracker, std::size_t bytes) : tracker_(&tracker), bytes_(bytes) {
    if (bytes == 0) return;
    if (!tracker.reserve(bytes)) {
      throw OutOfMemory("allocating " + formatBytes(bytes) + " would pass the memory limit of " +
                        formatBytes(tracker.limit()));
    }
    const cudaError_t e = cudaMalloc(&data_, bytes);
    if (e != cudaSuccess) {
      tracker.release(bytes);
      data_ = nullptr;
      check(e, ("cudaMalloc of " + formatBytes(bytes)).c_str());
    }
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(tracker_, o.tracker_);
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~DeviceBuffer() {
    if (data_) {
      cudaFree(data_);
      tracker_->release(bytes_);
    }
  }
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  MemoryTracker* tracker_ = nullptr;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// Resources that live as long as the backend: stream, events, cuBLAS handle and its workspace, and
// the L2 flush buffer. Kept outside the per-point accounting (they do not grow with the problem).
struct CudaContext {
  int ordinal = 0;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cublasHandle_t cublas = nullptr;
  void* cublas_workspace = nullptr;
  void* l2_flush = nullptr;
  std::size_t l2_flush_bytes = 0;
  kcuda::DeviceTraits traits;
  StreamHold hold;

  static constexpr std::size_t kCublasWorkspaceBytes = 32u << 20;

  explicit CudaContext(int device) : ordinal(device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    if (cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS) throw DeviceFault("cublasCreate failed");
    cublasSetStream(cublas, stream);
    // A fixed workspace keeps cuBLAS from allocating during timing and makes graph capture legal.
    check(cudaMalloc(&cublas_workspace, kCublasWorkspaceBytes), "cudaMalloc cuBLAS workspace");
    cublasSetWorkspace(cublas, cublas_workspace, kCublasWorkspaceBytes);
    traits = kcuda::queryDeviceTraits(device);
    int l2 = 0;
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device);
    l2_flush_bytes = static_cast<std::size_t>(l2) * 2;
  }
  ~CudaContext() {
    cudaFree(l2_flush);
    cudaFree(cublas_workspace);
    if (cublas) cublasDestroy(cublas);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaStreamDestroy(stream);
  }
  void flushL2() {
    if (!l2_flush) check(cudaMalloc(&l2_flush, l2_flush_bytes), "cudaMalloc L2 flush buffer");
    check(cudaMemsetAsync(l2_flush, 0, l2_flush_bytes, stream), "L2 flush");
  }
};

kernels::AttentionParams shapeOnlyParams(const kernels::AttentionShape& s) {
  return packedParams(s, nullptr, nullptr, nullptr, nullptr, nullptr);
}

// Throws the error a cuBLAS call or a kernel launch reported.
void checkLaunch(cudaError_t e, cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string("cuBLAS: ") + cublasGetStatusString(status));
  check(e, what);
}

void checkCudnn(cudaError_t e, const std::string& error) {
  if (e == cudaErrorUnknown) throw std::runtime_error("cuDNN: " + error);
  check(e, "cuDNN attention");
}

// What every CUDA point shares: Q/K/V/O buffers filled from the seed (O poisoned), reading rows back,
// and timing launches (held stream, batches, graph replay). A subclass allocates what its kernel
// needs, says where a K/V row lives and launches; its constructor ends with firstLaunch().
class CudaPointBase : public PreparedPoint {
 public:
  ~CudaPointBase() override {
    if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
  }

  double runTimed() override {
    if (timing_.l2_flush) ctx_.flushL2();
    if (timing_.cuda_graph && !graph_exec_) capture();
    switch (timing_.method) {
      case TimingMethod::Blocked: return timeLaunches(1, true);
      case TimingMethod::Plain: return timeLaunches(1, false);
      case TimingMethod::Batch: return timeLaunches(batchSize(), false) / batchSize();
    }
    return 0;
  }

  std::uint64_t peakBytes() const override { return tracker_.peak(); }

  std::int64_t countUnwrittenOutputs() override {
    // Chunked copy to the host: O can be several GiB at long sequences.
    const DType dtype = shape_.dtype;
    const std::size_t total = layout_.elements(TensorId::O);
    const std::size_t e = static_cast<std::size_t>(kernels::bytesPerElement(dtype));
    const std::size_t chunk = (64u << 20) / e;
    std::vector<char> host(chunk * e);
    std::int64_t poisoned = 0;
    for (std::size_t first = 0; first < total; first += chunk) {
      const std::size_t n = std::min(chunk, total - first);
      check(cudaMemcpy(host.data(), static_cast<char*>(buffer(TensorId::O).data()) + first * e, n * e, cudaMemcpyDeviceToHost),
            "read O");
      poisoned += countPoison(host.data(), dtype, n);
    }
    return poisoned;
  }

  std::vector<float> readRows(TensorId tensor, int b, int head, int row0, int count) override {
    const auto* base = static_cast<const char*>(buffer(tensor).data());
    const auto element = static_cast<std::size_t>(kernels::bytesPerElement(shape_.dtype));
    return readRowRuns(layout_, tensor, b, head, row0, count, [&](std::size_t first, std::size_t elements, void* dst) {
      check(cudaMemcpy(dst, base + first * element, elements * element, cudaMemcpyDeviceToHost), "read rows");
    });
  }

  int kvLength(int b) const override { return layout_.kvLength(b); }

 protected:
  // Allocates Q, K, V and O as `layout` says, then fills the inputs and poisons O.
  CudaPointBase(CudaContext& ctx, TensorLayout layout, std::uint64_t seed, const TimingOptions& timing,
                std::uint64_t limit)
      : ctx_(ctx), layout_(std::move(layout)), shape_(layout_.shape()), timing_(timing), tracker_(limit) {
    const std::size_t element = static_cast<std::size_t>(kernels::bytesPerElement(shape_.dtype));
    for (const TensorId t : kTensors) tensors_[tensorSlot(t)] = DeviceBuffer(tracker_, layout_.elements(t) * element);
    for (const TensorId t : kInputTensors) {
      check(fillRandomDevice(buffer(t).data(), shape_.dtype, buffer(t).bytes() / element, tensorSeed(seed, t), ctx.stream),
            "fill inputs");
    }
    check(cudaMemsetAsync(buffer(TensorId::O).data(), 0xFF, buffer(TensorId::O).bytes(), ctx.stream), "poison O");
  }

  // One launch outside any hold: the first launch of a kernel may load its module (CUDA's lazy
  // loading; cuBLAS and cuDNN kernels), which waits for the device to idle and would wait for a
  // held stream until the hold's timeout.
  void firstLaunch() {
    check(cudaStreamSynchronize(ctx_.stream), "prepare");
    launch();
    check(cudaStreamSynchronize(ctx_.stream), "first launch");
  }

  virtual void launch() = 0;

  DeviceBuffer& buffer(TensorId tensor) { return tensors_[tensorSlot(tensor)]; }

  CudaContext& ctx_;
  TensorLayout layout_;
  kernels::AttentionShape shape_;
  TimingOptions timing_;
  MemoryTracker tracker_;

 private:
  // Milliseconds between events around `launches` launches; with `held`, the stream waits behind a
  // spinning kernel until all of them are enqueued.
  double timeLaunches(int launches, bool held) {
    if (held) check(ctx_.hold.hold(ctx_.stream), "stream hold");
    try {
      check(cudaEventRecord(ctx_.start, ctx_.stream), "cudaEventRecord");
      for (int i = 0; i < launches; ++i) issue();
      check(cudaEventRecord(ctx_.stop, ctx_.stream), "cudaEventRecord");
    } catch (...) {
      if (held) ctx_.hold.release();
      throw;
    }
    if (held) ctx_.hold.release();
    check(cudaEventSynchronize(ctx_.stop), "kernel");
    if (held && ctx_.hold.timedOut()) {
      throw std::runtime_error("the host took longer than the stream hold's timeout to enqueue one launch");
    }
    float ms = 0;
    check(cudaEventElapsedTime(&ms, ctx_.start, ctx_.stop), "cudaEventElapsedTime");
    return ms;
  }

  // Launches per batch sample: enough for about a millisecond of kernel time, so that the events'
  // resolution and the first launch's latency are small against it; fixed at the first sample.
  int batchSize() {
    if (batch_launches_ == 0) {
      const double one_ms = timeLaunches(1, true);
      batch_launches_ = static_cast<int>(std::clamp(std::ceil(kBatchTargetMs / std::max(one_ms, 1e-4)), 1.0, 1000.0));
    }
    return batch_launches_;
  }

  void issue() {
    if (graph_exec_) check(cudaGraphLaunch(graph_exec_, ctx_.stream), "cudaGraphLaunch");
    else launch();
  }

  void capture() {
    cudaGraph_t graph = nullptr;
    check(cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    try {
      launch();
    } catch (...) {
      cudaStreamEndCapture(ctx_.stream, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    check(cudaStreamEndCapture(ctx_.stream, &graph), "cudaStreamEndCapture");
    const cudaError_t e = cudaGraphInstantiate(&graph_exec_, graph, 0);
    cudaGraphDestroy(graph);
    check(e, "cudaGraphInstantiate");
  }

  std::array<DeviceBuffer, 4> tensors_;  // Q, K, V, O
  cudaGraphExec_t graph_exec_ = nullptr;
  int batch_launches_ = 0;
  static constexpr double kBatchTargetMs = 1.0;
};

// Attention (prefill): N queries against N keys, packed [B, H, N, D] tensors.
class CudaPoint final : public CudaPointBase {
 public:
  CudaPoint(CudaContext& ctx, const SweepPoint& point, std::uint64_t seed, const TimingOptions& timing,
            std::uint64_t limit)
      : CudaPointBase(ctx, TensorLayout(point.shape), seed, timing, limit),
        kernel_(point.kernel) {
    const kernels::AttentionParams shape_params = shapeOnlyParams(shape_);
    switch (kernel_) {
      case KernelKind::Flash:
        lse_ = DeviceBuffer(tracker_, lseBytes(shape_));
        tile_ = kcuda::resolveFlashTile(shape_params, point.tile, ctx.traits);
        break;
      case KernelKind::Standard:
        workspace_ = DeviceBuffer(tracker_, kcuda::standardWorkspaceBytes(shape_params));
        break;
      case KernelKind::Cudnn:
        // No LSE output: what inference pays. The plan was built by unsupportedReason.
        workspace_ = DeviceBuffer(tracker_, kcuda::cudnnWorkspaceBytes(shape_params));
        break;
    }
    params_ = packedParams(shape_, buffer(TensorId::Q).data(), buffer(TensorId::K).data(), buffer(TensorId::V).data(),
                           buffer(TensorId::O).data(), static_cast<float*>(lse_.data()));
    firstLaunch();
  }

  TileShape resolvedTile() const override { return tile_; }

 private:
  void launch() override {
    switch (kernel_) {
      case KernelKind::Flash:
        check(kcuda::flashForward(params_, tile_, ctx_.stream), "flash forward");
        return;
      case KernelKind::Cudnn: {
        std::string error;
        checkCudnn(kcuda::cudnnAttention(params_, workspace_.data(), ctx_.stream, &error), error);
        return;
      }
      case KernelKind::Standard: {
        cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
        const cudaError_t e = kcuda::standardAttention(params_, workspace_.data(), ctx_.cublas, ctx_.stream, &status);
        checkLaunch(e, status, "standard attention");
        return;
      }
    }
  }

  KernelKind kernel_;
  DeviceBuffer lse_, workspace_;
  TileShape tile_;
  kernels::AttentionParams params_;
};

// A decode problem of a contiguous, uniform cache as the prefill problem cuDNN runs (Nq = q_len,
// Nk = N, bottom-right causal); no LSE, as in the prefill cudnn points.
kernels::AttentionParams decodeForCudnn(const kernels::DecodeParams& p) {
  kernels::AttentionParams a = kernels::decodeAsAttention(p, 0, p.batch, p.seq_kv);
  a.lse = nullptr;
  return a;
}

// Decode: q_len new rows per sequence against a contiguous or paged KV cache (decode_cache.h). Flash
// runs the split-KV kernel with the fused combine; standard the cuBLAS path; cudnn its SDPA.
class CudaDecodePoint final : public CudaPointBase {
 public:
  CudaDecodePoint(CudaContext& ctx, const SweepPoint& point, const DecodeCacheLayout& layout, std::uint64_t seed,
                  const TimingOptions& timing, std::uint64_t limit)
      : CudaPointBase(ctx, TensorLayout(point.shape, layout), seed, timing, limit), kernel_(point.kernel) {
    const DecodeCacheLayout& cache = *layout_.cache();
    lse_ = DeviceBuffer(tracker_, lseBytes(shape_));
    kv_lens_ = DeviceBuffer(tracker_, cache.kv_lens.size() * sizeof(int));
    block_table_ = DeviceBuffer(tracker_, cache.block_table.size() * sizeof(int));
    copyToDevice(kv_lens_, cache.kv_lens);
    copyToDevice(block_table_, cache.block_table);
    params_ = decodeParams(point, cache, buffer(TensorId::Q).data(), buffer(TensorId::K).data(),
                           buffer(TensorId::V).data(), buffer(TensorId::O).data(), static_cast<float*>(lse_.data()),
                           static_cast<const int*>(kv_lens_.data()), static_cast<const int*>(block_table_.data()));
    switch (kernel_) {
      case KernelKind::Flash: {
        splits_ = kcuda::flashDecodeSplits(params_, ctx.traits);
        workspace_ = DeviceBuffer(tracker_, kernels::decodeWorkspaceBytes(params_, splits_));
        // The fused combine's arrival counters start at zero; every call leaves them at zero again.
        if (workspace_.bytes() > 0) check(cudaMemsetAsync(workspace_.data(), 0, workspace_.bytes(), ctx.stream), "zero counters");
        kernels::setDecodeWorkspace(params_, splits_, workspace_.data());
        break;
      }
      case KernelKind::Standard:
        params_.lse = nullptr;  // the materialized path writes O only
        workspace_ = DeviceBuffer(tracker_, kcuda::standardDecodeWorkspaceBytes(params_));
        break;
      case KernelKind::Cudnn:
        workspace_ = DeviceBuffer(tracker_, kcuda::cudnnWorkspaceBytes(decodeForCudnn(params_)));
        break;
    }
    firstLaunch();
  }

  TileShape resolvedTile() const override { return {}; }
  int splits() const override { return splits_; }

 private:
  void copyToDevice(const DeviceBuffer& dst, const std::vector<int>& values) {
    if (values.empty()) return;
    check(cudaMemcpyAsync(dst.data(), values.data(), values.size() * sizeof(int), cudaMemcpyHostToDevice, ctx_.stream),
          "copy cache tables");
  }

  void launch() override {
    switch (kernel_) {
      case KernelKind::Flash:
        check(kcuda::flashDecode(params_, ctx_.stream), "flash decode");
        return;
      case KernelKind::Cudnn: {
        std::string error;
        checkCudnn(kcuda::cudnnAttention(decodeForCudnn(params_), workspace_.data(), ctx_.stream, &error), error);
        return;
      }
      case KernelKind::Standard: {
        cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
        const cudaError_t e = kcuda::standardDecode(params_, workspace_.data(), ctx_.cublas, ctx_.stream, &status);
        checkLaunch(e, status, "standard decode");
        return;
      }
    }
  }

  KernelKind kernel_;
  DeviceBuffer lse_, kv_lens_, block_table_, workspace_;
  kernels::DecodeParams params_;
  int splits_ = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int ordinal)
      : device_(describeCudaDevice(ordinal)), pci_bus_id_(device_.properties.value("pci_bus_id", "")), ctx_(ordinal) {}

  const DeviceInfo& device() const override { return device_; }

  std::string unsupportedReason(const SweepPoint& point) const override {
    if (std::string reason = sizeOverflowReason(point.shape); !reason.empty()) return reason;
    if (point.isDecode()) return decodeUnsupportedReason(point);
    const kernels::AttentionParams p = shapeOnlyParams(point.shape);
    switch (point.kernel) {
      case KernelKind::Flash: return kcuda::flashUnsupportedReason(p, point.tile, ctx_.traits);
      case KernelKind::Standard: return kcuda::standardUnsupportedReason(p);
      case KernelKind::Cudnn: return kcuda::cudnnUnsupportedReason(p);  // builds and caches the plan
    }
    return "unknown kernel";
  }

  std::uint64_t predictBytes(const SweepPoint& point) const override {
    if (!sizeOverflowReason(point.shape).empty()) return UINT64_MAX;  // never fits a budget
    if (point.isDecode()) return predictDecodeBytes(point);
    const kernels::AttentionShape& s = point.shape;
    const std::uint64_t bytes = ioTensorBytes(s);
    switch (point.kernel) {
      case KernelKind::Flash: return bytes + lseBytes(s);
      case KernelKind::Standard: return bytes + kcuda::standardWorkspaceBytes(shapeOnlyParams(s));
      case KernelKind::Cudnn: return bytes + kcuda::cudnnWorkspaceBytes(shapeOnlyParams(s));
    }
    return bytes;
  }

  std::uint64_t memoryBudgetBytes() const override {
    std::size_t free_bytes = 0, total = 0;
    if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) return 0;
    // Headroom for the context, the allocator's rounding and the host-side check's copies.
    const std::size_t margin = 512u << 20;
    return free_bytes > margin ? free_bytes - margin : 0;
  }

  void setTimingOptions(const TimingOptions& timing) override { timing_ = timing; }

  std::optional<SmClockReading> readSmClock() const override {
    const auto clock = nvml::readSmClock(pci_bus_id_);  // read before and after every point
    if (!clock) return std::nullopt;
    return SmClockReading{static_cast<int>(clock->current_mhz), static_cast<int>(clock->max_mhz)};
  }

  Provenance provenance(RunMoment moment) const override {
    const std::string& bus = pci_bus_id_;
    const auto clock = readSmClock();
    const std::string unavailable = "unavailable (no NVML)";
    const std::string clock_now = clock ? std::to_string(clock->current_mhz) : unavailable;
    if (moment == RunMoment::End) return {{"gpu.sm_clock_end_mhz", clock_now}};
    const auto power = nvml::powerLimitWatts(bus);
    char watts[32] = "";
    if (power) std::snprintf(watts, sizeof watts, "%.0f", *power);
    const std::string driver = nvml::driverVersion();
    const std::string cudnn = kcuda::cudnnVersion();
    return {{"gpu.name", device_.name},
            {"gpu.compute_capability", device_.properties.value("compute_capability", "")},
            {"gpu.sm_count", std::to_string(device_.properties.value("sm_count", 0))},
            {"gpu.pci_bus_id", bus},
            {"gpu.sm_clock_start_mhz", clock_now},
            {"gpu.sm_clock_max_mhz", clock ? std::to_string(clock->max_mhz) : unavailable},
            {"gpu.power_limit_w", power ? std::string(watts) : unavailable},
            {"gpu.driver", driver.empty() ? unavailable : driver},
            {"cuda.driver_api", device_.properties.value("driver_version", "")},
            {"cuda.runtime", device_.properties.value("runtime_version", "")},
            {"cublas.version", cublasVersion()},
            {"cudnn.version", cudnn.empty() ? "none loaded" : cudnn},
            {"cudnn.build", kcuda::cudnnBuildInfo()}};
  }

  std::unique_ptr<PreparedPoint> prepare(const SweepPoint& point, std::uint64_t seed, std::uint64_t limit_bytes) override {
    if (point.isDecode()) {
      return std::make_unique<CudaDecodePoint>(ctx_, point, decodeCacheLayout(point), seed, timing_, limit_bytes);
    }
    return std::make_unique<CudaPoint>(ctx_, point, seed, timing_, limit_bytes);
  }

  DeviceCeilings measureCeilings() override {
    DeviceCeilings c;
    c.gemm_dtype = "fp16";
    MemoryTracker tracker;
    auto timeBest = [this](int reps, const std::function<void()>& body) {
      float best = 1e30f;
      body();  // warm-up
      for (int i = 0; i < reps; ++i) {
        check(cudaEventRecord(ctx_.start, ctx_.stream), "cudaEventRecord");
        body();
        check(cudaEventRecord(ctx_.stop, ctx_.stream), "cudaEventRecord");
        check(cudaEventSynchronize(ctx_.stop), "ceiling");
        float ms = 0;
        cudaEventElapsedTime(&ms, ctx_.start, ctx_.stop);
        best = std::min(best, ms);
      }
      return static_cast<double>(best);
    };
    {
      const std::size_t bytes = 1ull << 30;
      DeviceBuffer a(tracker, bytes), b(tracker, bytes);
      check(cudaMemsetAsync(a.data(), 1, bytes, ctx_.stream), "memset");
      const double ms = timeBest(5, [&] {
        check(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, ctx_.stream), "copy");
      });
      c.copy_gbps = 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9;  // read + write
    }
    {
      const int n = 8192;
      const std::size_t bytes = static_cast<std::size_t>(n) * n * 2;
      DeviceBuffer a(tracker, bytes), b(tracker, bytes), out(tracker, bytes);
      check(fillRandomDevice(a.data(), DType::F16, static_cast<std::size_t>(n) * n, 1, ctx_.stream), "fill");
      check(fillRandomDevice(b.data(), DType::F16, static_cast<std::size_t>(n) * n, 2, ctx_.stream), "fill");
      const float alpha = 1.0f, beta = 0.0f;
      const double ms = timeBest(5, [&] {
        const cublasStatus_t st = cublasGemmEx(ctx_.cublas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.data(), CUDA_R_16F,
                                               n, b.data(), CUDA_R_16F, n, &beta, out.data(), CUDA_R_16F, n,
                                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (st != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string("cuBLAS GEMM: ") + cublasGetStatusString(st));
      });
      c.gemm_tflops = 2.0 * n * static_cast<double>(n) * n / (ms * 1e-3) / 1e12;
    }
    return c;
  }

 private:
  std::string decodeUnsupportedReason(const SweepPoint& point) const {
    if (std::string reason = decodeShapeReason(point); !reason.empty()) return reason;
    const DecodeCacheLayout layout = decodeCacheLayout(point);
    const kernels::DecodeParams p = decodeShapeParams(point, layout);
    switch (point.kernel) {
      case KernelKind::Flash: return kcuda::flashDecodeUnsupportedReason(p, ctx_.traits);
      case KernelKind::Standard: return kcuda::standardDecodeUnsupportedReason(p);
      case KernelKind::Cudnn:
        if (layout.paged() || layout.ragged()) return "cudnn decode here takes a contiguous cache of equal lengths";
        return kcuda::cudnnUnsupportedReason(decodeForCudnn(p));
    }
    return "unknown kernel";
  }

  std::uint64_t predictDecodeBytes(const SweepPoint& point) const {
    const DecodeCacheLayout layout = decodeCacheLayout(point);
    const std::uint64_t bytes = decodeTensorBytes(point.shape, layout);
    const kernels::DecodeParams p = decodeShapeParams(point, layout);
    switch (point.kernel) {
      case KernelKind::Flash: return bytes + kernels::decodeWorkspaceBytes(p, kcuda::flashDecodeSplits(p, ctx_.traits));
      case KernelKind::Standard: return bytes + kcuda::standardDecodeWorkspaceBytes(p);
      case KernelKind::Cudnn: return bytes + kcuda::cudnnWorkspaceBytes(decodeForCudnn(p));
    }
    return bytes;
  }

  DeviceInfo device_;
  std::string pci_bus_id_;  // NVML's handle for this GPU
  mutable CudaContext ctx_;
  TimingOptions timing_;
};

}  // namespace

int cudaDeviceCount(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return 0;
  }
  if (count == 0 && why) *why = "no CUDA device found";
  return count;
}

std::vector<DeviceInfo> listCudaDevices() {
  std::vector<DeviceInfo> out;
  const int count = cudaDeviceCount(nullptr);
  for (int i = 0; i < count; ++i) out.push_back(describeCudaDevice(i));
  return out;
}

std::unique_ptr<Backend> makeCudaBackend(int ordinal) { return std::make_unique<CudaBackend>(ordinal); }

}  // namespace attnbench
