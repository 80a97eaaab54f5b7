// CUDA attention kernels against an fp64 CPU reference. Every GPU test skips cleanly where there is
// no CUDA device; the support checks (flashUnsupportedReason and friends) run everywhere.
//
// The accuracy rule is flash-attention's: on the same inputs, flash's max error against the fp64
// reference must stay within twice the standard baseline's (plus a small absolute floor), since both
// round through the same storage type (attention_test_support.h). This file holds the mma.sync family's
// tiles, the automatic choice and the standard baseline; hopper_attention_test.cpp the Hopper family.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention_test_support.h"

namespace {

using namespace attnbench::cuda_test;  // NOLINT: the shared test vocabulary

// ---- parameterized accuracy tests -------------------------------------------------------------

class FlashAccuracy : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(FlashAccuracy, MatchesReferenceWithinTwiceStandardError) {
  SKIP_WITHOUT_CUDA_DEVICE();
  expectFlashMatches(GetParam());
}

std::vector<TileShape> tilesForHeadDim(int head_dim) {
  if (head_dim == 256) return {{64, 32}, {64, 64}, {128, 64}};
  return {{64, 64}, {128, 64}, {128, 128}};
}

// Every tile of every head dim and dtype, causal and not, at lengths around the tile edges.
std::vector<AttentionCase> tileSweep() {
  return tileSweepCases(FlashFamily::Sm80, tilesForHeadDim, {1, 17, 127, 128, 1000});
}

// The LLM shape at N = 4096 with GQA 32/8, head dim 128: each tile and the automatic choice.
std::vector<AttentionCase> longSequences() {
  std::vector<AttentionCase> cases;
  for (const DType dtype : {DType::F16, DType::BF16}) {
    for (const TileShape tile : {TileShape{}, TileShape{64, 64}, TileShape{128, 64}, TileShape{128, 128}}) {
      for (const bool causal : {false, true}) {
        AttentionCase c;
        c.dtype = dtype;
        c.tile = tile;
        c.causal = causal;
        c.heads_q = 32;
        c.heads_kv = 8;
        c.seq_q = c.seq_kv = 4096;
        if (!tile.isAuto()) c.family = FlashFamily::Sm80;
        cases.push_back(c);
      }
    }
  }
  for (const int head_dim : {64, 256}) {
    AttentionCase c;
    c.head_dim = head_dim;
    c.causal = true;
    c.heads_q = 8;
    c.heads_kv = 2;
    c.seq_q = c.seq_kv = 4096;
    cases.push_back(c);
  }
  return cases;
}

// Nq != Nk (bottom-right causal alignment, rows that see no key), decode, batches, strided layouts.
std::vector<AttentionCase> unevenShapes() {
  std::vector<AttentionCase> cases;
  const auto add = [&](int batch, int hq, int hkv, int nq, int nk, int d, bool causal, DType dtype, bool interleaved) {
    cases.push_back(makeCase(batch, hq, hkv, nq, nk, d, causal, dtype, interleaved));
  };
  add(1, 2, 1, 100, 1000, 128, true, DType::F16, false);
  add(1, 2, 1, 1000, 100, 128, true, DType::F16, false);  // the first 900 rows see no key
  add(1, 2, 2, 300, 77, 64, true, DType::BF16, false);
  add(1, 4, 1, 1, 4096, 128, false, DType::F16, false);  // decode: one query row
  add(1, 4, 1, 1, 4096, 128, true, DType::BF16, false);
  add(2, 4, 2, 77, 300, 64, false, DType::F16, true);
  add(2, 4, 2, 300, 300, 128, true, DType::BF16, true);
  add(3, 2, 2, 129, 513, 256, true, DType::F16, false);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(TileSweep, FlashAccuracy, ::testing::ValuesIn(tileSweep()), caseName);
INSTANTIATE_TEST_SUITE_P(LongSequence, FlashAccuracy, ::testing::ValuesIn(longSequences()), caseName);
INSTANTIATE_TEST_SUITE_P(UnevenShapes, FlashAccuracy, ::testing::ValuesIn(unevenShapes()), caseName);

// ---- the standard baseline on its own ---------------------------------------------------------

TEST(StandardAttention, Fp32MatchesReference) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const bool causal : {false, true}) {
    AttentionCase c;
    c.dtype = DType::F32;
    c.head_dim = 64;
    c.heads_q = 4;
    c.heads_kv = 2;
    c.seq_q = 300;
    c.seq_kv = 333;
    c.causal = causal;
    const Outcome outcome = Runner(c).run({});
    EXPECT_TRUE(outcome.standard_written);
    EXPECT_LE(outcome.standard_error, 1e-4) << c.name();
  }
}

