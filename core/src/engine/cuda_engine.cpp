// The engine on CUDA: fp16/bf16 weights, activations and KV cache with fp32 accumulation; cuBLAS
// GEMMs for prefill, a weight-streaming kernel for the few rows of a decode step, the fused small
// kernels of cuda_model_layers.h, and the flash or standard attention kernel over the contiguous
// cache (a paged cache: flash only, the decode kernel reading the pages through its block table, a
// prefill's flash kernel a contiguous copy of each layer's K and V); flash decode steps (one new
// token) run the split-KV decode kernel, which spreads the cache over the SMs where one block per head
// would leave most of them idle. A decode step is either launched eagerly or captured as a CUDA graph
// and replayed; the graph is re-captured each step (the cache length is a kernel argument) and
// applied to an instantiated graph with cudaGraphExecUpdate, so the per-kernel launch cost goes away.
// Two instantiated graphs alternate, so that the update of one never waits on the step in flight.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>

#include "attnbench/engine/checkpoint.h"
#include "attnbench/errors.h"
#include "attnbench/kernels/cuda_attention.h"
#include "attnbench/kernels/cuda_decode.h"
#include "attnbench/kernels/cuda_model_layers.h"
#include "collective.h"
#include "cuda_fill.h"
#include "engine_internal.h"

namespace attnbench::engine::detail {
namespace {

namespace kc = kernels::cuda;

// cuBLAS gets its workspace from us: a capture must not make it allocate.
constexpr std::size_t kCublasWorkspaceBytes = std::size_t{32} << 20;

std::size_t align256(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw DeviceFault(std::string(what) + ": " + cudaGetErrorString(status));
}
void checkBlas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) throw DeviceFault(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(status)));
}

cudaDataType_t cudaType(DType dtype) {
  return dtype == DType::F32 ? CUDA_R_32F : dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
}

// Byte offsets of the activation buffers in one allocation (256-byte aligned each).
struct ActivationOffsets {
  std::size_t residual = 0, normed = 0, wide = 0, narrow = 0, last = 0, logits = 0, tokens = 0, attention = 0,
              packed_q = 0, packed_o = 0, split_kv = 0, cublas = 0, block_table = 0, gathered_k = 0, gathered_v = 0,
              total = 0;
};

// The flash decode step of `cached` tokens plus one new token per sequence over the engine's layout:
// Q (and O) are rows of the fused QKV (and attention output) buffers, K and V the contiguous cache.
kernels::DecodeParams decodeStep(const EngineConfig& c, int cached) {
  const kernels::AttentionParams a = attentionShape(c, 1, cached);
  kernels::DecodeParams d;
  kernels::setShape(d, kernels::DecodeShape{static_cast<const kernels::AttentionShape&>(a)});
  d.softmax_scale = a.softmax_scale;
  kernels::copyStrides(d, a);
  return d;
}

// Points a decode step's K and V at page pools [pages, Hkv, page_size, D] through the block table.
void readThroughPages(kernels::DecodeParams& d, const kc::PagedKv& pages) {
  kernels::setPagedKvStrides(d, pages.page_size);
  d.block_table = pages.block_table;
  d.block_table_stride = pages.pages_per_sequence;
}

// Split-KV workspace for every step up to the cache's capacity: partials for the most splits any step
// may take, and the fused combine's arrival counters.
std::size_t splitKvWorkspaceBytes(const EngineConfig& c) {
  if (c.attention != AttentionChoice::Flash) return 0;
  return kernels::decodeWorkspaceBytes(decodeStep(c, c.max_tokens - 1), kernels::kMaxDecodeSplits);
}

