"""`python -m harness bench`: time every op's Triton kernel against its PyTorch tier.

For each op in the registry, each of its `bench_dtypes` and each of its `bench_cases`,
both tiers are timed on the GPU by `harness.timing` (CUDA events, L2 flushed, median of
each of R repeats, the tiers interleaved) and reported with the op's declared bytes and
FLOPs as GB/s, TFLOP/s and a fraction of the card's ceilings (`harness.ceilings`),
measured in the same run. The run is printed as a table, saved as JSON, drawn one PNG
per op (`harness.bench_report`), and optionally saved as the GPU model's baseline or
judged against it (`harness.gate`). The pytest side (`harness.bench_tests`) measures
through the same `measure_case`.

Demo / testing knob: HARNESS_BENCH_SLOWDOWN=op:N[,op:N...] (op `*` = every op) makes
every timed kernel call run the kernel N times, a deliberate regression to see the gate
fail. It never touches the PyTorch tier, and a run with it cannot be saved as a baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench_results import BenchResult, BenchRun, Key, TierTiming, case_id, params_key
from harness.ceilings import Ceilings
from harness.op import Case, Op, Registry
from harness.timing import Timer, TimingConfig, measure

SLOWDOWN_ENV = "HARNESS_BENCH_SLOWDOWN"

NEEDS_GPU = (
    "benchmarks need a CUDA GPU: they time kernels on the device, and interpret mode runs "
    "them on the CPU through Triton's interpreter, whose times mean nothing"
)


# --- the slowdown knob -------------------------------------------------------------------


def parse_slowdown(text: str | None) -> dict[str, int]:
    """'softmax:3,vector_add:2' -> {'softmax': 3, 'vector_add': 2}; '' -> {}."""
    table: dict[str, int] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, factor = part.rpartition(":")
        try:
            n = int(factor)
        except ValueError:
            n = 0
        if not sep or not name.strip() or n < 1:
            raise ValueError(
                f"{SLOWDOWN_ENV}: {part!r} is not OP:N with N a whole number >= 1 "
                "(e.g. vector_add:3, or *:2 for every op)"
            )
        table[name.strip()] = n
    return table


def slowdown_for(op: str, table: Mapping[str, int]) -> int:
    return table.get(op, table.get("*", 1))


def repeated(fn: Callable[[], Any], n: int) -> Callable[[], Any]:
    """`fn` run `n` times per call (returns the last result)."""
    if n == 1:
        return fn

    def run() -> Any:
        out = None
        for _ in range(n):
            out = fn()
        return out

    return run


# --- what is benchmarked -----------------------------------------------------------------


@dataclass(frozen=True)
class BenchItem:
    """One (op, dtype, case) to time on the GPU, or why it is not timed."""

    op: Op
    dtype: str
    shape: tuple[int, ...]
    params: Mapping[str, Any]
    skip: str | None = None

    @property
    def id(self) -> str:
        if not self.shape and self.skip and not self.op.bench_cases:
            return f"{self.op.name}-no-bench-cases"
        return case_id(self.op.name, self.dtype, self.shape, self.params)

    @property
    def key(self) -> Key:
        """As `BenchResult.key`: how the item's result is matched with a baseline."""
        return (self.op.name, self.dtype, tuple(self.shape), params_key(self.params))


def bench_items(
    registry: Registry, names: Sequence[str] = (), dtypes: Sequence[str] = ()
) -> list[BenchItem]:
    """Every op (or those named) x its bench_dtypes (or those given) x its bench_cases.

    An op that declares no bench_cases, or a dtype the op does not run on the GPU, is
    listed with the reason it is skipped, so that nothing goes unbenchmarked silently.
    """
    items: list[BenchItem] = []
    for name in names or list(registry):
        op = registry[name]
        if not op.bench_cases:
            items.append(BenchItem(op, "", (), {}, skip=f"{op.name} declares no bench_cases"))
            continue
        for dtype in op.bench_dtypes:
            if dtypes and dtype not in dtypes:
                continue
            skip = None
            if not op.supports("gpu", dtype):
                skip = f"{op.name} does not support {dtype} on the GPU"
            elif (lim := op.limitation("gpu", dtype)) is not None:
                skip = f"{op.name}[{dtype}] has a GPU limitation: {lim.reason}"
            for shape, params in op.bench_cases:
                items.append(BenchItem(op, dtype, tuple(shape), dict(params), skip))
    return items


# --- measuring ---------------------------------------------------------------------------


