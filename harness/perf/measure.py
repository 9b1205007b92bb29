"""What is benchmarked, and measuring it: each case's outputs checked, then both tiers
timed side by side.

For each op in a registry, each of its `bench_dtypes` and each of its `bench_cases`, the
case is first *checked*: the differential check of `harness.compare` (the float64 oracle,
the PyTorch tier and the kernel, outputs poisoned first) runs once at the benchmark size,
which the drawn correctness cases never reach. A kernel that is fast because it is wrong
at that size gives an error row with the reproducer, and is not timed. Then both tiers are
timed on the device by `harness.perf.timing` (CUDA events, L2 flushed, median of each of
R repeats, the tiers interleaved), the PyTorch one as its `torch_bench` where the op names
one (the call a PyTorch user runs; `torch_tier` says which), and reported with the op's
declared bytes and FLOPs against the card's ceilings (`harness.perf.ceilings`), measured
in the same run.

The timer and the ceilings are passed in (a `Timer`, a `Ceilings`): the command line and
the pytest benchmarks make one of each per process, and the tests pass fakes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import crashes, placement
from harness.op import Case, Op, Part, Registry
from harness.perf.ceilings import Ceilings
from harness.perf.results import TORCH_REF, BenchResult, Key, TierTiming, case_id, params_key
from harness.perf.timeline import summarize
from harness.perf.timing import Timer, TimingConfig, measure

NEEDS_GPU = (
    "benchmarks need a CUDA GPU: they time kernels on the device, and interpret mode runs "
    "them on the CPU through Triton's interpreter, whose times mean nothing"
)


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

    @property
    def case(self) -> Case:
        """The case the benchmark times: seed 0, as `python -m harness repro` rebuilds it."""
        return Case(self.op.name, self.dtype, self.shape, dict(self.params))


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


# --- checking ----------------------------------------------------------------------------

Checker = Callable[[Op, Case], "str | None"]
"""(op, case) -> None when the kernel's outputs are right at the case, else what is wrong
(one line and the reproducer)."""


def output_checker(mode: str, device: str, ops_module: str) -> Checker:
    """The differential check of one case (`harness.compare.run_case`), in `mode` on
    `device`: the kernel judged against the float64 oracle with the op's error model."""

    def check(op: Op, case: Case) -> str | None:
        return _check(op, case, mode, device, ops_module)

    return check


def check_part(op: Op, case: Case) -> Part | None:
    """The part of `case` its benchmark check judges against the oracle (the rest of each
    output only has to be written), or None for the whole case: the op's `Part`, wherever
    it declares one. The suite judges whole cases; at a benchmark size the check is there
    for what size alone breaks (a grid or an offset past its limit, a tile never written),
    and a part holds the last slice of its dimension, where offsets are largest. Checked
    whole, the float64 oracle and conditions of one (1, 16, 16384, 16384, 128) attention
    head took 26 s on a CPU core (7 minutes a case), a (32, 256, 56, 56) depthwise 7 x 7
    conv2d 112 s (13 s since its oracle multiplies tap by tap), and on the H200 8 checks
    were still running after 521 s (2026-12-02)."""
    return op.part(case) if op.part is not None else None


def _check(op: Op, case: Case, mode: str, device: str, ops_module: str) -> str | None:
    from harness.compare import run_case

    result = run_case(op, case, mode, device, ops_module, part=check_part(op, case))
    if result.kernel_ok:
        return None
    worst = result.worst("kernel")
    what = "; ".join(worst.problems) or (
        f"{worst.n_bad} of {worst.numel} elements over the bound, "
        f"worst {worst.max_err:.3g}x the bound"
    )
    on = f" (judged on {result.part})" if result.part else ""
    return f"wrong output at the benchmark size{on}: {worst.name}: {what}; re-run: " + (
        result.reproducer()
    )


def _check_in_worker(mode: str, device: str, ops_module: str, item: tuple) -> str | None:
    """`_check` of one (op name, dtype, shape, params), in a pool's process."""
    from harness import modes
    from harness.op import load_registry

    modes.activate(mode)  # before the registry imports a kernel: TRITON_INTERPRET
    name, dtype, shape, params = item
    op = load_registry(ops_module, name)[name]
    return _check(op, Case(name, dtype, tuple(shape), dict(params)), mode, device, ops_module)


