"""Compile every GPU launch config of the ops for an NVIDIA target on a machine without a
GPU, and report what each needs: shared memory against the target's limit, registers and
spills per thread, and whether it compiles at all. The GPU's time is scarce; a config
that cannot run there (a float32 D=128 attention tile past 227 KB of shared memory, an
API the target's Triton lacks), or that spills, is found here first.

    PYTHONPATH=. python benchmarks/compile_offline.py [OP ...] [--arch 90] [--dtype D]
                                                      [--config TEXT] [--first]
                                                      [--save FILE] [--baseline FILE]

How: Triton's compiler needs no GPU, only a target. A stand-in driver names the target
(sm_90: the H100 and H200), and `JITFunction.run` is made to compile without launching
(`warmup=True`). Each op's launcher runs on CPU tensors with each GPU config forced, on
every pinned example (shared memory depends on the tiles, the stages, the dtype and the
head or channel sizes; the largest is reported, and each kernel's most registers, spills
and stack, from ptxas -v), counting the launches of the examples that launch the config:
an example planned otherwise launches kernels that are not the config's (another
kernel's tuner, on the stand-in driver, compiles every candidate). Spills, registers
stored to local memory and loaded back, mark a config to fix or drop before it is timed.
The launchers' input checks are told the tensors may live on the CPU; which plan and
which code path they take is the GPU's. Exit status 1 when a config fails to compile or
needs more shared memory than the target has.

A GPU is not needed to see that a change made a kernel spill: `--save FILE` writes what
each line found (shared memory, each kernel's registers, spills and stack), and
`--baseline FILE` compares a run with such a file, made by the same Triton for the same
target: exit status 1 where a kernel spills more than the file says (a kernel it does
not name: none), and a note for each change of registers or of spills down (an
improvement to save). `make compile-check` runs it against
benchmarks/baselines/compile-sm90-triton3.6.json on every CI run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
from typing import Any

SHARED_MEMORY = {90: 232448, 80: 166912, 89: 101376}
"""Largest dynamic shared memory per block (bytes) by compute capability."""


def _offline(arch: int, measure: bool = True) -> list[dict[str, Any]]:
    """Compile instead of launch, for `arch`; returns the list the compiles are logged in
    (with shared memory and `_resources` when `measure`). benchmarks/host_cost.py
    --offline uses it too: a launch's host path, up to the launch itself."""
    from triton.backends.compiler import GPUTarget
    from triton.runtime import driver
    from triton.runtime.jit import JITFunction

    class Target:
        def get_current_device(self) -> int:
            return 0

        def get_current_stream(self, device: int | None = None) -> int:
            return 0

        def get_current_target(self) -> GPUTarget:
            return GPUTarget("cuda", arch, 32)

        def get_benchmarker(self) -> Any:
            """An autotuner left to tune (a forced config of another kernel) compiles each
            of its configs and finds them all equally fast."""

            def bench(fn: Any, quantiles: Any = None, **kwargs: Any) -> Any:
                fn()
                return [1.0] * len(quantiles) if quantiles else 1.0

            return bench

    driver.set_active(Target())
    compiled: list[dict[str, Any]] = []
    run = JITFunction.run

    def compile_only(self: Any, *args: Any, grid: Any, warmup: bool, **kwargs: Any) -> Any:
        kernel = run(self, *args, grid=grid, warmup=True, **kwargs)
        if not measure:
            return kernel
        registers, spills, stack = _resources(kernel.asm["ptx"], arch)
        compiled.append(
            {"kernel": self.__name__, "shared": int(kernel.metadata.shared),
             "usage": (registers, spills, stack)}
        )  # fmt: skip
        return kernel

    JITFunction.run = compile_only
    return compiled