// The padded score layout (the default) against the dense one, at lengths that are not a multiple
// of 8: both must match the fp64 reference equally well and write every output element.
TEST(StandardAttention, PaddedLayoutMatchesDenseAtUnalignedLengths) {
  SKIP_WITHOUT_CUDA_DEVICE();
  struct Shape {
    int batch, hq, hkv, nq, nk, d;
    bool causal;
    DType dtype;
    bool interleaved;
  };
  const Shape shapes[] = {{1, 4, 4, 1001, 1001, 128, false, DType::F16, false},
                          {1, 4, 4, 1001, 1001, 128, true, DType::F16, false},
                          {1, 8, 2, 300, 777, 64, true, DType::BF16, false},
                          {2, 4, 2, 77, 301, 64, false, DType::F16, true},
                          {1, 2, 1, 129, 333, 64, true, DType::F32, false},
                          {1, 2, 2, 1000, 99, 128, true, DType::F16, false}};
  for (const Shape& s : shapes) {
    AttentionCase c;
    c.batch = s.batch;
    c.heads_q = s.hq;
    c.heads_kv = s.hkv;
    c.seq_q = s.nq;
    c.seq_kv = s.nk;
    c.head_dim = s.d;
    c.causal = s.causal;
    c.dtype = s.dtype;
    c.interleaved = s.interleaved;
    Runner runner(c);
    ASSERT_NE(cuda::standardScoreRowStride(runner.params()), s.nk) << "these lengths must need padding";
    const Outcome outcome = runner.run([&](const AttentionParams& p) {
      const DeviceBuffer workspace(cuda::standardWorkspaceBytes(p, cuda::ScoreLayout::Dense));
      const cudaError_t error =
          cuda::standardAttention(p, workspace.data(), sharedCublas(), nullptr, nullptr, cuda::ScoreLayout::Dense);
      return error == cudaSuccess ? cudaDeviceSynchronize() : error;
    }, false);
    EXPECT_TRUE(outcome.standard_written) << c.name();
    EXPECT_TRUE(outcome.all_written) << c.name();
    EXPECT_LE(outcome.standard_error, 2.0 * outcome.candidate_error + errorFloor(c.dtype)) << c.name();
    EXPECT_LE(outcome.candidate_error, 2.0 * outcome.standard_error + errorFloor(c.dtype)) << c.name();
    EXPECT_LE(outcome.standard_error, grossBound(c.dtype)) << c.name();
  }
}

TEST(StandardAttention, WorkspaceCountsThePadding) {
  AttentionParams p;
  attnbench::kernels::setShape(p, {1, 32, 8, 12345, 12345, 128, false, DType::F16});
  attnbench::kernels::setPackedBhndStrides(p);
  EXPECT_EQ(cuda::standardScoreRowStride(p), 12352);  // 16 bytes = 8 fp16 scores
  EXPECT_EQ(cuda::standardScoreRowStride(p, cuda::ScoreLayout::Dense), 12345);
  const std::size_t scores = std::size_t{32} * 12345 * 12352 * 2;
  const std::size_t kv_copy = std::size_t{8} * 12352 * 128 * 2;  // K and V with zero rows up to 12352
  EXPECT_EQ(cuda::standardWorkspaceBytes(p), scores + 2 * kv_copy);
  EXPECT_EQ(cuda::standardWorkspaceBytes(p, cuda::ScoreLayout::Dense), std::size_t{32} * 12345 * 12345 * 2);

  attnbench::kernels::setShape(p, {1, 2, 1, 129, 333, 64, true, DType::F32});
  EXPECT_EQ(cuda::standardScoreRowStride(p), 336);  // 16 bytes = 4 fp32 scores
  attnbench::kernels::setShape(p, {2, 4, 2, 77, 4096, 64, true, DType::BF16});
  EXPECT_EQ(cuda::standardScoreRowStride(p), 4096);  // aligned already: no copies
  EXPECT_EQ(cuda::standardWorkspaceBytes(p), cuda::standardWorkspaceBytes(p, cuda::ScoreLayout::Dense));
}

TEST(StandardAttention, ReportsUnsupportedShapes) {
  AttentionParams p;
  p.batch = 1;
  p.heads_q = 3;
  p.heads_kv = 2;
  p.seq_q = p.seq_kv = 16;
  p.head_dim = 64;
  attnbench::kernels::setPackedBhndStrides(p);
  EXPECT_NE(cuda::standardUnsupportedReason(p), "");
  p.heads_q = 4;
  EXPECT_EQ(cuda::standardUnsupportedReason(p), "");
  p.seq_q = 0;
  EXPECT_NE(cuda::standardUnsupportedReason(p), "");
}

TEST(StandardAttention, WorkspaceIsTheScoreMatrix) {
  AttentionParams p;
  p.batch = 2;
  p.heads_q = 32;
  p.heads_kv = 8;
  p.seq_q = 4096;
  p.seq_kv = 1024;
  p.head_dim = 128;
  p.dtype = DType::BF16;
  EXPECT_EQ(cuda::standardWorkspaceBytes(p), std::size_t{2} * 32 * 4096 * 1024 * 2);
  p.dtype = DType::F32;
  EXPECT_EQ(cuda::standardWorkspaceBytes(p), std::size_t{2} * 32 * 4096 * 1024 * 4);
}

// ---- support checks (no device needed) --------------------------------------------------------

