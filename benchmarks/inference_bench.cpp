// Times the transformer engine for a model at given prompt lengths and batch sizes: time to first
// token (prefill), decode ms/token with the KV cache (eager and CUDA-graph replay), one decode step
// without a cache (the whole sequence recomputed), with the memory split and the fractions of the
// device's measured ceilings. Also dumps logits of a greedy generation for a peer to compare.
//
//   attnbench_inference_bench --model llama-2-7b --seq_lens 512 2048 --batch_sizes 1
//   attnbench_inference_bench --ckpt_dir DIR --prompt_ids 1,2,3 --greedy_steps 8 --dump_logits out.json
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "attnbench/backend.h"
#include "attnbench/engine/checkpoint.h"
#include "attnbench/engine/engine.h"
#include "attnbench/errors.h"
#include "attnbench/model_presets.h"

#ifdef ATTNBENCH_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "attnbench/kernels/cuda_model_layers.h"
#endif

namespace {

using namespace attnbench;
using namespace attnbench::engine;

struct Options {
  std::string model = "llama-2-7b";
  std::string ckpt_dir;
  std::string device = "cuda";
  std::string dtype = "fp16";
  std::vector<std::string> attention = {"flash", "standard"};
  std::vector<std::string> compile_modes = {"none", "reduce-overhead"};
  std::vector<int> seq_lens = {512};
  std::vector<int> batch_sizes = {1};
  int new_tokens = 64;
  int depth = 0;
  int repetitions = 3;
  bool without_cache = true;
  bool ceilings = true;
  std::string json_out;
  // Logits dump for a peer.
  std::string dump_logits;
  std::string prompt_ids;
  int greedy_steps = 8;
  bool projection_bench = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

DType parseDType(const std::string& s) {
  if (s == "fp16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  if (s == "fp32") return DType::F32;
  throw InputError("--dtype must be fp16, bf16 or fp32");
}

std::uint64_t freeDeviceBytes([[maybe_unused]] const EngineConfig& c) {
#ifdef ATTNBENCH_HAVE_CUDA
  if (c.device == EngineDevice::Cuda) {
    std::size_t free_bytes = 0, total = 0;
    if (cudaSetDevice(c.cuda_device) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total) == cudaSuccess) {
      return free_bytes - std::min<std::size_t>(free_bytes, std::size_t{1} << 30);  // 1 GiB margin for the runtime
    }
  }
#endif
  return UINT64_MAX;
}

double gib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1u << 30); }

#ifdef ATTNBENCH_HAVE_CUDA
// The decode step's projections alone, one row (batch 1): the weight-streaming kernel and cuBLAS,
// in GB/s of weights read, so that the engine's decode time can be split into projections and the rest.
void projectionBench(const ModelPreset& m, DType dtype) {
  struct Shape {
    const char* name;
    int out, in;
  };
  const Shape shapes[] = {{"qkv", (m.heads + 2 * m.kv_heads) * m.head_dim, m.hidden},
                          {"out", m.hidden, m.heads * m.head_dim},
                          {"gate_up", 2 * m.ffn, m.hidden},
                          {"down", m.hidden, m.ffn},
                          {"lm_head", m.vocab, m.hidden}};
  cublasHandle_t blas = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cublasCreate(&blas);
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const auto elem = static_cast<std::size_t>(bytesPerElement(dtype));
  const cudaDataType_t type = dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
  for (const auto& s : shapes) {
    // One buffer per layer's worth of copies, so that repeated launches stream from HBM, not L2.
    const int copies = 8;
    void *w = nullptr, *x = nullptr, *y = nullptr;
    const std::size_t w_bytes = static_cast<std::size_t>(s.out) * s.in * elem;
    if (cudaMalloc(&w, w_bytes * copies) != cudaSuccess || cudaMalloc(&x, s.in * elem) != cudaSuccess ||
        cudaMalloc(&y, s.out * sizeof(float)) != cudaSuccess) {
      throw OutOfMemory("projection bench");
    }
    cudaMemset(w, 0, w_bytes * copies);
    cudaMemset(x, 0, s.in * elem);
    const auto timeIt = [&](auto&& launch) {
      for (int c = 0; c < copies; ++c) launch(static_cast<char*>(w) + c * w_bytes);
      cudaEventRecord(start);
      const int reps = 5 * copies;
      for (int r = 0; r < reps; ++r) launch(static_cast<char*>(w) + (r % copies) * w_bytes);
      cudaEventRecord(stop);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      return static_cast<double>(ms) / reps;
    };
    const double skinny = timeIt([&](void* wp) {
      attnbench::kernels::cuda::skinnyLinear(x, 1, s.in, wp, s.out, y, dtype, false, dtype, nullptr);
    });
    const float one = 1.0f, zero = 0.0f;
    const double cublas = timeIt([&](void* wp) {
      cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, s.out, 1, s.in, &one, wp, type, s.in, x, type, s.in, &zero, y, type,
                   s.out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    });
    const double gb = static_cast<double>(w_bytes) / 1e9;
    std::printf("projection %-8s %6d x %-6d  skinny %7.1f us (%5.0f GB/s)  cuBLAS %7.1f us (%5.0f GB/s)\n", s.name,
                s.out, s.in, skinny * 1e3, gb / (skinny * 1e-3), cublas * 1e3, gb / (cublas * 1e-3));
    cudaFree(w);
    cudaFree(x);
    cudaFree(y);
  }
  if (cudaGetLastError() != cudaSuccess) throw DeviceFault("projection bench failed");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cublasDestroy(blas);
}
#endif

