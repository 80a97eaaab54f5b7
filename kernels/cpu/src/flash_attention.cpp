// Flash attention on the CPU: for each block of Br query rows, stream K/V in tiles of Bc rows, keep a
// running row max m and row sum l, rescale the fp32 O accumulator when m grows, and normalise O once
// at the end. Scratch is a few tiles per worker; nothing grows with Nq * Nk.
#include <cmath>
#include <unistd.h>

#include "attnbench/kernels/cpu_attention.h"
#include "cpu_support.h"

namespace attnbench::kernels::cpu {
namespace {

using detail::ConstRowMap;
using detail::RowMap;

// Tile edges are clamped to this: a 1024 x 1024 score tile is already 4 MiB per worker, past any L2.
constexpr int kMaxTileEdge = 1024;

// One worker's scratch, as float offsets into its slice of the workspace, every buffer on a line.
// K and V tiles exist only for fp16/bf16 storage (fp32 K/V are read in place). Score rows are padded
// to whole lines so the row softmax runs fully vectorized.
struct FlashScratchLayout {
  std::size_t q = 0, s = 0, s_stride = 0, o = 0, row_max = 0, row_sum = 0, k = 0, v = 0, floats = 0;
};

FlashScratchLayout flashScratchLayout(const AttentionParams& p, TileShape tile) {
  const auto br = static_cast<std::size_t>(tile.rows), bc = static_cast<std::size_t>(tile.cols);
  const auto d = static_cast<std::size_t>(p.head_dim);
  const std::size_t kv_tile = p.dtype == DType::F32 ? 0 : bc * d;
  detail::ScratchLayoutBuilder scratch;
  FlashScratchLayout l;
  l.q = scratch.take(br * d);
  l.s_stride = detail::padToLine(bc);
  l.s = scratch.take(br * l.s_stride);
  l.o = scratch.take(br * d);
  l.row_max = scratch.take(br);
  l.row_sum = scratch.take(br);
  l.k = scratch.take(kv_tile);
  l.v = scratch.take(kv_tile);
  l.floats = scratch.size();
  return l;
}

std::int64_t queryBlocks(const AttentionParams& p, TileShape tile) { return (p.seq_q + tile.rows - 1) / tile.rows; }

std::int64_t flashItems(const AttentionParams& p, TileShape tile) {
  return std::int64_t{p.batch} * p.heads_q * queryBlocks(p, tile);
}

// A K or V tile of `rows` rows starting at `row0` as an fp32 view: in place for fp32 storage, else
// converted into `scratch`.
template <class T>
ConstRowMap kvTile(const void* base, std::int64_t offset, std::int64_t row_stride, std::int64_t row0,
                   std::int64_t rows, std::int64_t d, float* scratch) {
  const T* src = static_cast<const T*>(base) + offset + row0 * row_stride;
  if constexpr (std::is_same_v<T, float>) {
    return ConstRowMap(src, rows, d, Eigen::OuterStride<>(row_stride));
  } else {
    detail::loadRows(src, row_stride, rows, d, 1.0f, scratch, d);
    return ConstRowMap(scratch, rows, d, Eigen::OuterStride<>(d));
  }
}

template <class T>
void runFlash(const AttentionParams& p, TileShape tile, float* workspace, int threads) {
  const FlashScratchLayout layout = flashScratchLayout(p, tile);
  const std::int64_t d = p.head_dim;
  const std::int64_t blocks = queryBlocks(p, tile);
  const int group = p.groupSize();

  detail::parallelFor(flashItems(p, tile), threads, [&](std::int64_t item, int worker) {
    const std::int64_t head = item / blocks;  // b * Hq + h
    const std::int64_t b = head / p.heads_q, h = head % p.heads_q, kv_h = h / group;
    // Last query blocks first: under a causal mask they see the most keys, so the long items start early.
    const std::int64_t r0 = (blocks - 1 - item % blocks) * tile.rows;
    const std::int64_t br = std::min<std::int64_t>(tile.rows, p.seq_q - r0);
    // Keys past the last row's window are masked for the whole block: those tiles are never visited.
    const std::int64_t kv_end = detail::visibleKeys(p, r0 + br - 1);

    float* scratch = workspace + static_cast<std::size_t>(worker) * layout.floats;
    float* row_max = scratch + layout.row_max;
    float* row_sum = scratch + layout.row_sum;
    RowMap q(scratch + layout.q, br, d, Eigen::OuterStride<>(d));
    RowMap o(scratch + layout.o, br, d, Eigen::OuterStride<>(d));
    // The softmax scale is folded into the Q tile once instead of into every score tile.
    detail::loadRows(static_cast<const T*>(p.q) + b * p.q_batch_stride + h * p.q_head_stride + r0 * p.q_row_stride,
                     p.q_row_stride, br, d, p.softmax_scale, q.data(), d);
    std::fill(row_max, row_max + br, detail::kNegInf);
    std::fill(row_sum, row_sum + br, 0.0f);
    if (kv_end == 0) o.setZero();

    const std::int64_t k_offset = b * p.k_batch_stride + kv_h * p.k_head_stride;
    const std::int64_t v_offset = b * p.v_batch_stride + kv_h * p.v_head_stride;
    for (std::int64_t c0 = 0; c0 < kv_end; c0 += tile.cols) {
      const std::int64_t bc = std::min<std::int64_t>(tile.cols, kv_end - c0);
      const bool first = c0 == 0;
      const ConstRowMap k = kvTile<T>(p.k, k_offset, p.k_row_stride, c0, bc, d, scratch + layout.k);
      RowMap s(scratch + layout.s, br, bc, Eigen::OuterStride<>(static_cast<std::int64_t>(layout.s_stride)));
      s.noalias() = q * k.transpose();

      for (std::int64_t i = 0; i < br; ++i) {
        float* row = s.row(i).data();
        const std::int64_t visible = std::clamp<std::int64_t>(detail::visibleKeys(p, r0 + i) - c0, 0, bc);
        if (visible == 0) {  // nothing new for this row: P row = 0, m, l and O unchanged
          std::fill(row, row + bc, 0.0f);
          continue;
        }
        const float new_max = std::max(row_max[i], detail::rowMax(row, visible));
        const float rescale = std::exp(row_max[i] - new_max);  // 0 while the row had no key yet
        row_sum[i] = row_sum[i] * rescale + detail::exponentiateRow(row, visible, bc, new_max);
        row_max[i] = new_max;
        if (!first && rescale != 1.0f) o.row(i) *= rescale;
      }

      const ConstRowMap v = kvTile<T>(p.v, v_offset, p.v_row_stride, c0, bc, d, scratch + layout.v);
      if (first) {
        o.noalias() = s * v;
      } else {
        o.noalias() += s * v;
      }
    }

    // Normalise once, in the store; rows that saw no key have l = 0 and output zeros (LSE = -inf).
    float* inverse_sum = row_sum;  // l is consumed row by row, so its buffer takes 1 / l
    for (std::int64_t i = 0; i < br; ++i) {
      const bool seen = row_sum[i] > 0.0f;
      if (p.lse != nullptr) p.lse[head * p.seq_q + r0 + i] = seen ? row_max[i] + std::log(row_sum[i]) : detail::kNegInf;
      inverse_sum[i] = seen ? 1.0f / row_sum[i] : 0.0f;
    }
    detail::storeRows(o.data(), d, br, d, inverse_sum,
                      static_cast<T*>(p.o) + b * p.o_batch_stride + h * p.o_head_stride + r0 * p.o_row_stride,
                      p.o_row_stride);
  });
}

std::size_t level2CacheBytes() {
  const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return bytes > 0 ? static_cast<std::size_t>(bytes) : std::size_t{1} << 20;
}

// Auto tile, per head dim. Br = 128 query rows keeps the Q and O tiles (2 * Br * D floats) small
// while giving both GEMMs an M of 128; Bc is the widest power of two up to 512 whose K and V tiles
// plus the Br x Bc score tile fill at most half of L2, so the tile step runs from L2.
TileShape autoFlashTile(int head_dim) {
  const std::size_t budget = level2CacheBytes() / 2 / sizeof(float);
  const std::size_t d = static_cast<std::size_t>(std::max(head_dim, 1));
  const int rows = 128;
  int cols = 512;
  while (cols > 32 && 2 * d * (static_cast<std::size_t>(rows) + static_cast<std::size_t>(cols)) +
                              static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) >
                          budget) {
    cols /= 2;
  }
  return {rows, cols};
}

}  // namespace

