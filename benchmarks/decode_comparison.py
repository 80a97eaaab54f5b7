#!/usr/bin/env python3
"""attnbench's decode workload (flash split-KV, standard, cudnn) against PyTorch's FA2 and cuDNN SDPA, in one call.

Runs on a CUDA host with PyTorch:
  1. `attnbench --batch --workload decode` over Llama-2-7B (32/32 heads) and Llama-3-8B (32/8), q_len 1,
     fp16 and bf16, B = 1 and 8, N = 512 .. 65536, kernels flash, standard and cudnn (blocked timing,
     the noise rule), then flash at N = 1M (Llama-3-8B, bf16, B = 1, paged with 256-token pages);
  2. torch_decode_peers.py on the same shapes (bursts of back-to-back calls, so launch latency stays out);
  3. attnbench_decode_bench's launch-latency floor (an empty kernel plus the combine) at N <= 2048, B = 1.
Prints a markdown table ("vs faster peer" = the faster of PyTorch's backends / flash: > 1 means flash is
faster) and leaves the database and the raw records in --out.

    python3 benchmarks/decode_comparison.py build/gpu/app/attnbench --bench build/gpu/kernels/cuda/attnbench_decode_bench --out out/decode
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = {"llama-2-7b": "32/32", "llama-3-8b": "32/8"}
SEQ = [512, 1024, 2048, 16384, 65536]


def run(cmd, log):
    print("$ " + " ".join(cmd), flush=True)
    with open(log, "w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        print(f"exit {done.returncode}; see {log}", flush=True)
    return done.returncode


def export_all(exe, db, out):
    """Every run of the database as one list of points (the runs are exported one by one)."""
    listing = subprocess.run([exe, "runs", "--db", db], capture_output=True, text=True).stdout
    points = []
    for run_id in re.findall(r"^\s*(\d+)\s", listing, re.M):
        path = os.path.join(out, f"run{run_id}.json")
        if subprocess.run([exe, "export", run_id, "--db", db, "--json", path]).returncode == 0:
            points += json.load(open(path))["points"]
    return points


def peers(out, seq):
    records = {}
    path = os.path.join(out, "torch_decode_peers.jsonl")
    rc = run([sys.executable, os.path.join(HERE, "torch_decode_peers.py"), "--seq", *map(str, seq)], path)
    if rc == 0 or os.path.exists(path):
        for line in open(path):
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("event") == "peer" and r.get("status") == "ok":
                key = (f"{r['heads']}/{r['kv_heads']}", r["dtype"], r["batch"], r["seq_len"])
                records.setdefault(key, {})[r["backend"]] = r["us"]
    return records


def floors(bench, out):
    path = os.path.join(out, "decode_bench_floor.md")
    run([bench, "--models", "32/32", "32/8", "--batch", "1", "--seq", "512", "1024", "2048", "--dtype", "fp16",
         "bf16", "--no-standard"], path)
    result = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 11 and re.fullmatch(r"\d+/\d+", cells[0]):
            result[(cells[0], cells[1], int(cells[2]), int(cells[3]))] = float(cells[10])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exe")
    parser.add_argument("--bench", help="attnbench_decode_bench, for the launch-latency floor")
    parser.add_argument("--out", default="out/decode")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    db = os.path.join(args.out, "decode.db")
    run([args.exe, "--batch", "--no-progress", "--workload", "decode", "--preset", "decode", "--dtype", "fp16,bf16",
         "--seq-lens", ",".join(map(str, SEQ)), "--name", "decode-vs-pytorch", "--db", db],
        os.path.join(args.out, "attnbench_decode.txt"))
    run([args.exe, "--batch", "--no-progress", "--workload", "decode", "--model", "llama-3-8b", "--dtype", "bf16",
         "--batch-sizes", "1", "--seq-lens", "1048576", "--page-size", "256", "--kernels", "flash", "--name",
         "decode-1M-paged", "--db", db], os.path.join(args.out, "attnbench_decode_1m.txt"))
    points = export_all(args.exe, db, args.out)
    peer = peers(args.out, SEQ)
    floor = floors(args.bench, args.out) if args.bench else {}

    print("\n| model | dtype | B | N | splits | flash us | GB/s | of copy | standard us | cudnn us | torch FA2 us | "
          "torch cuDNN us | vs faster peer | floor us | x floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    by_key = {}
    for p in points:
        if p.get("workload") != "decode":
            continue
        key = (p["model"], p["dtype"], p["batch"], p["seq_len"], p["page_size"])
        by_key.setdefault(key, {})[p["kernel"]] = p
    for key in sorted(by_key, key=lambda k: (k[0], k[1], k[2], k[3])):
        model, dtype, batch, n, page = key
        row = by_key[key]
        flash = row.get("flash")
        us = lambda p: p["median_ms"] * 1000 if p and p["status"] == "ok" else None
        fmt = lambda v, f="%.1f": f % v if v is not None else "-"
        heads = MODELS.get(model, "?")
        torch_us = peer.get((heads, dtype, batch, n), {})
        fa2, tcudnn = torch_us.get("torch-flash"), torch_us.get("torch-cudnn")
        faster = min([v for v in (fa2, tcudnn) if v is not None], default=None)
        f_us = us(flash)
        ratio = faster / f_us if faster and f_us else None
        fl = floor.get((heads, dtype, batch, n))
        label = model + (f" paged{page}" if page else "")
        print(f"| {label} | {dtype} | {batch} | {n} | {flash['splits'] if flash else '-'} | {fmt(f_us)} | "
              f"{fmt(flash['gbps'] if flash and f_us else None, '%.0f')} | "
              f"{fmt(100 * flash['bandwidth_fraction'] if flash and f_us else None, '%.1f %%')} | "
              f"{fmt(us(row.get('standard')))} | {fmt(us(row.get('cudnn')))} | {fmt(fa2)} | {fmt(tcudnn)} | "
              f"{fmt(ratio, '%.2fx')} | {fmt(fl)} | {fmt(f_us / fl if fl and f_us else None, '%.2f')} |")
    failed = [p for p in points if p["status"] in ("failed", "error", "oom")]
    print(f"\n{len(points)} attnbench points, {len(failed)} failed/error/oom; "
          f"{sum(1 for p in points if p.get('passed'))} passed the fp64 check")
    for p in failed:
        print(f"  {p['model']} {p['dtype']} B={p['batch']} N={p['seq_len']} {p['kernel']}: {p['status']} {p['message']}")


if __name__ == "__main__":
    main()