// Prefill, greedy decode steps; each step's logits and the tokens that led to them go to a JSON file.
void dumpLogits(const Options& o, EngineConfig c) {
  std::vector<std::int32_t> prompt;
  std::stringstream ss(o.prompt_ids);
  for (std::string item; std::getline(ss, item, ',');) prompt.push_back(std::stoi(item));
  if (prompt.empty()) prompt = syntheticTokens(16, c.model.vocab, 11);
  c.batch = 1;
  c.max_step_tokens = static_cast<int>(prompt.size());
  c.max_tokens = c.max_step_tokens + o.greedy_steps + 1;
  auto engine = makeEngine(c);
  nlohmann::json out = {{"prompt", prompt}, {"generated", nlohmann::json::array()}, {"logits", nlohmann::json::array()}};
  engine->forward(prompt, static_cast<int>(prompt.size()));
  for (int s = 0;; ++s) {
    const auto logits = engine->logits();
    out["logits"].push_back(logits);
    if (s == o.greedy_steps) break;
    const auto next = argmaxTokens(logits, 1, c.model.vocab);
    out["generated"].push_back(next[0]);
    engine->decode(next, 1);
  }
  std::ofstream(o.dump_logits) << out.dump();
  std::cout << "logits of " << o.greedy_steps + 1 << " positions written to " << o.dump_logits << "\n";
}

