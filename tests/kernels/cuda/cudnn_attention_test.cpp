// cuDNN SDPA (cudnn_attention.h) against the fp64 reference, with the standard baseline's error as
// the budget (attention_test_support.h). Accuracy tests skip without a CUDA device, without a
// libcudnn at run time, in a build without cuDNN, or below sm_80; the reasons and the API's
// behaviour without any of those are tested everywhere.
#include "attention_test_support.h"

#include "attnbench/kernels/cudnn_attention.h"

namespace {

using namespace attnbench::cuda_test;  // NOLINT: the shared test vocabulary

// Why the accuracy tests cannot run here; empty when they can.
std::string cudnnTestSkipReason() {
  if (!cudaDeviceAvailable()) return "no CUDA device";
  if (cuda::cudnnVersion().empty()) return "no libcudnn at run time (" + cuda::cudnnBuildInfo() + ")";
  if (cuda::queryDeviceTraits(0).sm_major < 8) return "cuDNN SDPA needs sm_80";
  return {};
}

#define SKIP_WITHOUT_CUDNN()                                                          \
  if (const std::string skip_reason = cudnnTestSkipReason(); !skip_reason.empty()) \
  GTEST_SKIP() << skip_reason

struct CudnnCase {
  AttentionCase shape;
  bool with_lse = false;  // the statistics output (LSE) too; the timed configuration leaves it off
};

// Runs cuDNN on its own workspace, synchronously, and returns its status (cuDNN's message on failure).
// Every shape these tests run is inside cuDNN's SDPA support: a reason is a failure, not a skip.
cudaError_t runCudnn(const AttentionParams& p) {
  if (const std::string reason = cuda::cudnnUnsupportedReason(p); !reason.empty()) {
    ADD_FAILURE() << "unsupported: " << reason;
    return cudaErrorNotSupported;
  }
  const DeviceBuffer workspace(cuda::cudnnWorkspaceBytes(p));
  std::string message;
  const cudaError_t error = cuda::cudnnAttention(p, workspace.data(), nullptr, &message);
  EXPECT_EQ(error, cudaSuccess) << message;
  return error == cudaSuccess ? cudaDeviceSynchronize() : error;
}

class CudnnAccuracy : public ::testing::TestWithParam<CudnnCase> {};

TEST_P(CudnnAccuracy, MatchesReferenceWithinTwiceStandardError) {
  SKIP_WITHOUT_CUDNN();
  const CudnnCase& c = GetParam();
  expectCandidateMatches(Runner(c.shape).run(runCudnn, c.with_lse), c.shape.dtype, "cudnn");
}

std::string cudnnCaseName(const ::testing::TestParamInfo<CudnnCase>& info) {
  return info.param.shape.name() + (info.param.with_lse ? "_lse" : "");
}

// Every head dim and dtype, causal and not, at odd and even lengths; with and without LSE.
std::vector<CudnnCase> headDimSweep() {
  std::vector<CudnnCase> cases;
  for (const DType dtype : {DType::F16, DType::BF16}) {
    for (const int d : {64, 128, 256}) {
      for (const bool causal : {false, true}) {
        for (const int n : {17, 128, 1001}) {
          cases.push_back({makeCase(1, 2, 1, n, n, d, causal, dtype), n == 1001});
        }
      }
    }
  }
  return cases;
}

// The LLM shape with GQA 32/8 at N = 4096 and an odd 3001; Nq != Nk (bottom-right causal with
// Nq < Nk), decode (Nq = 1), batches and [B, N, H, D] strides.
std::vector<CudnnCase> llmAndUnevenShapes() {
  return {
      {makeCase(1, 32, 8, 4096, 4096, 128, false, DType::F16), false},
      {makeCase(1, 32, 8, 4096, 4096, 128, true, DType::F16), false},
      {makeCase(1, 32, 8, 3001, 3001, 128, true, DType::BF16), true},
      {makeCase(1, 2, 1, 100, 1000, 128, true, DType::F16), true},
      {makeCase(1, 2, 1, 1000, 100, 128, false, DType::F16), false},
      {makeCase(1, 4, 1, 1, 4096, 128, false, DType::F16), false},
      {makeCase(1, 4, 1, 1, 4096, 128, true, DType::BF16), false},
      {makeCase(2, 4, 2, 77, 300, 64, false, DType::F16, true), false},
      {makeCase(2, 4, 2, 300, 300, 128, true, DType::BF16, true), true},
      {makeCase(3, 2, 2, 129, 513, 256, true, DType::F16), false},
  };
}

INSTANTIATE_TEST_SUITE_P(HeadDims, CudnnAccuracy, ::testing::ValuesIn(headDimSweep()), cudnnCaseName);
INSTANTIATE_TEST_SUITE_P(Shapes, CudnnAccuracy, ::testing::ValuesIn(llmAndUnevenShapes()), cudnnCaseName);

AttentionParams llmParams(DType dtype, bool causal, int seq_q, int seq_kv) {
  AttentionParams p;
  attnbench::kernels::setShape(p, {1, 32, 8, seq_q, seq_kv, 128, causal, dtype});
  attnbench::kernels::setPackedBhndStrides(p);
  return p;
}

TEST(CudnnSupport, ReasonsInsteadOfCrashes) {
  EXPECT_FALSE(cuda::cudnnBuildInfo().empty());
  const AttentionParams fp32 = llmParams(DType::F32, false, 512, 512);
  const AttentionParams causal_longer_q = llmParams(DType::F16, true, 1024, 512);
  AttentionParams bad_groups = llmParams(DType::F16, false, 512, 512);
  bad_groups.heads_kv = 5;
  for (const AttentionParams& p : {fp32, causal_longer_q, bad_groups}) {
    const std::string reason = cuda::cudnnUnsupportedReason(p);
    EXPECT_NE(reason, "");
    EXPECT_EQ(reason.find('\n'), std::string::npos) << "one line: " << reason;
    EXPECT_EQ(cuda::cudnnWorkspaceBytes(p), 0u);
    std::string error;
    EXPECT_EQ(cuda::cudnnAttention(p, nullptr, nullptr, &error), cudaErrorNotSupported);
    EXPECT_EQ(error, reason);
  }
  if (cuda::cudnnBuildInfo() != "built without cuDNN") {
    EXPECT_NE(cuda::cudnnUnsupportedReason(fp32).find("fp32"), std::string::npos);
    EXPECT_NE(cuda::cudnnUnsupportedReason(causal_longer_q).find("Nq <= Nk"), std::string::npos);
  }
  static_cast<void>(cudaGetLastError());
}

TEST(CudnnSupport, NoGpuOrNoLibcudnnGivesAReason) {
  if (cudnnTestSkipReason().empty()) GTEST_SKIP() << "cuDNN runs here";
  const AttentionParams p = llmParams(DType::F16, false, 512, 512);
  const std::string reason = cuda::cudnnUnsupportedReason(p);
  EXPECT_NE(reason, "");
  EXPECT_EQ(cuda::cudnnWorkspaceBytes(p), 0u);
  std::string error;
  EXPECT_EQ(cuda::cudnnAttention(p, nullptr, nullptr, &error), cudaErrorNotSupported);
  EXPECT_EQ(error, reason);
  static_cast<void>(cudaGetLastError());
}

TEST(CudnnSupport, LlamaShapesAreSupportedAndPlansSurviveARelease) {
  SKIP_WITHOUT_CUDNN();
  for (const DType dtype : {DType::F16, DType::BF16}) {
    for (const bool causal : {false, true}) {
      for (const int n : {2048, 12345}) {
        EXPECT_EQ(cuda::cudnnUnsupportedReason(llmParams(dtype, causal, n, n)), "") << n;
      }
    }
  }
  EXPECT_NE(cuda::cudnnVersion(), "");
  cuda::cudnnReleasePlans();
  const AttentionCase c = makeCase(1, 4, 2, 257, 257, 128, true, DType::F16);
  const Outcome outcome = Runner(c).run(runCudnn, false);
  EXPECT_TRUE(outcome.all_written);
  EXPECT_LE(outcome.candidate_error, 2.0 * outcome.standard_error + errorFloor(c.dtype));
}

TEST(CudnnSupport, RefusesMisalignedPointers) {
  SKIP_WITHOUT_CUDNN();
  AttentionParams p = llmParams(DType::F16, false, 256, 256);
  const DeviceBuffer q(std::size_t{32} * 256 * 128 * 2 + 16);
  const DeviceBuffer kv(std::size_t{8} * 256 * 128 * 2);
  const DeviceBuffer o(std::size_t{32} * 256 * 128 * 2);
  const DeviceBuffer workspace(cuda::cudnnWorkspaceBytes(p));
  p.q = static_cast<const char*>(q.data()) + 2;
  p.k = p.v = kv.data();
  p.o = o.data();
  std::string error;
  EXPECT_EQ(cuda::cudnnAttention(p, workspace.data(), nullptr, &error), cudaErrorMisalignedAddress);
  EXPECT_NE(error.find("aligned"), std::string::npos);
}

}  // namespace
