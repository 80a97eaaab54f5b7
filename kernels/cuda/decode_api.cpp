// Host side of the decode kernels: support checks, the split count, the dtype dispatch into the
// instantiation files, and standard decode on top of cuda::standardAttention.
#include <cstdint>
#include <string>

#include "attnbench/kernels/cuda_decode.h"
#include "decode_launch.h"

namespace attnbench::kernels::cuda {
namespace {

bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }

bool stridesMultipleOf8(const DecodeParams& p) {
  const std::int64_t strides[] = {p.k_batch_stride, p.k_head_stride, p.k_row_stride,
                                  p.v_batch_stride, p.v_head_stride, p.v_row_stride};
  for (const std::int64_t stride : strides) {
    if (stride % 8 != 0) return false;
  }
  return true;
}

}  // namespace

int flashDecodeSplits(const DecodeParams& params, const DeviceTraits& device) {
  return resolveDecodeSplits(params, device.multiprocessor_count, kDecodeBlocksPerSM);
}

std::string flashDecodeUnsupportedReason(const DecodeParams& params, const DeviceTraits& device) {
  if (std::string reason = decodeShapeUnsupportedReason(params); !reason.empty()) return reason;
  if (params.dtype == DType::F32) return "flash decode stores fp16 or bf16, not fp32";
  if (params.head_dim != 64 && params.head_dim != 128 && params.head_dim != 256) {
    return "flash decode supports head dim 64, 128 and 256, not " + std::to_string(params.head_dim);
  }
  if (params.batch > 65535) return "flash decode takes at most 65535 sequences";
  if (static_cast<std::int64_t>(params.heads_kv) * ((params.rowsPerKvHead() + kDecodeRowsPerBlock - 1) /
                                                    kDecodeRowsPerBlock) > 65535) {
    return "flash decode takes at most 65535 (KV head, row block) pairs";
  }
  if (!stridesMultipleOf8(params)) return "flash decode copies 16-byte chunks: K/V strides must be multiples of 8";
  if (params.kv_lens == nullptr && params.kv_lens_host != nullptr) {
    return "a ragged batch needs its lengths in device memory (kv_lens) for flash decode";
  }
  if (device.sm_major == 0) return "no CUDA device";
  if (device.sm_major < 8) return "flash decode needs sm_80 or newer (cp.async)";
  return {};
}

cudaError_t flashDecode(const DecodeParams& params, cudaStream_t stream) {
  int device = 0;
  if (const cudaError_t status = cudaGetDevice(&device); status != cudaSuccess) return status;
  const DeviceTraits traits = queryDeviceTraits(device);
  if (!flashDecodeUnsupportedReason(params, traits).empty()) return cudaErrorNotSupported;
  if (params.q == nullptr || params.k == nullptr || params.v == nullptr || params.o == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (!aligned16(params.k) || !aligned16(params.v)) return cudaErrorMisalignedAddress;
  DecodeParams p = params;
  p.num_splits = flashDecodeSplits(params, traits);
  p.overlapped = params.overlapped && traits.sm_major >= 9;
  if (p.num_splits > 1) {
    if (p.partial_o == nullptr || p.partial_lse == nullptr) return cudaErrorInvalidValue;
    if (!aligned16(p.partial_o)) return cudaErrorMisalignedAddress;
  }
  const bool bf16 = p.dtype == DType::BF16;
  cudaError_t status = bf16 ? detail::runDecodeSplits<DType::BF16>(p, p.num_splits, stream)
                            : detail::runDecodeSplits<DType::F16>(p, p.num_splits, stream);
  if (status != cudaSuccess || p.num_splits == 1 || p.split_counters != nullptr) return status;
  return flashDecodeCombine(p, stream);
}

cudaError_t flashDecodeCombine(const DecodeParams& params, cudaStream_t stream) {
  if (params.num_splits <= 1 || params.num_splits > kMaxDecodeSplits || params.partial_o == nullptr ||
      params.partial_lse == nullptr || params.o == nullptr) {
    return cudaErrorInvalidValue;
  }
  return params.dtype == DType::BF16 ? detail::runDecodeCombine<DType::BF16>(params, stream)
                                     : detail::runDecodeCombine<DType::F16>(params, stream);
}

std::string standardDecodeUnsupportedReason(const DecodeParams& params) {
  if (std::string reason = decodeShapeUnsupportedReason(params); !reason.empty()) return reason;
  if (params.paged()) return "standard decode reads a contiguous KV cache, not a paged one";
  if (params.kv_lens != nullptr && params.kv_lens_host == nullptr) {
    return "standard decode sizes its GEMMs per sequence: a ragged batch needs kv_lens_host";
  }
  for (int b = 0; b < params.batch; ++b) {
    if (decodeKvLenHost(params, b) < 1) return "standard decode needs at least one key per sequence";
  }
  return standardUnsupportedReason(decodeAsAttention(params, 0, params.batch, params.seq_kv));
}

std::size_t standardDecodeWorkspaceBytes(const DecodeParams& params) {
  return standardWorkspaceBytes(decodeAsAttention(params, 0, params.batch, params.seq_kv));
}

cudaError_t standardDecode(const DecodeParams& params, void* workspace, cublasHandle_t cublas, cudaStream_t stream,
                           cublasStatus_t* cublas_status) {
  if (!standardDecodeUnsupportedReason(params).empty()) return cudaErrorNotSupported;
  if (decodeUniformLengths(params)) {
    return standardAttention(decodeAsAttention(params, 0, params.batch, decodeKvLenHost(params, 0)), workspace,
                             cublas, stream, cublas_status);
  }
  const std::size_t slice = standardDecodeWorkspaceBytes(params) / static_cast<std::size_t>(params.batch);
  for (int b = 0; b < params.batch; ++b) {
    const AttentionParams one = decodeAsAttention(params, b, 1, decodeKvLenHost(params, b));
    if (const cudaError_t status = standardAttention(one, static_cast<char*>(workspace) + slice * static_cast<std::size_t>(b), cublas, stream,
                                                     cublas_status);
        status != cudaSuccess) {
      return status;
    }
  }
  return cudaSuccess;
}

}  // namespace attnbench::kernels::cuda
