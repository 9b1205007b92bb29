"""The benchmark command without a GPU: measuring through a fake timer, the slowdown
knob, the table, the plots, and `python -m harness bench` end to end from saved runs."""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import pytest
import torch

from harness import bench, cli, gate
from harness.bench_report import (
    MATPLOTLIB_MISSING,
    fmt_host,
    fmt_rate,
    format_table,
    write_plots,
)
from harness.bench_results import BenchResult, BenchRun
from harness.ceilings import FixedCeilings
from harness.timing import TimingConfig, measure
from tests.bench_fakes import FAKE_OPS, HOST_MS, FakeTimer, result, run_of

QUICK = TimingConfig(repeats=3, warmup_ms=0.0, rep_ms=1.0, min_calls=3, max_calls=10)
CEILINGS = FixedCeilings(copy=3000.0, matmul={"float32": 50.0, "float16": 700.0})


# --- the slowdown knob -------------------------------------------------------------------


def test_parse_slowdown():
    assert bench.parse_slowdown(None) == {}
    assert bench.parse_slowdown(" softmax:3, vector_add:2 ,") == {"softmax": 3, "vector_add": 2}
    table = bench.parse_slowdown("*:2,softmax:4")
    assert bench.slowdown_for("softmax", table) == 4
    assert bench.slowdown_for("other", table) == 2
    assert bench.slowdown_for("other", {}) == 1


@pytest.mark.parametrize("text", ["softmax", "softmax:0", "softmax:1.5", ":3", "a:b"])
def test_parse_slowdown_rejects(text):
    with pytest.raises(ValueError, match="HARNESS_BENCH_SLOWDOWN"):
        bench.parse_slowdown(text)


def test_repeated_runs_the_function_n_times():
    calls = []
    fn = bench.repeated(lambda: calls.append(1) or len(calls), 3)
    assert fn() == 3 and len(calls) == 3
    assert bench.repeated(len, 1) is len


# --- what is measured, and how -----------------------------------------------------------


def test_bench_items_cover_every_op_and_say_why_one_is_skipped():
    items = bench.bench_items(FAKE_OPS)
    ids = [it.id for it in items]
    assert "fake_add-float32-1024" in ids and "fake_add-float16-16384" in ids
    assert len([i for i in ids if i.startswith("fake_add-")]) == 6
    (nocases,) = [it for it in items if it.op.name == "fake_nocases"]
    assert nocases.skip == "fake_nocases declares no bench_cases"
    assert nocases.id == "fake_nocases-no-bench-cases"
    only = bench.bench_items(FAKE_OPS, ["fake_add"], ["float16"])
    assert [it.id for it in only] == [
        "fake_add-float16-1024",
        "fake_add-float16-4096",
        "fake_add-float16-16384",
    ]


def test_measure_interleaves_tiers_and_repeats():
    order = []
    timer = FakeTimer()
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    samples = measure(fns, timer, QUICK)
    assert [len(samples[k]) for k in "ab"] == [3, 3]
    timed = order[-6:]  # the 3 repeats: a b, then b a, then a b
    assert timed == ["a", "b", "b", "a", "a", "b"]


def test_measure_case_computes_speedup_rates_and_ceiling_fraction():
    (item,) = [it for it in bench.bench_items(FAKE_OPS, ["fake_add"], ["float32"])][-1:]
    r = bench.measure_case(item, FakeTimer(), CEILINGS, QUICK)
    assert r.ok and r.slowdown == 1
    assert r.kernel.median_ms == pytest.approx(16384 * 1e-6)
    assert r.speedup == pytest.approx(1.2)
    assert r.gbps == pytest.approx(3 * 16384 * 4 / (16384 * 1e-9) / 1e9)
    assert r.bound == "memory" and r.ceiling_fraction == pytest.approx(r.gbps / 3000.0)
    assert len(r.kernel_samples_ms) == 3 * QUICK.max_calls  # 1 ms / 16 us, capped
    assert r.kernel.host_ms == r.torch.host_ms == HOST_MS


