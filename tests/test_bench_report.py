"""The benchmark command without a GPU: checking and measuring through a fake timer, the
table, the plots, and `python -m harness bench` end to end, from saved runs and with fake
instruments."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import sys
import time

import pytest
import torch

from harness import cli
from harness.op import Registry
from harness.perf import cli as perf_cli
from harness.perf import gate
from harness.perf import measure as bench
from harness.perf.ceilings import FixedCeilings
from harness.perf.report import (
    MATPLOTLIB_MISSING,
    fmt_host,
    fmt_rate,
    format_table,
    write_plots,
)
from harness.perf.results import BenchResult, BenchRun
from harness.perf.timing import TimingConfig, measure
from tests.bench_fakes import (
    FAKE_OPS,
    HOST_MS,
    WORK,
    FakeTimer,
    fake_op,
    result,
    run_of,
    torch_bench,
)

QUICK = TimingConfig(repeats=3, warmup_ms=0.0, rep_ms=1.0, min_calls=3, max_calls=10)
CEILINGS = FixedCeilings(copy=3000.0, matmul={"float32": 50.0, "float16": 700.0})


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
    assert r.ok and r.measurements == 1
    assert r.kernel.median_ms == pytest.approx(16384 * 1e-6)
    assert r.speedup == pytest.approx(1.2)
    assert r.gbps == pytest.approx(3 * 16384 * 4 / (16384 * 1e-9) / 1e9)
    assert r.bound == "memory" and r.ceiling_fraction == pytest.approx(r.gbps / 3000.0)
    assert len(r.kernel_samples_ms) == 3 * QUICK.max_calls  # 1 ms / 16 us, capped
    assert r.kernel.host_ms == r.torch.host_ms == HOST_MS


def test_the_pytorch_column_times_the_ops_torch_bench_and_says_so():
    op = fake_op("fake_benched", torch_bench=torch_bench, bench_dtypes=("float32",))
    item = bench.bench_items(Registry([op], module=__name__))[-1]
    r = bench.measure_case(item, FakeTimer(), CEILINGS, QUICK)
    assert r.speedup == pytest.approx(0.8)  # torch_bench's 0.8 ns an element, not _torch's
    assert r.torch_tier == "torch_bench tests.bench_fakes.torch_bench"
    assert "pytorch column, where not the op's torch_ref: fake_benched: tests.bench_fakes." \
        "torch_bench" in format_table(run_of([r, result()]))  # fmt: skip
    plain = bench.measure_case(bench.bench_items(FAKE_OPS, ["fake_add"])[-1], FakeTimer(),
                               CEILINGS, QUICK)  # fmt: skip
    assert plain.torch_tier == "torch_ref" and "where not" not in format_table(run_of([plain]))


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
    from harness.perf.timing import CudaEventTimer

    timer = CudaEventTimer()
    # 2 ms of host work, nothing on the GPU: 2 ms a call.
    assert timer.host_ms_per_call(lambda: time.sleep(0.002)) >= 1.9
    # 5 ms of GPU work that returns at once: far under 1 ms a call.
    cycles = 5_000_000
    assert timer.host_ms_per_call(lambda: torch.cuda._sleep(cycles)) < 1.0


def test_a_kernel_wrong_at_the_benchmark_size_is_an_error_row_not_timed():
    from tests.bench_fakes import WRONG_FROM

    items = bench.bench_items(FAKE_OPS, ["fake_wrong_large"])
    timer = FakeTimer()
    check = bench.output_checker("interpret", "cpu", "tests.bench_fakes")
    results = bench.run_bench(items, timer, CEILINGS, QUICK, check)
    by_size = {r.shape[0]: r for r in results}
    assert by_size[1024].ok and by_size[WRONG_FROM].ok  # the whole output is written
    wrong = by_size[4 * WRONG_FROM]
    assert not wrong.ok and wrong.kernel is None
    assert wrong.error.startswith("wrong output at the benchmark size: output 0: NaN/Inf")
    assert "at 12288 of 16384 elements" in wrong.error  # poisoned, never written
    assert "python -m harness repro --ops tests.bench_fakes --mode interpret" in wrong.error
    assert '"shape": [16384]' in wrong.error
    assert timer.calls == 2 * (2 + 2 + 2 * QUICK.repeats)  # only the two right cases timed


def test_timed_calls_that_compute_something_else_than_the_first_are_an_error_row():
    """A kernel right on its first calls (the check's, the first here) and wrong once a
    cached launch path takes over, as a replay that skipped a launch: the call after the
    timed ones differs from the first in its bits, so the row is an error, not timed. An
    op that declares itself nondeterministic is not held to it, nor a run that checks no
    outputs (`--no-check`); NaNs of the same bits compare equal."""
    from tests.bench_fakes import fake_op

    calls = []

    def drifting(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return x + y if len(calls) <= 2 else x - y

    def nan_sum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + y) * float("nan")

    for kernel, deterministic, ok in [(drifting, True, False), (drifting, False, True),
                                      (nan_sum, True, True)]:  # fmt: skip
        calls.clear()
        op = fake_op("fake_drifting", kernel=kernel, deterministic=deterministic)
        (item,) = bench.bench_items(
            Registry([op], module=__name__), ["fake_drifting"], ["float32"]
        )[:1]
        r = bench.measure_case(item, FakeTimer(), CEILINGS, QUICK, check=lambda op, case: None)
        assert r.ok is ok, (kernel.__name__, deterministic, r.error)
        if not ok:
            assert r.error == bench.DRIFTED and r.kernel is None
            calls.clear()
            assert bench.measure_case(item, FakeTimer(), CEILINGS, QUICK).ok  # unchecked


def test_run_bench_reports_progress_and_keeps_going_after_an_error():
    lines: list[str] = []
    results = bench.run_bench(
        bench.bench_items(FAKE_OPS), FakeTimer(), CEILINGS, QUICK, progress=lines.append
    )
    assert len(results) == 12  # fake_add 2 dtypes x 3 cases, the others 1 x 3
    assert sum(not r.ok for r in results) == 3  # fake_broken's (nothing checks fake_wrong_large)
    assert lines[0] == "skip fake_nocases-no-bench-cases: fake_nocases declares no bench_cases"
    timed = [ln for ln in lines if ln.startswith("[")]
    assert len(timed) == 12 and timed[0].startswith("[ 1/12] fake_add-float32-1024: triton ")
    assert any("ERROR RuntimeError: launch failed" in ln for ln in timed)
    assert "speedup 1.20x" in timed[0] and "GB/s" in timed[0]


# --- table and plots ---------------------------------------------------------------------


class TF32Recorder(FakeTimer):
    """Records, for each timed call, whether PyTorch let float32 matmuls use TF32."""

    def __init__(self) -> None:
        super().__init__()
        self.tf32: list[bool] = []

    def time_calls(self, fn, n):
        self.tf32.append(torch.backends.cuda.matmul.allow_tf32)
        return [1e-3] * n


def test_the_float32_matmul_ceiling_is_measured_in_tf32(monkeypatch):
    """float32's ceiling is its fastest GEMM on the card (TF32 on the tensor cores): as
    PyTorch's default full float32 a TF32 kernel read 512-618% of it on an H100."""
    from harness.perf import ceilings as ceilings_module

    monkeypatch.setattr(ceilings_module, "MATMUL_N", 8)
    timer = TF32Recorder()
    measured = ceilings_module.MeasuredCeilings(timer)
    allowed = torch.backends.cuda.matmul.allow_tf32  # (a property: no monkeypatch)
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        assert measured.matmul_tflops("float32") > 0
        assert torch.backends.cuda.matmul.allow_tf32 is False  # the process's, put back
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allowed
    assert timer.tf32 and all(timer.tf32)
    assert "float32 in TF32" in measured.to_json()["matmul"]


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


def test_table_shows_errors():
    broken = result()
    broken = type(broken)(broken.op, broken.dtype, broken.shape, error="RuntimeError: boom")
    text = format_table(run_of([broken, result()]))
    assert "ERROR" in text and "RuntimeError: boom" in text


def test_plots_one_png_per_op(tmp_path):
    pytest.importorskip("matplotlib")
    run = run_of(
        [result(n=1 << k, dtype=d) for k in (20, 24) for d in ("float32", "float16")]
        + [result(op="softmax", n=4096)]
    )
    paths, note = write_plots(run, tmp_path / "plots")
    assert note is None
    assert sorted(p.name for p in paths) == [
        "softmax-roofline.png",
        "softmax.png",
        "summary.png",
        "vector_add-roofline.png",
        "vector_add.png",
    ]
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
    # Noisy (spread 25%): unchanged passes, +15% cannot be told from the 10% threshold,
    # twice as slow fails all the same.
    noisy = (1.0, 1.3, 1.25, 1.0, 1.0)
    assert _cmd(tmp_path, run_of([result(noisy)]), *args) == 0
    assert _cmd(tmp_path, run_of([result(tuple(1.15 * t for t in noisy))]), *args) == 3
    assert "within threshold 10% + noise" in capsys.readouterr().out
    assert _cmd(tmp_path, run_of([result(tuple(2 * t for t in noisy))]), *args) == 1
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


def test_bench_bad_arguments(tmp_path, capsys):
    assert _cmd(tmp_path, run_of([result()]), "--max-regression", "10") == 2
    assert "looks like a percentage" in capsys.readouterr().err


class SlowKernelTimer(FakeTimer):
    """Times the fake kernel `factor` times slower (the PyTorch tier as before)."""

    def __init__(self, factor: float = 3.0) -> None:
        super().__init__()
        self.factor = factor

    def time_calls(self, fn, n):
        before = WORK.copy()
        times = super().time_calls(fn, n)
        return [t * self.factor for t in times] if WORK["kernel"] > before["kernel"] else times


FAKE_MACHINE = {"gpu": "Fake GPU", "torch": "t", "triton": "3.6.0"}


def _bench(argv: list[str], timer: FakeTimer) -> int:
    """`python -m harness bench ...` with fake instruments (no GPU)."""
    args = cli._parser().parse_args(argv)
    return perf_cli.main(
        args, instruments=lambda: perf_cli.Instruments(timer, CEILINGS, dict(FAKE_MACHINE))
    )


@pytest.fixture
def fake_gpu(monkeypatch, tmp_path):
    from harness import modes

    monkeypatch.setattr(modes, "activate", lambda mode: "gpu")
    monkeypatch.setenv(bench.CHECK_CACHE_ENV, str(tmp_path / "passed-checks.json"))


def test_bench_command_end_to_end_on_a_fake_gpu(tmp_path, fake_gpu, capsys):
    """The GPU command's flow (check and measure, save a baseline, gate: pass, then a
    slower kernel: fail), with the instruments faked."""
    base = tmp_path / "baselines" / "fake.json"
    quick = ["--repeats", "3", "--rep-ms", "1", "--warmup-ms", "0", "--check-workers", "0"]
    out_dir = str(tmp_path / "out")
    common = ["bench", "fake_add", "--ops", "tests.bench_fakes", "--out", out_dir, *quick]
    common += ["--baseline", str(base)]

    assert _bench([*common, "--save-baseline"], FakeTimer()) == 0
    captured = capsys.readouterr()
    assert "[6/6] fake_add-float16-16384: triton" in captured.err
    assert "each checked once" in captured.err
    assert "fake_add  16384  float16" in captured.out
    saved = BenchRun.load(base)
    assert saved.gpu == "Fake GPU" and len(saved.results) == 6
    assert saved.config["repeats"] == 3 and saved.config["ops"] == "tests.bench_fakes"
    assert BenchRun.load(tmp_path / "out" / "bench.json").results == saved.results

    assert _bench([*common, "--gate"], FakeTimer()) == 0
    assert "6 PASS, 0 FAIL" in capsys.readouterr().out

    assert _bench([*common, "--gate"], SlowKernelTimer(3.0)) == 1
    out = capsys.readouterr().out
    assert "0 PASS, 6 FAIL" in out and "median +200.0% > threshold 10% + noise" in out


def test_bench_command_refuses_a_wrong_kernel(tmp_path, fake_gpu, capsys):
    argv = ["bench", "fake_wrong_large", "--ops", "tests.bench_fakes", "--no-plots"]
    argv += ["--out", str(tmp_path), "--repeats", "1", "--rep-ms", "1", "--check-workers", "0"]
    assert _bench(argv, FakeTimer()) == 1
    out = capsys.readouterr().out
    assert "wrong output at the benchmark size" in out


class FirstMeasurementSlow(FakeTimer):
    """Times the run's first measurement (both tiers) 1.5x slow, then truly: a case that
    drew an unlucky state once, as measured on the H100 (see measure.CONFIRM)."""

    def __init__(self) -> None:
        super().__init__()
        self.host_calls = 0  # two per measurement, one per tier, at its end

    def time_calls(self, fn, n):
        times = super().time_calls(fn, n)
        return [t * 1.5 for t in times] if self.host_calls < 2 else times

    def host_ms_per_call(self, fn):
        self.host_calls += 1
        return super().host_ms_per_call(fn)


def test_gate_re_measures_a_failing_case_and_pools_the_measurements(tmp_path, fake_gpu, capsys):
    base = tmp_path / "fake.json"
    common = ["bench", "fake_add", "--ops", "tests.bench_fakes", "--dtype", "float32"]
    common += ["--out", str(tmp_path / "out"), "--no-plots", "--baseline", str(base)]
    common += ["--repeats", "3", "--rep-ms", "1", "--warmup-ms", "0", "--check-workers", "0"]
    assert _bench([*common, "--save-baseline"], FakeTimer()) == 0
    capsys.readouterr()

    # Judged on its first measurement only, the unlucky case fails...
    assert _bench([*common, "--gate", "--confirm", "0"], FirstMeasurementSlow()) == 1
    assert "2 PASS, 1 FAIL" in capsys.readouterr().out
    # ... measured twice more, its three measurements pooled, it passes: the median of
    # its nine repeats is a true one. The report says how it was judged.
    assert _bench([*common, "--gate"], FirstMeasurementSlow()) == 0
    captured = capsys.readouterr()
    assert "3 PASS, 0 FAIL" in captured.out and "measured 2 more times" in captured.out
    assert "pooled" in captured.out
    assert "re-measure 2/2 fake_add-float32-1024" in captured.err
    saved = BenchRun.load(tmp_path / "out" / "bench.json")
    assert [r.measurements for r in saved.results] == [3, 1, 1]
    assert len(saved.results[0].kernel.repeat_medians_ms) == 9
    # A real regression stays slow however often it is measured.
    assert _bench([*common, "--gate"], SlowKernelTimer(1.5)) == 1


class StoppedAfter(SlowKernelTimer):
    """Stops the run while it times the case after the first `cases` ones: by raising
    KeyboardInterrupt (Ctrl-C, a time limit's SIGINT) or by sending this process
    SIGTERM. Before that, reads back how many cases the run's JSON held as each case
    ended; the kernel `factor` times slow."""

    def __init__(self, cases: int, saved_at=None, how: str = "sigint", factor=1.0) -> None:
        super().__init__(factor)
        self.cases, self.saved_at, self.how = cases, saved_at, how
        self.host_calls = 0  # two per case, one per tier, at its end
        self.saved: list[int] = []

    def time_calls(self, fn, n):
        if self.host_calls == 2 * self.cases:
            if self.how != "sigterm":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)  # the run's handler raises, or it goes on
        return super().time_calls(fn, n)

    def host_ms_per_call(self, fn):
        self.host_calls += 1
        if self.host_calls % 2 and self.saved_at is not None:  # a case's first tier
            saved = BenchRun.load(self.saved_at) if self.saved_at.exists() else None
            self.saved.append(len(saved.results) if saved else 0)
        return super().host_ms_per_call(fn)


