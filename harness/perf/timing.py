"""Device time of a call: CUDA events around it, the L2 cache flushed before it.

The method is `triton.testing.do_bench`'s, made repeatable and shared by the command
line and the pytest benchmarks:

  * A host clock around an asynchronous launch measures the launch, not the kernel, so
    each timed call is bracketed by two CUDA events recorded on the stream, and the
    time is `start.elapsed_time(end)`: GPU time between the two, in milliseconds.
  * Before every timed call a 256 MiB buffer is zeroed on the same stream. That evicts
    the inputs from the L2 cache (50 MiB on an H100), so a call does not find its inputs
    left in cache by the previous one. The zeroing is enqueued *before* the start event:
    it is not timed. A spin kernel (`torch.cuda._sleep`, SPIN_MS long) follows it, also
    before the start event: while the GPU flushes and spins, the host enqueues the start
    event and launches the call, so a launcher whose Python costs more than the flush
    (measured on an H100: 60 to 170 us for our launchers with Triton 3.6, against 80 us
    of flush) still leaves no launch gap inside the timed interval. The loop only
    synchronizes after the last call, so the host keeps running ahead of the GPU.
  * A measurement warms each function up first (the first call compiles and autotunes),
    estimates the cost of one call, then times as many calls as fit a time budget
    (`rep_ms`, like do_bench's `rep`), R times over (`repeats`), alternating which tier
    goes first so that slow drifts (clocks, temperature) hit both tiers alike.

The host's side is measured too (`host_ms_per_call`): what one call costs the CPU, in
Python, argument checks, allocations and launches, before it returns. Device time hides
it (the spin above exists so that it does), but a launcher that costs 100 us of host
time runs no faster than that when its kernels are short, in a training step or an
inference loop that the GPU could otherwise keep up with.

`Timer` is the only GPU-facing piece; tests substitute a fake one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness import stack
from harness.perf.timeline import Launch, split_calls

FLUSH_BYTES = 256 * 1024 * 1024
"""What do_bench zeroes to flush the L2 cache (Triton 3.6 and 3.9 alike)."""

SPIN_MS = 0.3
"""GPU time spent spinning before each timed call, to hide the host's launch cost."""

METHOD = "cuda-events; 256 MiB L2 flush and a 0.3 ms spin before each call; median of each repeat"

HOST_CALLS = 20
"""Calls per batch when measuring the host cost of a call; HOST_BATCHES batches."""
HOST_BATCHES = 5


class Timer(Protocol):
    """Times calls on a device; `device` is where the op's inputs are built."""

    device: str

    def time_calls(self, fn: Callable[[], Any], n: int) -> list[float]:
        """Device milliseconds of each of `n` calls of `fn`, each after an L2 flush."""
        ...

    def call_overhead_ms(self) -> float:
        """Device time spent per timed call outside the call itself (the flush)."""
        ...

    def host_ms_per_call(self, fn: Callable[[], Any]) -> float:
        """Host (CPU) milliseconds one call of `fn` takes to return."""
        ...

    def launches(self, fn: Callable[[], Any], n: int) -> list[list[Launch]]:
        """Each of `n` calls of `fn`, made as `time_calls` makes them: its device records
        (kernels, memsets) in order (`harness.perf.timeline`)."""
        ...

    def synchronize(self) -> None: ...


