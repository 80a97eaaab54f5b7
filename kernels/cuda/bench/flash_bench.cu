// Kernel harness: times the flash forward kernel (each family and tile, and the automatic choice),
// cuDNN's SDPA (where available; its plan is built before timing) and the cuBLAS standard baseline
// (padded score rows, and with --dense-standard also unpadded) with CUDA events at an LLM shape
// (default B=1, H=32, D=128), over sequence lengths, causal and not, fp16 and bf16, and prints TFLOP/s
// (4 B H Nq Nk D, halved when causal). For N <= --check-max-n it also prints each kernel's max
// difference from the standard output.
//
// Order: a power-bound card runs a kernel slower right after another one has heated it, so a fixed
// order (say cuDNN always just before the flash kernel) biases every point the same way. Each point is
// timed in --rounds rounds; the kernels' order is rotated by one place per round and per point (plus
// --rotation, so that separate runs can start elsewhere), and each kernel reports its best round
// (lowest median). The standard baseline's output, the reference of the differences, is computed
// before the first round.
//
// In a build with ATTNBENCH_HOPPER_STAMPS, --stamps PREFIX also records one launch of the Hopper kernel
// per point with its pipeline timestamps (hopper/hopper_stamps.h) to PREFIX_<dtype>_<causal>_<N>.bin,
// for bench/hopper_stamps.py.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.cuh"
#include "attnbench/kernels/attention_params.h"
#include "attnbench/kernels/cuda_attention.h"
#include "attnbench/kernels/cudnn_attention.h"
#if defined(ATTNBENCH_HOPPER_STAMPS)
#include "../hopper/hopper_stamps.h"
#endif

