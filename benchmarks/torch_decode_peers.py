#!/usr/bin/env python3
"""PyTorch SDPA as the peer of attnbench's decode kernels (runs on a CUDA host).

One decode step: q_len = 1 new query row per sequence against a KV cache of N tokens (contiguous
[B, Hkv, N, D]; is_causal=False, since the new row sees the whole cache). For each shape, times the
FLASH_ATTENTION (FlashAttention-2) and CUDNN_ATTENTION backends the way attnbench_decode_bench times
its kernels: the median over repetitions of a CUDA-event-timed burst of back-to-back calls, divided by
the burst length. GB/s counts the compulsory traffic (K and V read once, Q read, O written). Writes
one JSON object per measurement (JSON lines) to stdout; an unavailable backend or out-of-memory is a
result, not a crash.

    python3 torch_decode_peers.py --models 32/32 32/8 --batch 1 8 --seq 512 16384 65536 --dtype fp16 bf16
"""
import argparse
import json
import statistics

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.functional import scaled_dot_product_attention

from torch_timing import event_samples_ms

BACKENDS = {"torch-flash": SDPBackend.FLASH_ATTENTION, "torch-cudnn": SDPBackend.CUDNN_ATTENTION}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def time_us(fn, burst, reps):
    return 1000.0 * statistics.median(event_samples_ms(fn, 1, reps, burst))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["32/32", "32/8"], help="query/kv heads")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seq", type=int, nargs="+", default=[512, 1024, 2048, 16384, 65536])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=["fp16", "bf16"])
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    args = parser.parse_args()
    print(json.dumps({"event": "peer_started", "torch": torch.__version__, "device": torch.cuda.get_device_name()}),
          flush=True)
    for model in args.models:
        heads, kv_heads = (int(x) for x in model.split("/"))
        gqa = {"enable_gqa": True} if kv_heads != heads else {}
        for dtype_name in args.dtype:
            dtype = DTYPES[dtype_name]
            for batch in args.batch:
                for n in args.seq:
                    record_base = {"event": "peer", "heads": heads, "kv_heads": kv_heads, "dtype": dtype_name,
                                   "batch": batch, "seq_len": n, "q_len": 1, "head_dim": args.dim}
                    try:
                        q = torch.randn((batch, heads, 1, args.dim), device="cuda", dtype=dtype)
                        k, v = (torch.randn((batch, kv_heads, n, args.dim), device="cuda", dtype=dtype)
                                for _ in range(2))
                    except torch.OutOfMemoryError:
                        print(json.dumps({**record_base, "status": "oom"}), flush=True)
                        continue
                    size = q.element_size()
                    compulsory = size * (2 * k.numel() + 2 * q.numel())
                    for name in args.backends:
                        record = {**record_base, "backend": name}
                        try:
                            with sdpa_kernel(BACKENDS[name]):
                                us = time_us(lambda: scaled_dot_product_attention(q, k, v, **gqa), args.burst,
                                             args.reps)
                            record.update(status="ok", us=us, gbps=compulsory / us / 1e3)
                        except torch.OutOfMemoryError:
                            record.update(status="oom")
                        except RuntimeError as error:
                            record.update(status="unavailable", message=str(error).splitlines()[0][:160])
                        print(json.dumps(record), flush=True)
                    del q, k, v
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
