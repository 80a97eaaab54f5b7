// CUDA decode kernels against the fp64 reference (tests/kernels/decode_reference.h). Flash decode:
// every split count the cases name (one split writes O directly; several go through the combine;
// more splits than tiles leave splits empty), GQA packing at 1, 2, 4, 8 and 16+ query rows per KV head
// (16+ take several row blocks), head dims 64/128/256, paged caches (16- and 256-token pages, shuffled),
// ragged lengths, q_len > 1 causal, rows that see no key. Standard decode on contiguous caches, ragged
// through kv_lens_host (O only: it writes no LSE). Flash runs with the combine kernel and with the
// fused combine (twice: the counters must come back re-armed). O, LSE and the split workspace start
// as NaN; unused cache slots hold NaN.
// GPU tests skip without a CUDA device; the support checks run everywhere.
#include <gtest/gtest.h>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../decode_reference.h"
#include "attention_test_support.h"
#include "attnbench/kernels/cuda_decode.h"

namespace {

using namespace attnbench::kernels;
using attnbench::test::DecodeCase;
using attnbench::test::DecodeProblem;
using attnbench::test::makeCase;
using attnbench::cuda_test::cudaDeviceAvailable;

float roundTo(DType dtype, float x) {
  return dtype == DType::BF16 ? __bfloat162float(__float2bfloat16_rn(x)) : __half2float(__float2half_rn(x));
}

std::vector<std::uint16_t> encode(const std::vector<float>& values, DType dtype) {
  std::vector<std::uint16_t> bits(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::BF16) {
      bits[i] = static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(values[i])).x;
    } else {
      bits[i] = static_cast<__half_raw>(__float2half_rn(values[i])).x;
    }
  }
  return bits;
}

std::vector<double> decode(const std::vector<std::uint16_t>& bits, DType dtype) {
  std::vector<double> values(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (dtype == DType::BF16) {
      __nv_bfloat16_raw raw;
      raw.x = bits[i];
      values[i] = __bfloat162float(__nv_bfloat16(raw));
    } else {
      __half_raw raw;
      raw.x = bits[i];
      values[i] = __half2float(__half(raw));
    }
  }
  return values;
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&data_, std::max<std::size_t>(bytes, 16)) != cudaSuccess) data_ = nullptr;
  }
  template <class T>
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size() * sizeof(T)) {
    if (data_ != nullptr && cudaMemcpy(data_, host.data(), bytes_, cudaMemcpyHostToDevice) != cudaSuccess) {
      cudaFree(data_);
      data_ = nullptr;
    }
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(data_); }
  void* get() const { return data_; }
  template <class T>
  std::vector<T> download() const {
    std::vector<T> host(bytes_ / sizeof(T));
    if (cudaMemcpy(host.data(), data_, bytes_, cudaMemcpyDeviceToHost) != cudaSuccess) host.clear();
    return host;
  }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

enum class Kernel { Flash, Standard };

cuda::DeviceTraits currentDevice() {
  int device = 0;
  cudaGetDevice(&device);
  return cuda::queryDeviceTraits(device);
}

