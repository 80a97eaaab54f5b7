// Hopper flash kernels for head dim 128, fp16: every tile of kHopperTiles for 128, causal and not.
#include "hopper_fwd_kernel.cuh"

ATTNBENCH_HOPPER_INSTANTIATE(128, attnbench::kernels::DType::F16, __half)
