// The transformer engine against an independent fp64 implementation of a Llama decoder, on a tiny
// checkpoint this test writes in Hugging Face format (config.json + safetensors, sharded or not).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "attnbench/engine/checkpoint.h"
#include "attnbench/engine/engine.h"
#include "attnbench/engine/tokenizer.h"
#include "attnbench/errors.h"
#include "tiny_checkpoint.h"

#ifdef ATTNBENCH_TEST_TRAINS_TOKENIZER
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#endif

#ifdef ATTNBENCH_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace {

namespace fs = std::filesystem;
using attnbench::InputError;
using attnbench::ModelPreset;
using namespace attnbench::engine;
using namespace attnbench::tiny;

// y = W x for a row-major [out, in] weight.
std::vector<double> matVec(const HostTensor& w, const std::vector<double>& x) {
  const auto out = static_cast<std::size_t>(w.shape[0]);
  const std::size_t in = x.size();
  std::vector<double> y(out, 0.0);
  for (std::size_t o = 0; o < out; ++o) {
    for (std::size_t i = 0; i < in; ++i) y[o] += w.values[o * in + i] * x[i];
  }
  return y;
}

std::vector<double> rmsNormRef(const std::vector<double>& x, const HostTensor& weight) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + kEps);
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * weight.values[i];
  return y;
}

// Rotates one head (pairs i, i + D/2) at `pos`, all in double.
void ropeRef(double* head, int pos) {
  for (int i = 0; i < kHeadDim / 2; ++i) {
    const double angle = pos * std::pow(kTheta, -2.0 * i / kHeadDim);
    const double a = head[i], b = head[i + kHeadDim / 2];
    head[i] = a * std::cos(angle) - b * std::sin(angle);
    head[i + kHeadDim / 2] = b * std::cos(angle) + a * std::sin(angle);
  }
}

// The logits of the last position of one sequence, recomputing everything from scratch in fp64.
std::vector<double> referenceLogits(const Weights& w, const std::vector<std::int32_t>& tokens, bool tied) {
  const auto n = tokens.size();
  std::vector<std::vector<double>> x(n);
  for (std::size_t t = 0; t < n; ++t) {
    const auto& e = w.at("model.embed_tokens.weight").values;
    x[t].assign(e.begin() + static_cast<std::ptrdiff_t>(tokens[t]) * kHidden, e.begin() + static_cast<std::ptrdiff_t>(tokens[t] + 1) * kHidden);
  }
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (std::size_t t = 0; t < n; ++t) {
      const auto h = rmsNormRef(x[t], w.at(p + "input_layernorm.weight"));
      q[t] = matVec(w.at(p + "self_attn.q_proj.weight"), h);
      k[t] = matVec(w.at(p + "self_attn.k_proj.weight"), h);
      v[t] = matVec(w.at(p + "self_attn.v_proj.weight"), h);
      for (int hq = 0; hq < kHeads; ++hq) ropeRef(q[t].data() + hq * kHeadDim, static_cast<int>(t));
      for (int hk = 0; hk < kKvHeads; ++hk) ropeRef(k[t].data() + hk * kHeadDim, static_cast<int>(t));
    }
    for (std::size_t t = 0; t < n; ++t) {
      std::vector<double> attn(kHeads * kHeadDim, 0.0);
      for (int hq = 0; hq < kHeads; ++hq) {
        const int hk = hq / (kHeads / kKvHeads);
        std::vector<double> scores(t + 1);
        double max_score = -1e300;
        for (std::size_t j = 0; j <= t; ++j) {
          double s = 0;
          for (int d = 0; d < kHeadDim; ++d) s += q[t][hq * kHeadDim + d] * k[j][hk * kHeadDim + d];
          scores[j] = s / std::sqrt(static_cast<double>(kHeadDim));
          max_score = std::max(max_score, scores[j]);
        }
        double sum = 0;
        for (double& s : scores) sum += (s = std::exp(s - max_score));
        for (std::size_t j = 0; j <= t; ++j) {
          for (int d = 0; d < kHeadDim; ++d) attn[hq * kHeadDim + d] += scores[j] / sum * v[j][hk * kHeadDim + d];
        }
      }
      const auto o = matVec(w.at(p + "self_attn.o_proj.weight"), attn);
      for (int i = 0; i < kHidden; ++i) x[t][i] += o[i];
      const auto h = rmsNormRef(x[t], w.at(p + "post_attention_layernorm.weight"));
      const auto gate = matVec(w.at(p + "mlp.gate_proj.weight"), h);
      const auto up = matVec(w.at(p + "mlp.up_proj.weight"), h);
      std::vector<double> act(kFfn);
      for (int j = 0; j < kFfn; ++j) act[j] = gate[j] / (1 + std::exp(-gate[j])) * up[j];
      const auto down = matVec(w.at(p + "mlp.down_proj.weight"), act);
      for (int i = 0; i < kHidden; ++i) x[t][i] += down[i];
    }
  }
  const auto last = rmsNormRef(x[n - 1], w.at("model.norm.weight"));
  return matVec(w.at(tied ? "model.embed_tokens.weight" : "lm_head.weight"), last);
}

