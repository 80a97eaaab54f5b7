// The parameter block of the decode kernels (CPU and CUDA, flash and standard): a few new query rows
// per sequence against a KV cache, as in autoregressive generation. Like AttentionParams it carries
// shapes, strides and pointers only; nothing here knows of sweeps, stores or the application.
//
// Conventions:
// - The seq_q new tokens are already appended to the cache: sequence b has kv_len(b) valid keys, the
//   last seq_q of which belong to the new rows. With `causal`, new row i (0-based) sees keys
//   j < kv_len(b) - seq_q + 1 + i (bottom-right aligned, as AttentionParams); without it, all kv_len(b).
// - Contiguous cache: K/V of sequence b, KV head h, position j at b*k_batch_stride + h*k_head_stride
//   + j*k_row_stride (e.g. [B, Hkv, Nmax, D]). Paged cache (block_table set): position j of sequence b
//   lives in page block_table[b * block_table_stride + j / page_size] of a page pool, at
//   page*k_batch_stride + h*k_head_stride + (j % page_size)*k_row_stride (e.g. pool [P, Hkv, page, D]).
// - Flash decode splits each sequence's keys into num_splits ranges; each range writes a normalized fp32
//   partial O and its LSE to the workspace, and a combine step merges them by LSE. One split writes O
//   directly and needs no workspace. On CUDA the combine is either a second kernel or, with
//   split_counters set, fused: the last split block to finish for a (sequence, KV head, row block)
//   (an atomic arrival count) merges those rows itself and re-arms its counter to zero. The counters
//   must be zero before the first call (cudaMemset once); each call leaves them zero again.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels {

// Query rows (G query heads x seq_q) one CUDA decode block handles; more rows take more blocks.
constexpr int kDecodeRowsPerBlock = 8;
// CUDA decode blocks resident per SM (shared-memory bound; kernels/cuda/NOTES.md, "Decode").
constexpr int kDecodeBlocksPerSM = 2;
// The split heuristic never gives a split fewer keys than this (shorter splits cost more in the
// combine than they save), nor more splits than kMaxDecodeSplits.
constexpr int kDecodeMinKeysPerSplit = 128;
constexpr int kMaxDecodeSplits = 128;
constexpr int kMaxDecodeQueryLen = 16;

// A decode problem: the attention problem (seq_q = the new rows per sequence, 1..kMaxDecodeQueryLen;
// seq_kv = N, the longest cache) and how the cache is laid out.
struct DecodeShape : AttentionShape {
  int page_size = 0;  // tokens per page (16..256) when paged; 0 = contiguous cache
};

struct DecodeParams : DecodeShape {
  const void* q = nullptr;  // [batch, heads_q, seq_q, head_dim] via the q_* strides
  const void* k = nullptr;  // KV cache keys: contiguous or paged, see the header comment
  const void* v = nullptr;  // KV cache values, addressed like k through the v_* strides
  void* o = nullptr;        // [batch, heads_q, seq_q, head_dim] via the o_* strides, same dtype as q
  float* lse = nullptr;     // [batch, heads_q, seq_q] contiguous natural-log sum-exp per row; may be null

  std::int64_t q_batch_stride = 0, q_head_stride = 0, q_row_stride = 0;  // element strides of q
  std::int64_t k_batch_stride = 0, k_head_stride = 0, k_row_stride = 0;  // of k; batch = page stride when paged
  std::int64_t v_batch_stride = 0, v_head_stride = 0, v_row_stride = 0;  // of v; batch = page stride when paged
  std::int64_t o_batch_stride = 0, o_head_stride = 0, o_row_stride = 0;  // element strides of o

  const int* block_table = nullptr;     // [batch, block_table_stride] page ids; null = contiguous cache
  std::int64_t block_table_stride = 0;  // entries per sequence in block_table (>= ceil(seq_kv / page_size))

  const int* kv_lens = nullptr;       // [batch] valid keys per sequence, in device memory (CUDA flash)
  const int* kv_lens_host = nullptr;  // the same lengths in host memory (CPU kernels, CUDA standard)
                                      // every kv_len is in [0, seq_kv]; all are seq_kv when null

  float softmax_scale = 1.0f;  // usually 1/sqrt(D)

