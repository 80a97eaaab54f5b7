#!/usr/bin/env python3
"""PyTorch's scaled_dot_product_attention as the peer of attnbench's kernels (runs on a CUDA host).

For each N and causal setting, times SDPA with the FLASH_ATTENTION (FlashAttention-2), CUDNN_ATTENTION
and MATH backends with CUDA events (warm-up, then the median of the timed runs) and records the peak
device memory the call needed beyond its inputs (torch.cuda.max_memory_allocated). Out-of-memory is a
result, not a crash. Writes one JSON object per measurement (JSON lines) to stdout.

    python3 torch_sdpa_peers.py --seq 512 1024 ... --batch 1 --heads 32 --kv-heads 8 --dim 128 --dtype bf16
"""
import argparse
import json
import math
import statistics
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.functional import scaled_dot_product_attention

from torch_timing import event_samples_ms, graph_samples_ms, sm_clock_mhz

BACKENDS = {"torch-flash": SDPBackend.FLASH_ATTENTION, "torch-cudnn": SDPBackend.CUDNN_ATTENTION,
            "torch-math": SDPBackend.MATH}


# The launch-count rule of attnbench's kernel harness (--sustain-ms): enough calls for that many
# milliseconds of work at a nominal 600 TFLOP/s, at least the burst.
NOMINAL_FLOPS_PER_MS = 600e9


def calls_per_sample(burst, sustain_ms, flops):
    return max(burst, math.ceil(sustain_ms * NOMINAL_FLOPS_PER_MS / flops)) if sustain_ms > 0 else burst


def time_ms(fn, warmup, reps, burst, graph, min_time_s, idle_ms):
    if graph:
        return statistics.median(graph_samples_ms(fn, warmup, reps, burst, min_time_s))
    # Every timed sample starts after idle_ms of an idle device (the warm-up, if any, between the first
    # gap and the first sample), as attnbench's harness and the CUTLASS peer do: a burst of a few
    # milliseconds runs at the clock the previous work left.
    samples = []
    for rep in range(reps):
        torch.cuda.synchronize()
        time.sleep(idle_ms / 1000.0)
        samples += event_samples_ms(fn, warmup if rep == 0 else 0, 1, burst)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, nargs="+", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=None, help="key/value heads (GQA); default = heads")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--burst", type=int, default=1,
                        help="back-to-back calls per timed sample (>1 hides launch latency, like attnbench's "
                             "batch timing; 1 times each call as the host issues it)")
    parser.add_argument("--graph", action="store_true",
                        help="time replays of a CUDA graph of --burst calls (no host work between the calls)")
    parser.add_argument("--min-time", type=float, default=0.0,
                        help="with --graph: replay until this many seconds have run (the sustained clock)")
    parser.add_argument("--idle-ms", type=float, default=0.0,
                        help="idle device time before every timed sample (event timing). Default none, as the "
                             "programs other studies compare this one with; the Hopper study passes 250, the "
                             "default of attnbench's kernel harness and of the CUTLASS peer")
    parser.add_argument("--sustain-ms", type=float, default=0.0,
                        help="calls per sample: this many ms of work at a nominal 600 TFLOP/s, if more than "
                             "--burst (settled clocks; event timing)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    args = parser.parse_args()
    if args.idle_ms < 0 or args.sustain_ms < 0:
        parser.error("--idle-ms and --sustain-ms must not be negative")
    dtype = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    kv_heads = args.kv_heads or args.heads
    gqa = {"enable_gqa": True} if kv_heads != args.heads else {}
    cudnn = torch.backends.cudnn.version()  # e.g. 91900 for 9.19.0
    print(json.dumps({"event": "peer_started", "torch": torch.__version__, "device": torch.cuda.get_device_name(),
                      "cudnn": f"{cudnn // 10000}.{cudnn // 100 % 100}.{cudnn % 100}" if cudnn else None}), flush=True)
    for n in args.seq:
        q = torch.randn((args.batch, args.heads, n, args.dim), device="cuda", dtype=dtype)
        k, v = (torch.randn((args.batch, kv_heads, n, args.dim), device="cuda", dtype=dtype) for _ in range(2))
        input_bytes = (q.numel() + k.numel() + v.numel()) * q.element_size()
        for causal in (False, True):
            flops = 4.0 * args.batch * args.heads * n * n * args.dim * (0.5 if causal else 1.0)
            for name in args.backends:
                calls = args.burst if args.graph else calls_per_sample(args.burst, args.sustain_ms, flops)
                record = {"event": "peer", "backend": name, "timing": "graph" if args.graph else f"burst{calls}",
                          "idle_ms": 0 if args.graph else args.idle_ms,
                          "seq_len": n, "causal": causal, "batch": args.batch,
                          "heads": args.heads, "kv_heads": kv_heads, "head_dim": args.dim, "dtype": args.dtype}
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                try:
                    with sdpa_kernel(BACKENDS[name]):
                        ms = time_ms(lambda: scaled_dot_product_attention(q, k, v, is_causal=causal, **gqa),
                                     args.warmup, args.reps, calls, args.graph, args.min_time, args.idle_ms)
                    record.update(status="ok", median_ms=ms, tflops=flops / ms / 1e9, sm_clock_mhz=sm_clock_mhz(),
                                  peak_bytes=torch.cuda.max_memory_allocated() - base + input_bytes)
                except torch.OutOfMemoryError:
                    record.update(status="oom")
                except RuntimeError as error:
                    record.update(status="unavailable", message=str(error).splitlines()[0][:160])
                torch.cuda.empty_cache()
                print(json.dumps(record), flush=True)
        del q, k, v
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
