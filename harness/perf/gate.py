"""The regression gate: a run against the stored baseline of the same GPU model.

Baselines live in `benchmarks/baselines/<gpu-slug>.json` (a saved `BenchRun`), one file
per GPU model: a run on another card finds no file, or a file naming another GPU, says so
and skips the gate rather than comparing numbers across cards.

Each case present in both runs is judged on two figures:
  * the kernel's median time: its change is median_now / median_base - 1;
  * the speedup over PyTorch measured in the same run: its change is
    1 - speedup_now / speedup_base. Both tiers ran side by side, so this ratio survives
    a noisy machine, different clocks, another host. Judged only where both runs timed
    the same PyTorch call (`BenchResult.torch_tier`: the op's `torch_bench` or its
    `torch_ref`); a case whose call changed is judged on its median, and says why.
A figure's noise is the mean of the two runs' spreads (the range of each one's repeat
medians over their median, see harness.perf.results): the half-ranges of the two
measurements, added. Against its threshold:
  * change > threshold + noise: FAIL. The change is past the threshold whatever the
    noise, so a 2x slowdown fails however noisy the measurement;
  * threshold < change <= threshold + noise: INCONCLUSIVE, the change cannot be told
    from the threshold;
  * change <= threshold: PASS.
The threshold itself covers what a within-run spread cannot show: how much the same code
moves from one process to the next (benchmarks/README.md has the measured figures).

Verdicts per case: FAIL (a judged figure regressed past its threshold and noise, or the
case failed to run or gave wrong outputs), INCONCLUSIVE, PASS, NEW (no baseline for it).
When it measures (not from a saved run), `python -m harness bench --gate` measures a
failing case `--confirm` more times before failing it, with fresh inputs, and judges its
measurements pooled: every repeat median of every measurement, summarised by their median
as a single measurement is (the baseline's estimator), their spread now spanning the
measurements (`harness.perf.measure.pooled`). Exit status: 1 if any FAIL, else 3 if any
INCONCLUSIVE, else 0 (also when the gate is skipped).

Choosing thresholds: run the same code twice on the GPU and gate one run against the
other (`--from-json run2.json --gate --baseline run1.json`): the summary prints the
largest run-to-run change and the largest spread; set the thresholds comfortably above
both (benchmarks/README.md records the measured numbers).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.perf.machine import gpu_slug
from harness.perf.report import fmt_pct, fmt_time, render
from harness.perf.results import BenchResult, BenchRun

DEFAULT_MAX_REGRESSION = 0.10
DEFAULT_MAX_SPEEDUP_DROP = 0.10
BASELINE_DIR = Path("benchmarks") / "baselines"

PASS, FAIL, INCONCLUSIVE, NEW = "PASS", "FAIL", "INCONCLUSIVE", "NEW"
INCOMPLETE = "INCOMPLETE"
"""The gate's verdict on a run that stopped before it measured every case (interrupted),
where no case it measured failed: it cannot pass what it did not measure."""


def parse_fraction(text: str | float | None) -> float | None:
    """'10%' or '0.1' -> 0.1; 'off' / 'none' -> None (that figure is not judged)."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = text.strip().lower()
        if s in ("off", "none", ""):
            return None
        try:
            value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
        except ValueError:
            raise ValueError(
                f"threshold {text!r}: expected a fraction (0.1), a percentage (10%) or 'off'"
            ) from None
        if not s.endswith("%") and value >= 1:
            raise ValueError(
                f"threshold {text!r} looks like a percentage: write {text}% or {value / 100:g}"
            )
    if not (0 < value < 10) or math.isnan(value):
        raise ValueError(f"threshold {text!r} must be > 0")
    return value


@dataclass(frozen=True)
class Thresholds:
    max_regression: float | None = DEFAULT_MAX_REGRESSION
    max_speedup_drop: float | None = DEFAULT_MAX_SPEEDUP_DROP

    def describe(self) -> str:
        def f(x: float | None) -> str:
            return "off" if x is None else f"{x:.0%}"

        return f"median +{f(self.max_regression)}, speedup -{f(self.max_speedup_drop)}"


def default_path(machine: dict[str, Any], folder: Path = BASELINE_DIR) -> Path:
    return folder / f"{gpu_slug(machine.get('gpu'))}.json"


