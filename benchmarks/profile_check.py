"""Where the time of a large differential case goes: per phase of `run_case`, on the GPU.

    python benchmarks/profile_check.py [OP] [DTYPE] [SHAPE...] [--params JSON]

Builds one case of the op at the given shape (default layer_norm float32 4096 x 16384)
and params (a JSON object: conv2d's "filters" and "kernel", matmul's "activation", ...),
runs it twice (the first run compiles, and an autotuned kernel tunes its new shape) and
prints the wall time of each phase of both: drawing the inputs, the float64 oracle and
conditions, each tier, and judging.
"""

from __future__ import annotations

import argparse
import json
import time

from harness import compare
from harness.modes import activate


def main() -> None:
    mode = activate("gpu")
    from ops import OPS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("op", nargs="?", default="layer_norm")
    parser.add_argument("dtype", nargs="?", default="float32")
    parser.add_argument("shape", nargs="*", type=int, default=[4096, 16384])
    parser.add_argument("--params", type=json.loads, default={}, help="the case's params")
    args = parser.parse_args()
    op = OPS[args.op]
    case = compare.Case(args.op, args.dtype, tuple(args.shape), args.params, 0)
    for attempt in ("first (compiles)", "second"):
        start = time.perf_counter()
        result = compare.run_case(op, case, mode, "cuda", "ops")
        total = time.perf_counter() - start
        print(f"{case.describe()} {attempt}: {total:.2f} s, ok={result.ok}")
        for phase, seconds in sorted(result.seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {phase:24s} {seconds:7.2f} s")  # `CaseResult.seconds`


if __name__ == "__main__":
    main()
