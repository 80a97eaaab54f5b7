#!/usr/bin/env python3
"""Where the Hopper flash kernel's time goes, from one launch's pipeline timestamps.

Reads the dump of `attnbench_kernel_bench --stamps PREFIX` (a build with ATTNBENCH_HOPPER_STAMPS; the
layout and the events are in kernels/cuda/hopper/hopper_stamps.h) and prints, over all CTAs:
- the steady-state key-tile step of a consumer (S issue to the next S issue, the first two and the
  last step of an item left out) and what it is made of (waits for K, for the turn, for S, for P V);
- the item boundary: the item's last P V, its epilogue, when the next item begins after the last P V
  (its waits for Q, K and the turn up to its first S issue), and the item's time beyond its key tiles
  counted in steady steps;
- the producer's waits for free buffers;
- the tail: how long CTAs sit idle before the last one ends, and how the items spread over the CTAs.

    hopper_stamps.py DUMP.bin[.gz] [DUMP.bin[.gz] ...]
"""
import array
import gzip
import statistics
import sys

CAPACITY = 1 << 14
HEADER = 5
ROLES = 3
CLOCK_MASK = (1 << 56) - 1

PRODUCER_ITEM, PRODUCER_Q, PRODUCER_K, PRODUCER_V = 1, 2, 3, 4
(CONSUMER_ITEM, Q_READY, K_READY, S_ISSUE, TURN_PASSED, S_DONE, PV_DONE, LAST_PV_ISSUE, EPILOGUE_STORE,
 EPILOGUE_END) = range(16, 26)


def regions(path):
    entries = array.array("Q")
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        entries.frombytes(f.read())
    ctas = len(entries) // (ROLES * CAPACITY)
    for cta in range(ctas):
        roles = []
        for role in range(ROLES):
            base = (cta * ROLES + role) * CAPACITY
            count = entries[base]
            if entries[base + 1] == 0:  # this CTA did not run (grid smaller than the buffer)
                roles = None
                break
            events = [(e >> 56, e & CLOCK_MASK) for e in entries[base + HEADER:base + HEADER + count]]
            roles.append({"count": count, "g0": entries[base + 1], "c0": entries[base + 2],
                          "g1": entries[base + 3], "c1": entries[base + 4], "events": events,
                          "full": count >= CAPACITY - HEADER})
        if roles is not None:
            yield cta, roles


def consumer_items(events):
    """The consumer's events grouped per item: steps of (K ready, S issue, turn passed, S done, P V done)."""
    items = []
    item = None
    step = None
    for code, clock in events:
        if code == CONSUMER_ITEM:
            item = {"start": clock, "steps": []}
            items.append(item)
            step = None
        elif item is None:
            continue
        elif code == Q_READY:
            item["q"] = clock
        elif code == K_READY:
            step = {"k": clock}
            item["steps"].append(step)
        elif code == S_ISSUE:
            step["s"] = clock
        elif code == S_DONE:
            step["s_done"] = clock
        elif code in (TURN_PASSED, PV_DONE):
            # In a key-tile step, or of the item's last P V (issued outside any step).
            key = "turn" if code == TURN_PASSED else "pv_done"
            if step is not None:
                step[key] = clock
            else:
                item["last_" + key] = clock
        elif code == LAST_PV_ISSUE:
            item["last_pv_issue"] = clock
            step = None
        elif code in (EPILOGUE_STORE, EPILOGUE_END):
            # The kernel may run an item's epilogue after the next item has begun (its first S issued).
            owner = next(i for i in reversed(items) if "last_pv_done" in i and "end" not in i)
            owner["store" if code == EPILOGUE_STORE else "end"] = clock
    return [i for i in items if "end" in i]