@functools.cache
def _resources(ptx: str, arch: int) -> tuple[int, int, int]:
    """(registers per thread, bytes of spill stores, bytes of stack frame) of a compiled
    kernel: its PTX assembled again by the ptxas Triton uses for `arch`, verbosely. A
    stack frame without spills is a call's (64-bit integer division is a subroutine)."""
    import re
    import subprocess
    import tempfile

    from triton.backends.nvidia.compiler import get_ptxas

    target = re.search(r"^\.target\s+(\w+)", ptx, re.M)
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as file:
        file.write(ptx)
        file.flush()
        report = subprocess.run(
            [get_ptxas(arch).path, "-v", "--gpu-name", target[1] if target else f"sm_{arch}",
             file.name, "-o", os.devnull],
            capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip
    frame = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores", report)
    registers = re.search(r"Used (\d+) registers", report)
    return (
        int(registers[1]) if registers else 0,
        int(frame[2]) if frame else 0,
        int(frame[1]) if frame else 0,
    )


BASELINE_FORMAT = "compile-offline/1"

Usage = dict[str, tuple[int, int, int]]
"""Each kernel's (registers, spill bytes, stack bytes) on one line: a config and a dtype."""


def compare(lines: dict[str, Usage], baseline: dict[str, Usage]) -> tuple[list[str], list[str]]:
    """(failures, notes) of a run's `lines` against a baseline's, line by line where both
    have it: a failure where a kernel spills more than the baseline says (0 for a kernel
    it does not name); a note where its registers changed, or its spills went down."""
    failures, notes = [], []
    for line, usage in lines.items():
        before = baseline.get(line)
        if before is None:
            continue  # a config or dtype the baseline does not have: nothing to compare
        for kernel, (regs, spills, _stack) in sorted(usage.items()):
            old_regs, old_spills, _ = before.get(kernel, (regs, 0, 0))
            if spills > old_spills:
                failures.append(f"{line}: {kernel} spills {spills} B, {old_spills} B before")
            elif spills < old_spills:
                notes.append(f"{line}: {kernel} spills {spills} B, {old_spills} B before")
            if regs != old_regs:
                notes.append(f"{line}: {kernel} takes {regs} registers, {old_regs} before")
    return failures, notes


def _baseline_lines(path: str, header: dict) -> dict[str, Usage]:
    """The lines of the baseline at `path`, after checking that it was made as this run
    is (`header`: Triton's version, the target, --first); else a SystemExit naming both."""
    with open(path) as file:
        saved = json.load(file)
    if saved.get("format") != BASELINE_FORMAT:
        raise SystemExit(f"--baseline {path}: not a {BASELINE_FORMAT} file")
    made = {key: saved.get(key) for key in header}
    if made != header:
        raise SystemExit(
            f"--baseline {path} was made with {made}, this run is {header}: registers and "
            "spills differ between compilers and targets, so they are not compared"
        )
    return {line: {k: tuple(u) for k, u in usage.items()} for line, usage in saved["lines"].items()}


def _baseline_text(header: dict, lines: dict[str, Usage]) -> str:
    """A baseline as JSON, a line of it to each config and dtype (so that a change to one
    reads as one line of a diff)."""
    body = ",\n".join(
        f"  {json.dumps(line)}: {json.dumps(dict(sorted(usage.items())))}"
        for line, usage in sorted(lines.items())
    )
    fields = json.dumps({"format": BASELINE_FORMAT, **header})[1:-1]
    return f'{{{fields},\n "lines": {{\n{body}\n }}\n}}\n'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="OP", help="ops (default: all with configs)")
    parser.add_argument("--arch", type=int, default=90, help="compute capability. Default: 90")
    parser.add_argument("--dtype", action="append", help="dtypes. Default: all three")
    parser.add_argument(
        "--config", action="append", metavar="TEXT",
        help="only the GPU configs whose name holds TEXT (repeatable). Default: all",
    )  # fmt: skip
    parser.add_argument(
        "--first", action="store_true",
        help="each config on the first pinned example it is launched on, not on every one "
        "(a quick check that it compiles; the shared memory is that example's)",
    )  # fmt: skip
    parser.add_argument("--save", metavar="FILE", help="write what each line found, as JSON")
    parser.add_argument(
        "--baseline", metavar="FILE",
        help="fail where a kernel spills more than FILE (made by --save) says",
    )  # fmt: skip
    args = parser.parse_args(argv)

    import triton

    import kernels._checks as checks
    from harness.compare import build_inputs
    from harness.dtypes import FLOAT_DTYPES
    from harness.op import Case
    from kernels import _plans
    from ops import OPS

    header = {"triton": triton.__version__, "arch": args.arch, "first": args.first}
    baseline = _baseline_lines(args.baseline, header) if args.baseline else None
    lines: dict[str, Usage] = {}
    compiled = _offline(args.arch)
    checks.compile_for_gpu_on_cpu()  # CPU tensors pass the device checks; the GPU's plans
    limit = SHARED_MEMORY.get(args.arch)
    failures = 0
    for name in args.names or list(OPS):
        op = OPS[name]
        gpu_configs = [c for c in op.configs.names if c.endswith("/gpu")] if op.configs else []
        if args.config:
            gpu_configs = [c for c in gpu_configs if any(t in c for t in args.config)]
            if not gpu_configs:
                continue  # (not the gradient as launched either: it was not asked for)
        for config in gpu_configs or [None]:  # None: what the launcher picks (a gradient)
            for dtype in args.dtype or FLOAT_DTYPES:
                verdict, shared, usage, where = "", 0, {}, ""
                for example, (shape, params) in enumerate(op.examples):
                    case = Case(name, dtype, tuple(shape), dict(params), seed=0)
                    del compiled[:]
                    try:
                        inputs = build_inputs(op, case, "cpu")
                        forced = op.configs.force(config) if config else contextlib.nullcontext()
                        with forced, _plans.recording() as launched:
                            op.kernel(*inputs.args, **inputs.kwargs)
                    except Exception as exc:  # a compile error, or a config that is refused
                        first = str(exc).splitlines()[0][:160] if str(exc) else ""
                        verdict = f"FAILED on {case.describe()}: {type(exc).__name__}: {first}"
                        break
                    if config and config not in launched:
                        # What an example compiles without launching the config (another
                        # design, another kernel's tuner) is not the config's.
                        continue
                    shared = max([shared, *(c["shared"] for c in compiled)])
                    for c in compiled:  # the most registers, spills and stack of each kernel
                        most = usage.get(c["kernel"], (0, 0, 0))
                        usage[c["kernel"]] = tuple(map(max, most, c["usage"]))
                    if args.first and (config or usage):
                        where = f" (example {example})"
                        break  # (as launched: the first example that launches anything)
                if not verdict and not usage:
                    verdict = "nothing compiled (the config applies to no pinned example)"
                elif not verdict and limit is not None and shared > limit:
                    verdict = (
                        f"FAILED: needs {shared} B of shared memory, sm_{args.arch} has {limit}"
                    )
                failures += verdict.startswith("FAILED")
                kernels = ", ".join(
                    f"{kernel} {regs} regs"
                    + (f" SPILLS {spills} B" if spills else "")
                    + (f" stack {stack} B" if stack else "")
                    for kernel, (regs, spills, stack) in sorted(usage.items())
                )
                label = config or f"{name} (as launched)"
                verdict = verdict or "ok"
                print(f"{label:<36} {dtype:<9} {shared:>7} B  {verdict}  [{kernels}]{where}")
                sys.stdout.flush()
                # A config several ops share (the row designs): each op's kernels, together.
                line = lines.setdefault(f"{label} {dtype}", {})
                for kernel, most in usage.items():
                    line[kernel] = tuple(map(max, line.get(kernel, (0, 0, 0)), most))
    if args.save:
        with open(args.save, "w") as file:
            file.write(_baseline_text(header, lines))
    if baseline is not None:
        spilled, notes = compare(lines, baseline)
        for note in notes:
            print(f"note: {note}")
        for failure in spilled:
            print(f"SPILLS MORE than {args.baseline}: {failure}")
        failures += len(spilled)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
