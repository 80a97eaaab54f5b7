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