CHECK_BYTES_PER_BYTE = 5
"""A check's peak memory, per byte the case moves, counted at float64 (x 8 / itemsize):
the inputs and both tiers' outputs, their float64 copies, the oracle and the conditions.
Measured on the CPU, where the device's tensors are in host memory too (peak RSS less
the import's): vector_add at 2**24 elements, 4.1 in float32 and 3.1 in float16. (Before
outputs were judged in chunks, a float32 check at 2**28 elements held 30 GiB of the
H200's memory, 10 per float32 byte: the figure this was 10 from, run at float64.)"""


def _check_bytes(item: BenchItem) -> float:
    from harness.dtypes import itemsize

    return CHECK_BYTES_PER_BYTE * float(item.op.bytes(item.case)) * 8 / itemsize(item.dtype)


def _memory_for_checks() -> float:
    """Half of what is free now, on the GPU and in host memory, whichever is less: the
    checks run beside each other only as far as that holds them."""
    import os

    free = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
    try:
        import torch

        if torch.cuda.is_available():
            free.append(torch.cuda.mem_get_info()[0])
    except Exception:
        pass
    return min(free) / 2


HEARTBEAT_S = 30.0
"""While checks run, a progress line at most this often: a whole run's checks take
minutes, and a silent log looks like a hang."""


SLOWEST_CHECKS = 3
"""How many of the slowest checks the last progress line names, with their times."""


def _ages(running: Iterable[BenchItem], started: Mapping[Key, float], now: float) -> str:
    """The checks still running and how long each has run, the oldest first: once
    none waits to start, the run waits on these."""
    ages = sorted(((now - started[it.key], it.id) for it in running), reverse=True)
    return ", ".join(f"{name} {age:.0f} s" for age, name in ages)


def check_in_parallel(
    items: Sequence[BenchItem],
    mode: str,
    device: str,
    ops_module: str,
    workers: int,
    progress: Callable[[str], None] = lambda line: None,
) -> Checker:
    """Check every item not skipped in `workers` processes at once, and return a checker
    that answers from their results.

    A check at a benchmark size is mostly the float64 oracle and conditions in NumPy on
    one CPU core (seconds for 64M elements, minutes for a whole run), while the GPU idles:
    a pool of processes spreads it over the host's cores. They are started fresh
    ("spawn": a CUDA context does not survive a fork) and share the GPU; nothing is
    timed while they run. Largest first, and only as many at once as half the free
    memory holds (`CHECK_BYTES_PER_BYTE`): eight checks at 2**28 elements ran the H200
    out of memory. A check that raises, or a worker that dies, is that case's error row.
    """
    import concurrent.futures as cf
    import multiprocessing

    todo = sorted((it for it in items if it.skip is None), key=_check_bytes, reverse=True)
    problems: dict[Key, str | None] = {}
    start = said = time.perf_counter()
    total = len(todo)
    room = _memory_for_checks()
    context = multiprocessing.get_context("spawn")
    with (
        placement.share_cores(workers),
        cf.ProcessPoolExecutor(max(1, workers), mp_context=context) as pool,
    ):
        running: dict[cf.Future, BenchItem] = {}
        started: dict[Key, float] = {}
        took: dict[Key, float] = {}
        while todo or running:
            # Start the largest checks that fit beside the running ones (one at least).
            held = sum(_check_bytes(it) for it in running.values())
            for it in list(todo):
                if len(running) >= workers:
                    break
                if running and held + _check_bytes(it) > room:
                    continue
                todo.remove(it)
                held += _check_bytes(it)
                job = (it.op.name, it.dtype, it.shape, dict(it.params))
                running[pool.submit(_check_in_worker, mode, device, ops_module, job)] = it
                started[it.key] = time.perf_counter()
            done, _ = cf.wait(running, timeout=HEARTBEAT_S, return_when=cf.FIRST_COMPLETED)
            if time.perf_counter() - said >= HEARTBEAT_S:
                said = time.perf_counter()
                progress(
                    f"checking: {len(problems)} of {total} done after {said - start:.0f} s, "
                    f"{len(running)} running (largest first)"
                    + (f": {_ages(running.values(), started, said)}" if not todo else "")
                )
            for future in done:
                item = running.pop(future)
                took[item.key] = time.perf_counter() - started[item.key]
                try:
                    problems[item.key] = future.result()
                # the check raised, or its process died, or a sticky CUDA error left it
                # unusable (harness.crashes: its later checks are refused, not run)
                except (Exception, crashes.PoisonedContext) as exc:
                    problems[item.key] = f"the output check failed: {type(exc).__name__}: {exc}"
                if problems[item.key] is not None:
                    progress(f"check {item.id}: {problems[item.key]}")
    bad = sum(p is not None for p in problems.values())
    ids = {it.key: it.id for it in items}
    slowest = sorted(took, key=took.__getitem__, reverse=True)[:SLOWEST_CHECKS]
    slow = ", ".join(f"{ids[k]} {took[k]:.0f} s" for k in slowest)
    progress(
        f"checked {len(problems)} case(s) in {time.perf_counter() - start:.0f} s with {workers} "
        f"process(es): {bad} wrong" + (f"; the slowest: {slow}" if slow else "")
    )

    def answer(op: Op, case: Case) -> str | None:
        key = (op.name, case.dtype, tuple(case.shape), params_key(case.params))
        return problems.get(key, "not checked")

    return answer


