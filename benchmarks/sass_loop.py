"""A forced depthwise design compiled for an NVIDIA target without a GPU, read as SASS:
its registers, spills and shared memory, and the instructions of each outermost loop (a
walk's body: the block from a backward branch's target to the branch) by opcode.
The offline figures the depthwise configs' comments cite are its output.

    PYTHONPATH=. python benchmarks/sass_loop.py --shape 32,256,56,7,1 \
        --design conv2d/plane-8x64x8-r2-t7-w1-s1/gpu [--design ...] [--dtype float16] [--arch 90]

Each design runs on the problem's x in its layout (channels-last for the pixels x filters
kernel, as benchmarks/depthwise_probe.py), through
benchmarks/compile_offline.py's stand-in driver; `cuobjdump` (shipped with Triton) turns
the cubin into SASS. A design that does not apply says which one ran instead.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import tempfile
from typing import Any

import torch
import triton

from benchmarks.compile_offline import _offline, _resources
from benchmarks.depthwise_probe import problem_shape, reads_channels_last

_INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)")
_BRANCH = re.compile(
    r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?BRA\s+(?:`\(\.L_\w+\)\s*)?0x([0-9a-f]+)"
)


def sass(cubin: bytes) -> str:
    """The SASS of a cubin, by the cuobjdump Triton ships."""
    tool = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        return subprocess.run(
            [tool, "-sass", file.name], capture_output=True, text=True, check=True
        ).stdout


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=problem_shape, action="append", required=True,
                        help="N,C,HW,R,STRIDE")  # fmt: skip
    parser.add_argument("--design", action="append", required=True, help="conv2d/<name>/gpu")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--arch", type=int, default=90)
    args = parser.parse_args(argv)

    from triton.runtime.jit import JITFunction

    import kernels._checks as checks
    import kernels._launch  # noqa: F401  (its JITFunction.run is Triton's, replaced below)
    from kernels import _plans
    from kernels.conv2d import conv2d

    _offline(args.arch, measure=False)
    checks._INTERPRETING = True  # CPU tensors pass the launchers' device checks
    compiled: list[Any] = []
    compile_only = JITFunction.run

    def kept(self: Any, *a: Any, **k: Any) -> Any:
        kernel = compile_only(self, *a, **k)
        compiled.append(kernel)
        return kernel

    JITFunction.run = kept
    dtype = getattr(torch, args.dtype)
    for n, c, hw, r, stride in args.shape:
        x = torch.randn(n, c, hw, hw, dtype=dtype)
        w = torch.randn(c, 1, r, r, dtype=dtype)
        for design in args.design:
            last = reads_channels_last(design)
            src = x.contiguous(memory_format=torch.channels_last) if last else x
            del compiled[:]
            with _plans.forcing(design), _plans.recording() as launched:
                conv2d(src, w, None, stride, r // 2, 1, c)
            kernel = compiled[-1]
            registers, spills, _ = _resources(kernel.asm["ptx"], args.arch)
            text = sass(kernel.asm["cubin"])
            ran = "" if launched == [design] else f" (ran {launched})"
            print(
                f"{(n, c, hw, r, stride)} {design}{ran}: {registers} registers, {spills} B"
                f" spilled, {kernel.metadata.shared} B shared",
                flush=True,
            )
            for loop in loops(text):
                mix = ", ".join(f"{op} {k}" for op, k in loop.most_common(10))
                print(f"  loop of {sum(loop.values())} instructions: {mix}", flush=True)


if __name__ == "__main__":
    main()
