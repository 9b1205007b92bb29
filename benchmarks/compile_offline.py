"""Compile every GPU launch config of the ops for an NVIDIA target on a machine without a
GPU, and report what each needs: shared memory against the target's limit, registers and
spills per thread, and whether it compiles at all. The GPU's time is scarce; a config
that cannot run there (a float32 D=128 attention tile past 227 KB of shared memory, an
API the target's Triton lacks), or that spills, is found here first.

    PYTHONPATH=. python benchmarks/compile_offline.py [OP ...] [--arch 90] [--dtype D]
                                                      [--config TEXT] [--first]

How: Triton's compiler needs no GPU, only a target. A stand-in driver names the target
(sm_90: the H100 and H200), and `JITFunction.run` is made to compile without launching
(`warmup=True`). Each op's launcher runs on CPU tensors with each GPU config forced, on
every pinned example (shared memory depends on the tiles, the stages, the dtype and the
head or channel sizes; the largest is reported, and each kernel's most registers, spills
and stack, from ptxas -v), counting the launches of the examples that launch the config:
an example planned otherwise launches kernels that are not the config's (another
kernel's tuner, on the stand-in driver, compiles every candidate). Spills, registers stored to local memory and loaded back,
mark a config to fix or drop before it is timed. The launchers' input checks are told the
tensors may live on the CPU; which plan and which code path they take is the GPU's. Exit
status 1 when a config fails to compile or needs more shared memory than the target has.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
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
    args = parser.parse_args(argv)

    import kernels._checks as checks
    from harness.compare import build_inputs
    from harness.dtypes import FLOAT_DTYPES
    from harness.op import Case
    from kernels import _plans
    from ops import OPS

    compiled = _offline(args.arch)
    checks._INTERPRETING = True  # CPU tensors pass the launchers' device checks
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
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