def describe(label, values, ns_per_cycle):
    if not values:
        return f"  {label:<46} -"
    mean = statistics.fmean(values)
    return (f"  {label:<46} mean {mean:8.0f} cyc {mean * ns_per_cycle / 1000:7.3f} us   median "
            f"{statistics.median(values):8.0f}   p10 {percentile(values, 10):8.0f}   p90 {percentile(values, 90):8.0f}"
            f"   n {len(values)}")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def analyse(path):
    print(f"== {path}")
    acc = {k: [] for k in ("step", "rescale_convert_k_wait", "turn_wait", "issue", "s_wait", "pv_wait",
                           "first_s_wait", "first_softmax", "last_pv_turn_wait", "last_pv", "epilogue",
                           "epilogue_regs_to_smem", "epilogue_store", "next_item_begins", "q_wait", "first_k_wait",
                           "first_turn_wait", "boundary", "item_overhead_steps", "prod_q_wait", "prod_k_wait",
                           "prod_v_wait", "start_to_first_s")}
    cta_ends, cta_starts, items_per_cta, truncated, rates = [], [], [], 0, []
    for cta, roles in regions(path):
        producer, consumers = roles[0], roles[1:]
        rate = (consumers[0]["g1"] - consumers[0]["g0"]) / max(1, consumers[0]["c1"] - consumers[0]["c0"])
        rates.append(rate)
        to_ns = lambda r, clock: r["g0"] + (clock - r["c0"]) * rate
        ends = []
        for r in consumers:
            truncated += r["full"]
            items = consumer_items(r["events"])
            items_per_cta.append(len(items))
            if items:
                ends.append(to_ns(r, items[-1]["end"]))
                cta_starts.append(to_ns(r, items[0]["start"]))
                acc["start_to_first_s"].append(items[0]["steps"][0]["s"] - r["c0"])
            for index, item in enumerate(items):
                steps = item["steps"]
                for j in range(2, len(steps) - 1):
                    acc["step"].append(steps[j + 1]["s"] - steps[j]["s"])
                for j in range(2, len(steps)):
                    cur, prev = steps[j], steps[j - 1]
                    acc["rescale_convert_k_wait"].append(cur["k"] - prev["pv_done"])
                    acc["turn_wait"].append(cur["s"] - cur["k"])
                    acc["issue"].append(cur["turn"] - cur["s"])
                    acc["s_wait"].append(cur["s_done"] - cur["turn"])
                    acc["pv_wait"].append(cur["pv_done"] - cur["s_done"])
                first = steps[0]
                acc["q_wait"].append(item["q"] - item["start"])
                acc["first_k_wait"].append(first["k"] - item["q"])
                acc["first_turn_wait"].append(first["s"] - first["k"])
                acc["first_s_wait"].append(first["s_done"] - first["turn"])
                if len(steps) > 1:
                    acc["first_softmax"].append(steps[1]["k"] - first["s_done"])
                last_step_end = steps[-1].get("pv_done", steps[-1]["s_done"])
                acc["last_pv_turn_wait"].append(item["last_pv_issue"] - last_step_end)
                acc["last_pv"].append(item["last_pv_done"] - item["last_pv_issue"])
                acc["epilogue"].append(item["end"] - item["last_pv_done"])
                acc["epilogue_regs_to_smem"].append(item["store"] - item["last_pv_done"])
                acc["epilogue_store"].append(item["end"] - item["store"])
                if index + 1 < len(items):
                    nxt = items[index + 1]
                    acc["next_item_begins"].append(nxt["start"] - item["last_pv_done"])
                    acc["boundary"].append(nxt["steps"][0]["s"] - item["last_pv_done"])
                    acc["item_overhead_steps"].append((nxt["steps"][0]["s"] - steps[0]["s"], len(steps)))
        if ends:
            cta_ends.append(max(ends))
        last = None
        for code, clock in producer["events"]:
            if code == PRODUCER_ITEM:
                last = clock
            elif last is not None:
                key = {PRODUCER_Q: "prod_q_wait", PRODUCER_K: "prod_k_wait", PRODUCER_V: "prod_v_wait"}[code]
                acc[key].append(clock - last)
                last = clock
    ns_per_cycle = statistics.median(rates)
    steady = statistics.median(acc["step"])
    overhead = [(t - steady * n) / steady for t, n in acc["item_overhead_steps"]]
    print(f"  CTAs {len(cta_ends)}, SM clock {1 / ns_per_cycle:.3f} GHz (clock64 / globaltimer), items per consumer "
          f"{min(items_per_cta)}-{max(items_per_cta)} (mean {statistics.fmean(items_per_cta):.2f})"
          + (f", {truncated} regions full (cut off)" if truncated else ""))
    print(" steady step (key tile), consumer:")
    for key in ("step", "turn_wait", "issue", "s_wait", "pv_wait", "rescale_convert_k_wait"):
        print(describe(key, acc[key], ns_per_cycle))
    print(" item boundary, consumer:")
    for key in ("last_pv_turn_wait", "last_pv", "epilogue", "epilogue_regs_to_smem", "epilogue_store", "next_item_begins",
                "q_wait", "first_k_wait", "first_turn_wait", "first_s_wait", "first_softmax", "boundary",
                "start_to_first_s"):
        print(describe(key, acc[key], ns_per_cycle))
    print(f"  item time beyond its key tiles, in steady steps: mean {statistics.fmean(overhead):.2f}, median "
          f"{statistics.median(overhead):.2f} (n {len(overhead)})")
    print(" producer (one thread):")
    for key in ("prod_q_wait", "prod_k_wait", "prod_v_wait"):
        print(describe(key, acc[key], ns_per_cycle))
    begin, end = min(cta_starts), max(cta_ends)
    span = end - begin
    idle = [end - e for e in cta_ends]
    print(f" tail: kernel span {span / 1000:.1f} us (first item start to last epilogue end); CTA idle before the "
          f"end: mean {statistics.fmean(idle) / 1000:.2f} us = {statistics.fmean(idle) / span:.2%} of the span, "
          f"max {max(idle) / 1000:.2f} us; CTAs idle > 50 % of a mean item: "
          f"{sum(1 for i in idle if i > 0.5 * span / max(items_per_cta))}")
    starts_spread = [s - begin for s in cta_starts]
    print(f"  first item start spread over CTAs: max {max(starts_spread) / 1000:.2f} us")


for dump in sys.argv[1:]:
    analyse(dump)
