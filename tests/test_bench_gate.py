"""The regression gate and the saved runs, with made-up timings (no GPU needed)."""

from __future__ import annotations

import json
import math

import pytest

from harness.perf import gate
from harness.perf.results import BenchRun, TierTiming, roofline, spread
from tests.bench_fakes import result, run_of

STEADY = (1.0, 1.01, 0.99, 1.0, 1.005)  # spread 0.5% (1% before setting aside the extremes)


def test_spread_is_the_range_of_the_repeat_medians_over_their_median():
    assert spread([1.0, 1.1, 0.9]) == pytest.approx(0.2)
    assert spread([2.0]) == 0.0
    t = TierTiming.from_samples([[1.0, 3.0, 2.0], [2.0, 2.2, 2.4], [1.8, 1.8, 1.8]])
    assert t.repeat_medians_ms == (2.0, 2.2, 1.8)
    assert t.median_ms == 2.0
    assert t.spread == pytest.approx(0.2)
    assert (t.min_ms, t.max_ms, t.calls_per_repeat) == (1.0, 3.0, 3)


def test_one_disturbed_repeat_of_five_does_not_count_in_the_spread():
    assert spread([1.0, 2.0, 1.0, 1.02, 0.99]) == pytest.approx(0.02)
    assert spread([1.0, 1.3, 1.25, 1.0, 1.0]) == pytest.approx(0.25)  # two do


def test_speedup_is_the_median_of_per_repeat_ratios():
    r = result(kernel=(1.0, 2.0, 1.0), torch_ms=(1.5, 3.0, 1.5))
    assert r.speedup == pytest.approx(1.5)
    assert r.speedup_spread == 0.0  # the drift hit both tiers alike


def test_roofline_picks_the_binding_ceiling():
    # 3 GB in 1 ms = 3000 GB/s: all of the copy ceiling; the FLOPs are negligible
    assert roofline(3e9, 1e6, 1.0, 3000.0, 700.0) == ("memory", pytest.approx(1.0))
    # 350 TFLOP in 1 s: half the matmul ceiling
    assert roofline(1e6, 350e12, 1000.0, 3000.0, 700.0) == ("compute", pytest.approx(0.5))
    assert roofline(0, 0, 1.0, 3000.0, 700.0) == (None, None)
    r = result(n=1 << 28, kernel=(1.2,) * 5)  # 3 GiB in 1.2 ms
    assert r.bound == "memory"
    assert r.gbps == pytest.approx(3 * 4 * 2**28 / 1.2e-3 / 1e9)
    assert r.ceiling_fraction == pytest.approx(r.gbps / 3000.0)


def test_run_json_round_trip(tmp_path):
    run = run_of(
        [
            result(),
            result(dtype="float16", params={"layout": "strided"}, torch_tier="torch_bench f"),
        ]
    )
    path = run.save(tmp_path / "run.json")
    back = BenchRun.load(path)
    assert back.results == run.results
    assert [r.torch_tier for r in back.results] == ["torch_ref", "torch_bench f"]
    assert back.machine == run.machine and back.ceilings == run.ceilings
    data = json.loads(path.read_text())
    assert data["format"] == "harness-bench/1"
    row = data["results"][0]
    assert {"median_ms", "spread", "repeat_medians_ms"} <= set(row["kernel"])
    assert row["speedup"] == pytest.approx(1.2) and row["bound"] == "memory"


def test_load_refuses_other_json(tmp_path):
    (tmp_path / "x.json").write_text('{"benchmarks": []}')
    with pytest.raises(ValueError, match="not a harness benchmark run"):
        BenchRun.load(tmp_path / "x.json")


def test_identical_runs_pass():
    rep = gate.compare(run_of([result(STEADY)]), run_of([result(STEADY)]))
    assert [r.verdict for r in rep.rows] == ["PASS"]
    assert rep.exit_status == 0 and "-> PASS (exit 0)" in rep.format()


def test_a_slower_kernel_fails_on_median_and_speedup():
    now = run_of([result(tuple(1.2 * t for t in STEADY))])
    rep = gate.compare(now, run_of([result(STEADY)]))
    (row,) = rep.rows
    assert row.verdict == "FAIL" and rep.exit_status == 1
    assert "median +20.0% > threshold 10% + noise 0.5%" in row.why
    assert "speedup -16.7% > threshold 10%" in row.why


def test_a_speedup_drop_fails_even_when_the_kernel_time_holds():
    # PyTorch got faster (or the kernel did not follow an upgrade): same kernel time
    now = run_of([result(STEADY, torch_ms=(1.0,) * 5)])
    (row,) = gate.compare(now, run_of([result(STEADY)])).rows
    assert row.verdict == "FAIL"
    assert "speedup" in row.why and "median" not in row.why


def test_a_speedup_over_another_pytorch_call_is_not_judged():
    # The baseline timed the op's torch_ref; this run its torch_bench, 3x faster: the
    # speedup fell, but against another call. The kernel's own time is still judged.
    bench = "torch_bench references.x.fast"
    now = run_of([result(STEADY, torch_ms=(0.4,) * 5, torch_tier=bench)])
    (row,) = gate.compare(now, run_of([result(STEADY)])).rows
    assert row.verdict == "PASS" and row.speedup_change is None
    assert f"speedup not judged: PyTorch timed torch_ref, now {bench}" in row.why
    slower = run_of([result(tuple(1.2 * t for t in STEADY), torch_tier=bench)])
    (row,) = gate.compare(slower, run_of([result(STEADY)])).rows
    assert row.verdict == "FAIL" and "median +20.0%" in row.why and "not judged" in row.why


def test_small_changes_within_threshold_pass():
    now = run_of([result(tuple(1.05 * t for t in STEADY))])
    assert gate.compare(now, run_of([result(STEADY)])).rows[0].verdict == "PASS"


