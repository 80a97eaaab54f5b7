#!/usr/bin/env python3
"""Joins one hopper_check.sh run's logs into the acceptance table of the Hopper flash kernel.

Per shape group NAME the run leaves bench_NAME.log (the kernel harness: Hopper, mma.sync, attnbench's
cudnn), optionally base_NAME.log (the harness built from a second source tree, for an A/B of the
kernel in the same run), torch_NAME.jsonl (PyTorch SDPA's cuDNN and FlashAttention-2 backends) and
cutlass_NAME.jsonl (CUTLASS example 88, best of its schedules), each once per pass (NAME.pK.log,
NAME.pK.jsonl: the passes time the programs in rotated orders); alt_NAME.log, alt2_NAME.log, ... are
further harnesses timed like the baseline, and self_NAME.log is this tree's harness timed that way too
(its Hopper kernel alone, points back to back), the column an A/B against the baseline should use. For every point it prints TFLOP/s of
each kernel, its best pass (and the cuBLAS standard baseline where the run timed it), and the Hopper
kernel's ratio to the best peer measured at that point; then the geometric means and worst points of
the groups the acceptance criteria name.

    hopper_peers_table.py LOG_DIR
"""
import glob
import json
import math
import os
import re
import sys

HARNESS_ROW = re.compile(r"^(?P<dtype>fp16|bf16)\s+(?P<causal>no|yes)\s+(?P<n>\d+)\s+(?P<kernel>.+?)\s+"
                         r"(?P<median>[\d.]+)\s+(?P<min>[\d.]+)\s+(?P<tflops>[\d.]+)\s+\S+$")
PEERS = ["cudnn", "torch-cudnn", "torch-flash", "cutlass-ex88-best"]
# Harnesses of other source trees, each compared with this one's Hopper kernel: the baseline, then the
# alternatives in the order hopper_check.sh numbered them (alt, alt2, ...; filled in from the logs).
OTHER_BUILDS = ["self", "base", "alt"]
HEADERS = {"hopper": "Hopper", "self": "self", "base": "base", "alt": "alt", "sm80": "mma.sync", "standard": "standard", "cudnn": "cudnn", "torch-cudnn": "t-cuDNN",
           "torch-flash": "t-FA2", "cutlass-ex88-best": "CUTLASS"}


def harness_kernel(kernel):
    """The column of a harness row: the first Hopper row of a point is its automatic tile."""
    name = kernel.removeprefix("auto=")
    for column in ("hopper", "sm80", "standard", "cudnn"):
        if name.startswith(column):
            return column
    return None


LOG_NAME = re.compile(r"^(?P<prefix>bench|self|base|alt\d*|torch|cutlass)_(?P<group>.+?)(\.p\d+)?\.(log|jsonl)$")


def keep_best(points, key, column, tflops):
    """A kernel timed in several passes counts with its best one."""
    values = points.setdefault(key, {})
    values[column] = max(values.get(column, 0.0), tflops)


def read_harness(path, points, group, hopper_column):
    seen = set()  # within one log only the first row of a column counts: the first Hopper row is the auto tile
    for line in open(path):
        match = HARNESS_ROW.match(line.strip())
        if not match:
            continue
        column = harness_kernel(match["kernel"])
        if column is None:
            continue
        if column == "hopper":
            column = hopper_column
        key = (group, match["dtype"], match["causal"] == "yes", int(match["n"]))
        if (key, column) not in seen:
            seen.add((key, column))
            keep_best(points, key, column, float(match["tflops"]))


