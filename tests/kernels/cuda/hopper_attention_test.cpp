// The Hopper flash family (wgmma, TMA, warp specialisation; sm_90a) against the fp64 reference, with
// the same rule and helpers as the mma.sync family (attention_test_support.h). GPU cases skip without a
// device and report "unsupported here" on anything but compute capability 9.0 or in builds without
// architecture 90; the dispatch checks below run everywhere.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
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
  // Small, with more items than SMs (up to 2 per CTA on 132): pipeline phases carried from item to item,
  // also across items of one key tile and across items without keys (causal: claimed at run time).
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


// ---- the dynamic schedule of the causal kernels ----------------------------------------------------

// Causal kernels claim their work items from a counter that each launch zeroes in its own stream (one
// slot per launch). An item's output depends only on its inputs, so every order of claims writes the
// same bits: a launch right after another on one stream, and two launches overlapping on two streams,
// must each write every element of O and LSE (poisoned before) and agree bit for bit with the first.
// An item no CTA claimed stays poisoned (claims are distinct atomicAdd results, so none is taken twice).
TEST(HopperDynamicSchedule, RepeatedAndOverlappingLaunchesWriteEveryItemAlike) {
  SKIP_WITHOUT_CUDA_DEVICE();
  if (cuda::resolveFlashFamily(llmShape(128), {}, FlashFamily::Auto, cuda::queryDeviceTraits(0)) !=
      FlashFamily::Hopper) {
    GTEST_SKIP() << "the Hopper family does not run here";
  }
  struct Shape {
    int batch, heads_q, heads_kv, seq_q, seq_kv, head_dim;
    DType dtype;
  };
  for (const Shape& s : {Shape{1, 16, 16, 16384, 16384, 128, DType::F16},  // L2 sections of at most 10 heads
                         Shape{1, 48, 16, 1000, 100, 128, DType::F16},   // claims of items without keys
                         Shape{3, 6, 2, 3001, 3001, 64, DType::BF16}}) {  // batches, GQA, a partial tile
    std::mt19937_64 rng(static_cast<std::uint64_t>(s.seq_q) * 131u + static_cast<std::uint64_t>(s.heads_q));
    AttentionParams p;
    attnbench::kernels::setShape(p, {s.batch, s.heads_q, s.heads_kv, s.seq_q, s.seq_kv, s.head_dim, true, s.dtype});
    attnbench::kernels::setPackedBhndStrides(p);
    const auto upload = [&](const DeviceBuffer& buffer, int heads, int rows) {
      const HostTensor t = randomTensor(s.batch, heads, rows, s.head_dim, s.dtype, rng);
      EXPECT_TRUE(buffer.upload(encode(t, packedBhndStrides(heads, rows, s.head_dim), s.dtype)));
    };
    const std::size_t out_bytes = std::size_t{2} * s.batch * s.heads_q * s.seq_q * s.head_dim;
    const std::size_t kv_bytes = std::size_t{2} * s.batch * s.heads_kv * s.seq_kv * s.head_dim;
    const std::size_t lse_bytes = sizeof(float) * s.batch * s.heads_q * s.seq_q;
    DeviceBuffer q(out_bytes), k(kv_bytes), v(kv_bytes);
    upload(q, s.heads_q, s.seq_q);
    upload(k, s.heads_kv, s.seq_kv);
    upload(v, s.heads_kv, s.seq_kv);
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();

    // Launch 0 and 1 back to back on one stream, 2 and 3 on two streams at once.
    constexpr int kLaunches = 4;
    std::vector<std::unique_ptr<DeviceBuffer>> outputs, lses;
    cudaStream_t streams[2] = {nullptr, nullptr};
    for (cudaStream_t& stream : streams) ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    for (int i = 0; i < kLaunches; ++i) {
      outputs.push_back(std::make_unique<DeviceBuffer>(out_bytes));
      lses.push_back(std::make_unique<DeviceBuffer>(lse_bytes));
      ASSERT_TRUE(outputs.back()->poison() && lses.back()->poison());
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    for (int i = 0; i < kLaunches; ++i) {
      AttentionParams launch = p;
      launch.o = outputs[static_cast<std::size_t>(i)]->data();
      launch.lse = static_cast<float*>(lses[static_cast<std::size_t>(i)]->data());
      EXPECT_EQ(cuda::flashForward(launch, {}, streams[i < 2 ? 0 : i - 2], FlashFamily::Hopper), cudaSuccess) << i;
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    for (cudaStream_t stream : streams) cudaStreamDestroy(stream);

    const std::vector<unsigned char> first = outputs[0]->download();
    const std::vector<unsigned char> first_lse = lses[0]->download();
    bool written = true;
    for (std::size_t i = 0; i < first.size(); i += 2) {
      if (std::isnan(decodeElement(first.data() + i, s.dtype))) written = false;
    }
    for (std::size_t i = 0; i < first_lse.size(); i += 4) {
      if (std::isnan(decodeElement(first_lse.data() + i, DType::F32))) written = false;
    }
    EXPECT_TRUE(written) << s.seq_q << " x " << s.seq_kv << ": poisoned elements left after the first launch";
    for (int i = 1; i < kLaunches; ++i) {
      EXPECT_TRUE(outputs[static_cast<std::size_t>(i)]->download() == first) << s.seq_q << ": O of launch " << i;
      EXPECT_TRUE(lses[static_cast<std::size_t>(i)]->download() == first_lse) << s.seq_q << ": LSE of launch " << i;
    }
  }
}

}  // namespace
