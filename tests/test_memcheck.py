"""GPU memcheck (harness.memcheck): reading compute-sanitizer's log, the plugin's option,
and, on a GPU machine with the CUDA toolkit, a planted unmasked load caught."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import memcheck
from tests.oob_plants import KERNEL_NAMES

ROOT = Path(__file__).resolve().parent.parent

LOG = """\
========= COMPUTE-SANITIZER
========= Invalid __global__ read of size 4 bytes
=========     at _scale_kernel+0x1b0 in /repo/tests/parity_plants.py:72
=========     by thread (104,0,0) in block (15,0,0)
=========     Address 0x7f3a2e003ea0 is out of bounds
=========     and is 1 bytes after the nearest allocation at 0x7f3a2e000000 of size 16000 bytes
=========
========= Program hit cudaErrorLaunchFailure (error 719) due to "unspecified launch failure" \
(...)
=========     Saved host backtrace up to driver entry point at error
=========
========= ERROR SUMMARY: 2 errors
"""


def test_findings_are_the_invalid_accesses_with_their_details() -> None:
    (found,) = memcheck.findings(LOG)
    assert found.startswith("Invalid __global__ read of size 4 bytes")
    assert "parity_plants.py:72" in found and "16000 bytes" in found
    assert (
        memcheck.findings("========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n") == []
    )


def test_a_process_log_is_read_from_where_it_was_left(tmp_path) -> None:
    log = memcheck.ProcessLog(tmp_path)
    assert log.new_findings() == []  # not written yet
    log.path.write_text(LOG)
    assert len(log.new_findings()) == 1
    assert log.new_findings() == []
    with open(log.path, "a") as more:
        more.write(LOG)
    assert len(log.new_findings()) == 1


def test_memcheck_refuses_interpret_mode() -> None:
    env = {k: v for k, v in os.environ.items() if k != memcheck.ENV}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--memcheck", "--triton-mode=interpret", "-q",
         "-p", "no:cacheprovider", "tests/test_memcheck.py", "-k", "findings"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--memcheck checks GPU kernels" in done.stderr


@pytest.mark.gpu_only
def test_memcheck_catches_an_unmasked_load_the_outputs_hide() -> None:
    try:
        memcheck.sanitizer()
    except memcheck.MemcheckError as exc:
        pytest.skip(str(exc))
    case = '{"dtype": "float32", "op": "scale_unmasked", "params": {}, "seed": 0, "shape": [4000]}'
    done = subprocess.run(
        [sys.executable, "-m", "harness", "repro", "--memcheck", "--mode", "gpu",
         "--ops", "tests.parity_plants:PLANTED", case],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Invalid __global__ read" in done.stdout, done.stdout
    assert "_scale_kernel" in done.stdout


@pytest.mark.gpu_only
@pytest.mark.parametrize("plant", sorted(KERNEL_NAMES))
def test_memcheck_catches_each_planted_out_of_bounds_access(plant: str, tmp_path) -> None:
    """The interpreter's three plants (tests/test_bounds.py) compiled, one process each:
    memcheck names the kernel and the invalid access, whatever the outputs."""
    try:
        command, env, logs = memcheck.wrap(
            [sys.executable, "-m", "tests.oob_plants", plant], tmp_path
        )
    except memcheck.MemcheckError as exc:
        pytest.skip(str(exc))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    found = [f for log in logs.glob("memcheck.*.log") for f in memcheck.findings(log.read_text())]
    assert found, f"no finding for {plant}: {done.stdout}{done.stderr}"
    assert any(KERNEL_NAMES[plant] in f and "Invalid __global__" in f for f in found), found
