// Decode on the CPU. Flash: work items (sequence, KV head, split); each streams its split's keys in
// tiles of kTileKeys (rows fetched through the block table when paged), runs the online softmax for
// all G x q_len query rows of the KV head at once (GQA packing: each K/V row is converted once for the
// whole group), and writes either O (one split) or a normalized fp32 partial O and its LSE; a second
// pass merges the partials by LSE. Standard: cpu::standardAttention per run of equal lengths.
#include <cmath>

#include "attnbench/kernels/cpu_attention.h"
#include "attnbench/kernels/cpu_decode.h"
#include "cpu_support.h"

namespace attnbench::kernels::cpu {
namespace {

using detail::ConstRowMap;
using detail::RowMap;

constexpr int kTileKeys = 64;

// One worker's scratch as float offsets, every buffer on a 64-byte line.
struct DecodeScratchLayout {
  std::size_t q = 0, k = 0, v = 0, s = 0, o = 0, row_max = 0, row_sum = 0, floats = 0;
};

DecodeScratchLayout decodeScratchLayout(const DecodeParams& p) {
  const auto rows = static_cast<std::size_t>(p.rowsPerKvHead());
  const auto d = static_cast<std::size_t>(p.head_dim);
  detail::ScratchLayoutBuilder scratch;
  DecodeScratchLayout l;
  l.q = scratch.take(rows * d);
  l.k = scratch.take(kTileKeys * d);
  l.v = scratch.take(kTileKeys * d);
  l.s = scratch.take(rows * kTileKeys);
  l.o = scratch.take(rows * d);
  l.row_max = scratch.take(rows);
  l.row_sum = scratch.take(rows);
  l.floats = scratch.size();
  return l;
}

std::int64_t flashItems(const DecodeParams& p, int splits) { return std::int64_t{p.batch} * p.heads_kv * splits; }

// Rows [begin, end) of a K or V cache for (b, h) as fp32 rows of `dst`, page by page.
template <class T>
void loadKvRows(const DecodeParams& p, const void* base, std::int64_t batch_stride, std::int64_t head_stride,
                std::int64_t row_stride, int b, int h, int begin, int end, float* dst) {
  const T* cache = static_cast<const T*>(base);
  for (int j = begin; j < end;) {
    // A run of rows that are adjacent in memory: the rest of the page, or the whole range when contiguous.
    const int run = p.paged() ? std::min(end - j, p.page_size - j % p.page_size) : end - j;
    detail::loadRows(cache + decodeKvOffset(p, batch_stride, head_stride, row_stride, b, h, j), row_stride, run,
                     p.head_dim, 1.0f, dst + std::int64_t{j - begin} * p.head_dim, p.head_dim);
    j += run;
  }
}

// Output row (b, query head, new row i) as an element offset of o and as an index of lse rows.
std::int64_t outputOffset(const DecodeParams& p, int b, int head, int i) {
  return b * p.o_batch_stride + head * p.o_head_stride + i * p.o_row_stride;
}
std::int64_t rowIndex(const DecodeParams& p, int b, int head, int i) {
  return (std::int64_t{b} * p.heads_q + head) * p.seq_q + i;
}

template <class T>
void runFlashDecode(const DecodeParams& p, int splits, float* scratch_base, int threads) {
  const DecodeScratchLayout layout = decodeScratchLayout(p);
  const int group = p.groupSize();
  const int rows = p.rowsPerKvHead();
  const std::int64_t d = p.head_dim;
  const std::int64_t partial_rows = std::int64_t{p.batch} * p.heads_q * p.seq_q;

  detail::parallelFor(flashItems(p, splits), threads, [&](std::int64_t item, int worker) {
    const int split = static_cast<int>(item % splits);
    const int kv_head = static_cast<int>(item / splits % p.heads_kv);
    const int b = static_cast<int>(item / splits / p.heads_kv);
    const int kv_len = decodeKvLenHost(p, b);
    const DecodeKeyRange range = decodeSplitRange(kv_len, splits, split, kTileKeys);

    float* scratch = scratch_base + static_cast<std::size_t>(worker) * layout.floats;
    float* row_max = scratch + layout.row_max;
    float* row_sum = scratch + layout.row_sum;
    RowMap q(scratch + layout.q, rows, d, Eigen::OuterStride<>(d));
    RowMap o(scratch + layout.o, rows, d, Eigen::OuterStride<>(d));
    // Row r of the packed group is query head kv_head * G + r / q_len, new row r % q_len.
    for (int r = 0; r < rows; ++r) {
      const int head = kv_head * group + r / p.seq_q;
      detail::loadRows(static_cast<const T*>(p.q) + b * p.q_batch_stride + head * p.q_head_stride +
                           (r % p.seq_q) * p.q_row_stride,
                       p.q_row_stride, 1, d, p.softmax_scale, q.row(r).data(), d);
    }
    std::fill(row_max, row_max + rows, detail::kNegInf);
    std::fill(row_sum, row_sum + rows, 0.0f);
    o.setZero();

    for (int c0 = range.begin; c0 < range.end; c0 += kTileKeys) {
      const int bc = std::min(kTileKeys, range.end - c0);
      loadKvRows<T>(p, p.k, p.k_batch_stride, p.k_head_stride, p.k_row_stride, b, kv_head, c0, c0 + bc,
                    scratch + layout.k);
      loadKvRows<T>(p, p.v, p.v_batch_stride, p.v_head_stride, p.v_row_stride, b, kv_head, c0, c0 + bc,
                    scratch + layout.v);
      const ConstRowMap k(scratch + layout.k, bc, d, Eigen::OuterStride<>(d));
      const ConstRowMap v(scratch + layout.v, bc, d, Eigen::OuterStride<>(d));
      RowMap s(scratch + layout.s, rows, bc, Eigen::OuterStride<>(kTileKeys));
      s.noalias() = q * k.transpose();
      for (int r = 0; r < rows; ++r) {
        float* row = s.row(r).data();
        const int visible = std::clamp(decodeVisibleKeys(p, kv_len, r % p.seq_q) - c0, 0, bc);
        if (visible == 0) {
          std::fill(row, row + bc, 0.0f);
          continue;
        }
        const float new_max = std::max(row_max[r], detail::rowMax(row, visible));
        const float rescale = std::exp(row_max[r] - new_max);  // 0 while the row had no key yet
        row_sum[r] = row_sum[r] * rescale + detail::exponentiateRow(row, visible, bc, new_max);
        row_max[r] = new_max;
        o.row(r) *= rescale;
      }
      o.noalias() += s * v;
    }

    for (int r = 0; r < rows; ++r) {
      const int head = kv_head * group + r / p.seq_q, i = r % p.seq_q;
      const bool seen = row_sum[r] > 0.0f;
      const float lse = seen ? row_max[r] + std::log(row_sum[r]) : detail::kNegInf;
      const float inverse = seen ? 1.0f / row_sum[r] : 0.0f;
      const std::int64_t index = rowIndex(p, b, head, i);
      if (splits == 1) {
        if (p.lse != nullptr) p.lse[index] = lse;
        detail::storeRows(o.row(r).data(), d, 1, d, &inverse, static_cast<T*>(p.o) + outputOffset(p, b, head, i), d);
      } else {
        const std::int64_t partial = split * partial_rows + index;
        p.partial_lse[partial] = lse;
        detail::storeRows(o.row(r).data(), d, 1, d, &inverse, p.partial_o + partial * d, d);
      }
    }
  });
  if (splits == 1) return;

  // Combine: O = sum_s w_s O_s / sum_s w_s with w_s = exp(lse_s - max lse); empty splits have w = 0.
  detail::parallelFor(partial_rows, threads, [&](std::int64_t index, int worker) {
    float* merged = scratch_base + static_cast<std::size_t>(worker) * layout.floats;
    float max_lse = detail::kNegInf;
    for (int s = 0; s < splits; ++s) max_lse = std::max(max_lse, p.partial_lse[s * partial_rows + index]);
    Eigen::Map<Eigen::ArrayXf> out(merged, d);
    out.setZero();
    float total = 0.0f;
    if (max_lse != detail::kNegInf) {
      for (int s = 0; s < splits; ++s) {
        const float weight = std::exp(p.partial_lse[s * partial_rows + index] - max_lse);
        total += weight;
        out += weight * Eigen::Map<const Eigen::ArrayXf>(p.partial_o + (s * partial_rows + index) * d, d);
      }
    }
    const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
    if (p.lse != nullptr) p.lse[index] = total > 0.0f ? max_lse + std::log(total) : detail::kNegInf;
    const int i = static_cast<int>(index % p.seq_q);
    const int head = static_cast<int>(index / p.seq_q % p.heads_q);
    const int b = static_cast<int>(index / p.seq_q / p.heads_q);
    detail::storeRows(merged, d, 1, d, &inverse, static_cast<T*>(p.o) + outputOffset(p, b, head, i), d);
  });
}

}  // namespace

int flashDecodeSplits(const DecodeParams& params, int threads) {
  return resolveDecodeSplits(params, std::max(threads, 1), 1);
}

std::size_t flashDecodeScratchBytes(const DecodeParams& params, int threads) {
  if (!decodeShapeUnsupportedReason(params).empty()) return 0;
  const int splits = flashDecodeSplits(params, threads);
  // The combine pass runs one item per output row and uses a worker's scratch for the merged row.
  const std::int64_t items =
      std::max(flashItems(params, splits), std::int64_t{params.batch} * params.heads_q * params.seq_q);
  const auto workers = static_cast<std::size_t>(detail::workerCount(items, threads));
  return workers * decodeScratchLayout(params).floats * sizeof(float) + detail::kLineBytes;
}

std::string flashDecodeUnsupportedReason(const DecodeParams& params) {
  if (std::string reason = decodeShapeUnsupportedReason(params); !reason.empty()) return reason;
  if (params.q == nullptr || params.k == nullptr || params.v == nullptr || params.o == nullptr) {
    return "q, k, v and o must be set";
  }
  return {};
}

void flashDecode(const DecodeParams& params, void* scratch, int threads) {
  if (!flashDecodeUnsupportedReason(params).empty()) return;
  const int splits = flashDecodeSplits(params, threads);
  if (splits > 1 && (params.partial_o == nullptr || params.partial_lse == nullptr)) return;
  detail::dispatchStorage(params.dtype, [&](auto tag) {
    runFlashDecode<decltype(tag)>(params, splits, detail::alignToLine(scratch), threads);
  });
}

std::string standardDecodeUnsupportedReason(const DecodeParams& params) {
  if (std::string reason = decodeShapeUnsupportedReason(params); !reason.empty()) return reason;
  if (params.paged()) return "standard decode reads a contiguous KV cache, not a paged one";
  return {};
}

std::size_t standardDecodeWorkspaceBytes(const DecodeParams& params) {
  if (!standardDecodeUnsupportedReason(params).empty()) return 0;
  return standardWorkspaceBytes(decodeAsAttention(params, 0, params.batch, params.seq_kv));
}

void standardDecode(const DecodeParams& params, void* workspace, int threads) {
  if (!standardDecodeUnsupportedReason(params).empty()) return;
  if (decodeUniformLengths(params)) {
    standardAttention(decodeAsAttention(params, 0, params.batch, decodeKvLenHost(params, 0)), workspace, threads);
    return;
  }
  for (int b = 0; b < params.batch; ++b) {
    standardAttention(decodeAsAttention(params, b, 1, decodeKvLenHost(params, b)), workspace, threads);
  }
}

}  // namespace attnbench::kernels::cpu
