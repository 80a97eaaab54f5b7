#include "host_tensors.h"

#include <cstring>

#include <Eigen/Core>

namespace attnbench {
namespace {

// splitmix64: a small, fast generator whose streams from nearby seeds are independent enough here.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

template <typename T>
void fillRandomTyped(T* dst, std::size_t count, std::uint64_t seed) {
  SplitMix64 rng{seed};
  constexpr float kInv16 = 1.0f / 65536.0f;
  for (std::size_t i = 0; i < count; ++i) {
    // Four 16-bit uniforms from one draw; their centred sum has variance 4/12, scaled to ~1.
    const std::uint64_t r = rng.next();
    float sum = 0;
    for (int k = 0; k < 4; ++k) sum += static_cast<float>((r >> (16 * k)) & 0xFFFF) * kInv16;
    dst[i] = static_cast<T>((sum - 2.0f) * 1.7320508f);
  }
}

template <typename T>
void toFloatTyped(const T* src, std::size_t count, float* dst) {
  for (std::size_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]);
}

}  // namespace

void fillRandom(void* dst, DType dtype, std::size_t count, std::uint64_t seed) {
  switch (dtype) {
    case DType::F32: fillRandomTyped(static_cast<float*>(dst), count, seed); break;
    case DType::F16: fillRandomTyped(static_cast<Eigen::half*>(dst), count, seed); break;
    case DType::BF16: fillRandomTyped(static_cast<Eigen::bfloat16*>(dst), count, seed); break;
  }
}

void fillPoison(void* dst, DType dtype, std::size_t count) {
  std::memset(dst, 0xFF, count * static_cast<std::size_t>(kernels::bytesPerElement(dtype)));
}

std::int64_t countPoison(const void* src, DType dtype, std::size_t count) {
  std::int64_t n = 0;
  if (dtype == DType::F32) {
    const auto* p = static_cast<const std::uint32_t*>(src);
    for (std::size_t i = 0; i < count; ++i) n += p[i] == 0xFFFFFFFFu;
  } else {
    const auto* p = static_cast<const std::uint16_t*>(src);
    for (std::size_t i = 0; i < count; ++i) n += p[i] == 0xFFFFu;
  }
  return n;
}

void toFloat(const void* src, DType dtype, std::size_t count, float* dst) {
  switch (dtype) {
    case DType::F32: std::memcpy(dst, src, count * sizeof(float)); break;
    case DType::F16: toFloatTyped(static_cast<const Eigen::half*>(src), count, dst); break;
    case DType::BF16: toFloatTyped(static_cast<const Eigen::bfloat16*>(src), count, dst); break;
  }
}

float roundToDType(float x, DType dtype) {
  switch (dtype) {
    case DType::F32: return x;
    case DType::F16: return static_cast<float>(Eigen::half(x));
    case DType::BF16: return static_cast<float>(Eigen::bfloat16(x));
  }
  return x;
}

kernels::AttentionParams packedParams(const kernels::AttentionShape& s, const void* q, const void* k, const void* v, void* o,
                                      float* lse) {
  kernels::AttentionParams p;
  p.q = q;
  p.k = k;
  p.v = v;
  p.o = o;
  p.lse = lse;
  kernels::setShape(p, s);
  kernels::setPackedBhndStrides(p);
  return p;
}

std::size_t tensorElements(const kernels::AttentionShape& s, TensorId tensor) {
  const std::size_t d = static_cast<std::size_t>(s.head_dim);
  switch (tensor) {
    case TensorId::Q:
    case TensorId::O: return static_cast<std::size_t>(s.batch) * s.heads_q * s.seq_q * d;
    case TensorId::K:
    case TensorId::V: return static_cast<std::size_t>(s.batch) * s.heads_kv * s.seq_kv * d;
  }
  return 0;
}

std::size_t rowOffsetElements(const kernels::AttentionShape& s, TensorId tensor, int b, int head, int row) {
  const bool kv = tensor == TensorId::K || tensor == TensorId::V;
  const kernels::TensorStrides strides = kernels::packedBhndStrides(kv ? s.heads_kv : s.heads_q, kv ? s.seq_kv : s.seq_q, s.head_dim);
  return static_cast<std::size_t>(strides.offset(b, head, row));
}

std::uint64_t tensorBytes(const kernels::AttentionShape& s, TensorId tensor) {
  return static_cast<std::uint64_t>(kernels::bytesPerElement(s.dtype)) * tensorElements(s, tensor);
}

std::uint64_t ioTensorBytes(const kernels::AttentionShape& s) {
  std::uint64_t bytes = 0;
  for (const TensorId t : kTensors) bytes += tensorBytes(s, t);
  return bytes;
}

std::uint64_t lseBytes(const kernels::AttentionShape& s) { return 4ULL * s.batch * s.heads_q * s.seq_q; }

}  // namespace attnbench

namespace attnbench {

std::size_t TensorLayout::elements(TensorId tensor) const {
  const bool kv = tensor == TensorId::K || tensor == TensorId::V;
  return kv && cache_ ? cache_->cacheElements(shape_) : tensorElements(shape_, tensor);
}

std::size_t TensorLayout::rowOffset(TensorId tensor, int b, int head, int row) const {
  const bool kv = tensor == TensorId::K || tensor == TensorId::V;
  return kv && cache_ ? cache_->rowOffsetElements(shape_, b, head, row) : rowOffsetElements(shape_, tensor, b, head, row);
}

int TensorLayout::kvLength(int b) const {
  return cache_ ? cache_->kv_lens[static_cast<std::size_t>(b)] : shape_.seq_kv;
}

std::vector<float> readRowRuns(const TensorLayout& layout, TensorId tensor, int b, int head, int row0, int count,
                               const std::function<void(std::size_t first, std::size_t elements, void* dst)>& copy) {
  const DType dtype = layout.shape().dtype;
  const auto d = static_cast<std::size_t>(layout.shape().head_dim);
  const auto element = static_cast<std::size_t>(kernels::bytesPerElement(dtype));
  const auto offset_of = [&](int row) { return layout.rowOffset(tensor, b, head, row); };
  std::vector<char> raw(static_cast<std::size_t>(count) * d * element);
  for (int row = 0; row < count;) {
    const std::size_t first = offset_of(row0 + row);
    int run = 1;
    while (row + run < count && offset_of(row0 + row + run) == first + static_cast<std::size_t>(run) * d) ++run;
    copy(first, static_cast<std::size_t>(run) * d, raw.data() + static_cast<std::size_t>(row) * d * element);
    row += run;
  }
  std::vector<float> out(static_cast<std::size_t>(count) * d);
  toFloat(raw.data(), dtype, out.size(), out.data());
  return out;
}

}  // namespace attnbench
