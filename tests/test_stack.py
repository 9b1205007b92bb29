"""harness.stack: a call with headroom on CPython's frame stack, and the plugin's and the
engine's use of it (the launchers': tests/test_fast_launch.py)."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from harness import Case, Inputs, Op, stack, strategies
from harness.compare import run_case

TIMES = 2000


def _oscillate() -> None:
    """300 frames down and back, TIMES times: more than a 16 KiB chunk of frames."""
    for _ in range(TIMES):
        assert stack.at_depth(300, lambda: 1) == 1


def _page_faults_in_a_new_thread(fn) -> int:
    """The minor page faults of fn() in a thread of its own: its frame stack starts in a
    chunk of its own (a test function's has headroom already, from the plugin)."""
    faults = []

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        fn()
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return faults[0]


def test_a_call_with_headroom_returns_and_raises_as_the_call_does():
    assert stack.with_headroom(divmod, 17, 5) == (3, 2)
    assert stack.with_headroom(dict, a=1, fn=2) == {"a": 1, "fn": 2}
    with pytest.raises(ZeroDivisionError):
        stack.with_headroom(divmod, 1, 0)


@pytest.mark.skipif(not hasattr(resource, "RUSAGE_THREAD"), reason="needs Linux's RUSAGE_THREAD")
def test_frames_under_the_headroom_cross_no_chunk_edge():
    plain = _page_faults_in_a_new_thread(_oscillate)
    if plain < TIMES:
        pytest.skip(
            f"this CPython ({sys.version.split()[0]}) keeps a freed chunk: {plain} page faults "
            f"in {TIMES} crossings of a chunk edge, nothing for the headroom to avoid"
        )
    under_headroom = _page_faults_in_a_new_thread(lambda: stack.with_headroom(_oscillate))
    assert under_headroom < TIMES // 20, (plain, under_headroom)


def test_the_plugin_calls_each_test_function_with_headroom():
    callers = []
    frame = sys._getframe(1)
    while frame is not None:
        callers.append(frame.f_code)
        frame = frame.f_back
    assert stack._call.__code__ in callers


def test_interpret_depths_times_a_launch_without_and_with_headroom():
    done = subprocess.run(
        [sys.executable, "benchmarks/interpret_depths.py", "--depths", "2", "--repeats", "1"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = re.findall(
        r"^ *(without|with) headroom: [\d.]+ ms at most depths; \d of 2 depths ", done.stdout, re.M
    )
    assert rows == ["without", "with"], done.stdout


def test_the_engine_calls_each_tier_with_headroom():
    """harness.compare.run_case, outside pytest's call (a thread of its own): the torch and
    kernel tiers of a user's op run with headroom too (`python -m harness check`)."""
    with_headroom = []

    def doubled(x):
        callers, frame = [], sys._getframe(1)
        while frame is not None:
            callers.append(frame.f_code)
            frame = frame.f_back
        with_headroom.append(stack._call.__code__ in callers)
        return 2.0 * x

    op = Op(
        name="doubled",
        numpy_ref=lambda x: 2.0 * x,
        torch_ref=doubled,
        kernel=doubled,
        make_inputs=lambda case, device, gen: Inputs((torch.ones(case.shape),)),
        cases=lambda budget: strategies.with_params(strategies.shapes(budget.numel)),
        dtypes=("float32",),
    )
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            run_case(op, Case("doubled", "float32", (4,), {}), "interpret", "cpu", __name__)
        )
    )
    thread.start()
    thread.join()
    assert results[0].ok and with_headroom == [True, True], with_headroom


def test_a_depth_sweep_counts_and_places_the_slow_depths() -> None:
    """sweep_depths keeps the best of its repeats at each depth, and its summary names
    the slow ones against the median and where the worst stood."""
    readings = iter([1.0, 1.1, 5.0, 4.0, 1.0, 1.0, 9.0, 9.5, 1.05, 1.0])
    sweep = stack.sweep_depths(lambda: next(readings), depths=5, step=3, repeats=2)
    assert sweep.depths == [0, 3, 6, 9, 12]
    assert sweep.times == [1.0, 4.0, 1.0, 9.0, 1.0]
    assert sweep.typical == 1.0
    assert sweep.slow == 2
    assert sweep.summary("us").endswith("the worst 9.0 us (depth 9)")


def test_a_sweep_measures_at_the_depth_it_names() -> None:
    def depth() -> float:
        frame, count = sys._getframe(), 0
        while frame:
            frame, count = frame.f_back, count + 1
        return float(count)

    sweep = stack.sweep_depths(depth, depths=4, step=10, repeats=1)
    assert [t - sweep.times[0] for t in sweep.times] == [0.0, 10.0, 20.0, 30.0]
