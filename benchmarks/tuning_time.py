"""How long a first call that tunes takes, with `harness.autotune.precompile` and without.

    PYTHONPATH=. python benchmarks/tuning_time.py [--shape N,C,HW,R,STRIDE] [--rounds 1]

A depthwise conv2d (float16, NCHW and channels-last: the plane kernel's table and the
pixels x filters one) called once on a new shape: its launcher's tuner compiles and
times every config. Each measurement runs in a fresh process with an empty Triton cache
(TRITON_CACHE_DIR in a new temporary folder), so every config is compiled, as on a
first run; precompile off (`harness.autotune.PRECOMPILE = False`) compiles them one by
one before timing each, on compiles them all at once in `compile_threads()` threads. On
a GPU.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.depthwise_probe import problem_shape

ROOT = Path(__file__).resolve().parent.parent

_ONE_CALL = """
import time, torch
import harness.autotune as tuning
from kernels.conv2d import conv2d
tuning.PRECOMPILE = {precompile}
n, c, hw, r, stride = {shape}
x = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.float16)
w = torch.randn(c, 1, r, r, device="cuda", dtype=torch.float16)
for layout in ("nchw", "channels_last"):
    src = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
    torch.cuda.synchronize()
    start = time.perf_counter()
    conv2d(src, w, None, stride, r // 2, 1, c)
    torch.cuda.synchronize()
    print(layout, f"{{time.perf_counter() - start:.1f}}", tuning.compile_threads(), flush=True)
"""


def _first_calls(shape: tuple[int, ...], precompile: bool) -> dict[str, float]:
    """Seconds of each layout's first call, in a fresh process and Triton cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TRITON_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        env.pop("TRITON_INTERPRET", None)
        code = _ONE_CALL.format(precompile=precompile, shape=shape)
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr[-3000:])
    times = {}
    for line in done.stdout.splitlines():
        layout, seconds, threads = line.split()
        times[layout] = float(seconds)
        times["threads"] = int(threads)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape", type=problem_shape, default="32,256,56,7,1", help="N,C,HW,R,STRIDE"
    )
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for precompile in (False, True):
            times = _first_calls(args.shape, precompile)
            cells = "  ".join(f"{k}={v}" for k, v in times.items())
            print(f"shape={args.shape}  precompile={precompile}  {cells}", flush=True)


if __name__ == "__main__":
    main()