// Runs one kernel on the case; flash runs with both combines (fused: twice, so the second call finds
// the counters the first re-armed). O, LSE and the partials start as NaN before every call.
void runAndCheck(const DecodeCase& c, Kernel kernel) {
  const DType dtype = c.shape.dtype;
  const DecodeProblem t = attnbench::test::makeDecodeProblem(c, [&](float x) { return roundTo(dtype, x); });
  const float nan = std::numeric_limits<float>::quiet_NaN();
  DeviceBuffer q(encode(t.q, dtype)), k(encode(t.k, dtype)), v(encode(t.v, dtype));
  DeviceBuffer o(t.q.size() * 2), lse(t.lse_ref.size() * sizeof(float));
  DeviceBuffer lens(t.kv_lens), table(t.block_table);
  ASSERT_NE(o.get(), nullptr);
  DecodeParams p = t.params;
  p.q = q.get(), p.k = k.get(), p.v = v.get(), p.o = o.get();
  if (p.kv_lens_host != nullptr) p.kv_lens = static_cast<const int*>(lens.get());
  if (p.paged()) p.block_table = static_cast<const int*>(table.get());
  const std::vector<std::uint16_t> poisoned_o = encode(std::vector<float>(t.q.size(), nan), dtype);
  const std::vector<float> poisoned_lse(t.lse_ref.size(), nan);

  // Poisons the outputs, runs `launch`, checks O (and LSE when `with_lse`).
  const auto check = [&](const char* what, bool with_lse, auto&& launch) {
    SCOPED_TRACE(::testing::Message() << c.name() << " " << what);
    ASSERT_EQ(cudaMemcpy(o.get(), poisoned_o.data(), poisoned_o.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(lse.get(), poisoned_lse.data(), poisoned_lse.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(launch(), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LE(attnbench::test::maxError(decode(o.download<std::uint16_t>(), dtype), t.o_ref),
              attnbench::test::decodeTolerance(dtype));
    if (with_lse) {
      const std::vector<float> got = lse.download<float>();
      EXPECT_LE(attnbench::test::maxError(std::vector<double>(got.begin(), got.end()), t.lse_ref), 1e-3);
    }
  };

  if (kernel == Kernel::Standard) {
    ASSERT_EQ(cuda::standardDecodeUnsupportedReason(p), "");
    DeviceBuffer workspace(cuda::standardDecodeWorkspaceBytes(p));
    cublasHandle_t cublas = nullptr;
    ASSERT_EQ(cublasCreate(&cublas), CUBLAS_STATUS_SUCCESS);
    check("standard", false, [&] { return cuda::standardDecode(p, workspace.get(), cublas, nullptr); });
    cublasDestroy(cublas);
    return;
  }
  const cuda::DeviceTraits device = currentDevice();
  ASSERT_EQ(cuda::flashDecodeUnsupportedReason(p, device), "");
  const int splits = cuda::flashDecodeSplits(p, device);
  if (c.splits > 0) {
    EXPECT_EQ(splits, c.splits);
  }
  p.lse = static_cast<float*>(lse.get());
  for (const DecodeCombine combine : {DecodeCombine::Kernel, DecodeCombine::Fused}) {
    const std::size_t bytes = decodeWorkspaceBytes(p, splits);
    DeviceBuffer workspace(std::vector<float>(bytes / sizeof(float), nan));
    setDecodeWorkspace(p, splits, workspace.get(), combine);
    if (p.split_counters != nullptr) {
      ASSERT_EQ(cudaMemset(p.split_counters, 0, static_cast<std::size_t>(decodeBlocksPerSplit(p)) * sizeof(int)),
                cudaSuccess);
    }
    const bool fused = combine == DecodeCombine::Fused;
    for (int call = 0; call < (fused && splits > 1 ? 2 : 1); ++call) {
      check(fused ? "flash, fused combine" : "flash, combine kernel", true, [&] { return cuda::flashDecode(p, nullptr); });
    }
    if (p.split_counters != nullptr) {
      std::vector<int> counters(static_cast<std::size_t>(decodeBlocksPerSplit(p)), -1);
      ASSERT_EQ(cudaMemcpy(counters.data(), p.split_counters, counters.size() * sizeof(int), cudaMemcpyDeviceToHost),
                cudaSuccess);
      EXPECT_EQ(std::count(counters.begin(), counters.end(), 0), static_cast<std::ptrdiff_t>(counters.size()))
          << "every counter re-armed";
    }
  }
}

TEST(CudaDecode, FlashEverySplitCountAndHeadDim) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const int head_dim : {64, 128, 256}) {
    for (const int splits : {1, 2, 5, 0}) {
      runAndCheck(makeCase(DType::F16, 2, 8, 2, 1, 700, 0, splits, {}, head_dim), Kernel::Flash);
    }
  }
  runAndCheck(makeCase(DType::BF16, 1, 8, 8, 1, 1000, 0, 0), Kernel::Flash);
}

TEST(CudaDecode, FlashGqaRowBlocksAndCausalQueryRows) {
  SKIP_WITHOUT_CUDA_DEVICE();
  // Rows per KV head: 1 (MHA), 2, 4, 8, 16 (two row blocks), 32 (MQA, q_len 4 x G 8), 3 (a partial block),
  // 64 (q_len 16 x G 4: eight row blocks, the longest causal run of new rows).
  const struct {
    int heads_q, heads_kv, q_len;
  } groups[] = {{4, 4, 1}, {4, 2, 1}, {8, 2, 1}, {8, 2, 2}, {8, 2, 4}, {8, 1, 4}, {3, 1, 1}, {8, 2, 16}};
  for (const auto& g : groups) {
    for (const DType dtype : {DType::F16, DType::BF16}) {
      runAndCheck(makeCase(dtype, 2, g.heads_q, g.heads_kv, g.q_len, 300, 0, 3, {300, 150}), Kernel::Flash);
    }
  }
}

TEST(CudaDecode, FlashPagedRagged) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const int page : {16, 256}) {
    for (const int q_len : {1, 5}) {
      for (const int splits : {1, 4, 0}) {
        // From fewer keys than new rows (rows that see nothing) to several pages.
        runAndCheck(makeCase(DType::BF16, 4, 8, 2, q_len, 1100, page, splits, {2, 1100, 513, 64}), Kernel::Flash);
      }
    }
  }
}

