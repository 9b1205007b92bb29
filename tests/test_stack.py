"""harness.stack: a call with headroom on CPython's frame stack, and the plugin's use of it."""

from __future__ import annotations

import resource
import sys
import threading

import pytest

from harness import stack

TIMES = 2000


def _down(depth: int) -> None:
    if depth:
        _down(depth - 1)


def _oscillate() -> None:
    """300 frames down and back, TIMES times: more than a 16 KiB chunk of frames."""
    for _ in range(TIMES):
        _down(300)


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