int run(const Options& o) {
  EngineConfig base;
  base.model = o.ckpt_dir.empty() ? findModel(o.model) : Checkpoint::open(o.ckpt_dir).model();
  base.checkpoint_dir = o.ckpt_dir;
  base.device = o.device == "cpu" ? EngineDevice::Cpu : EngineDevice::Cuda;
  base.dtype = parseDType(o.dtype);
  if (!o.dump_logits.empty()) {
    base.attention = o.attention.front() == "standard" ? AttentionChoice::Standard : AttentionChoice::Flash;
    base.cuda_graph = o.compile_modes.front() == "reduce-overhead";
    dumpLogits(o, base);
    return 0;
  }

#ifdef ATTNBENCH_HAVE_CUDA
  if (o.projection_bench) {
    projectionBench(base.model, base.dtype);
    return 0;
  }
#endif
  DeviceCeilings ceil;
  if (o.ceilings && base.device == EngineDevice::Cuda) {
    std::string note;
    ceil = makeBackend("cuda", &note)->measureCeilings();
    std::printf("ceilings: copy %.0f GB/s (read+write), GEMM %.0f TFLOP/s (%s)\n", ceil.copy_gbps, ceil.gemm_tflops,
                ceil.gemm_dtype.c_str());
  }
  nlohmann::json results = nlohmann::json::array();
  for (const int n : o.seq_lens) {
    for (const int batch : o.batch_sizes) {
      for (const auto& attention : o.attention) {
        EngineConfig c = base;
        c.batch = batch;
        c.attention = attention == "standard" ? AttentionChoice::Standard : AttentionChoice::Flash;
        // Room for the depth, the prompt, the decode steps, and the one-step recompute without a cache.
        c.max_tokens = o.depth + n + o.new_tokens + 1;
        c.max_step_tokens = o.without_cache ? o.depth + n + 1 : n;
        nlohmann::json point = {{"model", c.model.name}, {"seq_len", n}, {"batch", batch}, {"attention", attention},
                                {"dtype", o.dtype}, {"depth", o.depth}};
        const MemoryBreakdown need = predictMemory(c);
        point["memory_gib"] = {{"weights", gib(need.weights)}, {"kv_cache", gib(need.kv_cache)}, {"activations", gib(need.activations)}};
        if (need.total() > freeDeviceBytes(c)) {
          std::printf("%-18s N=%-6d B=%d %-8s skipped: would need %.1f GiB\n", c.model.name.c_str(), n, batch,
                      attention.c_str(), gib(need.total()));
          point["status"] = "skipped";
          results.push_back(point);
          continue;
        }
        for (const auto& mode : o.compile_modes) {
          c.cuda_graph = mode == "reduce-overhead";
          if (c.cuda_graph && c.device == EngineDevice::Cpu) continue;
          auto engine = makeEngine(c);
          const auto prompt = syntheticTokens(static_cast<std::size_t>(batch) * n, c.model.vocab, 1);
          const auto steps = syntheticTokens(static_cast<std::size_t>(batch) * o.new_tokens, c.model.vocab, 2);
          const auto fillDepth = [&] {
            engine->setCacheLength(0);
            for (int done = 0; done < o.depth;) {
              const int chunk = std::min(n, o.depth - done);
              engine->forward(syntheticTokens(static_cast<std::size_t>(batch) * chunk, c.model.vocab, 3 + done), chunk);
              done += chunk;
            }
          };
          fillDepth();
          std::vector<double> ttft, per_token, no_cache;
          for (int r = 0; r <= o.repetitions; ++r) {  // r = 0 warms up
            engine->setCacheLength(o.depth);
            const double prefill = engine->forward(prompt, n);
            const double decode = engine->decode(steps, o.new_tokens) / o.new_tokens;
            if (r > 0) {
              ttft.push_back(prefill);
              per_token.push_back(decode);
            }
          }
          if (o.without_cache) {
            const auto whole = syntheticTokens(static_cast<std::size_t>(batch) * (o.depth + n + 1), c.model.vocab, 4);
            for (int r = 0; r <= std::min(o.repetitions, 2); ++r) {
              engine->setCacheLength(0);
              const double ms = engine->forward(whole, o.depth + n + 1);
              if (r > 0) no_cache.push_back(ms);
            }
            fillDepth();
          }
          const double ttft_ms = median(ttft);
          const double tok_ms = median(per_token);
          const double flops = prefillFlops(c.model, batch, n, o.depth);
          const MemoryBreakdown have = engine->allocated();
          const double step_bytes = decodeStepBytes(c, have.weights, o.depth + n + o.new_tokens / 2.0);
          const double decode_gbps = step_bytes / (tok_ms * 1e-3) / 1e9;
          nlohmann::json m = point;
          m["compile_mode"] = mode;
          m["ttft_ms"] = ttft_ms;
          m["ttft_ms_all"] = ttft;
          m["prefill_tflops"] = flops / (ttft_ms * 1e-3) / 1e12;
          m["decode_ms_per_token"] = tok_ms;
          m["decode_ms_per_token_all"] = per_token;
          m["tokens_per_s"] = 1e3 * batch / tok_ms;
          m["decode_gbps"] = decode_gbps;
          if (!no_cache.empty()) m["decode_without_cache_ms"] = median(no_cache);
          m["memory_allocated_gib"] = {{"weights", gib(have.weights)}, {"kv_cache", gib(have.kv_cache)}, {"activations", gib(have.activations)}};
          std::printf("%-18s N=%-6d B=%d %-8s %-15s TTFT %8.2f ms (%5.0f TFLOP/s", c.model.name.c_str(), n, batch,
                      attention.c_str(), mode.c_str(), ttft_ms, flops / (ttft_ms * 1e-3) / 1e12);
          if (ceil.gemm_tflops > 0) {
            const double bound_ms = flops / (ceil.gemm_tflops * 1e12) * 1e3;
            m["ttft_over_gemm_bound"] = ttft_ms / bound_ms;
            std::printf(", %.2fx the GEMM bound %.1f ms", ttft_ms / bound_ms, bound_ms);
          }
          std::printf(")  decode %7.3f ms/token (%.0f GB/s", tok_ms, decode_gbps);
          if (ceil.copy_gbps > 0) {
            m["decode_fraction_of_copy"] = decode_gbps / ceil.copy_gbps;
            std::printf(", %.0f%% of copy", 100 * decode_gbps / ceil.copy_gbps);
          }
          std::printf(")");
          if (!no_cache.empty()) std::printf("  no-cache step %8.2f ms", median(no_cache));
          std::printf("  mem %.2f+%.2f+%.2f GiB\n", gib(have.weights), gib(have.kv_cache), gib(have.activations));
          std::fflush(stdout);
          results.push_back(m);
        }
      }
    }
  }
  if (!o.json_out.empty()) std::ofstream(o.json_out) << nlohmann::json{{"ceilings", {{"copy_gbps", ceil.copy_gbps}, {"gemm_tflops", ceil.gemm_tflops}}}, {"points", results}}.dump(1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times the attnbench transformer engine (prefill, decode with and without a KV cache)"};
  Options o;
  app.add_option("--model", o.model, "model preset (synthetic weights)");
  app.add_option("--ckpt_dir", o.ckpt_dir, "Hugging Face checkpoint directory (config.json + safetensors)");
  app.add_option("--device", o.device, "cuda or cpu")->check(CLI::IsMember({"cuda", "cpu"}));
  app.add_option("--dtype", o.dtype, "fp16, bf16 (CUDA) or fp32 (CPU)");
  app.add_option("--attention", o.attention, "flash and/or standard")->check(CLI::IsMember({"flash", "standard"}));
  app.add_option("--compile_mode", o.compile_modes, "none and/or reduce-overhead (decode as a CUDA graph)")
      ->check(CLI::IsMember({"none", "reduce-overhead"}));
  app.add_option("--seq_lens", o.seq_lens, "prompt lengths N")->check(CLI::PositiveNumber);
  app.add_option("--batch_sizes", o.batch_sizes, "batch sizes")->check(CLI::PositiveNumber);
  app.add_option("--new_tokens", o.new_tokens, "decode steps timed per repetition")->check(CLI::PositiveNumber);
  app.add_option("--depth", o.depth, "tokens already in the KV cache before the prompt")->check(CLI::NonNegativeNumber);
  app.add_option("--repetitions", o.repetitions, "timed repetitions after one warm-up")->check(CLI::PositiveNumber);
  app.add_flag("!--no_without_cache", o.without_cache, "skip the decode step without a KV cache");
  app.add_flag("!--no_ceilings", o.ceilings, "skip measuring copy bandwidth and the GEMM ceiling");
  app.add_option("--json", o.json_out, "write the points as JSON");
  app.add_option("--dump_logits", o.dump_logits, "write greedy-generation logits as JSON (batch 1) and exit");
  app.add_option("--prompt_ids", o.prompt_ids, "comma-separated prompt token ids for --dump_logits");
  app.add_option("--greedy_steps", o.greedy_steps, "decode steps for --dump_logits")->check(CLI::NonNegativeNumber);
  app.add_flag("--projection_bench", o.projection_bench, "time the decode projections alone (batch 1) and exit");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