@pytest.mark.parametrize("how", ["sigint", "sigterm"])
def test_an_interrupted_run_keeps_reports_and_gates_what_it_measured(
    how, tmp_path, fake_gpu, capsys
):
    base = tmp_path / "fake.json"
    out = tmp_path / "out"
    common = ["bench", "fake_add", "--ops", "tests.bench_fakes", "--out", str(out)]
    common += ["--no-plots", "--baseline", str(base), "--repeats", "3", "--rep-ms", "1"]
    common += ["--warmup-ms", "0", "--check-workers", "0"]
    assert _bench([*common, "--save-baseline"], FakeTimer()) == 0
    capsys.readouterr()

    def ignore(signum, frame):  # this process's handler: a run left on it would go on
        pass

    timer = StoppedAfter(4, saved_at=out / "bench.json", how=how)
    out.joinpath("bench.json").unlink()
    before = signal.signal(signal.SIGTERM, ignore)
    try:
        assert _bench([*common, "--gate"], timer) == perf_cli.INTERRUPTED == 130
        assert signal.getsignal(signal.SIGTERM) is ignore  # put back
    finally:
        signal.signal(signal.SIGTERM, before)
    captured = capsys.readouterr()
    # Saved after each case (case k, as it ends, finds k - 1 saved), so that a run
    # killed outright keeps its cases too.
    assert timer.saved == [0, 1, 2, 3]
    run = BenchRun.load(out / "bench.json")
    assert len(run.results) == 4 and all(r.ok for r in run.results)
    unmeasured = run.config["unmeasured"]
    assert len(unmeasured) == 2 and not {r.id for r in run.results} & set(unmeasured)
    assert "INTERRUPTED: 4 case(s) measured" in captured.err and "2 not measured" in captured.err
    # The measured cases are in the table and judged; the gate cannot pass the rest.
    table, judged = captured.out.split("== regression gate")
    assert table.count("fake_add  ") == 4
    assert "4 PASS, 0 FAIL" in judged and "-> INCOMPLETE (exit 4)" in judged
    assert f"interrupted before it measured 2 of its cases: {', '.join(unmeasured)}" in judged

    # Re-reported from its JSON: the same verdict, exit 4; a regression still exits 1.
    again = ["bench", "--from-json", str(out / "bench.json"), "--out", str(tmp_path / "re")]
    again += ["--no-plots", "--baseline", str(base)]
    assert _bench([*again, "--gate"], FakeTimer()) == 4
    assert "INCOMPLETE" in capsys.readouterr().out
    twice = [tuple(2 * t for t in r.kernel.repeat_medians_ms) for r in run.results]
    slower = dataclasses.replace(run, results=[
        dataclasses.replace(r, kernel=dataclasses.replace(r.kernel, repeat_medians_ms=t))
        for r, t in zip(run.results, twice, strict=True)
    ])  # fmt: skip
    slower.save(tmp_path / "slower.json")
    again[2] = str(tmp_path / "slower.json")
    assert _bench([*again, "--gate"], FakeTimer()) == 1
    capsys.readouterr()
    # What it measured can still be merged into a baseline, case by case.
    merged = tmp_path / "merged.json"
    again[2] = str(out / "bench.json")
    assert _bench([*again[:-1], str(merged), "--save-baseline"], FakeTimer()) == 0
    assert len(BenchRun.load(merged).results) == 4

    # A regression in an interrupted run is judged on the one measurement: no time to
    # re-measure it.
    assert _bench([*common, "--gate"], StoppedAfter(2, factor=3.0)) == 130
    captured = capsys.readouterr()
    assert "2 failing case(s) judged on one measurement" in captured.out
    assert "0 PASS, 2 FAIL" in captured.out and "re-measure" not in captured.err