def measure_case(
    item: BenchItem,
    timer: Timer,
    ceilings: Ceilings,
    config: TimingConfig = TimingConfig(),
    slowdown: Mapping[str, int] | None = None,
) -> BenchResult:
    """Time the Triton kernel and the PyTorch tier of one case, interleaved."""
    from harness.compare import build_inputs

    op = item.op
    case = Case(op.name, item.dtype, item.shape, dict(item.params))
    nbytes, nflops = float(op.bytes(case)), float(op.flops(case))
    # Ceilings first (cached after the first case), so they never share memory with inputs.
    copy_gbps = ceilings.copy_gbps() if nbytes > 0 else None
    size_copy_gbps = ceilings.copy_gbps_at(nbytes) if nbytes > 0 else None
    mm_tflops = ceilings.matmul_tflops(item.dtype) if nflops > 0 else None
    factor = slowdown_for(op.name, slowdown or {})
    inputs = build_inputs(op, case, timer.device)
    args, kwargs = inputs.args, dict(inputs.kwargs)
    tiers = {
        "kernel": repeated(lambda: op.kernel(*args, **kwargs), factor),
        "torch": lambda: op.torch_ref(*args, **kwargs),
    }
    samples = measure(tiers, timer, config)
    host = {name: timer.host_ms_per_call(fn) for name, fn in tiers.items()}
    return BenchResult(
        op=op.name,
        dtype=item.dtype,
        shape=item.shape,
        params=dict(item.params),
        kernel=TierTiming.from_samples(samples["kernel"], host["kernel"]),
        torch=TierTiming.from_samples(samples["torch"], host["torch"]),
        nbytes=nbytes,
        nflops=nflops,
        copy_gbps=copy_gbps,
        size_copy_gbps=size_copy_gbps,
        mm_tflops=mm_tflops,
        slowdown=factor,
        kernel_samples_ms=tuple(t for rep in samples["kernel"] for t in rep),
        torch_samples_ms=tuple(t for rep in samples["torch"] for t in rep),
    )


def progress_line(result: BenchResult) -> str:
    from harness.bench_report import fmt_host, fmt_pct, fmt_rate, fmt_time

    if not result.ok:
        return f"{result.id}: ERROR {result.error}"
    assert result.kernel and result.torch
    slow = f"  [slowed x{result.slowdown}]" if result.slowdown > 1 else ""
    return (
        f"{result.id}: triton {fmt_time(result.kernel.median_ms)} "
        f"±{fmt_pct(result.kernel.spread)}  torch {fmt_time(result.torch.median_ms)} "
        f"±{fmt_pct(result.torch.spread)}  speedup {result.speedup:.2f}x  "
        f"{fmt_rate(result)}  host/call {fmt_host(result)}{slow}"
    )


