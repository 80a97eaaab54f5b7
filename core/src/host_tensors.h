// Host-side helpers shared by the backends: the packed tensor layout, reproducible random inputs, the poison pattern
// written into outputs before a run, and conversion of stored elements to fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "attnbench/backend.h"
#include "attnbench/kernels/attention_params.h"

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

// The densely packed [B, H, N, D] layout in which the backends allocate a problem's tensors.
// AttentionParams for a problem over densely packed [B, H, N, D] buffers.
kernels::AttentionParams packedParams(const kernels::AttentionShape& shape, const void* q, const void* k, const void* v, void* o,
                                      float* lse);

// Element counts of the four tensors of a problem.
std::size_t tensorElements(const kernels::AttentionShape& shape, TensorId tensor);

// Element offset of row `row` of head `head` of batch `b` in a packed [B, H, N, D] tensor.
std::size_t rowOffsetElements(const kernels::AttentionShape& shape, TensorId tensor, int b, int head, int row);

}  // namespace attnbench

namespace attnbench {

// Reads rows [row0, row0 + count) of one head as fp32 ([count, head_dim]). `offset_of(row)` is a row's
// element offset in its buffer; rows that follow each other in memory are fetched with one
// `copy(first_element, elements, destination)` call (one for a contiguous head, one per page of a paged cache).
std::vector<float> readRowRuns(DType dtype, int head_dim, int row0, int count,
                               const std::function<std::size_t(int row)>& offset_of,
                               const std::function<void(std::size_t first, std::size_t elements, void* dst)>& copy);

}  // namespace attnbench
