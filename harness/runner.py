"""Drive one op over hypothesis-drawn cases: shared by the pytest plugin and the CLI."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

from hypothesis import example, given, seed, settings
from hypothesis import strategies as st

from harness import caselog, crashes
from harness.compare import CaseResult, format_exception, reproducer, run_case
from harness.modes import admitted_profiles, device_for
from harness.op import Budget, Case, Op
from harness.strategies import seeds


class CaseFailure(AssertionError):
    """A tier disagreed with the oracle; the message is the full report."""


@dataclass
class Summary:
    """What `check_op` saw: how many cases ran and the closest call of each tier."""

    op: str
    dtype: str
    mode: str
    cases: int = 0
    worst: CaseResult | None = None
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)

    def record(self, result: CaseResult) -> None:
        self.cases += 1
        self.warnings.extend(result.warnings)
        if self.worst is None or _closeness(result) > _closeness(self.worst):
            self.worst = result


def _closeness(result: CaseResult) -> tuple[bool, float]:
    return (not result.ok, result.worst("kernel").max_err)


def _log_failure(report: str) -> None:
    """Append a failure's report (or a crash's traceback, which names its case) to
    $HARNESS_FAILURE_LOG, if set, the moment it is found: before hypothesis shrinks it
    (minutes for a large case), and from every xdist worker."""
    path = os.environ.get("HARNESS_FAILURE_LOG")
    if path:
        with open(path, "a") as log:
            log.write(report + "\n\n")


def _note_running(case: Case, mode: str, ops_module: str) -> None:
    """Where a hard crash leaves it: the case about to run (harness.crashes)."""
    crashes.running(
        f"{case.describe()} mode={mode}\n  re-run: {reproducer(case, mode, ops_module)}"
    )


def check_case(op: Op, case: Case, mode: str, ops_module: str) -> CaseResult:
    """Run one case; raise CaseFailure with the report if any tier fails."""
    _note_running(case, mode, ops_module)
    result = run_case(op, case, mode, device_for(mode), ops_module)
    if not result.ok:
        raise CaseFailure(result.report())
    return result


def check_op(
    op: Op,
    dtype: str,
    mode: str,
    ops_module: str,
    budget: Budget,
    max_examples: int | None = None,
    shard: tuple[int, int] | None = None,
) -> Summary:
    """Run `op`'s pinned examples, then hypothesis cases, in `dtype` and `mode`.

    Settings come from the loaded hypothesis profile; raises CaseFailure (after
    hypothesis has shrunk the case) on the first disagreement. `shard` = (k, n) runs
    the k-th of n parts: 1/n of the drawn cases (its own random stream, also where the
    profile is derandomized), and every n-th pinned example from the k-th. (On the H200 in
    parity mode, with every pinned example in part 0 of 4, matmul bfloat16's part 0 took
    202 s and its parts 2 and 3 40 s and under; float32's 157 s against 38 s and under.)
    """
    summary = Summary(op.name, dtype, mode)

    def one(drawn: tuple[tuple[tuple[int, ...], dict], str, int]) -> None:
        (shape, params), values, seed = drawn
        if values != "normal":
            params = {**params, "values": values}
        case = Case(op.name, dtype, tuple(shape), dict(params), seed)
        _note_running(case, mode, ops_module)
        start = time.perf_counter()
        try:
            result = run_case(op, case, mode, device_for(mode), ops_module)
        except (Exception, crashes.PoisonedContext) as exc:
            # A crash is logged as a failure is, with its case (a case refused because
            # an earlier one poisoned the CUDA context was not run: nothing to log).
            if isinstance(exc, crashes.PoisonedContext) and exc.__cause__ is None:
                raise
            rerun = reproducer(case, mode, ops_module)
            _log_failure(f"CRASHED {case.describe()} mode={mode}\n  re-run: {rerun}\n")
            _log_failure(format_exception(exc))
            raised = {"raised": time.perf_counter() - start}
            caselog.record(case, mode, shard, False, raised, exc)
            raise
        caselog.record(case, mode, shard, result.ok, result.seconds)
        summary.record(result)
        if not result.ok:
            report = result.report()
            _log_failure(report)
            raise CaseFailure(report)

    profiles = admitted_profiles(op.values, mode, dtype)
    test = given(st.tuples(op.cases(budget), st.sampled_from(profiles), seeds()))(one)
    k, n = shard or (0, 1)
    for shape_params in reversed(op.examples[k::n]):
        test = example((shape_params, "normal", 0))(test)
    if max_examples is None and n > 1:
        max_examples = math.ceil(settings.default.max_examples / n)
    if max_examples is not None:
        test = settings(max_examples=max_examples)(test)
    if n > 1 and settings.default.derandomize:
        test = seed(k)(test)  # else every part would draw the same cases
    # One database key per op, dtype and mode (by default hypothesis keys on this inner
    # function, the same for every op): another op's saved failures are neither replayed
    # into nor pruned by this one's runs.
    test._hypothesis_internal_database_key = f"triton-harness/{op.name}/{dtype}/{mode}".encode()
    try:
        test()
    except CaseFailure as failure:
        summary.failure = str(failure)
        raise
    return summary