namespace {

using attnbench::bench::halfBitsToFloat;
using attnbench::kernels::AttentionParams;
using attnbench::kernels::DType;
using attnbench::kernels::TileShape;
using attnbench::kernels::cuda::FlashFamily;
namespace cuda = attnbench::kernels::cuda;

struct Timing {
  double median_ms = 0.0;
  double min_ms = 0.0;
  int samples = 0;
  cudaError_t error = cudaSuccess;
};

// Waits until the device has nothing left to run, then sleeps `idle_ms` on the host: the card state every
// timed burst starts from.
void idleGap(int idle_ms) {
  if (idle_ms <= 0) return;
  static_cast<void>(cudaDeviceSynchronize());
  std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
}

// Launches per timed sample: `launches`, or with `sustain_ms` > 0 as many as that many milliseconds of
// `flops` take at a nominal 600 TFLOP/s, if more (the peer scripts apply the same rule).
int launchesPerSample(int launches, double sustain_ms, double flops) {
  constexpr double kNominalFlopsPerMs = 600e9;
  if (sustain_ms <= 0.0) return launches;
  return std::max(launches, static_cast<int>(std::ceil(sustain_ms * kNominalFlopsPerMs / flops)));
}

// An idle gap (idleGap), the warm-up (single launches: the first loads the module and builds what the
// kernel caches), then as many timed samples as fit `budget_ms` (between 3 and max_reps, or max_reps if
// fewer), each after its own idle gap but the one right after the warm-up; median of the events. A sample
// is `launches` back-to-back launches between two events (divided out), which keeps the host's
// per-launch work out of the figure once the queue runs ahead of the device.
template <class Launch>
Timing timeKernel(Launch&& launch, int warmup, int max_reps, double budget_ms, int launches, int idle_ms) {
  Timing timing;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> samples;
  for (int i = 0; i < warmup + max_reps; ++i) {
    const int sample_launches = i < warmup ? 1 : launches;
    if (i == 0 || i > warmup) idleGap(idle_ms);
    cudaEventRecord(start);
    for (int l = 0; l < sample_launches && timing.error == cudaSuccess; ++l) timing.error = launch();
    cudaEventRecord(stop);
    if (timing.error == cudaSuccess) timing.error = cudaEventSynchronize(stop);
    if (timing.error != cudaSuccess) break;
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    ms /= static_cast<float>(sample_launches);
    if (i >= warmup) samples.push_back(ms);
    if (samples.size() >= 3 && ms * static_cast<double>(samples.size() + 1) > budget_ms) break;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (samples.empty()) return timing;
  std::sort(samples.begin(), samples.end());
  timing.median_ms = samples[samples.size() / 2];
  timing.min_ms = samples.front();
  timing.samples = static_cast<int>(samples.size());
  return timing;
}

std::vector<TileShape> parseTiles(const std::string& list) {
  std::vector<TileShape> tiles;
  std::size_t begin = 0;
  while (begin < list.size()) {
    const std::size_t end = std::min(list.find(',', begin), list.size());
    const std::string item = list.substr(begin, end - begin);
    const std::size_t x = item.find('x');
    if (item == "auto") {
      tiles.push_back({});
    } else if (x != std::string::npos) {
      tiles.push_back({std::stoi(item.substr(0, x)), std::stoi(item.substr(x + 1))});
    }
    begin = end + 1;
  }
  return tiles;
}

FlashFamily parseFamily(const std::string& name) {
  if (name == "sm80") return FlashFamily::Sm80;
  if (name == "hopper") return FlashFamily::Hopper;
  return FlashFamily::Auto;
}

std::string tileName(TileShape tile) {
  return tile.isAuto() ? "auto" : std::to_string(tile.rows) + "x" + std::to_string(tile.cols);
}

double maxDifference(const void* a, const void* b, std::size_t count, bool bf16) {
  std::vector<std::uint16_t> x(count);
  std::vector<std::uint16_t> y(count);
  if (cudaMemcpy(x.data(), a, count * 2, cudaMemcpyDeviceToHost) != cudaSuccess ||
      cudaMemcpy(y.data(), b, count * 2, cudaMemcpyDeviceToHost) != cudaSuccess) {
    return NAN;
  }
  double worst = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    const double d = std::abs(static_cast<double>(halfBitsToFloat(x[i], bf16)) - halfBitsToFloat(y[i], bf16));
    if (!(d <= worst)) worst = d;  // NaN propagates
  }
  return worst;
}

// Launches `launch` twice after an idle gap with the Hopper kernel's stamp buffer set and writes the
// second launch's stamps (the first one's are overwritten: the schedule is static) to `path`.
bool recordStamps(const std::function<cudaError_t()>& launch, int multiprocessors, int idle_ms,
                  const std::string& path) {
#if defined(ATTNBENCH_HOPPER_STAMPS)
  namespace hopper = attnbench::kernels::cuda::hopper;
  const std::size_t entries =
      static_cast<std::size_t>(multiprocessors) * hopper::kStampRoles * static_cast<std::size_t>(hopper::kStampCapacity);
  std::uint64_t* buffer = nullptr;
  if (cudaMalloc(&buffer, entries * sizeof(std::uint64_t)) != cudaSuccess) return false;
  bool ok = cudaMemset(buffer, 0, entries * sizeof(std::uint64_t)) == cudaSuccess;
  idleGap(idle_ms);
  hopper::setHopperStampBuffer(buffer, entries);
  for (int i = 0; i < 2 && ok; ++i) ok = launch() == cudaSuccess;
  hopper::setHopperStampBuffer(nullptr, 0);
  std::vector<std::uint64_t> host(entries);
  ok = ok && cudaMemcpy(host.data(), buffer, entries * sizeof(std::uint64_t), cudaMemcpyDeviceToHost) == cudaSuccess;
  cudaFree(buffer);
  std::FILE* file = ok ? std::fopen(path.c_str(), "wb") : nullptr;
  if (file == nullptr) return false;
  ok = std::fwrite(host.data(), sizeof(std::uint64_t), entries, file) == entries;
  return std::fclose(file) == 0 && ok;
#else
  static_cast<void>(launch);
  static_cast<void>(multiprocessors);
  static_cast<void>(idle_ms);
  static_cast<void>(path);
  return false;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times attnbench's CUDA flash kernel (each tile) and the cuBLAS standard baseline."};
  int batch = 1;
  int heads = 32;
  int heads_kv = 0;
  int head_dim = 128;
  std::vector<std::string> dtypes{"fp16", "bf16"};
  std::vector<int> lengths{512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
  std::string causal_mode = "both";
  std::string tile_list = "auto,64x64,128x64,128x128";
  std::vector<std::string> families{"auto"};
  int warmup = 2;
  int max_reps = 20;
  double budget_ms = 1500.0;
  bool standard = true;
  bool dense_standard = false;
  bool cudnn = true;
  bool cudnn_lse = false;
  int launches = 1;
  int idle_ms = 250;
  double sustain_ms = 0.0;
  int check_max_n = 4096;
  int rounds = 1;
  int rotation = 0;
  std::string stamps_prefix;
  app.add_option("--batch", batch, "B")->check(CLI::PositiveNumber);
  app.add_option("--heads", heads, "query heads")->check(CLI::PositiveNumber);
  app.add_option("--kv-heads", heads_kv, "key/value heads (0: same as --heads)");
  app.add_option("--dim", head_dim, "head dim")->check(CLI::PositiveNumber);
  app.add_option("--dtype", dtypes, "fp16 and/or bf16")->check(CLI::IsMember({"fp16", "bf16"}));
  app.add_option("--seq", lengths, "sequence lengths (Nq = Nk)");
  app.add_option("--causal", causal_mode, "no, yes or both")->check(CLI::IsMember({"no", "yes", "both"}));
  app.add_option("--tiles", tile_list, "comma-separated flash tiles RxC, or auto");
  app.add_option("--family", families, "flash kernel families: auto, sm80 (mma.sync) and/or hopper (sm_90a)")
      ->check(CLI::IsMember({"auto", "sm80", "hopper"}));
  app.add_option("--warmup", warmup, "untimed runs per measurement");
  app.add_option("--reps", max_reps, "most timed runs per measurement (at least 3)");
  app.add_option("--budget-ms", budget_ms, "stop repeating once the timed runs add up to this");
  app.add_flag("!--no-standard", standard, "skip the cuBLAS baseline");
  app.add_flag("--dense-standard", dense_standard, "also time the baseline with unpadded score rows");
  app.add_flag("!--no-cudnn", cudnn, "skip cuDNN's SDPA");
  app.add_flag("--cudnn-lse", cudnn_lse, "let cuDNN also write the LSE (off: what inference pays)");
  app.add_option("--launches", launches, "back-to-back launches per timed sample")->check(CLI::PositiveNumber);
  app.add_option("--idle-ms", idle_ms, "idle device time before every timed sample (0: none)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--sustain-ms", sustain_ms,
                 "make each sample this many ms of work at a nominal 600 TFLOP/s (settled clocks; 0: off)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--check-max-n", check_max_n, "compare flash with standard up to this length");
  app.add_option("--rounds", rounds, "time each point this many times, the kernels' order rotated each round; "
                 "every kernel reports its best round")
      ->check(CLI::PositiveNumber);
  app.add_option("--rotation", rotation, "where the rotation of the kernels' order starts (shift between runs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stamps", stamps_prefix,
                 "record one launch of the Hopper kernel per point with its pipeline timestamps to "
                 "PREFIX_<dtype>_<causal>_<N>.bin (builds with ATTNBENCH_HOPPER_STAMPS only)");
  app.footer(
      "Example: attnbench_kernel_bench --dtype fp16 --seq 4096 16384 --causal no --family hopper sm80 --tiles "
      "auto,128x128");
  CLI11_PARSE(app, argc, argv);
  if (heads_kv == 0) heads_kv = heads;
#if !defined(ATTNBENCH_HOPPER_STAMPS)
  if (!stamps_prefix.empty()) {
    std::fprintf(stderr, "--stamps needs a build with -DATTNBENCH_HOPPER_STAMPS=ON\n");
    return 1;
  }
#endif

  int device = 0;
  CHECK_CUDA(cudaGetDevice(&device));
  cudaDeviceProp props{};
  CHECK_CUDA(cudaGetDeviceProperties(&props, device));
  std::printf("device: %s (sm_%d%d, %d SMs, %zu KB opt-in shared memory per block)\n", props.name, props.major,
              props.minor, props.multiProcessorCount, props.sharedMemPerBlockOptin / 1024);
  const cuda::DeviceTraits traits = cuda::queryDeviceTraits(device);
  std::printf("cuDNN: %s; run time %s\n", cuda::cudnnBuildInfo().c_str(),
              cuda::cudnnVersion().empty() ? "none" : cuda::cudnnVersion().c_str());

  const int max_n = *std::max_element(lengths.begin(), lengths.end());
  const std::size_t q_count = static_cast<std::size_t>(batch) * heads * max_n * head_dim;
  const std::size_t kv_count = static_cast<std::size_t>(batch) * heads_kv * max_n * head_dim;
  void* q = nullptr;
  void* k = nullptr;
  void* v = nullptr;
  void* o_flash = nullptr;
  void* o_standard = nullptr;
  void* o_cudnn = nullptr;
  float* lse = nullptr;
  CHECK_CUDA(cudaMalloc(&q, q_count * 2));
  CHECK_CUDA(cudaMalloc(&k, kv_count * 2));
  CHECK_CUDA(cudaMalloc(&v, kv_count * 2));
  CHECK_CUDA(cudaMalloc(&o_flash, q_count * 2));
  CHECK_CUDA(cudaMalloc(&o_standard, q_count * 2));
  CHECK_CUDA(cudaMalloc(&o_cudnn, q_count * 2));
  CHECK_CUDA(cudaMalloc(&lse, static_cast<std::size_t>(batch) * heads * max_n * sizeof(float)));
  cublasHandle_t cublas = nullptr;
  if (cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cublasCreate failed\n");
    return 1;
  }

  const std::vector<TileShape> tiles = parseTiles(tile_list);
  std::vector<bool> causal_values;
  if (causal_mode != "yes") causal_values.push_back(false);
  if (causal_mode != "no") causal_values.push_back(true);

  std::printf("order: %d round(s) per point, rotated per round and point from %d; best round per kernel\n", rounds,
              rotation);
  if (sustain_ms > 0.0) {
    std::printf("card state: %d ms idle before every timed sample; samples of %.0f ms of work at 600 TFLOP/s\n",
                idle_ms, sustain_ms);
  } else {
    std::printf("card state: %d ms idle before every timed sample; samples of %d launch(es)\n", idle_ms, launches);
  }
  int point_index = 0;
  std::printf("%-5s %-6s %6s %-20s %10s %10s %9s %10s\n", "dtype", "causal", "N", "kernel", "median_ms", "min_ms",
              "TFLOP/s", "max|f-s|");
  for (const std::string& dtype_name : dtypes) {
    const bool bf16 = dtype_name == "bf16";
    attnbench::bench::fillRandom<<<1024, 256>>>(static_cast<std::uint16_t*>(q), static_cast<std::int64_t>(q_count), 1u, bf16);
    attnbench::bench::fillRandom<<<1024, 256>>>(static_cast<std::uint16_t*>(k), static_cast<std::int64_t>(kv_count), 2u, bf16);
    attnbench::bench::fillRandom<<<1024, 256>>>(static_cast<std::uint16_t*>(v), static_cast<std::int64_t>(kv_count), 3u, bf16);
    CHECK_CUDA(cudaDeviceSynchronize());
    for (const bool causal : causal_values) {
      for (const int n : lengths) {
        AttentionParams p;
        p.q = q;
        p.k = k;
        p.v = v;
        p.lse = lse;
        p.batch = batch;
        p.heads_q = heads;
        p.heads_kv = heads_kv;
        p.seq_q = p.seq_kv = n;
        p.head_dim = head_dim;
        p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        p.causal = causal;
        p.dtype = bf16 ? DType::BF16 : DType::F16;
        attnbench::kernels::setPackedBhndStrides(p);
        const double flops = 4.0 * batch * heads * static_cast<double>(n) * n * head_dim * (causal ? 0.5 : 1.0);
        const auto report = [&](const std::string& kernel, const Timing& t, double difference) {
          std::printf("%-5s %-6s %6d %-20s %10.4f %10.4f %9.1f %10.2e\n", dtype_name.c_str(), causal ? "yes" : "no", n,
                      kernel.c_str(), t.median_ms, t.min_ms, flops / (t.median_ms * 1e-3) / 1e12, difference);
        };

        const auto skip = [&](const std::string& kernel, const std::string& reason) {
          std::printf("%-5s %-6s %6d %-16s skipped: %s\n", dtype_name.c_str(), causal ? "yes" : "no", n,
                      kernel.c_str(), reason.c_str());
        };
        // Allocates `bytes` of workspace (none: null), or says why not and returns false.
        const auto allocate = [&](const std::string& kernel, std::size_t bytes, void** workspace) {
          *workspace = nullptr;
          std::size_t free_bytes = 0;
          std::size_t total_bytes = 0;
          if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess || bytes + (std::size_t{1} << 30) > free_bytes ||
              (bytes > 0 && cudaMalloc(workspace, bytes) != cudaSuccess)) {
            static_cast<void>(cudaGetLastError());
            skip(kernel, "the workspace needs " + std::to_string(static_cast<double>(bytes) / (1 << 30)) + " GiB");
            return false;
          }
          return true;
        };
        const std::size_t out_count = static_cast<std::size_t>(batch) * heads * n * head_dim;

        // The kernels timed at this point, in their first round's order: standard baselines, cudnn, flash.
        struct Contender {
          std::string name;
          std::function<cudaError_t()> launch;
          void* output = nullptr;  // compared with the standard output (the baselines themselves: null)
          bool flash = false;      // its output is poisoned before it runs; a failure ends the program
          const std::string* detail = nullptr;  // what the kernel said about a failure, if it says anything
          void* workspace = nullptr;
          Timing best;
          double difference = 0.0;
          bool failed = false;
          bool stamped = false;    // the Hopper kernel: --stamps records a launch of it
        };
        std::vector<Contender> contenders;

        std::vector<cuda::ScoreLayout> layouts;
        if (standard) layouts.push_back(cuda::ScoreLayout::Padded);
        if (standard && dense_standard) layouts.push_back(cuda::ScoreLayout::Dense);
        AttentionParams ps = p;
        ps.o = o_standard;
        for (const cuda::ScoreLayout layout : layouts) {
          Contender c;
          c.name = layout == cuda::ScoreLayout::Padded ? "standard" : "standard dense";
          if (!allocate(c.name, cuda::standardWorkspaceBytes(p, layout), &c.workspace)) continue;
          c.launch = [&ps, &cublas, layout, workspace = c.workspace] {
            return cuda::standardAttention(ps, workspace, cublas, nullptr, nullptr, layout);
          };
          contenders.push_back(std::move(c));
        }
        // The reference output, before any round (a later standard launch rewrites the same values).
        bool compare = !contenders.empty() && n <= check_max_n;
        if (const cudaError_t status = compare ? contenders.front().launch() : cudaSuccess; status != cudaSuccess) {
          std::printf("standard failed: %s (no differences at this point)\n", cudaGetErrorString(status));
          compare = false;
        }

        AttentionParams pc = p;
        pc.o = o_cudnn;
        pc.lse = cudnn_lse ? lse : nullptr;
        std::string cudnn_message;
        if (cudnn) {
          // Builds the plan here, before any timing.
          if (const std::string reason = cuda::cudnnUnsupportedReason(pc); !reason.empty()) {
            skip("cudnn", reason);
          } else if (Contender c; allocate("cudnn", cuda::cudnnWorkspaceBytes(pc), &c.workspace)) {
            c.name = "cudnn";
            c.launch = [&pc, &cudnn_message, workspace = c.workspace] {
              return cuda::cudnnAttention(pc, workspace, nullptr, &cudnn_message);
            };
            c.output = o_cudnn;
            c.detail = &cudnn_message;
            contenders.push_back(std::move(c));
          }
        }

        AttentionParams pf = p;
        pf.o = o_flash;
        for (const std::string& family_name : families) {
          const FlashFamily requested = parseFamily(family_name);
          for (const TileShape tile : tiles) {
            const FlashFamily family = cuda::resolveFlashFamily(p, tile, requested, traits);
            const TileShape resolved = cuda::resolveFlashTile(p, tile, traits, family);
            const std::string name = (requested == FlashFamily::Auto ? "auto=" : "") +
                                     std::string(cuda::flashFamilyName(family)) + " " + tileName(resolved);
            if (const std::string reason = cuda::flashUnsupportedReason(p, resolved, traits, family); !reason.empty()) {
              skip(name, reason);
              continue;
            }
            Contender c;
            c.name = name;
            c.launch = [&pf, resolved, family] { return cuda::flashForward(pf, resolved, nullptr, family); };
            c.output = o_flash;
            c.flash = true;
            c.stamped = family == FlashFamily::Hopper;
            contenders.push_back(std::move(c));
          }
        }

        const std::size_t count = contenders.size();
        for (int round = 0; round < rounds; ++round) {
          for (std::size_t i = 0; i < count; ++i) {
            Contender& c = contenders[(i + static_cast<std::size_t>(rotation + round + point_index)) % count];
            if (c.failed) continue;
            // Poisoned, so a kernel that leaves elements unwritten shows up in its difference.
            if (c.flash) CHECK_CUDA(cudaMemset(o_flash, 0xff, out_count * 2));
            const Timing t = timeKernel(c.launch, warmup, max_reps, budget_ms,
                                        launchesPerSample(launches, sustain_ms, flops), idle_ms);
            if (t.error != cudaSuccess) {
              std::printf("%s failed: %s %s\n", c.name.c_str(), cudaGetErrorString(t.error),
                          c.detail != nullptr ? c.detail->c_str() : "");
              if (c.flash) return 1;
              c.failed = true;
              continue;
            }
            // The flash kernels share o_flash: each one's difference is read right after its own timing.
            if (round == 0 && compare && c.output != nullptr) {
              c.difference = maxDifference(c.output, o_standard, out_count, bf16);
            }
            const double min_ms = c.best.samples == 0 ? t.min_ms : std::min(c.best.min_ms, t.min_ms);
            if (c.best.samples == 0 || t.median_ms < c.best.median_ms) c.best = t;
            c.best.min_ms = min_ms;
          }
        }
        bool stamps_recorded = false;  // one record per point, of its first Hopper tile
        for (Contender& c : contenders) {
          if (!c.failed && c.best.samples > 0) report(c.name, c.best, c.difference);
          if (!stamps_prefix.empty() && c.stamped && !c.failed && !stamps_recorded) {
            const std::string path = stamps_prefix + "_" + dtype_name + "_" + (causal ? "causal" : "full") + "_" +
                                     std::to_string(n) + ".bin";
            std::printf("stamps of %s: %s\n", c.name.c_str(),
                        recordStamps(c.launch, props.multiProcessorCount, idle_ms, path) ? path.c_str() : "failed");
            stamps_recorded = true;
          }
          if (c.workspace != nullptr) CHECK_CUDA(cudaFree(c.workspace));
        }
        ++point_index;
        std::fflush(stdout);
      }
    }
  }
  cublasDestroy(cublas);
  cudaFree(q);
  cudaFree(k);
  cudaFree(v);
  cudaFree(o_flash);
  cudaFree(o_standard);
  cudaFree(o_cudnn);
  cudaFree(lse);
  return 0;
}