def read_peers(path, points, group):
    for line in open(path):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") != "peer" or record.get("status") != "ok" or record["backend"] not in PEERS:
            continue
        key = (group, record["dtype"], bool(record["causal"]), int(record["seq_len"]))
        keep_best(points, key, record["backend"], float(record["tflops"]))


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("usage: hopper_peers_table.py LOG_DIR", file=sys.stderr)
        return 2
    directory = sys.argv[1]
    points = {}
    for path in sorted(glob.glob(os.path.join(directory, "*"))):
        name = LOG_NAME.match(os.path.basename(path))
        if name is None:
            continue
        if name["prefix"].startswith("alt") and name["prefix"] not in OTHER_BUILDS:
            OTHER_BUILDS.append(name["prefix"])
            HEADERS[name["prefix"]] = name["prefix"]
        if name["prefix"] in ("bench", *OTHER_BUILDS):
            read_harness(path, points, name["group"], "hopper" if name["prefix"] == "bench" else name["prefix"])
        else:
            read_peers(path, points, name["group"])
    if not points:
        print(f"no harness or peer results in {directory}", file=sys.stderr)
        return 1

    OTHER_BUILDS.sort(key=lambda c: (c != "self", c != "base", len(c), c))  # self, base, alt, alt2, ..., alt10
    all_columns = ["hopper", *OTHER_BUILDS, "sm80", "standard", *PEERS]
    columns = [c for c in all_columns if any(c in values for values in points.values())]
    print(f"{'group':16} {'dtype':5} {'causal':6} {'N':>6} " + " ".join(f"{HEADERS[c]:>8}" for c in columns) +
          f" {'best peer':>10} {'ratio':>6}" + "".join(f" {'vs ' + c:>7}" for c in OTHER_BUILDS if c in columns))
    for key in sorted(points):
        group, dtype, causal, n = key
        values = points[key]
        peers = {c: values[c] for c in PEERS if c in values}
        best = max(peers, key=peers.get) if peers else None
        ratio = values["hopper"] / peers[best] if best and "hopper" in values else None
        row = f"{group:16} {dtype:5} {'yes' if causal else 'no':6} {n:6} "
        row += " ".join(f"{values[c]:8.1f}" if c in values else f"{'-':>8}" for c in columns)
        row += f" {HEADERS[best] if best else '-':>10} " + (f"{ratio:6.3f}" if ratio is not None else f"{'-':>6}")
        for other in (c for c in OTHER_BUILDS if c in columns):
            row += f" {values['hopper'] / values[other]:7.3f}" if "hopper" in values and other in values else f" {'-':>7}"
        print(row)

    def head_dim(group):
        found = re.search(r"hd(\d+)", group)
        return int(found.group(1)) if found else None

    print()
    criteria = [
        ("hd128 N >= 4K: geomean >= 1.0, every point >= 0.95", lambda g, n: head_dim(g) == 128 and n >= 4096),
        ("hd64 N >= 4K: geomean >= 0.95", lambda g, n: head_dim(g) == 64 and n >= 4096),
        ("hd256 N >= 4K: geomean >= 0.95", lambda g, n: head_dim(g) == 256 and n >= 4096),
        ("N = 1K-2K: every point >= 0.9", lambda g, n: n <= 2048),
    ]
    for kernel in ("hopper", *OTHER_BUILDS):
        for title, selected in criteria:
            chosen = {}
            for key, values in points.items():
                peers = [values[c] for c in PEERS if c in values]
                if selected(key[0], key[3]) and kernel in values and peers:
                    chosen[key] = values[kernel] / max(peers)
            if not chosen:
                continue
            worst = min(chosen, key=chosen.get)
            print(f"{HEADERS[kernel]} / best peer, {title}: {len(chosen)} points, geomean "
                  f"{geomean(list(chosen.values())):.3f}, worst {chosen[worst]:.3f} "
                  f"({worst[0]} {worst[1]} {'causal' if worst[2] else 'full'} N={worst[3]})")
    others = [("sm80", "mma.sync family"), *((c, "the baseline build" if c == "base" else f"the {c} build")
                                             for c in OTHER_BUILDS)]
    for column, title in others:
        speedups = [v["hopper"] / v[column] for k, v in points.items()
                    if head_dim(k[0]) == 128 and k[3] >= 4096 and "hopper" in v and column in v]
        if speedups:
            print(f"hd128 N >= 4K, Hopper / {title}: geomean {geomean(speedups):.3f}, worst {min(speedups):.3f}")
    # The A/B proper: builds timed the same way (alone, points back to back), per group and mask.
    for column in (c for c in OTHER_BUILDS if c != "base"):
        groups = sorted({(k[0], k[2]) for k, v in points.items() if column in v and "base" in v})
        for group, causal in groups:
            ratios = [v[column] / v["base"] for k, v in points.items()
                      if (k[0], k[2]) == (group, causal) and k[3] >= 4096 and column in v and "base" in v]
            if ratios:
                print(f"{column} / base, {group} {'causal' if causal else 'full'} N >= 4K: geomean "
                      f"{geomean(ratios):.3f}, worst {min(ratios):.3f}, best {max(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
