// CPU decode kernels against the fp64 reference (tests/kernels/decode_reference.h): flash decode at
// every split count the cases name (1, several, more splits than keys so some are empty, the
// heuristic), GQA packing, paged caches, ragged lengths, q_len > 1 with the causal mask, rows that see
// no key; O, LSE and the split workspace poisoned with NaN before each run. Standard decode on the
// contiguous cases. Plus the split heuristic and the support checks.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>
#include <gtest/gtest.h>

#include "../decode_reference.h"
#include "attnbench/kernels/cpu_decode.h"

namespace {

using namespace attnbench::kernels;
using attnbench::test::DecodeCase;
using attnbench::test::DecodeProblem;
using attnbench::test::makeCase;

float roundTo(DType dtype, float x) {
  switch (dtype) {
    case DType::F32: return x;
    case DType::F16: return static_cast<float>(Eigen::half(x));
    case DType::BF16: return static_cast<float>(Eigen::bfloat16(x));
  }
  return x;
}

// Storage bytes of `values` in `dtype`.
std::vector<std::byte> encode(const std::vector<float>& values, DType dtype) {
  std::vector<std::byte> bytes(values.size() * static_cast<std::size_t>(bytesPerElement(dtype)));
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::F32: reinterpret_cast<float*>(bytes.data())[i] = values[i]; break;
      case DType::F16: reinterpret_cast<Eigen::half*>(bytes.data())[i] = Eigen::half(values[i]); break;
      case DType::BF16: reinterpret_cast<Eigen::bfloat16*>(bytes.data())[i] = Eigen::bfloat16(values[i]); break;
    }
  }
  return bytes;
}

std::vector<double> decode(const std::vector<std::byte>& bytes, DType dtype) {
  std::vector<double> values(bytes.size() / static_cast<std::size_t>(bytesPerElement(dtype)));
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::F32: values[i] = reinterpret_cast<const float*>(bytes.data())[i]; break;
      case DType::F16: values[i] = static_cast<float>(reinterpret_cast<const Eigen::half*>(bytes.data())[i]); break;
      case DType::BF16: values[i] = static_cast<float>(reinterpret_cast<const Eigen::bfloat16*>(bytes.data())[i]); break;
    }
  }
  return values;
}

enum class Kernel { Flash, Standard };

// Runs one kernel on the case with every output and the workspace poisoned; checks O and LSE.
void runAndCheck(const DecodeCase& c, Kernel kernel, int threads) {
  SCOPED_TRACE(::testing::Message() << c.name() << (kernel == Kernel::Flash ? " flash" : " standard") << " threads "
                                    << threads);
  const DType dtype = c.shape.dtype;
  DecodeProblem t = attnbench::test::makeDecodeProblem(c, [&](float x) { return roundTo(dtype, x); });
  DecodeParams p = t.params;
  const std::vector<std::byte> q = encode(t.q, dtype), k = encode(t.k, dtype), v = encode(t.v, dtype);
  std::vector<std::byte> o = encode(std::vector<float>(t.q.size(), std::numeric_limits<float>::quiet_NaN()), dtype);
  std::vector<float> lse(t.lse_ref.size(), std::numeric_limits<float>::quiet_NaN());
  p.q = q.data(), p.k = k.data(), p.v = v.data(), p.o = o.data(), p.lse = lse.data();

  std::vector<float> partials;
  std::vector<std::byte> scratch;
  if (kernel == Kernel::Flash) {
    ASSERT_EQ(cpu::flashDecodeUnsupportedReason(p), "");
    const int splits = cpu::flashDecodeSplits(p, threads);
    if (c.splits > 0) {
      EXPECT_EQ(splits, std::min(c.splits, c.shape.seq_kv));
    }
    partials.assign(decodeWorkspaceBytes(p, splits) / sizeof(float), std::numeric_limits<float>::quiet_NaN());
    setDecodeWorkspace(p, splits, partials.data());
    scratch.resize(cpu::flashDecodeScratchBytes(p, threads));
    cpu::flashDecode(p, scratch.data(), threads);
  } else {
    ASSERT_EQ(cpu::standardDecodeUnsupportedReason(p), "");
    std::vector<float> workspace(cpu::standardDecodeWorkspaceBytes(p) / sizeof(float) + 1,
                                 std::numeric_limits<float>::quiet_NaN());
    cpu::standardDecode(p, workspace.data(), threads);
  }
  const double o_error = attnbench::test::maxError(decode(o, dtype), t.o_ref);
  EXPECT_LE(o_error, attnbench::test::decodeTolerance(dtype));
  const double lse_error = attnbench::test::maxError(std::vector<double>(lse.begin(), lse.end()), t.lse_ref);
  EXPECT_LE(lse_error, 1e-4);
}