  int num_splits = 0;             // key ranges per sequence for flash decode; 0 = decodeSplitHeuristic
  float* partial_o = nullptr;     // fp32 [num_splits, batch, heads_q, seq_q, head_dim] when num_splits > 1
  float* partial_lse = nullptr;   // fp32 [num_splits, batch, heads_q, seq_q] when num_splits > 1
  int* split_counters = nullptr;  // CUDA: [decodeBlocksPerSplit] arrivals; set = fused combine (see below)
  bool overlapped = false;        // CUDA, sm_90+: the split kernel is a programmatic dependent launch: it
                                  // may start during the previous kernel's tail and waits for it before
                                  // it reads Q and the newest seq_q keys of each sequence (the rows a
                                  // decode step appends); older keys, kv_lens and block_table must be in
                                  // memory before the previous kernel starts (they are read earlier)

  ATTNBENCH_HOST_DEVICE bool paged() const { return block_table != nullptr; }
  // Query rows sharing one KV head: the rows a GQA-packed kernel reads each K/V row for.
  ATTNBENCH_HOST_DEVICE int rowsPerKvHead() const { return groupSize() * seq_q; }
};

// Sets the problem and cache layout with the softmax scale 1/sqrt(D); pointers, strides and lengths stay.
inline void setShape(DecodeParams& p, const DecodeShape& s) {
  static_cast<DecodeShape&>(p) = s;
  p.softmax_scale = defaultSoftmaxScale(s.head_dim);
}

// Densely packed Q/O [B, Hq, seq_q, D] and a contiguous cache [B, Hkv, kv_capacity, D] (kv_capacity >= N).
inline void setPackedStrides(DecodeParams& p, int kv_capacity) {
  setStrides(p, packedBhndStrides(p.heads_q, p.seq_q, p.head_dim),
             packedBhndStrides(p.heads_kv, kv_capacity, p.head_dim));
}

// K and V in page pools [pages, Hkv, page_size, D] (a page where a sequence would be); sets page_size
// too. Q and O keep their strides.
inline void setPagedKvStrides(DecodeParams& p, int page_size) {
  setKvStrides(p, packedBhndStrides(p.heads_kv, page_size, p.head_dim));
  p.page_size = page_size;
}

// A page pool [pages, Hkv, page_size, D] for K and for V, and packed Q/O; sets page_size too.
inline void setPagedStrides(DecodeParams& p, int page_size) {
  setPackedStrides(p, page_size);
  p.page_size = page_size;
}

// Pages one sequence of `kv_len` keys occupies.
constexpr std::int64_t decodePagesFor(std::int64_t kv_len, int page_size) {
  return page_size > 0 ? (kv_len + page_size - 1) / page_size : 0;
}

// Valid keys of sequence b (host view: kv_lens_host, else seq_kv).
inline int decodeKvLenHost(const DecodeParams& p, int b) {
  return p.kv_lens_host != nullptr ? p.kv_lens_host[b] : p.seq_kv;
}

// Empty when the shape, the lengths' bounds and the cache description are consistent, else a
// one-line reason. Kernel families add their own limits (head dims, dtypes, memory spaces).
inline std::string decodeShapeUnsupportedReason(const DecodeParams& p) {
  if (p.batch <= 0 || p.heads_q <= 0 || p.heads_kv <= 0 || p.head_dim <= 0 || p.seq_kv <= 0) {
    return "batch, heads, head dim and KV length must be positive";
  }
  if (p.heads_q % p.heads_kv != 0) return "heads_q must be a multiple of heads_kv";
  if (p.seq_q < 1 || p.seq_q > kMaxDecodeQueryLen) {
    return "decode takes 1 to " + std::to_string(kMaxDecodeQueryLen) + " new query rows, not " +
           std::to_string(p.seq_q);
  }
  if (p.num_splits < 0 || p.num_splits > kMaxDecodeSplits) {
    return "num_splits must be 0 (auto) to " + std::to_string(kMaxDecodeSplits);
  }
  if (p.paged()) {
    if (p.page_size < 16 || p.page_size > 256) return "page size must be 16 to 256 tokens";
    if (p.block_table_stride < decodePagesFor(p.seq_kv, p.page_size)) {
      return "block_table_stride is smaller than the pages of the longest sequence";
    }
  }
  return {};
}

