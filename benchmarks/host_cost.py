"""Host cost of one call, per op: Triton launcher against the PyTorch tier, on a GPU.

Small inputs (8 x 256 by default), so that the GPU is never what a call waits for: the
figure is what the CPU spends in Python, checks, allocations and launches before the call
returns (`harness.perf.timing.CudaEventTimer.host_ms_per_call`), which device-time benchmarks
hide on purpose. The `triton-dispatch` column is the same launcher through Triton's own
dispatch (`kernels._launch.fast` and replays off, four attribute swaps extra). Each op is measured
`--rounds` times, the tiers alternating, and the median printed with the range: host time
moves with the CPU's load.

    PYTHONPATH=. python benchmarks/host_cost.py [OP ...] [--shape 8 256] [--rounds 5]
    PYTHONPATH=. python benchmarks/host_cost.py conv2d --case 9   # a benchmark case's problem

`--offline` measures the Triton tiers' Python on a machine without a GPU: CPU tensors,
kernels compiled for sm_90 through benchmarks/compile_offline.py's stand-in driver. The
`triton` tier runs as on a GPU after its first call (`fast` launches and replays) into a
CUDA launcher that does nothing; `triton-dispatch` stops where Triton would hand the grid
to the CUDA launcher (its own `warmup` path). Triton's C launcher, 4.4-6.2 us a call on
the H200's host (benchmarks/results/2026-12-03c-h200/desc-profile.txt), is in neither.

`--c-launch` times one launch of vector_add's compiled kernel both ways it can reach the C
launcher: through Triton's CudaLauncher.__call__, and as `kernels._launch.direct_launcher`
calls it (on a GPU; alternating rounds).

`--parts` times the pieces of a replayed vector_add call one by one (on a GPU): the
signatures, `Replays.get` and `.launch`, the allocation, and the alternatives to each.

`--depths N` times each tier again at N call depths in a row, without the headroom on
CPython's frame stack that every other timing here gives its calls (`harness.stack`): how
many depths make a call map and unmap a frame chunk, and what that costs it.

`--force NAME` runs the Triton tiers under that config (`kernels._plans.forcing`).
`--profile` adds the functions the Triton tier's calls spend the most in, under cProfile
(on a GPU too: Triton's C launcher shows as one built-in), ordered by `--sort` (tottime
by default; cumulative shows who calls them), the first `--top` of them.
"""

from __future__ import annotations

import argparse
import functools
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

import kernels._launch as launch_module
from harness import stack
from harness.compare import build_inputs
from harness.op import Case
from kernels import _plans
from ops import OPS


def _per_call_us(fn: Callable[[], Any], calls: int = 200, headroom: bool = True) -> float:
    """Host us a call of fn, over `calls` calls; made with headroom on CPython's frame
    stack (`harness.stack`), as `CudaEventTimer.host_ms_per_call` makes them, unless not
    `headroom` (`_depths`)."""

    def loop() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return 1e6 * (time.perf_counter() - start) / calls

    return stack.with_headroom(loop) if headroom else loop()


def _depths(tiers: dict[str, Callable[[], Any]], depths: int, us_per_call: Callable) -> None:
    """Each tier's host us a call at `depths` call depths in a row, timed without
    headroom by `us_per_call(fn)`: a Python launcher whose frames cross the edge of one
    of CPython 3.11's 16 KiB frame chunks maps and unmaps one at every call
    (python/cpython#142183; `harness.stack`). Prints how many depths are slow
    (`harness.stack.SLOW_DEPTH`), and the worst."""
    for tier, fn in tiers.items():
        sweep = stack.sweep_depths(functools.partial(us_per_call, fn), depths)
        print(f"  {tier}: {sweep.summary('us')}", flush=True)


def _through_triton(kernel: Callable[..., Any], inputs: Any) -> Any:
    """The launcher with `kernels._launch.fast` turned into Triton's own dispatch, and
    no replays (`kernels._launch.Replays`): each call checks, plans and dispatches."""
    key, get = launch_module._launch_key, launch_module.Replays.get
    launch_module._launch_key = lambda *_: None
    launch_module.Replays.get = lambda *_: None
    try:
        return kernel(*inputs.args, **inputs.kwargs)
    finally:
        launch_module._launch_key, launch_module.Replays.get = key, get


