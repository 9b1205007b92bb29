"""benchmarks/compile_offline.py compiles GPU launch configs on a machine without a GPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_kernel_compiles_for_sm90_without_a_gpu() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "benchmarks/compile_offline.py", "vector_add", "--dtype", "float16"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "vector_add (as launched)" in done.stdout, done.stdout
    # registers and spills, read from the cubin: a plain add needs few, and spills nothing
    found = re.search(r"float16 .* ok  \[vector_add_kernel (\d+) regs\]", done.stdout)
    assert found and 0 < int(found[1]) < 64, done.stdout


def test_host_cost_offline_times_the_launcher_without_a_gpu() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "benchmarks/host_cost.py", "--offline", "scale", "--rounds", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    # two tiers: fast launches and replays into a stub launcher, and Triton's dispatch
    found = re.search(r"^scale +([\d.]+) \(.*\) +([\d.]+) \(", done.stdout, re.M)
    assert found and all(0 < float(found[i]) < 10_000 for i in (1, 2)), done.stdout


def test_a_replay_sends_the_launches_of_a_full_call_offline() -> None:
    """tests/replay_offline.py: kernels compiled for sm_90, the CUDA launcher recording,
    a replayed call sends what a call planned in full sends: conv2d on the TMA designs in
    every memory format of x and the filters (the NCHW ones through temporaries, the
    channels-last copies, each made anew in the layout the full call makes it in), and
    the other replayed launchers, matmul and attention through descriptors too."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "tests/replay_offline.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    cases = re.findall(r"^(.+?): (same|DIFFERENT) \((\d+) launch", done.stdout, re.M)
    assert len(cases) == 19, done.stdout
    assert all(verdict == "same" for _, verdict, _ in cases), done.stdout
    # NCHW x and filters: one launch copies both (PAIRED_COPIES), one computes the product
    assert int(cases[0][2]) == 2, done.stdout
    assert "tma-" in done.stdout, done.stdout  # matmul's TMA design was replayed
