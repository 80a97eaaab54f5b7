#!/usr/bin/env python3
"""Where the engine's decode step spends its time: every kernel of the step (one CUDA graph replay) on
the GPU's clock, and what each adds to the step after the kernel before it has ended.

  run BUILD_DIR [--model llama-2-7b] [--dtype fp16] [--context 512] [--csv FILE]
        builds benchmarks/kernel_timeline.cpp against the CUPTI it finds (CUPTI_DIR, the CUDA toolkit's
        extras/CUPTI, or the nvidia-cuda-cupti wheel), runs BUILD_DIR's attnbench_inference_bench under
        it (flash attention, CUDA graph, batch 1, 64 decode steps) and summarizes the recorded steps
  summarize CSV [CSV ...]
        the summary of timelines recorded earlier

The kernels of a step run as one chain of programmatic dependent launches, so they overlap: a kernel
starts (its first block) while the one before it is still running, and its first block may wait there.
What a kernel costs the step is therefore its end minus the previous kernel's end ("adds"), not its
duration. Roles: the embedding, then per layer the QKV projection (RMSNorm, RoPE and the cache append
fused), attention, the out projection, gate|up (RMSNorm and SwiGLU fused) and down, then the LM head:
projections are told apart by their order, other kernels by name.
"""
import argparse
import collections
import csv
import glob
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LAYER_PROJECTIONS = ["qkv", "out", "gate_up", "down"]  # in the order a layer runs them
CUDA_HOME = os.environ.get("CUDA_HOME", "/usr/local/cuda")


def cupti_candidates():
    if os.environ.get("CUPTI_DIR"):
        yield os.environ["CUPTI_DIR"]
    yield os.path.join(CUDA_HOME, "extras", "CUPTI")
    try:
        import nvidia  # the wheels PyTorch installs
        for root in nvidia.__path__:
            yield from sorted(glob.glob(os.path.join(root, "cu*"))) + [os.path.join(root, "cuda_cupti")]
    except ImportError:
        pass


def find_cupti():
    for root in cupti_candidates():
        header = os.path.join(root, "include", "cupti_activity.h")
        libs = sorted(glob.glob(os.path.join(root, "lib*", "libcupti.so*")))
        if os.path.exists(header) and libs:
            records = re.findall(r"}\s*(CUpti_ActivityKernel\d+)\s*;", open(header).read())
            if records:
                return os.path.dirname(header), libs[0], records[-1]
    sys.exit("no CUPTI found (set CUPTI_DIR to a directory with include/cupti_activity.h and lib*/libcupti.so)")


def build_recorder(build_dir):
    include, lib, record = find_cupti()
    out = os.path.join(build_dir, "kernel_timeline.so")
    cuda_include = os.path.join(CUDA_HOME, "include")
    subprocess.run(["g++", "-std=c++17", "-O2", "-fPIC", "-shared", "-Wall", "-Werror", f"-I{include}",
                    f"-I{cuda_include}", f"-DKERNEL_RECORD={record}", os.path.join(HERE, "kernel_timeline.cpp"),
                    lib, f"-Wl,-rpath,{os.path.dirname(lib)}", "-o", out], check=True)
    print(f"recorder: {out} ({lib}, {record})")
    return out


def role_of(name, previous_projection):
    if "embedding" in name:
        return "embedding"
    if "decodeSplit" in name or "decodeCombine" in name:
        return "attention"
    if "Linear" in name:
        following = (LAYER_PROJECTIONS.index(previous_projection) + 1) % 4 if previous_projection else 0
        return LAYER_PROJECTIONS[following]
    match = re.search(r"(\d+)([A-Za-z]+Kernel)", name)
    return match.group(2) if match else name[:40]


def steps_of(path):
    """The graph replays of the most common kernel count: lists of (start, end, name) in start order."""
    replays = collections.defaultdict(list)
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["graph"] != "0":
                replays[row["correlation"]].append((int(row["start_ns"]), int(row["end_ns"]), row["name"]))
    counts = collections.Counter(len(r) for r in replays.values())
    if not counts:
        sys.exit(f"{path}: no graph replays recorded")
    kernels = max(counts, key=lambda k: (counts[k], k))
    return [sorted(r) for r in replays.values() if len(r) == kernels]


def summarize(path):
    steps = steps_of(path)
    adds, durations, spans = collections.defaultdict(list), collections.defaultdict(list), []
    for step in steps:
        spans.append((max(end for _, end, _ in step) - step[0][0]) / 1e3)
        roles, projection = [], None
        for _, _, name in step:
            role = role_of(name, projection)
            projection = role if role in LAYER_PROJECTIONS else projection
            roles.append(role)
        last_projection = max(i for i, r in enumerate(roles) if r in LAYER_PROJECTIONS)
        roles[last_projection] = "lm_head"
        per_step = collections.Counter(roles)
        for i, ((start, end, _), role) in enumerate(zip(step, roles)):
            durations[role].append((end - start) / 1e3)
            adds[role].append((end - step[i - 1][1]) / 1e3 if i > 0 else (end - start) / 1e3)
    print(f"{path}: {len(steps)} steps of {len(steps[0])} kernels, median span {statistics.median(spans):.1f} us")
    print(f"{'role':>16} {'per step':>8} {'adds, us':>9} {'duration, us':>13} {'adds per step, us':>18}")
    total = 0.0
    for role in per_step:
        add = statistics.median(adds[role])
        total += add * per_step[role]
        print(f"{role:>16} {per_step[role]:8d} {add:9.2f} {statistics.median(durations[role]):13.2f} "
              f"{add * per_step[role]:18.1f}")
    print(f"{'sum':>16} {'':8} {'':9} {'':13} {total:18.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("build_dir")
    run.add_argument("--model", default="llama-2-7b")
    run.add_argument("--dtype", default="fp16")
    run.add_argument("--context", type=int, default=512)
    run.add_argument("--csv", default=None)
    show = sub.add_parser("summarize")
    show.add_argument("csv", nargs="+")
    args = parser.parse_args()
    if args.command == "summarize":
        for path in args.csv:
            summarize(path)
        return
    bench = os.path.join(args.build_dir, "core", "attnbench_inference_bench")
    if not os.access(bench, os.X_OK):
        sys.exit(f"{bench}: not built (cmake --build --preset gpu-host --target attnbench_inference_bench)")
    recorder = build_recorder(args.build_dir)
    path = args.csv or os.path.join(args.build_dir, f"decode_timeline_{args.model}_{args.context}.csv")
    env = dict(os.environ, LD_PRELOAD=recorder, TIMELINE_OUT=path)
    result = subprocess.run([bench, "--attention", "flash", "--model", args.model, "--dtype", args.dtype,
                             "--batch_sizes", "1", "--compile_mode", "reduce-overhead", "--new_tokens", "64",
                             "--no_without_cache", "--no_ceilings", "--repetitions", "1",
                             "--seq_lens", str(args.context)], env=env, capture_output=True, text=True)
    print(result.stdout.strip())
    if result.returncode != 0:
        sys.exit(f"attnbench_inference_bench failed ({result.returncode}): {result.stderr.strip()}")
    summarize(path)


if __name__ == "__main__":
    main()
