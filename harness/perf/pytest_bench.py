"""The benchmark every registered op gets, under pytest-benchmark. Subclass `BenchTests`:

    class TestBenchmarks(BenchTests):
        ops = OPS

and `pytest tests/test_benchmarks.py -p no:xdist --triton-mode=gpu` times, for every op x
bench dtype x bench case, the Triton kernel and the PyTorch tier (`harness.perf.measure`).

Getting device time into pytest-benchmark. Its fixture reads a host timer before and
after the call it is given; around an asynchronous GPU launch that measures the launch.
So the measuring is done by `harness.perf.measure.measure_case` (CUDA events, L2 flushed;
see harness.perf.timing), after the case's outputs are checked at that size: a wrong
output fails the test with the reproducer, and is not timed. The samples are handed to
pytest-benchmark through its public `timer` option: each test carries
`@pytest.mark.benchmark(timer=DEVICE_CLOCK)`, and
`benchmark.pedantic(<no-op>, rounds=len(samples))` then reads DEVICE_CLOCK before and
after each round; the clock advances by exactly one measured device time per round. The
stats pytest-benchmark stores, prints and compares (`--benchmark-compare-fail=median:10%`)
are therefore device times of timed calls, in seconds.

Each case has two entries, `[<case>-triton]` and `[<case>-torch]`. The first of the pair
to run measures both tiers together (interleaved, exactly as `python -m harness bench`
does) and the second records the other tier's samples without measuring again, so the
speedup, GB/s, TFLOP/s and fractions of the ceilings in both entries' `extra_info` come
from one measurement.

Every item is skipped, with the reason, in interpret mode (no GPU: times would mean
nothing) and when pytest-benchmark is disabled (it turns itself off under xdist `-n`):
benchmarks run in their own job, without xdist; the correctness suite runs with it.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.op import Registry
from harness.perf.ceilings import Ceilings
from harness.perf.measure import NEEDS_GPU, BenchItem, Checker, bench_items, measure_case
from harness.perf.results import BenchResult
from harness.perf.timing import Timer
from harness.plugin import STATE

HAVE_PYTEST_BENCHMARK = importlib.util.find_spec("pytest_benchmark") is not None

INTERPRET_REASON = f"interpret mode: {NEEDS_GPU}"
DISABLED_REASON = (
    "pytest-benchmark is disabled in this run (it turns itself off under xdist -n, and "
    "with --benchmark-disable): run the benchmarks in their own job, e.g. "
    "`pytest tests/test_benchmarks.py -p no:xdist --triton-mode=gpu`"
)


class ReplayClock:
    """A pytest-benchmark timer that replays device times measured elsewhere.

    pytest-benchmark calls its timer twice per round, before and after the target; this
    clock returns the same reading for the first call and advances it by the next loaded
    sample for the second, so each round's duration is exactly one sample.
    """

    __name__ = "device_time"  # what pytest-benchmark records as options.timer

    def __init__(self) -> None:
        self._pending: deque[float] = deque()
        self._now = 0.0
        self._in_round = False

    def load(self, seconds: Sequence[float]) -> None:
        if self._pending:
            raise RuntimeError("ReplayClock: the previous samples were not all consumed")
        self._pending.extend(float(s) for s in seconds)
        self._in_round = False

    def reset(self) -> int:
        """Drop what is left; returns how many samples were not consumed."""
        left = len(self._pending)
        self._pending.clear()
        self._in_round = False
        return left

    def __call__(self) -> float:
        if self._in_round:
            if not self._pending:
                raise RuntimeError("ReplayClock: read more often than samples were loaded")
            self._now += self._pending.popleft()
        self._in_round = not self._in_round
        return self._now


DEVICE_CLOCK = ReplayClock()


def _noop() -> None:
    return None


def record_device_samples(
    benchmark: Any,
    samples_s: Sequence[float],
    extra_info: Mapping[str, Any] | None = None,
    group: str | None = None,
    clock: ReplayClock = DEVICE_CLOCK,
) -> None:
    """Make `samples_s` (device seconds) the stats of this pytest-benchmark fixture.

    The test must carry `pytest.mark.benchmark(timer=clock)` (BenchTests' items do).
    """
    if not samples_s:
        raise ValueError("no samples to record")
    if getattr(benchmark, "disabled", False):  # xdist, --benchmark-disable: nothing is kept
        return
    timer = getattr(benchmark, "_timer", clock)  # the fixture's timer, where we can see it
    if timer is not clock:
        raise RuntimeError(
            "record_device_samples: the benchmark fixture does not use the replay clock; "
            "mark the test with @pytest.mark.benchmark(timer=DEVICE_CLOCK)"
        )
    if group is not None:
        benchmark.group = group
    benchmark.extra_info.update(extra_info or {})
    clock.load(samples_s)
    try:
        benchmark.pedantic(_noop, rounds=len(samples_s), iterations=1, warmup_rounds=0)
    finally:
        left = clock.reset()
    if left:
        raise RuntimeError(
            f"pytest-benchmark ran {len(samples_s) - left} of {len(samples_s)} rounds"
        )


TIERS = ("triton", "torch")


def bench_params(registry: Registry, mode: str) -> list[Any]:
    """pytest params (item, tier) for every `bench_items` entry and both tiers, skipped
    with the reason where needed. The two tiers of a case are adjacent: the first one run
    measures both, interleaved, and the second records the other tier's samples."""
    params = []
    for item in bench_items(registry):
        marks: list[Any] = []
        reason = INTERPRET_REASON if mode != "gpu" else item.skip
        if reason:
            marks.append(pytest.mark.skip(reason=reason))
        if HAVE_PYTEST_BENCHMARK:
            marks.append(pytest.mark.benchmark(timer=DEVICE_CLOCK, group=item.op.name))
        if item.skip and not item.shape:  # an op without bench cases: one item says so
            params.append(pytest.param(item, "-", id=item.id, marks=marks))
            continue
        for tier in TIERS:
            params.append(pytest.param(item, tier, id=f"{item.id}-{tier}", marks=marks))
    return params


@dataclass
class BenchSession:
    """What a session's benchmarks measure with: one timer, one set of ceilings (each
    measured once), the output check, and the cases measured for one tier's test that
    wait for the other tier's."""

    timer: Timer
    ceilings: Ceilings
    check: Checker | None = None
    measured: dict[str, BenchResult] = field(default_factory=dict)


def bench_session(mode: str, ops_module: str) -> BenchSession:
    """The real one: CUDA events, ceilings measured on this GPU, outputs checked in `mode`."""
    from harness.perf.ceilings import MeasuredCeilings
    from harness.perf.measure import output_checker
    from harness.perf.timing import CudaEventTimer

    timer = CudaEventTimer()
    return BenchSession(timer, MeasuredCeilings(timer), output_checker(mode, "cuda", ops_module))


def run_item(item: BenchItem, tier: str, benchmark: Any, session: BenchSession) -> BenchResult:
    """Record one tier of one case in `benchmark` (the body of the benchmark test).

    Both tiers are measured together (interleaved, so the speedup compares like with
    like); the result waits for the other tier's test, which records it without
    measuring again. A case whose outputs are wrong (or that fails to run) fails.
    """
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, got {tier!r}")
    result = session.measured.pop(item.id, None)
    if result is None:
        result = measure_case(item, session.timer, session.ceilings, check=session.check)
        if result.ok:
            session.measured[item.id] = result
    if not result.ok:
        pytest.fail(f"{item.id}: {result.error}", pytrace=False)
    samples = result.kernel_samples_ms if tier == "triton" else result.torch_samples_ms
    info = {"tier": tier, **{k: v for k, v in result.summary().items() if k != "op"}}
    info["timing"] = "device time: CUDA events, L2 flushed (harness.perf.timing); stats in seconds"
    record_device_samples(benchmark, [t * 1e-3 for t in samples], info, group=item.op.name)
    return result


class BenchTests:
    """One benchmark test per (op, bench dtype, bench case) of `ops`."""

    ops: Registry

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "bench_item" in metafunc.fixturenames:
            mode = metafunc.config.stash[STATE].mode
            metafunc.parametrize(("bench_item", "bench_tier"), bench_params(self.ops, mode))

    @pytest.fixture(scope="class")
    def bench_session(self, request: pytest.FixtureRequest) -> BenchSession:
        """One timer and one set of ceilings for this class's benchmarks (requested only
        once a test runs on the GPU)."""
        return bench_session(request.config.stash[STATE].mode, self.ops.module)

    def test_benchmark(
        self,
        bench_item: BenchItem,
        bench_tier: str,
        benchmark: Any,
        harness_state: Any,
        request: pytest.FixtureRequest,
    ) -> None:
        """Device time of one tier (Triton kernel or PyTorch) of one case, its outputs
        checked first; the speedup and throughput, from both tiers measured together,
        in extra_info."""
        if harness_state.mode != "gpu":
            pytest.skip(INTERPRET_REASON)
        if getattr(benchmark, "disabled", False):
            pytest.skip(DISABLED_REASON)
        run_item(bench_item, bench_tier, benchmark, request.getfixturevalue("bench_session"))
