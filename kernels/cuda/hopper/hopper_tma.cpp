// Tensor maps (TMA descriptors) for the Hopper flash kernel, encoded on the host through the
// driver's cuTensorMapEncodeTiled, reached via the runtime so that nothing links libcuda directly.
#include <cudaTypedefs.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "hopper_launch.h"
#include "hopper_stamps.h"
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

// The work of the busiest CTA under the static schedule with p.section_heads, in key tiles plus a
// fixed cost per item (its Q load, first S without overlap, last P V and epilogue: about two key
// tiles' time).
long long busiestCta(const KernelParams& p, int block_m, int block_n, bool causal, int ctas) {
  constexpr long long kItemCost = 2;
  std::vector<long long> work(static_cast<std::size_t>(ctas), 0);
  for (int tile = 0; tile < p.tiles; ++tile) {
    const int round = tile / ctas;
    work[static_cast<std::size_t>(roundSlot(round, ctas, tile - round * ctas))] +=
        scheduleItem(p, tile, block_m, block_n, causal).n_tiles + kItemCost;
  }
  return *std::max_element(work.begin(), work.end());
}

struct StampBuffer {
  std::uint64_t* entries = nullptr;
  std::size_t count = 0;
};
StampBuffer stamp_buffer;

}  // namespace

void setHopperStampBuffer(std::uint64_t* device_entries, std::size_t entries) {
  stamp_buffer = {device_entries, entries};
}

KernelParams kernelParams(const AttentionParams& params, int block_m, int block_n, int l2_bytes, int ctas) {
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
  setSectionHeads(p, heads >= all_heads ? all_heads : (heads < 1.0 ? 1 : static_cast<int>(heads)));
  p.softmax_scale = params.softmax_scale;
  const std::size_t stamp_entries = static_cast<std::size_t>(std::max(ctas, 0)) * kStampRoles * kStampCapacity;
  p.stamps = stamp_buffer.count >= stamp_entries ? stamp_buffer.entries : nullptr;
  if (!params.causal || ctas <= 0) return p;

  // How evenly the static schedule spreads causal items depends on the section width in no smooth way
  // (hd128, N = 8192, 32 heads, 132 CTAs: the busiest CTA has 15 % more than the mean at 9 heads, 0.5 %
  // at 11). So the widths from the one above up to twice it (at most 17 of them) are simulated and the
  // most even one is taken (ties: the narrowest, for L2). The last result is kept: a benchmark or a
  // model's layers repeat one shape, and each simulation walks every item (~0.1 ms of host time for
  // 32 heads at N = 32K).
  struct Shape {
    int seq_q, seq_kv, heads_q, batch, block_m, block_n, ctas, from;
    bool operator==(const Shape&) const = default;
  };
  thread_local Shape last_shape{};
  thread_local int last_width = 0;
  const Shape shape{p.seq_q, p.seq_kv, p.heads_q, p.batch, block_m, block_n, ctas, p.section_heads};
  if (last_width > 0 && shape == last_shape) {
    setSectionHeads(p, last_width);
    return p;
  }
  long long best_work = -1;
  int best = shape.from;
  const int step = std::max(1, shape.from / 16);
  for (int width = shape.from; width <= std::min(all_heads, 2 * shape.from); width += step) {
    setSectionHeads(p, width);
    const long long work = busiestCta(p, block_m, block_n, true, ctas);
    if (best_work < 0 || work < best_work) {
      best_work = work;
      best = width;
    }
  }
  setSectionHeads(p, best);
  last_shape = shape;
  last_width = best;
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