struct Agreement {
  double max_abs_diff = 0;
  double max_abs_ref = 0;
  int top1_matches = 0;
};

// Compares [batch, vocab] engine logits with the reference for each sequence's prefix.
Agreement compare(const std::vector<float>& logits, const std::vector<std::vector<std::int32_t>>& sequences,
                  const Weights& w, bool tied) {
  Agreement a;
  for (std::size_t b = 0; b < sequences.size(); ++b) {
    const auto ref = referenceLogits(w, sequences[b], tied);
    std::size_t best_ref = 0, best_engine = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const float got = logits[b * kVocab + i];
      EXPECT_TRUE(std::isfinite(got)) << "logit " << i << " of sequence " << b;
      a.max_abs_diff = std::max(a.max_abs_diff, std::fabs(got - ref[i]));
      a.max_abs_ref = std::max(a.max_abs_ref, std::fabs(ref[i]));
      if (ref[i] > ref[best_ref]) best_ref = i;
      if (got > logits[b * kVocab + best_engine]) best_engine = i;
    }
    a.top1_matches += best_ref == best_engine ? 1 : 0;
  }
  return a;
}

// Prefill of 9 tokens per sequence, then 3 decode steps, each compared with the fp64 model; then
// the same sequence recomputed without a cache. Returns the worst agreement seen.
Agreement runAgainstReference(Engine& engine, const Weights& w, bool tied) {
  const int batch = engine.config().batch;
  const auto prompt = syntheticTokens(static_cast<std::size_t>(batch) * 9, kVocab, 7);
  std::vector<std::vector<std::int32_t>> seqs(static_cast<std::size_t>(batch));
  for (int b = 0; b < batch; ++b) seqs[b].assign(prompt.begin() + b * 9, prompt.begin() + (b + 1) * 9);
  Agreement worst;
  const auto note = [&](const Agreement& a) {
    worst.max_abs_diff = std::max(worst.max_abs_diff, a.max_abs_diff);
    worst.max_abs_ref = std::max(worst.max_abs_ref, a.max_abs_ref);
    worst.top1_matches += a.top1_matches;
  };
  EXPECT_GT(engine.forward(prompt, 9), 0.0);
  note(compare(engine.logits(), seqs, w, tied));
  EXPECT_EQ(engine.cacheLength(), 9);
  const auto next = syntheticTokens(static_cast<std::size_t>(batch) * 3, kVocab, 8);
  for (int s = 0; s < 3; ++s) {
    const std::vector<std::int32_t> step(next.begin() + s * batch, next.begin() + (s + 1) * batch);
    EXPECT_GT(engine.decode(step, 1), 0.0);
    for (int b = 0; b < batch; ++b) seqs[b].push_back(step[b]);
    note(compare(engine.logits(), seqs, w, tied));
  }
  EXPECT_EQ(engine.cacheLength(), 12);
  const auto cached_logits = engine.logits();
  // Decode without a cache: the whole sequence recomputed in one forward from an empty cache.
  engine.setCacheLength(0);
  std::vector<std::int32_t> whole;
  for (const auto& s : seqs) whole.insert(whole.end(), s.begin(), s.end());
  engine.forward(whole, 12);
  note(compare(engine.logits(), seqs, w, tied));
  const auto recomputed = engine.logits();
  double diff = 0;
  for (std::size_t i = 0; i < recomputed.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(recomputed[i] - cached_logits[i])));
  EXPECT_LT(diff, 0.02 * worst.max_abs_ref) << "decode with and without the KV cache disagree";
  return worst;
}