def test_a_run_interrupted_before_its_first_case_saves_an_empty_run(tmp_path, fake_gpu, capsys):
    argv = ["bench", "fake_add", "--ops", "tests.bench_fakes", "--out", str(tmp_path)]
    argv += ["--no-plots", "--repeats", "1", "--rep-ms", "1", "--check-workers", "0"]
    assert _bench(argv, StoppedAfter(0)) == 130
    run = BenchRun.load(tmp_path / "bench.json")
    assert run.results == [] and len(run.config["unmeasured"]) == 6
    assert "INTERRUPTED: 0 case(s) measured" in capsys.readouterr().err


def test_pooling_keeps_every_repeat_and_takes_their_median():
    a = result(kernel=(1.0, 1.0, 1.0), torch_ms=(1.2, 1.2, 1.2))
    b = result(kernel=(2.0, 2.0, 2.0), torch_ms=(2.4, 2.4, 2.4))
    c = result(kernel=(1.1, 1.1, 1.1), torch_ms=(1.3, 1.3, 1.3))
    pooled = bench.pooled([a, b, c])
    assert pooled.measurements == 3 and len(pooled.kernel.repeat_medians_ms) == 9
    assert pooled.kernel.median_ms == pytest.approx(1.1)  # not the fastest (1.0)
    assert pooled.kernel.spread > 0.5  # the unlucky measurement shows in the spread


