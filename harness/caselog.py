"""A line per case: what a long run checked, and where its time went.

A night run's test is hundreds of cases in one Hypothesis loop: cut by a time limit, or
slow, it says nothing of how far it got or why. With `HARNESS_CASE_LOG=path` set, every
case appends one JSON line to `path` when it ends (every xdist worker to the same file,
one write a line):

    {"op": "matmul.grad", "dtype": "float16", "mode": "gpu", "shard": "9/16",
     "worker": "gw3", "case": {...the reproducer's JSON...}, "ok": true,
     "seconds": {"inputs": 0.4, "oracle": 21.3, "torch": 0.2, "kernel": 9.8,
                 "judging": 0.6}}

`seconds` is `CaseResult.seconds` (on a GPU a tier's time runs to its synchronize: the
first call of a shape compiles and tunes there); a case that raised has "error" (the
exception's type) and no phases. `python -m harness cases path` sums the log by test
(`summarize`): cases, failures, seconds, each phase's share, and the slowest cases.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from harness import crashes
from harness.op import Case

ENV = "HARNESS_CASE_LOG"

PHASES = ("inputs", "oracle", "torch", "kernel", "interpreted", "judging")


def record(
    case: Case,
    mode: str,
    shard: tuple[int, int] | None,
    ok: bool,
    seconds: dict[str, float] | None = None,
    error: BaseException | None = None,
) -> None:
    """Append `case`'s line to $HARNESS_CASE_LOG, if set (module docstring)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line: dict[str, Any] = {
        "op": case.op,
        "dtype": case.dtype,
        "mode": mode,
        "shard": f"{shard[0] + 1}/{shard[1]}" if shard else None,
        "worker": crashes.worker_name(),
        "case": json.loads(case.to_json()),
        "ok": ok,
        "seconds": {name: round(s, 4) for name, s in (seconds or {}).items()},
    }
    if error is not None:
        line["error"] = type(error).__name__
    with open(path, "a") as log:
        log.write(json.dumps(line) + "\n")  # one write: lines of workers do not interleave


def read(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The log's records; a line cut short (a run killed while writing it) is skipped."""
    records = []
    for text in lines:
        try:
            records.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return records


def _test(record: dict[str, Any]) -> str:
    shard = f" shard {record['shard']}" if record.get("shard") else ""
    return f"{record['op']}[{record['dtype']}] {record['mode']}{shard}"


def summarize(records: list[dict[str, Any]], slowest: int = 5) -> str:
    """Per test (op, dtype, mode, shard) in the order of first appearance: cases, failed,
    total and largest seconds, and each phase's share of the total (the phases the log
    has); then the `slowest` cases of the whole log with their phases."""
    tests: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        tests[_test(r)].append(r)
    width = max([len(t) for t in tests] + [4])
    seen = {name for r in records for name in r["seconds"]}
    phases = [p for p in PHASES if p in seen] + sorted(seen - set(PHASES))  # "raised"
    header = f"{'test':<{width}}  cases  failed  seconds  largest  " + "  ".join(
        f"{p:>7}" for p in phases
    )
    rows = [header]
    for test, rs in tests.items():
        totals = [sum(r["seconds"].values()) for r in rs]
        total = sum(totals)
        shares = []
        for phase in phases:
            spent = sum(r["seconds"].get(phase, 0.0) for r in rs)
            cell = f"{100 * spent / total:.0f}%" if total > 0 else "-"
            shares.append(f"{cell:>{max(7, len(phase))}}")
        failed = sum(not r["ok"] for r in rs)
        rows.append(
            f"{test:<{width}}  {len(rs):5d}  {failed:6d}  {total:7.1f}  {max(totals):7.1f}  "
            + "  ".join(shares)
        )
    ranked = sorted(records, key=lambda r: -sum(r["seconds"].values()))[:slowest]
    if ranked:
        rows.append(f"\nslowest {len(ranked)} cases:")
    for r in ranked:
        spent = ", ".join(f"{p} {s:.1f}" for p, s in r["seconds"].items())
        case = r["case"]
        rows.append(
            f"  {sum(r['seconds'].values()):7.1f} s  {_test(r)} shape={tuple(case['shape'])} "
            f"seed={case['seed']}: {spent}" + (f" ({r['error']})" if "error" in r else "")
        )
    return "\n".join(rows)
