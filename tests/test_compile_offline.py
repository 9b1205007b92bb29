"""Offline, without a GPU: benchmarks/compile_offline.py compiles GPU launch configs, and the
scripts built on its stand-in driver run (host cost, replays, precompile)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A minute of CPU a run: `make compile-check` runs these, on both Tritons; `make test` not.
pytestmark = pytest.mark.compiles


def _offline(*argv: str) -> subprocess.CompletedProcess:
    """A script of the repository run as on a machine without a GPU (not interpreted),
    its output captured."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_kernel_compiles_for_sm90_without_a_gpu() -> None:
    done = _offline("benchmarks/compile_offline.py", "vector_add", "--dtype", "float16")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "vector_add (as launched)" in done.stdout, done.stdout
    # registers and spills, read from the cubin: a plain add needs few, and spills nothing
    found = re.search(r"float16 .* ok  \[vector_add_kernel (\d+) regs\]", done.stdout)
    assert found and 0 < int(found[1]) < 64, done.stdout


def test_compile_offline_compiles_only_the_configs_asked_for() -> None:
    done = _offline(
        "benchmarks/compile_offline.py", "add_row_sum", "--dtype", "float32", "--config=split"
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rows/split/gpu"), done.stdout
    # the split kernel, after the launch that zeroes its counters
    found = r"float32 .* ok  \[_zero_kernel \d+ regs, add_row_sum_split_kernel \d+ regs\]$"
    assert re.search(found, lines[0]), lines[0]

    # --first: on the first pinned example the config is launched on, which it names
    done = _offline(
        "benchmarks/compile_offline.py", "add_row_sum", "--dtype", "float32", "--config=split",
        "--first",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert re.search(
        r"ok  \[_zero_kernel \d+ regs, add_row_sum_split_kernel \d+ regs\] \(example \d+\)$",
        done.stdout,
    )


def test_compile_offline_counts_only_the_launches_of_the_config() -> None:
    """A depthwise config is first launched on a later pinned example than the first; the
    examples before it are convolutions planned as GEMMs, whose kernels (and their tuner's
    candidates) are not the config's and are not in its line."""
    done = _offline(
        "benchmarks/compile_offline.py", "conv2d", "--dtype", "float16", "--first",
        "--config=depthwise-8x128x4-w4-s1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    found = re.search(r"ok  \[(.*)\] \(example (\d+)\)$", done.stdout.strip())
    assert found and int(found[2]) > 0, done.stdout
    assert re.fullmatch(r"conv2d_depthwise_kernel \d+ regs", found[1]), done.stdout


def test_a_depthwise_designs_walk_reads_as_sass_without_a_gpu() -> None:
    """benchmarks/sass_loop.py: the plane design (16 x 64 tiles in strips of 8 columns x 4
    rows on one warp) compiled for sm_90: its walk's loop is a tile's multiply-adds, 32
    outputs a thread x 9 taps of a 3 x 3 filter; registers read from the cubin, no
    spills."""
    done = _offline(
        "benchmarks/sass_loop.py", "--shape", "2,8,16,3,1",
        "--design", "conv2d/plane-16x64x8-r4-t4-w1-s1/gpu",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    found = re.search(r"gpu: (\d+) registers, 0 B spilled", done.stdout)
    assert found and 0 < int(found[1]) <= 255, done.stdout
    walk = re.search(r"loop of \d+ instructions: (.*)", done.stdout)
    assert walk and re.search(r"\bFFMA 288\b", walk[1]), done.stdout


def test_layer_norms_walker_reduces_its_two_row_sums_at_once_offline() -> None:
    """benchmarks/sass_loop.py on layer_norm_backward's walkers in halves (rows of 16384,
    planned for the H200's 132 SMs and shared memory), compiled for sm_90: the two row
    sums, each with the partner half's share, are one reduction a row (`row_sums`), so
    the walk's loop waits at 3 barriers, not the 8 (Triton 3.9) or 12 (3.6) of four
    separate sums; no spills."""
    done = _offline(
        "benchmarks/sass_loop.py", "--shape", "264,16384",
        "--design", "layer_norm_backward/walker_halves/gpu",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    walker = re.search(
        r"gpu: (\d+) registers, 0 B spilled, \d+ B shared \[_layer_norm_bwd_walker_kernel\]\n"
        r"  loop of \d+ instructions: .*\n    \(BAR (\d+),",
        done.stdout,
    )
    assert walker and int(walker[1]) <= 255 and int(walker[2]) <= 3, done.stdout


def test_softmaxs_looped_kernel_fits_an_sm_on_32_warps_offline() -> None:
    """benchmarks/sass_loop.py on the row-wise family (softmax) with a launch constant set:
    rows of 65536 float16 columns looped in blocks of 8192, two an iteration
    (kernels.softmax.LOOP_LOADS) on 32 warps, take at most 64 registers a thread, so one
    program fits an SM's 65536 (the rows in flight that benchmarks/tune_rowwise.py's
    flight-softmax sweep weighs); no spills."""
    done = _offline(
        "benchmarks/sass_loop.py", "--shape", "8,65536", "--design", "rows/looped/gpu",
        "--set", "kernels._rows.LOOP_BLOCK=8192",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "set kernels._rows.LOOP_BLOCK = 8192" in done.stdout, done.stdout
    found = re.search(
        r"gpu: (\d+) registers, 0 B spilled, \d+ B shared \[softmax_looped", done.stdout
    )
    assert found and int(found[1]) <= 64, done.stdout


def test_cross_entropys_streamed_loop_reads_vectors_with_one_exp_an_element_offline() -> None:
    """benchmarks/cross_entropy_probe.py --offline: at 50257 classes a bfloat16 row starts
    anywhere and ends off any 16-byte boundary, yet the streamed forward's loop (blocks
    counted from the boundary before the row, kernels/cross_entropy.py) reads 8 elements
    a load, and folds each with one exp (`_rows.online_max_and_sum`); no spills. At 50264
    the rows start on the boundary but 50264 is no multiple of 16, all Triton knows of a
    stride: the loop reads vectors only because the kernel declares each row's start a
    multiple of 8 (read one element a load until 2026-12-07). Against class probabilities
    the loop reads them at the logits' offsets, vectors too: two loads for 8 elements."""
    done = _offline("benchmarks/cross_entropy_probe.py", "--offline")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    for classes, design, per_load in ((50257, "looped", 8), (50264, "looped", 8),
                                      (50257, "looped soft", 4)):  # fmt: skip
        found = re.search(
            rf"{classes}, {design}: cross_entropy_kernel: \d+ registers, 0 B spilled; its loop's "
            r"iteration: [\d.]+ instructions an element, ([\d.]+) MUFU, (\d+) elements a load",
            done.stdout,
        )
        assert found and float(found[1]) == 1.0 and found[2] == str(per_load), done.stdout


def test_host_cost_offline_times_the_launcher_without_a_gpu() -> None:
    done = _offline(
        "benchmarks/host_cost.py", "--offline", "scale", "--rounds", "1", "--depths", "4"
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    # two tiers: fast launches and replays into a stub launcher, and Triton's dispatch
    found = re.search(r"^scale +([\d.]+) \(.*\) +([\d.]+) \(", done.stdout, re.M)
    assert found and all(0 < float(found[i]) < 10_000 for i in (1, 2)), done.stdout
    # and each again at 4 call depths in a row, without headroom on the frame stack
    swept = re.findall(
        r"^  (triton|triton-dispatch): [\d.]+ us at most depths; \d of 4 ", done.stdout, re.M
    )
    assert swept == ["triton", "triton-dispatch"], done.stdout


def test_a_replay_sends_the_launches_of_a_full_call_offline() -> None:
    """tests/replay_offline.py: kernels compiled for sm_90, the CUDA launcher recording,
    a replayed call sends what a call planned in full sends: conv2d on the TMA designs in
    every memory format of x and the filters (the NCHW ones through temporaries, the
    channels-last copies, each made anew in the layout the full call makes it in),
    layer_norm's and rms_norm's backward on each GPU design (its partial sums through
    temporaries; rms_norm's kernels given no mean), the
    row-wise ops on each of their designs (split rows' counters zeroed by a launch), and
    the other replayed launchers, matmul and attention through descriptors too, and
    cross_entropy's forward (whole and streamed rows, then the reduce) and backward with
    class weights and without, and against class probabilities."""
    done = _offline("tests/replay_offline.py")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    cases = re.findall(r"^(.+?): (same|DIFFERENT) \((\d+) launch", done.stdout, re.M)
    assert len(cases) == 53, done.stdout
    assert all(verdict == "same" for _, verdict, _ in cases), done.stdout
    # NCHW x and filters: one launch copies both (PAIRED_COPIES), one computes the product
    assert int(cases[0][2]) == 2, done.stdout
    assert "tma-" in done.stdout, done.stdout  # matmul's TMA design was replayed
    # the backward's two passes: the row sums, the tiles, the sums of the partial sums
    assert ("layer_norm.grad weight=True", "same", "3") in cases, done.stdout
    assert ("rms_norm.grad weight=True", "same", "3") in cases, done.stdout
    # split rows: the counters' zeroing, then the split kernel
    assert ("softmax split", "same", "2") in cases, done.stdout
    assert ("add_row_sum walker", "same", "1") in cases, done.stdout
    assert ("cross_entropy looped weight=True", "same", "2") in cases, done.stdout


def test_precompile_compiles_the_kept_configs_at_once_offline() -> None:
    """tests/precompile_offline.py (harness.autotune.precompile): an autotuned kernel's
    configs the pruning keeps compile in pool threads, once each, into the JIT
    function's cache, each config's pre-hook first; a second precompile finds them
    compiled."""
    done = _offline("tests/precompile_offline.py")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "ok: 3 of 4 configs compiled in the pool" in done.stdout, done.stdout


def test_stage_two_launched_early_waits_for_stage_one_offline() -> None:
    """layer_norm_backward's stage two launched early (`kernels._rows.early_launch`):
    compiled for sm_90 with a programmatic dependent launch, it waits for stage one
    (griddepcontrol.wait) before it reads a partial sum; launched in order, it does not."""
    script = """
import torch
from benchmarks.compile_offline import _offline
_offline(90, measure=False)
from kernels._rows import _sum_chunks_kernel
parts = torch.zeros(8, 64)
for early in (True, False):
    kernel = _sum_chunks_kernel[(4, 2)](
        parts, parts, parts[0], parts[1], 8, 64, 64, BLOCK_CHUNKS=8, BLOCK_N=16, EARLY=early,
        num_warps=4, **({"launch_pdl": True} if early else {}),
    )
    ptx = kernel.asm["ptx"]
    waits = ptx.find("griddepcontrol.wait")
    first_load = ptx.find("ld.global")
    print(early, kernel.metadata.launch_pdl, waits >= 0 and waits < first_load, waits >= 0)
"""
    done = _offline("-c", script)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["True True True True", "False False False False"], (
        done.stdout
    )


def test_a_spill_past_the_baseline_fails_and_other_changes_are_noted() -> None:
    """compile_offline's `compare`: a kernel spilling more than the baseline says (or
    spilling where the baseline does not name it) fails its line; fewer spills and a
    change of registers are notes; a line the baseline lacks is not compared."""
    from benchmarks.compile_offline import compare

    baseline = {"gemm float16": {"gemm_kernel": (168, 0, 0), "copy_kernel": (32, 64, 64)}}
    failures, notes = compare(
        {
            "gemm float16": {
                "gemm_kernel": (255, 96, 96),
                "copy_kernel": (32, 0, 0),
                "new_kernel": (40, 8, 8),
            },
            "other float32": {"gemm_kernel": (255, 4096, 4096)},
        },
        baseline,
    )
    assert failures == [
        "gemm float16: gemm_kernel spills 96 B, 0 B before",
        "gemm float16: new_kernel spills 8 B, 0 B before",
    ]
    assert notes == [
        "gemm float16: copy_kernel spills 0 B, 64 B before",
        "gemm float16: gemm_kernel takes 255 registers, 168 before",
    ]
    assert compare(baseline, baseline) == ([], [])


def test_compile_offline_saves_a_baseline_and_compares_with_it(tmp_path: Path) -> None:
    """--save writes each line's kernels; --baseline compares a run with it (a changed
    register count is noted, nothing fails); a baseline made by another Triton is refused
    before anything compiles, naming both."""
    import json

    saved = tmp_path / "baseline.json"
    args = ("benchmarks/compile_offline.py", "vector_add", "--dtype", "float16")
    done = _offline(*args, "--save", str(saved))
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    baseline = json.loads(saved.read_text())
    line = baseline["lines"]["vector_add (as launched) float16"]
    regs, spills, _ = line["vector_add_kernel"]
    assert regs > 0 and spills == 0, baseline

    line["vector_add_kernel"][0] = regs + 1
    saved.write_text(json.dumps(baseline))
    done = _offline(*args, "--baseline", str(saved))
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert f"takes {regs} registers, {regs + 1} before" in done.stdout, done.stdout

    baseline["triton"] = "0.0.1"
    saved.write_text(json.dumps(baseline))
    done = _offline(*args, "--baseline", str(saved))
    assert done.returncode != 0 and "'triton': '0.0.1'" in done.stderr, done.stderr[-2000:]
    assert "vector_add_kernel" not in done.stdout, done.stdout


def test_a_config_two_ops_share_keeps_both_ops_kernels_in_the_baseline(tmp_path: Path) -> None:
    """The row designs are one config to add_row_sum and softmax (and cross_entropy): the
    saved line holds each op's kernels, not the last op's alone (before, softmax's line
    replaced add_row_sum's, whose kernels then had no baseline)."""
    import json

    saved = tmp_path / "baseline.json"
    done = _offline(
        "benchmarks/compile_offline.py", "add_row_sum", "softmax", "--dtype", "float32",
        "--config=split", "--first", "--save", str(saved),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    line = json.loads(saved.read_text())["lines"]["rows/split/gpu float32"]
    assert {"add_row_sum_split_kernel", "softmax_split_kernel"} <= set(line), line


def test_offline_launches_are_planned_with_the_gpus_constants() -> None:
    """Compiled for sm_90 on CPU tensors, a softmax row of 2000 columns is planned as the
    GPU plans it (whole rows up to 32768), not as the interpreter would (looped past 1024):
    what the offline lines compile is what a GPU launches."""
    script = (
        "import torch\n"
        "from benchmarks.sass_loop import compile_only\n"
        "from kernels import _plans\n"
        "from kernels.softmax import softmax\n"
        "compiled = compile_only(90)\n"
        "with _plans.recording() as launched:\n"
        "    softmax(torch.randn(4, 2000))\n"
        "print(launched, [name for name, _ in compiled])\n"
    )
    done = _offline("-c", script)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "['rows/whole/gpu'] ['softmax_kernel']" in done.stdout, done.stdout
