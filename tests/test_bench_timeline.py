"""harness.perf.timeline: a call's launches, the gaps between them, on a CPU (made-up
device records; the GPU's come from torch.profiler through `CudaEventTimer.launches`)."""

from __future__ import annotations

import pytest

from harness.perf import measure as bench
from harness.perf.timeline import Launch, Timeline, split_calls, summarize
from tests.bench_fakes import FAKE_OPS, FakeTimer
from tests.test_bench_report import CEILINGS, QUICK, _bench


def _call(at: float, stage_one: float, gap: float, stage_two: float) -> list[Launch]:
    return [
        Launch("stage_one", at, at + stage_one),
        Launch("stage_two", at + stage_one + gap, at + stage_one + gap + stage_two),
    ]


def test_a_timeline_is_each_launch_and_gap_as_medians_over_the_calls():
    calls = [_call(0, 10, 2, 3), _call(100, 12, 1, 3), _call(200, 11, -0.5, 4)]
    timeline = summarize(calls)
    assert timeline == Timeline((("stage_one", 11.0), ("stage_two", 3.0)), (1.0,), 15.0, 3)
    line = timeline.format()
    assert "stage_one 11.0 | gap 1.0 | stage_two 3.0 | span 15.0" in line
    assert "median of 3 calls" in line


def test_calls_that_launched_another_sequence_are_left_out_and_counted():
    tuning = [Launch("config_a", 0, 5), Launch("config_b", 6, 9), Launch("stage_two", 10, 11)]
    timeline = summarize([tuning, _call(100, 10, 2, 3), _call(200, 10, 2, 3)])
    assert [name for name, _ in timeline.kernels] == ["stage_one", "stage_two"]
    assert (timeline.calls, timeline.other_calls) == (2, 1)
    assert "1 other" in timeline.format()
    assert summarize([[], []]) is None


def test_records_are_cut_into_calls_at_the_markers_and_the_flush_dropped_by_place():
    """Each call: flush (named as the op's own fill kernel, on purpose), spin, the call's
    two launches. The flush before each spin goes by place; the op's fill stays."""
    records = []
    for i in range(3):
        t = 100.0 * i
        records += [
            Launch("fill", t, t + 5),  # the timer's flush
            Launch("spin_kernel", t + 5, t + 50),
            Launch("fill", t + 51, t + 52),  # the op's own
            Launch("op", t + 53, t + 60),
        ]
    calls = split_calls(list(reversed(records)), lambda name: name == "spin_kernel", between=1)
    assert [[launch.name for launch in call] for call in calls] == [["fill", "op"]] * 3
    assert [call[0].start_us for call in calls] == [51.0, 151.0, 251.0]


def test_bench_prints_each_cases_launches_when_asked():
    (item,) = list(bench.bench_items(FAKE_OPS, ["fake_add"], ["float32"]))[-1:]
    r = bench.measure_case(item, FakeTimer(), CEILINGS, QUICK, timeline_calls=4)
    assert r.timeline is not None and r.timeline.calls == 4
    assert [name for name, _ in r.timeline.kernels] == ["zero", "add"]
    assert r.timeline.kernels[1][1] == pytest.approx(1e3 * r.kernel.median_ms, rel=0.02)
    line = bench.progress_line(r)
    assert line.splitlines()[1].strip().startswith("launches (us, median of 4 calls)")
    assert bench.measure_case(item, FakeTimer(), CEILINGS, QUICK).timeline is None


def test_bench_refuses_a_negative_timeline(tmp_path, capsys):
    argv = ["bench", "fake_add", "--ops", "tests.bench_fakes", "--timeline", "-1"]
    assert _bench([*argv, "--out", str(tmp_path)], FakeTimer()) == 2
    assert "--timeline must be >= 0" in capsys.readouterr().err


def test_a_runs_timelines_are_saved_and_reported_again_from_its_json(tmp_path):
    from harness.perf.report import format_table
    from harness.perf.results import BenchRun
    from tests.bench_fakes import run_of

    (item,) = list(bench.bench_items(FAKE_OPS, ["fake_add"], ["float32"]))[-1:]
    profiled = bench.measure_case(item, FakeTimer(), CEILINGS, QUICK, timeline_calls=3)
    run = run_of([profiled])
    again = BenchRun.load(run.save(tmp_path / "bench.json")).results[0]
    assert again.timeline == profiled.timeline
    table = format_table(BenchRun.load(tmp_path / "bench.json"))
    assert "launches of the Triton tier:" in table
    assert profiled.timeline.format() in table
    unprofiled = bench.measure_case(item, FakeTimer(), CEILINGS, QUICK)
    assert "launches of the Triton tier" not in format_table(run_of([unprofiled]))
