"""`python -m harness bench`: check and time every op's Triton kernel against its PyTorch
tier on the GPU; the table, the plots, the baseline and the gate.

For each op, bench dtype and bench case: the outputs are checked once at that size
(`harness.perf.measure`), then both tiers are timed side by side (`harness.perf.timing`),
reported against the card's ceilings measured in the same run (`harness.perf.ceilings`).
The run is printed as a table, saved as JSON, drawn as PNGs (`harness.perf.report`), and
optionally saved as the GPU model's baseline or judged against it (`harness.perf.gate`).
The JSON is saved after every case: a run stopped by an interrupt or a time limit
(SIGINT, SIGTERM) keeps, prints and gates the cases it measured, and names the others.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.op import Case, Op
from harness.perf import gate
from harness.perf.ceilings import Ceilings, MeasuredCeilings
from harness.perf.measure import (
    CONFIRM,
    NEEDS_GPU,
    BenchItem,
    Checker,
    Interrupted,
    PassedChecks,
    bench_items,
    check_in_parallel,
    output_checker,
    remeasure,
    run_bench,
)
from harness.perf.results import BenchResult, BenchRun, Key, params_key
from harness.perf.timing import Timer, TimingConfig

CHECK_WORKERS = max(1, min(8, (os.cpu_count() or 2) // 2))
"""Half the host's cores, at most 8: each check holds a case's float64 copies (several
GB at 2**28 elements) in host memory while it runs."""


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
    ops_module: str = "ops",
    code: dict[str, Any] | None = None,
) -> BenchRun:
    return BenchRun(
        machine=machine,
        results=results,
        ceilings=ceilings.to_json(),
        config={**config.to_json(), "ops": ops_module, **(code or _commit())},
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `bench` subcommand's options (harness.cli adds the op names, --ops and --mode)."""
    from harness.dtypes import FLOAT_DTYPES

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
        "--timeline",
        type=int,
        default=0,
        metavar="N",
        help="also profile N calls of each case's Triton tier and print its launches: each "
        "kernel's device time, the gaps between them, the call's span (harness.perf.timeline)."
        " Default: 0 (off)",
    )
    p.add_argument(
        "--out",
        default="bench-out",
        help="folder for the run's JSON (bench.json) and PNGs. Default: %(default)s",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNGs")
    p.add_argument(
        "--no-check",
        action="store_true",
        help="time without checking the outputs first (a tuning loop): the run is marked "
        "unchecked, the gate says so, and it cannot be saved as a baseline",
    )
    p.add_argument(
        "--recheck",
        action="store_true",
        help="check every case's outputs, also those that passed before for this commit on "
        "this machine (see harness.perf.measure.PassedChecks)",
    )
    p.add_argument(
        "--check-workers",
        type=int,
        default=CHECK_WORKERS,
        metavar="N",
        help="processes that check the outputs at the benchmark sizes before anything is "
        "timed (0: check each case in this process, just before timing it). "
        "Default: %(default)s",
    )
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
        "3 if a change is within the noise of its threshold",
    )
    p.add_argument(
        "--confirm",
        type=int,
        default=CONFIRM,
        metavar="N",
        help="before the gate fails a case, measure it N more times with freshly built "
        "inputs and judge all its measurements pooled (0: judge the first). "
        "Default: %(default)s",
    )
    p.add_argument(
        "--baseline",
        metavar="PATH",
        help="baseline file. Default: benchmarks/baselines/<gpu-slug>.json",
    )
    p.add_argument(
        "--max-regression",
        default=f"{gate.DEFAULT_MAX_REGRESSION:.0%}",
        metavar="FRACTION",
        help="fail when a kernel's median grows by more than this plus the noise (0.1 or "
        "10%%; 'off' to not judge it). Default: %(default)s",
    )
    p.add_argument(
        "--max-speedup-drop",
        default=f"{gate.DEFAULT_MAX_SPEEDUP_DROP:.0%}",
        metavar="FRACTION",
        help="fail when a kernel's speedup over PyTorch drops by more than this plus the "
        "noise. Default: %(default)s",
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Instruments:
    """What a run measures with: one timer, the ceilings it measures, and the machine."""

    timer: Timer
    ceilings: Ceilings
    machine: dict[str, Any]


def gpu_instruments() -> Instruments:
    """The real ones: CUDA events, ceilings measured on this GPU, its description."""
    from harness.perf.machine import machine_info
    from harness.perf.timing import CudaEventTimer

    timer = CudaEventTimer()
    return Instruments(timer, MeasuredCeilings(timer), machine_info())


class _Measurer:
    """One command's measuring: its items, instruments, timing and output check."""

    def __init__(
        self, args: argparse.Namespace, config: TimingConfig, mode: str, tools: Instruments
    ):
        from harness.op import load_registry

        self.ops_module = args.ops
        self.items: list[BenchItem] = bench_items(
            load_registry(args.ops), args.names, args.dtype or ()
        )
        self.config = config
        self.tools = tools
        self.mode = mode
        self.check_workers = args.check_workers
        self.timeline_calls = args.timeline
        self.checked = not args.no_check
        self.recheck = args.recheck

    def run(self, path: Path) -> BenchRun:
        """Check and measure every case, saving the run at `path` after each: a run
        stopped by an interrupt (Ctrl-C, a time limit's SIGINT or SIGTERM) keeps what it
        measured, its config naming the cases it did not (`unmeasured`)."""
        machine, ceilings = self.tools.machine, self.tools.ceilings
        todo = [it for it in self.items if it.skip is None]
        _say(
            f"bench on {machine.get('gpu')} (driver {machine.get('gpu_driver')}, CUDA "
            f"{machine.get('cuda_runtime')}, torch {machine.get('torch')}, triton "
            f"{machine.get('triton')}); {len(todo)} case(s), each checked once, then "
            f"{self.config.repeats} repeats of {self.config.rep_ms:g} ms per tier"
        )
        start = time.perf_counter()
        code = _commit()
        passed = PassedChecks.for_run(machine, code, self.ops_module)

        def as_run(results: list[BenchResult]) -> BenchRun:
            run = make_run(results, machine, ceilings, self.config, self.ops_module, code)
            run.config["checked"] = self.checked
            done = {r.key for r in results}
            unmeasured = [it.id for it in todo if it.key not in done]
            if unmeasured:
                run.config["unmeasured"] = unmeasured
            return run

        try:
            with _sigterm_interrupts():
                check = self._checker(passed)
                _say(f"ceiling: copy {ceilings.copy_gbps():.0f} GB/s (1 GiB device to device, "
                     "both ways)")  # fmt: skip
                for dtype in sorted({it.dtype for it in todo}):
                    in_tf32 = " (in TF32)" if dtype == "float32" else ""
                    _say(f"ceiling: matmul {dtype}{in_tf32} 8192^3 "
                         f"{ceilings.matmul_tflops(dtype):.0f} TFLOP/s")  # fmt: skip
                results = run_bench(
                    self.items, self.tools.timer, ceilings, self.config, check, progress=_say,
                    timeline_calls=self.timeline_calls,
                    on_result=lambda so_far: as_run(so_far).save(path),
                )  # fmt: skip
        except KeyboardInterrupt:  # before the first case: checking, or the ceilings
            results = []
        except Interrupted as stop:
            results = stop.results
        _say(f"measured in {time.perf_counter() - start:.0f} s")
        run = as_run(results)
        if self.checked:
            passed.remember(results)
        run.save(path)
        return run

    def _checker(self, passed: PassedChecks) -> Checker | None:
        """The output check of this run: none with --no-check; else every case not
        already passed for this code on this machine (`PassedChecks`), in a pool of
        processes or (--check-workers 0) in this one."""
        device = self.tools.timer.device
        if not self.checked:
            _say("outputs NOT checked (--no-check): this run cannot be a baseline")
            return None
        todo = [it for it in self.items if self.recheck or not passed.passed(it)]
        reused = {it.key for it in self.items if it not in todo}
        if reused:
            _say(
                f"{len(reused)} case(s) passed their output check before, for this commit on "
                f"this machine ({passed.path}); not checked again (--recheck to)"
            )
        if self.check_workers > 0:
            fresh = check_in_parallel(
                todo, self.mode, device, self.ops_module, self.check_workers, _say
            )
        else:
            fresh = output_checker(self.mode, device, self.ops_module)

        def check(op: Op, case: Case) -> str | None:
            key = (op.name, case.dtype, tuple(case.shape), params_key(case.params))
            return None if key in reused else fresh(op, case)

        return check

    def confirm(self, run: BenchRun, failing: set[Key], attempts: int) -> BenchRun:
        results = remeasure(
            run.results, failing, self.items, self.tools.timer, self.tools.ceilings,
            self.config, attempts, _say,
        )  # fmt: skip
        return BenchRun(run.machine, results, run.ceilings, run.config, run.created)


def main(args: argparse.Namespace, instruments: Callable[[], Instruments] = gpu_instruments) -> int:
    """Exit status: 0 ok (gate passed or skipped), 1 a regression or a failed case
    (wrong outputs, an error), 2 unusable (no GPU, bad arguments), 3 the gate could not
    judge (a change within the noise of its threshold), 4 the gate found no regression in
    a run that did not measure every case (one interrupted, re-reported with --from-json),
    130 the run was interrupted (what it measured is saved, reported and gated)."""
    from harness import modes
    from harness.perf.report import format_table, write_plots

    try:
        thresholds = gate.Thresholds(
            gate.parse_fraction(args.max_regression), gate.parse_fraction(args.max_speedup_drop)
        )
        config = TimingConfig(repeats=args.repeats, warmup_ms=args.warmup_ms, rep_ms=args.rep_ms)
        if args.timeline < 0:
            raise ValueError(f"--timeline must be >= 0 calls, got {args.timeline}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.no_check and args.save_baseline:
        print("error: --no-check: a run whose outputs were not checked is no baseline",
              file=sys.stderr)  # fmt: skip
        return 2
    out = Path(args.out)
    measurer = None
    if args.from_json:
        try:
            run = BenchRun.load(args.from_json).select(args.names, args.dtype or ())
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        mode = modes.activate(args.mode)
        if mode != "gpu":
            print(
                "error: no GPU here (interpret mode), and `python -m harness bench` "
                f"measures nothing without one: {NEEDS_GPU}. Run it on a machine with CUDA "
                "(or re-report a saved run with --from-json RUN.json).",
                file=sys.stderr,
            )
            return 2
        try:
            measurer = _Measurer(args, config, mode, instruments())
        except (KeyError, LookupError) as exc:  # an unknown op, a module without a registry
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        path = out / "bench.json"
        run = measurer.run(path)
        _say(f"wrote {path}")
        if run.config.get("unmeasured"):
            _say(f"INTERRUPTED: {len(run.results)} case(s) measured, {path} holds them; "
                 f"{len(run.config['unmeasured'])} not measured")  # fmt: skip

    print(format_table(run), flush=True)
    if not args.no_plots:
        paths, note = write_plots(run, out)
        for p in paths:
            _say(f"wrote {p}")
        if note:
            _say(note)

    status = 1 if any(not r.ok for r in run.results) else 0
    interrupted = measurer is not None and bool(run.config.get("unmeasured"))
    if args.gate:
        baseline = Path(args.baseline) if args.baseline else gate.default_path(run.machine)
        try:
            report = gate.check(run, baseline, thresholds)
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the baseline {baseline}: {exc}", file=sys.stderr)
            return 2
        failing = {row.case.key for row in report.rows if row.verdict == gate.FAIL and row.case.ok}
        if failing and interrupted:  # stopped: no time to spend re-measuring
            report.notes.append(f"{len(failing)} failing case(s) judged on one measurement: "
                                "the run was interrupted")  # fmt: skip
        elif failing and measurer is not None and args.confirm > 0:
            _say(f"gate: {len(failing)} case(s) fail; measuring each {args.confirm} more times")
            run = measurer.confirm(run, failing, args.confirm)
            run.save(out / "bench.json")
            report = gate.check(run, baseline, thresholds)
            report.notes.append(
                f"{len(failing)} failing case(s) measured {args.confirm} more times with fresh "
                "inputs; each is judged on all its measurements pooled (the median of every "
                "repeat, the baseline's estimator; the spread across measurements)"
            )
        print(report.format(), flush=True)
        # a failure (1) outranks "could not judge" (3)
        status = 1 if 1 in (status, report.exit_status) else max(status, report.exit_status)
    if args.save_baseline and run.config.get("checked") is False:
        print("error: this run's outputs were not checked; not saving it as a baseline",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.save_baseline:
        target = Path(args.baseline) if args.baseline else gate.default_path(run.machine)
        saved = gate.save_baseline(run, target)
        n_ok = sum(r.ok for r in run.results)
        _say(f"saved baseline for {run.gpu!r}: {saved} ({n_ok} case(s); failed ones not saved)")
    return INTERRUPTED if interrupted else status


INTERRUPTED = 130
"""The exit status of a run stopped by an interrupt (128 + SIGINT, as a shell's): what
it measured is saved, reported, gated, and saved as a baseline if asked."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (how many CI runners end a job past its time) raised as KeyboardInterrupt,
    as SIGINT is, while the run measures: the cases measured so far are kept."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals stay as they are
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
