// Host-side element helpers shared by the backends: reproducible random inputs, the poison pattern
// written into outputs before a run, and conversion of stored elements to fp32.
#pragma once

#include <cstddef>
#include <cstdint>

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

}  // namespace attnbench
