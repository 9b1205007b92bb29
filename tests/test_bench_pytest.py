"""The pytest side of the benchmarks, in inner pytest runs (pytester): interpret mode
skips every item with its reason; device samples become pytest-benchmark's stats; a
saved run of another GPU model is not compared against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch._inductor.test_operators  # noqa: F401
import triton.testing  # noqa: F401

import ops  # noqa: F401
from harness.perf.pytest_bench import (
    DEVICE_CLOCK,
    INTERPRET_REASON,
    ReplayClock,
    bench_params,
)
from tests.bench_fakes import FAKE_OPS

pytest_plugins = ["pytester"]

# The inner runs are in-process: pytester drops the modules they import when they end, and
# Triton's compiled extension cannot be imported twice, so triton (and the op table that
# imports it) is imported here, once, before any inner run; so is the module of torch's
# that registers the `_inductor_test` op library, which an output check brings in (via
# torch._inductor) and which cannot be registered twice either.

ROOT = Path(__file__).resolve().parent.parent


def test_replay_clock_gives_each_round_one_sample():
    clock = ReplayClock()
    clock.load([0.5, 0.25])
    readings = [clock() for _ in range(4)]
    assert [b - a for a, b in zip(readings[::2], readings[1::2], strict=True)] == [0.5, 0.25]
    assert clock.reset() == 0
    clock.load([1.0])
    assert clock.reset() == 1


def test_params_in_gpu_mode_skip_only_what_cannot_run():
    params = bench_params(FAKE_OPS, "gpu")
    ids = [p.id for p in params]
    assert ids[:2] == ["fake_add-float32-1024-triton", "fake_add-float32-1024-torch"]
    assert "fake_add-float16-4096-torch" in ids and "fake_nocases-no-bench-cases" in ids
    # both tiers of fake_add, fake_broken and fake_wrong_large; one item for fake_nocases
    assert len(ids) == 2 * (6 + 3 + 3) + 1
    for p in params:
        skips = [m for m in p.marks if m.name == "skip"]
        bench = [m for m in p.marks if m.name == "benchmark"]
        assert bench and bench[0].kwargs["timer"] is DEVICE_CLOCK
        if p.id.startswith("fake_nocases"):
            assert skips[0].kwargs["reason"] == "fake_nocases declares no bench_cases"
        else:
            assert not skips


def test_params_in_interpret_mode_all_skip_with_the_reason():
    params = bench_params(FAKE_OPS, "interpret")
    assert params
    for p in params:
        (skip,) = [m for m in p.marks if m.name == "skip"]
        assert skip.kwargs["reason"] == INTERPRET_REASON


def test_benchmarks_skip_in_interpret_mode_with_the_reason(pytester):
    res = pytester.runpytest_inprocess(
        str(ROOT / "tests" / "test_benchmarks.py"),
        f"--rootdir={ROOT}",
        "--triton-mode=interpret",
        "-p",
        "no:cacheprovider",
        "-rs",
    )
    outcomes = res.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 1, res.stdout.str()
    assert not outcomes.get("passed") and not outcomes.get("failed") and not outcomes.get("error")
    skip_lines = [ln for ln in res.stdout.lines if ln.startswith("SKIPPED")]
    assert skip_lines and all(
        "interpret mode: benchmarks need a CUDA GPU" in ln for ln in skip_lines
    )


INNER = """
import os

import pytest

from harness.perf.ceilings import FixedCeilings
from harness.perf.measure import output_checker
from harness.perf.pytest_bench import (
    DEVICE_CLOCK, BenchSession, bench_params, record_device_samples, run_item,
)
from tests.bench_fakes import FAKE_OPS, FakeTimer

FACTOR = float(os.environ.get("FAKE_FACTOR", "1"))
SESSION = BenchSession(
    FakeTimer(),
    FixedCeilings(3000.0, {"float32": 50.0}),
    output_checker("interpret", "cpu", "tests.bench_fakes"),
)
WRONG = [p for p in bench_params(FAKE_OPS, "gpu") if "fake_wrong_large" in p.id]