def _stub_cuda_launcher() -> None:
    """Offline: `kernels._launch.fast` (and so replays) take every launch, as on a GPU once
    a specialization is compiled, and hand it to a CUDA launcher that does nothing.
    Triton's own dispatch (the triton-dispatch tier) compiles and stops before launching,
    as `compile_offline` makes it."""
    from triton.runtime.jit import JITFunction

    class Compiled(dict):
        def get(self, key: Any, default: Any = None) -> Any:
            return None, lambda *launch: None, None, None

    launch_module._COMPILED = Compiled()
    launch_module._TRITON_RUN = JITFunction.run  # the stand-in's: `fast` vouches for it
    # The stand-in is an sm_90 GPU: the TMA designs run where they would on the H200.
    import kernels.conv2d as conv
    import kernels.matmul as matmul

    conv.copy_engine = matmul.copy_engine = lambda device: True
    torch.cuda.current_device = lambda: 0
    torch._C._cuda_getCurrentRawStream = lambda device: 0


def _forced(name: str, fn: Callable[[], Any]) -> Any:
    with _plans.forcing(name):
        return fn()


def _c_launch_us(rounds: int) -> None:
    """Host us a launch of vector_add's kernel (8 x 256 float32), Triton's launcher object
    against the direct call of its C function, each the median of `rounds`."""
    from harness.perf.timing import CudaEventTimer
    from kernels.vector_add import vector_add

    timer = CudaEventTimer()
    x, y = torch.randn(2, 8, 256, device="cuda")
    for _ in range(3):
        vector_add(x, y)  # compiled, then launched fast: its entry in _COMPILED
    entries = launch_module._COMPILED.values()
    compiled, direct, function, metadata = next(
        e for e in entries if e[0].name == "vector_add_kernel"
    )
    out = torch.empty_like(x)
    values = (x.data_ptr(), y.data_ptr(), out.data_ptr(), x.numel(), 1024)
    stream = torch.cuda.current_stream().cuda_stream
    ways = {
        "CudaLauncher.__call__": compiled.run,
        "direct_launcher": direct,
    }
    us: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, run in ways.items():
            launch = lambda run=run: run(1, 1, 1, stream, function, metadata, None, None, None,
                                         *values)  # fmt: skip
            us[name].append(1e3 * timer.host_ms_per_call(launch))
    for name, v in us.items():
        print(f"{name:<24}{statistics.median(v):6.2f} us ({min(v):.2f}-{max(v):.2f})")