ActivationOffsets activationOffsets(const EngineConfig& c) {
  const ModelPreset& m = c.model;
  const auto elem = static_cast<std::size_t>(kernels::bytesPerElement(c.dtype));
  const auto layout = activationLayout(m, static_cast<std::int64_t>(c.batch) * c.max_step_tokens);
  ActivationOffsets o;
  const auto take = [&](std::size_t bytes) {
    const std::size_t at = o.total;
    o.total += align256(bytes);
    return at;
  };
  o.residual = take(static_cast<std::size_t>(layout.residual) * elem);
  o.normed = take(static_cast<std::size_t>(layout.normed) * elem);
  o.wide = take(static_cast<std::size_t>(layout.wide) * elem);
  o.narrow = take(static_cast<std::size_t>(layout.narrow) * elem);
  o.last = take(static_cast<std::size_t>(c.batch) * m.hidden * elem);
  o.logits = take(static_cast<std::size_t>(c.batch) * m.vocab * sizeof(float));
  // Token ids of one forward, or of every step of one decode() call.
  o.tokens = take(static_cast<std::size_t>(c.batch) * c.max_tokens * sizeof(std::int32_t));
  // The standard baseline: its N^2 scores, and Q and O packed per head so that cuBLAS runs each KV
  // group's heads as one strided batch.
  const bool standard = c.attention == AttentionChoice::Standard;
  const auto packed_bytes = static_cast<std::size_t>(c.batch) * c.max_step_tokens * m.heads * m.head_dim * elem;
  // Dense score rows: the engine's K/V are the cache itself ([B, Hkv, max_tokens, D]), which the padded
  // layout's zero-padded key copies do not take yet.
  o.attention = take(standard ? kc::standardWorkspaceBytes(attentionShape(c, c.max_step_tokens, c.max_tokens - c.max_step_tokens, true),
                                                           kc::ScoreLayout::Dense)
                              : 0);
  o.packed_q = take(standard ? packed_bytes : 0);
  o.packed_o = take(standard ? packed_bytes : 0);
  o.split_kv = take(splitKvWorkspaceBytes(c));
  o.cublas = take(kCublasWorkspaceBytes);
  // A paged cache: its block table, and one layer's K and V gathered contiguous for a prefill's attention.
  const KvLayout kv(c);
  const auto contiguous = static_cast<std::size_t>(kv.gatheredRows()) * static_cast<std::size_t>(m.head_dim) * elem;
  o.block_table = take(static_cast<std::size_t>(kv.pages) * sizeof(std::int32_t));
  o.gathered_k = take(contiguous);
  o.gathered_v = take(contiguous);
  return o;
}

std::vector<std::size_t> weightOffsets(const std::vector<WeightSpec>& plan, DType dtype, std::size_t* total) {
  std::vector<std::size_t> offsets;
  std::size_t at = 0;
  for (const auto& w : plan) {
    offsets.push_back(at);
    at += align256(static_cast<std::size_t>(w.count()) * static_cast<std::size_t>(kernels::bytesPerElement(dtype)));
  }
  *total = at;
  return offsets;
}

std::uint64_t kvCacheBytes(const EngineConfig& c) {
  return 2ULL * c.model.layers * static_cast<std::uint64_t>(KvLayout(c).rows()) * c.model.head_dim *
         static_cast<std::uint64_t>(kernels::bytesPerElement(c.dtype));
}