@pytest.mark.benchmark(timer=DEVICE_CLOCK, group="demo")
def test_samples(benchmark):
    record_device_samples(benchmark, [FACTOR * s for s in (1e-3, 2e-3, 3e-3)], {"speedup": 1.5})


@pytest.mark.parametrize(("item", "tier"), bench_params(FAKE_OPS, "gpu")[:2])
def test_item(item, tier, benchmark):
    run_item(item, tier, benchmark, SESSION)


def test_both_tiers_were_measured_once():
    assert SESSION.timer.calls == 2 + 2 + 2 * 5  # one measurement: estimates, warm-ups, repeats


@pytest.mark.parametrize(("item", "tier"), WRONG[-2:])  # 16384 elements: past WRONG_FROM
def test_wrong(item, tier, benchmark):
    run_item(item, tier, benchmark, SESSION)
"""


def _run(pytester, *args: str):
    return pytester.runpytest_inprocess(
        "-p", "harness.plugin", "-p", "no:cacheprovider", "-p", "no:xdist",
        "--benchmark-storage=file://./store", *args,
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore::pytest_benchmark.logger.PytestBenchmarkWarning")
def test_device_samples_are_what_pytest_benchmark_stores_and_compares(pytester, monkeypatch):
    pytester.makepyfile(test_inner=INNER)
    monkeypatch.syspath_prepend(str(ROOT))
    # under xdist the outer worker's variable would make pytest-benchmark disable itself
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)

    first = _run(pytester, "--benchmark-json=run.json", "--benchmark-save=base")
    first.assert_outcomes(passed=4, failed=2)
    # a kernel wrong at the benchmark size fails both its tests, with the reproducer
    wrong = [ln for ln in first.stdout.lines if "fake_wrong_large-float32-16384" in ln]
    assert any("wrong output at the benchmark size" in ln and "repro" in ln for ln in wrong)
    data = json.loads((pytester.path / "run.json").read_text())
    assert "gpu" in data["machine_info"] and "triton" in data["machine_info"]
    by_name = {b["name"]: b for b in data["benchmarks"]}
    samples = by_name["test_samples"]
    assert samples["stats"]["data"] == [1e-3, 2e-3, 3e-3]
    assert samples["stats"]["median"] == 2e-3
    assert samples["extra_info"] == {"speedup": 1.5}
    assert samples["options"]["timer"] == "device_time"
    triton = by_name["test_item[fake_add-float32-1024-triton]"]
    torch_ = by_name["test_item[fake_add-float32-1024-torch]"]
    info = triton["extra_info"]
    assert triton["group"] == "fake_add" and info["tier"] == "triton"
    assert info["speedup"] == pytest.approx(1.2) and info["bound"] == "memory"
    assert triton["stats"]["median"] == pytest.approx(info["kernel_median_ms"] * 1e-3, rel=0.02)
    assert torch_["stats"]["median"] == pytest.approx(info["torch_median_ms"] * 1e-3, rel=0.02)
    assert torch_["extra_info"]["speedup"] == info["speedup"]  # one measurement for both

    # the same "GPU" (none here), twice as slow: pytest-benchmark's gate fails
    monkeypatch.setenv("FAKE_FACTOR", "2")
    gate = ("--benchmark-compare=0001", "--benchmark-compare-fail=median:10%", "-k", "samples")
    slower = _run(pytester, *gate)
    assert slower.ret != 0
    assert "Performance has regressed" in slower.stderr.str() + slower.stdout.str()

    # a saved run from another GPU model is not compared against: said, and skipped
    (saved,) = (pytester.path / "store").rglob("0001_*.json")
    stored = json.loads(saved.read_text())
    stored["machine_info"]["gpu"] = "NVIDIA A100-SXM4-80GB"
    saved.write_text(json.dumps(stored))
    other = _run(pytester, *gate)
    assert other.ret == 0, other.stdout.str()
    text = other.stdout.str() + other.stderr.str()
    assert "not comparing" in text and "A100" in text
