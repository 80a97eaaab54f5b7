// Tensor parallelism: the CPU engine split over 2 and 4 ranks (threads sharing memory) computes the
// logits of the unsplit engine on the tiny checkpoint; degrees that do not split the model evenly are
// refused; a rank's KV cache and memory shrink; the in-process all-reduce sums correctly; on a GPU with
// NCCL, a one-rank communicator all-reduces and an engine that sums through it equals a plain one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>
#include <vector>

#include "attnbench/engine/engine.h"
#include "attnbench/errors.h"
#include "attnbench/model_presets.h"
#include "attnbench/result_fields.h"
#include "engine/collective.h"
#include "engine/engine_internal.h"
#include "tiny_checkpoint.h"

#ifdef ATTNBENCH_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace {

namespace fs = std::filesystem;
using attnbench::InputError;
using attnbench::kernels::DType;
using namespace attnbench::engine;
using namespace attnbench::tiny;

// Prefill of 7 tokens, 4 decode steps (one per call, then 3 in one call), then the whole sequence
// recomputed without a cache: the logits after each, concatenated.
std::vector<float> runSequence(Engine& e) {
  std::vector<float> out;
  const auto keep = [&] {
    const auto l = e.logits();
    out.insert(out.end(), l.begin(), l.end());
  };
  const auto prompt = syntheticTokens(2 * 7, kVocab, 5);
  EXPECT_GT(e.forward(prompt, 7), 0.0);
  keep();
  const auto steps = syntheticTokens(2 * 4, kVocab, 6);
  e.decode(std::span(steps).first(2), 1);
  keep();
  EXPECT_GT(e.decode(std::span(steps).subspan(2), 3), 0.0);
  keep();
  EXPECT_EQ(e.cacheLength(), 11);
  e.setCacheLength(0);
  e.forward(syntheticTokens(2 * 12, kVocab, 7), 12);
  keep();
  return out;
}

// The per-rank times are stored as JSON arrays and read back to the same numbers.
TEST(TensorParallel, RankTimesRoundTripThroughTheResultFields) {
  attnbench::PointResult r;
  r.inference = attnbench::InferenceMetrics{};
  r.inference->rank_ttft_ms = {12.5, 13.0625, 12.75};
  r.inference->rank_decode_ms = {0.1, 0.2};
  for (const char* name : {"rank_ttft_ms", "rank_decode_ms"}) {
    const attnbench::ResultField* f = attnbench::findResultField(name);
    ASSERT_NE(f, nullptr);
    attnbench::PointResult back;
    f->set(back, attnbench::parseFieldText(f->type, attnbench::fieldText(f->get(r))));
    ASSERT_TRUE(back.inference.has_value()) << name;
    EXPECT_EQ(f->get(back), f->get(r)) << name;
  }
  attnbench::PointResult unset;
  attnbench::findResultField("rank_ttft_ms")->set(unset, attnbench::parseFieldText(attnbench::FieldType::Text, ""));
  EXPECT_FALSE(unset.inference.has_value());
}

class CpuTensorParallel : public ::testing::TestWithParam<AttentionChoice> {};

TEST_P(CpuTensorParallel, SplitEnginesGiveTheUnsplitLogits) {
  const auto dir = writeTinyCheckpoint("tp", "BF16", true);
  const auto whole = runSequence(*makeEngine(tinyConfig(dir, EngineDevice::Cpu, GetParam(), 1)));
  double largest = 0;
  for (const float v : whole) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  ASSERT_GT(largest, 0.5) << "degenerate logits";
  // T = 2 splits the 2 KV heads; T = 4 gives each rank one query head, its KV head replicated.
  for (const int t : {2, 4}) {
    auto engine = makeEngine(tinyConfig(dir, EngineDevice::Cpu, GetParam(), t));
    const auto split = runSequence(*engine);
    ASSERT_EQ(split.size(), whole.size());
    double diff = 0;
    for (std::size_t i = 0; i < whole.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(split[i] - whole[i])));
    // Only the order of fp32 sums differs (partial projections summed across ranks).
    EXPECT_LT(diff, 1e-5 * largest) << "T = " << t;
    EXPECT_GT(diff, 0.0) << "T = " << t << ": bit-identical logits suggest the split did not run";
    const auto ms = engine->rankMs();
    ASSERT_EQ(ms.size(), static_cast<std::size_t>(t));
    for (const double m : ms) EXPECT_GT(m, 0.0);
    EXPECT_GT(engine->allReduceMs(2, 3), 0.0);
  }
  auto single = makeEngine(tinyConfig(dir, EngineDevice::Cpu, GetParam(), 1));
  EXPECT_EQ(single->allReduceMs(2, 3), 0.0);
  single->forward(syntheticTokens(2, kVocab, 1), 1);
  EXPECT_EQ(single->rankMs().size(), 1u);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Attention, CpuTensorParallel, ::testing::Values(AttentionChoice::Flash, AttentionChoice::Standard));

