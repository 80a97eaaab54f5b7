// The Hopper flash family (wgmma, TMA, warp specialisation; sm_90a) against the fp64 reference, with
// the same rule and helpers as the mma.sync family (attention_test_support.h). GPU cases skip without a
// device and report "unsupported here" on anything but compute capability 9.0 or in builds without
// architecture 90; the dispatch checks below run everywhere.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention_test_support.h"

namespace {

using namespace attnbench::cuda_test;  // NOLINT: the shared test vocabulary

class HopperAccuracy : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(HopperAccuracy, MatchesReferenceWithinTwiceStandardError) {
  SKIP_WITHOUT_CUDA_DEVICE();
  expectFlashMatches(GetParam());
}

// The instantiated tiles per head dim: with a separate O buffer (64/128 x 128x128) and with O staged
// in Q's buffer (128x176, both head-dim-256 tiles), so both epilogues are covered.
std::vector<TileShape> hopperTiles(int head_dim) {
  if (head_dim == 256) return {{128, 80}, {128, 64}};
  return {{128, 128}, {128, 176}};
}

// Every tile, head dim and dtype, causal and not, at lengths around the 128-row and key-tile edges.
std::vector<AttentionCase> tileSweep() {
  return tileSweepCases(FlashFamily::Hopper, hopperTiles, {1, 17, 127, 128, 129, 1000});
}

// More work items than SMs (the persistent loop carries pipeline phases from tile to tile), several
// L2 sections in the schedule, GQA,
// Nq != Nk both ways (bottom-right causal alignment; whole query tiles that see no key), decode,
// batches and [B, N, H, D] strides; automatic tile.
std::vector<AttentionCase> shapes() {
  std::vector<AttentionCase> cases;
  const auto add = [&](int batch, int hq, int hkv, int nq, int nk, int d, bool causal, DType dtype, bool interleaved) {
    cases.push_back(makeCase(batch, hq, hkv, nq, nk, d, causal, dtype, interleaved, FlashFamily::Hopper));
  };
  for (const DType dtype : {DType::F16, DType::BF16}) {
    for (const bool causal : {false, true}) {
      add(1, 32, 8, 4096, 4096, 128, causal, dtype, false);
      add(2, 8, 2, 2049, 2049, 64, causal, dtype, false);
      add(1, 8, 2, 2000, 2000, 256, causal, dtype, false);
    }
  }
  add(1, 2, 1, 100, 1000, 128, true, DType::F16, false);
  add(1, 2, 1, 1000, 100, 128, true, DType::F16, false);  // the first 900 rows see no key
  add(1, 2, 1, 1000, 100, 256, true, DType::BF16, false);
  add(1, 2, 2, 300, 77, 64, true, DType::BF16, false);
  add(1, 4, 1, 1, 4096, 128, false, DType::F16, false);  // decode: one query row
  add(1, 4, 1, 1, 4096, 128, true, DType::BF16, false);
  add(2, 4, 2, 77, 300, 64, false, DType::F16, true);
  add(2, 4, 2, 300, 300, 128, true, DType::BF16, true);
  add(3, 2, 2, 129, 513, 256, true, DType::F16, false);
  add(3, 6, 3, 513, 129, 256, false, DType::BF16, true);
  // Small, with more items than SMs (up to 2 per CTA on 132): an item's last P V is held and issued
  // with the next item's first S, also across items of one key tile and across items without keys.
  add(1, 64, 16, 257, 257, 128, true, DType::F16, false);
  add(1, 48, 16, 1000, 100, 128, true, DType::F16, false);
  // K/V of 8 MB per head: the schedule cuts the heads into L2 sections, the last one narrower.
  add(2, 8, 8, 8192, 8192, 256, true, DType::F16, false);
  add(1, 5, 5, 16384, 16384, 128, false, DType::BF16, false);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(TileSweep, HopperAccuracy, ::testing::ValuesIn(tileSweep()), caseName);
INSTANTIATE_TEST_SUITE_P(Shapes, HopperAccuracy, ::testing::ValuesIn(shapes()), caseName);

// ---- dispatch (no device needed) ---------------------------------------------------------------

constexpr cuda::DeviceTraits kA100{8, 0, 163 * 1024, 108};
constexpr cuda::DeviceTraits kH100{9, 0, 227 * 1024, 132};
constexpr cuda::DeviceTraits kBlackwell{10, 0, 227 * 1024, 148};

AttentionParams llmShape(int head_dim) {
  AttentionParams p;
  p.batch = 1;
  p.heads_q = 32;
  p.heads_kv = 8;
  p.seq_q = p.seq_kv = 4096;
  p.head_dim = head_dim;
  attnbench::kernels::setPackedBhndStrides(p);
  return p;
}

TEST(HopperDispatch, AutoPicksHopperOnlyOnSm90BuildsThatHoldIt) {
  for (const int d : {64, 128, 256}) {
    const AttentionParams p = llmShape(d);
    const FlashFamily expected = cuda::hopperFlashCompiled() ? FlashFamily::Hopper : FlashFamily::Sm80;
    EXPECT_EQ(cuda::resolveFlashFamily(p, {}, FlashFamily::Auto, kH100), expected) << d;
    EXPECT_EQ(cuda::resolveFlashFamily(p, {}, FlashFamily::Auto, kA100), FlashFamily::Sm80) << d;
    EXPECT_EQ(cuda::resolveFlashFamily(p, {}, FlashFamily::Auto, kBlackwell), FlashFamily::Sm80) << d;
    EXPECT_EQ(cuda::resolveFlashFamily(p, {}, FlashFamily::Sm80, kH100), FlashFamily::Sm80) << d;
    EXPECT_EQ(cuda::resolveFlashFamily(p, {}, FlashFamily::Hopper, kA100), FlashFamily::Hopper) << d;
  }
  // An explicit tile that only the mma.sync family has keeps the request on that family.
  EXPECT_EQ(cuda::resolveFlashFamily(llmShape(128), {128, 64}, FlashFamily::Auto, kH100), FlashFamily::Sm80);
}

TEST(HopperDispatch, ReasonsNameTheLimit) {
  const AttentionParams p = llmShape(128);
  if (cuda::hopperFlashCompiled()) {
    EXPECT_EQ(cuda::flashUnsupportedReason(p, {}, kH100, FlashFamily::Hopper), "");
    for (const int d : {64, 128, 256}) {
      for (const TileShape tile : hopperTiles(d)) {
        EXPECT_EQ(cuda::flashUnsupportedReason(llmShape(d), tile, kH100, FlashFamily::Hopper), "") << d;
      }
    }
    EXPECT_NE(cuda::flashUnsupportedReason(p, {}, kA100, FlashFamily::Hopper).find("sm_80"), std::string::npos);
    EXPECT_NE(cuda::flashUnsupportedReason(p, {64, 64}, kH100, FlashFamily::Hopper).find("128x176"),
              std::string::npos);
    cuda::DeviceTraits small_smem = kH100;
    small_smem.smem_per_block_optin = 100 * 1024;
    EXPECT_NE(cuda::flashUnsupportedReason(p, {}, small_smem, FlashFamily::Hopper).find("shared memory"),
              std::string::npos);
    EXPECT_EQ(cuda::resolveFlashTile(p, {}, kH100).cols, 128);
    EXPECT_EQ(cuda::resolveFlashTile(llmShape(256), {}, kH100).cols, 80);
  } else {
    EXPECT_NE(cuda::flashUnsupportedReason(p, {}, kH100, FlashFamily::Hopper).find("Hopper"), std::string::npos);
  }
  AttentionParams fp32 = p;
  fp32.dtype = DType::F32;
  EXPECT_NE(cuda::flashUnsupportedReason(fp32, {}, kH100, FlashFamily::Hopper).find("fp32"), std::string::npos);
}

TEST(HopperDispatch, ThisDeviceRunsHopperWhereItCan) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const cuda::DeviceTraits device = cuda::queryDeviceTraits(0);
  const bool sm90 = device.sm_major == 9 && device.sm_minor == 0;
  const FlashFamily family = cuda::resolveFlashFamily(llmShape(128), {}, FlashFamily::Auto, device);
  EXPECT_EQ(family == FlashFamily::Hopper, sm90 && cuda::hopperFlashCompiled());
}

}  // namespace
