"""The benchmark run for people: one table, and one PNG per op.

The table has a row per (op, shape, dtype): Triton and PyTorch device times (median of
the repeat medians), the speedup (PyTorch / Triton), the kernel's throughput in the unit
of its binding ceiling (GB/s when memory-bound, TFLOP/s when compute-bound) and the
fraction of that ceiling, the larger of the two tiers' spreads, and what one call costs
the host (CPU time to return, Triton / PyTorch): device time hides it, a launch-bound
loop does not.

The plots follow `triton.testing.perf_report`: speed against size, one line per
provider (Triton solid, PyTorch dashed, a colour per dtype), the copy ceiling dotted.
matplotlib is optional: without it the plots are skipped with a note, never an error.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

from harness.perf.results import BenchResult, BenchRun


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


def format_table(run: BenchRun) -> str:
    if not run.results:
        return _header(run) + "\n(no cases measured)"
    return _header(run) + "\n\n" + render(COLUMNS, table_rows(run))


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


def write_plots(run: BenchRun, folder: str | Path) -> tuple[list[Path], str | None]:
    """One PNG per op in `folder`; returns (paths written, a note or None)."""
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
    paths = []
    for op, results in by_op.items():
        metric, label = _metric(results)
        order = list(dict.fromkeys(_shape(r) for r in results))  # declared case order
        numel = {_shape(r): math.prod(r.shape) for r in results}
        by_size = len(set(numel.values())) == len(order) and all(v > 0 for v in numel.values())
        fig = Figure(figsize=(7.5, 4.8), layout="constrained")
        ax = fig.subplots()
        colors = ["C0", "C1", "C2", "C3", "C4", "C5"]
        dtypes = list(dict.fromkeys(r.dtype for r in results))
        for i, dtype in enumerate(dtypes):
            rows = sorted(
                (r for r in results if r.dtype == dtype), key=lambda r: order.index(_shape(r))
            )
            xs = [numel[_shape(r)] if by_size else order.index(_shape(r)) for r in rows]
            color = colors[i % len(colors)]
            ax.plot(
                xs,
                [_y(r, metric, "kernel") for r in rows],
                "-o",
                color=color,
                label=f"Triton {dtype}",
            )
            ax.plot(
                xs,
                [_y(r, metric, "torch") for r in rows],
                "--s",
                color=color,
                alpha=0.8,
                label=f"PyTorch {dtype}",
            )
        copy = run.ceilings.get("copy_gbps")
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
        ax.set_title(f"{op} on {run.gpu or 'unknown GPU'}", fontsize=10)
        ax.legend(fontsize=8)
        path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', op)}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths, None