def test_bench_command_refuses_unknown_ops_and_bad_settings(fake_gpu, capsys):
    assert _bench(["bench", "nope", "--ops", "tests.bench_fakes"], FakeTimer()) == 2
    assert "no op named 'nope'" in capsys.readouterr().err
    assert _bench(["bench", "--ops", "tests.bench_fakes", "--repeats", "0"], FakeTimer()) == 2
    assert "repeats must be >= 1" in capsys.readouterr().err


def test_no_check_times_without_checking_and_is_never_a_baseline(tmp_path, fake_gpu, capsys):
    base = tmp_path / "base.json"
    argv = ["bench", "fake_wrong_large", "--ops", "tests.bench_fakes", "--no-plots"]
    argv += ["--out", str(tmp_path), "--repeats", "1", "--rep-ms", "1", "--no-check"]
    assert _bench([*argv, "--save-baseline", "--baseline", str(base)], FakeTimer()) == 2
    assert "no baseline" in capsys.readouterr().err and not base.exists()
    assert _bench(argv, FakeTimer()) == 0  # the wrong kernel is timed, unchecked
    err = capsys.readouterr().err
    assert "outputs NOT checked" in err and "ERROR" not in err
    run = BenchRun.load(tmp_path / "bench.json")
    assert run.config["checked"] is False and all(r.ok for r in run.results)
    assert "not checked (--no-check)" in gate.compare(run, run).format()


