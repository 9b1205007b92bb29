"""Host cost of one call, per op: Triton launcher against the PyTorch tier, on a GPU.

Small inputs (8 x 256 by default), so that the GPU is never what a call waits for: the
figure is what the CPU spends in Python, checks, allocations and launches before the call
returns (`harness.perf.timing.CudaEventTimer.host_ms_per_call`), which device-time benchmarks
hide on purpose. Each op is measured `--rounds` times, the two tiers alternating, and the
median printed with the range: host time moves with the CPU's load.

    PYTHONPATH=. python benchmarks/host_cost.py [OP ...] [--shape 8 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from harness.compare import build_inputs
from harness.op import Case
from harness.perf.timing import CudaEventTimer
from ops import OPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops", nargs="*", help="op names (default: all)")
    parser.add_argument("--shape", type=int, nargs="+", default=[8, 256])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    timer = CudaEventTimer()
    print(f"{torch.cuda.get_device_name()}, shape {tuple(args.shape)} {args.dtype}")
    print(f"{'op':<22}{'triton us':>22}{'pytorch us':>22}")
    for name in args.ops or list(OPS):
        op = OPS[name]
        params = dict(op.bench_cases[0][1]) if op.bench_cases else {}
        inputs = build_inputs(op, Case(name, args.dtype, tuple(args.shape), params), "cuda")
        tiers = {
            "triton": lambda op=op, a=inputs: op.kernel(*a.args, **a.kwargs),
            "pytorch": lambda op=op, a=inputs: op.torch_ref(*a.args, **a.kwargs),
        }
        for fn in tiers.values():
            fn()  # compile
        us: dict[str, list[float]] = {tier: [] for tier in tiers}
        for _ in range(args.rounds):
            for tier, fn in tiers.items():
                us[tier].append(1e3 * timer.host_ms_per_call(fn))
        cells = [f"{statistics.median(v):6.1f} ({min(v):.0f}-{max(v):.0f})" for v in us.values()]
        cells = [c.rjust(22) for c in cells]
        print(f"{name:<22}{''.join(cells)}", flush=True)


if __name__ == "__main__":
    main()
