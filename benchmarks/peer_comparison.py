#!/usr/bin/env python3
"""attnbench's flash, cudnn and standard kernels against PyTorch's FA2 and cuDNN SDPA, all in one call.

Runs on a CUDA host with PyTorch:
  1. the seed matrix (Llama-2-7B and Granite-7B, B = 1, 2, N = 128..65536, fp16) with both masks and the
     three kernels, twice back to back (run-to-run agreement and the points flagged noisy);
  2. head dims 64 and 256 (32 heads, B = 1, N = 1024..16384, fp16, both masks);
  3. flash at N = 128..1024 with each timing method (plain, blocked, batch) and with graph replay;
  4. PyTorch's FLASH_ATTENTION and CUDNN_ATTENTION backends on the same shapes (torch_sdpa_peers.py, in
     bursts of back-to-back calls so that launch latency stays out of their times too).
Prints markdown tables and a summary; leaves the databases, exports and peer records in --out. A stage
whose results are already in --out is not run again, and --deadline SECONDS stops before a stage that
would start past it: running the same command again finishes the rest (for hosts that limit a call).

    python3 benchmarks/peer_comparison.py build/gpu/app/attnbench --out out/peers
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KERNELS = ["flash", "cudnn", "standard"]
PEERS = ["torch-flash", "torch-cudnn"]
# PyTorch's calls are timed in bursts of back-to-back calls, so that their launch latency and Python's
# host work hide behind the previous kernel, as attnbench's blocked timing keeps them out of its window.
PEER_BURST = 10


STARTED = time.monotonic()
DEADLINE = [float("inf")]


def before_stage(name):
    if time.monotonic() - STARTED > DEADLINE[0]:
        print(f"stopped before {name} at the deadline: run the same command again to continue", flush=True)
        sys.exit(3)


def attnbench(exe, out, name, flags):
    """Runs one sweep (unless its export is already in `out`); returns its JSON export (run and points)."""
    db, js = os.path.join(out, name + ".db"), os.path.join(out, name + ".json")
    if os.path.exists(js):
        with open(js) as f:
            return json.load(f)
    before_stage(name)
    if os.path.exists(db):
        os.remove(db)  # a stage cut short: run it again from the start
    cmd = [exe, "--batch", "--no-progress", "--name", name, "--db", db, "--json", js] + flags
    result = subprocess.run(cmd, capture_output=True, text=True)
    with open(os.path.join(out, name + ".log"), "w") as log:
        log.write(" ".join(cmd) + "\n" + result.stdout + result.stderr)
    if result.returncode not in (0, 1):
        sys.exit(f"{name}: attnbench exited {result.returncode}:\n{result.stderr[-2000:]}")
    with open(js) as f:
        return json.load(f)


def peers(out, name, seqs, batch, heads, dim, reps):
    """PyTorch's SDPA backends on one shape family; returns (the start record, the measurements)."""
    path = os.path.join(out, name + ".jsonl")
    if not os.path.exists(path):
        before_stage(name)
        cmd = [sys.executable, os.path.join(HERE, "torch_sdpa_peers.py"), "--seq", *map(str, seqs), "--batch",
               str(batch), "--heads", str(heads), "--dim", str(dim), "--dtype", "fp16", "--reps", str(reps),
               "--burst", str(PEER_BURST), "--backends", *PEERS]
        result = subprocess.run(cmd, capture_output=True, text=True)
        with open(path + ".part", "w") as f:
            f.write(result.stdout)
        os.replace(path + ".part", path)
    with open(path) as f:
        records = [json.loads(line) for line in f if line.startswith("{")]
    start = next((r for r in records if r.get("event") == "peer_started"), {})
    return start, [r for r in records if r.get("event") == "peer"]


def points_of(export):
    return export["points"]


def key(p):
    return (p["batch"], p["heads_q"], p["head_dim"], p["seq_len"], bool(p["causal"]))