TileShape resolveFlashTile(const AttentionParams& params, TileShape requested) {
  const TileShape chosen = autoFlashTile(params.head_dim);
  int rows = requested.rows > 0 ? requested.rows : chosen.rows;
  int cols = requested.cols > 0 ? requested.cols : chosen.cols;
  rows = std::clamp(rows, 1, std::min(kMaxTileEdge, std::max(params.seq_q, 1)));
  cols = std::clamp(cols, 1, std::min(kMaxTileEdge, std::max(params.seq_kv, 1)));
  return {rows, cols};
}

std::size_t flashWorkspaceBytes(const AttentionParams& params, TileShape tile, int threads) {
  if (!detail::hasWork(params)) return 0;
  const TileShape t = resolveFlashTile(params, tile);
  const auto workers = static_cast<std::size_t>(detail::workerCount(flashItems(params, t), threads));
  return workers * flashScratchLayout(params, t).floats * sizeof(float) + detail::kLineBytes;
}

void flashAttention(const AttentionParams& params, TileShape tile, void* workspace, int threads) {
  if (!detail::hasWork(params)) return;
  const TileShape t = resolveFlashTile(params, tile);
  detail::dispatchStorage(params.dtype, [&](auto tag) {
    runFlash<decltype(tag)>(params, t, detail::alignToLine(workspace), threads);
  });
}

}  // namespace attnbench::kernels::cpu
