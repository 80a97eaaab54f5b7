#!/usr/bin/env python3
"""CPU performance targets of attnbench (a benchmark, not a test).

Llama-2-7B shapes (B=1, H=32, D=128, fp32), N=1024 and 2048, flash and standard, on this machine:
  1. flash time at N=2048 within 1.5x of standard attention's time;
  2. flash memory has no N^2 term: its peak doubles from N=1024 to 2048 (standard's grows ~4x);
  3. harness overhead: sweep wall time <= 1.15x the sum of measured kernel time (warm-up included).
Prints a table and PASS/FAIL per target; exit code 1 when a target is missed.

Usage: benchmarks/cpu_targets.py [path/to/attnbench] [--repetitions N]
"""
import json
import os
import subprocess
import sys
import tempfile


def run_sweep(exe, db, repetitions):
    cmd = [exe, "--batch", "--device", "cpu", "--db", db, "--events", "jsonl", "--no-progress",
           "-m", "llama-2-7b", "--seq-lens", "1024,2048", "--batch-sizes", "1", "--dtype", "fp32",
           "--causal", "false", "--kernels", "flash,standard", "--repetitions", str(repetitions),
           "--warmup", "1", "--no-check", "--name", "cpu-targets"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    points = {(e["result"]["kernel"], e["result"]["seq_len"]): e["result"]
              for e in events if e["event"] == "point_finished"}
    finished = next(e for e in events if e["event"] == "run_finished")
    device = next(e for e in events if e["event"] == "run_started")["device"]
    return points, finished, device


def main():
    args = sys.argv[1:]
    exe = args[0] if args and not args[0].startswith("--") else "build/release/app/attnbench"
    repetitions = int(args[args.index("--repetitions") + 1]) if "--repetitions" in args else 5
    with tempfile.TemporaryDirectory() as tmp:
        points, finished, device = run_sweep(exe, os.path.join(tmp, "bench.db"), repetitions)

    print(f"device: {device['name']} ({device['properties'].get('threads')} threads)")
    print(f"{'kernel':9} {'N':>5} {'median ms':>10} {'std ms':>8} {'GFLOP/s':>8} {'peak MiB':>9}")
    for (kernel, n), r in sorted(points.items()):
        print(f"{kernel:9} {n:5d} {r['median_ms']:10.1f} {r['std_ms']:8.1f} {r['tflops'] * 1e3:8.1f} "
              f"{r['peak_bytes'] / 2**20:9.1f}")

    flash, std = points[("flash", 2048)], points[("standard", 2048)]
    time_ratio = flash["median_ms"] / std["median_ms"]
    flash_growth = points[("flash", 2048)]["peak_bytes"] / points[("flash", 1024)]["peak_bytes"]
    std_growth = points[("standard", 2048)]["peak_bytes"] / points[("standard", 1024)]["peak_bytes"]
    overhead = finished["wall_seconds"] / finished["kernel_seconds"]
    targets = [
        ("flash time / standard time at N=2048", time_ratio, time_ratio <= 1.5, "<= 1.5"),
        ("flash peak growth N=1024->2048", flash_growth, flash_growth <= 2.05, "<= 2.05 (linear)"),
        ("standard peak growth N=1024->2048", std_growth, std_growth >= 3.0, ">= 3 (N^2 term)"),
        ("sweep wall / kernel time", overhead, overhead <= 1.15, "<= 1.15"),
    ]
    ok = True
    for name, value, passed, bound in targets:
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {value:.3f} (target {bound})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