def test_host_cost_is_reported_and_saved():
    r = result(kernel=(0.005,) * 5)
    r = dataclasses.replace(
        r,
        kernel=dataclasses.replace(r.kernel, host_ms=0.1084),
        torch=dataclasses.replace(r.torch, host_ms=0.0226),
    )
    assert fmt_host(r) == "108 / 23 us"
    assert "108 / 23 us" in format_table(run_of([r]))
    back = BenchResult.from_json(json.loads(json.dumps(r.to_json())))
    assert back.kernel.host_ms == pytest.approx(0.1084) and back.summary()["torch_host_ms"] == (
        pytest.approx(0.0226)
    )
    assert fmt_host(result()) == "-"  # a run saved before host costs were measured


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_host_cost_is_the_host_time_not_the_device_time():
    from harness.timing import CudaEventTimer

    timer = CudaEventTimer()
    # 2 ms of host work, nothing on the GPU: 2 ms a call.
    assert timer.host_ms_per_call(lambda: time.sleep(0.002)) >= 1.9
    # 5 ms of GPU work that returns at once: far under 1 ms a call.
    cycles = 5_000_000
    assert timer.host_ms_per_call(lambda: torch.cuda._sleep(cycles)) < 1.0


def test_the_slowdown_knob_slows_only_the_kernel():
    (item,) = bench.bench_items(FAKE_OPS, ["fake_add"], ["float32"])[:1]
    r = bench.measure_case(item, FakeTimer(), CEILINGS, QUICK, slowdown={"fake_add": 3})
    assert r.slowdown == 3
    assert r.kernel.median_ms == pytest.approx(3 * 1024 * 1e-6)
    assert r.torch.median_ms == pytest.approx(1.2 * 1024 * 1e-6)
    assert r.speedup == pytest.approx(0.4)


def test_run_bench_reports_progress_and_keeps_going_after_an_error():
    lines: list[str] = []
    results = bench.run_bench(
        bench.bench_items(FAKE_OPS), FakeTimer(), CEILINGS, QUICK, progress=lines.append
    )
    assert len(results) == 9  # fake_add 2 dtypes x 3 cases, fake_broken 1 x 3
    assert sum(not r.ok for r in results) == 3
    assert lines[0] == "skip fake_nocases-no-bench-cases: fake_nocases declares no bench_cases"
    timed = [ln for ln in lines if ln.startswith("[")]
    assert len(timed) == 9 and timed[0].startswith("[1/9] fake_add-float32-1024: triton ")
    assert any("ERROR RuntimeError: launch failed" in ln for ln in timed)
    assert "speedup 1.20x" in timed[0] and "GB/s" in timed[0]


# --- table and plots ---------------------------------------------------------------------


def test_table_has_the_columns_and_units():
    run = run_of([result(), result(dtype="bfloat16", n=1 << 28, kernel=(1.2,) * 5)])
    text = format_table(run)
    header = text.splitlines()[4]
    for col in ("op", "shape", "dtype", "triton", "pytorch", "speedup", "throughput", "spread"):
        assert col in header
    assert "vector_add  268435456  bfloat16  1.200 ms  1.200 ms  1.00x" in text
    assert "2684 GB/s (89% of copy)" in text
    assert "NVIDIA H100 80GB HBM3" in text and "copy 3000 GB/s" in text


def test_memory_bound_rate_is_also_set_against_a_same_size_copy():
    # 12.6 MB moved in 5 us: 2517 GB/s, 84% of the 3000 GB/s ceiling; against a copy of
    # the same bytes at 2000 GB/s, 126%.
    r = result(kernel=(0.005,) * 5, size_copy_gbps=2000.0)
    assert fmt_rate(r) == "2517 GB/s (84% of copy, 126% of same-size copy)"
    assert r.size_copy_fraction == pytest.approx(r.gbps / 2000.0)
    back = BenchResult.from_json(json.loads(json.dumps(r.to_json())))
    assert back.size_copy_gbps == 2000.0 and back.summary()["size_copy_fraction"] == (
        pytest.approx(r.size_copy_fraction)
    )
    # No same-size figure (older runs, or a compute-bound case): only the ceiling.
    assert fmt_rate(result(kernel=(0.005,) * 5)) == "2517 GB/s (84% of copy)"
    compute_bound = dataclasses.replace(result(size_copy_gbps=2000.0), nflops=1e12)
    assert compute_bound.bound == "compute" and compute_bound.size_copy_fraction is None


def test_table_shows_errors_and_the_slowdown():
    broken = result()
    broken = type(broken)(broken.op, broken.dtype, broken.shape, error="RuntimeError: boom")
    run = run_of([broken, result(slowdown=3)])
    run.config["slowdown"] = {"vector_add": 3}
    text = format_table(run)
    assert "ERROR" in text and "RuntimeError: boom" in text
    assert "[slowed x3]" in text and "deliberately slowed" in text


