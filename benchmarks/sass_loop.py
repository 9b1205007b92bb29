"""A forced design compiled for an NVIDIA target without a GPU, read as SASS: its
registers, spills and shared memory, and the instructions of each outermost loop (a
walk's body: the block from a backward branch's target to the branch) by opcode. The
offline figures of benchmarks/depthwise_tuning.md and layer_norm_tuning.md's walkers are
its output.

    PYTHONPATH=. python benchmarks/sass_loop.py --shape 32,256,56,7,1 \
        --design conv2d/plane-8x64x8-r2-t7-w1-s1/gpu [--design ...] [--dtype float16] [--arch 90]
    PYTHONPATH=. python benchmarks/sass_loop.py --shape 4096,16384 \
        --design layer_norm_backward/walker_halves/gpu

A shape is the design family's problem: depthwise conv2d's N,C,HW,R,STRIDE (each design
on x in its layout: channels-last for the pixels x filters kernel, as
benchmarks/depthwise_probe.py), layer_norm_backward's ROWS,COLS (its planner told the
target's SMs and shared memory). Through benchmarks/compile_offline.py's stand-in driver;
`cuobjdump` (shipped with Triton) turns the cubin into SASS. A design that does not apply
says which one ran instead.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any
from unittest import mock

import torch
import triton

from benchmarks.compile_offline import SHARED_MEMORY, _offline, _resources
from benchmarks.depthwise_probe import problem_shape, reads_channels_last
from benchmarks.vendor import set_constant

_INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)")
_BRANCH = re.compile(
    r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?BRA\s+(?:`\(\.L_\w+\)\s*)?0x([0-9a-f]+)"
)
MULTIPROCESSORS = {90: 132, 80: 108}
"""SMs of the target's GPU as layer_norm_backward's planner sees it (the H100 and H200 SXM;
the A100)."""


def compile_only(arch: int) -> list[tuple[str, Any]]:
    """From here on, every launch is compiled for sm_`arch` by benchmarks/compile_offline.py's
    stand-in driver and not run, and CPU tensors pass the launchers' device checks. Returns
    the list each launch appends (kernel name, compiled kernel) to."""
    from triton.runtime.jit import JITFunction

    import kernels._checks as checks
    import kernels._launch  # noqa: F401  (its JITFunction.run is Triton's, replaced below)

    _offline(arch, measure=False)
    checks.compile_for_gpu_on_cpu()  # CPU tensors pass the device checks; the GPU's plans
    compiled: list[tuple[str, Any]] = []
    run = JITFunction.run

    def kept(self: Any, *a: Any, **k: Any) -> Any:
        kernel = run(self, *a, **k)
        compiled.append((self.__name__, kernel))
        return kernel

    JITFunction.run = kept
    return compiled


def sass(cubin: bytes) -> str:
    """The SASS of a cubin, by the cuobjdump Triton ships."""
    tool = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        return subprocess.run(
            [tool, "-sass", file.name], capture_output=True, text=True, check=True
        ).stdout


def opcodes(text: str) -> collections.Counter:
    """How many of each opcode SASS `text` has, in all."""
    return collections.Counter(op for _, op in _INSTRUCTION.findall(text))


def loops(text: str) -> list[collections.Counter]:
    """The opcodes of each outermost loop in SASS `text`, in address order: the
    instructions from a backward branch's target to the branch, for each such span that
    no other contains."""
    addresses = [(int(a, 16), op) for a, op in _INSTRUCTION.findall(text)]
    spans = sorted(
        (int(t, 16), int(a, 16)) for a, t in _BRANCH.findall(text) if int(t, 16) < int(a, 16)
    )
    outermost = [
        (first, last)
        for first, last in spans
        if not any(a <= first and last <= b and (a, b) != (first, last) for a, b in spans)
    ]
    return [
        collections.Counter(op for address, op in addresses if first <= address <= last)
        for first, last in outermost
    ]


def _depthwise(shape: str, design: str, dtype: torch.dtype, arch: int) -> Callable[[], Any]:
    """conv2d, depthwise, on the problem N,C,HW,R,STRIDE with x in the design's layout."""
    from kernels.conv2d import conv2d

    n, c, hw, r, stride = problem_shape(shape)
    x = torch.randn(n, c, hw, hw, dtype=dtype)
    w = torch.randn(c, 1, r, r, dtype=dtype)
    if reads_channels_last(design):
        x = x.contiguous(memory_format=torch.channels_last)
    return lambda: conv2d(x, w, None, stride, r // 2, 1, c)


def _layer_norm_backward(
    shape: str, design: str, dtype: torch.dtype, arch: int
) -> Callable[[], Any]:
    """layer_norm_backward on ROWS,COLS, planned for the target: the planner's device
    queries answered with its SMs and shared memory (CPU tensors have none)."""
    import kernels.layer_norm as ln
    import kernels.layer_norm_tuned as tuned

    rows, cols = (int(v) for v in shape.split(","))
    x, dy = torch.randn(rows, cols, dtype=dtype), torch.randn(rows, cols, dtype=dtype)
    w, b = torch.randn(cols, dtype=dtype), torch.randn(cols, dtype=dtype)
    mean, rstd = torch.zeros(rows), torch.ones(rows)

    def call() -> Any:
        with (
            mock.patch.object(tuned, "interpreting", lambda: False),
            mock.patch.object(tuned, "_sm_count", lambda index: MULTIPROCESSORS[arch]),
            mock.patch.object(tuned, "_shared_memory", lambda index: SHARED_MEMORY[arch]),
        ):
            return ln.layer_norm_backward(dy, x, mean, rstd, w, b)

    return call


def _rows(shape: str, design: str, dtype: torch.dtype, arch: int) -> Callable[[], Any]:
    """softmax on ROWS,COLS (the row-wise family's kernels: kernels._rows plans them)."""
    import kernels._rows as rows
    from kernels.softmax import softmax

    n_rows, n_cols = (int(v) for v in shape.split(","))
    x = torch.randn(n_rows, n_cols, dtype=dtype)

    def call() -> Any:
        with mock.patch.object(rows, "multiprocessors", lambda device: MULTIPROCESSORS[arch]):
            return softmax(x)

    return call


PROBLEMS = {"conv2d": _depthwise, "layer_norm_backward": _layer_norm_backward, "rows": _rows}
"""Each design family's problem: (shape, design, dtype, arch) -> a call that launches it."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape",
        action="append",
        required=True,
        help="N,C,HW,R,STRIDE (conv2d) or ROWS,COLS (layer_norm_backward, rows: softmax)",
    )
    parser.add_argument(
        "--design",
        action="append",
        required=True,
        help=f"<family>/<name>/gpu, family one of {', '.join(PROBLEMS)}",
    )
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODULE.NAME=VALUE",
        help="set a launch constant first (kernels._rows.LOOP_BLOCK=16384); repeatable",
    )
    args = parser.parse_args(argv)
    for design in args.design:
        if design.split("/")[0] not in PROBLEMS:
            parser.error(f"--design {design!r}: expected a family of {', '.join(PROBLEMS)}")

    from kernels import _plans

    compiled = compile_only(args.arch)
    for assignment in args.set:
        set_constant(assignment)
    dtype = getattr(torch, args.dtype)
    for shape in args.shape:
        for design in args.design:
            call = PROBLEMS[design.split("/")[0]](shape, design, dtype, args.arch)
            del compiled[:]
            with _plans.forcing(design), _plans.recording() as launched:
                call()
            ran = "" if launched == [design] else f" (ran {launched})"
            for name, kernel in compiled:
                registers, spills, _ = _resources(kernel.asm["ptx"], args.arch)
                print(
                    f"({shape}) {design}{ran}: {registers} registers, {spills} B spilled,"
                    f" {kernel.metadata.shared} B shared [{name}]",
                    flush=True,
                )
                for loop in loops(sass(kernel.asm["cubin"])):
                    mix = ", ".join(f"{op} {k}" for op, k in loop.most_common(10))
                    print(f"  loop of {sum(loop.values())} instructions: {mix}", flush=True)
                    if "BAR" in loop:
                        print(f"    (BAR {loop['BAR']}, SHFL {loop.get('SHFL', 0)})", flush=True)


if __name__ == "__main__":
    main()
