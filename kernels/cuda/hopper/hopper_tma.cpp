// Tensor maps (TMA descriptors) for the Hopper flash kernel, encoded on the host through the
// driver's cuTensorMapEncodeTiled, reached via the runtime so that nothing links libcuda directly.
#include <cudaTypedefs.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "hopper_launch.h"
#include "hopper_tiles.h"

namespace attnbench::kernels::cuda::hopper {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 function = [] {
    void* entry = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &entry, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      static_cast<void>(cudaGetLastError());
      return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(entry);
  }();
  return function;
}

// [batch, heads, rows, head_dim] 2-byte elements at `base` with element strides; boxes of 64 columns
// (128 bytes, the swizzle width) by `box_rows` rows of one head. Rows past `rows` read as zeros and
// are not written by stores.
bool encode(CUtensorMap& map, const void* base, int head_dim, int rows, int heads, int batch, std::int64_t row_stride,
            std::int64_t head_stride, std::int64_t batch_stride, int box_rows) {
  const auto function = encoder();
  if (function == nullptr) return false;
  const std::array<cuuint64_t, 4> dims{static_cast<cuuint64_t>(head_dim), static_cast<cuuint64_t>(rows),
                                       static_cast<cuuint64_t>(heads), static_cast<cuuint64_t>(batch)};
  const std::array<cuuint64_t, 3> strides{static_cast<cuuint64_t>(row_stride * 2),
                                          static_cast<cuuint64_t>(head_stride * 2),
                                          static_cast<cuuint64_t>(batch_stride * 2)};
  const std::array<cuuint32_t, 4> box{64, static_cast<cuuint32_t>(box_rows), 1, 1};
  const std::array<cuuint32_t, 4> element_strides{1, 1, 1, 1};
  return function(&map, CU_TENSOR_MAP_DATA_TYPE_UINT16, 4, const_cast<void*>(base), dims.data(), strides.data(),
                  box.data(), element_strides.data(), CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                  CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace

KernelParams kernelParams(const AttentionParams& params, int block_m, int l2_bytes, int ctas) {
  KernelParams p;
  p.o = params.o;
  p.lse = params.lse;
  p.o_batch_stride = params.o_batch_stride;
  p.o_head_stride = params.o_head_stride;
  p.o_row_stride = params.o_row_stride;
  p.batch = params.batch;
  p.heads_q = params.heads_q;
  p.group = params.groupSize();
  p.seq_q = params.seq_q;
  p.seq_kv = params.seq_kv;
  p.m_blocks = (params.seq_q + block_m - 1) / block_m;
  p.tiles = p.m_blocks * params.heads_q * params.batch;
  // K and V bytes one query head streams; the heads of a GQA group share them.
  const double kv_bytes_per_head = 4.0 * params.seq_kv * params.head_dim / params.groupSize();
  const double budget = l2_bytes > 0 ? 0.5 * l2_bytes : 25e6;
  double heads = budget / kv_bytes_per_head;
  // Causal items range from one key tile to all of them: a section of at least four rounds of the
  // grid keeps the longest-first order able to even out the CTAs' loads.
  if (params.causal) heads = std::max(heads, std::ceil(4.0 * ctas / p.m_blocks));
  const int all_heads = params.heads_q * params.batch;
  p.section_heads = heads >= all_heads ? all_heads : (heads < 1.0 ? 1 : static_cast<int>(heads));
  p.softmax_scale = params.softmax_scale;
  return p;
}

bool encodeTensorMaps(const AttentionParams& params, int block_m, int block_n, TensorMaps& maps) {
  const AttentionParams& p = params;
  return encode(maps.q, p.q, p.head_dim, p.seq_q, p.heads_q, p.batch, p.q_row_stride, p.q_head_stride,
                p.q_batch_stride, block_m) &&
         encode(maps.k, p.k, p.head_dim, p.seq_kv, p.heads_kv, p.batch, p.k_row_stride, p.k_head_stride,
                p.k_batch_stride, block_n) &&
         encode(maps.v, p.v, p.head_dim, p.seq_kv, p.heads_kv, p.batch, p.v_row_stride, p.v_head_stride,
                p.v_batch_stride, block_n) &&
         encode(maps.o, p.o, p.head_dim, p.seq_q, p.heads_q, p.batch, p.o_row_stride, p.o_head_stride,
                p.o_batch_stride, block_m / kConsumerGroups);
}

}  // namespace attnbench::kernels::cuda::hopper
