// Hopper flash kernels for head dim 64, fp16: every tile of kHopperTiles for 64, causal and not.
#include "hopper_fwd_kernel.cuh"

ATTNBENCH_HOPPER_INSTANTIATE(64, attnbench::kernels::DType::F16, __half)