def save_baseline(run: BenchRun, path: str | Path) -> Path:
    """Write `run` as the baseline at `path`; cases of an existing baseline of the same
    GPU that this run did not measure are kept (re-baseline one op at a time)."""
    path = Path(path)
    results = [r for r in run.results if r.ok]
    if path.exists():
        old = BenchRun.load(path)
        if old.gpu == run.gpu:
            fresh = {r.key for r in results}
            results = [r for r in old.results if r.key not in fresh] + results
    merged = BenchRun(run.machine, results, run.ceilings, run.config, run.created)
    return merged.save(path)


@dataclass(frozen=True)
class Row:
    """The verdict on one case, and why."""

    case: BenchResult
    base: BenchResult | None
    verdict: str
    why: str
    median_change: float | None = None
    speedup_change: float | None = None


def _judge(change: float, noise: float, limit: float | None, what: str) -> tuple[str, str]:
    """A figure's verdict (see the module docstring): `change` > 0 is the worse way."""
    if limit is None or change <= limit:
        return PASS, ""
    sign = "+" if what == "median" else "-"
    against = f"threshold {limit:.0%} + noise {fmt_pct(noise)}"
    if change > limit + noise:
        return FAIL, f"{what} {sign}{fmt_pct(change)} > {against}"
    return INCONCLUSIVE, f"{what} {sign}{fmt_pct(change)}: within {against}"


