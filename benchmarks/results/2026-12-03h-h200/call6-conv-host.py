"""Call 6: a planned conv2d call's host time against PyTorch's, float16 3 x 3 at 32 x 64 x
56 x 56 (H200, at 2e9f8ac). Run from the repository root with PYTHONPATH=. (the call ran
this logic written tersely; reformatted here, unchanged)."""

import cProfile
import pstats
import time

import torch

from kernels.conv2d import conv2d

torch.backends.cudnn.benchmark = True


def per_call(fn, calls: int = 50) -> tuple[float, float]:
    """(host us a call, us a call with the GPU's work waited for)."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    host = (time.perf_counter() - start) / calls * 1e6
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    torch.cuda.synchronize()
    return host, (time.perf_counter() - start) / calls * 1e6


for channels_last in (False, True):
    x = torch.randn(32, 64, 56, 56, device="cuda", dtype=torch.float16)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3, device="cuda", dtype=torch.float16)
    for _ in range(5):
        conv2d(x, w, padding=1)
    torch.cuda.synchronize()
    ours = lambda x=x, w=w: conv2d(x, w, padding=1)
    theirs = lambda x=x, w=w: torch.nn.functional.conv2d(x, w, padding=1)
    for fn, name in ((ours, "ours"), (theirs, "torch")):
        host, synced = per_call(fn)
        print(f"channels_last={channels_last} {name}: host {host:.1f} us/call, "
              f"synced {synced:.1f} us/call", flush=True)  # fmt: skip
    profile = cProfile.Profile()
    profile.runcall(lambda fn=ours: [fn() for _ in range(50)])
    torch.cuda.synchronize()
    pstats.Stats(profile).sort_stats("tottime").print_stats(14)
