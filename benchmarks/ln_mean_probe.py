"""What layer_norm's row mean costs its forward, by how it divides. On a GPU.

layer_norm float32 4096 x 1024 took 16.0 us on an H100 on 2026-11-26 and 17.3-17.6 us
since (benchmarks/README.md, "The H100's baseline renewed"); its plan and memory
instructions were the same, and the row mean had become `tl.math.div_rn` in between
(761b140: an FCHK and a branch on the way to the second reduction). On an H100 on
2026-12-06 (results/2026-12-06c-h100) div_rn took 17.2-17.4 us there against 15.7-16.1 us
with Triton's approximate `/`. The kernel's first mean then became that quotient and one
Newton step (2026-12-06c), and since the corrected mean (`_corrected_mean`, 2026-12-06e)
lands a row of equal values on its value whatever ulps the first mean is off, the bare
quotient again (2026-12-06f: results/2026-12-06f-h100 call 1, where "div" is today's
kernel and "newton" was). This times the forward as it is ("kernel") against the same
kernels with the first mean as `div_rn` and with the Newton step, each in a process of
its own (the kernel's helper is swapped before it first compiles), rounds alternating,
with PyTorch's layer norm and a copy of x timed beside each, after counting the rows of
equal values whose mean comes out other than that value:

    PYTHONPATH=. python benchmarks/ln_mean_probe.py [--rounds 3]

`--offline` compiles each for sm_90 without a GPU and counts its SASS instructions
(div_rn 312 against 192 for `/` on Triton 3.6, 296 against 184 on 3.9: `/` has no FCHK
and no CALL).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

SHAPES = ((4096, 1024), (4096, 4096))
VARIANT = "LN_MEAN_PROBE_DIVISION"
"""Set in a child to the row mean it swaps in: "div_rn" or "newton"; unset, the kernel's."""
VARIANTS = ("kernel", "div_rn", "newton")


def _swap_mean(variant: str) -> None:
    """kernels.layer_norm._row_mean replaced, before any compile (a jitted function's
    callees are looked up in its module's globals when it compiles)."""
    import triton
    import triton.language as tl

    import kernels.layer_norm as ln

    @triton.jit
    def _div_rn(row_sum, n_cols):
        return tl.math.div_rn(row_sum, tl.cast(n_cols, tl.float32))

    @triton.jit
    def _newton(row_sum, n_cols):
        # The quotient corrected by one Newton step: the fma gives the residual exactly.
        n = tl.cast(n_cols, tl.float32)
        mean = row_sum / n
        return tl.where(tl.abs(mean) < float("inf"), mean + tl.fma(-mean, n, row_sum) / n, mean)

    ln._row_mean = {"div_rn": _div_rn, "newton": _newton}[variant]


def _variant() -> str:
    return os.environ.get(VARIANT, VARIANTS[0])


def _time() -> None:
    import statistics

    import torch

    from harness.perf.timing import CudaEventTimer

    timer = CudaEventTimer()

    def us(fn) -> float:
        fn()
        timer.time_calls(fn, 20)
        return 1e3 * statistics.median(timer.time_calls(fn, 200))

    _exactness()
    label = _variant()
    for shape in SHAPES:
        for dtype in (torch.float32, torch.float16):
            ours, theirs, copy = (us(fn) for fn in _calls(shape, dtype))
            print(
                f"{shape!s:<13} {str(dtype)[6:]:<8} mean={label:<6} ours {ours:6.2f} us  "
                f"torch {theirs:6.2f} us ({theirs / ours:.2f}x)  copy {copy:6.2f} us "
                f"({copy / ours:.0%})",
                flush=True,
            )


def _exactness() -> None:
    """How many rows of equal values get a mean other than that value: 65536 rows each of
    a random float16 value (float32 sums n of them exactly), at a few row lengths."""
    import torch

    import kernels.layer_norm as ln

    gen = torch.Generator(device="cuda").manual_seed(0)
    for n in (181, 1000, 4095):
        values = (6e4 * (2 * torch.rand(65536, generator=gen, device="cuda") - 1)).half()
        x = values[:, None].expand(-1, n).contiguous()
        ones = torch.ones(n, device="cuda", dtype=x.dtype)
        _, mean, _ = ln.layer_norm(x, ones, ones, 1e-6)
        off = int((mean != values.float()).sum())
        print(f"n={n:<5} mean={_variant():<6} {off} of {len(values)} rows' means off", flush=True)


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

    from benchmarks.sass_loop import compile_only, opcodes, sass

    compiled = compile_only(90)
    import kernels.layer_norm as ln

    x = torch.randn(4096, 1024)
    ln.layer_norm(x, torch.randn(1024), torch.randn(1024), 1e-5)
    counts = opcodes(sass(compiled[0][1].asm["cubin"]))
    print(
        f"mean={_variant()}: {sum(counts.values())} SASS instructions, FCHK {counts['FCHK']}, "
        f"CALL {counts['CALL']}, BRA {counts['BRA']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if _variant() != VARIANTS[0]:
            _swap_mean(_variant())
        _offline() if args.offline else _time()
        return
    child = [sys.executable, __file__, "--child"] + (["--offline"] if args.offline else [])
    base_env = {k: v for k, v in os.environ.items() if k != VARIANT}
    for r in range(1 if args.offline else args.rounds):
        for variant in VARIANTS:
            env = base_env if variant == VARIANTS[0] else {**base_env, VARIANT: variant}
            if not args.offline:
                print(f"-- round {r}", flush=True)
            subprocess.run(child, env=env, check=True)


if __name__ == "__main__":
    main()