# --- measuring ---------------------------------------------------------------------------


DRIFTED = (
    "the kernel's outputs changed between calls on the same inputs: the timed calls did not "
    "compute what the first one did (a launch path that skips work?); not reported"
)


def torch_tier(op: Op) -> str:
    """What the PyTorch column timed: "torch_ref", or the op's `torch_bench` by name (a
    speedup is only comparable with one over the same call)."""
    fn = op.torch_bench
    if fn is None:
        return TORCH_REF
    return f"torch_bench {getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"


def measure_case(
    item: BenchItem,
    timer: Timer,
    ceilings: Ceilings,
    config: TimingConfig = TimingConfig(),
    check: Checker | None = None,
    timeline_calls: int = 0,
) -> BenchResult:
    """Check the case's outputs (when `check` is given), then time the Triton kernel and
    the PyTorch tier, interleaved; with `timeline_calls`, profile that many calls of the
    Triton tier for its launches (`harness.perf.timeline`). A wrong output is an error
    row, not timed. The check judges one call (`python -m harness bench` makes it in a
    process of its own, `check_in_parallel`), never the timed ones: so, where outputs are
    checked, a deterministic op's call after the timed ones must give the bits of its
    first call here, or the row is an error (on the H200 a cached launch path that skipped a
    convolution timed at 645-1492 TFLOP/s: benchmarks/results/2026-12-04-h200)."""
    from harness.compare import build_inputs
    from harness.tensors import same_bits, snapshot

    op, case = item.op, item.case
    if check is not None and (problem := check(op, case)) is not None:
        return BenchResult(op.name, item.dtype, item.shape, dict(item.params), error=problem)
    nbytes, nflops = float(op.bytes(case)), float(op.flops(case))
    # Ceilings first (cached after the first case), so they never share memory with inputs.
    copy_gbps = ceilings.copy_gbps() if nbytes > 0 else None
    size_copy_gbps = ceilings.copy_gbps_at(nbytes) if nbytes > 0 else None
    mm_tflops = ceilings.matmul_tflops(item.dtype) if nflops > 0 else None
    inputs = build_inputs(op, case, timer.device)
    args, kwargs = inputs.args, dict(inputs.kwargs)
    torch_fn = op.torch_bench or op.torch_ref
    tiers = {
        "kernel": lambda: op.kernel(*args, **kwargs),
        "torch": lambda: torch_fn(*args, **kwargs),
    }
    first = snapshot(tiers["kernel"]()) if check is not None and op.deterministic else None
    samples = measure(tiers, timer, config)
    host = {name: timer.host_ms_per_call(fn) for name, fn in tiers.items()}
    launches = None
    if timeline_calls:
        launches = summarize(timer.launches(tiers["kernel"], timeline_calls))
    if first is not None and not same_bits(first, snapshot(tiers["kernel"]())):
        return BenchResult(op.name, item.dtype, item.shape, dict(item.params), error=DRIFTED)
    return BenchResult(
        op=op.name,
        dtype=item.dtype,
        shape=item.shape,
        params=dict(item.params),
        kernel=TierTiming.from_samples(samples["kernel"], host["kernel"]),
        torch=TierTiming.from_samples(samples["torch"], host["torch"]),
        torch_tier=torch_tier(op),
        nbytes=nbytes,
        nflops=nflops,
        copy_gbps=copy_gbps,
        size_copy_gbps=size_copy_gbps,
        mm_tflops=mm_tflops,
        kernel_samples_ms=tuple(t for rep in samples["kernel"] for t in rep),
        torch_samples_ms=tuple(t for rep in samples["torch"] for t in rep),
        timeline=launches,
    )


