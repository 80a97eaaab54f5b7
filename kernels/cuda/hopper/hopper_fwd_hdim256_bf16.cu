// Hopper flash kernels for head dim 256, bf16: every tile of kHopperTiles for 256, causal and not.
#include "hopper_fwd_kernel.cuh"

ATTNBENCH_HOPPER_INSTANTIATE(256, attnbench::kernels::DType::BF16, __nv_bfloat16)
