// Host-side helpers shared by the backends: the packed tensor layout, reproducible random inputs, the poison pattern
// written into outputs before a run, and conversion of stored elements to fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "attnbench/backend.h"
#include "attnbench/kernels/attention_params.h"
#include "decode_cache.h"

namespace attnbench {

using kernels::DType;

// Fills `count` elements with approximately standard-normal values (sum of four uniforms), a pure
// function of `seed`: the same point gets the same inputs on every device and every run.
void fillRandom(void* dst, DType dtype, std::size_t count, std::uint64_t seed);

// Writes the all-ones bit pattern (a NaN in fp32, fp16 and bf16) that no kernel produces.
void fillPoison(void* dst, DType dtype, std::size_t count);
std::int64_t countPoison(const void* src, DType dtype, std::size_t count);

// Converts `count` stored elements to fp32.
void toFloat(const void* src, DType dtype, std::size_t count, float* dst);

// Rounds an fp32 value to the storage precision (for emulating a kernel's intermediate rounding).
float roundToDType(float x, DType dtype);

// Q, K, V and O in TensorId order, and the inputs among them (filled with random values).
inline constexpr TensorId kTensors[] = {TensorId::Q, TensorId::K, TensorId::V, TensorId::O};
inline constexpr TensorId kInputTensors[] = {TensorId::Q, TensorId::K, TensorId::V};
constexpr std::size_t tensorSlot(TensorId tensor) { return static_cast<std::size_t>(tensor); }

// Bytes of one tensor in the problem's storage type, of all four, and of the fp32 log-sum-exp rows
// the flash kernels write.
std::uint64_t tensorBytes(const kernels::AttentionShape& shape, TensorId tensor);
std::uint64_t ioTensorBytes(const kernels::AttentionShape& shape);
std::uint64_t lseBytes(const kernels::AttentionShape& shape);

// The seed of one input tensor's values: a function of the point's seed and the tensor.
constexpr std::uint64_t tensorSeed(std::uint64_t point_seed, TensorId tensor) {
  return point_seed * 4 + static_cast<std::uint64_t>(tensor);
}

// AttentionParams for a problem over densely packed [B, H, N, D] buffers.
kernels::AttentionParams packedParams(const kernels::AttentionShape& shape, const void* q, const void* k, const void* v, void* o,
                                      float* lse);

// Element counts of the four tensors of a problem.
std::size_t tensorElements(const kernels::AttentionShape& shape, TensorId tensor);

// Element offset of row `row` of head `head` of batch `b` in a packed [B, H, N, D] tensor.
std::size_t rowOffsetElements(const kernels::AttentionShape& shape, TensorId tensor, int b, int head, int row);

// Where a prepared point's tensors live: Q and O packed [B, H, seq_q, D]; K and V packed the same way
// for attention, or laid out as a decode cache (contiguous or paged, uniform or ragged lengths). Both
// backends size their buffers, read rows back for the check and report per-sequence key counts
// through it, so a layout is described once.
class TensorLayout {
 public:
  explicit TensorLayout(const kernels::AttentionShape& shape) : shape_(shape) {}
  TensorLayout(const kernels::AttentionShape& shape, DecodeCacheLayout cache) : shape_(shape), cache_(std::move(cache)) {}

  const kernels::AttentionShape& shape() const { return shape_; }
  // The decode cache, or null for a packed attention problem.
  const DecodeCacheLayout* cache() const { return cache_ ? &*cache_ : nullptr; }

  std::size_t elements(TensorId tensor) const;
  std::size_t rowOffset(TensorId tensor, int b, int head, int row) const;
  int kvLength(int b) const;  // valid keys of sequence b

 private:
  kernels::AttentionShape shape_;
  std::optional<DecodeCacheLayout> cache_;
};

// Reads rows [row0, row0 + count) of one head of `tensor` as fp32 ([count, head_dim]). Rows that follow
// each other in memory are fetched with one `copy(first_element, elements, destination)` call (one
// for a contiguous head, one per page of a paged cache).
std::vector<float> readRowRuns(const TensorLayout& layout, TensorId tensor, int b, int head, int row0, int count,
                               const std::function<void(std::size_t first, std::size_t elements, void* dst)>& copy);

}  // namespace attnbench