def progress_line(result: BenchResult) -> str:
    from harness.perf.report import fmt_host, fmt_pct, fmt_rate, fmt_time

    if not result.ok:
        return f"{result.id}: ERROR {result.error}"
    assert result.kernel and result.torch
    line = (
        f"{result.id}: triton {fmt_time(result.kernel.median_ms)} "
        f"±{fmt_pct(result.kernel.spread)}  torch {fmt_time(result.torch.median_ms)} "
        f"±{fmt_pct(result.torch.spread)}  speedup {result.speedup:.2f}x  "
        f"{fmt_rate(result)}  host/call {fmt_host(result)}"
    )
    return line + (f"\n    {result.timeline.format()}" if result.timeline else "")


def _error_row(item: BenchItem, exc: BaseException) -> BenchResult:
    return BenchResult(
        item.op.name,
        item.dtype,
        item.shape,
        dict(item.params),
        error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
    )


def run_bench(
    items: Sequence[BenchItem],
    timer: Timer,
    ceilings: Ceilings,
    config: TimingConfig = TimingConfig(),
    check: Checker | None = None,
    progress: Callable[[str], None] = lambda line: None,
    timeline_calls: int = 0,
    on_result: Callable[[list[BenchResult]], None] | None = None,
) -> list[BenchResult]:
    """Check and measure every item not skipped, reporting one line per case as it
    completes, and handing `on_result` the results so far after each (to save them).

    A case that raises (a launch error, out of memory) is kept as an error row, so one
    bad case does not hide the others; the gate fails on it. An interrupt (Ctrl-C, or a
    time limit's SIGINT) raises `Interrupted` with the cases measured before it.
    """
    todo = [it for it in items if it.skip is None]
    for it in items:
        if it.skip is not None:
            progress(f"skip {it.id}: {it.skip}")
    results: list[BenchResult] = []
    width = len(str(len(todo)))
    try:
        for i, item in enumerate(todo, 1):
            start = time.perf_counter()
            try:
                result = measure_case(item, timer, ceilings, config, check, timeline_calls)
            except Exception as exc:  # keep going: report the error as a row
                result = _error_row(item, exc)
                _free_memory()
            took = time.perf_counter() - start
            progress(f"[{i:>{width}}/{len(todo)}] {progress_line(result)}  ({took:.1f} s)")
            results.append(result)
            if on_result is not None:
                on_result(results)
    except KeyboardInterrupt:
        raise Interrupted(results) from None
    return results


class Interrupted(Exception):
    """A run stopped by an interrupt; `results`: the cases it measured before it."""

    def __init__(self, results: list[BenchResult]) -> None:
        super().__init__(f"interrupted after {len(results)} case(s)")
        self.results = results