def run_bench(
    items: Sequence[BenchItem],
    timer: Timer,
    ceilings: Ceilings,
    config: TimingConfig = TimingConfig(),
    slowdown: Mapping[str, int] | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> list[BenchResult]:
    """Measure every item not skipped, reporting one line per case as it completes.

    A case that raises (a launch error, out of memory) is kept as an error row, so one
    bad case does not hide the others; the gate fails on it.
    """
    todo = [it for it in items if it.skip is None]
    for it in items:
        if it.skip is not None:
            progress(f"skip {it.id}: {it.skip}")
    results: list[BenchResult] = []
    width = len(str(len(todo)))
    for i, item in enumerate(todo, 1):
        start = time.perf_counter()
        try:
            result = measure_case(item, timer, ceilings, config, slowdown)
        except Exception as exc:  # keep going: report the error as a row
            result = BenchResult(
                item.op.name,
                item.dtype,
                item.shape,
                dict(item.params),
                error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
            )
            _free_memory()
        took = time.perf_counter() - start
        progress(f"[{i:>{width}}/{len(todo)}] {progress_line(result)}  ({took:.1f} s)")
        results.append(result)
    return results


def _device_spacer(nbytes: int) -> Any:
    """An allocation of nbytes on the GPU (None without one), to shift later allocations."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    except Exception:
        pass
    return None


def _free_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


_TIMER: Timer | None = None


def default_timer() -> Timer:
    """The process-wide CUDA-event timer (one flush buffer for the whole run)."""
    global _TIMER
    if _TIMER is None:
        from harness.timing import CudaEventTimer

        _TIMER = CudaEventTimer()
    return _TIMER


def _commit() -> dict[str, Any]:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return {"commit": sha, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def make_run(
    results: list[BenchResult],
    machine: dict[str, Any],
    ceilings: Ceilings,
    config: TimingConfig,
    slowdown: Mapping[str, int],
) -> BenchRun:
    return BenchRun(
        machine=machine,
        results=results,
        ceilings=ceilings.to_json(),
        config={**config.to_json(), "slowdown": dict(slowdown), **_commit()},
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


# --- the command -------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `bench` subcommand's options (harness.cli adds --ops and --mode)."""
    from harness.dtypes import FLOAT_DTYPES
    from harness.gate import DEFAULT_MAX_REGRESSION, DEFAULT_MAX_SPEEDUP_DROP

    p.add_argument(
        "--dtype",
        action="append",
        choices=FLOAT_DTYPES,
        help="dtype to time (repeatable). Default: each op's bench_dtypes",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=TimingConfig.repeats,
        help="independent repeats per measurement; their range is the spread. Default: %(default)s",
    )
    p.add_argument(
        "--rep-ms",
        type=float,
        default=TimingConfig.rep_ms,
        help="time budget of one repeat, ms (as do_bench's rep). Default: %(default)s",
    )
    p.add_argument(
        "--warmup-ms",
        type=float,
        default=TimingConfig.warmup_ms,
        help="warm-up per function, ms. Default: %(default)s",
    )
    p.add_argument(
        "--out",
        default="bench-out",
        help="folder for the run's JSON (bench.json) and PNGs. Default: %(default)s",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNGs")
    p.add_argument(
        "--from-json",
        metavar="RUN.json",
        help="do not measure: report (and gate, or save as baseline) a saved run; needs no GPU",
    )
    p.add_argument(
        "--save-baseline",
        action="store_true",
        help="save the run as this GPU model's baseline (merged into an existing one)",
    )
    p.add_argument(
        "--gate",
        action="store_true",
        help="compare with this GPU model's baseline; exit 1 on a regression, "
        "3 if the spread is too large to judge",
    )
    p.add_argument(
        "--confirm",
        type=int,
        default=CONFIRM,
        metavar="N",
        help="before the gate fails a case, re-measure it up to N more times with freshly "
        "built inputs and judge its fastest measurement (0: judge the first). "
        "Default: %(default)s",
    )
    p.add_argument(
        "--baseline",
        metavar="PATH",
        help="baseline file. Default: benchmarks/baselines/<gpu-slug>.json",
    )
    p.add_argument(
        "--max-regression",
        default=f"{DEFAULT_MAX_REGRESSION:.0%}",
        metavar="FRACTION",
        help="fail when a kernel's median grows by more than this (0.1 or 10%%; "
        "'off' to not judge it). Default: %(default)s",
    )
    p.add_argument(
        "--max-speedup-drop",
        default=f"{DEFAULT_MAX_SPEEDUP_DROP:.0%}",
        metavar="FRACTION",
        help="fail when a kernel's speedup over PyTorch drops by more than this. "
        "Default: %(default)s",
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _measure(
    args: argparse.Namespace, config: TimingConfig, slowdown: dict[str, int]
) -> tuple[BenchRun, tuple[list[BenchItem], Timer, Ceilings]]:
    from harness import ceilings as ceilings_mod
    from harness.cli import _load_registry
    from harness.machine import machine_info

    registry = _load_registry(args.ops)
    items = bench_items(registry, args.names, args.dtype or ())
    unknown = sorted(set(slowdown) - set(registry) - {"*"})
    if unknown:
        _say(f"warning: {SLOWDOWN_ENV} names unknown op(s): {', '.join(unknown)}")
    if slowdown:
        _say(f"*** {SLOWDOWN_ENV}={os.environ.get(SLOWDOWN_ENV)}: kernels deliberately slowed ***")
    machine = machine_info()
    timer = default_timer()
    ceil = ceilings_mod.shared(timer)
    _say(
        f"bench on {machine['gpu']} (driver {machine.get('gpu_driver')}, CUDA "
        f"{machine.get('cuda_runtime')}, torch {machine['torch']}, triton {machine['triton']}); "
        f"{sum(it.skip is None for it in items)} case(s), {config.repeats} repeats of "
        f"{config.rep_ms:g} ms per tier"
    )
    start = time.perf_counter()
    _say(f"ceiling: copy {ceil.copy_gbps():.0f} GB/s (1 GiB device-to-device, read + write)")
    for dtype in sorted({it.dtype for it in items if it.skip is None}):
        _say(f"ceiling: matmul {dtype} 8192^3 {ceil.matmul_tflops(dtype):.0f} TFLOP/s")
    results = run_bench(items, timer, ceil, config, slowdown, progress=_say)
    _say(f"measured in {time.perf_counter() - start:.0f} s")
    return make_run(results, machine, ceil, config, slowdown), (items, timer, ceil)


CONFIRM = 2
"""Re-measurements a failing case gets before the gate fails it (`--confirm`). Measured on
an H100: a 20 us kernel (layer_norm_backward float16 4096 x 1024) ran 18.5 us in one
process and 20.7 us in the next, both with a within-run spread under 1%, and PyTorch's
tier moved with it (+6%); in one process, re-building the inputs gave anything from 18.5
to 20.5 us. The state that decides it (where the buffers land, it seems) is fixed within
a measurement, so the spread cannot show it; a fresh measurement draws it again."""


def confirm_failures(
    run: BenchRun,
    failing: set[Key],
    items: Sequence[BenchItem],
    timer: Timer,
    ceilings: Ceilings,
    config: TimingConfig,
    slowdown: Mapping[str, int],
    attempts: int,
    progress: Callable[[str], None] = lambda line: None,
) -> BenchRun:
    """`run` with each case in `failing` measured `attempts` more times, keeping its
    fastest measurement (by the kernel's median). Every re-measurement builds the case's
    inputs anew. A real regression stays slow however often it is measured; a case that
    drew an unlucky state the first time does not."""
    todo = [it for it in items if it.skip is None and it.key in failing]
    best = {r.key: r for r in run.results if r.key in failing}
    for attempt in range(1, attempts + 1):
        # Held while this attempt runs: the inputs built next land elsewhere in memory
        # (the caching allocator would hand back the blocks just freed).
        spacer = _device_spacer(attempt * 3 << 20)  # noqa: F841
        for item in todo:
            result = measure_case(item, timer, ceilings, config, slowdown)
            kept = best[item.key]
            progress(f"re-measure {attempt}/{attempts} {progress_line(result)}")
            if result.ok and kept.kernel and result.kernel.median_ms < kept.kernel.median_ms:
                kept = result
            best[item.key] = dataclasses.replace(kept, measurements=kept.measurements + 1)
    results = [best.get(r.key, r) for r in run.results]
    return dataclasses.replace(run, results=results)


def main(args: argparse.Namespace) -> int:
    """Exit status: 0 ok (gate passed or skipped), 1 a regression or a failed case,
    2 unusable (no GPU, bad arguments), 3 the gate could not judge (spread too large)."""
    from harness import gate, modes
    from harness.bench_report import format_table, write_plots

    try:
        thresholds = gate.Thresholds(
            gate.parse_fraction(args.max_regression), gate.parse_fraction(args.max_speedup_drop)
        )
        slowdown = parse_slowdown(os.environ.get(SLOWDOWN_ENV))
        config = TimingConfig(repeats=args.repeats, warmup_ms=args.warmup_ms, rep_ms=args.rep_ms)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    measured = None  # what it takes to measure again: (items, timer, ceilings)
    if args.from_json:
        try:
            run = BenchRun.load(args.from_json).select(args.names, args.dtype or ())
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        if modes.activate(args.mode) != "gpu":
            print(
                "error: no GPU here (interpret mode), and `python -m harness bench` "
                f"measures nothing without one: {NEEDS_GPU}. Run it on a machine with CUDA "
                "(or re-report a saved run with --from-json RUN.json).",
                file=sys.stderr,
            )
            return 2
        if args.save_baseline and slowdown:
            print(
                f"error: {SLOWDOWN_ENV} is set: a deliberately slowed run cannot be saved "
                "as a baseline",
                file=sys.stderr,
            )
            return 2
        try:
            run, measured = _measure(args, config, slowdown)
        except KeyError as exc:  # an unknown op name
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        path = run.save(out / "bench.json")
        _say(f"wrote {path}")

    if args.save_baseline and any(r.slowdown > 1 for r in run.results):
        print(
            "error: this run was deliberately slowed; not saving it as a baseline", file=sys.stderr
        )
        return 2
    print(format_table(run), flush=True)
    if not args.no_plots:
        paths, note = write_plots(run, out)
        for p in paths:
            _say(f"wrote {p}")
        if note:
            _say(note)

    status = 1 if any(not r.ok for r in run.results) else 0
    if args.gate:
        baseline = Path(args.baseline) if args.baseline else gate.default_path(run.machine)
        try:
            report = gate.check(run, baseline, thresholds)
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the baseline {baseline}: {exc}", file=sys.stderr)
            return 2
        failing = {row.case.key for row in report.rows if row.verdict == gate.FAIL and row.case.ok}
        if failing and measured is not None and args.confirm > 0:
            _say(f"gate: {len(failing)} case(s) fail; re-measuring each {args.confirm} more times")
            run = confirm_failures(run, failing, *measured, config, slowdown, args.confirm, _say)
            run.save(out / "bench.json")
            report = gate.check(run, baseline, thresholds)
            report.notes.append(
                f"{len(failing)} failing case(s) re-measured {args.confirm} more times with "
                "fresh inputs; each is judged on its fastest measurement"
            )
        print(report.format(), flush=True)
        # a failure (1) outranks "could not judge" (3)
        status = 1 if 1 in (status, report.exit_status) else max(status, report.exit_status)
    if args.save_baseline:
        target = Path(args.baseline) if args.baseline else gate.default_path(run.machine)
        saved = gate.save_baseline(run, target)
        n_ok = sum(r.ok for r in run.results)
        _say(f"saved baseline for {run.gpu!r}: {saved} ({n_ok} case(s); failed ones not saved)")
    return status
