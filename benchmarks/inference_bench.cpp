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
#include <functional>
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

#include "attnbench/kernels/cuda_attention.h"
#include "attnbench/kernels/cuda_decode.h"
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
  bool decode_breakdown = false;
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
namespace kc = attnbench::kernels::cuda;

// The decode step's kernels other than attention at batch 1, each timed as a CUDA graph over the
// model's layers, every layer with its own weights (so that they stream from HBM as in the engine, not
// from L2): each projection alone (GB/s of weights), and the chain of a whole step without attention
// and embedding, once with RMSNorm and SwiGLU as kernels of their own and once fused into the
// projections; every projection on short blocks with each split of its rows over warps; and the
// whole step with the split-KV decode kernel (per-layer caches of 512 tokens), launched the ordinary
// way and overlapped, with and without L2 prefetches of the next weights, with the fused projections on
// persistent or short blocks. The engine's step time minus that is the embedding and the step's own gaps.
void decodeBreakdown(const ModelPreset& m, DType dtype) {
  const auto elem = static_cast<std::size_t>(bytesPerElement(dtype));
  const int width = (m.heads + 2 * m.kv_heads) * m.head_dim, attn = m.heads * m.head_dim, cached = 512;
  struct Shape {
    const char* name;
    int out, in;
  };
  const Shape qkv{"qkv", width, m.hidden}, out{"out", m.hidden, attn}, gate_up{"gate_up", 2 * m.ffn, m.hidden},
      down{"down", m.hidden, m.ffn}, head{"lm_head", m.vocab, m.hidden};
  const auto bytesOf = [&](const Shape& s) { return static_cast<std::size_t>(s.out) * s.in * elem; };
  const std::size_t layer_bytes = bytesOf(qkv) + bytesOf(out) + bytesOf(gate_up) + bytesOf(down) + 2 * m.hidden * elem;
  const std::size_t cache_bytes = static_cast<std::size_t>(m.kv_heads) * (cached + 1) * m.head_dim * elem * m.layers;
  const std::size_t act_bytes = (static_cast<std::size_t>(m.hidden) * 2 + width + 2 * m.ffn + attn + m.ffn) * elem +
                                static_cast<std::size_t>(m.vocab) * sizeof(float);
  std::byte* base = nullptr;
  const std::size_t total = layer_bytes * m.layers + bytesOf(head) + m.hidden * elem + 2 * cache_bytes + act_bytes + 4096;
  if (cudaMalloc(&base, total) != cudaSuccess) throw OutOfMemory("decode breakdown");
  // Small values, so that fused and unfused chains see finite numbers.
  cudaMemset(base, 0, total);
  kc::scaleShift(base, total / elem, 1.0f, 0.01f, dtype, nullptr);
  const auto at = [&](std::size_t offset) { return base + (offset + 255) / 256 * 256; };
  const auto layerWeight = [&](int l, std::size_t offset) { return at(static_cast<std::size_t>(l) * layer_bytes + offset); };
  const std::size_t o_out = bytesOf(qkv), o_gate_up = o_out + bytesOf(out), o_down = o_gate_up + bytesOf(gate_up),
                    o_norm1 = o_down + bytesOf(down), o_norm2 = o_norm1 + m.hidden * elem;
  std::size_t cursor = layer_bytes * m.layers + 256;
  const auto take = [&](std::size_t bytes) {
    std::byte* p = at(cursor);
    cursor += bytes + 256;
    return p;
  };
  std::byte* head_w = take(bytesOf(head));
  std::byte* final_norm = take(m.hidden * elem);
  std::byte* k_cache = take(cache_bytes);
  std::byte* v_cache = take(cache_bytes);
  std::byte* residual = take(m.hidden * elem);
  std::byte* normed = take(m.hidden * elem);
  std::byte* wide = take(static_cast<std::size_t>(std::max(width, 2 * m.ffn)) * elem);
  std::byte* narrow = take(static_cast<std::size_t>(std::max(attn, m.ffn)) * elem);
  std::byte* logits = take(static_cast<std::size_t>(m.vocab) * sizeof(float));

  int blocks_per_sm = 0;  // the projections' grid (0: the kernel's default)
  int row_splits = 0;     // warps per weight row on short blocks, for the fused projections too (0: the kernel's grids)
  std::size_t next_head_bytes = 0;  // of the next projection's weights, prefetched into L2 by a projection's blocks
  bool rotary_epilogue = true;      // the fused step's QKV projection does RoPE + append (else rotaryAppendKv does)
  // With `rotary`, the projection is the QKV one: RoPE + append in its epilogue where the grid allows
  // (persistent blocks), else by rotaryAppendKv after it.
  const auto project = [&](cudaStream_t stream, const Shape& s, const void* x, const void* w, void* y, DType y_dtype,
                           bool accumulate, const void* norm_weight, bool swiglu, const void* next_w = nullptr,
                           std::size_t next_bytes = 0, const kc::RotaryAppendParams* rotary = nullptr) {
    kc::SkinnyLinearParams p;
    p.x = x;
    p.x_row_stride = s.in;
    p.rows = 1;
    p.in = s.in;
    p.w = w;
    p.out = s.out;
    p.y = y;
    p.y_dtype = y_dtype;
    p.accumulate = accumulate;
    p.norm_weight = norm_weight;
    p.norm_eps = 1e-5f;
    p.swiglu = swiglu;
    p.dtype = dtype;
    p.blocks_per_sm = blocks_per_sm;
    p.row_splits = blocks_per_sm != 0 ? 0 : swiglu ? std::min(row_splits, 4) : row_splits;
    if (next_w != nullptr) p.prefetch_next = {next_w, std::min(next_bytes, next_head_bytes)};
    const bool in_epilogue = rotary != nullptr && p.row_splits == 0;
    if (in_epilogue) p.rotary = *rotary;
    if (kc::skinnyLinear(p, stream) != cudaSuccess) throw DeviceFault("skinnyLinear launch");
    if (rotary != nullptr && !in_epilogue && kc::rotaryAppendKv(*rotary, stream) != cudaSuccess) {
      throw DeviceFault("rotaryAppendKv launch");
    }
  };
  const auto norm = [&](cudaStream_t stream, const void* w) {
    kc::rmsNorm(residual, m.hidden, w, 1, m.hidden, 1e-5f, normed, m.hidden, dtype, stream);
  };
  kc::RotaryAppendParams rope;
  rope.qkv = wide;
  rope.k_cache = k_cache;
  rope.v_cache = v_cache;
  rope.batch = rope.new_tokens = 1;
  rope.heads_q = m.heads;
  rope.heads_kv = m.kv_heads;
  rope.head_dim = m.head_dim;
  rope.max_tokens = cached + 1;
  rope.first_position = cached;
  rope.theta = static_cast<float>(m.rope_theta);
  rope.dtype = dtype;
  // The flash decode step as the engine runs it: Q the first heads of the QKV row, O the attention
  // row, each layer's own K and V [Hkv, cached + 1, D].
  kernels::DecodeParams step;
  kernels::DecodeShape step_shape;
  step_shape.heads_q = m.heads;
  step_shape.heads_kv = m.kv_heads;
  step_shape.seq_kv = cached + 1;
  step_shape.head_dim = m.head_dim;
  step_shape.dtype = dtype;
  kernels::setShape(step, step_shape);
  kernels::setPackedStrides(step, cached + 1);
  step.q = wide;
  step.o = narrow;
  int device = 0;
  cudaGetDevice(&device);
  const int kv_splits = kc::flashDecodeSplits(step, kc::queryDeviceTraits(device));
  void* split_workspace = nullptr;
  constexpr int kMostSplitsTimed = 16;  // the step is also timed with 1 .. this many splits (below)
  const std::size_t split_bytes =
      std::max<std::size_t>(kernels::decodeWorkspaceBytes(step, std::max(kv_splits, kMostSplitsTimed)), 16);
  if (cudaMalloc(&split_workspace, split_bytes) != cudaSuccess) throw OutOfMemory("decode breakdown");
  cudaMemset(split_workspace, 0, split_bytes);  // the fused combine's arrival counters start at zero
  kernels::setDecodeWorkspace(step, kv_splits, split_workspace);
  const std::size_t layer_cache = cache_bytes / static_cast<std::size_t>(m.layers);
  enum class Attention { None, Ordinary, Overlapped };
  const auto layer = [&](cudaStream_t stream, int l, bool fused, Attention attention = Attention::None) {
    if (!fused) norm(stream, layerWeight(l, o_norm1));
    rope.k_cache = k_cache + layer_cache * static_cast<std::size_t>(l);
    rope.v_cache = v_cache + layer_cache * static_cast<std::size_t>(l);
    const bool epilogue = fused && rotary_epilogue;
    project(stream, qkv, fused ? residual : normed, layerWeight(l, 0), wide, dtype, false,
            fused ? layerWeight(l, o_norm1) : nullptr, false, layerWeight(l, o_out), bytesOf(out), epilogue ? &rope : nullptr);
    if (!epilogue) kc::rotaryAppendKv(rope, stream);
    if (attention != Attention::None) {
      step.k = rope.k_cache;
      step.v = rope.v_cache;
      step.overlapped = attention == Attention::Overlapped;
      if (kc::flashDecode(step, stream) != cudaSuccess) throw DeviceFault("flashDecode launch");
    }
    project(stream, out, narrow, layerWeight(l, o_out), residual, dtype, true, nullptr, false, layerWeight(l, o_gate_up),
            bytesOf(gate_up));
    if (fused) {
      project(stream, gate_up, residual, layerWeight(l, o_gate_up), narrow, dtype, false, layerWeight(l, o_norm2), true,
              layerWeight(l, o_down), bytesOf(down));
    } else {
      norm(stream, layerWeight(l, o_norm2));
      project(stream, gate_up, normed, layerWeight(l, o_gate_up), wide, dtype, false, nullptr, false);
      kc::swiglu(wide, 1, m.ffn, narrow, dtype, stream);
    }
    const bool last = l + 1 == m.layers;
    project(stream, down, narrow, layerWeight(l, o_down), residual, dtype, true, nullptr, false,
            last ? head_w : layerWeight(l + 1, 0), last ? bytesOf(head) : bytesOf(qkv));
  };

  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  // Milliseconds per replay of the graph that `enqueue` captures (3 warm-up replays, median of 5 x 4).
  const auto graphMs = [&](const std::function<void(cudaStream_t)>& enqueue) {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    enqueue(stream);
    if (cudaStreamEndCapture(stream, &graph) != cudaSuccess || cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) {
      throw DeviceFault("decode breakdown: graph capture failed");
    }
    for (int w = 0; w < 3; ++w) cudaGraphLaunch(exec, stream);
    std::vector<double> samples;
    for (int r = 0; r < 5; ++r) {
      cudaEventRecord(start, stream);
      for (int i = 0; i < 4; ++i) cudaGraphLaunch(exec, stream);
      cudaEventRecord(stop, stream);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      samples.push_back(static_cast<double>(ms) / 4);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    return median(samples);
  };
  const auto perLayer = [&](const std::function<void(cudaStream_t, int)>& piece) {
    return graphMs([&](cudaStream_t st) {
             for (int l = 0; l < m.layers; ++l) piece(st, l);
           }) * 1e3 / m.layers;
  };
  const auto report = [&](const Shape& s, double us, const char* fused_name, double fused_us) {
    const double gb = static_cast<double>(bytesOf(s)) / 1e9;
    std::printf("  %-8s %6d x %-6d %7.2f us (%5.0f GB/s)", s.name, s.out, s.in, us, gb / (us * 1e-6));
    if (fused_name != nullptr) std::printf("   %s %7.2f us (%5.0f GB/s)", fused_name, fused_us, gb / (fused_us * 1e-6));
    std::printf("\n");
  };
  const double weight_gb = static_cast<double>(layer_bytes * m.layers + bytesOf(head)) / 1e9;
  const auto stepWithoutAttention = [&](bool fused) {
    const double ms = graphMs([&](cudaStream_t st) {
      for (int l = 0; l < m.layers; ++l) layer(st, l, fused);
      if (!fused) norm(st, final_norm);
      project(st, head, fused ? residual : normed, head_w, logits, DType::F32, false, fused ? final_norm : nullptr, false);
    });
    std::printf("  step without attention, %s: %.3f ms (%d kernels, %.0f GB/s of weights)\n",
                fused ? "norms and SwiGLU fused" : "norms and SwiGLU as kernels", ms,
                m.layers * (!fused ? 8 : rotary_epilogue && row_splits == 0 ? 4 : 5) + (fused ? 1 : 2),
                weight_gb / (ms * 1e-3));
  };
  // Each projection alone, plain and with its fusion, then the step without attention.
  const auto reportProjections = [&] {
    report(qkv, perLayer([&](cudaStream_t st, int l) { project(st, qkv, normed, layerWeight(l, 0), wide, dtype, false, nullptr, false); }),
           "+ rmsNorm", perLayer([&](cudaStream_t st, int l) { project(st, qkv, residual, layerWeight(l, 0), wide, dtype, false, layerWeight(l, o_norm1), false); }));
    report(out, perLayer([&](cudaStream_t st, int l) { project(st, out, narrow, layerWeight(l, o_out), residual, dtype, true, nullptr, false); }),
           nullptr, 0);
    report(gate_up, perLayer([&](cudaStream_t st, int l) { project(st, gate_up, normed, layerWeight(l, o_gate_up), wide, dtype, false, nullptr, false); }),
           "+ rmsNorm + swiglu", perLayer([&](cudaStream_t st, int l) { project(st, gate_up, residual, layerWeight(l, o_gate_up), narrow, dtype, false, layerWeight(l, o_norm2), true); }));
    report(down, perLayer([&](cudaStream_t st, int l) { project(st, down, narrow, layerWeight(l, o_down), residual, dtype, true, nullptr, false); }),
           nullptr, 0);
    report(head, graphMs([&](cudaStream_t st) { project(st, head, normed, head_w, logits, DType::F32, false, nullptr, false); }) * 1e3,
           "+ rmsNorm", graphMs([&](cudaStream_t st) { project(st, head, residual, head_w, logits, DType::F32, false, final_norm, false); }) * 1e3);
  };
  // The kernel's own grids (plain projections on short blocks with whole rows, fused ones on persistent
  // blocks), then every projection on persistent blocks.
  static_assert(kc::kSkinnyBlocksPerSm == 2, "the label below names it");
  for (const int grid : {0, kc::kSkinnyBlocksPerSm}) {
    blocks_per_sm = grid;
    std::printf("decode step at B=1, projections on %s (graphs over %d layers, each layer's own weights), us per "
                "launch:\n", grid == 0 ? "the kernel's grids" : "persistent blocks, 2 per SM", m.layers);
    reportProjections();
    for (const bool fused : {false, true}) stepWithoutAttention(fused);
  }
  // What the kernel design allows: the weights read by streamRead (the projections' loads, rounds and
  // grids, nothing multiplied), each projection alone, the step's projections in the step's order on
  // the kernel's grids, on short blocks only, on persistent blocks only, and every weight of the step
  // in one launch (rows of 8 KiB): what the kernel boundaries cost, before any arithmetic.
  std::uint32_t* sink = nullptr;
  if (cudaMalloc(&sink, sizeof(std::uint32_t)) != cudaSuccess) throw OutOfMemory("decode breakdown");
  const auto readRows = [&](cudaStream_t st, const void* w, std::size_t rows, std::size_t row_bytes, bool persistent) {
    kc::StreamReadParams r;
    r.src = w;
    r.rows = rows;
    r.row_bytes = static_cast<int>(row_bytes);
    r.blocks_per_sm = persistent ? kc::kSkinnyBlocksPerSm : 0;
    r.sink = sink;
    if (kc::streamRead(r, st) != cudaSuccess) throw DeviceFault("streamRead launch");
  };
  const auto readShape = [&](cudaStream_t st, const Shape& s, const void* w, bool persistent) {
    readRows(st, w, static_cast<std::size_t>(s.out), static_cast<std::size_t>(s.in) * elem, persistent);
  };
  std::printf("weights read without arithmetic (streamRead), us per launch, short blocks / persistent blocks:\n");
  const std::pair<const Shape*, std::size_t> layer_shapes[] = {{&qkv, 0}, {&out, o_out}, {&gate_up, o_gate_up}, {&down, o_down}};
  for (const auto& [shape, offset] : layer_shapes) {
    const double short_us = perLayer([&](cudaStream_t st, int l) { readShape(st, *shape, layerWeight(l, offset), false); });
    const double persistent_us = perLayer([&](cudaStream_t st, int l) { readShape(st, *shape, layerWeight(l, offset), true); });
    const double gb = static_cast<double>(bytesOf(*shape)) / 1e9;
    std::printf("  %-8s %7.2f us (%5.0f GB/s) / %7.2f us (%5.0f GB/s)\n", shape->name, short_us, gb / (short_us * 1e-6),
                persistent_us, gb / (persistent_us * 1e-6));
  }
  // Grids: the kernel's (fused projections persistent: QKV, gate|up, LM head), all short, all persistent.
  enum class ReadGrid { Kernels, Short, Persistent };
  for (const ReadGrid grid : {ReadGrid::Kernels, ReadGrid::Short, ReadGrid::Persistent}) {
    const auto persistent = [&](bool fused) { return grid == ReadGrid::Persistent || (grid == ReadGrid::Kernels && fused); };
    const double ms = graphMs([&](cudaStream_t st) {
      for (int l = 0; l < m.layers; ++l) {
        for (const auto& [shape, offset] : layer_shapes) {
          readShape(st, *shape, layerWeight(l, offset), persistent(shape == &qkv || shape == &gate_up));
        }
      }
      readShape(st, head, head_w, persistent(true));
    });
    std::printf("  the step's weights, %d launches on %s: %.3f ms (%.0f GB/s)\n", 4 * m.layers + 1,
                grid == ReadGrid::Kernels ? "the kernel's grids" : grid == ReadGrid::Short ? "short blocks" : "persistent blocks",
                ms, weight_gb / (ms * 1e-3));
  }
  constexpr std::size_t kReadRow = 8192;
  const std::size_t all_rows = static_cast<std::size_t>(head_w + bytesOf(head) - base) / kReadRow;
  for (const bool persistent : {false, true}) {
    const double ms = graphMs([&](cudaStream_t st) { readRows(st, base, all_rows, kReadRow, persistent); });
    std::printf("  the step's weights, one launch on %s: %.3f ms (%.0f GB/s)\n", persistent ? "persistent blocks" : "short blocks",
                ms, static_cast<double>(all_rows * kReadRow) / 1e9 / (ms * 1e-3));
  }
  cudaFree(sink);

  // Every projection on short blocks with each split of its rows (gate|up + SwiGLU at most 4), the fused
  // ones each block normalizing the input rows itself; from here on the kernel's own grids, as in the engine.
  blocks_per_sm = 0;
  for (const int splits : {1, 2, 4, 8}) {
    row_splits = splits;
    std::printf("projections on short blocks, %d warp(s) per weight row, us per launch:\n", splits);
    reportProjections();
    stepWithoutAttention(true);
  }
  row_splits = 0;
  // The whole step with the split-KV decode kernel (embedding aside): launched the ordinary way and as a
  // programmatic dependent launch in the chain; with each projection's blocks prefetching the head of
  // the next projection's weights into L2 (the engine prefetches 2 MiB); with the fused projections on
  // short blocks of whole rows instead of persistent ones; with RoPE + append as a kernel of its own
  // instead of the QKV projection's epilogue.
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  struct StepVariant {
    Attention attention;
    std::size_t head_mib;
    int splits;
    bool rotary_epilogue = true;
  };
  for (const StepVariant& v : {StepVariant{Attention::Ordinary, 0, 0}, StepVariant{Attention::Overlapped, 0, 0},
                               StepVariant{Attention::Overlapped, 2, 0}, StepVariant{Attention::Overlapped, 4, 0},
                               StepVariant{Attention::Overlapped, 2, 0, false}, StepVariant{Attention::Overlapped, 0, 1},
                               StepVariant{Attention::Overlapped, 2, 1}}) {
    next_head_bytes = v.head_mib * kMiB;
    row_splits = v.splits;
    rotary_epilogue = v.rotary_epilogue;
    const double ms = graphMs([&](cudaStream_t st) {
      for (int l = 0; l < m.layers; ++l) layer(st, l, true, v.attention);
      project(st, head, residual, head_w, logits, DType::F32, false, final_norm, false);
    });
    std::printf("step with flash decode at %d cached tokens (%d splits), decode kernel %s, next weights' first %zu MiB "
                "prefetched, fused projections on %s, RoPE + append %s: %.3f ms\n", cached, kv_splits,
                v.attention == Attention::Overlapped ? "overlapped" : "launched ordinarily", v.head_mib,
                v.splits == 0 ? "persistent blocks" : "short blocks",
                v.rotary_epilogue && v.splits == 0 ? "in the QKV epilogue" : "a kernel", ms);
  }
  // The engine's step (the row above with 2 MiB) with the decode kernel's key range split in other
  // counts than its heuristic's, which balances the decode kernel alone: inside the step its blocks
  // share the SMs with the next projection's early weight loads.
  next_head_bytes = 2 * kMiB;
  row_splits = 0;
  rotary_epilogue = true;
  for (const int splits : {1, 2, 3, 4, 5, 8, kMostSplitsTimed}) {
    cudaMemset(split_workspace, 0, split_bytes);  // the arrival counters sit elsewhere for each count
    kernels::setDecodeWorkspace(step, splits, split_workspace);
    const double ms = graphMs([&](cudaStream_t st) {
      for (int l = 0; l < m.layers; ++l) layer(st, l, true, Attention::Overlapped);
      project(st, head, residual, head_w, logits, DType::F32, false, final_norm, false);
    });
    std::printf("step with flash decode at %d cached tokens split %d way(s)%s: %.3f ms\n", cached, splits,
                splits == kv_splits ? " (the heuristic's)" : "", ms);
  }
  kernels::setDecodeWorkspace(step, kv_splits, split_workspace);
  next_head_bytes = 0;
  row_splits = 0;
  rotary_epilogue = true;
  std::printf("small kernels alone: rmsNorm %.2f us, rotaryAppendKv %.2f us, swiglu %.2f us\n",
              perLayer([&](cudaStream_t st, int l) { norm(st, layerWeight(l, o_norm1)); }),
              perLayer([&](cudaStream_t st, int) { kc::rotaryAppendKv(rope, st); }),
              perLayer([&](cudaStream_t st, int) { kc::swiglu(wide, 1, m.ffn, narrow, dtype, st); }));
  if (cudaGetLastError() != cudaSuccess) throw DeviceFault("decode breakdown failed");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  cudaFree(split_workspace);
  cudaFree(base);
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
  if (o.decode_breakdown) {
    decodeBreakdown(base.model, base.dtype);
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
  app.add_flag("--decode_breakdown", o.decode_breakdown,
               "time the decode step's projections and small kernels alone, its weights read without arithmetic, and the "
               "whole step (batch 1, CUDA graphs), and exit");
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