TEST(Checkpoint, ReadsConfigAndShardedTensors) {
  const auto dir = writeTinyCheckpoint("sharded", "BF16", true);
  const Checkpoint ckpt = Checkpoint::open(dir);
  const ModelPreset& m = ckpt.model();
  EXPECT_EQ(m.layers, kLayers);
  EXPECT_EQ(m.heads, kHeads);
  EXPECT_EQ(m.kv_heads, kKvHeads);
  EXPECT_EQ(m.head_dim, kHeadDim);
  EXPECT_EQ(m.ffn, kFfn);
  EXPECT_EQ(m.vocab, kVocab);
  EXPECT_DOUBLE_EQ(m.rope_theta, kTheta);
  EXPECT_DOUBLE_EQ(m.rms_norm_eps, kEps);
  const auto& t = ckpt.tensor("model.layers.1.mlp.down_proj.weight");
  EXPECT_EQ(t.dtype, attnbench::kernels::DType::BF16);
  EXPECT_EQ(t.shape, (std::vector<std::int64_t>{kHidden, kFfn}));
  EXPECT_TRUE(ckpt.hasTensor("lm_head.weight"));
  fs::remove_all(dir);
}

TEST(Checkpoint, ClearErrorsForWhatItCannotRead) {
  const auto expectError = [](const fs::path& dir, const std::string& fragment) {
    try {
      (void)Checkpoint::open(dir);
      ADD_FAILURE() << "no error for " << dir;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expectError("/nonexistent/attnbench/ckpt", "does not exist");

  const fs::path dir = fs::temp_directory_path() / ("attnbench_bad_ckpt_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "consolidated.00.pth") << "not a pickle";
  std::ofstream(dir / "params.json") << "{}";
  expectError(dir, "consolidated.00.pth");

  fs::remove(dir / "consolidated.00.pth");
  writeConfig(dir, false);
  expectError(dir, "needs config.json and model.safetensors");

  Weights w = makeTinyWeights(true);
  writeSafetensors(dir / "model.safetensors", w, {"model.norm.weight"}, "F32");
  {  // an int8 tensor
    std::string text = R"({"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})";
    while (text.size() % 8 != 0) text += ' ';
    std::ofstream out(dir / "model.safetensors", std::ios::binary);
    const std::uint64_t len = text.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xFF));
    out << text << "abcd";
  }
  expectError(dir, "tensor 'q' is I8");

  writeSafetensors(dir / "model.safetensors", w, {"model.norm.weight"}, "F32");
  EngineConfig c;
  c.model = Checkpoint::open(dir).model();
  c.checkpoint_dir = dir.string();
  c.dtype = attnbench::kernels::DType::F32;
  c.max_tokens = 8;
  c.max_step_tokens = 8;
  try {
    (void)makeEngine(c);
    ADD_FAILURE() << "an incomplete checkpoint loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("has no tensor 'model.embed_tokens.weight'"), std::string::npos) << e.what();
  }

  writeConfig(dir, false, {{"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}}});
  expectError(dir, "rope scaling 'llama3'");
  writeConfig(dir, false, {{"model_type", "gpt2"}});
  expectError(dir, "model_type 'gpt2'");
  fs::remove_all(dir);
}

class CpuEngineTest : public ::testing::TestWithParam<AttentionChoice> {};

TEST_P(CpuEngineTest, LogitsMatchTheFp64Reference) {
  const auto dir = writeTinyCheckpoint("cpu", "BF16", true);
  auto engine = makeEngine(tinyConfig(dir, EngineDevice::Cpu, GetParam()));
  const Agreement a = runAgainstReference(*engine, makeTinyWeights(true), false);
  EXPECT_GT(a.max_abs_ref, 0.5) << "the reference logits are degenerate";
  EXPECT_LT(a.max_abs_diff, 1e-4 * a.max_abs_ref) << "fp32 engine vs fp64 reference";
  EXPECT_EQ(a.top1_matches, 2 * 5);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Attention, CpuEngineTest, ::testing::Values(AttentionChoice::Flash, AttentionChoice::Standard));

TEST(CpuEngine, TiedLmHeadAndEveryFileDtypeGiveTheSameModel) {
  const auto tied = writeTinyCheckpoint("tied", "F16", false, true);
  auto engine = makeEngine(tinyConfig(tied, EngineDevice::Cpu, AttentionChoice::Flash));
  const Agreement a = runAgainstReference(*engine, makeTinyWeights(false), true);
  EXPECT_LT(a.max_abs_diff, 1e-4 * a.max_abs_ref);
  fs::remove_all(tied);

  // The same numbers stored as fp16, bf16 and fp32 load into identical engines.
  std::vector<std::vector<float>> logits;
  for (const char* dtype : {"F16", "BF16", "F32"}) {
    const auto dir = writeTinyCheckpoint(std::string("dtype_") + dtype, dtype, false);
    auto e = makeEngine(tinyConfig(dir, EngineDevice::Cpu, AttentionChoice::Flash));
    e->forward(syntheticTokens(2 * 5, kVocab, 3), 5);
    logits.push_back(e->logits());
    fs::remove_all(dir);
  }
  EXPECT_EQ(logits[0], logits[1]);
  EXPECT_EQ(logits[0], logits[2]);
}

TEST(CpuEngine, PredictedMemoryIsWhatItAllocates) {
  const auto dir = writeTinyCheckpoint("mem", "BF16", false);
  for (const auto attention : {AttentionChoice::Flash, AttentionChoice::Standard}) {
    const EngineConfig c = tinyConfig(dir, EngineDevice::Cpu, attention);
    const MemoryBreakdown predicted = predictMemory(c);
    const MemoryBreakdown got = makeEngine(c)->allocated();
    EXPECT_EQ(predicted.weights, got.weights);
    EXPECT_EQ(predicted.kv_cache, got.kv_cache);
    EXPECT_EQ(predicted.activations, got.activations);
    EXPECT_EQ(predicted.kv_cache, 2ULL * kLayers * 2 * kKvHeads * 24 * kHeadDim * 4);
  }
  fs::remove_all(dir);
}

// The final logits of runAgainstReference's sequence (prefill, decode steps, the recompute from an
// empty cache) on the tiny checkpoint with its own LM head, with its checks.
std::vector<float> referenceRunLogits(const EngineConfig& c) {
  auto engine = makeEngine(c);
  EXPECT_EQ(predictMemory(c).total(), engine->allocated().total());
  const Agreement a = runAgainstReference(*engine, makeTinyWeights(true), false);
  EXPECT_GT(a.max_abs_ref, 0.5);
  EXPECT_LT(a.max_abs_diff, (c.device == EngineDevice::Cpu ? 1e-4 : 0.01) * a.max_abs_ref);
  return engine->logits();
}

// A paged KV cache (pages interleaved between the two sequences; 24 tokens in two pages of 16, or in
// one of 32) holds what the contiguous one does: the same logits, bit for bit, at every step.
TEST(CpuEngine, PagedCacheGivesTheContiguousCachesLogits) {
  const auto dir = writeTinyCheckpoint("paged", "BF16", true);
  const EngineConfig contiguous = tinyConfig(dir, EngineDevice::Cpu, AttentionChoice::Flash);
  const auto want = referenceRunLogits(contiguous);
  for (const int page : {16, 32}) {
    SCOPED_TRACE("page " + std::to_string(page));
    EngineConfig c = contiguous;
    c.page_size = page;
    EXPECT_EQ(referenceRunLogits(c), want);
    const int pages = 2 * ((c.max_tokens + page - 1) / page);
    EXPECT_EQ(predictMemory(c).kv_cache, 2ULL * kLayers * pages * kKvHeads * page * kHeadDim * 4);
  }
  fs::remove_all(dir);
}

TEST(CpuEngine, SyntheticWeightsAreDeterministicPerSeed) {
  EngineConfig c;
  c.model = attnbench::findModel("llama-2-7b");
  c.model.layers = 1;
  c.model.hidden = 256;
  c.model.heads = 4;
  c.model.kv_heads = 4;
  c.model.head_dim = 64;
  c.model.ffn = 128;
  c.model.vocab = 64;
  c.dtype = attnbench::kernels::DType::F32;
  c.max_tokens = 4;
  c.max_step_tokens = 4;
  const auto tokens = syntheticTokens(4, c.model.vocab, 1);
  const auto run = [&](std::uint64_t seed) {
    c.seed = seed;
    auto e = makeEngine(c);
    e->forward(tokens, 4);
    return e->logits();
  };
  const auto a = run(1);
  EXPECT_EQ(a, run(1));
  EXPECT_NE(a, run(2));
  EXPECT_GT(*std::max_element(a.begin(), a.end()), 0.1f);
}

TEST(Engine, RejectsWhatItCannotRun) {
  EngineConfig c;
  c.model = attnbench::findModel("llama-2-7b");
  c.max_tokens = 16;
  c.max_step_tokens = 16;
  c.dtype = attnbench::kernels::DType::F16;
  EXPECT_NE(unsupportedReason(c).find("the CPU engine stores fp32"), std::string::npos);
  EXPECT_THROW((void)predictMemory(c), InputError);
  c.device = EngineDevice::Cuda;
  c.max_step_tokens = 17;
  EXPECT_FALSE(unsupportedReason(c).empty());
  c.max_step_tokens = 16;
  c.page_size = 8;
  EXPECT_NE(unsupportedReason(c).find("16 to 256 tokens"), std::string::npos) << unsupportedReason(c);
  c.page_size = 16;
  c.attention = AttentionChoice::Standard;
  EXPECT_NE(unsupportedReason(c).find("flash kernels only"), std::string::npos) << unsupportedReason(c);
  EXPECT_EQ(syntheticTokens(5, 100, 9), syntheticTokens(5, 100, 9));
  for (const auto t : syntheticTokens(1000, 37, 4)) ASSERT_TRUE(t >= 0 && t < 37);
  const std::vector<float> logits = {0.f, 3.f, 3.f, 1.f, 5.f, -1.f, 5.f, 2.f};
  EXPECT_EQ(argmaxTokens(logits, 2, 4), (std::vector<std::int32_t>{1, 0}));
}

#ifdef ATTNBENCH_TEST_TRAINS_TOKENIZER
TEST(Tokenizer, TinySentencePieceModelFeedsTheEngine) {
  ASSERT_TRUE(tokenizerAvailable());
  const fs::path dir = fs::temp_directory_path() / ("attnbench_spm_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream text(dir / "corpus.txt");
    const char* words[] = {"attention", "flash", "kernel", "memory", "tile", "softmax", "query", "key", "value", "cache"};
    for (int i = 0; i < 400; ++i) text << words[i % 10] << " " << words[(i * 7) % 10] << " " << words[(i * 3) % 10] << "\n";
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      {{"input", (dir / "corpus.txt").string()}, {"model_prefix", (dir / "tiny").string()}, {"vocab_size", "48"},
       {"model_type", "bpe"}, {"num_threads", "1"}, {"bos_id", "1"}, {"eos_id", "2"}, {"unk_id", "0"},
       {"minloglevel", "2"}});
  ASSERT_TRUE(status.ok()) << status.ToString();
  const std::string model = (dir / "tiny.model").string();
  const auto ids = tokenize(model, "flash attention cache");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1) << "BOS first";
  sentencepiece::SentencePieceProcessor processor;
  ASSERT_TRUE(processor.Load(model).ok());
  std::string decoded;
  ASSERT_TRUE(processor.Decode(std::vector<int>(ids.begin() + 1, ids.end()), &decoded).ok());
  EXPECT_EQ(decoded, "flash attention cache");

  const auto ckpt = writeTinyCheckpoint("spm", "BF16", false);
  EngineConfig c = tinyConfig(ckpt, EngineDevice::Cpu, AttentionChoice::Flash);
  c.batch = 1;
  c.max_step_tokens = c.max_tokens;  // a 48-piece vocabulary splits words into many pieces
  ASSERT_LE(ids.size(), static_cast<std::size_t>(c.max_tokens));
  auto engine = makeEngine(c);
  engine->forward(ids, static_cast<int>(ids.size()));
  const Agreement a = compare(engine->logits(), {ids}, makeTinyWeights(true), false);
  EXPECT_LT(a.max_abs_diff, 1e-4 * a.max_abs_ref);
  EXPECT_THROW((void)tokenize((dir / "corpus.txt").string(), "x"), InputError);
  fs::remove_all(dir);
  fs::remove_all(ckpt);
}
#else
TEST(Tokenizer, WithoutSentencePieceSaysSo) {
  if (tokenizerAvailable()) GTEST_SKIP() << "built with SentencePiece, but the test has no trainer library";
  try {
    (void)tokenize("tokenizer.model", "hello");
    ADD_FAILURE() << "tokenized without a tokenizer";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no SentencePiece"), std::string::npos) << e.what();
  }
}
#endif

#ifdef ATTNBENCH_HAVE_CUDA
bool haveGpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

class CudaEngineTest : public ::testing::TestWithParam<AttentionChoice> {};

TEST_P(CudaEngineTest, Fp16LogitsMatchTheFp64Reference) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const auto dir = writeTinyCheckpoint("cuda", "F16", true);
  for (const bool graph : {false, true}) {
    EngineConfig c = tinyConfig(dir, EngineDevice::Cuda, GetParam());
    c.cuda_graph = graph;
    auto engine = makeEngine(c);
    const MemoryBreakdown predicted = predictMemory(c);
    EXPECT_EQ(predicted.total(), engine->allocated().total());
    const Agreement a = runAgainstReference(*engine, makeTinyWeights(true), false);
    EXPECT_GT(a.max_abs_ref, 0.5);
    // fp16 storage of activations and weights: about 3 significant digits.
    EXPECT_LT(a.max_abs_diff, 0.01 * a.max_abs_ref) << "graph " << graph;
    EXPECT_GE(a.top1_matches, 2 * 5 - 1) << "graph " << graph;
  }
  fs::remove_all(dir);
}