def judge(now: BenchResult, base: BenchResult | None, th: Thresholds) -> Row:
    """The verdict on one case (see the module docstring)."""
    if not now.ok:
        return Row(now, base, FAIL, f"the case failed to run: {now.error}")
    if base is None or not base.ok:
        return Row(now, base, NEW, "no baseline for this case")
    assert now.kernel and base.kernel and now.speedup and base.speedup
    dm = now.kernel.median_ms / base.kernel.median_ms - 1
    verdicts = [
        _judge(dm, (now.kernel.spread + base.kernel.spread) / 2, th.max_regression, "median")
    ]
    ds: float | None = None
    note = ""
    if now.torch_tier == base.torch_tier:
        ds = 1 - now.speedup / base.speedup
        verdicts.append(
            _judge(
                ds,
                ((now.speedup_spread or 0) + (base.speedup_spread or 0)) / 2,
                th.max_speedup_drop,
                "speedup",
            )
        )
    else:  # two PyTorch calls: their speedups are not one figure (re-baseline the op)
        note = f"speedup not judged: PyTorch timed {base.torch_tier}, now {now.torch_tier}"
    for verdict in (FAIL, INCONCLUSIVE):
        reasons = [why for v, why in verdicts if v == verdict]
        if reasons:
            return Row(now, base, verdict, "; ".join(filter(None, [*reasons, note])), dm, ds)
    return Row(now, base, PASS, note, dm, ds)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    skipped: str | None = None
    """Why the gate did not run (no baseline for this GPU, another GPU's baseline)."""
    baseline_path: Path | None = None
    not_run: list[BenchResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmeasured: list[str] = field(default_factory=list)
    """The cases an interrupted run was asked for and did not measure."""

    def count(self, verdict: str) -> int:
        return sum(r.verdict == verdict for r in self.rows)

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "SKIPPED"
        for v in (FAIL, INCONCLUSIVE):
            if self.count(v):
                return v
        return INCOMPLETE if self.unmeasured else PASS

    @property
    def exit_status(self) -> int:
        return {FAIL: 1, INCONCLUSIVE: 3, INCOMPLETE: 4}.get(self.verdict, 0)

    def calibration(self) -> list[str]:
        """What sets the thresholds: run-to-run changes and within-run spreads seen."""
        judged = [r for r in self.rows if r.median_change is not None]
        if not judged:
            return []

        def worst(values: Sequence[tuple[float, Row]]) -> str:
            v, row = max(values, key=lambda t: t[0])
            return f"{fmt_pct(v)} ({row.case.id})"

        dm = [(abs(r.median_change or 0.0), r) for r in judged]
        ds = [(abs(r.speedup_change), r) for r in judged if r.speedup_change is not None]
        spreads = [
            (max(r.case.kernel.spread, r.base.kernel.spread), r)  # type: ignore[union-attr]
            for r in judged
        ]
        sp_spreads = [
            (max(r.case.speedup_spread or 0, r.base.speedup_spread or 0), r)  # type: ignore[union-attr]
            for r in judged
        ]
        speedups = (
            f"max {worst(ds)}, median {fmt_pct(statistics.median(v for v, _ in ds))}"
            if ds
            else "none judged"
        )
        return [
            f"run-to-run |change| of the median: max {worst(dm)}, "
            f"median {fmt_pct(statistics.median(v for v, _ in dm))}",
            f"run-to-run |change| of the speedup: {speedups}",
            f"within-run spread of the median: max {worst(spreads)}; "
            f"of the speedup: max {worst(sp_spreads)}",
        ]

    def format(self) -> str:
        where = f" against {self.baseline_path}" if self.baseline_path else ""
        lines = ["", f"== regression gate{where} (thresholds: {self.thresholds.describe()}) =="]
        lines += [f"note: {n}" for n in self.notes]
        if self.skipped:
            lines.append(f"GATE SKIPPED: {self.skipped}")
            return "\n".join(lines)
        cols = ("verdict", "op", "case", "base", "now", "median", "speedup base->now", "why")
        table = []
        for r in self.rows:
            base_k = r.base.kernel if r.base and r.base.ok else None
            now_k = r.case.kernel if r.case.ok else None
            sp = "-"
            if r.base and r.base.speedup and r.case.speedup:
                sp = f"{r.base.speedup:.2f}x -> {r.case.speedup:.2f}x"
            table.append(
                (
                    r.verdict,
                    r.case.op,
                    r.case.id.removeprefix(r.case.op + "-"),
                    fmt_time(base_k.median_ms if base_k else None),
                    fmt_time(now_k.median_ms if now_k else None),
                    "-" if r.median_change is None else f"{r.median_change * 100:+.1f}%",
                    sp,
                    r.why,
                )
            )
        lines.append(render(cols, table))
        for c in self.not_run:
            lines.append(f"(not run this time: {c.id})")
        if self.unmeasured:
            lines.append(
                f"INCOMPLETE: the run was interrupted before it measured {len(self.unmeasured)}"
                f" of its cases: {', '.join(self.unmeasured)}"
            )
        lines += self.calibration()
        counts = ", ".join(f"{self.count(v)} {v}" for v in (PASS, FAIL, INCONCLUSIVE, NEW))
        lines.append(f"gate: {counts} -> {self.verdict} (exit {self.exit_status})")
        if self.verdict == INCONCLUSIVE:
            lines.append(
                "INCONCLUSIVE: some change is past its threshold but within the noise of "
                "it; re-run on a quieter machine, raise --repeats / --rep-ms or --confirm "
                "(see benchmarks/README.md)"
            )
        return "\n".join(lines)


def compare(run: BenchRun, baseline: BenchRun, thresholds: Thresholds = Thresholds()) -> Report:
    """Judge every case of `run` against `baseline` (same GPU model required)."""
    report = Report(thresholds=thresholds)
    if baseline.gpu != run.gpu:
        report.skipped = (
            f"the baseline was measured on {baseline.gpu!r} and this run is on {run.gpu!r}; "
            "a different card never compares against another's numbers"
        )
        return report
    base = baseline.by_key()
    measured = {r.key for r in run.results}
    report.rows = [judge(r, base.get(r.key), thresholds) for r in run.results]
    ops = {r.op for r in run.results}
    report.not_run = [b for k, b in base.items() if k not in measured and b.op in ops]
    report.unmeasured = list(run.config.get("unmeasured") or ())
    if run.config.get("checked") is False:
        report.notes.append("this run's outputs were not checked (--no-check)")
    if run.config.get("ops", "ops") != baseline.config.get("ops", "ops"):
        report.notes.append(
            f"this run's ops come from {run.config.get('ops')!r}, the baseline's from "
            f"{baseline.config.get('ops', 'ops')!r}"
        )
    for k in ("torch", "triton", "gpu_driver", "cuda_runtime"):
        if run.machine.get(k) != baseline.machine.get(k):
            report.notes.append(
                f"{k} differs from the baseline's: {baseline.machine.get(k)} -> "
                f"{run.machine.get(k)} (the speedup check is the robust one)"
            )
    return report


def check(run: BenchRun, baseline_path: str | Path, thresholds: Thresholds) -> Report:
    """`compare` against the baseline file, or a skipped report when there is none."""
    path = Path(baseline_path)
    if not path.exists():
        return Report(
            thresholds=thresholds,
            baseline_path=path,
            skipped=f"no baseline for GPU {run.gpu!r} (looked for {path}); measure one "
            "with `python -m harness bench --save-baseline` on this GPU model",
        )
    report = compare(run, BenchRun.load(path), thresholds)
    report.baseline_path = path
    return report