def table(title, attn_points, peer_records, out_lines):
    rows = {}
    for p in attn_points:
        if p["status"] == "ok":
            rows.setdefault(key(p), {})[p["kernel"]] = p["tflops"]
    for r in peer_records:
        if r.get("status") == "ok":
            rows.setdefault((r["batch"], r["heads"], r["head_dim"], r["seq_len"], r["causal"]), {})[r["backend"]] = r["tflops"]
    out_lines.append(f"\n### {title}\n")
    out_lines.append("| B | H | D | N | causal | " + " | ".join(KERNELS + PEERS) + " | cudnn / torch-cudnn | flash / torch-cudnn |")
    out_lines.append("|" + "---|" * (7 + len(KERNELS) + len(PEERS)))
    ratios = []
    for k in sorted(rows):
        r = rows[k]
        cells = [f"{r[c]:.0f}" if c in r else "—" for c in KERNELS + PEERS]
        for kernel in ("cudnn", "flash"):
            peer = r.get("torch-cudnn")
            cells.append(f"{r[kernel] / peer:.3f}" if peer and kernel in r else "—")
        if r.get("torch-cudnn") and "cudnn" in r:
            ratios.append((k, r["cudnn"] / r["torch-cudnn"]))
        out_lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {'yes' if k[4] else 'no'} | " + " | ".join(cells) + " |")
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exe")
    parser.add_argument("--out", default="out/peers")
    parser.add_argument("--reps", type=int, default=20, help="timed runs per PyTorch measurement")
    parser.add_argument("--deadline", type=float, default=float("inf"), help="seconds after which no stage starts")
    args = parser.parse_args()
    DEADLINE[0] = args.deadline
    os.makedirs(args.out, exist_ok=True)
    lines = []
    three = ["--kernels", ",".join(KERNELS), "--causal", "both"]

    timing = {}
    for label, flags in [("plain", ["--timing", "plain"]), ("blocked", ["--timing", "blocked"]),
                         ("batch", ["--timing", "batch"]), ("graph", ["--timing", "blocked", "--cuda-graph"])]:
        timing[label] = attnbench(args.exe, args.out, f"timing_{label}",
                                  ["-m", "llama-2-7b", "--seq-lens", "128..1024", "--kernels", "flash", "--causal",
                                   "false", "--dtype", "fp16"] + flags)

    heads = [attnbench(args.exe, args.out, f"hd{d}", ["--heads", "32", "--head-dim", str(d), "--custom-name", f"hd{d}",
                                                     "--seq-lens", "1024..16384", "--dtype", "fp16"] + three)
             for d in (64, 256)]
    seed = [attnbench(args.exe, args.out, f"seed{i}", ["--preset", "seed-matrix"] + three) for i in (1, 2)]
    seqs = sorted({p["seq_len"] for p in points_of(seed[0])})
    start, peer_seed = peers(args.out, "peers_seed_b1", seqs, 1, 32, 128, args.reps)
    peer_seed += peers(args.out, "peers_seed_b2", seqs, 2, 32, 128, args.reps)[1]
    peer_hd = []
    for d in (64, 256):
        peer_hd += peers(args.out, f"peers_hd{d}", [1024, 2048, 4096, 8192, 16384], 1, 32, d, args.reps)[1]

    lines.append(f"GPU: {start.get('device')}; PyTorch {start.get('torch')} with cuDNN {start.get('cudnn')}; "
                 f"attnbench {seed[0].get('version')}, provenance: {json.dumps(seed[0].get('provenance', {}))}")
    ratios = table("Seed matrix (Llama-2-7B / Granite-7B heads: 32 x 128, fp16), TFLOP/s, run 1", points_of(seed[0]),
                   peer_seed, lines)
    ratios += table("Head dims 64 and 256 (32 heads, B = 1, fp16), TFLOP/s", points_of(heads[0]) + points_of(heads[1]),
                    peer_hd, lines)

    lines.append("\n### Flash at short N by timing method (Llama-2-7B, B = 1, fp16, non-causal), µs (median)\n")
    lines.append("| N | " + " | ".join(timing) + " |")
    lines.append("|---|" + "---|" * len(timing))
    by = {label: {p["seq_len"]: p for p in points_of(t) if p["status"] == "ok"} for label, t in timing.items()}
    for n in sorted(by["blocked"]):
        lines.append(f"| {n} | " + " | ".join(f"{by[l][n]['median_ms'] * 1e3:.1f}" if n in by[l] else "—" for l in timing) + " |")

    first = {(p["model"], p["index"]): p for p in points_of(seed[0]) if p["status"] == "ok"}
    second = {(p["model"], p["index"]): p for p in points_of(seed[1]) if p["status"] == "ok"}
    common = [k for k in first if k in second]
    deviations = [abs(second[k]["median_ms"] / first[k]["median_ms"] - 1) for k in common]
    noisy = [sum(1 for p in points_of(s) if p.get("noisy")) for s in seed]
    throttled = [sum(1 for p in points_of(s) if p.get("throttled")) for s in seed]
    lines.append("\n### Summary\n")
    if ratios:
        within = sum(1 for _, r in ratios if abs(r - 1) <= 0.05)
        lines.append(f"- attnbench cudnn / PyTorch cudnn: {within} of {len(ratios)} shapes within ±5 %; geometric mean "
                     f"{statistics.geometric_mean([r for _, r in ratios]):.3f}; range {min(r for _, r in ratios):.3f}–"
                     f"{max(r for _, r in ratios):.3f}")
    if deviations:
        lines.append(f"- two back-to-back seed-matrix runs: median |ratio − 1| = {100 * statistics.median(deviations):.2f} % "
                     f"over {len(common)} points (max {100 * max(deviations):.1f} %)")
    lines.append(f"- points flagged noisy: {noisy[0]} and {noisy[1]} of {len(points_of(seed[0]))}; throttled: "
                 f"{throttled[0]} and {throttled[1]}")
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report + "\n")


if __name__ == "__main__":
    main()