// Two sequences of 3 tokens: 6 rows, so the prefill too runs the weight-streaming projections with
// their fused RMSNorm and SwiGLU, and the final norm reads every third row.
TEST_P(CudaEngineTest, ShortPromptRunsTheFusedProjections) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const auto dir = writeTinyCheckpoint("short", "F16", true);
  auto engine = makeEngine(tinyConfig(dir, EngineDevice::Cuda, GetParam()));
  const auto prompt = syntheticTokens(2 * 3, kVocab, 5);
  engine->forward(prompt, 3);
  const std::vector<std::vector<std::int32_t>> seqs = {{prompt.begin(), prompt.begin() + 3}, {prompt.begin() + 3, prompt.end()}};
  const Agreement a = compare(engine->logits(), seqs, makeTinyWeights(true), false);
  EXPECT_GT(a.max_abs_ref, 0.5);
  EXPECT_LT(a.max_abs_diff, 0.01 * a.max_abs_ref);
  EXPECT_GE(a.top1_matches, 1);
  fs::remove_all(dir);
}

TEST_P(CudaEngineTest, GraphReplayEqualsEagerDecode) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const auto dir = writeTinyCheckpoint("graph", "BF16", false);
  std::vector<std::vector<float>> logits;
  for (const bool graph : {false, true}) {
    EngineConfig c = tinyConfig(dir, EngineDevice::Cuda, GetParam());
    c.cuda_graph = graph;
    auto engine = makeEngine(c);
    engine->forward(syntheticTokens(2 * 6, kVocab, 1), 6);
    // Steps one call at a time and several per call: graphs are updated across calls too.
    EXPECT_GT(engine->decode(syntheticTokens(2 * 3, kVocab, 2), 3), 0.0);
    for (int s = 0; s < 4; ++s) engine->decode(syntheticTokens(2, kVocab, 10 + s), 1);
    EXPECT_GT(engine->decode(syntheticTokens(2 * 5, kVocab, 3), 5), 0.0);
    EXPECT_EQ(engine->cacheLength(), 18);
    logits.push_back(engine->logits());
  }
  EXPECT_EQ(logits[0], logits[1]);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Attention, CudaEngineTest, ::testing::Values(AttentionChoice::Flash, AttentionChoice::Standard));