def test_plots_one_png_per_op(tmp_path):
    pytest.importorskip("matplotlib")
    run = run_of(
        [result(n=1 << k, dtype=d) for k in (20, 24) for d in ("float32", "float16")]
        + [result(op="softmax", n=4096)]
    )
    paths, note = write_plots(run, tmp_path / "plots")
    assert note is None
    assert sorted(p.name for p in paths) == ["softmax.png", "vector_add.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_degrade_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    paths, note = write_plots(run_of([result()]), tmp_path)
    assert paths == [] and note == MATPLOTLIB_MISSING
    assert list(tmp_path.iterdir()) == []


# --- the command -------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_bench_without_a_gpu_says_so(capsys):
    assert cli.main(["bench"]) == 2
    err = capsys.readouterr().err
    assert "no GPU here" in err and "need a CUDA GPU" in err


def _cmd(tmp_path, run: BenchRun, *extra: str) -> int:
    path = run.save(tmp_path / "run.json")
    return cli.main(["bench", "--from-json", str(path), "--out", str(tmp_path / "out"), *extra])


STEADY = (1.0, 1.01, 0.99, 1.0, 1.005)


def test_bench_from_json_prints_the_table_and_plots(tmp_path, capsys):
    assert _cmd(tmp_path, run_of([result(STEADY)])) == 0
    out = capsys.readouterr().out
    assert "vector_add  1048576  float32" in out
    if "matplotlib" in sys.modules or _has_matplotlib():
        assert (tmp_path / "out" / "vector_add.png").exists()


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_bench_gate_exit_statuses(tmp_path, capsys):
    base = tmp_path / "base.json"
    gate.save_baseline(run_of([result(STEADY)]), base)
    args = ("--gate", "--baseline", str(base), "--no-plots")
    assert _cmd(tmp_path, run_of([result(STEADY)]), *args) == 0
    assert "-> PASS (exit 0)" in capsys.readouterr().out
    slower = run_of([result(tuple(1.3 * t for t in STEADY))])
    assert _cmd(tmp_path, slower, *args) == 1
    assert "FAIL" in capsys.readouterr().out
    assert (
        _cmd(tmp_path, slower, *args, "--max-regression", "40%", "--max-speedup-drop", "off") == 0
    )
    noisy = run_of([result((1.0, 1.3, 1.25, 1.0, 1.0))])
    assert _cmd(tmp_path, noisy, *args) == 3
    other = run_of([result(STEADY)], gpu="NVIDIA A100-SXM4-80GB")
    assert _cmd(tmp_path, other, *args) == 0
    assert "GATE SKIPPED" in capsys.readouterr().out


def test_bench_save_baseline_from_a_saved_run(tmp_path, capsys):
    base = tmp_path / "baselines" / "h100.json"
    assert (
        _cmd(tmp_path, run_of([result()]), "--save-baseline", "--baseline", str(base), "--no-plots")
        == 0
    )
    assert BenchRun.load(base).results == [result()]
    slowed = run_of([result(slowdown=2)])
    assert _cmd(tmp_path, slowed, "--save-baseline", "--baseline", str(base)) == 2


def test_bench_bad_arguments(tmp_path, capsys, monkeypatch):
    assert _cmd(tmp_path, run_of([result()]), "--max-regression", "10") == 2
    monkeypatch.setenv(bench.SLOWDOWN_ENV, "vector_add")
    assert _cmd(tmp_path, run_of([result()])) == 2
    assert "OP:N" in capsys.readouterr().err


def test_bench_command_end_to_end_on_a_fake_gpu(tmp_path, monkeypatch, capsys):
    """The GPU command's flow (measure, save a baseline, gate: pass, then a deliberate
    slowdown: fail) with the timer, ceilings and machine faked."""
    from harness import ceilings, machine, modes

    timer = FakeTimer()
    monkeypatch.setattr(modes, "activate", lambda mode: "gpu")
    monkeypatch.setattr(bench, "default_timer", lambda: timer)
    monkeypatch.setattr(ceilings, "shared", lambda t: CEILINGS)
    fake_machine = {"gpu": "Fake GPU", "torch": "t", "triton": "3.6.0"}
    monkeypatch.setattr(machine, "machine_info", lambda: dict(fake_machine))
    base = tmp_path / "baselines" / "fake.json"
    quick = ["--repeats", "3", "--rep-ms", "1", "--warmup-ms", "0"]
    out_dir = str(tmp_path / "out")
    common = ["bench", "fake_add", "--ops", "tests.bench_fakes", "--out", out_dir, *quick]
    common += ["--baseline", str(base)]

    assert cli.main([*common, "--save-baseline"]) == 0
    captured = capsys.readouterr()
    assert "[6/6] fake_add-float16-16384: triton" in captured.err
    assert "fake_add  16384  float16" in captured.out
    saved = BenchRun.load(base)
    assert saved.gpu == "Fake GPU" and len(saved.results) == 6
    assert saved.config["repeats"] == 3 and saved.config["slowdown"] == {}
    assert BenchRun.load(tmp_path / "out" / "bench.json").results == saved.results

    assert cli.main([*common, "--gate"]) == 0
    assert "6 PASS, 0 FAIL" in capsys.readouterr().out

    monkeypatch.setenv(bench.SLOWDOWN_ENV, "fake_add:3")
    assert cli.main([*common, "--gate"]) == 1
    out = capsys.readouterr().out
    assert "0 PASS, 6 FAIL" in out and "median +200.0% > 10%" in out
    assert cli.main([*common, "--save-baseline"]) == 2  # a slowed run is never a baseline


class FirstMeasurementSlow(FakeTimer):
    """Times the run's first measurement (both tiers) 1.5x slow, then truly: a case that
    drew an unlucky state once, as measured on the H100 (see bench.CONFIRM)."""

    def __init__(self) -> None:
        super().__init__()
        self.host_calls = 0  # two per measurement, one per tier, at its end

    def time_calls(self, fn, n):
        times = super().time_calls(fn, n)
        return [t * 1.5 for t in times] if self.host_calls < 2 else times

    def host_ms_per_call(self, fn):
        self.host_calls += 1
        return super().host_ms_per_call(fn)


def test_gate_re_measures_a_failing_case_before_failing_it(tmp_path, monkeypatch, capsys):
    from harness import ceilings, machine, modes

    monkeypatch.setattr(modes, "activate", lambda mode: "gpu")
    monkeypatch.setattr(ceilings, "shared", lambda t: CEILINGS)
    fake = {"gpu": "Fake GPU", "torch": "t", "triton": "3.6.0"}
    monkeypatch.setattr(machine, "machine_info", lambda: dict(fake))
    base = tmp_path / "fake.json"
    common = ["bench", "fake_add", "--ops", "tests.bench_fakes", "--dtype", "float32"]
    common += ["--out", str(tmp_path / "out"), "--no-plots", "--baseline", str(base)]
    common += ["--repeats", "3", "--rep-ms", "1", "--warmup-ms", "0"]
    monkeypatch.setattr(bench, "default_timer", FakeTimer)
    assert cli.main([*common, "--save-baseline"]) == 0
    capsys.readouterr()

    # Judged on its first measurement only, the unlucky case fails...
    monkeypatch.setattr(bench, "default_timer", FirstMeasurementSlow)
    assert cli.main([*common, "--gate", "--confirm", "0"]) == 1
    assert "2 PASS, 1 FAIL" in capsys.readouterr().out
    # ... re-measured, it passes, and the report says how it was judged.
    assert cli.main([*common, "--gate"]) == 0
    captured = capsys.readouterr()
    assert "3 PASS, 0 FAIL" in captured.out and "re-measured 2 more times" in captured.out
    assert "re-measure 2/2 fake_add-float32-1024" in captured.err
    saved = BenchRun.load(tmp_path / "out" / "bench.json")
    assert [r.measurements for r in saved.results] == [3, 1, 1]


def test_bench_command_refuses_unknown_ops_and_bad_settings(monkeypatch, capsys):
    from harness import modes

    monkeypatch.setattr(modes, "activate", lambda mode: "gpu")
    assert cli.main(["bench", "nope", "--ops", "tests.bench_fakes"]) == 2
    assert "no op named 'nope'" in capsys.readouterr().err
    assert cli.main(["bench", "--ops", "tests.bench_fakes", "--repeats", "0"]) == 2
    assert "repeats must be >= 1" in capsys.readouterr().err
