#!/usr/bin/env python3
"""CUTLASS's Hopper FMHA example (88_hopper_fmha) as a peer of attnbench's flash kernels.

The `nvidia-cutlass` wheel ships CUTLASS's C++ include tree and its examples. `build` takes the wheel
(downloaded with pip unless --wheel names one), compiles example 88 unmodified for sm_90a with nvcc
(no GPU needed) and leaves one executable. `run` times that executable at attention shapes on a
Hopper GPU and writes one JSON object per measurement (JSON lines) to stdout, like
torch_sdpa_peers.py: each schedule the example instantiates for the head dim (cooperative, ping-pong,
plain TMA), then the best of them.

The example fills Q, K and V itself (fp16, B H N D layout, LSE written), runs each kernel once, then
times --iterations back-to-back launches with CUDA events and reports the mean (no result check unless
asked with --verify, which `run` does not pass). Card state: `run` sleeps --idle-ms (default 250, as
attnbench's kernel harness) before each process, so the first schedule's timed burst starts after an
idle gap, its context set-up, its input fill and one warm-up launch, like every other program's in the
Hopper study. The example runs its schedules one after the other in one process and cannot be told to
pause, so each later schedule starts right after the previous one's burst (a few ms of the same work);
each record says which schedule ran before it. --sustain-ms sets the iterations by attnbench's
harness rule instead (that many ms of work at a nominal 600 TFLOP/s, at least --iterations): the
clock settles and the order of the schedules stops mattering. TFLOP/s here is
attnbench's rule, 4 B H Nq Nk D (halved when causal), over that mean; the example's own figure uses
the same rule. The example has fp16 kernels only (its runner fixes the element type), so there is no
bf16 point.

    cutlass_fmha_peer.py build --out .stage/cutlass/88_hopper_fmha
    cutlass_fmha_peer.py run .stage/cutlass/88_hopper_fmha --dim 128 --heads 32 --seq 4096 8192 --causal both
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

WHEEL_SPEC = "nvidia-cutlass==4.2.0.0"
EXAMPLE = "88_hopper_fmha"
# CUTLASS's own CMake release build: -O3 -DNDEBUG. Without NDEBUG the device-side assert()s in CuTe are
# function calls, and ptxas serializes every wgmma of the kernel around them (warning C7510): the
# forward kernels then run about a fifth slower.
NVCC_FLAGS = ["-O3", "-DNDEBUG", "-std=c++17", "--expt-relaxed-constexpr", "--use_fast_math",
              "-gencode=arch=compute_90a,code=sm_90a"]
# "[--] tma ws cooperative 128x128x128   : 612.3 TFLOPS/s" then, with --verbose, "t=1.23ms, smem=...b"
RESULT = re.compile(r"^\s*\[(?:OK|--|FAIL)\]\s*(?P<name>.*?)\s*:\s*(?P<tflops>[-+0-9.eE]+|inf|nan)\s+TFLOPS/s")
RUNTIME = re.compile(r"^\s*t=(?P<ms>[-+0-9.eE]+)ms")
# attnbench's kernel harness rule for --sustain-ms: launches for that many ms of work at 600 TFLOP/s.
NOMINAL_FLOPS_PER_MS = 600e9


def fail(message):
    print(f"cutlass_fmha_peer: {message}", file=sys.stderr)
    sys.exit(2)


def find_wheel(args, scratch):
    if args.wheel:
        if not os.path.isfile(args.wheel):
            fail(f"no wheel at {args.wheel}")
        return args.wheel
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL_SPEC, "-d", scratch],
                   check=True)
    wheels = [name for name in os.listdir(scratch) if name.endswith(".whl")]
    if not wheels:
        fail(f"pip download {WHEEL_SPEC} left no wheel")
    return os.path.join(scratch, wheels[0])


def build(args):
    nvcc = shutil.which(args.nvcc)
    if nvcc is None:
        fail(f"{args.nvcc} not found (CUDA 12.3 or newer is needed for sm_90a)")
    with tempfile.TemporaryDirectory(prefix="cutlass-wheel-") as scratch:
        wheel = find_wheel(args, scratch)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(scratch)
        source = os.path.join(scratch, "cutlass_library", "source")
        example = os.path.join(source, "examples", EXAMPLE)
        if not os.path.isfile(os.path.join(example, f"{EXAMPLE}.cu")):
            fail(f"{os.path.basename(wheel)} has no examples/{EXAMPLE}")
        includes = [os.path.join(source, "include"), os.path.join(source, "tools", "util", "include"),
                    os.path.join(source, "examples", "common"), example]
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        command = [nvcc, *NVCC_FLAGS, *(f"-I{path}" for path in includes), os.path.join(example, f"{EXAMPLE}.cu"),
                   "-o", args.out]
        started = time.monotonic()
        subprocess.run(command, check=True)
        print(json.dumps({"event": "built", "binary": args.out, "wheel": os.path.basename(wheel),
                          "seconds": round(time.monotonic() - started, 1)}), flush=True)


def run_shape(args, n, causal, iterations):
    """Runs the example at one shape after the idle gap; returns [(schedule, ms)] in the order it printed
    them (the order it ran them)."""
    command = [args.binary, "--b=1", f"--h={args.heads}", f"--q={n}", f"--k={n}", f"--d={args.dim}",
               f"--mask={'causal' if causal else 'no'}", f"--iterations={iterations}", "--verbose"]
    time.sleep(args.idle_ms / 1000.0)  # the device is idle: the previous process has exited
    completed = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    results = []
    for line in completed.stdout.splitlines():
        if match := RESULT.match(line):
            results.append([match["name"], None])
        elif (match := RUNTIME.match(line)) and results and results[-1][1] is None:
            results[-1][1] = float(match["ms"])
    problem = None if results else (completed.stderr.strip() or completed.stdout.strip() or
                                    f"exit {completed.returncode}").splitlines()[-1][:160]
    return [(name, ms) for name, ms in results if ms is not None and ms > 0], problem


def run(args):
    if not os.access(args.binary, os.X_OK):
        fail(f"{args.binary} is not an executable (build it with: {sys.argv[0]} build --out {args.binary})")
    print(json.dumps({"event": "peer_started", "peer": "cutlass-ex88", "binary": args.binary}), flush=True)
    causal_values = {"no": [False], "yes": [True], "both": [False, True]}[args.causal]
    for n in args.seq:
        for causal in causal_values:
            flops = 4.0 * args.heads * n * n * args.dim * (0.5 if causal else 1.0)
            iterations = args.iterations
            if args.sustain_ms > 0:
                iterations = max(iterations, math.ceil(args.sustain_ms * NOMINAL_FLOPS_PER_MS / flops))
            base = {"event": "peer", "seq_len": n, "causal": causal, "batch": 1, "heads": args.heads,
                    "kv_heads": args.heads, "head_dim": args.dim, "dtype": "fp16",
                    "timing": f"mean of {iterations}", "idle_ms": args.idle_ms}
            try:
                schedules, problem = run_shape(args, n, causal, iterations)
            except subprocess.TimeoutExpired:
                schedules, problem = [], f"timed out after {args.timeout} s"
            before = "idle gap"
            for name, ms in schedules:
                print(json.dumps({**base, "backend": "cutlass-ex88", "schedule": name, "after": before,
                                  "status": "ok", "mean_ms": ms, "tflops": flops / ms / 1e9}), flush=True)
                before = name
            if schedules:
                name, ms = min(schedules, key=lambda item: item[1])
                print(json.dumps({**base, "backend": "cutlass-ex88-best", "schedule": name, "status": "ok",
                                  "mean_ms": ms, "tflops": flops / ms / 1e9}), flush=True)
            else:
                print(json.dumps({**base, "backend": "cutlass-ex88-best", "status": "unavailable",
                                  "message": problem}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="compile example 88 from the nvidia-cutlass wheel for sm_90a")
    build_parser.add_argument("--out", required=True, help="path of the executable to write")
    build_parser.add_argument("--wheel", help=f"a downloaded wheel (default: pip download {WHEEL_SPEC})")
    build_parser.add_argument("--nvcc", default="nvcc")
    run_parser = commands.add_parser("run", help="time the built example at attention shapes (Hopper GPU)")
    run_parser.add_argument("binary")
    run_parser.add_argument("--seq", type=int, nargs="+", required=True)
    run_parser.add_argument("--heads", type=int, default=32)
    run_parser.add_argument("--dim", type=int, default=128, choices=[32, 64, 128, 256])
    run_parser.add_argument("--causal", choices=["no", "yes", "both"], default="both")
    run_parser.add_argument("--iterations", type=int, default=20, help="timed launches per kernel (mean)")
    run_parser.add_argument("--idle-ms", type=float, default=250.0,
                            help="idle device time before each process (one per shape; 0: none)")
    run_parser.add_argument("--sustain-ms", type=float, default=0.0,
                            help="iterations for this many ms of work at a nominal 600 TFLOP/s, if more than "
                                 "--iterations (settled clocks; 0: off)")
    run_parser.add_argument("--timeout", type=float, default=120.0, help="seconds per shape")
    args = parser.parse_args()
    if args.command == "build":
        build(args)
    else:
        if min(args.seq) < 1 or args.heads < 1 or args.iterations < 1:
            fail("--seq, --heads and --iterations must be positive")
        if args.idle_ms < 0 or args.sustain_ms < 0:
            fail("--idle-ms and --sustain-ms must not be negative")
        run(args)


if __name__ == "__main__":
    main()
