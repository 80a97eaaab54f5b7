// Host-side pieces of the Hopper flash family shared by the dispatch (flash_api.cpp), the tensor-map
// encoder (hopper_tma.cpp) and the instantiation files (generated from the Hopper list in
// cmake/KernelInstances.cmake as <build>/kernels/cuda/instances/hopper_fwd_hdim<D>_<dtype>.cu).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "attnbench/kernels/attention_params.h"
#include "flash_instances.h"

namespace attnbench::kernels::cuda::hopper {

// What the kernel reads besides the tensor maps.
struct KernelParams {
  void* o = nullptr;     // for rows that see no key, written directly
  float* lse = nullptr;  // may be null
  std::int64_t o_batch_stride = 0, o_head_stride = 0, o_row_stride = 0;
  int batch = 0, heads_q = 0, group = 0, seq_q = 0, seq_kv = 0;
  int m_blocks = 0;       // query tiles per (batch, head)
  int tiles = 0;          // work items: m_blocks x heads_q x batch
  int section_heads = 0;  // (batch, head) pairs per L2 section of the schedule (see workItem)
  float softmax_scale = 1.0f;
};

// `l2_bytes`: the device's L2 size (the schedule keeps the K/V of about half of it in flight);
// `ctas`: the persistent grid.
KernelParams kernelParams(const AttentionParams& params, int block_m, int l2_bytes, int ctas);

// TMA descriptors of Q, K, V (loads: boxes of 64 columns x block rows) and O (stores: 64 x 64, one
// consumer warpgroup's rows), all with the 128-byte swizzle, over 4-d views (column, row, head, batch).
struct TensorMaps {
  CUtensorMap q, k, v, o;
};

// False when the driver offers no cuTensorMapEncodeTiled or rejects a map.
bool encodeTensorMaps(const AttentionParams& params, int block_m, int block_n, TensorMaps& maps);

// One per (head dim, dtype) of the Hopper list, each defined in its instance file; `tile` must be one
// of kHopperTiles for the head dim (else cudaErrorNotSupported).
template <int kHeadDim, DType kDType>
cudaError_t runHopperForward(const AttentionParams& params, TileShape tile, int multiprocessors, cudaStream_t stream);

#define ATTNBENCH_DECLARE_HOPPER_FORWARD(kHeadDim, kDType) \
  template <>                                              \
  cudaError_t runHopperForward<kHeadDim, DType::kDType>(const AttentionParams&, TileShape, int, cudaStream_t);
ATTNBENCH_HOPPER_FLASH_INSTANCES(ATTNBENCH_DECLARE_HOPPER_FORWARD)
#undef ATTNBENCH_DECLARE_HOPPER_FORWARD

}  // namespace attnbench::kernels::cuda::hopper
