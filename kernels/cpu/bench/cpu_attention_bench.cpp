// Times the CPU standard and flash attention kernels at one shape: warm-up, then the median (with min
// and max) of a few repetitions, steady_clock around the kernel call only; inputs and workspace are
// allocated and touched before. Default shape: B=1, Hq=Hkv=32, D=128, N=2048, fp32, non-causal,
// 2 threads.
//
//   attnbench_cpu_kernel_bench                       # the default shape, auto flash tile
//   attnbench_cpu_kernel_bench --tile 128x256 --tile 64x64 --causal --dtype bf16
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <Eigen/Core>

#include "attnbench/kernels/cpu_attention.h"

namespace {

using namespace attnbench::kernels;

struct Options {
  int batch = 1, heads_q = 32, heads_kv = 32, seq = 2048, head_dim = 128, threads = 2, reps = 5;
  bool causal = false;
  std::string dtype = "fp32";
  std::vector<std::string> tiles;
  bool skip_standard = false;
};

// Random N(0, 1) values in the storage type, as raw bytes.
template <class T>
std::vector<std::byte> randomTensor(std::size_t count, std::mt19937& rng) {
  std::normal_distribution<float> dist;
  std::vector<std::byte> bytes(count * sizeof(T));
  auto* data = reinterpret_cast<T*>(bytes.data());
  for (std::size_t i = 0; i < count; ++i) data[i] = T(dist(rng));
  return bytes;
}

std::vector<std::byte> randomTensor(DType dtype, std::size_t count, std::mt19937& rng) {
  switch (dtype) {
    case DType::F16: return randomTensor<Eigen::half>(count, rng);
    case DType::BF16: return randomTensor<Eigen::bfloat16>(count, rng);
    case DType::F32: break;
  }
  return randomTensor<float>(count, rng);
}

struct Timing {
  double median_ms, min_ms, max_ms;
};

template <class Run>
Timing timeMs(int reps, const Run& run) {
  run();  // warm-up: first-touch of the output and workspace pages, caches, thread start-up paths
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), ms.back()};
}

void report(const char* kernel, const std::string& tile, Timing t, double flops, std::size_t workspace) {
  std::printf("%-8s tile %-8s median %9.2f ms (min %9.2f, max %9.2f) %7.1f GFLOP/s  workspace %zu bytes (%.1f MiB)\n",
              kernel, tile.c_str(), t.median_ms, t.min_ms, t.max_ms, flops / (t.median_ms * 1e6), workspace,
              static_cast<double>(workspace) / (1 << 20));
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Times the CPU standard and flash attention kernels at one shape."};
  app.add_option("--batch", opt.batch, "B")->check(CLI::PositiveNumber);
  app.add_option("--heads", opt.heads_q, "query heads Hq")->check(CLI::PositiveNumber);
  app.add_option("--kv-heads", opt.heads_kv, "key/value heads Hkv (divides Hq)")->check(CLI::PositiveNumber);
  app.add_option("--seq", opt.seq, "sequence length N (Nq = Nk)")->check(CLI::PositiveNumber);
  app.add_option("--dim", opt.head_dim, "head dim D")->check(CLI::PositiveNumber);
  app.add_option("--threads", opt.threads, "worker threads")->check(CLI::PositiveNumber);
  app.add_option("--reps", opt.reps, "timed repetitions (median reported)")->check(CLI::PositiveNumber);
  app.add_flag("--causal", opt.causal, "causal mask");
  app.add_option("--dtype", opt.dtype, "storage dtype")->check(CLI::IsMember({"fp32", "fp16", "bf16"}));
  app.add_option("--tile", opt.tiles, "flash tile RxC, repeatable (default: auto)");
  app.add_flag("--skip-standard", opt.skip_standard, "time flash only");
  CLI11_PARSE(app, argc, argv);

  AttentionParams p;
  p.batch = opt.batch;
  p.heads_q = opt.heads_q;
  p.heads_kv = opt.heads_kv;
  p.seq_q = p.seq_kv = opt.seq;
  p.head_dim = opt.head_dim;
  p.causal = opt.causal;
  p.dtype = opt.dtype == "fp16" ? DType::F16 : opt.dtype == "bf16" ? DType::BF16 : DType::F32;
  p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  setPackedBhndStrides(p);

  const std::size_t q_count = static_cast<std::size_t>(p.q_batch_stride) * static_cast<std::size_t>(p.batch);
  const std::size_t kv_count = static_cast<std::size_t>(p.k_batch_stride) * static_cast<std::size_t>(p.batch);
  std::mt19937 rng(42);
  const auto q = randomTensor(p.dtype, q_count, rng);
  const auto k = randomTensor(p.dtype, kv_count, rng);
  const auto v = randomTensor(p.dtype, kv_count, rng);
  std::vector<std::byte> o(q.size());
  std::vector<float> lse(static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(p.heads_q * p.seq_q));
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.o = o.data();
  p.lse = lse.data();

  const double flops = 4.0 * p.batch * p.heads_q * static_cast<double>(p.seq_q) * p.seq_kv * p.head_dim *
                       (p.causal ? 0.5 : 1.0);
  std::printf("B=%d Hq=%d Hkv=%d N=%d D=%d %s %s threads=%d, median of %d\n", p.batch, p.heads_q, p.heads_kv,
              p.seq_q, p.head_dim, std::string(dtypeName(p.dtype)).c_str(), p.causal ? "causal" : "non-causal",
              opt.threads, opt.reps);

  if (!opt.skip_standard) {
    std::vector<float> workspace((cpu::standardWorkspaceBytes(p) + sizeof(float) - 1) / sizeof(float));
    const Timing t = timeMs(opt.reps, [&] { cpu::standardAttention(p, workspace.data(), opt.threads); });
    report("standard", "-", t, flops, cpu::standardWorkspaceBytes(p));
  }

  if (opt.tiles.empty()) opt.tiles.emplace_back("auto");
  for (const std::string& spec : opt.tiles) {
    TileShape requested;
    if (spec != "auto" && std::sscanf(spec.c_str(), "%dx%d", &requested.rows, &requested.cols) != 2) {
      std::fprintf(stderr, "bad tile '%s' (want RxC or auto)\n", spec.c_str());
      return 2;
    }
    const TileShape tile = cpu::resolveFlashTile(p, requested);
    const std::size_t bytes = cpu::flashWorkspaceBytes(p, tile, opt.threads);
    std::vector<float> workspace((bytes + sizeof(float) - 1) / sizeof(float));
    const Timing t = timeMs(opt.reps, [&] { cpu::flashAttention(p, tile, workspace.data(), opt.threads); });
    report("flash", std::to_string(tile.rows) + "x" + std::to_string(tile.cols), t, flops, bytes);
  }
  return 0;
}