TEST(CudaDecode, FlashMoreSplitsThanTiles) {
  SKIP_WITHOUT_CUDA_DEVICE();
  // 40 splits over 100 and 30 keys: one or two 64-key tiles carry keys, the other splits are empty.
  runAndCheck(makeCase(DType::F16, 2, 8, 8, 1, 100, 0, 40, {100, 30}), Kernel::Flash);
}

TEST(CudaDecode, StandardMatchesReferenceUniformAndRagged) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const DType dtype : {DType::F16, DType::BF16}) {
    runAndCheck(makeCase(dtype, 2, 8, 2, 1, 600, 0, 0), Kernel::Standard);
    runAndCheck(makeCase(dtype, 3, 8, 2, 4, 300, 0, 0, {300, 17, 90}), Kernel::Standard);
  }
}

TEST(CudaDecode, SupportChecks) {
  const cuda::DeviceTraits hopper{9, 0, 232448, 132};
  DecodeCase c = makeCase(DType::F16, 2, 8, 2, 1, 64, 16, 0, {64, 20});
  const DecodeProblem t = attnbench::test::makeDecodeProblem(c, [](float x) { return x; });
  DecodeParams p = t.params;
  EXPECT_NE(cuda::standardDecodeUnsupportedReason(p), "");  // paged
  EXPECT_NE(cuda::flashDecodeUnsupportedReason(p, hopper), "");  // ragged lengths only on the host
  int lens_placeholder[2] = {64, 20};
  p.kv_lens = lens_placeholder;
  EXPECT_EQ(cuda::flashDecodeUnsupportedReason(p, hopper), "");
  p.head_dim = 96;
  EXPECT_NE(cuda::flashDecodeUnsupportedReason(p, hopper), "");
  p.head_dim = 128;
  p.dtype = DType::F32;
  EXPECT_NE(cuda::flashDecodeUnsupportedReason(p, hopper), "");
  p.dtype = DType::BF16;
  EXPECT_NE(cuda::flashDecodeUnsupportedReason(p, cuda::DeviceTraits{7, 5, 65536, 40}), "");
  EXPECT_EQ(cuda::flashDecodeSplits(p, hopper), decodeSplitHeuristic(p, 132, kDecodeBlocksPerSM));
}

}  // namespace
