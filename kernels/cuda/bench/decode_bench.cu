// Decode harness: times flash decode (split-KV + combine) and, for a contiguous cache, standard
// decode (cuBLAS) at LLM shapes, and prints per point: us per step, GB/s of compulsory traffic (K and V
// of every valid key read once, Q read, O written), that as a fraction of the device-to-device copy
// bandwidth measured here (read + write), and the launch-latency floor (an empty kernel, plus the
// combine kernel when the point splits). Every time is the median over repetitions of a CUDA-event-timed
// burst of back-to-back calls, divided by the burst length (the same method as torch_decode_peers.py).
// --check compares flash decode on sampled rows with an fp64 host reference over the whole cache.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench_support.cuh"
#include "attnbench/kernels/cuda_decode.h"
#include "attnbench/kernels/decode_params.h"

namespace {

using attnbench::bench::halfBitsToFloat;
using attnbench::kernels::DecodeParams;
using attnbench::kernels::DecodeShape;
using attnbench::kernels::DType;
namespace kn = attnbench::kernels;
namespace cuda = attnbench::kernels::cuda;

__global__ void emptyKernel() {}

// Median over `reps` bursts of `burst` back-to-back calls, in microseconds per call; negative on error.
template <class Launch>
double timeMicros(Launch&& launch, int burst, int reps) {
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> samples;
  bool ok = true;
  for (int rep = -1; rep < reps && ok; ++rep) {  // rep -1 warms up
    cudaEventRecord(start);
    for (int i = 0; i < burst && ok; ++i) ok = launch() == cudaSuccess;
    cudaEventRecord(stop);
    ok = ok && cudaEventSynchronize(stop) == cudaSuccess;
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    if (rep >= 0) samples.push_back(1000.0 * ms / burst);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (!ok || samples.empty()) return -1.0;
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

struct DeviceBuffer {
  void* data = nullptr;
  explicit DeviceBuffer(std::size_t bytes) {
    if (bytes > 0 && cudaMalloc(&data, bytes) != cudaSuccess) data = nullptr;
  }
  ~DeviceBuffer() { cudaFree(data); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

// Max |flash - fp64 reference| over `samples` random output rows (whole cache, host side).
double checkRows(const DecodeParams& p, const std::vector<int>& table, std::size_t kv_elements, int samples) {
  const bool bf16 = p.dtype == DType::BF16;
  std::vector<std::uint16_t> q(static_cast<std::size_t>(p.batch) * p.heads_q * p.seq_q * p.head_dim);
  std::vector<std::uint16_t> o(q.size());
  std::vector<std::uint16_t> k(kv_elements), v(kv_elements);
  if (cudaMemcpy(q.data(), p.q, q.size() * 2, cudaMemcpyDeviceToHost) != cudaSuccess ||
      cudaMemcpy(o.data(), p.o, o.size() * 2, cudaMemcpyDeviceToHost) != cudaSuccess ||
      cudaMemcpy(k.data(), p.k, k.size() * 2, cudaMemcpyDeviceToHost) != cudaSuccess ||
      cudaMemcpy(v.data(), p.v, v.size() * 2, cudaMemcpyDeviceToHost) != cudaSuccess) {
    return NAN;
  }
  DecodeParams host = p;
  host.block_table = p.paged() ? table.data() : nullptr;
  std::mt19937 rng(7);
  double worst = 0.0;
  const int d = p.head_dim;
  for (int s = 0; s < samples; ++s) {
    const int b = static_cast<int>(rng() % static_cast<unsigned>(p.batch));
    const int h = static_cast<int>(rng() % static_cast<unsigned>(p.heads_q));
    const int i = static_cast<int>(rng() % static_cast<unsigned>(p.seq_q));
    const int h_kv = h / p.groupSize();
    const int visible = kn::decodeVisibleKeys(p, p.seq_kv, i);
    const std::int64_t q_at = b * p.q_batch_stride + h * p.q_head_stride + i * p.q_row_stride;
    std::vector<double> scores(static_cast<std::size_t>(visible));
    double max_score = -INFINITY;
    for (int j = 0; j < visible; ++j) {
      const std::int64_t at = kn::decodeKvOffset(host, p.k_batch_stride, p.k_head_stride, p.k_row_stride, b, h_kv, j);
      double dot = 0.0;
      for (int e = 0; e < d; ++e) dot += static_cast<double>(halfBitsToFloat(q[static_cast<std::size_t>(q_at + e)], bf16)) * halfBitsToFloat(k[static_cast<std::size_t>(at + e)], bf16);
      scores[static_cast<std::size_t>(j)] = dot * p.softmax_scale;
      max_score = std::max(max_score, scores[static_cast<std::size_t>(j)]);
    }
    std::vector<double> out(static_cast<std::size_t>(d), 0.0);
    double sum = 0.0;
    for (int j = 0; j < visible; ++j) {
      const double w = std::exp(scores[static_cast<std::size_t>(j)] - max_score);
      sum += w;
      const std::int64_t at = kn::decodeKvOffset(host, p.v_batch_stride, p.v_head_stride, p.v_row_stride, b, h_kv, j);
      for (int e = 0; e < d; ++e) out[static_cast<std::size_t>(e)] += w * halfBitsToFloat(v[static_cast<std::size_t>(at + e)], bf16);
    }
    const std::int64_t o_at = b * p.o_batch_stride + h * p.o_head_stride + i * p.o_row_stride;
    for (int e = 0; e < d; ++e) {
      const double diff = std::abs(halfBitsToFloat(o[static_cast<std::size_t>(o_at + e)], bf16) - out[static_cast<std::size_t>(e)] / sum);
      if (!(diff <= worst)) worst = diff;  // NaN propagates
    }
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times attnbench's CUDA decode kernels (flash split-KV + combine, cuBLAS standard) in GB/s."};
  std::vector<std::string> models{"32/32", "32/8"};
  std::vector<int> batches{1, 8};
  std::vector<int> lengths{512, 1024, 2048, 16384, 65536};
  std::vector<std::string> dtypes{"fp16", "bf16"};
  int head_dim = 128;
  int q_len = 1;
  int page_size = 0;
  std::vector<int> split_counts{0};
  std::string combine_name = "fused";
  int burst = 10;
  int reps = 15;
  bool standard = true;
  int check_rows = 0;
  app.add_option("--models", models, "query/kv heads, e.g. 32/32 (Llama-2-7B) 32/8 (Llama-3-8B)");
  app.add_option("--batch", batches, "batch sizes");
  app.add_option("--seq", lengths, "KV cache lengths N");
  app.add_option("--dtype", dtypes, "fp16 and/or bf16")->check(CLI::IsMember({"fp16", "bf16"}));
  app.add_option("--dim", head_dim, "head dim (64, 128, 256)");
  app.add_option("--q-len", q_len, "new query rows per sequence (1..16, causal among them)");
  app.add_option("--page-size", page_size, "paged cache with this many tokens per page (0: contiguous)");
  app.add_option("--splits", split_counts, "split counts to time (0: the heuristic)");
  app.add_option("--combine", combine_name, "fused (last split block merges) or kernel (a second launch)")
      ->check(CLI::IsMember({"fused", "kernel"}));
  app.add_option("--burst", burst, "back-to-back calls per timed burst")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "timed bursts per measurement (median)")->check(CLI::PositiveNumber);
  app.add_flag("!--no-standard", standard, "skip the cuBLAS standard decode");
  app.add_option("--check", check_rows, "compare this many sampled rows with an fp64 host reference");
  app.footer("Example: attnbench_decode_bench --models 32/8 --batch 1 --seq 1048576 --dtype bf16 --page-size 256 --check 8");
  CLI11_PARSE(app, argc, argv);

  int device = 0;
  CHECK_CUDA(cudaGetDevice(&device));
  cudaDeviceProp props{};
  CHECK_CUDA(cudaGetDeviceProperties(&props, device));
  const cuda::DeviceTraits traits = cuda::queryDeviceTraits(device);
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreate(&stream));
  cublasHandle_t cublas = nullptr;
  if (cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS) return 1;
  cublasSetStream(cublas, stream);

  // Copy roof: a 2 GiB device-to-device copy; read + write bytes over its time.
  double copy_gbps = 0.0;
  {
    const std::size_t bytes = std::size_t{1} << 31;
    DeviceBuffer src(bytes), dst(bytes);
    if (src.data == nullptr || dst.data == nullptr) return 1;
    const double us = timeMicros([&] { return cudaMemcpyAsync(dst.data, src.data, bytes, cudaMemcpyDeviceToDevice, stream); }, 2, 10);
    copy_gbps = 2.0 * static_cast<double>(bytes) / us / 1e3;
  }
  const double empty_us = timeMicros([&] {
    emptyKernel<<<1, 32, 0, stream>>>();
    return cudaGetLastError();
  }, burst, reps);
  std::printf("device: %s, %d SMs; device-to-device copy %.0f GB/s (read + write); empty kernel %.2f us\n", props.name,
              props.multiProcessorCount, copy_gbps, empty_us);
  std::printf("| heads | dtype | B | N | q_len | page | splits | flash us | GB/s | of copy | floor us | x floor | standard us | flash/std | check |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");

  for (const std::string& model : models) {
    const int heads_q = std::stoi(model.substr(0, model.find('/')));
    const int heads_kv = std::stoi(model.substr(model.find('/') + 1));
    for (const std::string& dtype_name : dtypes) {
      for (const int batch : batches) {
        for (const int n : lengths) {
          DecodeParams p;
          DecodeShape shape;
          shape.causal = true, shape.batch = batch, shape.heads_q = heads_q, shape.heads_kv = heads_kv, shape.seq_q = q_len;
          shape.seq_kv = n, shape.head_dim = head_dim;
          shape.dtype = dtype_name == "bf16" ? DType::BF16 : DType::F16;
          kn::setShape(p, shape);
          // Paged: a shuffled page pool, as an allocator that has been running a while leaves it.
          std::vector<int> table;
          std::size_t kv_elements = 0;
          if (page_size > 0) {
            kn::setPagedStrides(p, page_size);
            p.block_table_stride = kn::decodePagesFor(n, page_size);
            table.resize(static_cast<std::size_t>(batch * p.block_table_stride));
            std::iota(table.begin(), table.end(), 0);
            std::shuffle(table.begin(), table.end(), std::mt19937(11));
            kv_elements = table.size() * static_cast<std::size_t>(heads_kv) * page_size * head_dim;
          } else {
            kn::setPackedStrides(p, n);
            kv_elements = static_cast<std::size_t>(batch) * heads_kv * n * head_dim;
          }
          const std::size_t q_elements = static_cast<std::size_t>(batch) * heads_q * q_len * head_dim;
          DeviceBuffer q(q_elements * 2), o(q_elements * 2), o_std(q_elements * 2), k(kv_elements * 2),
              v(kv_elements * 2), table_dev(table.size() * sizeof(int));
          if (q.data == nullptr || o.data == nullptr || k.data == nullptr || v.data == nullptr) {
            std::printf("| %s | %s | %d | %d | %d | %d | | out of memory |\n", model.c_str(), dtype_name.c_str(), batch, n, q_len, page_size);
            continue;
          }
          const bool bf16 = p.dtype == DType::BF16;
          attnbench::bench::fillRandom<<<1024, 256, 0, stream>>>(static_cast<std::uint16_t*>(q.data), static_cast<std::int64_t>(q_elements), 1u, bf16);
          attnbench::bench::fillRandom<<<4096, 256, 0, stream>>>(static_cast<std::uint16_t*>(k.data), static_cast<std::int64_t>(kv_elements), 2u, bf16);
          attnbench::bench::fillRandom<<<4096, 256, 0, stream>>>(static_cast<std::uint16_t*>(v.data), static_cast<std::int64_t>(kv_elements), 3u, bf16);
          if (!table.empty()) {
            CHECK_CUDA(cudaMemcpy(table_dev.data, table.data(), table.size() * sizeof(int), cudaMemcpyHostToDevice));
            p.block_table = static_cast<const int*>(table_dev.data);
          }
          p.q = q.data, p.k = k.data, p.v = v.data, p.o = o.data;
          for (const int splits : split_counts) {
            p.num_splits = splits;
            const std::string reason = cuda::flashDecodeUnsupportedReason(p, traits);
            if (!reason.empty()) {
              std::printf("| %s | %s | %d | %d | %d | %d | | unsupported: %s |\n", model.c_str(), dtype_name.c_str(), batch, n, q_len, page_size, reason.c_str());
              break;
            }
            const int used_splits = cuda::flashDecodeSplits(p, traits);
            DeviceBuffer workspace(kn::decodeWorkspaceBytes(p, used_splits));
            const auto combine = combine_name == "fused" ? kn::DecodeCombine::Fused : kn::DecodeCombine::Kernel;
            kn::setDecodeWorkspace(p, used_splits, workspace.data, combine);
            // The fused combine's arrival counters start at zero (each call leaves them so).
            if (workspace.data != nullptr) CHECK_CUDA(cudaMemset(workspace.data, 0, kn::decodeWorkspaceBytes(p, used_splits)));

            const double flash_us = timeMicros([&] { return cuda::flashDecode(p, stream); }, burst, reps);
            const double floor_us = timeMicros([&] {
              emptyKernel<<<1, 32, 0, stream>>>();
              return used_splits > 1 ? cuda::flashDecodeCombine(p, stream) : cudaGetLastError();
            }, burst, reps);
            const double gbps = kn::decodeCompulsoryBytes(p) / flash_us / 1e3;

            double standard_us = -1.0;
            if (standard && cuda::standardDecodeUnsupportedReason(p).empty()) {
              DecodeParams ps = p;
              ps.o = o_std.data;
              DeviceBuffer scores(cuda::standardDecodeWorkspaceBytes(ps));
              if (scores.data != nullptr) {
                standard_us = timeMicros([&] { return cuda::standardDecode(ps, scores.data, cublas, stream); }, burst, reps);
              }
            }
            std::string check = "-";
            if (check_rows > 0) {
              CHECK_CUDA(cuda::flashDecode(p, stream));
              CHECK_CUDA(cudaStreamSynchronize(stream));
              char text[32];
              std::snprintf(text, sizeof text, "%.2e", checkRows(p, table, kv_elements, check_rows));
              check = text;
            }
            char standard_text[48] = "-";
            if (standard_us > 0) std::snprintf(standard_text, sizeof standard_text, "%.1f | %.2fx", standard_us, standard_us / flash_us);
            else std::snprintf(standard_text, sizeof standard_text, "- | -");
            std::printf("| %s | %s | %d | %d | %d | %d | %d | %.1f | %.0f | %.1f %% | %.1f | %.2f | %s | %s |\n", model.c_str(),
                        dtype_name.c_str(), batch, n, q_len, page_size, used_splits, flash_us, gbps,
                        100.0 * gbps / copy_gbps, floor_us, flash_us / floor_us, standard_text, check.c_str());
            std::fflush(stdout);
          }
        }
      }
    }
  }
  cublasDestroy(cublas);
  cudaStreamDestroy(stream);
  return 0;
}