// A paged KV cache on the GPU: the decode kernel reads the pages through the block table, a prefill
// (and the recompute without a cache) a gathered contiguous copy; eager and graph-replayed decode
// steps match the fp64 model as the contiguous cache does, and the contiguous cache's logits.
TEST(CudaEngine, PagedCacheMatchesTheReferenceAndTheContiguousCache) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  const auto dir = writeTinyCheckpoint("cuda_paged", "F16", true);
  for (const bool graph : {false, true}) {
    EngineConfig contiguous = tinyConfig(dir, EngineDevice::Cuda, AttentionChoice::Flash);
    contiguous.cuda_graph = graph;
    const auto want = referenceRunLogits(contiguous);
    for (const int page : {16, 32}) {
      SCOPED_TRACE("page " + std::to_string(page) + (graph ? ", graphs" : ", eager"));
      EngineConfig c = contiguous;
      c.page_size = page;
      const auto got = referenceRunLogits(c);
      ASSERT_EQ(got.size(), want.size());
      double diff = 0, largest = 0;
      for (std::size_t i = 0; i < got.size(); ++i) {
        diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
        largest = std::max(largest, static_cast<double>(std::fabs(want[i])));
      }
      EXPECT_LE(diff, 1e-3 * largest);
      EXPECT_EQ(argmaxTokens(got, 2, kVocab), argmaxTokens(want, 2, kVocab));
    }
  }
  fs::remove_all(dir);
}
#endif

}  // namespace
