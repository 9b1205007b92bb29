"""The benchmark run for people: one table, and PNG pictures per op and of the whole run.

The table has a row per (op, shape, dtype): Triton and PyTorch device times (median of
the repeat medians), the speedup (PyTorch / Triton), the kernel's throughput in the unit
of its binding ceiling (GB/s when memory-bound, TFLOP/s when compute-bound) and the
fraction of that ceiling, the larger of the two tiers' spreads, and what one call costs
the host (CPU time to return, Triton / PyTorch): device time hides it, a launch-bound
loop does not.

The pictures, written to the output folder:
  * `<op>.png`, as `triton.testing.perf_report` draws it: speed against size, one line
    per provider (Triton solid, PyTorch dashed), the copy ceiling dotted.
  * `<op>-roofline.png`, for an op whose cases declare both bytes and FLOPs: achieved
    TFLOP/s against arithmetic intensity (FLOPs per byte), both log scale, Triton filled
    and PyTorch hollow, under the roof min(copy bandwidth x intensity, matmul rate): how
    far each tier is from what the machine allows.
  * `summary.png`: every case's speedup (PyTorch time / Triton time) as a bar from 1x,
    grouped by op: the whole run at a glance.
A dtype has one colour in every picture; error rows are in none. matplotlib is optional:
without it the plots are skipped with a note, never an error.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.perf.results import TORCH_REF, BenchResult, BenchRun

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def fmt_time(ms: float | None) -> str:
    if ms is None or math.isnan(ms):
        return "-"
    if ms < 1.0:
        return f"{ms * 1e3:.1f} us"
    if ms < 1000.0:
        return f"{ms:.3f} ms"
    return f"{ms / 1e3:.2f} s"


def fmt_pct(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x * 100:.1f}%"


def fmt_rate(r: BenchResult) -> str:
    """The kernel's throughput in its binding unit, and the fraction of that ceiling."""
    bound, frac = r.roofline()
    if bound == "compute" and r.tflops is not None:
        rate = f"{r.tflops:.1f} TFLOP/s"
    elif r.gbps is not None:
        rate = f"{r.gbps:.0f} GB/s"
    elif r.tflops is not None:
        rate = f"{r.tflops:.1f} TFLOP/s"
    else:
        return "-"
    if frac is None:
        return rate
    if bound == "compute":
        return f"{rate} ({frac * 100:.0f}% of matmul)"
    at_size = r.size_copy_fraction
    same = f", {at_size * 100:.0f}% of same-size copy" if at_size is not None else ""
    return f"{rate} ({frac * 100:.0f}% of copy{same})"


def fmt_host(r: BenchResult) -> str:
    """Host cost per call, Triton / PyTorch, in us ("-" when not measured)."""
    k = r.kernel.host_ms if r.kernel else None
    t = r.torch.host_ms if r.torch else None
    if k is None or t is None:
        return "-"
    return f"{k * 1e3:.0f} / {t * 1e3:.0f} us"


def _shape(r: BenchResult) -> str:
    dims = "x".join(str(d) for d in r.shape) or "()"
    extra = " ".join(f"{k}={v}" for k, v in sorted(r.params.items()))
    return f"{dims} {extra}".strip()


def _header(run: BenchRun) -> str:
    m, c = run.machine, run.ceilings
    lines = [
        f"GPU {m.get('gpu')} | driver {m.get('gpu_driver')} | CUDA {m.get('cuda_runtime')} "
        f"| torch {m.get('torch')} | triton {m.get('triton')}"
    ]
    parts = []
    if c.get("copy_gbps"):
        parts.append(f"copy {c['copy_gbps']:.0f} GB/s")
    for dtype, tf in sorted((c.get("matmul_tflops") or {}).items()):
        parts.append(f"matmul {dtype} {tf:.0f} TFLOP/s")
    if parts:
        lines.append("ceilings (measured this run): " + ", ".join(parts))
    cfg = run.config
    if cfg:
        lines.append(
            f"timing: {cfg.get('method', 'device time')}; {cfg.get('repeats')} repeats "
            f"of {cfg.get('rep_ms')} ms; time = median of repeat medians; "
            "spread = (max - min) / median of the repeat medians"
        )
    return "\n".join(lines)


COLUMNS = (
    "op",
    "shape",
    "dtype",
    "triton",
    "pytorch",
    "speedup",
    "throughput (% of ceiling)",
    "spread",
    "host/call",
)


