// CPU attention kernels: standard attention (materialized scores) and flash attention (tiled,
// online softmax). Both take every byte of scratch memory from the caller, so that the caller's
// tracking allocator sees the true peak; both accumulate in fp32 whatever the storage dtype.
// `threads` is the number of worker threads (values below 1 mean 1); the calling thread is one of them.
// Both write params.lse when it is set. A query row that sees no key (causal with Nq > Nk, or Nk = 0)
// outputs zeros and LSE = -inf. A zero B, Hq, Hkv, Nq or D, or Hkv not dividing Hq, does nothing.
#pragma once

#include <cstddef>

#include "attnbench/kernels/attention_params.h"

namespace attnbench::kernels::cpu {

// Scratch bytes standardAttention needs: the full fp32 score matrix [B, Hq, Nq, Nk] (the N^2 term),
// plus fp32 copies of Q, K and V when they are stored in fp16/bf16.
std::size_t standardWorkspaceBytes(const AttentionParams& params);

// O = softmax(scale Q K^T + mask) V with all scores materialized; `threads` workers over B x Hq
// (and over blocks of query rows when B x Hq is smaller than twice `threads`).
void standardAttention(const AttentionParams& params, void* workspace, int threads);

// The tile flashAttention uses for `requested` (auto picks one for the head dim and cache sizes).
// A non-positive edge takes the auto value; edges are clamped to [1, 1024] and to Nq (rows) and
// Nk (cols), so any request runs.
TileShape resolveFlashTile(const AttentionParams& params, TileShape requested);

// Scratch bytes flashAttention needs: per worker thread one tile of Q, S and the O accumulator, the
// running max and sum per row, and for fp16/bf16 storage fp32 tiles of K and V (fp32 K/V are read
// in place), each buffer padded to 64-byte lines, plus 64 bytes so the scratch can start on a line
// whatever the workspace's alignment. Workers = min(threads, B * Hq * ceil(Nq / Br)). No term grows
// with N^2.
std::size_t flashWorkspaceBytes(const AttentionParams& params, TileShape tile, int threads);

// Tiled attention with online softmax; writes O and (when params.lse is set) the log-sum-exp.
// Workers take (batch, head, block of Br query rows) items, so B x Hq = 1 still uses every thread.
// Results do not depend on `threads`.
void flashAttention(const AttentionParams& params, TileShape tile, void* workspace, int threads);

}  // namespace attnbench::kernels::cpu