def test_a_change_within_the_noise_of_the_threshold_is_inconclusive():
    noisy = (1.0, 1.15, 1.05, 0.95, 1.12)  # spread 11.4% (1.0 to 1.12 of 1.05)
    base = run_of([result(STEADY)])  # spread 0.5%: the noise is their mean, 6%
    # +12%: past the 10% threshold, within 10% + 6%: it cannot be told from it
    now = run_of([result(tuple(1.12 / 1.05 * t for t in noisy), torch_ms=(1.2 * 1.12,) * 5)])
    rep = gate.compare(now, base)
    assert rep.rows[0].verdict == "INCONCLUSIVE", rep.format()
    assert rep.exit_status == 3
    assert "median +12.0%: within threshold 10% + noise 6.0%" in rep.rows[0].why
    assert "INCONCLUSIVE:" in rep.format()


def test_noise_does_not_hide_a_large_slowdown_nor_fail_an_unchanged_kernel():
    noisy = (1.0, 1.3, 1.25, 1.0, 1.0)  # spread 25%
    for base, now in ((STEADY, noisy), (noisy, STEADY)):
        same = gate.compare(run_of([result(now)]), run_of([result(base)]))
        assert same.rows[0].verdict == "PASS", same.format()
        slower = run_of([result(tuple(2 * t for t in now))])
        rep = gate.compare(slower, run_of([result(base)]))
        assert rep.rows[0].verdict == "FAIL", rep.format()
        assert "median +100.0% > threshold 10% + noise 12.7%" in rep.rows[0].why


def test_a_judged_failure_outranks_an_inconclusive_figure():
    noisy_both = (1.0, 1.15, 1.05, 1.0, 1.1)
    # the kernel time is noisy, but PyTorch moved with it: the speedup is precise and fell
    now = run_of([result(noisy_both, torch_ms=tuple(0.8 * t for t in noisy_both))])
    base = run_of([result(STEADY)])
    row = gate.compare(now, base).rows[0]
    assert row.verdict == "FAIL" and "speedup" in row.why


def test_a_threshold_can_be_switched_off():
    now = run_of([result(tuple(1.5 * t for t in STEADY), torch_ms=(1.8,) * 5)])
    base = run_of([result(STEADY)])
    th = gate.Thresholds(max_regression=None, max_speedup_drop=0.1)
    assert gate.compare(now, base, th).rows[0].verdict == "PASS"
    assert gate.compare(now, base).rows[0].verdict == "FAIL"


def test_new_and_missing_cases_do_not_fail():
    base = run_of([result(STEADY, n=1 << 20), result(STEADY, n=1 << 22)])
    now = run_of([result(STEADY, n=1 << 20), result(STEADY, n=1 << 24)])
    rep = gate.compare(now, base)
    assert [r.verdict for r in rep.rows] == ["PASS", "NEW"]
    assert rep.exit_status == 0
    assert "not run this time: vector_add-float32-4194304" in rep.format()


def test_a_case_that_failed_to_run_fails_the_gate():
    broken = result()
    broken = type(broken)(broken.op, broken.dtype, broken.shape, error="RuntimeError: boom")
    rep = gate.compare(run_of([broken]), run_of([result()]))
    assert rep.rows[0].verdict == "FAIL" and "boom" in rep.rows[0].why


def test_another_gpu_model_skips_the_gate(tmp_path):
    base = run_of([result(STEADY)], gpu="NVIDIA A100-SXM4-80GB")
    now = run_of([result(tuple(3 * t for t in STEADY))])
    rep = gate.compare(now, base)
    assert rep.skipped and rep.exit_status == 0 and not rep.rows
    text = rep.format()
    assert "GATE SKIPPED" in text and "A100" in text and "H100" in text


def test_no_baseline_for_this_gpu_skips_the_gate(tmp_path):
    run = run_of([result()])
    path = gate.default_path(run.machine, tmp_path)
    assert path.name == "nvidia-h100-80gb-hbm3.json"
    rep = gate.check(run, path, gate.Thresholds())
    assert rep.skipped and "no baseline for GPU" in rep.format() and rep.exit_status == 0


def test_save_baseline_merges_per_case(tmp_path):
    path = tmp_path / "b.json"
    gate.save_baseline(run_of([result(STEADY, n=1), result(STEADY, n=2)]), path)
    gate.save_baseline(run_of([result((2.0,) * 5, n=2)]), path)
    saved = BenchRun.load(path).by_key()
    assert len(saved) == 2
    assert [r.kernel.median_ms for r in saved.values()] == [1.0, 2.0]
    # another GPU's file is replaced, not merged
    gate.save_baseline(run_of([result(n=3)], gpu="Other"), path)
    assert len(BenchRun.load(path).results) == 1


def test_calibration_summary_reports_run_to_run_change_and_spread():
    now = run_of([result(tuple(1.03 * t for t in STEADY)), result(STEADY, n=1 << 22)])
    base = run_of([result(STEADY), result(STEADY, n=1 << 22)])
    text = gate.compare(now, base).format()
    assert "run-to-run |change| of the median: max 3.0% (vector_add-float32-1048576)" in text
    assert "within-run spread of the median: max 0.5%" in text


@pytest.mark.parametrize(
    ("text", "value"), [("10%", 0.1), ("0.1", 0.1), ("2.5%", 0.025), ("off", None), (0.2, 0.2)]
)
def test_parse_fraction(text, value):
    got = gate.parse_fraction(text)
    assert got == value if value is None else math.isclose(got, value)


@pytest.mark.parametrize("text", ["10", "abc", "0", "-5%"])
def test_parse_fraction_rejects(text):
    with pytest.raises(ValueError, match="threshold"):
        gate.parse_fraction(text)