def _parts_us(rounds: int) -> None:
    """Host us of the pieces of one replayed vector_add call (8 x 256 float32) on this
    host, each the median of `rounds`: what `kernels._launch.replayed` spends, and the
    alternatives it could call instead."""
    from harness.perf.timing import CudaEventTimer
    from kernels.vector_add import vector_add

    timer = CudaEventTimer()
    x, y = torch.randn(2, 8, 256, device="cuda")
    for _ in range(3):
        vector_add(x, y)  # compiled, launched fast, then kept for replays
    replays = vector_add.replays
    ((signature, replay),) = replays._by_signature.items()
    out, kernel = torch.empty_like(x), replay.launches[0].kernel
    shape, strides, dt, device = x.shape, x.stride(), x.dtype, x.device
    pieces: dict[str, Callable[[], Any]] = {
        "vector_add, replayed": lambda: vector_add(x, y),
        "x + y (PyTorch)": lambda: x + y,
        "signatures of x and y": lambda: [
            (t.shape, t.stride(), t.dtype, t.get_device(), t.data_ptr() & 15) for t in (x, y)
        ],  # as `replayed` signs a tensor, inline
        "Replays.get": lambda: replays.get(signature),
        "Replays.launch": lambda: replays.launch(replay, [x, y, out]),
        "replay.call (allocates)": lambda: replay.call([x, y]),
        "_state": lambda: launch_module._state(kernel),
        "torch.cuda.current_device": torch.cuda.current_device,
        "torch._C._cuda_getDevice": torch._C._cuda_getDevice,
        "_cuda_getCurrentRawStream": lambda: torch._C._cuda_getCurrentRawStream(0),
        "torch.empty_strided": lambda: torch.empty_strided(shape, strides, dtype=dt, device=device),
        "torch.empty_like": lambda: torch.empty_like(x),
        "torch.empty": lambda: torch.empty(shape, dtype=dt, device=device),
        "x.new_empty": lambda: x.new_empty(shape),
        "nothing (the loop)": lambda: None,
    }  # fmt: skip
    us: dict[str, list[float]] = {name: [] for name in pieces}
    for _ in range(rounds):
        for name, fn in pieces.items():
            us[name].append(1e3 * timer.host_ms_per_call(fn))
    for name, v in us.items():
        print(f"{name:<30}{statistics.median(v):6.2f} us ({min(v):.2f}-{max(v):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops", nargs="*", help="op names (default: all)")
    parser.add_argument("--shape", type=int, nargs="+", default=[8, 256])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--case", type=int, help="the op's benchmark case of this index (its shape and params)"
    )
    parser.add_argument("--offline", action="store_true", help="no GPU: the launcher alone")
    parser.add_argument("--profile", action="store_true", help="the Triton tier under cProfile")
    parser.add_argument(
        "--c-launch", action="store_true", help="Triton's launcher object against the direct call"
    )
    parser.add_argument(
        "--parts", action="store_true", help="the pieces of a replayed vector_add call, timed"
    )
    parser.add_argument(
        "--sort",
        default="tottime",
        help="the profile's order, a pstats key (tottime, cumulative, ncalls, ...)",
    )
    parser.add_argument("--top", type=int, default=12, help="how many functions --profile lists")
    parser.add_argument(
        "--depths",
        type=int,
        metavar="N",
        help="also each tier at N call depths in a row, without headroom (`_depths`)",
    )
    parser.add_argument(
        "--force",
        metavar="NAME",
        help="the Triton tiers under kernels._plans.forcing(NAME) (family/design/constants)",
    )
    args = parser.parse_args()
    if args.c_launch:
        _c_launch_us(args.rounds)
        return
    if args.parts:
        _parts_us(args.rounds)
        return
    if args.offline:
        import kernels._checks as checks
        from benchmarks.compile_offline import _offline

        _offline(90, measure=False)
        checks._INTERPRETING = True  # CPU tensors pass the launchers' device checks
        _stub_cuda_launcher()
        device = "cpu"
        timers = {"triton": _per_call_us, "triton-dispatch": _per_call_us}
        without_headroom = lambda fn: _per_call_us(fn, 100, headroom=False)
        where = "offline (sm_90 stand-in)"
    else:
        from harness.perf.timing import CudaEventTimer

        timer = CudaEventTimer()
        device = "cuda"
        tiers = ("triton", "triton-dispatch", "torch")
        timers = {tier: lambda fn: 1e3 * timer.host_ms_per_call(fn) for tier in tiers}
        without_headroom = lambda fn: 1e3 * timer.host_ms_per_call(fn, headroom=False)
        where = torch.cuda.get_device_name()
    python = f"Python {platform.python_version()}"  # its frame stack: `_depths`
    print(f"{where}, {python}, shape {tuple(args.shape)} {args.dtype}")
    ratio = "torch" in timers  # issue 10's measure: triton / torch, round by round
    header = [f"{tier + ' us':>22}" for tier in timers] + (["triton/torch".rjust(22)] * ratio)
    print(f"{'op':<22}" + "".join(header))
    for name in args.ops or list(OPS):
        op = OPS[name]
        shape, params = tuple(args.shape), dict(op.bench_cases[0][1]) if op.bench_cases else {}
        if args.case is not None:
            shape, params = tuple(op.bench_cases[args.case][0]), dict(op.bench_cases[args.case][1])
        inputs = build_inputs(op, Case(name, args.dtype, shape, params), device)
        tiers = {
            "triton": lambda op=op, a=inputs: op.kernel(*a.args, **a.kwargs),
            "triton-dispatch": lambda op=op, a=inputs: _through_triton(op.kernel, a),
            "torch": lambda op=op, a=inputs: op.torch_ref(*a.args, **a.kwargs),
        }
        tiers = {tier: tiers[tier] for tier in timers}
        if args.force:
            for tier in ("triton", "triton-dispatch"):
                if tier in tiers:
                    tiers[tier] = functools.partial(_forced, args.force, tiers[tier])
        for fn in tiers.values():
            fn()  # compile
        us: dict[str, list[float]] = {tier: [] for tier in tiers}
        for _ in range(args.rounds):
            for tier, fn in tiers.items():
                us[tier].append(timers[tier](fn))
        cells = [f"{statistics.median(v):6.1f} ({min(v):.1f}-{max(v):.1f})" for v in us.values()]
        if ratio:  # each round's tiers ran back to back
            r = [a / b for a, b in zip(us["triton"], us["torch"], strict=True)]
            cells.append(f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})")
        print(f"{name:<22}{''.join(c.rjust(22) for c in cells)}", flush=True)
        if args.depths:
            _depths(tiers, args.depths, without_headroom)
        if args.profile:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(_per_call_us, tiers["triton"], 5000)  # ms of tottime: 0.2 us a call
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