def test_checks_in_a_pool_of_processes_largest_first_within_the_memory(monkeypatch):
    """The pool path of the bench's output check, as on a GPU: here in interpret mode on
    the fake ops, with so little memory that the checks run one at a time."""
    from harness.op import Case

    lines: list[str] = []
    monkeypatch.setattr(bench, "_memory_for_checks", lambda: 1.0)
    monkeypatch.setattr(bench, "HEARTBEAT_S", 0.0)  # a progress line at every wait
    items = bench.bench_items(FAKE_OPS, ["fake_add", "fake_wrong_large"], ["float32"])
    check = bench.check_in_parallel(items, "interpret", "cpu", "tests.bench_fakes", 2, lines.append)
    assert lines[-1].startswith("checked 6 case(s)") and ": 1 wrong; the slowest: " in lines[-1]
    slowest = lines[-1].split("the slowest: ")[1].split(", ")
    assert len(slowest) == bench.SLOWEST_CHECKS == 3
    assert all(re.fullmatch(r"fake_\w+-float32-\d+ \d+ s", name) for name in slowest)
    beats = [line for line in lines if line.startswith("checking: ")]
    assert beats and all(
        re.match(r"checking: \d of 6 done after \d+ s, 1 running", b) for b in beats
    )
    # Once every check has started, the heartbeat names the ones the run waits on.
    last = [b for b in beats if b.startswith("checking: 5 of 6")]
    assert last and all(re.search(r"running \(largest first\): fake_\w+-float32-\d+ \d+ s$", b)
                        for b in last)  # fmt: skip
    assert check(FAKE_OPS["fake_add"], Case("fake_add", "float32", (16384,), {})) is None
    wrong = check(FAKE_OPS["fake_wrong_large"], Case("fake_wrong_large", "float32", (16384,), {}))
    assert wrong is not None and "wrong output at the benchmark size" in wrong
    assert check(FAKE_OPS["fake_add"], Case("fake_add", "float16", (1024,), {})) == "not checked"
    sizes = [bench._check_bytes(it) for it in items[:3]]  # fake_add: 1024, 4096, 16384
    assert sizes == [sizes[0], 4 * sizes[0], 16 * sizes[0]]