constexpr cuda::DeviceTraits kT4{7, 5, 64 * 1024, 40};
constexpr cuda::DeviceTraits kA100{8, 0, 163 * 1024, 108};
constexpr cuda::DeviceTraits kRtx4090{8, 9, 99 * 1024, 128};
constexpr cuda::DeviceTraits kH100{9, 0, 227 * 1024, 132};

AttentionParams llmShape(int head_dim, DType dtype) {
  AttentionParams p;
  p.batch = 1;
  p.heads_q = 32;
  p.heads_kv = 8;
  p.seq_q = p.seq_kv = 4096;
  p.head_dim = head_dim;
  p.dtype = dtype;
  attnbench::kernels::setPackedBhndStrides(p);
  return p;
}

TEST(FlashSupport, EveryTileOfEveryHeadDimRunsOnH100) {
  for (const int d : {64, 128, 256}) {
    for (const TileShape tile : tilesForHeadDim(d)) {
      EXPECT_EQ(cuda::flashUnsupportedReason(llmShape(d, DType::F16), tile, kH100, FlashFamily::Sm80), "") << d;
      EXPECT_EQ(cuda::flashUnsupportedReason(llmShape(d, DType::BF16), tile, kH100, FlashFamily::Sm80), "") << d;
    }
  }
}

TEST(FlashSupport, RejectsWithAReason) {
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(128, DType::F32), {}, kH100).find("fp32"), std::string::npos);
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(96, DType::F16), {}, kH100).find("head dim"), std::string::npos);
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(128, DType::BF16), {}, kT4).find("bf16"), std::string::npos);
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(128, DType::F16), {32, 32}, kH100).find("128x64"), std::string::npos);
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(256, DType::F16), {128, 128}, kH100), "");
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(128, DType::F16), {128, 64}, kT4).find("shared memory"),
            std::string::npos);
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(256, DType::F16), {64, 64}, kRtx4090).find("shared memory"),
            std::string::npos);
  EXPECT_NE(cuda::flashUnsupportedReason(llmShape(128, DType::F16), {}, cuda::DeviceTraits{}), "");

  AttentionParams odd_stride = llmShape(128, DType::F16);
  odd_stride.q_row_stride = 130;
  EXPECT_NE(cuda::flashUnsupportedReason(odd_stride, {}, kH100).find("stride"), std::string::npos);
  AttentionParams bad_groups = llmShape(128, DType::F16);
  bad_groups.heads_kv = 5;
  EXPECT_NE(cuda::flashUnsupportedReason(bad_groups, {}, kH100), "");
}

TEST(FlashSupport, AutoTileFitsTheDevice) {
  for (const cuda::DeviceTraits device : {kT4, kA100, kRtx4090, kH100}) {
    for (const int d : {64, 128, 256}) {
      const AttentionParams p = llmShape(d, DType::F16);
      const TileShape tile = cuda::resolveFlashTile(p, {}, device);
      if (d == 256 && device.sm_major == 7) {
        EXPECT_NE(cuda::flashUnsupportedReason(p, {}, device), "") << "no head-dim-256 tile fits 64 KB";
        continue;
      }
      EXPECT_FALSE(tile.isAuto()) << d;
      EXPECT_EQ(cuda::flashUnsupportedReason(p, tile, device), "") << d << " on sm_" << device.sm_major;
    }
  }
  EXPECT_EQ(cuda::resolveFlashTile(llmShape(128, DType::F16), {}, kT4).rows, 64);  // 64x64: the T4 tile
  const TileShape explicit_tile{128, 128};
  EXPECT_EQ(cuda::resolveFlashTile(llmShape(128, DType::F16), explicit_tile, kH100).cols, 128);
}

TEST(FlashSupport, AutoTileTakesShortBlocksWhenTheGridIsSmall) {
  const auto tile_rows = [](int n, bool causal, const cuda::DeviceTraits& device) {
    AttentionParams p = llmShape(128, DType::F16);
    p.heads_kv = p.heads_q;
    p.seq_q = p.seq_kv = n;
    p.causal = causal;
    return cuda::resolveFlashTile(p, {}, device, FlashFamily::Sm80).rows;
  };
  EXPECT_EQ(tile_rows(512, false, kH100), 64);    // 128 blocks of 128 rows < 132 SMs
  EXPECT_EQ(tile_rows(1024, false, kH100), 128);
  EXPECT_EQ(tile_rows(2048, true, kH100), 64);    // causal: fewer than 4 blocks per SM
  EXPECT_EQ(tile_rows(4096, true, kH100), 128);
  cuda::DeviceTraits unknown_size = kH100;
  unknown_size.multiprocessor_count = 0;
  EXPECT_EQ(tile_rows(512, false, unknown_size), 128);
}

TEST(FlashSupport, FlashForwardReturnsAnErrorInsteadOfRunning) {
  AttentionParams p = llmShape(128, DType::F32);  // unsupported everywhere; no pointers needed
  EXPECT_NE(cuda::flashForward(p, {}, nullptr), cudaSuccess);
  static_cast<void>(cudaGetLastError());
}

}  // namespace
