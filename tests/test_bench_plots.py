"""The benchmark pictures beyond the per-op speed plot: a roofline per op and one summary of
every speedup, drawn from hand-made runs (no GPU)."""

from __future__ import annotations

import dataclasses

import pytest

from harness.perf.report import write_plots
from harness.perf.results import BenchResult
from tests.bench_fakes import result, run_of

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def _names(paths) -> set[str]:
    return {p.name for p in paths}


def _error(op: str = "vector_add") -> BenchResult:
    return BenchResult(op, "float32", (4,), error="RuntimeError: boom")


def test_a_roofline_per_op_and_one_summary(tmp_path):
    run = run_of(
        [result(n=1 << k, dtype=d) for k in (20, 24) for d in ("float32", "float16")]
        + [result(op="softmax", n=4096)]
    )
    paths, note = write_plots(run, tmp_path / "plots")
    assert note is None
    assert _names(paths) == {
        "vector_add.png",
        "vector_add-roofline.png",
        "softmax.png",
        "softmax-roofline.png",
        "summary.png",
    }
    for p in paths:
        assert p.parent == tmp_path / "plots"
        assert p.read_bytes()[:8] == PNG


def test_an_op_without_flops_or_bytes_gets_no_roofline(tmp_path):
    run = run_of(
        [
            result(),
            dataclasses.replace(result(op="no_flops"), nflops=0.0),
            dataclasses.replace(result(op="no_bytes"), nbytes=0.0),
        ]
    )
    paths, note = write_plots(run, tmp_path)
    assert note is None
    assert _names(paths) == {
        "vector_add.png",
        "vector_add-roofline.png",
        "no_flops.png",
        "no_bytes.png",
        "summary.png",
    }


def test_error_rows_are_left_out_without_crashing(tmp_path):
    run = run_of([_error(), result(), _error("only_errors")])
    paths, note = write_plots(run, tmp_path)
    assert note is None
    # An op whose every case failed gets no picture at all.
    assert _names(paths) == {"vector_add.png", "vector_add-roofline.png", "summary.png"}
    assert all(p.read_bytes()[:8] == PNG for p in paths)


def test_only_errors_writes_nothing(tmp_path):
    paths, note = write_plots(run_of([_error()]), tmp_path)
    assert paths == [] and note == "plots skipped: no case was measured"


def test_summary_reads_with_a_hundred_cases(tmp_path):
    from PIL import Image

    run = run_of(
        [
            result(
                kernel=(1.0,) * 5,
                torch_ms=(0.4 + 0.1 * k,) * 5,  # both sides of 1x
                op=f"op{i}",
                dtype=dtype,
                n=1 << (10 + k),
            )
            for i in range(4)
            for dtype in ("float32", "float16")
            for k in range(13)
        ],
        gpu=None,
    )
    assert len(run.results) > 100
    small = write_plots(run_of([result()]), tmp_path / "small")[0]
    paths, _ = write_plots(run, tmp_path / "big")
    summary = next(p for p in paths if p.name == "summary.png")
    # The figure grows with the cases, so 100 labels do not overlap.
    (small_summary,) = (p for p in small if p.name == "summary.png")
    assert Image.open(summary).height > 5 * Image.open(small_summary).height


def test_ceilings_missing_still_draw_the_cases(tmp_path):
    # An older run: no copy or matmul ceiling anywhere, only the cases.
    bare = dataclasses.replace(result(), copy_gbps=None, mm_tflops=None)
    run = run_of([bare])
    run.ceilings.clear()
    paths, note = write_plots(run, tmp_path)
    assert note is None and "vector_add-roofline.png" in _names(paths)


def test_op_names_are_safe_file_names(tmp_path):
    paths, _ = write_plots(run_of([result(op="attn/fwd causal")]), tmp_path)
    assert _names(paths) == {"attn_fwd_causal.png", "attn_fwd_causal-roofline.png", "summary.png"}