TEST(TensorParallel, RefusesDegreesThatDoNotSplitTheModel) {
  EngineConfig c;
  c.model = attnbench::findModel("llama-2-7b");
  c.model.layers = 1;
  c.model.hidden = 384;
  c.model.heads = 6;
  c.model.kv_heads = 2;
  c.model.head_dim = 64;
  c.model.ffn = 96;
  c.model.vocab = 64;
  c.dtype = DType::F32;
  c.max_tokens = c.max_step_tokens = 4;
  const auto reason = [&](int t) {
    c.tensor_parallel = t;
    return unsupportedReason(c);
  };
  EXPECT_EQ(reason(2), "");
  EXPECT_EQ(reason(6), "");  // 6 ranks: one query head each, each KV head held by 3 ranks
  EXPECT_NE(reason(4).find("does not divide llama-2-7b's 6 query heads"), std::string::npos) << reason(4);
  EXPECT_NE(reason(3).find("neither divides llama-2-7b's 2 KV heads nor is a multiple"), std::string::npos) << reason(3);
  c.model.ffn = 97;
  EXPECT_NE(reason(2).find("does not divide llama-2-7b's MLP width 97"), std::string::npos) << reason(2);
  EXPECT_NE(reason(0).find("at least 1"), std::string::npos);
  c.tensor_parallel = 3;
  EXPECT_THROW(makeEngine(c), InputError);
  EXPECT_THROW((void)predictMemory(c), InputError);
}

TEST(TensorParallel, RankMemoryShrinks) {
  const auto dir = writeTinyCheckpoint("tp_mem", "F16", false);
  const MemoryBreakdown one = predictMemory(tinyConfig(dir, EngineDevice::Cpu, AttentionChoice::Flash, 1));
  for (const int t : {2, 4}) {
    const EngineConfig c = tinyConfig(dir, EngineDevice::Cpu, AttentionChoice::Flash, t);
    const MemoryBreakdown rank = predictMemory(c);
    const MemoryBreakdown got = makeEngine(c)->allocated();
    EXPECT_EQ(rank.weights, got.weights);
    EXPECT_EQ(rank.kv_cache, got.kv_cache);
    EXPECT_EQ(rank.activations, got.activations);
    // KV heads split over min(T, 2) ranks (replicated beyond).
    EXPECT_EQ(rank.kv_cache, one.kv_cache / static_cast<std::uint64_t>(std::min(t, kKvHeads)));
    // The embedding, the norms and the LM head stay whole on every rank; Q, the output projection and
    // the MLP are split T ways, K and V min(T, 2) ways.
    const std::uint64_t replicated = (2ULL * kVocab * kHidden + (2ULL * kLayers + 1) * kHidden) * 4;
    const std::uint64_t q_o_mlp = (2ULL * kHeads * kHeadDim + 3ULL * kFfn) * kHidden * kLayers * 4;
    const std::uint64_t k_v = 2ULL * kKvHeads * kHeadDim * kHidden * kLayers * 4;
    ASSERT_EQ(one.weights, replicated + q_o_mlp + k_v);
    EXPECT_EQ(rank.weights, replicated + q_o_mlp / t + k_v / static_cast<std::uint64_t>(std::min(t, kKvHeads)));
  }
  // Llama-2-7B on GPUs, one rank of 8: the KV cache 1/8, with the replicated embedding and LM head.
  EngineConfig c;
  c.model = attnbench::findModel("llama-2-7b");
  c.device = EngineDevice::Cuda;
  c.dtype = DType::F16;
  c.max_tokens = c.max_step_tokens = 512;
  c.tensor_parallel = 8;
  if (!unsupportedReason(rankConfig(c)).empty()) GTEST_SKIP() << "no CUDA backend in this build";
  c.tensor_parallel = 1;
  const MemoryBreakdown full = predictMemory(c);
  c.tensor_parallel = 8;
  const MemoryBreakdown rank = predictMemory(rankConfig(c));
  EXPECT_EQ(rank.kv_cache * 8, full.kv_cache);
  EXPECT_LT(rank.weights * 6, full.weights);  // 1/8 of the layers, plus 2 x 32000 x 4096 x 2 bytes replicated
  EXPECT_GT(rank.weights * 8, full.weights);
  fs::remove_all(dir);
}

