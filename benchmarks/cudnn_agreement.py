#!/usr/bin/env python3
"""attnbench's cudnn kernel against PyTorch's cuDNN backend on the same shapes, both launch-free, in one call.

Runs on a CUDA host with PyTorch; attnbench must load the same libcudnn as PyTorch (benchmarks/gpu_run.sh
puts PyTorch's copy on LD_LIBRARY_PATH). attnbench times cudnn with its default blocked timing and noise
rule; PyTorch's SDPA (CUDNN_ATTENTION) is timed as replays of a CUDA graph of 10 calls, so that neither
side counts host work (at N <= 2K PyTorch's per-call dispatch is longer than the kernel). Both sample for
at least --min-time seconds, so that both reach the same sustained SM clock (the H200 lowers it within
a fraction of a second of full load), and the SM clock at the end of each side's samples is shown.
Shapes: 32 heads of 64, 128 and 256, B = 1, fp16, both masks. Prints the TFLOP/s of both, their ratio
(> 1: attnbench faster) and how many shapes agree within +-5 %.

    python3 benchmarks/cudnn_agreement.py build/gpu/app/attnbench --out out/cudnn
"""
import argparse
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {64: [1024, 2048, 4096, 16384], 128: [1024, 2048, 4096, 8192, 16384, 32768], 256: [1024, 4096, 16384]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exe")
    parser.add_argument("--out", default="out/cudnn")
    parser.add_argument("--min-time", default="0.5", help="seconds of samples per point, both sides")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ours, theirs = {}, {}
    for dim, seqs in SHAPES.items():
        db = os.path.join(args.out, f"hd{dim}.db")
        seq_list = ",".join(map(str, seqs))
        subprocess.run([args.exe, "--batch", "--no-progress", "--heads", "32", "--head-dim", str(dim), "--custom-name",
                        f"hd{dim}", "--dtype", "fp16", "--batch-sizes", "1", "--causal", "both", "--kernels", "cudnn",
                        "--seq-lens", seq_list, "--min-time", args.min_time, "--timeout", "3", "--db", db], stdout=subprocess.DEVNULL, check=False)
        export = os.path.join(args.out, f"hd{dim}.json")
        subprocess.run([args.exe, "export", "1", "--db", db, "--json", export], check=True)
        for p in json.load(open(export))["points"]:
            if p["status"] == "ok":
                ours[(dim, p["seq_len"], bool(p["causal"]))] = (p["tflops"], p["sm_clock_end_mhz"])
        peer = subprocess.run([sys.executable, os.path.join(HERE, "torch_sdpa_peers.py"), "--seq", *map(str, seqs),
                               "--dim", str(dim), "--backends", "torch-cudnn", "--graph", "--burst", "10", "--reps",
                               "20", "--min-time", args.min_time], capture_output=True, text=True)
        with open(os.path.join(args.out, f"hd{dim}_peers.jsonl"), "w") as f:
            f.write(peer.stdout + peer.stderr)
        for line in peer.stdout.splitlines():
            r = json.loads(line)
            if r.get("event") == "peer_started":
                print(f"PyTorch {r['torch']}, cuDNN {r['cudnn']}, {r['device']}")
            elif r.get("status") == "ok":
                theirs[(dim, r["seq_len"], r["causal"])] = (r["tflops"], r.get("sm_clock_mhz"))
    print("\n| head dim | N | mask | attnbench cudnn TFLOP/s | its SM MHz | PyTorch cuDNN TFLOP/s | its SM MHz | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for key in sorted(set(ours) | set(theirs)):
        (a, a_mhz), (b, b_mhz) = ours.get(key, (None, None)), theirs.get(key, (None, None))
        ratio = a / b if a and b else None
        if ratio:
            ratios.append(ratio)
        cell = lambda v, f: f % v if v else "-"
        print(f"| {key[0]} | {key[1]} | {'causal' if key[2] else 'none'} | {cell(a, '%.0f')} | {cell(a_mhz, '%d')} | "
              f"{cell(b, '%.0f')} | {cell(b_mhz, '%d')} | {cell(ratio, '%.3f')} |")
    if ratios:
        within = sum(1 for r in ratios if abs(r - 1) <= 0.05)
        geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"\n{within} of {len(ratios)} shapes within +-5 %; geometric mean {geomean:.3f}; "
              f"range {min(ratios):.3f}-{max(ratios):.3f}")


if __name__ == "__main__":
    main()
