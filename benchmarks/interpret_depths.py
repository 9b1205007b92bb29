"""An interpreted kernel launch timed at call depths in a row, without and with the
headroom on CPython's frame stack that `kernels._launch` gives it (`harness/stack.py`).

Triton's interpreter evaluates a kernel op by op through hundreds of nested Python calls.
On CPython 3.11 to 3.13 before its fix (python/cpython#142183), where those calls cross
the edge of a 16 KiB frame chunk, each crossing maps and unmaps one; where the caller
stands decides how often. A layer_norm launch (64 x 300 bfloat16, weight, no bias) is
timed at `--depths` depths, `--step` frames apart, the best of `--repeats` at each:

    PYTHONPATH=. python benchmarks/interpret_depths.py [--depths 80] [--step 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ["TRITON_INTERPRET"] = "1"  # before any kernel is decorated

import torch

import kernels._launch as launch_module
from harness import stack
from kernels.layer_norm import layer_norm


def _timed(launch) -> float:
    start = time.perf_counter()
    launch()
    return 1e3 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, default=80)
    parser.add_argument("--step", type=int, default=2, help="frames between two depths")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 300, generator=gen).to(torch.bfloat16)
    weight = torch.randn(300, generator=gen).to(torch.bfloat16)
    launch = lambda: layer_norm(x, weight)
    launch()
    print(f"Python {platform.python_version()}, layer_norm (64, 300) bfloat16, ms a launch")
    with_headroom = stack.with_headroom
    for name in ("without headroom", "with headroom"):
        launch_module.stack.with_headroom = (
            with_headroom if name == "with headroom" else (lambda fn, *a, **k: fn(*a, **k))
        )
        sweep = stack.sweep_depths(lambda: _timed(launch), args.depths, args.step, args.repeats)
        print(f"{name:>17}: {sweep.summary('ms')}", flush=True)
    launch_module.stack.with_headroom = with_headroom


if __name__ == "__main__":
    main()
