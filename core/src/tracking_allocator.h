// Byte accounting for a point's allocations: the peak it reports is the "peak memory" of the point.
// Every buffer a backend allocates for a point (inputs, outputs, workspace) goes through one tracker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace attnbench {

class MemoryTracker {
 public:
  explicit MemoryTracker(std::uint64_t limit_bytes = UINT64_MAX) : limit_(limit_bytes) {}
  // Counts `bytes` as held; false (and nothing counted) when that would pass the limit.
  bool reserve(std::uint64_t bytes);
  void release(std::uint64_t bytes);
  std::uint64_t current() const { return current_; }
  std::uint64_t peak() const { return peak_; }
  std::uint64_t limit() const { return limit_; }

 private:
  std::uint64_t limit_;
  std::uint64_t current_ = 0;
  std::uint64_t peak_ = 0;
};

// A 64-byte aligned host buffer counted by a tracker. Throws OutOfMemory when the tracker's limit
// or the system refuses it.
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(MemoryTracker& tracker, std::size_t bytes);
  HostBuffer(HostBuffer&& other) noexcept;
  HostBuffer& operator=(HostBuffer&& other) noexcept;
  ~HostBuffer();
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void reset();
  MemoryTracker* tracker_ = nullptr;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace attnbench
