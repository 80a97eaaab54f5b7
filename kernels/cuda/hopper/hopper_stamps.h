// Pipeline timestamps of the Hopper flash kernel, a diagnostic build only: with
// `cmake -DATTNBENCH_HOPPER_STAMPS=ON` (off by default) the kernel records, per CTA, for its producer
// thread and each consumer warpgroup, the SM clock (clock64) at every pipeline event of every work
// item, and the global timer at its start and end (to place the CTAs on one time line). Without the
// option none of it is compiled into the kernel. The kernel harness dumps a launch's stamps
// (`attnbench_kernel_bench --stamps PREFIX`); bench/hopper_stamps.py reads the dump.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attnbench::kernels::cuda::hopper {

// An entry is (event << 56) | (clock64 & kStampClockMask), in the order the events happened.
enum class Stamp : std::uint8_t {
  // producer thread
  ProducerItem = 1,  // an item's loads begin (before waiting for Q's buffer)
  ProducerQ = 2,     // its Q copy issued
  ProducerK = 3,     // a K tile's copy issued (after its stage was free)
  ProducerV = 4,     // a V tile's copy issued
  // consumer warpgroup (its first thread)
  ConsumerItem = 16,  // an item begins (before waiting for its Q)
  QReady = 17,        // Q has landed
  KReady = 18,        // a key tile's K has landed
  SIssue = 19,        // the turn is this consumer's: S = Q K^T (and the previous tile's P V) issued from here
  TurnPassed = 20,    // the GEMMs are issued and the turn handed over
  SDone = 21,         // S has completed
  PvDone = 22,        // the P V issued with it has completed (the step's end)
  LastPvIssue = 23,   // the item's last P V: the turn is this consumer's
  EpilogueStore = 24, // O is in shared memory: the TMA store is issued next
  EpilogueEnd = 25,   // the store is committed
};

inline constexpr int kStampRoles = 3;  // the producer thread, consumer 0, consumer 1
// Per role and CTA: a header, then the events. A consumer records 5 events per key tile: this holds
// 16 items of 64 key tiles (hd128 N = 8K at 32 heads on 132 SMs); longer runs stop recording when full.
inline constexpr int kStampCapacity = 1 << 14;
inline constexpr int kStampHeader = 5;  // entries written, global timer and clock64 at start, both at end
inline constexpr std::uint64_t kStampClockMask = (std::uint64_t{1} << 56) - 1;

// The device buffer (kStampRoles x kStampCapacity entries per CTA, zeroed by the caller) the next
// launches write their stamps to, or null for none. In builds without the option the kernel ignores it.
void setHopperStampBuffer(std::uint64_t* device_entries, std::size_t entries);

}  // namespace attnbench::kernels::cuda::hopper
