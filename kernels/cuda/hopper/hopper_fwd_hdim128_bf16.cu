// Hopper flash kernels for head dim 128, bf16: every tile of kHopperTiles for 128, causal and not.
#include "hopper_fwd_kernel.cuh"

ATTNBENCH_HOPPER_INSTANTIATE(128, attnbench::kernels::DType::BF16, __nv_bfloat16)
