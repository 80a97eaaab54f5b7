"""CUDA-event timing shared by the PyTorch peer scripts (torch_sdpa_peers.py, torch_decode_peers.py,
transformers_peer.py), so that every peer is timed the same way."""
import torch


def event_samples_ms(fn, warmup, reps, burst=1):
    """Calls fn `warmup` times (the first also pays for the backend's setup), then times `reps` samples
    of `burst` back-to-back calls with CUDA events; returns each sample's milliseconds per call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(burst):
            fn()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) / burst)
    return samples


def graph_samples_ms(fn, warmup, reps, calls=10, min_time_s=0.0):
    """Captures `calls` back-to-back calls in one CUDA graph and times at least `reps` replays with CUDA
    events, and more until `min_time_s` seconds of replays have run (as attnbench's --min-time, so that
    both sides reach the same sustained clock); returns each replay's milliseconds per call. No Python or
    dispatch work runs between the calls, as none runs inside attnbench's timed window."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(warmup, 1)):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    samples = []
    while len(samples) < reps or sum(samples) * calls < 1000.0 * min_time_s:
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) / calls)
    return samples


def sm_clock_mhz():
    """The SM clock now (NVML through PyTorch), or None where it cannot be read."""
    try:
        return torch.cuda.clock_rate()
    except Exception:  # no NVML, or an older PyTorch
        return None