// Blocks of one split: (sequence, KV head, block of kDecodeRowsPerBlock query rows).
inline std::int64_t decodeBlocksPerSplit(const DecodeParams& p) {
  const std::int64_t row_blocks = (p.rowsPerKvHead() + kDecodeRowsPerBlock - 1) / kDecodeRowsPerBlock;
  return std::int64_t{p.batch} * p.heads_kv * row_blocks;
}

// Splits for flash decode when num_splits is 0. `parallel_units` x `blocks_per_unit` blocks run at
// once (CUDA: SMs x kDecodeBlocksPerSM; CPU: threads x 1). Without a split, B x Hkv x row-blocks
// blocks may leave most units idle (B = 1, Hkv = 8: 8 of 264 slots). So: one split when those blocks
// already fill 80 % of the slots; else the fewest splits whose blocks fill the last wave to at least
// 95 % of the best fill any count up to the limit reaches, where the limit keeps every split at
// kDecodeMinKeysPerSplit keys or more and at most kMaxDecodeSplits.
inline int decodeSplitHeuristic(const DecodeParams& p, int parallel_units, int blocks_per_unit) {
  const std::int64_t base = decodeBlocksPerSplit(p);
  const std::int64_t slot_count = std::int64_t{std::max(parallel_units, 1)} * std::max(blocks_per_unit, 1);
  if (base <= 0 || 5 * base >= 4 * slot_count) return 1;
  const int limit = static_cast<int>(std::clamp<std::int64_t>(
      (std::int64_t{p.seq_kv} + kDecodeMinKeysPerSplit - 1) / kDecodeMinKeysPerSplit, 1, kMaxDecodeSplits));
  const auto fill = [&](int splits) {
    const std::int64_t blocks = base * splits;
    const std::int64_t waves = (blocks + slot_count - 1) / slot_count;
    return static_cast<double>(blocks) / static_cast<double>(waves * slot_count);
  };
  double best = 0.0;
  for (int s = 1; s <= limit; ++s) best = std::max(best, fill(s));
  for (int s = 1; s <= limit; ++s) {
    if (fill(s) >= 0.95 * best) return s;
  }
  return limit;
}

// num_splits when set, else the heuristic; never more splits than there are keys.
inline int resolveDecodeSplits(const DecodeParams& p, int parallel_units, int blocks_per_unit) {
  const int splits = p.num_splits > 0 ? p.num_splits : decodeSplitHeuristic(p, parallel_units, blocks_per_unit);
  return std::clamp(splits, 1, std::max(1, std::min(p.seq_kv, kMaxDecodeSplits)));
}

// Keys [begin, end) of split `split` of a sequence with `kv_len` keys: equal ranges rounded up to
// `align` keys (a kernel's key tile), so only a range's last tile is partial; trailing splits of a short
// sequence are empty (begin == end) and contribute nothing to the combine.
struct DecodeKeyRange {
  int begin = 0, end = 0;
};
ATTNBENCH_HOST_DEVICE inline DecodeKeyRange decodeSplitRange(int kv_len, int splits, int split, int align) {
  const int per_split = (kv_len + splits - 1) / splits;
  const int chunk = (per_split + align - 1) / align * align;
  const long long first = static_cast<long long>(split) * chunk;
  const int begin = first < kv_len ? static_cast<int>(first) : kv_len;
  return {begin, kv_len - begin < chunk ? kv_len : begin + chunk};
}

// Keys query row `row` (0-based among the seq_q new rows) may see in a sequence of `kv_len` keys.
ATTNBENCH_HOST_DEVICE inline int decodeVisibleKeys(const DecodeParams& p, int kv_len, int row) {
  if (!p.causal) return kv_len;
  const int visible = kv_len - p.seq_q + 1 + row;
  return visible < 0 ? 0 : (visible > kv_len ? kv_len : visible);
}

// Element offset of cache position j of sequence b, KV head h, in a tensor with the given strides
// (k or v): through the block table when paged.
ATTNBENCH_HOST_DEVICE inline std::int64_t decodeKvOffset(const DecodeParams& p, std::int64_t batch_stride,
                                                         std::int64_t head_stride, std::int64_t row_stride, int b,
                                                         int h, int j) {
  if (!p.paged()) return b * batch_stride + h * head_stride + j * row_stride;
  const std::int64_t page = p.block_table[b * p.block_table_stride + j / p.page_size];
  return page * batch_stride + h * head_stride + (j % p.page_size) * row_stride;
}