def _free_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def _device_spacer(nbytes: int) -> Any:
    """An allocation of nbytes on the GPU (None without one), to shift later allocations."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    except Exception:
        pass
    return None


# --- confirming a failure ----------------------------------------------------------------

CONFIRM = 2
"""Re-measurements a failing case gets before the gate fails it (`--confirm`). Measured on
an H100: a 20 us kernel (layer_norm_backward float16 4096 x 1024) ran 18.5 us in one
process and 20.7 us in the next, both with a within-run spread under 1%, and PyTorch's
tier moved with it (+6%); in one process, re-building the inputs gave anything from 18.5
to 20.5 us. The state that decides it (where the buffers land, it seems) is fixed within
a measurement, so one measurement's spread cannot show it; fresh measurements draw it
again, and pooling them puts that variation into the spread."""


def pooled(results: Sequence[BenchResult]) -> BenchResult:
    """One result from several measurements of the same case: every repeat of every
    measurement, as if one measurement had made them all.

    Its median is the median over all the repeat medians, the same estimator as a single
    measurement's (the baseline's), over more repeats; its spread now covers the
    variation between measurements (fresh inputs, other buffer placements) as well as
    within one. Not the fastest measurement: that would judge the two sides unalike.
    """
    ok = [r for r in results if r.ok]
    if not ok:
        return results[0]

    def pool(timings: list[TierTiming]) -> TierTiming:
        host = [t.host_ms for t in timings if t.host_ms is not None]
        return TierTiming(
            repeat_medians_ms=tuple(m for t in timings for m in t.repeat_medians_ms),
            calls_per_repeat=min(t.calls_per_repeat for t in timings),
            min_ms=min(t.min_ms for t in timings),
            max_ms=max(t.max_ms for t in timings),
            host_ms=min(host) if host else None,
        )

    first = ok[0]
    return dataclasses.replace(
        first,
        kernel=pool([r.kernel for r in ok if r.kernel]),
        torch=pool([r.torch for r in ok if r.torch]),
        measurements=sum(r.measurements for r in ok),
        kernel_samples_ms=tuple(t for r in ok for t in r.kernel_samples_ms),
        torch_samples_ms=tuple(t for r in ok for t in r.torch_samples_ms),
    )


def remeasure(
    results: Sequence[BenchResult],
    failing: set[Key],
    items: Sequence[BenchItem],
    timer: Timer,
    ceilings: Ceilings,
    config: TimingConfig,
    attempts: int,
    progress: Callable[[str], None] = lambda line: None,
) -> list[BenchResult]:
    """`results` with each case in `failing` measured `attempts` more times with inputs
    built anew, and `pooled` with its first measurement. (Its outputs were checked the
    first time.)"""
    todo = [it for it in items if it.skip is None and it.key in failing]
    measured: dict[Key, list[BenchResult]] = {r.key: [r] for r in results if r.key in failing}
    for attempt in range(1, attempts + 1):
        # Held while this attempt runs: the inputs built next land elsewhere in memory
        # (the caching allocator would hand back the blocks just freed).
        spacer = _device_spacer(attempt * 3 << 20)  # noqa: F841
        for item in todo:
            result = measure_case(item, timer, ceilings, config)
            progress(f"re-measure {attempt}/{attempts} {progress_line(result)}")
            measured[item.key].append(result)
    return [pooled(measured[r.key]) if r.key in measured else r for r in results]


# --- checks already passed ---------------------------------------------------------------

CHECK_CACHE_ENV = "HARNESS_CHECK_CACHE"


class PassedChecks:
    """The output checks that passed before, for the same code on the same machine: a
    clean tree at one commit, one GPU model and driver, one torch, Triton and NumPy, one
    registry. Those cases are not checked again (a check at 2**28 elements costs seconds
    of NumPy; all of ours, minutes); any change of code, a dirty tree or another machine
    checks everything. Only passes are kept: a wrong case is checked, and reported, every
    run. `--recheck` ignores it.

    Kept in $HARNESS_CHECK_CACHE, default ~/.cache/triton-harness/bench-checks.json.
    """

    def __init__(self, path: Any, context: dict[str, Any] | None):
        import json
        from pathlib import Path

        self.path = Path(path)
        self.context = json.dumps(context, sort_keys=True) if context else None
        self._passed: set[str] = set()
        if self.context and self.path.exists():
            try:
                self._passed = set(json.loads(self.path.read_text()).get(self.context, []))
            except (OSError, ValueError):
                self._passed = set()

    @classmethod
    def for_run(
        cls, machine: Mapping[str, Any], code: Mapping[str, Any], ops_module: str
    ) -> PassedChecks:
        """The cache of this machine and code; an inert one when the tree is dirty or its
        commit unknown (nothing then is reused or kept)."""
        import os
        from pathlib import Path

        default = Path.home() / ".cache" / "triton-harness" / "bench-checks.json"
        path = os.environ.get(CHECK_CACHE_ENV) or default
        if not code.get("commit") or code.get("dirty") is not False:
            return cls(path, None)
        fields = ("gpu", "gpu_driver", "torch", "triton", "numpy")
        context = {k: machine.get(k) for k in fields}
        return cls(path, {**context, "commit": code["commit"], "ops": ops_module})

    def _id(self, key: Key) -> str:
        return repr(key)

    def passed(self, item: BenchItem) -> bool:
        return self._id(item.key) in self._passed

    def remember(self, results: Sequence[BenchResult]) -> None:
        """Keep the cases of `results` that were checked and passed (and timed), and save."""
        import json

        if not self.context:
            return
        self._passed |= {self._id(r.key) for r in results if r.ok}
        try:
            table = json.loads(self.path.read_text()) if self.path.exists() else {}
        except (OSError, ValueError):
            table = {}
        table[self.context] = sorted(self._passed)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(table, indent=1) + "\n")