def table_rows(run: BenchRun) -> list[tuple[str, ...]]:
    rows = []
    for r in run.results:
        if not r.ok:
            rows.append((r.op, _shape(r), r.dtype, "ERROR", "-", "-", r.error or "", "-", "-"))
            continue
        assert r.kernel and r.torch
        rows.append(
            (
                r.op,
                _shape(r),
                r.dtype,
                fmt_time(r.kernel.median_ms),
                fmt_time(r.torch.median_ms),
                f"{r.speedup:.2f}x",
                fmt_rate(r),
                fmt_pct(max(r.kernel.spread, r.torch.spread)),
                fmt_host(r),
            )
        )
    return rows


def render(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A plain left-aligned text table."""
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
    out = [line, "-" * len(line)]
    out += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(out)


def _torch_calls(run: BenchRun) -> str:
    """Which PyTorch call each op's pytorch column timed, where it is not the op's
    torch_ref (`Op.torch_bench`)."""
    calls = {r.op: r.torch_tier for r in run.results if r.ok and r.torch_tier != TORCH_REF}
    if not calls:
        return ""
    named = "; ".join(f"{op}: {tier.removeprefix('torch_bench ')}" for op, tier in calls.items())
    return f"\npytorch column, where not the op's torch_ref: {named}"


def format_table(run: BenchRun) -> str:
    """The run's table; under it, each profiled case's launches (`bench --timeline`)."""
    if not run.results:
        return _header(run) + "\n(no cases measured)"
    table = _header(run) + "\n\n" + render(COLUMNS, table_rows(run)) + _torch_calls(run)
    timelines = [f"{r.id}\n    {r.timeline.format()}" for r in run.results if r.timeline]
    if not timelines:
        return table
    return table + "\n\nlaunches of the Triton tier:\n" + "\n".join(timelines)


# --- plots -------------------------------------------------------------------------------

MATPLOTLIB_MISSING = (
    "plots skipped: matplotlib is not installed here (pip install matplotlib); "
    "the table and bench.json hold every number"
)


def _metric(results: list[BenchResult]) -> tuple[str, str]:
    """The op's y axis: GB/s unless every case is compute-bound (then TFLOP/s)."""
    bounds = {r.bound for r in results}
    if bounds == {"compute"}:
        return "tflops", "TFLOP/s"
    if any(r.gbps is not None for r in results):
        return "gbps", "GB/s"
    if any(r.tflops is not None for r in results):
        return "tflops", "TFLOP/s"
    return "time", "time (ms, lower is better)"


def _y(r: BenchResult, metric: str, tier: str) -> float:
    if metric == "time":
        timing = r.kernel if tier == "kernel" else r.torch
        return timing.median_ms if timing else math.nan
    name = metric if tier == "kernel" else f"torch_{metric}"
    value = getattr(r, name)
    return math.nan if value is None else value


COLORS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")


def _colors(results: list[BenchResult]) -> dict[str, str]:
    """A colour per dtype over the whole run, so a dtype looks the same in every picture."""
    dtypes = dict.fromkeys(r.dtype for r in results)
    return {d: COLORS[i % len(COLORS)] for i, d in enumerate(dtypes)}


def _filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png"


def _gpu(run: BenchRun) -> str:
    return run.gpu or "unknown GPU"


def _copy_gbps(run: BenchRun, results: list[BenchResult]) -> float | None:
    """The copy ceiling: the run's, else the one its cases carry (older runs)."""
    return run.ceilings.get("copy_gbps") or next(
        (r.copy_gbps for r in results if r.copy_gbps), None
    )


def _matmul_tflops(run: BenchRun, results: list[BenchResult], dtype: str) -> float | None:
    """The matmul ceiling in `dtype`: the cases' own first, as the table's fraction uses."""
    own = next((r.mm_tflops for r in results if r.dtype == dtype and r.mm_tflops), None)
    return own or (run.ceilings.get("matmul_tflops") or {}).get(dtype)


def _plot_speed(
    fig: Figure, run: BenchRun, op: str, results: list[BenchResult], colors: dict[str, str]
) -> None:
    """Speed against size, one line per provider, as `triton.testing.perf_report`."""
    metric, label = _metric(results)
    order = list(dict.fromkeys(_shape(r) for r in results))  # declared case order
    numel = {_shape(r): math.prod(r.shape) for r in results}
    by_size = len(set(numel.values())) == len(order) and all(v > 0 for v in numel.values())
    ax = fig.subplots()
    for dtype in dict.fromkeys(r.dtype for r in results):
        rows = sorted(
            (r for r in results if r.dtype == dtype), key=lambda r: order.index(_shape(r))
        )
        xs = [numel[_shape(r)] if by_size else order.index(_shape(r)) for r in rows]
        color = colors[dtype]
        ax.plot(
            xs, [_y(r, metric, "kernel") for r in rows], "-o", color=color, label=f"Triton {dtype}"
        )
        ax.plot(
            xs,
            [_y(r, metric, "torch") for r in rows],
            "--s",
            color=color,
            alpha=0.8,
            label=f"PyTorch {dtype}",
        )
    copy = _copy_gbps(run, results)
    if metric == "gbps" and copy:
        ax.axhline(copy, ls=":", color="gray", label=f"copy ceiling {copy:.0f} GB/s")
    if by_size:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("elements")
    else:
        ax.set_xticks(range(len(order)), order, rotation=20, ha="right", fontsize=8)
        ax.set_xlabel("case")
    ax.set_ylabel(label)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{op} on {_gpu(run)}", fontsize=10)
    ax.legend(fontsize=8)


def _roofline_cases(results: list[BenchResult]) -> list[BenchResult]:
    """The cases a roofline can place: both counts declared, both tiers timed."""
    return [
        r
        for r in results
        if r.ok and r.nbytes > 0 and r.tflops is not None and r.torch_tflops is not None
    ]


# Hollow and larger: a PyTorch ring stays visible around a Triton dot on the same spot.
TRITON_MARK: dict[str, Any] = {"marker": "o", "ms": 5, "ls": "none"}
TORCH_MARK: dict[str, Any] = {"marker": "o", "ms": 10, "mfc": "none", "mew": 1.5, "ls": "none"}


def _plain_log_ticks(axis: Any, lo: float, hi: float) -> None:
    """Plain numbers (0.05, 20) on a log axis, with 2 and 5 between the powers of ten
    when it spans few decades: the default labels minor ticks in overlapping 10^x."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    subs = (1.0, 2.0, 5.0) if math.log10(hi / lo) < 3 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _plot_roofline(
    fig: Figure, run: BenchRun, op: str, results: list[BenchResult], colors: dict[str, str]
) -> None:
    """Achieved TFLOP/s against FLOPs per byte, under the roof min(copy x intensity, matmul)."""
    ax = fig.subplots()
    intensity = [r.nflops / r.nbytes for r in results]
    lo, hi = min(intensity), max(intensity)
    dtypes = list(dict.fromkeys(r.dtype for r in results))
    copy = _copy_gbps(run, results)
    flats: dict[float, list[str]] = defaultdict(list)  # dtypes with one matmul rate share a line
    for dtype in dtypes:
        mm = _matmul_tflops(run, results, dtype)
        if mm:
            flats[mm].append(dtype)
    if copy:
        # A ridge near the cases is worth the room; a far one squeezes them into a corner.
        ridges = [mm * 1e3 / copy for mm in flats]
        lo = min([lo, *(x for x in ridges if x >= lo / 20)])
        hi = max([hi, *(x for x in ridges if x <= hi * 20)])
    lo, hi = lo / 4, hi * 4
    for dtype in dtypes:
        rows = [r for r in results if r.dtype == dtype]
        xs = [r.nflops / r.nbytes for r in rows]
        ax.plot(xs, [r.torch_tflops for r in rows], color=colors[dtype], **TORCH_MARK)
        ax.plot(xs, [r.tflops for r in rows], color=colors[dtype], **TRITON_MARK)
    if copy:
        knee = min(hi, max(flats, default=math.inf) * 1e3 / copy)
        xs_copy = [lo, knee]
        ys_copy = [copy * x / 1e3 for x in xs_copy]
        ax.plot(xs_copy, ys_copy, ":", color="gray", lw=1.5, label=f"copy {copy:.0f} GB/s")
    for mm, names in flats.items():
        start = max(lo, mm * 1e3 / copy) if copy else lo
        if start < hi:
            color = colors[names[0]] if len(names) == 1 else "gray"
            label = f"matmul {', '.join(names)} {mm:.0f} TFLOP/s"
            ax.plot([start, hi], [mm, mm], ":", color=color, lw=1.5, label=label)
    # The legend in two parts: marker = tier, colour = dtype.
    ax.plot([], [], color="black", label="Triton", **TRITON_MARK)
    ax.plot([], [], color="black", label="PyTorch", **TORCH_MARK)
    for dtype in dtypes:
        ax.plot([], [], "s", color=colors[dtype], label=dtype)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    _plain_log_ticks(ax.xaxis, lo, hi)
    _plain_log_ticks(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.grid(True, which="both", alpha=0.2)
    ax.set_title(f"{op} roofline on {_gpu(run)}", fontsize=10)
    ax.legend(fontsize=7, loc="best")


def _summary_rows(by_op: dict[str, list[BenchResult]]) -> list[tuple[str, BenchResult | None]]:
    """Top to bottom: a header row per op, then its cases with a finite speedup."""
    rows: list[tuple[str, BenchResult | None]] = []
    for op, results in by_op.items():
        cases = [r for r in results if r.speedup is not None and 0 < r.speedup < math.inf]
        if cases:
            rows.append((op, None))
            rows += [(r.id.removeprefix(f"{op}-"), r) for r in cases]
    return rows


def _plot_summary(
    fig: Figure, run: BenchRun, rows: list[tuple[str, BenchResult | None]], colors: dict[str, str]
) -> None:
    """Every case's speedup as a bar from 1x: right of the line Triton is faster."""
    ax = fig.subplots()
    speedup = {i: r.speedup for i, (_, r) in enumerate(rows) if r is not None}
    # Symmetric in log space, so faster and slower look equally far from 1x.
    reach = max([2.0, *(max(s, 1 / s) for s in speedup.values())]) * 1.3
    for dtype, color in colors.items():
        mine = [(i, s) for i, s in speedup.items() if rows[i][1].dtype == dtype]
        if not mine:
            continue
        ys, ss = zip(*mine, strict=True)
        ax.barh(ys, [s - 1 for s in ss], left=1, height=0.7, color=color, label=dtype)
        for y, s in mine:
            text = f" {s:.2f}x " if s < 10 else f" {s:.0f}x "
            ax.text(s, y, text, va="center", ha="left" if s >= 1 else "right", fontsize=6)
    ax.axvline(1.0, color="black", lw=0.8)
    for i, (_, r) in enumerate(rows):
        if r is None and i > 0:
            ax.axhline(i - 0.5, color="gray", lw=0.5, alpha=0.5)
    ax.set_xscale("log")
    ax.set_xlim(1 / reach, reach)
    # Ticks at powers of two read as "2x faster"; at most about nine of them.
    top = int(math.log2(reach))
    step = max(1, math.ceil(top / 4))
    ticks = [2.0**k for k in range(-top, top + 1) if k % step == 0]
    ax.set_xticks(ticks, [f"{t:g}x" if t >= 0.125 else f"1/{1 / t:g}x" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=7)
    for tick, (_, r) in zip(ax.get_yticklabels(), rows, strict=True):
        if r is None:
            tick.set_fontweight("bold")
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first case on top
    ax.set_xlabel("speedup = PyTorch time / Triton time (> 1: Triton faster)")
    ax.grid(True, axis="x", alpha=0.3)
    errors = sum(not r.ok for r in run.results)
    left_out = f"; {errors} error case(s) left out" if errors else ""
    cases = f"{len(speedup)} case{'' if len(speedup) == 1 else 's'}"
    ax.set_title(f"Triton vs PyTorch on {_gpu(run)}: {cases}{left_out}", fontsize=10)
    ax.legend(fontsize=7, loc="best")


def write_plots(run: BenchRun, folder: str | Path) -> tuple[list[Path], str | None]:
    """Per op `<op>.png` and `<op>-roofline.png` (when its cases declare bytes and FLOPs),
    and `summary.png` over all ops, in `folder`; returns (paths written, a note or None)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return [], MATPLOTLIB_MISSING
    by_op: dict[str, list[BenchResult]] = defaultdict(list)
    for r in run.results:
        if r.ok:
            by_op[r.op].append(r)
    if not by_op:
        return [], "plots skipped: no case was measured"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    colors = _colors([r for results in by_op.values() for r in results])
    paths: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        path = folder / _filename(name)
        fig.savefig(path, dpi=110)
        paths.append(path)

    for op, results in by_op.items():
        fig = Figure(figsize=(7.5, 4.8), layout="constrained")
        _plot_speed(fig, run, op, results, colors)
        save(fig, op)
        placed = _roofline_cases(results)
        if placed:
            fig = Figure(figsize=(7.5, 4.8), layout="constrained")
            _plot_roofline(fig, run, op, placed, colors)
            save(fig, f"{op}-roofline")
    rows = _summary_rows(by_op)
    if rows:
        fig = Figure(figsize=(8.0, 1.4 + 0.17 * len(rows)), layout="constrained")
        _plot_summary(fig, run, rows, colors)
        save(fig, "summary")
    return paths, None
