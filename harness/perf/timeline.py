"""Where a call's device time goes: each of its launches, and the gaps between them.

A benchmark times a call whole. A call of several launches (two stages of a reduction, a
copy before a GEMM, a zeroing before a kernel that counts) also spends the GPU's time
*between* them: a launch the GPU starts only once the one before it has ended waits
1-2 us on an H100. `python -m harness bench --timeline N` profiles N calls of each case's
Triton tier as the bench times them (an L2 flush, then a spin, then the call) and prints,
as medians over the calls, each kernel's device time, each gap before a kernel and the
call's span (first start to last end). ncu cannot say this: it replays each kernel
alone, caches flushed and clocks locked, so its durations do not add up to a call.

The timer collects the launches (`Timer.launches`: torch.profiler's kernel records on a
GPU); this module only reads them, so it runs on a CPU with made-up records too. A
case's timeline is saved in the run's bench.json and printed under the table, there and
again from the file (`--from-json`).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Launch:
    """One kernel's run on the device: its name and its start and end, in microseconds."""

    name: str
    start_us: float
    end_us: float


@dataclass(frozen=True)
class Timeline:
    """Medians over the calls that made the most common sequence of launches."""

    kernels: tuple[tuple[str, float], ...]
    """Each launch of a call, in order: the kernel's name and its median device time (us)."""
    gaps_us: tuple[float, ...]
    """The median time from each launch's end to the next one's start (us): negative
    where the next one started first (a launch made early, PDL)."""
    span_us: float
    """Median time from a call's first start to its last end (us)."""
    calls: int
    """Calls summarized."""
    other_calls: int = 0
    """Calls left out: they launched another sequence of kernels (a tuner's first calls)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kernels": [{"name": name, "median_us": us} for name, us in self.kernels],
            "gaps_us": list(self.gaps_us),
            "span_us": self.span_us,
            "calls": self.calls,
            "other_calls": self.other_calls,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Timeline:
        return cls(
            kernels=tuple((str(k["name"]), float(k["median_us"])) for k in d["kernels"]),
            gaps_us=tuple(float(g) for g in d["gaps_us"]),
            span_us=float(d["span_us"]),
            calls=int(d["calls"]),
            other_calls=int(d.get("other_calls", 0)),
        )

    def format(self, width: int = 40) -> str:
        """One line: each kernel's time, the gap before each after the first, the span."""
        parts = []
        for i, (name, us) in enumerate(self.kernels):
            if i:
                parts.append(f"gap {self.gaps_us[i - 1]:.1f}")
            short = name if len(name) <= width else name[: width - 3] + "..."
            parts.append(f"{short} {us:.1f}")
        left_out = f", {self.other_calls} other" if self.other_calls else ""
        return (
            f"launches (us, median of {self.calls} calls{left_out}): "
            + " | ".join(parts)
            + f" | span {self.span_us:.1f}"
        )


def summarize(calls: Sequence[Sequence[Launch]]) -> Timeline | None:
    """The timeline of `calls` (each call's launches, in any order): the calls that made
    the most common sequence of kernels, their medians. None if no call launched anything."""
    ordered = [sorted(call, key=lambda launch: launch.start_us) for call in calls if call]
    if not ordered:
        return None
    sequences = Counter(tuple(launch.name for launch in call) for call in ordered)
    common = sequences.most_common(1)[0][0]
    kept = [call for call in ordered if tuple(launch.name for launch in call) == common]

    def median(values: Sequence[float]) -> float:
        return float(statistics.median(values))

    kernels = tuple(
        (name, median([call[i].end_us - call[i].start_us for call in kept]))
        for i, name in enumerate(common)
    )
    gaps = tuple(
        median([call[i].start_us - call[i - 1].end_us for call in kept])
        for i in range(1, len(common))
    )
    span = median([max(launch.end_us for launch in call) - call[0].start_us for call in kept])
    return Timeline(kernels, gaps, span, len(kept), len(ordered) - len(kept))


def split_calls(
    launches: Sequence[Launch], is_marker: Callable[[str], bool], between: int = 0
) -> list[list[Launch]]:
    """`launches` (every device record made while calls were profiled) cut into calls: a
    call is what runs after a marker (`is_marker(name)`: the timer's spin, enqueued just
    before each call) and before the next marker, less the `between` records that run
    just before each marker (the timer's L2 flush for the next call). They are dropped by
    place, not by name: an op's own kernels may bear the flush's name."""
    calls: list[list[Launch]] = []
    current: list[Launch] | None = None
    for launch in sorted(launches, key=lambda launch: launch.start_us):
        if is_marker(launch.name):
            if current is not None:
                calls.append(current[: len(current) - between] if between else current)
            current = []
        elif current is not None:
            current.append(launch)
    if current is not None:
        calls.append(current)
    return calls
