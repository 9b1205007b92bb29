"""Where a multi-launch call's device time goes, at the clocks a benchmark runs at.

    python benchmarks/rows_timeline.py [--calls 30] [--early-sums 0 1]

`python -m harness bench --timeline N` does this for every bench case
(`harness.perf.timeline`); here for chosen shapes and settings. Each call runs as the
bench runs it (an L2 flush, a spin so that the host is ahead, then the call) under
torch.profiler, and each case prints, as medians over the calls: each kernel's duration,
the gap before each kernel after the first, and the call's span (first start to last
end). (Up to 5f35393 this script profiled by itself, leaving out records by name; the
results of 2026-12-05f came from that version.) Cases: layer_norm_backward on float16
rows (stage one's tiles, then stage two's sums of the partial sums), and softmax and
add_row_sum on float32 rows split over several programs (the counters' zeroing, then the
split kernel). `--early-sums` runs the backward's cases under each value given of
kernels.layer_norm_tuned.BWD_EARLY_SUMS (stage two launched early, 1, or not, 0).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

import kernels.layer_norm_tuned as tuned
from benchmarks.rows_probe import backward_call
from harness.perf.timeline import summarize
from harness.perf.timing import CudaEventTimer
from kernels.add_row_sum import add_row_sum
from kernels.softmax import softmax


def _timeline(case: Callable[[], object], calls: int) -> None:
    """The call's launches as `python -m harness bench --timeline` prints them."""
    timeline = summarize(CudaEventTimer().launches(case, calls))
    print(f"  {timeline.format(width=48)}" if timeline else "  no launches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--early-sums", type=int, nargs="*", default=[])
    args = parser.parse_args()
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    backward = {
        f"layer_norm_backward float16 4096x{n}": backward_call(4096, n) for n in (1024, 4096, 8192)
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
