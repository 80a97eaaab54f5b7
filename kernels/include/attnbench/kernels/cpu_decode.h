// CPU decode kernels (DecodeParams: a few new query rows against a contiguous or paged KV cache).
// Flash decode runs the split-KV scheme of the CUDA kernel (per split an online-softmax pass over its
// keys into an fp32 partial O and LSE, then the LSE combine), so CI exercises the same math; standard
// decode materializes the scores through cpu::standardAttention. Both read lengths from kv_lens_host
// (null: every sequence has seq_kv keys), accumulate in fp32, write O and (when set) params.lse,
// and output zeros with LSE = -inf for a row that sees no key. `threads` as in cpu_attention.h.
#pragma once

#include <cstddef>
#include <string>

#include "attnbench/kernels/decode_params.h"

namespace attnbench::kernels::cpu {

// The split count flashDecode uses: params.num_splits, else the heuristic with `threads` units.
int flashDecodeSplits(const DecodeParams& params, int threads);

// Host scratch flashDecode needs beyond params.partial_o/partial_lse (which must hold
// decodeWorkspaceBytes(params, flashDecodeSplits(params, threads)) when that count exceeds 1): per
// worker fp32 Q rows, one K and one V tile, the score tile and the O accumulator.
std::size_t flashDecodeScratchBytes(const DecodeParams& params, int threads);

// Empty when flashDecode can run `params` (fp32, fp16, bf16; any head dim; paged or contiguous).
std::string flashDecodeUnsupportedReason(const DecodeParams& params);

void flashDecode(const DecodeParams& params, void* scratch, int threads);

// Empty when standardDecode can run `params`; a paged cache is refused (the materialized path reads
// a contiguous cache; gathering the pages first would be a different kernel's copy, not this one's).
std::string standardDecodeUnsupportedReason(const DecodeParams& params);

// Scratch for standardDecode: cpu::standardWorkspaceBytes of the whole batch at seq_kv.
std::size_t standardDecodeWorkspaceBytes(const DecodeParams& params);

// Scores [B, Hq, q_len, kv_len(b)], softmax, PV: one cpu::standardAttention call when all lengths are
// equal, else one per sequence.
void standardDecode(const DecodeParams& params, void* workspace, int threads);

}  // namespace attnbench::kernels::cpu
