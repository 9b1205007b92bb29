"""Room on CPython's frame stack, so that a deep call never sits on the edge of a chunk.

CPython keeps the frames of Python calls on a per-thread stack of 16 KiB chunks, and frees
a chunk as soon as the first frame in it returns (python/cpython#142183: fixed in 2026 by
caching one chunk, in CPython's main branch and 3.13's; CI's 3.11 has it). Code whose
depth goes up and down across a chunk's edge, as Triton's interpreter does evaluating a
kernel op by op, maps and unmaps a chunk at every crossing, and where a test's first frame
lies decides whether it does: on this repository's 2-core CI machine (Python 3.11.7),
`test_differential[layer_norm.grad-bfloat16]` took 7.8 s in a plain pytest process and
25.8 s in a pytest-xdist worker, on the same examples, the worker's time in mmap, munmap
and page faults (perf).

`with_headroom(fn, *args, **kwargs)` calls fn from a frame that reserves 1 MiB of the
stack and never uses it: CPython gives that frame a chunk of its own, 2 MiB, and fn's
frames fill the other half, thousands of them, without reaching an edge. The harness's
pytest plugin runs every test function so (`harness.plugin.pytest_pyfunc_call`): that
test took 10.0 s in the worker then, and the whole suite 179 s instead of 241 (`pytest -n
auto`, CI's profile, the same machine). So do the engine, each tier of a case
(`harness.compare.run_case`, for `python -m harness check` too), the launchers, each
launch they hand to the interpreter (`kernels._launch`), and the host timings
(`harness.perf.timing`).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

RESERVED_SLOTS = 1 << 17
"""What the calling frame reserves, in 8-byte slots: 1 MiB."""


def _call(fn: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> T:
    return fn(*args, **kwargs)


# A frame's size is its code's locals plus its evaluation stack (co_stacksize), which
# CPython allocates whole and trusts: a larger one is room unused, never read. (Other
# Pythons keep their frames their own way: a plain call there.)
if sys.implementation.name == "cpython":
    _code = _call.__code__
    _call.__code__ = _code.replace(co_stacksize=_code.co_stacksize + RESERVED_SLOTS)


def with_headroom(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), its frames in a fresh 1 MiB of CPython's frame stack."""
    return _call(fn, args, kwargs)


def at_depth(depth: int, fn: Callable[[], T]) -> T:
    """fn(), called `depth` frames below this call: where a measurement stands on the
    stack (`benchmarks/host_cost.py --depths`, `benchmarks/interpret_depths.py`)."""
    return at_depth(depth - 1, fn) if depth else fn()


SLOW_DEPTH = 1.2
"""A depth is slow where its time exceeds the sweep's median by this factor."""


@dataclass(frozen=True)
class DepthSweep:
    """One measurement at call depths in a row (`sweep_depths`)."""

    depths: list[int]
    times: list[float]

    @property
    def typical(self) -> float:
        return statistics.median(self.times)

    @property
    def slow(self) -> int:
        return sum(t > SLOW_DEPTH * self.typical for t in self.times)

    def summary(self, unit: str) -> str:
        worst = max(self.times)
        return (
            f"{self.typical:.1f} {unit} at most depths; {self.slow} of {len(self.times)} "
            f"depths over {SLOW_DEPTH} times that, the worst {worst:.1f} {unit} "
            f"(depth {self.depths[self.times.index(worst)]})"
        )


def sweep_depths(
    timed: Callable[[], float], depths: int, step: int = 1, repeats: int = 3
) -> DepthSweep:
    """timed() at `depths` call depths `step` frames apart, the best of `repeats` at each:
    how many depths put a call across a chunk's edge, and what that costs it."""
    at = list(range(0, depths * step, step))
    return DepthSweep(at, [min(at_depth(d, timed) for _ in range(repeats)) for d in at])
