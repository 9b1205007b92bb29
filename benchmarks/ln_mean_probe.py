"""Does the correctly rounded row mean cost layer_norm's forward its time? On a GPU.

layer_norm float32 4096 x 1024 took 16.0 us on an H100 on 2026-11-26 and 17.3-17.6 us
since (benchmarks/README.md, "The H100's baseline renewed"); its plan and memory
instructions are the same, and the row mean became `tl.math.div_rn` in between (761b140:
an FCHK and a branch on the way to the second reduction). This times the forward as it is
against the same kernels with the mean as Triton's approximate `/` (what it was), each in
a process of its own (the kernel's helper is swapped before it first compiles), rounds
alternating, with PyTorch's layer norm and a copy of x timed beside each:

    PYTHONPATH=. python benchmarks/ln_mean_probe.py [--rounds 3]

`--offline` compiles both for sm_90 without a GPU and counts their SASS instructions:
312 against 192 on Triton 3.6, 296 against 184 on 3.9 (the approximate one has no FCHK
and no CALL).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

SHAPES = ((4096, 1024), (4096, 4096))
VARIANT = "LN_MEAN_PROBE_APPROX"
"""Set in a child: layer_norm's row mean as the approximate division."""


def _use_approximate_mean() -> None:
    """kernels.layer_norm._row_mean replaced by row_sum / n_cols, before any compile (a
    jitted function's callees are looked up in its module's globals when it compiles)."""
    import triton

    import kernels.layer_norm as ln

    @triton.jit
    def _row_mean(row_sum, n_cols):
        return row_sum / n_cols

    ln._row_mean = _row_mean


def _time() -> None:
    import statistics

    import torch

    from harness.perf.timing import CudaEventTimer

    timer = CudaEventTimer()

    def us(fn) -> float:
        fn()
        timer.time_calls(fn, 20)
        return 1e3 * statistics.median(timer.time_calls(fn, 200))

    label = "div" if os.environ.get(VARIANT) else "div_rn"
    for shape in SHAPES:
        for dtype in (torch.float32, torch.float16):
            ours, theirs, copy = (us(fn) for fn in _calls(shape, dtype))
            print(
                f"{shape!s:<13} {str(dtype)[6:]:<8} mean={label:<6} ours {ours:6.2f} us  "
                f"torch {theirs:6.2f} us ({theirs / ours:.2f}x)  copy {copy:6.2f} us "
                f"({copy / ours:.0%})",
                flush=True,
            )


def _calls(shape: tuple[int, int], dtype) -> tuple:
    """Our layer norm, PyTorch's and a copy of x, on fresh inputs of `shape`."""
    import torch
    import torch.nn.functional as F

    import kernels.layer_norm as ln

    n = shape[-1]
    x = torch.randn(shape, device="cuda", dtype=dtype)
    w, b = (torch.randn(n, device="cuda", dtype=dtype) for _ in "wb")
    out = torch.empty_like(x)
    return (
        lambda: ln.layer_norm(x, w, b, 1e-5),
        lambda: F.layer_norm(x, (n,), w, b, 1e-5),
        lambda: out.copy_(x),
    )


def _offline() -> None:
    import torch

    from benchmarks.compile_offline import _offline as stand_in
    from benchmarks.sass_loop import opcodes, sass

    stand_in(90, measure=False)
    from triton.runtime.jit import JITFunction

    import kernels._checks as checks
    import kernels.layer_norm as ln

    checks._INTERPRETING = True  # CPU tensors pass the launcher's device checks
    compiled = []
    run = JITFunction.run

    def kept(self, *args, **kwargs):
        kernel = run(self, *args, **kwargs)
        compiled.append(kernel)
        return kernel

    JITFunction.run = kept
    x = torch.randn(4096, 1024)
    ln.layer_norm(x, torch.randn(1024), torch.randn(1024), 1e-5)
    counts = opcodes(sass(compiled[0].asm["cubin"]))
    label = "div" if os.environ.get(VARIANT) else "div_rn"
    print(
        f"mean={label}: {sum(counts.values())} SASS instructions, FCHK {counts['FCHK']}, "
        f"CALL {counts['CALL']}, BRA {counts['BRA']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if os.environ.get(VARIANT):
            _use_approximate_mean()
        _offline() if args.offline else _time()
        return
    child = [sys.executable, __file__, "--child"] + (["--offline"] if args.offline else [])
    for r in range(1 if args.offline else args.rounds):
        for approximate in (False, True):
            env = (
                {**os.environ, VARIANT: "1"}
                if approximate
                else {k: v for k, v in os.environ.items() if k != VARIANT}
            )
            if not args.offline:
                print(f"-- round {r}", flush=True)
            subprocess.run(child, env=env, check=True)


if __name__ == "__main__":
    main()
