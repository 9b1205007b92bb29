"""A kernel that kills the process (a wild store in the interpreter) still gets a report
that names its case and how to run it again (harness.crashes)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE = re.escape("wild[float32] shape=(5, 3) seed=0 mode=interpret")
RERUN = re.escape("re-run: python -m harness repro --ops test_oob --mode interpret ")


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--triton-mode=interpret", "-k", "differential",
         *args],
        cwd=folder, capture_output=True, text=True, timeout=300,
        # the bounds check would stop the wild store first (tests/test_bounds.py)
        env={**_outside_this_session(), "PYTHONPATH": str(ROOT), "HARNESS_BOUNDS_CHECK": "0"},
    )  # fmt: skip


def _outside_this_session() -> dict[str, str]:
    """The environment without what this (maybe xdist) session set for its own workers."""
    inherited = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID", "HARNESS_CASE_DIR")
    return {k: v for k, v in os.environ.items() if k not in inherited}


def _project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "tests" / "data" / "wild_store.py", tmp_path / "test_oob.py")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    return tmp_path


def test_a_worker_killed_by_its_kernel_names_the_case_in_the_report(tmp_path):
    run = _pytest(_project(tmp_path), "-n", "1")
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "crashed while running" in out
    assert re.search(f"it was running the case {CASE}\\n  {RERUN}", out), out


def test_a_session_killed_by_its_kernel_is_named_by_the_next_one(tmp_path):
    folder = _project(tmp_path)
    killed = _pytest(folder, "-p", "no:xdist")
    assert killed.returncode < 0 or killed.returncode > 1, killed.stdout + killed.stderr
    after = _pytest(folder, "-p", "no:xdist", "--collect-only")
    assert re.search(f"an earlier run died while running {CASE}\\n  {RERUN}", after.stdout), (
        after.stdout
    )
    again = _pytest(folder, "-p", "no:xdist", "--collect-only")  # said once, then forgotten
    assert "an earlier run died" not in again.stdout


def test_a_sticky_cuda_error_is_named_once_and_not_shrunk(monkeypatch):
    """A CUDA error that leaves the context unusable (here simulated: every CUDA call
    raises "misaligned address" after the first case) stops the op at that case, with
    no shrinking through cases that would all crash the same way, and later cases in
    the process are refused at once, naming the case that poisoned it."""
    import pytest
    import torch

    from harness import compare, crashes, runner
    from harness.op import Budget, Case, load_registry

    def sticky(*args, **kwargs):
        raise RuntimeError("CUDA error: misaligned address")

    ran = []
    monkeypatch.setattr(crashes, "_poisoned_by", None)
    monkeypatch.setattr(compare, "_run_case", lambda *a: ran.append(a[1]) or sticky())
    monkeypatch.setattr(torch.cuda, "synchronize", sticky)
    monkeypatch.setattr(runner, "device_for", lambda mode: "cuda")
    op = load_registry("ops")["vector_add"]
    with pytest.raises(crashes.PoisonedContext, match="sticky CUDA error") as first:
        runner.check_op(op, "float32", "gpu", "ops", Budget("gpu", 1), max_examples=20)
    assert len(ran) == 1, ran  # the first case, not shrunk
    assert ran[0].describe() in str(first.value) and "misaligned" in str(first.value)
    later = Case("vector_add", "float16", (7,), {}, 3)
    with pytest.raises(crashes.PoisonedContext, match="not run") as refused:
        compare.run_case(op, later, "gpu", "cuda", "ops")
    assert len(ran) == 1 and ran[0].describe() in str(refused.value)
    tally = crashes.refusals([str(refused.value), "an unrelated failure", str(refused.value)])
    worker = crashes.worker_name()  # "main", or the xdist worker running this test
    assert len(tally) == 1 and tally[0].startswith(f"2 test(s) in {worker} not run after a")
    assert ran[0].describe() in tally[0]


def test_a_session_inside_this_process_keeps_the_outer_ones_folder(tmp_path, monkeypatch):
    """An in-process pytest run (pytester's inline runs) starts a session in the same
    process: its folder is its own, so its end leaves the outer session's, which every
    later test of the outer session records its case in (a single-process run of this
    suite lost it, and 449 tests failed on the missing file)."""
    from harness import crashes

    monkeypatch.delenv(crashes.ENV, raising=False)
    outer, _ = crashes.start_session(tmp_path)
    inner, left = crashes.start_session(tmp_path)
    assert inner != outer and inner.name.startswith(f"{os.getpid()}-") and left == []
    crashes.running("the inner session's case")
    crashes.end_session(inner, str(outer))
    assert outer.is_dir() and not inner.exists() and os.environ[crashes.ENV] == str(outer)
    crashes.running("the outer session's next case")  # its folder is still there
    assert crashes.last_case(crashes.worker_name()) == "the outer session's next case"
    crashes.end_session(outer, None)
    assert not outer.exists() and crashes.ENV not in os.environ
