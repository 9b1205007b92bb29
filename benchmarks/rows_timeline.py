"""Where a multi-launch call's device time goes, at the clocks a benchmark runs at.

    python benchmarks/rows_timeline.py [--calls 30] [--early-sums 0 1]

ncu replays each kernel alone, caches flushed and clocks locked to base, so its durations
do not add up to what `python -m harness bench` times. Here each call runs as the bench
runs it (an L2 flush, a spin so that the host is ahead, then the call) under
torch.profiler, and each case prints, as medians over the calls: each kernel's duration,
the call's span (first kernel's start to last kernel's end) and the gaps between its
kernels. Cases: layer_norm_backward on float16 rows (stage one's tiles, then stage two's
sums of the partial sums), and softmax and add_row_sum on float32 rows split over
several programs (the counters' zeroing, then the split kernel). `--early-sums` runs the
backward's cases under each value of kernels.layer_norm_tuned.BWD_EARLY_SUMS given
(stage two launched early, 1, or not, 0).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

import kernels.layer_norm_tuned as tuned
from harness.perf.timing import CudaEventTimer
from kernels.add_row_sum import add_row_sum
from kernels.layer_norm import layer_norm, layer_norm_backward
from kernels.softmax import softmax


def _backward(n_rows: int, n_cols: int) -> Callable[[], object]:
    """layer_norm_backward on float16 rows, with weight and bias, after a forward."""
    x, dy = (torch.randn(n_rows, n_cols, device="cuda", dtype=torch.float16) for _ in "xy")
    w, b = (torch.randn(n_cols, device="cuda", dtype=torch.float16) for _ in "wb")
    _, mean, rstd = layer_norm(x, w, b)
    return lambda: layer_norm_backward(dy, x, mean, rstd, w, b)


def _timeline(case: Callable[[], object], calls: int) -> None:
    timer = CudaEventTimer()
    flush = timer._flush_buffer()
    for _ in range(3):
        case()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            flush.zero_()
            timer._spin()
            case()
        torch.cuda.synchronize()
    events = sorted(
        (e for e in prof.events() if e.device_type.name == "CUDA" and e.name != "Memset"),
        key=lambda e: e.time_range.start,
    )
    # Split into calls: each call starts after the flush's and the spin's kernels.
    per_call: list[list] = []
    current: list = []
    for e in events:
        if "elementwise" in e.name or "Fill" in e.name:  # the flush (PyTorch's zero_)
            continue
        if "spin_kernel" in e.name:  # torch.cuda._sleep's: a call follows
            if current:
                per_call.append(current)
            current = []
            continue
        current.append(e)
    if current:
        per_call.append(current)
    names = [e.name for e in per_call[-1]]
    print(f"  kernels: {' -> '.join(n[:40] for n in names)}")
    for i, name in enumerate(names):
        durations = [c[i].time_range.elapsed_us() for c in per_call if len(c) == len(names)]
        print(f"  {name[:48]:48s} {statistics.median(durations):8.1f} us")
    spans = [c[-1].time_range.end - c[0].time_range.start for c in per_call]
    print(f"  span (first start to last end)                   {statistics.median(spans):8.1f} us")
    for i in range(1, len(names)):
        gaps = [
            c[i].time_range.start - c[i - 1].time_range.end
            for c in per_call
            if len(c) == len(names)
        ]
        print(f"  gap before {names[i][:37]:37s} {statistics.median(gaps):8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--early-sums", type=int, nargs="*", default=[])
    args = parser.parse_args()
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    backward = {
        f"layer_norm_backward float16 4096x{n}": _backward(4096, n) for n in (1024, 4096, 8192)
    }
    for early in args.early_sums or [tuned.BWD_EARLY_SUMS]:
        tuned.BWD_EARLY_SUMS = early
        for name, case in backward.items():
            print(f"{name} (BWD_EARLY_SUMS={early})")
            _timeline(case, args.calls)
    long32 = torch.randn(1024, 65536, device="cuda")
    split = {
        "softmax float32 1024x65536 (split)": lambda: softmax(long32),
        "add_row_sum float32 1024x65536 (split)": lambda: add_row_sum(long32),
    }
    for name, case in split.items():
        print(name)
        _timeline(case, args.calls)


if __name__ == "__main__":
    main()
