// Whether a problem's sizes fit the 64-bit arithmetic of the backends and kernels. Each of B, H, N
// and D fits an int, but their products do not have to: B=4096, H=2^28, N=2^22, D=128 makes 2^69
// elements, which wraps to a small byte count and an undersized buffer. Every byte count is checked
// here before anything is predicted or allocated.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "attnbench/backend.h"

namespace attnbench {

// The largest element count of one tensor or workspace: at 8 bytes per element (fp32 workspace of a
// wider copy) and a handful of such buffers, the total still fits a signed 64-bit byte count.
inline constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 58;

// The product of `factors`, or -1 when it exceeds kMaxTensorElements.
inline std::int64_t checkedElements(std::initializer_list<std::int64_t> factors) {
  std::int64_t product = 1;
  for (const std::int64_t f : factors) {
    if (f < 0 || __builtin_mul_overflow(product, f, &product) || product > kMaxTensorElements) return -1;
  }
  return product;
}

// Empty when every tensor of `s` (Q, K, V, O, the log-sum-exp rows and the standard kernel's score
// matrix) stays within kMaxTensorElements; else the reason the point is skipped.
inline std::string sizeOverflowReason(const kernels::AttentionShape& s) {
  const std::int64_t q = checkedElements({s.batch, s.heads_q, s.seq_q, s.head_dim});
  const std::int64_t kv = checkedElements({s.batch, s.heads_kv, s.seq_kv, s.head_dim});
  const std::int64_t scores = checkedElements({s.batch, s.heads_q, s.seq_q, s.seq_kv});
  if (q >= 0 && kv >= 0 && scores >= 0) return {};
  return "the tensors of this shape exceed 2^58 elements (B x H x N x D or B x H x N x N): more than any device "
         "can hold, and past 64-bit byte counts";
}

}  // namespace attnbench