class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(std::size_t bytes, const char* what) : bytes_(bytes) {
    if (bytes == 0) return;
    if (cudaMalloc(&ptr_, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      ptr_ = nullptr;
      throw OutOfMemory(std::string(what) + ": the device refused " + std::to_string(bytes >> 20) + " MiB");
    }
  }
  ~DeviceMemory() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  std::byte* get() const { return static_cast<std::byte*>(ptr_); }
  std::size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// What a projection folds in around its product: the RMSNorm of its input rows and the SwiGLU of its
// output. The weight-streaming kernel does both inside; the cuBLAS path runs the separate kernels
// through the scratch buffers named here.
struct Fusion {
  const void* norm_weight = nullptr;  // RMSNorm x first with this weight...
  void* normed = nullptr;             // ...into this [rows, in] scratch on the cuBLAS path
  void* gate_up = nullptr;            // when set: w = [gate; up], y = swiglu of the product, which the
                                      // cuBLAS path writes here ([rows, out]) first
  kc::L2Prefetch prefetch_next = {};  // the weight-streaming kernel's blocks prefetch this into L2 as they finish
  const kc::RotaryAppendParams* rotary = nullptr;  // set: y is Q|K|V, rotated and appended to the KV cache
                                                   // (in the weight-streaming kernel's epilogue for one new
                                                   // token per sequence, else by rotaryAppendKv after it)
};

// The head of the next projection's weights that each decode-step projection prefetches into L2 as its
// blocks finish, so that the next launch's first wave reads from L2 (inference_bench --decode_breakdown
// measures 0, 2 and 4 MiB). On an H200, Llama-2-7B fp16 B = 1: 4 MiB 3.677-3.685 ms/token at 512 cached
// tokens against 3.690-3.695 for 2 MiB and 3.680-3.683 for 8 MiB; at 2048, 4.044-4.051 against
// 4.032-4.045 and 4.073-4.076.
constexpr std::size_t kNextWeightsHeadBytes = std::size_t{4} << 20;

class CudaEngine final : public Engine {
 public:
  CudaEngine(const EngineConfig& config, const Shard& shard) : shard_(shard), config_(config) {
    try {
      initialize();
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaEngine() override { release(); }
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  const EngineConfig& config() const override { return config_; }
  int cacheLength() const override { return cached_; }
  void setCacheLength(int tokens) override {
    if (tokens < 0 || tokens > cached_) throw InputError("the cache can only be rewound to 0.." + std::to_string(cached_));
    cached_ = tokens;
  }

  MemoryBreakdown allocated() const override { return {weights_->bytes(), kv_cache_->bytes(), activations_->bytes()}; }

  std::vector<float> logits() override {
    useDevice();
    std::vector<float> out(static_cast<std::size_t>(config_.batch) * config_.model.vocab);
    check(cudaMemcpyAsync(out.data(), act(offsets_.logits), out.size() * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "logits readback");
    check(cudaStreamSynchronize(stream_), "logits readback");
    return out;
  }

  std::vector<double> rankMs() const override { return {last_ms_}; }

  double allReduceMs(int rows, int reps) override {
    if (shard_.collective == nullptr) return 0;
    const auto count = static_cast<std::size_t>(rows) * static_cast<std::size_t>(config_.model.hidden);
    if (rows <= 0 || reps <= 0 || rows > config_.batch * config_.max_step_tokens) {
      throw InputError("allReduceMs: rows outside the activations");
    }
    useDevice();
    shard_.collective->allReduceSum(act(offsets_.residual), count, config_.dtype, stream_);
    check(cudaEventRecord(start_, stream_), "cudaEventRecord");
    for (int i = 0; i < reps; ++i) shard_.collective->allReduceSum(act(offsets_.residual), count, config_.dtype, stream_);
    check(cudaEventRecord(stop_, stream_), "cudaEventRecord");
    return elapsedMs() / reps;
  }

  double forward(std::span<const std::int32_t> tokens, int count) override {
    checkForward(config_, tokens, count, cached_);
    useDevice();
    uploadTokens(tokens);
    check(cudaEventRecord(start_, stream_), "cudaEventRecord");
    enqueueForward(stream_, tokenIds(), count, cached_);
    check(cudaEventRecord(stop_, stream_), "cudaEventRecord");
    cached_ += count;
    last_ms_ = elapsedMs();
    return last_ms_;
  }

  double decode(std::span<const std::int32_t> tokens, int steps) override {
    const auto batch = static_cast<std::size_t>(config_.batch);
    if (steps <= 0 || tokens.size() != batch * static_cast<std::size_t>(steps)) {
      throw InputError("decode of " + std::to_string(steps) + " steps needs steps x batch token ids");
    }
    for (int s = 0; s < steps; ++s) checkForward(config_, tokens.subspan(s * batch, batch), 1, cached_ + s);
    useDevice();
    uploadTokens(tokens);
    // The first step's graph is captured before the timer starts, as a generation loop captures it while
    // the prefill runs, not with the GPU idle inside the timed span; every later step is captured while
    // the GPU runs the step before it.
    cudaGraphExec_t next = config_.cuda_graph ? captureStep(tokenIds()) : nullptr;
    check(cudaEventRecord(start_, stream_), "cudaEventRecord");
    for (int s = 0; s < steps; ++s) {
      const std::int32_t* ids = tokenIds() + s * batch;
      if (config_.cuda_graph) {
        if (s > 0) next = captureStep(ids);
        check(cudaGraphLaunch(next, stream_), "cudaGraphLaunch");
      } else {
        enqueueForward(stream_, ids, 1, cached_);
      }
      ++cached_;
    }
    check(cudaEventRecord(stop_, stream_), "cudaEventRecord");
    last_ms_ = elapsedMs();
    return last_ms_;
  }

 private:
  void initialize() {
    useDevice();
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaStreamCreateWithFlags(&capture_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
    checkBlas(cublasCreate(&cublas_), "cublasCreate");

    const RankSetup setup = rankSetup(config_, shard_);
    config_ = setup.config;
    const auto& plan = setup.plan;
    std::size_t weight_bytes = 0;
    weight_offsets_ = weightOffsets(plan, config_.dtype, &weight_bytes);
    weights_ = std::make_unique<DeviceMemory>(weight_bytes, "weights");
    kv_cache_ = std::make_unique<DeviceMemory>(kvCacheBytes(config_), "KV cache");
    offsets_ = activationOffsets(config_);
    activations_ = std::make_unique<DeviceMemory>(offsets_.total, "activations");
    // The fused combine's arrival counters start at zero; every decode step leaves them at zero.
    check(cudaMemsetAsync(act(offsets_.split_kv), 0, splitKvWorkspaceBytes(config_), stream_), "zero split-KV workspace");
    if (const KvLayout kv(config_); kv.paged()) {
      const std::vector<std::int32_t> table = kv.blockTable();
      check(cudaMemcpy(act(offsets_.block_table), table.data(), table.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice),
            "block table upload");
    }
    traits_ = kc::queryDeviceTraits(config_.cuda_device);
    if (setup.checkpoint) {
      loadCheckpoint(*setup.checkpoint, plan);
    } else {
      for (std::size_t i = 0; i < plan.size(); ++i) {
        const auto count = static_cast<std::size_t>(plan[i].count());
        check(fillRandomDevice(weight(i), config_.dtype, count, syntheticSeed(config_.seed, i, plan[i]), stream_),
              "weight fill");
        check(kc::scaleShift(weight(i), count, plan[i].synthetic_scale, plan[i].synthetic_shift, config_.dtype, stream_),
              "weight fill");
      }
    }
    check(cudaStreamSynchronize(stream_), "weight upload");
  }

  // Frees what initialize() got so far (also when it threw half-way).
  void release() {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    weights_.reset();
    kv_cache_.reset();
    activations_.reset();
    for (auto& exec : graph_execs_) {
      if (exec != nullptr) cudaGraphExecDestroy(exec);
      exec = nullptr;
    }
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (start_ != nullptr) cudaEventDestroy(start_);
    if (stop_ != nullptr) cudaEventDestroy(stop_);
    if (capture_stream_ != nullptr) cudaStreamDestroy(capture_stream_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    cublas_ = nullptr;
    start_ = stop_ = nullptr;
    stream_ = capture_stream_ = nullptr;
  }

  void* weight(std::size_t index) const { return weights_->get() + weight_offsets_[index]; }
  // The bytes from a weight to the next one (its elements and the alignment after them).
  std::size_t weightBytes(std::size_t index) const {
    return (index + 1 < weight_offsets_.size() ? weight_offsets_[index + 1] : weights_->bytes()) - weight_offsets_[index];
  }
  std::byte* act(std::size_t offset) const { return activations_->get() + offset; }
  std::int32_t* tokenIds() const { return reinterpret_cast<std::int32_t*>(act(offsets_.tokens)); }
  std::size_t elem() const { return static_cast<std::size_t>(kernels::bytesPerElement(config_.dtype)); }
  // The paged cache's page table for the kernels (block_table null: contiguous).
  kc::PagedKv pages() const {
    const KvLayout kv(config_);
    if (!kv.paged()) return {};
    return {reinterpret_cast<const std::int32_t*>(act(offsets_.block_table)), kv.pages_per_sequence, kv.page_size};
  }
  std::byte* cacheOf(int layer, bool value) const {
    const std::size_t per = kv_cache_->bytes() / (2 * static_cast<std::size_t>(config_.model.layers));
    return kv_cache_->get() + (2 * static_cast<std::size_t>(layer) + (value ? 1 : 0)) * per;
  }

  // Every call may come from another thread (a tensor parallel rank's); the device is per thread.
  void useDevice() const { check(cudaSetDevice(config_.cuda_device), "cudaSetDevice"); }

  void uploadTokens(std::span<const std::int32_t> tokens) {
    check(cudaMemcpyAsync(tokenIds(), tokens.data(), tokens.size_bytes(), cudaMemcpyHostToDevice, stream_), "token upload");
  }

  double elapsedMs() {
    check(cudaEventSynchronize(stop_), "forward");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
    return ms;
  }

  // Each piece goes straight to its slot when its dtype is the engine's, else through a staging
  // buffer and a conversion kernel.
  void loadCheckpoint(const Checkpoint& ckpt, const std::vector<WeightSpec>& plan) {
    std::size_t staging_bytes = 0;
    for (const auto& spec : plan) {
      for (const auto& name : spec.pieces) {
        const TensorRef& t = ckpt.tensor(name);
        if (t.dtype != config_.dtype) staging_bytes = std::max(staging_bytes, t.bytes);
      }
    }
    const DeviceMemory staging(staging_bytes, "checkpoint staging");
    std::vector<std::byte> scratch;  // a tensor parallel rank's columns of a row-parallel weight
    for (std::size_t i = 0; i < plan.size(); ++i) {
      std::size_t filled = 0;
      for (std::size_t p = 0; p < plan[i].pieces.size(); ++p) {
        const TensorRef& t = ckpt.tensor(plan[i].pieces[p]);
        const auto bytes = pieceBytes(t, plan[i], p, scratch);
        const std::size_t count = bytes.size() / static_cast<std::size_t>(kernels::bytesPerElement(t.dtype));
        std::byte* dst = static_cast<std::byte*>(weight(i)) + filled * elem();
        if (t.dtype == config_.dtype) {
          check(cudaMemcpy(dst, bytes.data(), bytes.size(), cudaMemcpyHostToDevice), "weight upload");
        } else {
          check(cudaMemcpy(staging.get(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice), "weight upload");
          check(kc::convert(staging.get(), t.dtype, dst, config_.dtype, count, stream_), "weight conversion");
          check(cudaStreamSynchronize(stream_), "weight conversion");
        }
        filled += count;
      }
    }
  }

  // y[rows, out] (= or +=) x[rows, in] . w[out, in]^T, x's rows x_stride apart: the weight-streaming
  // kernel for a decode step's few rows, cuBLAS tensor-core GEMMs (fp32 accumulation) otherwise.
  void linear(cudaStream_t stream, const void* x, std::int64_t x_stride, int rows, int in, const void* w, int out,
              void* y, DType y_dtype, bool accumulate, const Fusion& fusion = {}) {
    const float eps = static_cast<float>(config_.model.rms_norm_eps);
    if (rows <= kc::kSkinnyLinearMaxRows && in % 8 == 0 && x_stride % 8 == 0) {
      kc::SkinnyLinearParams p;
      p.x = x;
      p.x_row_stride = x_stride;
      p.rows = rows;
      p.in = in;
      p.w = w;
      p.out = out;
      p.y = y;
      p.y_dtype = y_dtype;
      p.accumulate = accumulate;
      p.norm_weight = fusion.norm_weight;
      p.norm_eps = eps;
      p.swiglu = fusion.gate_up != nullptr;
      p.dtype = config_.dtype;
      p.prefetch_next = fusion.prefetch_next;
      const bool rotary_epilogue = fusion.rotary != nullptr && fusion.rotary->new_tokens == 1;
      if (rotary_epilogue) p.rotary = *fusion.rotary;
      check(kc::skinnyLinear(p, stream), "skinnyLinear");
      if (fusion.rotary != nullptr && !rotary_epilogue) check(kc::rotaryAppendKv(*fusion.rotary, stream), "rotaryAppendKv");
      return;
    }
    if (fusion.norm_weight != nullptr) {
      check(kc::rmsNorm(x, x_stride, fusion.norm_weight, rows, in, eps, fusion.normed, in, config_.dtype, stream),
            "rmsNorm");
      x = fusion.normed;
      x_stride = in;
    }
    void* product = fusion.gate_up != nullptr ? fusion.gate_up : y;
    const float one = 1.0f, zero = 0.0f;
    checkBlas(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &one, w, cudaType(config_.dtype), in, x,
                           cudaType(config_.dtype), static_cast<int>(x_stride), accumulate ? &one : &zero, product,
                           cudaType(y_dtype), out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
    if (fusion.gate_up != nullptr) check(kc::swiglu(product, rows, out / 2, y, config_.dtype, stream), "swiglu");
    if (fusion.rotary != nullptr) check(kc::rotaryAppendKv(*fusion.rotary, stream), "rotaryAppendKv");
  }

  // One forward of `count` tokens per sequence at cache position `position`, enqueued on `stream`.
  void enqueueForward(cudaStream_t stream, const std::int32_t* ids, int count, int position) {
    const ModelPreset& m = config_.model;
    const DType dt = config_.dtype;
    const int rows = config_.batch * count;
    const auto width = static_cast<int>(qkvWidth(m));
    const int attn_width = m.heads * m.head_dim;
    void* residual = act(offsets_.residual);
    void* normed = act(offsets_.normed);
    void* wide = act(offsets_.wide);
    void* narrow = act(offsets_.narrow);
    // cublasSetStream drops the user workspace; a graph capture must not see cuBLAS allocate its own.
    checkBlas(cublasSetStream(cublas_, stream), "cublasSetStream");
    checkBlas(cublasSetWorkspace(cublas_, act(offsets_.cublas), kCublasWorkspaceBytes), "cublasSetWorkspace");
    check(kc::embeddingLookup(weight(embeddingIndex()), m.hidden, ids, rows, residual, dt, stream), "embedding");
    const bool standard = config_.attention == AttentionChoice::Standard;
    kernels::AttentionParams attn = attentionShape(config_, count, position, standard);
    attn.q = standard ? act(offsets_.packed_q) : wide;
    attn.o = standard ? act(offsets_.packed_o) : narrow;
    // Each projection asks for the head of the next one's weights; only the weight-streaming kernel of
    // a decode step's few rows issues it (linear's cuBLAS path has no use for it).
    const kc::PagedKv paging = pages();
    const auto headOf = [&](std::size_t next_weight) {
      return kc::L2Prefetch{weight(next_weight), std::min(weightBytes(next_weight), kNextWeightsHeadBytes)};
    };
    for (int l = 0; l < m.layers; ++l) {
      const auto w = [&](LayerWeight which) { return weight(layerIndex(l, which)); };
      kc::RotaryAppendParams rope;
      rope.qkv = wide;
      rope.q_out = standard ? act(offsets_.packed_q) : nullptr;
      rope.k_cache = cacheOf(l, false);
      rope.v_cache = cacheOf(l, true);
      rope.batch = config_.batch;
      rope.new_tokens = count;
      rope.heads_q = m.heads;
      rope.heads_kv = m.kv_heads;
      rope.head_dim = m.head_dim;
      rope.max_tokens = config_.max_tokens;
      rope.first_position = position;
      rope.theta = static_cast<float>(m.rope_theta);
      rope.dtype = dt;
      rope.pages = paging;
      linear(stream, residual, m.hidden, rows, m.hidden, w(kQkv), width, wide, dt, false,
             {.norm_weight = w(kAttnNorm), .normed = normed, .prefetch_next = headOf(layerIndex(l, kOut)), .rotary = &rope});
      attn.k = rope.k_cache;
      attn.v = rope.v_cache;
      if (!standard && count == 1) {
        kernels::DecodeParams step = decodeStep(config_, position);
        step.q = attn.q;
        step.k = attn.k;
        step.v = attn.v;
        step.o = attn.o;
        if (paging.block_table != nullptr) readThroughPages(step, paging);
        step.overlapped = true;  // in the chain of overlapped model-layer kernels
        kernels::setDecodeWorkspace(step, kc::flashDecodeSplits(step, traits_), act(offsets_.split_kv));
        check(kc::flashDecode(step, stream), "flashDecode");
      } else if (!standard) {
        if (paging.block_table != nullptr) {
          // The prefill's flash kernel reads a contiguous cache: this layer's K and V gathered into one.
          attn.k = act(offsets_.gathered_k);
          attn.v = act(offsets_.gathered_v);
          for (const bool value : {false, true}) {
            check(kc::gatherPagedKv(cacheOf(l, value), paging, config_.batch, m.kv_heads, m.head_dim, position + count,
                                    act(value ? offsets_.gathered_v : offsets_.gathered_k), config_.max_tokens, dt, stream),
                  "gatherPagedKv");
          }
        }
        check(kc::flashForward(attn, {}, stream), "flashForward");
      } else {
        cublasStatus_t blas = CUBLAS_STATUS_SUCCESS;
        if (kc::standardAttention(attn, act(offsets_.attention), cublas_, stream, &blas, kc::ScoreLayout::Dense) !=
            cudaSuccess) {
          checkBlas(blas, "standardAttention");
          check(cudaGetLastError(), "standardAttention");
        }
        check(kc::headsToRows(attn.o, config_.batch, m.heads, count, m.head_dim, narrow, dt, stream), "headsToRows");
      }
      linear(stream, narrow, attn_width, rows, attn_width, w(kOut), m.hidden, residual, dt, ownsResidual(),
             {.prefetch_next = headOf(layerIndex(l, kGateUp))});
      sumResidual(residual, rows, stream);
      linear(stream, residual, m.hidden, rows, m.hidden, w(kGateUp), 2 * m.ffn, narrow, dt, false,
             {.norm_weight = w(kMlpNorm), .normed = normed, .gate_up = wide, .prefetch_next = headOf(layerIndex(l, kDown))});
      linear(stream, narrow, m.ffn, rows, m.ffn, w(kDown), m.hidden, residual, dt, ownsResidual(),
             {.prefetch_next = headOf(l + 1 < m.layers ? layerIndex(l + 1, kQkv) : lmHeadIndex(m))});
      sumResidual(residual, rows, stream);
    }
    // The last position of each sequence only: final norm, then the LM head into fp32 logits.
    const std::byte* last_rows = static_cast<std::byte*>(residual) + static_cast<std::size_t>(count - 1) * m.hidden * elem();
    linear(stream, last_rows, static_cast<std::int64_t>(count) * m.hidden, config_.batch, m.hidden,
           weight(lmHeadIndex(m)), m.vocab, act(offsets_.logits), DType::F32, false,
           {.norm_weight = weight(finalNormIndex(m)), .normed = act(offsets_.last)});
  }

  // Tensor parallel: a row-parallel projection's partial sums become the residual's update by an
  // all-reduce of the residual itself: rank 0 adds its part to the residual, the other ranks write
  // theirs in its place, and the sum over ranks is residual + every part (NCCL sums in the storage
  // dtype, as the residual is stored).
  bool ownsResidual() const { return shard_.rank == 0; }
  void sumResidual(void* residual, int rows, cudaStream_t stream) {
    if (shard_.collective == nullptr) return;
    shard_.collective->allReduceSum(residual, static_cast<std::size_t>(rows) * config_.model.hidden, config_.dtype, stream);
  }

  // Captures the decode step at the cache's current length on the side stream and updates the
  // instantiated graph in place (or instantiates it when the update is refused, e.g. when flash picked
  // another tile); returns the graph to launch. Graphs holding the standard baseline's cuBLAS GEMMs are
  // instantiated anew every step: updated in place, they replayed wrong logits on an H200 (the cause is
  // not pinned down; cuBLAS picks other kernels as the KV length grows).
  cudaGraphExec_t captureStep(const std::int32_t* ids) {
    check(cudaStreamBeginCapture(capture_stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    cudaGraph_t graph = nullptr;
    try {
      enqueueForward(capture_stream_, ids, 1, cached_);
    } catch (...) {
      cudaStreamEndCapture(capture_stream_, &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      throw;
    }
    check(cudaStreamEndCapture(capture_stream_, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t& exec = graph_execs_[static_cast<std::size_t>(cached_) % graph_execs_.size()];
    bool updated = false;
    if (exec != nullptr && config_.attention == AttentionChoice::Flash) {
      cudaGraphExecUpdateResultInfo info{};
      updated = cudaGraphExecUpdate(exec, graph, &info) == cudaSuccess;
      if (!updated) (void)cudaGetLastError();
    }
    if (!updated && exec != nullptr) {
      cudaGraphExecDestroy(exec);  // a launch still in flight completes first
      exec = nullptr;
    }
    cudaError_t status = cudaSuccess;
    if (!updated) status = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    check(status, "cudaGraphInstantiate");
    return exec;
  }

  Shard shard_;
  EngineConfig config_;  // the rank's: its model has the rank's heads, KV heads and ffn
  cudaStream_t stream_ = nullptr;
  cudaStream_t capture_stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::vector<std::size_t> weight_offsets_;
  ActivationOffsets offsets_;
  kc::DeviceTraits traits_;  // the SM count the split-KV heuristic spreads a decode step over
  std::unique_ptr<DeviceMemory> weights_, kv_cache_, activations_;
  std::array<cudaGraphExec_t, 2> graph_execs_{};
  int cached_ = 0;
  double last_ms_ = 0;
};

}  // namespace

MemoryBreakdown predictCudaMemory(const EngineConfig& c) {
  std::size_t weights = 0;
  weightOffsets(weightPlan(c.model, "lm_head.weight"), c.dtype, &weights);
  return {weights, kvCacheBytes(c), activationOffsets(c).total};
}

std::unique_ptr<Engine> makeCudaEngine(const EngineConfig& config, const Shard& shard) {
  return std::make_unique<CudaEngine>(config, shard);
}

}  // namespace attnbench::engine::detail
