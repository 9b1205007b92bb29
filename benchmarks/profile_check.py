"""Where the time of a large differential case goes: per phase of `run_case`, on the GPU.

    python benchmarks/profile_check.py [OP] [DTYPE] [SHAPE...]

Builds one case of the op at the given shape (default layer_norm float32 4096 x 16384),
runs it twice (the first run compiles), and prints the wall time of each phase of the
second: drawing the inputs, the float64 oracle and conditions, each tier, and judging.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import torch

from harness import compare
from harness.modes import activate


def main() -> None:
    mode = activate("gpu")
    from ops import OPS

    name = sys.argv[1] if len(sys.argv) > 1 else "layer_norm"
    dtype = sys.argv[2] if len(sys.argv) > 2 else "float32"
    shape = tuple(int(s) for s in sys.argv[3:]) or (4096, 16384)
    op = OPS[name]
    case = compare.Case(name, dtype, shape, {}, 0)
    timings: dict[str, float] = {}

    def timed(label, fn):
        def run(*args, **kwargs):
            torch.cuda.synchronize()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            torch.cuda.synchronize()
            timings[label] = timings.get(label, 0.0) + time.perf_counter() - start
            return out

        return run

    patched = {
        "build_inputs": compare.build_inputs,
        "oracle_and_conditions": compare.oracle_and_conditions,
        "_judge": compare._judge,
        "snapshot": compare.snapshot,
        "changed": compare.changed,
    }
    for attr, fn in patched.items():
        setattr(compare, attr, timed(attr, fn))
    op = dataclasses.replace(
        op, torch_ref=timed("torch tier", op.torch_ref), kernel=timed("kernel tier", op.kernel)
    )
    for attempt in ("first (compiles)", "second"):
        timings.clear()
        start = time.perf_counter()
        result = compare.run_case(op, case, mode, "cuda", "ops")
        total = time.perf_counter() - start
        print(f"{case.describe()} {attempt}: {total:.2f} s, ok={result.ok}")
        for label, seconds in sorted(timings.items(), key=lambda kv: -kv[1]):
            print(f"  {label:24s} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