class CudaEventTimer:
    """The real timer: CUDA events on the current stream (see the module docstring)."""

    device = "cuda"

    def __init__(self, flush_bytes: int = FLUSH_BYTES, spin_ms: float = SPIN_MS):
        self.flush_bytes = flush_bytes
        self.spin_ms = spin_ms
        self._cache: Any = None
        self._overhead: float | None = None
        self._spin_cycles: int | None = None

    def _spin(self) -> None:
        """Keep the GPU busy for about spin_ms, so the host can launch ahead of it."""
        import torch

        if self.spin_ms <= 0:
            return
        if self._spin_cycles is None:  # calibrate: cycles per ms of this GPU's clock
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda._sleep(1_000_000)  # warm the clock up
            start.record()
            torch.cuda._sleep(1_000_000)
            end.record()
            end.synchronize()
            self._spin_cycles = int(1_000_000 * self.spin_ms / start.elapsed_time(end))
        torch.cuda._sleep(self._spin_cycles)

    def _flush_buffer(self) -> Any:
        import torch

        if self._cache is None:
            self._cache = torch.empty(self.flush_bytes // 4, dtype=torch.int32, device="cuda")
        return self._cache

    def time_calls(self, fn: Callable[[], Any], n: int) -> list[float]:
        import torch

        cache = self._flush_buffer()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
        for start, end in zip(starts, ends, strict=True):
            cache.zero_()  # enqueued before the start event: evicts L2, not timed
            self._spin()  # GPU busy while the host launches fn: no launch gap is timed
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        return [s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)]

    def call_overhead_ms(self) -> float:
        if self._overhead is None:
            cache = self._flush_buffer()
            flush = statistics.median(self.time_calls(cache.zero_, 5))
            self._overhead = flush + self.spin_ms  # outside each timed call: flush, then spin
        return self._overhead

    def host_ms_per_call(self, fn: Callable[[], Any], headroom: bool = True) -> float:
        """The median over HOST_BATCHES batches of the wall time per call of HOST_CALLS
        back-to-back calls, the GPU idle at the start of each batch. Launches are
        asynchronous: a call returns once its kernels are queued, and 20 calls never
        fill the launch queue, so the wall time is the host's cost alone. (A launcher
        that synchronizes shows up here with its kernels' device time added.) The calls
        are made with headroom on CPython's frame stack (`harness.stack`): at a few call
        depths in a hundred, a Python launcher's frames cross a chunk's edge and each
        call maps and unmaps one, which says where the caller stands, not what a call
        costs (`benchmarks/host_cost.py --depths` shows it, calling with `headroom`
        off)."""
        import time

        import torch

        def batches() -> list[float]:
            per_call = []
            for _ in range(HOST_BATCHES):
                torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(HOST_CALLS):
                    fn()
                per_call.append((time.perf_counter() - start) * 1e3 / HOST_CALLS)
            return per_call

        per_call = stack.with_headroom(batches) if headroom else batches()
        torch.cuda.synchronize()
        return float(statistics.median(per_call))

    def launches(self, fn: Callable[[], Any], n: int) -> list[list[Launch]]:
        """torch.profiler's device records of `n` calls, each after the flush and the
        spin that `time_calls` puts before a call; cut into calls at the spins, the
        flush's records (counted by profiling one flush alone) dropped by place."""
        import torch
        from torch.profiler import ProfilerActivity, profile

        cache = self._flush_buffer()

        def records(work: Callable[[], None]) -> list[Launch]:
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                work()
                torch.cuda.synchronize()
            return [
                Launch(e.name, e.time_range.start, e.time_range.end)
                for e in prof.events()
                if e.device_type.name == "CUDA"
            ]

        def calls() -> None:
            for _ in range(n):
                cache.zero_()
                self._spin()
                fn()

        fn()  # compiled and tuned before the profile
        self._spin()  # calibrated
        flush = len(records(cache.zero_))
        return split_calls(records(calls), lambda name: "spin_kernel" in name, flush)

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize()


@dataclass(frozen=True)
class TimingConfig:
    """How long to measure.

    do_bench's defaults are 25 ms of warm-up and 100 ms of timed calls. Here a tier gets
    `repeats` x `rep_ms` = 5 x 50 ms: 2.5 times do_bench's timing budget, split so that
    the spread between repeats is known. Even the slowest bench case (about 1.3 ms per
    call) gets over 30 calls per repeat; a 10 us kernel, whose calls cost about 0.1 ms
    with the L2 flush, about 500.
    """

    repeats: int = 5
    """Independent repeats per tier; their medians give the median and the spread."""
    warmup_ms: float = 25.0
    """Time spent calling each function before timing (after a first, compiling call)."""
    rep_ms: float = 50.0
    """Time budget of one repeat: the number of timed calls is rep_ms / cost of a call
    (the cost counting the L2 flush before it)."""
    min_calls: int = 5
    max_calls: int = 1000

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if not (self.warmup_ms >= 0 and self.rep_ms > 0):
            raise ValueError("warmup_ms must be >= 0 and rep_ms > 0")

    def calls(self, budget_ms: float, cost_ms: float) -> int:
        """How many calls of cost `cost_ms` fit `budget_ms`, clamped to [min, max]."""
        n = int(budget_ms / cost_ms) if cost_ms > 0 else self.max_calls
        return max(self.min_calls, min(self.max_calls, n))

    def to_json(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "warmup_ms": self.warmup_ms,
            "rep_ms": self.rep_ms,
            "min_calls": self.min_calls,
            "max_calls": self.max_calls,
            "method": METHOD,
        }


def measure(
    fns: Mapping[str, Callable[[], Any]], timer: Timer, config: TimingConfig
) -> dict[str, list[list[float]]]:
    """Time each function in `fns`: {name: [repeat][call] device ms}.

    Every function is called once (compile, autotune), its cost estimated from 5 timed
    calls, warmed up for warmup_ms, then timed for rep_ms in each of `repeats` rounds.
    Within a round the functions take turns, the order reversed every other round.
    """
    names = list(fns)
    for name in names:
        fns[name]()
    timer.synchronize()
    overhead = timer.call_overhead_ms()
    calls: dict[str, int] = {}
    for name in names:
        cost = statistics.median(timer.time_calls(fns[name], 5)) + overhead
        calls[name] = config.calls(config.rep_ms, cost)
        timer.time_calls(fns[name], config.calls(config.warmup_ms, cost))
    samples: dict[str, list[list[float]]] = {name: [] for name in names}
    for r in range(config.repeats):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(timer.time_calls(fns[name], calls[name]))
    return samples