def test_checks_passed_for_this_commit_on_this_machine_are_not_run_again(
    tmp_path, fake_gpu, capsys, monkeypatch
):
    checked: list[str] = []
    real_check = bench._check

    def counting(op, case, *args):
        checked.append(case.describe())
        return real_check(op, case, *args)

    monkeypatch.setattr(bench, "_check", counting)
    monkeypatch.setenv(bench.CHECK_CACHE_ENV, str(tmp_path / "checks.json"))
    commit = {"commit": "abc123", "dirty": False}
    monkeypatch.setattr(perf_cli, "_commit", lambda: dict(commit))
    argv = ["bench", "fake_add", "fake_wrong_large", "--ops", "tests.bench_fakes"]
    argv += ["--dtype", "float32", "--no-plots", "--out", str(tmp_path), "--check-workers", "0"]
    argv += ["--repeats", "1", "--rep-ms", "1"]

    def run(*extra: str) -> int:
        checked.clear()
        assert _bench([*argv, *extra], FakeTimer()) == 1  # the wrong case fails every run
        assert "wrong output at the benchmark size" in capsys.readouterr().out
        return len(checked)

    assert run() == 6
    assert run() == 1  # the wrong case again; the five that passed are remembered
    assert run("--recheck") == 6
    commit["dirty"] = True  # a change not committed: nothing is reused
    assert run() == 6
    commit.update(commit="def456", dirty=False)  # another commit
    assert run() == 6