TEST(CpuDecode, FlashMatchesReferenceAtEverySplitCount) {
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (const int splits : {1, 2, 3, 7, 0}) {
      runAndCheck(makeCase(dtype, 2, 8, 2, 1, 300, 0, splits), Kernel::Flash, 3);
    }
  }
}

TEST(CpuDecode, FlashPagedRaggedGqaCausal) {
  for (const DType dtype : {DType::F32, DType::BF16}) {
    for (const int page : {16, 64}) {
      for (const int q_len : {1, 4}) {
        for (const int splits : {1, 4}) {
          // Lengths from one key (fewer than q_len: rows that see nothing) to a few pages.
          runAndCheck(makeCase(dtype, 4, 8, 2, q_len, 333, page, splits, {1, 333, 130, 64}), Kernel::Flash, 2);
        }
      }
    }
  }
}

TEST(CpuDecode, FlashMoreSplitsThanKeysAndOddHeadDim) {
  // Seven splits over sequences of 3 and 9 keys: most splits are empty and must combine to nothing.
  runAndCheck(makeCase(DType::F32, 2, 4, 4, 2, 9, 0, 7, {3, 9}, 40), Kernel::Flash, 4);
  runAndCheck(makeCase(DType::F16, 1, 32, 1, 1, 200, 0, 5, {}, 96), Kernel::Flash, 4);  // MQA: 32 rows per KV head
}

TEST(CpuDecode, FlashResultDoesNotDependOnThreads) {
  for (const int threads : {1, 5}) runAndCheck(makeCase(DType::F16, 3, 4, 2, 3, 257, 32, 0, {257, 100, 5}), Kernel::Flash, threads);
}

TEST(CpuDecode, StandardMatchesReferenceUniformAndRagged) {
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    runAndCheck(makeCase(dtype, 2, 8, 2, 1, 300, 0, 0), Kernel::Standard, 3);
    runAndCheck(makeCase(dtype, 3, 8, 2, 4, 200, 0, 0, {200, 17, 90}), Kernel::Standard, 2);
  }
}

TEST(CpuDecode, SupportChecks) {
  DecodeCase c = makeCase(DType::F16, 1, 8, 2, 1, 64, 16, 0);
  DecodeProblem t = attnbench::test::makeDecodeProblem(c, [](float x) { return x; });
  DecodeParams p = t.params;
  EXPECT_NE(cpu::standardDecodeUnsupportedReason(p), "");  // paged
  p.seq_q = 17;
  EXPECT_NE(decodeShapeUnsupportedReason(p), "");
  p.seq_q = 1;
  p.page_size = 8;
  EXPECT_NE(decodeShapeUnsupportedReason(p), "");
  p.page_size = 16;
  p.block_table_stride = 3;  // 64 keys need 4 pages of 16
  EXPECT_NE(decodeShapeUnsupportedReason(p), "");
  p.block_table_stride = 4;
  p.heads_kv = 3;
  EXPECT_NE(decodeShapeUnsupportedReason(p), "");
}

TEST(DecodeSplitHeuristic, FillsTheMachineOnlyWhenTheBatchDoesNot) {
  DecodeParams p;
  setShape(p, DecodeShape{{1, 32, 8, 1, 16384, 128, true, DType::BF16}, 0});
  const int llama3 = decodeSplitHeuristic(p, 132, kDecodeBlocksPerSM);
  EXPECT_GE(llama3 * 8, 132 * 2 * 9 / 10);  // 8 blocks without splits: split until ~all 264 slots run
  EXPECT_LE(llama3 * 8, 132 * 2);
  p.batch = 8;
  p.heads_kv = 32;
  EXPECT_EQ(decodeSplitHeuristic(p, 132, kDecodeBlocksPerSM), 1);  // 256 blocks already fill the device
  p.batch = 1;
  p.seq_kv = 200;  // two splits at most keep >= kDecodeMinKeysPerSplit keys each
  EXPECT_LE(decodeSplitHeuristic(p, 132, kDecodeBlocksPerSM), 2);
  p.num_splits = 5;
  EXPECT_EQ(resolveDecodeSplits(p, 132, kDecodeBlocksPerSM), 5);
  p.seq_kv = 3;
  EXPECT_EQ(resolveDecodeSplits(p, 132, kDecodeBlocksPerSM), 3);  // never more splits than keys
}

TEST(DecodeSplitRange, CoversEveryKeyOnceInTileMultiples) {
  for (const int n : {0, 1, 63, 64, 65, 1000, 4097}) {
    for (const int splits : {1, 2, 3, 16}) {
      int next = 0;
      for (int s = 0; s < splits; ++s) {
        const DecodeKeyRange r = decodeSplitRange(n, splits, s, 64);
        EXPECT_EQ(r.begin, next);
        EXPECT_LE(r.begin, r.end);
        if (r.end < n) {
          EXPECT_EQ((r.end - r.begin) % 64, 0);
        }
        next = r.end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

}  // namespace
