// Decode test problems shared by the CPU and CUDA kernel tests: random Q and KV cache (values already
// rounded to the storage dtype by the caller's `round`), contiguous or paged with shuffled pages,
// ragged lengths, every cache slot past a sequence's length and every unused page filled with NaN (a
// kernel that reads past a length fails), and the fp64 reference O and LSE.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "attnbench/kernels/decode_params.h"

namespace attnbench::test {

struct DecodeCase {
  kernels::DecodeShape shape;
  std::vector<int> kv_lens;  // one per sequence (each <= shape.seq_kv); empty = all kv_len_max
  int splits = 0;            // num_splits; 0 = heuristic
  std::uint64_t seed = 1;

  std::string name() const {
    // Appended piece by piece: GCC 12 flags "literal" + std::string temporaries with -Wrestrict.
    std::string text(kernels::dtypeName(shape.dtype));
    const auto add = [&text](const char* label, int value) {
      text += label;
      text += std::to_string(value);
    };
    add("_B", shape.batch);
    add("_H", shape.heads_q);
    add("x", shape.heads_kv);
    add("_q", shape.seq_q);
    add("_N", shape.seq_kv);
    for (const int n : kv_lens) add("_", n);
    add("_D", shape.head_dim);
    add("_page", shape.page_size);
    add("_splits", splits);
    if (shape.causal) text += "_causal";
    return text;
  }
};

// Host tensors as floats (the caller stores them in the dtype), the layout the params describe.
struct DecodeProblem {
  kernels::DecodeParams params;  // shapes, strides, lengths; pointers are the caller's to set
  std::vector<float> q;          // packed [B, Hq, q_len, D]
  std::vector<float> k, v;       // contiguous [B, Hkv, N + 8, D] or the page pool [P, Hkv, page, D]
  std::vector<int> block_table;  // [B, block_table_stride] when paged
  std::vector<int> kv_lens;      // [B]
  std::vector<double> o_ref;     // packed [B, Hq, q_len, D]
  std::vector<double> lse_ref;   // [B, Hq, q_len]; -inf for a row that sees no key
};

template <class Round>
DecodeProblem makeDecodeProblem(const DecodeCase& c, Round&& round) {
  using kernels::DecodeParams;
  const kernels::DecodeShape& s = c.shape;
  DecodeProblem t;
  DecodeParams& p = t.params;
  kernels::setShape(p, s);
  p.num_splits = c.splits;
  t.kv_lens = c.kv_lens.empty() ? std::vector<int>(static_cast<std::size_t>(s.batch), s.seq_kv) : c.kv_lens;
  p.kv_lens_host = c.kv_lens.empty() ? nullptr : t.kv_lens.data();

  std::mt19937_64 rng(c.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto d = static_cast<std::size_t>(s.head_dim);
  std::size_t kv_rows = 0;
  if (s.page_size > 0) {
    kernels::setPagedStrides(p, s.page_size);
    p.block_table_stride = kernels::decodePagesFor(s.seq_kv, s.page_size) + 1;  // one spare column
    // Pages of every sequence plus two unused ones, shuffled; table entries past a sequence stay -1.
    int pages = 2;
    for (const int n : t.kv_lens) pages += static_cast<int>(kernels::decodePagesFor(n, s.page_size));
    std::vector<int> ids(static_cast<std::size_t>(pages));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    t.block_table.assign(static_cast<std::size_t>(s.batch * p.block_table_stride), -1);
    std::size_t next = 0;
    for (int b = 0; b < s.batch; ++b) {
      for (std::int64_t page = 0; page < kernels::decodePagesFor(t.kv_lens[static_cast<std::size_t>(b)], s.page_size); ++page) {
        t.block_table[static_cast<std::size_t>(b * p.block_table_stride + page)] = ids[next++];
      }
    }
    p.block_table = t.block_table.data();
    kv_rows = static_cast<std::size_t>(pages) * static_cast<std::size_t>(s.heads_kv) * static_cast<std::size_t>(s.page_size);
  } else {
    kernels::setPackedStrides(p, s.seq_kv + 8);  // a cache with spare capacity, as a real one has
    kv_rows = static_cast<std::size_t>(s.batch) * static_cast<std::size_t>(s.heads_kv) *
              static_cast<std::size_t>(s.seq_kv + 8);
  }

  t.q.resize(static_cast<std::size_t>(s.batch * s.heads_q * s.seq_q) * d);
  for (float& x : t.q) x = round(normal(rng));
  t.k.assign(kv_rows * d, std::numeric_limits<float>::quiet_NaN());
  t.v.assign(kv_rows * d, std::numeric_limits<float>::quiet_NaN());
  // Valid slots only get values, through the same addressing the kernels use.
  DecodeParams host = p;
  for (int b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.heads_kv; ++h) {
      for (int j = 0; j < t.kv_lens[static_cast<std::size_t>(b)]; ++j) {
        const auto at = static_cast<std::size_t>(
            kernels::decodeKvOffset(host, p.k_batch_stride, p.k_head_stride, p.k_row_stride, b, h, j));
        for (std::size_t e = 0; e < d; ++e) {
          t.k[at + e] = round(normal(rng));
          t.v[at + e] = round(normal(rng));
        }
      }
    }
  }

  t.o_ref.assign(t.q.size(), 0.0);
  t.lse_ref.assign(static_cast<std::size_t>(s.batch * s.heads_q * s.seq_q), -std::numeric_limits<double>::infinity());
  const int group = s.heads_q / s.heads_kv;
  for (int b = 0; b < s.batch; ++b) {
    const int kv_len = t.kv_lens[static_cast<std::size_t>(b)];
    for (int h = 0; h < s.heads_q; ++h) {
      for (int i = 0; i < s.seq_q; ++i) {
        const std::size_t row = static_cast<std::size_t>((b * s.heads_q + h) * s.seq_q + i);
        const int visible = kernels::decodeVisibleKeys(p, kv_len, i);
        if (visible == 0) continue;
        std::vector<double> scores(static_cast<std::size_t>(visible));
        for (int j = 0; j < visible; ++j) {
          const auto at = static_cast<std::size_t>(
              kernels::decodeKvOffset(host, p.k_batch_stride, p.k_head_stride, p.k_row_stride, b, h / group, j));
          double dot = 0.0;
          for (std::size_t e = 0; e < d; ++e) dot += double{t.q[row * d + e]} * t.k[at + e];
          scores[static_cast<std::size_t>(j)] = dot * p.softmax_scale;
        }
        const double max_score = *std::max_element(scores.begin(), scores.end());
        double sum = 0.0;
        for (int j = 0; j < visible; ++j) {
          const double w = std::exp(scores[static_cast<std::size_t>(j)] - max_score);
          sum += w;
          const auto at = static_cast<std::size_t>(
              kernels::decodeKvOffset(host, p.v_batch_stride, p.v_head_stride, p.v_row_stride, b, h / group, j));
          for (std::size_t e = 0; e < d; ++e) t.o_ref[row * d + e] += w * t.v[at + e];
        }
        for (std::size_t e = 0; e < d; ++e) t.o_ref[row * d + e] /= sum;
        t.lse_ref[row] = max_score + std::log(sum);
      }
    }
  }
  return t;
}

// Max |got - want|; NaN (an element never written, or a poisoned read) makes it NaN.
inline double maxError(const std::vector<double>& got, const std::vector<double>& want) {
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i]) || std::isinf(got[i])) {
      if (got[i] != want[i]) return std::numeric_limits<double>::infinity();
      continue;
    }
    const double diff = std::abs(got[i] - want[i]);
    if (!(diff <= worst)) worst = diff;
  }
  return worst;
}

// Absolute tolerance on O (values are weighted means of unit normals, so |O| < ~3).
inline double decodeTolerance(kernels::DType dtype) {
  switch (dtype) {
    case kernels::DType::F32: return 2e-5;
    case kernels::DType::F16: return 4e-3;
    case kernels::DType::BF16: return 3e-2;
  }
  return 0.0;
}

// A causal decode case (head dim 128 unless given); the seed follows from the shape, so that every
// case draws its own inputs.
inline DecodeCase makeCase(kernels::DType dtype, int batch, int heads_q, int heads_kv, int q_len, int n, int page_size,
                           int splits, std::vector<int> lens = {}, int head_dim = 128) {
  DecodeCase c;
  c.shape.causal = true, c.shape.batch = batch, c.shape.heads_q = heads_q, c.shape.heads_kv = heads_kv, c.shape.seq_q = q_len;
  c.shape.seq_kv = n, c.shape.head_dim = head_dim, c.shape.page_size = page_size, c.shape.dtype = dtype;
  c.kv_lens = std::move(lens);
  c.splits = splits;
  c.seed = static_cast<std::uint64_t>(batch * 131 + n * 7 + q_len * 3 + splits + page_size + head_dim);
  return c;
}

}  // namespace attnbench::test
