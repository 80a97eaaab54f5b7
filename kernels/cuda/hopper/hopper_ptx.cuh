// Hopper (sm_90a) primitives as inline PTX: mbarriers, TMA bulk tensor copies, wgmma bookkeeping,
// shared-memory matrix descriptors, named barriers and register reallocation. Device code only;
// included by hopper_fwd_kernel.cuh, and by model_layers.cu for the mbarriers and plain bulk copies
// (sm_90; that file calls them only in code compiled for sm_90 and later).
#pragma once

#include <cuda.h>

#include <cstdint>

namespace attnbench::kernels::cuda::hopper {

__device__ __forceinline__ std::uint32_t sharedAddress(const void* pointer) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(pointer));
}

// ---- mbarriers (shared::cta, 8 bytes each) ------------------------------------------------------

__device__ __forceinline__ void barrierInit(std::uint32_t barrier, std::uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(barrier), "r"(arrivals));
}

// Makes the initialised barriers visible to the copy engine (the async proxy) and to other threads.
__device__ __forceinline__ void fenceBarrierInit() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

__device__ __forceinline__ void barrierArrive(std::uint32_t barrier) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(barrier) : "memory");
}

// One arrival that also announces `bytes` the copy engine will deliver before the phase completes.
__device__ __forceinline__ void barrierArriveExpectBytes(std::uint32_t barrier, std::uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(barrier), "r"(bytes) : "memory");
}

// Waits until the phase of parity `parity` has completed (a fresh barrier counts parity 1 as done).
__device__ __forceinline__ void barrierWait(std::uint32_t barrier, std::uint32_t parity) {
  std::uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred ready;\nmbarrier.try_wait.parity.shared::cta.b64 ready, [%1], %2;\nselp.u32 %0, 1, 0, ready;\n}\n"
        : "=r"(done)
        : "r"(barrier), "r"(parity)
        : "memory");
  } while (done == 0);
}

// ---- Plain bulk copies (contiguous bytes, no tensor map) ----------------------------------------

// An L2 policy for data read once: evicted first, so a stream of weights does not push out what is
// read again (KV cache, activations).
__device__ __forceinline__ std::uint64_t evictFirstPolicy() {
  std::uint64_t policy = 0;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}

// Copies `bytes` (a multiple of 16; both addresses 16-byte aligned) from global to shared memory and
// counts them against the barrier's transaction bytes.
__device__ __forceinline__ void bulkLoad(std::uint32_t destination, const void* source, std::uint32_t bytes,
                                         std::uint32_t barrier, std::uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::"r"(
          destination),
      "l"(source), "r"(bytes), "r"(barrier), "l"(policy)
      : "memory");
}

// ---- TMA: bulk tensor copies (4-d maps: head-dim chunk, row, head, batch) ------------------------

__device__ __forceinline__ void tmaLoad(std::uint32_t destination, const CUtensorMap& map, std::uint32_t barrier,
                                        int column, int row, int head, int batch) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], "
      "[%2];\n" ::"r"(destination),
      "l"(reinterpret_cast<std::uint64_t>(&map)), "r"(barrier), "r"(column), "r"(row), "r"(head), "r"(batch)
      : "memory");
}

// Rows of the box past the tensor's end are not written (the engine clips them).
__device__ __forceinline__ void tmaStore(const CUtensorMap& map, std::uint32_t source, int column, int row, int head,
                                         int batch) {
  asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(
                   reinterpret_cast<std::uint64_t>(&map)),
               "r"(source), "r"(column), "r"(row), "r"(head), "r"(batch)
               : "memory");
}

__device__ __forceinline__ void tmaStoreCommit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }

// The engine has finished reading the shared memory of every committed store (it may be reused).
__device__ __forceinline__ void tmaStoreWaitRead() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }

// Every committed store has completed.
__device__ __forceinline__ void tmaStoreWaitAll() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

// Orders this thread's ordinary shared-memory stores before later reads by the copy engine.
__device__ __forceinline__ void fenceSharedForAsyncProxy() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ __forceinline__ void prefetchTensorMap(const CUtensorMap& map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<std::uint64_t>(&map)) : "memory");
}

// ---- wgmma bookkeeping ----------------------------------------------------------------------------

__device__ __forceinline__ void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmmaCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }

// Waits until at most kPending of this warpgroup's committed wgmma groups are still running.
template <int kPending>
__device__ __forceinline__ void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

// Pins a register in program order: the compiler may not move reads or writes of `x` across it. Used
// on accumulators around wgmma, which reads and writes them asynchronously between issue and wait.
template <int kCount>
__device__ __forceinline__ void pinRegisters(float (&x)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(x[i])::"memory");
}

// Shared-memory matrix descriptor for wgmma with the 128-byte swizzle (the layout TMA writes with
// CU_TENSOR_MAP_SWIZZLE_128B into 1024-byte aligned tiles of 128-byte rows). `leading` and `stride`
// are the byte offsets the PTX ISA calls LBO and SBO: for K-major operands SBO is the step between
// 8-row groups (1024) and LBO is unused; for N-major ones LBO steps between 64-element column blocks
// and SBO between 8-row groups along K.
__device__ __forceinline__ std::uint64_t matrixDescriptor(std::uint32_t address, std::uint32_t leading,
                                                          std::uint32_t stride) {
  return static_cast<std::uint64_t>((address & 0x3FFFFu) >> 4) | (static_cast<std::uint64_t>(leading >> 4) << 16) |
         (static_cast<std::uint64_t>(stride >> 4) << 32) | (std::uint64_t{1} << 62);
}

// `descriptor` moved `bytes` further into shared memory. The start address is bits 0-13 (in 16-byte
// units) and shared memory ends below 2^18 bytes, so the step never carries out of the low word: one
// 32-bit add instead of rebuilding the descriptor from an address (mask, shift, or) at every k-step.
__device__ __forceinline__ std::uint64_t descriptorPlus(std::uint64_t descriptor, std::uint32_t bytes) {
  const std::uint32_t low = static_cast<std::uint32_t>(descriptor) + (bytes >> 4);
  return (descriptor & 0xFFFFFFFF00000000ull) | low;
}

// `x`, but the compiler cannot see how it was computed: it keeps the value instead of folding later
// additions back into the expression (the descriptors above would be rebuilt, mask and all, per wgmma).
__device__ __forceinline__ std::uint64_t opaque(std::uint64_t x) {
  asm("mov.b64 %0, %0;\n" : "+l"(x));
  return x;
}

// A position in a ring of kStages mbarrier-guarded buffers: the stage and the parity of its current
// phase (flips each time the ring wraps), stepped without the divisions of a running counter.
template <int kStages>
struct RingPosition {
  int stage = 0;
  std::uint32_t phase = 0;
  __device__ __forceinline__ void advance() {
    if (++stage == kStages) {
      stage = 0;
      phase ^= 1u;
    }
  }
};

// ---- warpgroup coordination ----------------------------------------------------------------------

template <int kRegisters>
__device__ __forceinline__ void releaseRegisters() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

template <int kRegisters>
__device__ __forceinline__ void claimRegisters() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

// Named barriers 1-15 (0 is __syncthreads): sync blocks until `threads` have arrived; arrive does not.
__device__ __forceinline__ void namedBarrierSync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ void namedBarrierArrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace attnbench::kernels::cuda::hopper
