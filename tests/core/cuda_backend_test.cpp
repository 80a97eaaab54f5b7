// The CUDA backend through the runner, on a real GPU. Every test skips cleanly without one.
#include <gtest/gtest.h>

#include "attnbench/errors.h"
#include "attnbench/kernels/cudnn_attention.h"
#include "attnbench/runner.h"
#include "backends.h"
#include "test_support.h"

namespace attnbench {
namespace {

std::unique_ptr<Backend> cudaBackendOrNull() {
  if (!resolvesToCuda("cuda")) return nullptr;
  std::string note;
  return makeBackend("cuda", &note);
}

#define REQUIRE_CUDA_BACKEND(backend)                           \
  auto backend = cudaBackendOrNull();                           \
  if (!backend) GTEST_SKIP() << "no CUDA device: CPU-only host"

SweepSpec smallSpec() {
  SweepSpec s = sweepPreset("cpu-quick");
  s.device = "cuda";
  s.models = {modelFromJson({{"name", "gqa-d128"}, {"heads", 8}, {"kv_heads", 2}, {"head_dim", 128}}),
              modelFromJson({{"name", "mha-d64"}, {"heads", 4}, {"kv_heads", 4}, {"head_dim", 64}})};
  s.seq_lens = {1, 17, 300, 1024};
  s.batch_sizes = {2};
  s.dtypes = {DType::F16, DType::BF16, DType::F32};
  s.causal = {false, true};
  s.tiles = {TileShape{}, TileShape{64, 64}};
  s.repetitions = 2;
  return s;
}

// A runner on a fresh store under `dir` that does not measure the device's ceilings (seconds of work
// that no test here looks at).
class FreshRunner {
 public:
  FreshRunner(Backend& backend, const std::string& dir)
      : store_(Store::open(testing::freshDir(dir) + "/r.db")), runner_(*store_, backend, nullptr) {
    runner_.setMeasureCeilings(false);
  }
  RunOutcome run(const SweepSpec& spec) { return runner_.run(spec); }