// Elements of the partial O for `splits` splits (none for one split), and of the partial LSE.
inline std::int64_t decodePartialRows(const DecodeParams& p, int splits) {
  return splits > 1 ? std::int64_t{splits} * p.batch * p.heads_q * p.seq_q : 0;
}

// How flash decode on CUDA merges the splits: in the last split block of each row block (fused, needs
// the arrival counters), or in a separate combine kernel.
enum class DecodeCombine : std::uint8_t { Fused, Kernel };

// Workspace bytes flash decode needs with `splits` splits: fp32 partial O, fp32 partial LSE, then the
// int arrival counters of the fused combine (nothing for one split).
inline std::size_t decodeWorkspaceBytes(const DecodeParams& p, int splits) {
  if (splits <= 1) return 0;
  const auto rows = static_cast<std::size_t>(decodePartialRows(p, splits));
  return rows * (static_cast<std::size_t>(p.head_dim) + 1) * sizeof(float) +
         static_cast<std::size_t>(decodeBlocksPerSplit(p)) * sizeof(int);
}

// Points partial_o, partial_lse and (fused) split_counters into `workspace` (decodeWorkspaceBytes(p,
// splits) bytes, 16-byte aligned; zeroed once before the first fused call) and records the split count.
inline void setDecodeWorkspace(DecodeParams& p, int splits, void* workspace,
                               DecodeCombine combine = DecodeCombine::Fused) {
  p.num_splits = splits;
  const std::int64_t rows = decodePartialRows(p, splits);
  float* floats = static_cast<float*>(workspace);
  p.partial_o = rows > 0 ? floats : nullptr;
  p.partial_lse = rows > 0 ? floats + rows * p.head_dim : nullptr;
  p.split_counters = rows > 0 && combine == DecodeCombine::Fused
                         ? reinterpret_cast<int*>(floats + rows * (p.head_dim + 1))
                         : nullptr;
}

// Bytes a decode step must move at least: K and V of every valid key once, Q read, O written.
inline double decodeCompulsoryBytes(const DecodeParams& p) {
  std::int64_t keys = 0;
  for (int b = 0; b < p.batch; ++b) keys += decodeKvLenHost(p, b);
  const double element = bytesPerElement(p.dtype);
  return element * (2.0 * static_cast<double>(keys) * p.heads_kv * p.head_dim +
                    2.0 * static_cast<double>(p.batch) * p.heads_q * p.seq_q * p.head_dim);
}

// Sequences [first, first + count) of a contiguous cache, all with `kv_len` valid keys, as a prefill
// problem (Nq = seq_q, Nk = kv_len, same bottom-right causal mask): what the standard kernels run.
inline AttentionParams decodeAsAttention(const DecodeParams& p, int first, int count, int kv_len) {
  const auto element = static_cast<std::int64_t>(bytesPerElement(p.dtype));
  const auto at = [&](const void* base, std::int64_t stride) {
    return static_cast<const void*>(static_cast<const char*>(base) + first * stride * element);
  };
  AttentionParams a;
  a.q = at(p.q, p.q_batch_stride);
  a.k = at(p.k, p.k_batch_stride);
  a.v = at(p.v, p.v_batch_stride);
  a.o = const_cast<void*>(at(p.o, p.o_batch_stride));
  a.lse = p.lse != nullptr ? p.lse + std::int64_t{first} * p.heads_q * p.seq_q : nullptr;
  copyStrides(a, p);
  static_cast<AttentionShape&>(a) = p;
  a.batch = count;
  a.seq_kv = kv_len;
  a.softmax_scale = p.softmax_scale;
  return a;
}

// True when every sequence has the same length (the host view), so one batched call covers them all.
inline bool decodeUniformLengths(const DecodeParams& p) {
  for (int b = 1; b < p.batch; ++b) {
    if (decodeKvLenHost(p, b) != decodeKvLenHost(p, 0)) return false;
  }
  return true;
}

}  // namespace attnbench::kernels
