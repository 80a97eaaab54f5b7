#include "tracking_allocator.h"

#include <cstdlib>
#include <utility>

#include "attnbench/errors.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

bool MemoryTracker::reserve(std::uint64_t bytes) {
  if (bytes > limit_ || current_ > limit_ - bytes) return false;
  current_ += bytes;
  if (current_ > peak_) peak_ = current_;
  return true;
}

void MemoryTracker::release(std::uint64_t bytes) { current_ = bytes > current_ ? 0 : current_ - bytes; }

HostBuffer::HostBuffer(MemoryTracker& tracker, std::size_t bytes) : tracker_(&tracker), bytes_(bytes) {
  if (bytes == 0) return;
  if (!tracker.reserve(bytes)) {
    throw OutOfMemory("allocating " + formatBytes(bytes) + " would pass the memory limit of " +
                      formatBytes(tracker.limit()) + " (" + formatBytes(tracker.current()) + " held)");
  }
  const std::size_t rounded = (bytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded);
  if (data_ == nullptr) {
    tracker.release(bytes);
    throw OutOfMemory("the system refused " + formatBytes(bytes));
  }
}

HostBuffer::HostBuffer(HostBuffer&& other) noexcept
    : tracker_(std::exchange(other.tracker_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    tracker_ = std::exchange(other.tracker_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

HostBuffer::~HostBuffer() { reset(); }

void HostBuffer::reset() {
  if (data_ != nullptr) {
    std::free(data_);
    tracker_->release(bytes_);
  }
  data_ = nullptr;
  bytes_ = 0;
}

}  // namespace attnbench