 private:
  std::unique_ptr<Store> store_;
  Runner runner_;
};

// A point that ran: ok, correct against the reference with every output element written, and its
// peak memory exactly the prediction.
void expectCorrectPoint(const PointResult& r) {
  EXPECT_EQ(r.status, PointStatus::Ok) << r.point.label() << ": " << r.message;
  ASSERT_TRUE(r.correctness) << r.point.label();
  EXPECT_TRUE(r.correctness->passed) << r.point.label() << " error " << r.correctness->max_abs_error;
  EXPECT_EQ(r.correctness->unwritten, 0) << r.point.label();
  EXPECT_EQ(r.peak_bytes, r.predicted_bytes) << r.point.label();
}

TEST(CudaBackend, RunsEveryKernelCorrectlyWithExactMemoryPrediction) {
  REQUIRE_CUDA_BACKEND(backend);
  const RunOutcome out = FreshRunner(*backend, "cuda_points").run(smallSpec());
  int ok = 0;
  for (const auto& r : out.results) {
    if (r.point.shape.dtype == DType::F32 && r.point.kernel == KernelKind::Flash) {
      EXPECT_EQ(r.status, PointStatus::Skipped) << r.point.label();
      EXPECT_NE(r.message.find("fp32"), std::string::npos) << r.message;
      continue;
    }
    ++ok;
    expectCorrectPoint(r);
    EXPECT_GT(r.stats.median_ms, 0.0);
    if (r.point.kernel == KernelKind::Flash) {
      EXPECT_FALSE(r.tile.isAuto()) << "auto must be resolved";
    }
  }
  EXPECT_GT(ok, 100);
}

// cuDNN's SDPA as a third kernel: correct against the same bar as flash, its workspace in the exact
// memory prediction, or skipped with cuDNN's reason (fp32, no libcudnn at run time).
TEST(CudaBackend, CudnnPointsRunCorrectlyOrSkipWithTheReason) {
  REQUIRE_CUDA_BACKEND(backend);
  SweepSpec spec = smallSpec();
  spec.kernels = {KernelKind::Standard, KernelKind::Cudnn};
  const RunOutcome out = FreshRunner(*backend, "cuda_cudnn").run(spec);
  int ran = 0;
  for (const auto& r : out.results) {
    if (r.point.kernel != KernelKind::Cudnn) continue;
    if (r.status == PointStatus::Skipped) {
      EXPECT_FALSE(r.message.empty()) << r.point.label();
      continue;
    }
    ++ran;
    expectCorrectPoint(r);
  }
  if (kernels::cuda::cudnnVersion().empty()) GTEST_SKIP() << "no libcudnn at run time: every cudnn point skipped";
  EXPECT_GT(ran, 30);
}

// Decode through the CUDA backend: flash (split-KV, fused combine), standard (cuBLAS) and cudnn over
// contiguous, paged and ragged caches, q_len 1 and 5, checked against fp64 with exact memory
// predictions; graph replay of a fused-combine step stays correct (its counters re-arm every call).
TEST(CudaBackend, DecodePointsRunCorrectlyOverEveryCacheLayout) {
  REQUIRE_CUDA_BACKEND(backend);
  FreshRunner runner(*backend, "cuda_decode");
  SweepSpec spec = smallSpec();
  spec.workload = Workload::Decode;
  spec.seq_lens = {5, 300, 4096};
  spec.q_lens = {1, 5};
  spec.dtypes = {DType::F16, DType::BF16};
  spec.kernels = {KernelKind::Standard, KernelKind::Flash, KernelKind::Cudnn};
  spec.tiles = {TileShape{}};
  int flash_split = 0, ran = 0;
  for (const DecodeCacheOptions cache : {DecodeCacheOptions{}, DecodeCacheOptions{16, 0.5, 0},
                                          DecodeCacheOptions{256, 0, 3}}) {
    spec.decode = cache;
    for (const bool graph : {false, true}) {
      spec.cuda_graph = graph;
      for (const auto& r : runner.run(spec).results) {
        if (r.status == PointStatus::Skipped) {
          // The materialized and cuDNN paths take contiguous caches only; cuDNN may lack a library.
          EXPECT_TRUE(r.point.kernel != KernelKind::Flash) << r.point.label() << ": " << r.message;
          EXPECT_FALSE(r.message.empty());
          continue;
        }
        ++ran;
        expectCorrectPoint(r);
        EXPECT_GT(r.gbps, 0.0);
        if (r.point.kernel == KernelKind::Flash) {
          EXPECT_GE(r.splits, 1) << r.point.label();
          if (cache.splits > 0) {
            EXPECT_EQ(r.splits, std::min(cache.splits, r.point.shape.seq_kv)) << r.point.label();
          }
          flash_split += r.splits > 1;
        }
      }
    }
  }
  EXPECT_GT(ran, 100);
  EXPECT_GT(flash_split, 20) << "long caches at B = 2 must split";
}

// Tensor parallel ranks on GPUs: each rank's backend lives on its own thread with its device current
// there. Both ranks on every visible GPU in turn (cuda:0 twice on a one-GPU host; cuda:0 and cuda:1
// where two are visible): every kernel of both workloads correct, rank by rank, with exact memory.
TEST(CudaBackend, TensorParallelRanksSplitTheHeadsOfEveryKernel) {
  REQUIRE_CUDA_BACKEND(backend);
  const int visible = static_cast<int>(listDevices().size()) - 1;  // the host CPU is listed too
  const std::vector<std::string> devices = {"cuda:0", visible > 1 ? "cuda:1" : "cuda:0"};
  std::unique_ptr<Backend> split = makeTensorParallelBackend(devices);
  FreshRunner runner(*split, "cuda_tensor_parallel");
  SweepSpec spec = smallSpec();
  spec.tensor_parallel = 2;
  spec.seq_lens = {17, 1024};
  spec.dtypes = {DType::F16, DType::BF16};
  spec.kernels = {KernelKind::Standard, KernelKind::Flash, KernelKind::Cudnn};
  spec.tiles = {TileShape{}};
  int ran = 0;
  for (const Workload workload : {Workload::Attention, Workload::Decode}) {
    spec.workload = workload;
    if (workload == Workload::Decode) spec.decode = DecodeCacheOptions{16, 0.5, 0};
    for (const auto& r : runner.run(spec).results) {
      if (r.status == PointStatus::Skipped && r.point.kernel != KernelKind::Flash) continue;  // cuDNN, pages
      ++ran;
      expectCorrectPoint(r);
      ASSERT_EQ(r.rank_ms.size(), 2u) << r.point.label();
      EXPECT_LE(std::max(r.rank_ms[0], r.rank_ms[1]), r.stats.median_ms) << r.point.label();
    }
  }
  EXPECT_GT(ran, 20);
}

// Every timing method gives correct, positive samples; the batch method's samples are per launch.
TEST(CudaBackend, EveryTimingMethodTimesTheKernel) {
  REQUIRE_CUDA_BACKEND(backend);
  FreshRunner runner(*backend, "cuda_timing");
  SweepSpec spec = smallSpec();
  spec.seq_lens = {512};
  spec.dtypes = {DType::F16};
  spec.causal = {false};
  spec.tiles = {TileShape{}};
  spec.repetitions = 4;
  for (const TimingMethod method : {TimingMethod::Blocked, TimingMethod::Batch, TimingMethod::Plain}) {
    spec.timing = method;
    for (const bool graph : {false, true}) {
      spec.cuda_graph = graph;
      for (const auto& r : runner.run(spec).results) {
        EXPECT_EQ(r.status, PointStatus::Ok) << r.point.label() << " " << timingMethodName(method) << ": " << r.message;
        EXPECT_EQ(r.samples_ms.size(), 4u);
        EXPECT_GT(r.stats.min_ms, 0.0);
        EXPECT_LT(r.stats.median_ms, 50.0) << "a 512-row point takes microseconds";
      }
    }
  }
}

TEST(CudaBackend, GraphReplayAndL2FlushGiveCorrectTimedResults) {
  REQUIRE_CUDA_BACKEND(backend);
  FreshRunner runner(*backend, "cuda_graph");
  SweepSpec spec = smallSpec();
  spec.seq_lens = {256, 2048};
  spec.dtypes = {DType::F16};
  spec.tiles = {TileShape{}};
  spec.repetitions = 5;
  for (const bool graph : {false, true}) {
    spec.cuda_graph = graph;
    spec.l2_flush = !graph;
    const RunOutcome out = runner.run(spec);
    for (const auto& r : out.results) {
      EXPECT_EQ(r.status, PointStatus::Ok) << r.point.label() << " graph=" << graph << ": " << r.message;
      EXPECT_EQ(r.samples_ms.size(), 5u);
    }
  }
}

TEST(CudaBackend, FailedDeviceAllocationIsAnOomPointAndTheSweepGoesOn) {
  REQUIRE_CUDA_BACKEND(backend);
  SweepSpec spec = sweepPreset("cpu-quick");
  spec.device = "cuda";
  spec.models = {findModel("llama-2-7b")};
  spec.seq_lens = {65536, 1024};  // 256 GiB of fp16 scores, then a small point
  spec.dtypes = {DType::F16};
  spec.causal = {false};
  spec.kernels = {KernelKind::Standard};
  spec.max_memory_bytes = 1ULL << 40;  // past the prediction: the device itself must refuse
  const RunOutcome out = FreshRunner(*backend, "cuda_oom").run(spec);
  ASSERT_EQ(out.results.size(), 2u);
  EXPECT_EQ(out.results[0].status, PointStatus::Oom) << out.results[0].message;
  EXPECT_EQ(out.results[1].status, PointStatus::Ok) << out.results[1].message;
}

TEST(CudaBackend, DescribesTheGpuAndMeasuresItsCeilings) {
  REQUIRE_CUDA_BACKEND(backend);
  const DeviceInfo& d = backend->device();
  EXPECT_EQ(d.kind, "cuda");
  EXPECT_GT(d.memory_bytes, 1ULL << 30);
  for (const char* key : {"sm_count", "shared_memory_per_block_optin", "l2_cache_bytes", "registers_per_sm",
                          "memory_bus_width_bits", "memory_peak_gbps", "compute_capability"}) {
    EXPECT_TRUE(d.properties.contains(key)) << key;
  }
  const DeviceCeilings c = backend->measureCeilings();
  EXPECT_GT(c.copy_gbps, 100.0);
  EXPECT_GT(c.gemm_tflops, 10.0);
  EXPECT_EQ(c.gemm_dtype, "fp16");
}

// The GPU's part of a run's provenance. NVML answers where the driver ships it (any machine with an
// NVIDIA driver); its clock readings must then be numbers within the card's maximum.
TEST(CudaBackend, ProvenanceNamesTheGpuItsClocksAndItsLibraries) {
  REQUIRE_CUDA_BACKEND(backend);
  const Provenance start = backend->provenance(RunMoment::Start);
  EXPECT_EQ(start.value("gpu.name"), backend->device().name);
  EXPECT_GT(std::stoi(start.value("gpu.sm_count")), 0);
  EXPECT_FALSE(start.value("gpu.pci_bus_id").empty());
  for (const char* key : {"cuda.driver_api", "cuda.runtime", "cublas.version", "cudnn.version", "cudnn.build"}) {
    EXPECT_FALSE(start.value(key).empty()) << key;
  }
  EXPECT_NE(start.value("cublas.version"), "unknown");
  EXPECT_FALSE(start.contains("gpu.sm_clock_end_mhz"));
  const Provenance end = backend->provenance(RunMoment::End);
  ASSERT_EQ(end.entries().size(), 1u);
  EXPECT_EQ(end.entries()[0].key, "gpu.sm_clock_end_mhz");
  if (start.value("gpu.driver").rfind("unavailable", 0) == 0) GTEST_SKIP() << "no NVML on this host";
  const int max_mhz = std::stoi(start.value("gpu.sm_clock_max_mhz"));
  const auto reading = backend->readSmClock();  // what the runner records per point, from the same source
  ASSERT_TRUE(reading.has_value());
  EXPECT_EQ(reading->max_mhz, max_mhz);
  EXPECT_GT(reading->current_mhz, 0);
  EXPECT_GT(max_mhz, 500);
  for (const std::string& clock : {start.value("gpu.sm_clock_start_mhz"), end.value("gpu.sm_clock_end_mhz")}) {
    EXPECT_GT(std::stoi(clock), 0) << clock;
    EXPECT_LE(std::stoi(clock), max_mhz) << clock;
  }
  EXPECT_GT(std::stod(start.value("gpu.power_limit_w")), 10.0);
}

}  // namespace
}  // namespace attnbench
