// The CPU backend: host memory as "device" memory, steady_clock around the kernel, std::thread
// workers inside the kernels.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include <Eigen/Core>

#include "attnbench/errors.h"
#include "attnbench/kernels/cpu_attention.h"
#include "attnbench/kernels/cpu_decode.h"
#include "decode_cache.h"
#include "backends.h"
#include "host_tensors.h"
#include "size_checks.h"
#include "tracking_allocator.h"

namespace attnbench {

namespace kcpu = kernels::cpu;

namespace {

int resolveThreads(int requested) {
  return requested > 0 ? requested : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

std::size_t workspaceBytes(const SweepPoint& point, int threads, TileShape* tile_out) {
  const kernels::AttentionParams p = packedParams(point.shape, nullptr, nullptr, nullptr, nullptr, nullptr);
  if (point.kernel == KernelKind::Standard) return kcpu::standardWorkspaceBytes(p);
  const TileShape tile = kcpu::resolveFlashTile(p, point.tile);
  if (tile_out) *tile_out = tile;
  return kcpu::flashWorkspaceBytes(p, tile, threads);
}

std::uint64_t predictCpuBytes(const SweepPoint& point, int threads) {
  const std::uint64_t lse = point.kernel == KernelKind::Flash ? lseBytes(point.shape) : 0;
  return ioTensorBytes(point.shape) + lse + workspaceBytes(point, threads, nullptr);
}

// What both CPU points share: the tracker, Q/K/V/O buffers laid out as the point's TensorLayout says
// and filled from the seed (O poisoned), and reading rows back.
class CpuPointBase : public PreparedPoint {
 public:
  std::uint64_t peakBytes() const override { return tracker_.peak(); }

  std::int64_t countUnwrittenOutputs() override {
    return countPoison(buffer(TensorId::O).data(), shape_.dtype, layout_.elements(TensorId::O));
  }

  std::vector<float> readRows(TensorId tensor, int b, int head, int row0, int count) override {
    const auto* base = static_cast<const char*>(buffer(tensor).data());
    const auto element = static_cast<std::size_t>(kernels::bytesPerElement(shape_.dtype));
    return readRowRuns(layout_, tensor, b, head, row0, count, [&](std::size_t first, std::size_t elements, void* dst) {
      std::memcpy(dst, base + first * element, elements * element);
    });
  }

  int kvLength(int b) const override { return layout_.kvLength(b); }

 protected:
  CpuPointBase(TensorLayout layout, std::uint64_t seed, int threads, std::uint64_t limit)
      : layout_(std::move(layout)), shape_(layout_.shape()), threads_(threads), tracker_(limit) {
    const std::size_t element = static_cast<std::size_t>(kernels::bytesPerElement(shape_.dtype));
    for (const TensorId t : kTensors) tensors_[tensorSlot(t)] = HostBuffer(tracker_, layout_.elements(t) * element);
    for (const TensorId t : kInputTensors) {
      fillRandom(buffer(t).data(), shape_.dtype, buffer(t).bytes() / element, tensorSeed(seed, t));
    }
    fillPoison(buffer(TensorId::O).data(), shape_.dtype, layout_.elements(TensorId::O));
  }

  // Runs `kernel` once and returns the wall time it took, in ms.
  template <typename Kernel>
  static double timeCall(Kernel&& kernel) {
    const auto start = std::chrono::steady_clock::now();
    kernel();
    const auto stop = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::milli>(stop - start).count();
  }

  HostBuffer& buffer(TensorId tensor) { return tensors_[tensorSlot(tensor)]; }

  TensorLayout layout_;
  kernels::AttentionShape shape_;
  int threads_;
  MemoryTracker tracker_;
  std::array<HostBuffer, 4> tensors_;  // Q, K, V, O

 private:
  using PreparedPoint::readRows;
};

// Attention (prefill): N queries against N keys, packed [B, H, N, D] tensors.
class CpuPoint final : public CpuPointBase {
 public:
  CpuPoint(const SweepPoint& point, std::uint64_t seed, int threads, std::uint64_t limit)
      : CpuPointBase(TensorLayout(point.shape), seed, threads, limit), kernel_(point.kernel) {
    if (kernel_ == KernelKind::Flash) lse_ = HostBuffer(tracker_, lseBytes(shape_));
    workspace_ = HostBuffer(tracker_, workspaceBytes(point, threads, &tile_));
    params_ = packedParams(shape_, buffer(TensorId::Q).data(), buffer(TensorId::K).data(), buffer(TensorId::V).data(),
                           buffer(TensorId::O).data(), static_cast<float*>(lse_.data()));
  }

  double runTimed() override {
    return timeCall([this] {
      if (kernel_ == KernelKind::Standard) kcpu::standardAttention(params_, workspace_.data(), threads_);
      else kcpu::flashAttention(params_, tile_, workspace_.data(), threads_);
    });
  }

  TileShape resolvedTile() const override { return kernel_ == KernelKind::Flash ? tile_ : TileShape{}; }

 private:
  KernelKind kernel_;
  HostBuffer lse_, workspace_;
  TileShape tile_;
  kernels::AttentionParams params_;
};

// Decode: q_len new rows per sequence against a contiguous or paged KV cache (decode_cache.h).
class CpuDecodePoint final : public CpuPointBase {
 public:
  CpuDecodePoint(const SweepPoint& point, const DecodeCacheLayout& layout, std::uint64_t seed, int threads,
                 std::uint64_t limit)
      : CpuPointBase(TensorLayout(point.shape, layout), seed, threads, limit), kernel_(point.kernel) {
    const DecodeCacheLayout& cache = *layout_.cache();
    lse_ = HostBuffer(tracker_, lseBytes(shape_));
    tables_ = HostBuffer(tracker_, cache.tableBytes());
    params_ = decodeParams(point, cache, buffer(TensorId::Q).data(), buffer(TensorId::K).data(),
                           buffer(TensorId::V).data(), buffer(TensorId::O).data(), static_cast<float*>(lse_.data()),
                           cache.kv_lens.data(), cache.block_table.data());
    if (kernel_ == KernelKind::Flash) {
      splits_ = kcpu::flashDecodeSplits(params_, threads);
      partials_ = HostBuffer(tracker_, kernels::decodeWorkspaceBytes(params_, splits_));
      kernels::setDecodeWorkspace(params_, splits_, partials_.data(), kernels::DecodeCombine::Kernel);
      workspace_ = HostBuffer(tracker_, kcpu::flashDecodeScratchBytes(params_, threads));
    } else {
      params_.lse = nullptr;  // the materialized path writes O only, as the CUDA one does
      workspace_ = HostBuffer(tracker_, kcpu::standardDecodeWorkspaceBytes(params_));
    }
  }

  double runTimed() override {
    return timeCall([this] {
      if (kernel_ == KernelKind::Standard) kcpu::standardDecode(params_, workspace_.data(), threads_);
      else kcpu::flashDecode(params_, workspace_.data(), threads_);
    });
  }

  TileShape resolvedTile() const override { return {}; }
  int splits() const override { return splits_; }

 private:
  KernelKind kernel_;
  HostBuffer lse_, tables_, partials_, workspace_;
  kernels::DecodeParams params_;
  int splits_ = 0;
};

// Bytes a decode point holds: Q, O, the cache, LSE, the integer tables, and the kernel's workspace.
std::uint64_t predictCpuDecodeBytes(const SweepPoint& point, const DecodeCacheLayout& layout, int threads) {
  std::uint64_t bytes = decodeTensorBytes(point.shape, layout);
  kernels::DecodeParams p = decodeShapeParams(point, layout);
  if (point.kernel == KernelKind::Flash) {
    bytes += kernels::decodeWorkspaceBytes(p, kcpu::flashDecodeSplits(p, threads)) + kcpu::flashDecodeScratchBytes(p, threads);
  } else {
    bytes += kcpu::standardDecodeWorkspaceBytes(p);
  }
  return bytes;
}

class CpuBackend final : public Backend {
 public:
  CpuBackend() : device_(describeHostCpu()) {}

  const DeviceInfo& device() const override { return device_; }
  std::string unsupportedReason(const SweepPoint& point) const override {
    if (point.kernel == KernelKind::Cudnn) return "cuDNN runs on NVIDIA GPUs only";
    if (std::string reason = sizeOverflowReason(point.shape); !reason.empty()) return reason;
    if (!point.isDecode()) return {};
    if (std::string reason = decodeShapeReason(point); !reason.empty()) return reason;
    const DecodeCacheLayout layout = decodeCacheLayout(point);
    const kernels::DecodeParams p = decodeShapeParams(point, layout);
    return point.kernel == KernelKind::Flash ? kcpu::flashDecodeUnsupportedReason(p)
                                             : kcpu::standardDecodeUnsupportedReason(p);
  }

  std::uint64_t predictBytes(const SweepPoint& point) const override {
    if (!unsupportedReason(point).empty()) return UINT64_MAX;  // never fits a budget
    if (point.isDecode()) return predictCpuDecodeBytes(point, decodeCacheLayout(point), threads_);
    return predictCpuBytes(point, threads_);
  }

  std::uint64_t memoryBudgetBytes() const override {
    // Leave a tenth of the available memory to the OS and to the reference check.
    return hostAvailableMemoryBytes() / 10 * 9;
  }

  void setTimingOptions(const TimingOptions& timing) override { threads_ = resolveThreads(timing.cpu_threads); }

  Provenance provenance(RunMoment moment) const override {
    if (moment == RunMoment::End) return {};  // nothing a CPU run changes is recorded
    // Eigen is the CPU GEMM ceiling's library; its instruction sets are those this file was built for.
    return {{"cpu.model", device_.name},
            {"cpu.threads", std::to_string(threads_)},
            {"cpu.hardware_threads", std::to_string(std::thread::hardware_concurrency())},
            {"eigen.version", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                  std::to_string(EIGEN_MINOR_VERSION)},
            {"eigen.simd", Eigen::SimdInstructionSetsInUse()}};
  }

  std::unique_ptr<PreparedPoint> prepare(const SweepPoint& point, std::uint64_t seed, std::uint64_t limit_bytes) override {
    // Host memory is overcommitted: an allocation past what is available "succeeds" and the process
    // is killed when it touches the pages. So the available memory stays a hard limit here.
    const std::uint64_t limit = std::min(limit_bytes, memoryBudgetBytes());
    if (point.isDecode()) return std::make_unique<CpuDecodePoint>(point, decodeCacheLayout(point), seed, threads_, limit);
    return std::make_unique<CpuPoint>(point, seed, threads_, limit);
  }

  DeviceCeilings measureCeilings() override {
    DeviceCeilings c;
    c.gemm_dtype = "fp32";
    // Copy bandwidth: one thread memcpy of 256 MiB, bytes read + written.
    {
      const std::size_t bytes = 256u << 20;
      std::vector<char> a(bytes, 1), b(bytes, 0);
      double best = 1e30;
      for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        std::memcpy(b.data(), a.data(), bytes);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      c.copy_gbps = 2.0 * static_cast<double>(bytes) / best / 1e9;
    }
    // GEMM: every hardware thread multiplies its own 512x512 fp32 matrices at once (Eigen is
    // single-threaded here, as in the kernels); each thread's best repetition counts, since a
    // ceiling is what the machine can do, not what it did while something else ran.
    {
      const int threads = resolveThreads(0);
      static constexpr int n = 512, reps = 10;
      std::vector<double> best_seconds(static_cast<std::size_t>(threads), 1e30);
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&best_seconds, t] {
          Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), out(n, n);
          for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            out.noalias() = a * b;
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            best_seconds[static_cast<std::size_t>(t)] = std::min(best_seconds[static_cast<std::size_t>(t)], seconds);
          }
          volatile float sink = out(0, 0);
          (void)sink;
        });
      }
      for (auto& w : workers) w.join();
      for (double seconds : best_seconds) c.gemm_tflops += 2.0 * n * n * static_cast<double>(n) / seconds / 1e12;
    }
    return c;
  }

 private:
  DeviceInfo device_;
  int threads_ = resolveThreads(0);
};

}  // namespace

std::unique_ptr<Backend> makeCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace attnbench