TEST(InProcessCollective, EveryRankGetsTheSumAndAnAbortWakesTheOthers) {
  constexpr int kRanks = 3;
  constexpr std::size_t kCount = 1000;  // not a multiple of the ranks: the last slice is shorter
  auto ranks = attnbench::engine::detail::makeInProcessCollectives(kRanks);
  std::vector<std::vector<float>> data(kRanks, std::vector<float>(kCount));
  for (int r = 0; r < kRanks; ++r) {
    for (std::size_t i = 0; i < kCount; ++i) data[r][i] = static_cast<float>((r + 1) * 1000 + static_cast<int>(i));
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      for (int repeat = 0; repeat < 2; ++repeat) ranks[r]->allReduceSum(data[r].data(), kCount, DType::F32, nullptr);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < kRanks; ++r) {
    for (std::size_t i = 0; i < kCount; ++i) {
      // First sum: 6000 + 3i; the second sums three copies of it.
      ASSERT_EQ(data[r][i], 3.0f * (6000.0f + 3.0f * static_cast<float>(i))) << "rank " << r << " element " << i;
    }
  }
  std::thread waiting([&] {
    EXPECT_THROW(ranks[1]->allReduceSum(data[1].data(), kCount, DType::F32, nullptr),
                 attnbench::engine::detail::RankAborted);
  });
  ranks[0]->abort();
  waiting.join();
  EXPECT_THROW(ranks[2]->allReduceSum(data[2].data(), kCount, DType::F16, nullptr), InputError);
}

#ifdef ATTNBENCH_HAVE_CUDA
bool haveGpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

// NCCL with one rank: the communicator initializes, the all-reduce leaves every element as it was
// (the sum over one rank), in each dtype the engine stores.
TEST(NcclCollective, OneRankInitializesAndAllReduces) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  if (!gpuCollectivesAvailable()) GTEST_SKIP() << gpuCollectivesDescription();
  auto ranks = attnbench::engine::detail::makeNcclCollectives({0});
  ASSERT_EQ(ranks.size(), 1u);
  EXPECT_EQ(ranks[0]->size(), 1);
  constexpr std::size_t kCount = 4099;
  std::vector<float> host(kCount), back(kCount, -1.0f);
  for (std::size_t i = 0; i < kCount; ++i) host[i] = static_cast<float>(i % 97) - 48.0f;
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, kCount * sizeof(float)), cudaSuccess);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), kCount * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ranks[0]->allReduceSum(device, kCount, DType::F32, stream);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(back.data(), device, kCount * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);
  cudaStreamDestroy(stream);
  cudaFree(device);
  std::printf("  %s, one rank on cuda:0\n", gpuCollectivesDescription().c_str());
}

// A CUDA engine that is rank 0 of a one-rank NCCL group runs both all-reduces of every layer (in
// eager steps and inside captured decode graphs) and must give the plain engine's logits exactly.
TEST(NcclCollective, OneRankEngineEqualsThePlainEngine) {
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
  if (!gpuCollectivesAvailable()) GTEST_SKIP() << gpuCollectivesDescription();
  const auto dir = writeTinyCheckpoint("tp_nccl", "F16", false);
  for (const bool graph : {false, true}) {
    EngineConfig c = tinyConfig(dir, EngineDevice::Cuda, AttentionChoice::Flash, 1);
    c.cuda_graph = graph;
    const auto plain = runSequence(*makeEngine(c));
    auto ranks = attnbench::engine::detail::makeNcclCollectives({0});
    auto engine = attnbench::engine::detail::makeCudaEngine(c, {0, 1, ranks[0].get()});
    EXPECT_EQ(runSequence(*engine), plain) << "graph " << graph;
    EXPECT_GT(engine->allReduceMs(2, 5), 0.0);
  }
  fs::remove_all(dir);
}
#endif

}  // namespace
