#!/usr/bin/env python3
"""GPU performance targets of attnbench, with PyTorch measured in the same call (a benchmark, not a test).

Llama-2-7B shapes (B=1, H=32, D=128, fp16) by default (--model, --dtype for others), N = 512 ... 65536,
causal and not:
  1. flash >= 1.0x torch flash (FA2) throughput for N >= 2048 (the ratio to cuDNN is reported too);
  2. baseline >= 1.5x torch math throughput, with peak memory no higher than math's;
  3. flash peak memory = inputs + outputs + LSE (no N^2 term), and B=1 runs to N = 131072.
Prints a table and PASS/FAIL per target; writes the raw events next to --out.

Usage: benchmarks/h100_targets.py ATTNBENCH_EXE --out DIR [--model llama-2-7b] [--dtype fp16]
                                 [--seq 512 ... 65536] [--reps 10]
"""
import argparse
import json
import os
import subprocess
import sys


def jsonl(cmd, log_path):
    out = subprocess.run(cmd, capture_output=True, text=True)
    with open(log_path, "w") as log:
        log.write(out.stdout)
        log.write(out.stderr)
    if out.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd[:3])} ... exited {out.returncode}:\n{out.stderr[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("exe")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seq", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192, 16384, 32768, 65536])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--model", default="llama-2-7b")
    parser.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    db = os.path.join(args.out, "h100_targets.db")
    seq = ",".join(map(str, args.seq))
    common = [args.exe, "--batch", "--db", db, "--events", "jsonl", "--no-progress", "-m", args.model,
              "--batch-sizes", "1", "--dtype", args.dtype, "--repetitions", str(args.reps), "--warmup", "2"]
    ours = jsonl(common + ["--seq-lens", seq, "--causal", "both", "--name", "h100-targets"],
                 os.path.join(args.out, "attnbench_events.jsonl"))
    longest = jsonl(common + ["--seq-lens", "131072", "--causal", "both", "--kernels", "flash", "--name", "h100-131k"],
                    os.path.join(args.out, "attnbench_131k_events.jsonl"))
    shape = next(e["result"] for e in ours if e["event"] == "point_finished")
    here = os.path.dirname(os.path.abspath(__file__))
    peers = jsonl([sys.executable, os.path.join(here, "torch_sdpa_peers.py"), "--seq", *map(str, args.seq),
                   "--reps", str(args.reps), "--dtype", args.dtype, "--heads", str(shape["heads_q"]),
                   "--kv-heads", str(shape["heads_kv"]), "--dim", str(shape["head_dim"])],
                  os.path.join(args.out, "torch_peers.jsonl"))

    device = next(e for e in ours if e["event"] == "run_started")["device"]
    torch_info = next(e for e in peers if e["event"] == "peer_started")
    print(f"device: {device['name']}  driver {device['properties'].get('driver_version')}  "
          f"torch {torch_info['torch']}  {args.model} {args.dtype} (Hq={shape['heads_q']}, Hkv={shape['heads_kv']}, "
          f"D={shape['head_dim']}), B=1")
    if device.get("ceilings"):
        c = device["ceilings"]
        print(f"ceilings: copy {c['copy_gbps']:.0f} GB/s, cuBLAS fp16 GEMM {c['gemm_tflops']:.0f} TFLOP/s")
    results = {}
    for e in ours + longest:
        if e["event"] == "point_finished":
            r = e["result"]
            results[(r["kernel"], r["seq_len"], r["causal"])] = r
    for e in peers:
        if e["event"] == "peer":
            results[(e["backend"], e["seq_len"], e["causal"])] = e

    def tf(key):
        r = results.get(key)
        return r["tflops"] if r and r["status"] == "ok" else None

    def fmt(v, spec=".0f"):
        return format(v, spec) if v is not None else "-"

    print(f"{'N':>6} {'causal':6} {'flash':>6} {'tile':>7} {'FA2':>5} {'cuDNN':>6} {'flash/FA2':>9} {'flash/cuDNN':>11} "
          f"{'std':>5} {'math':>5} {'std/math':>8} {'std GiB':>8} {'math GiB':>8} {'flash GiB':>9}")
    failures = []
    for causal in (False, True):
        for n in args.seq + [131072]:
            f, fa2, cud = tf(("flash", n, causal)), tf(("torch-flash", n, causal)), tf(("torch-cudnn", n, causal))
            s, m = tf(("standard", n, causal)), tf(("torch-math", n, causal))
            fr = results.get(("flash", n, causal), {})
            sr, mr = results.get(("standard", n, causal), {}), results.get(("torch-math", n, causal), {})
            gib = lambda r: r["peak_bytes"] / 2**30 if r.get("status") == "ok" else None
            print(f"{n:6d} {'yes' if causal else 'no':6} {fmt(f):>6} {fr.get('tile', '-'):>7} {fmt(fa2):>5} "
                  f"{fmt(cud):>6} {fmt(f / fa2 if f and fa2 else None, '.2f'):>9} "
                  f"{fmt(f / cud if f and cud else None, '.2f'):>11} {fmt(s):>5} {fmt(m):>5} "
                  f"{fmt(s / m if s and m else None, '.2f'):>8} {fmt(gib(sr), '.2f'):>8} {fmt(gib(mr), '.2f'):>8} "
                  f"{fmt(gib(fr), '.3f'):>9}")
            if n >= 2048 and n in args.seq and not (f and fa2 and f >= fa2):
                failures.append(f"flash < FA2 at N={n} causal={causal}")
            if s and m and s < 1.5 * m:
                failures.append(f"standard < 1.5x math at N={n} causal={causal}")
            if sr.get("status") == "ok" and mr.get("status") == "ok" and sr["peak_bytes"] > mr["peak_bytes"]:
                failures.append(f"standard peak above math's at N={n} causal={causal}")
            if fr.get("status") == "ok":
                hq, hkv, d = shape["heads_q"], shape["heads_kv"], shape["head_dim"]
                io = 2 * (2 * hq + 2 * hkv) * n * d + 4 * hq * n  # Q, O, K, V in 16 bits + fp32 LSE
                if fr["peak_bytes"] != io:
                    failures.append(f"flash peak {fr['peak_bytes']} != inputs+outputs+LSE {io} at N={n}")
            elif n == 131072 or n in args.seq:
                failures.append(f"flash did not run at N={n} causal={causal}: {fr.get('status')} {fr.get('message', '')}")
    for f in failures:
        print("FAIL ", f)
    print("PASS  all targets" if not failures else f"{len(failures)} target(s) missed")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
