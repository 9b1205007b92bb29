"""Every launch of every op takes the cheap path on a GPU: `kernels._launch.fast`, with a
key it can build (checked here in Triton's interpreter, on the CPU).

A launch that goes through Triton's own dispatch costs 40-100 us of host time a call on
the H200's host. Two such paths hid for sessions: the TMA matmul kernel left a parameter
to its default, which the fast launch's key generator refused, so every TMA launch fell
back to Triton's dispatch (96-150 us a call, benchmarks/results/2026-12-03c-h200/); and the
backward kernels of layer_norm and attention were launched with plain `kernel[grid]`.
Both are invisible to the correctness suite and to the device-time benchmarks (where a
launch shorter than do_bench's L2 flush hides it). This test catches both kinds on the
CPU: each op's pinned example runs twice (a tuned kernel's first call tunes, through
Triton's autotuner, by design), and the second call's launches must all come through
`fast`, each with a key (`_launch_key`) for a compiled twin of the kernel, and each with
the launch options that Triton compiles with (`kernels._launch.COMPILE_OPTIONS`). Under
every config the op declares, forced, as well as by default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction

from harness.compare import build_inputs
from harness.op import Case
from kernels import _launch
from ops import OPS

_MISSING = object()


class _Launches:
    """The launches of a kernel call, sorted: through `fast` with a key, through `fast`
    without one (a compiled kernel would go through Triton's dispatch), and plain."""

    def __init__(self) -> None:
        self.keyed: list[str] = []
        self.unkeyed: list[str] = []
        self.plain: list[str] = []
        self.unfused: list[str] = []  # compiled without kernels._launch.COMPILE_OPTIONS
        self._inside_fast = False
        self._twins: dict[str, JITFunction] = {}

    @contextlib.contextmanager
    def watching(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        fast, run = _launch._launch_fast, InterpretedFunction.run

        def spied_fast(kernel, grid, args, meta):
            twin = self._twins.setdefault(kernel.__name__, JITFunction(kernel.fn))
            keyed = _launch._launch_key(twin, args, meta) is not None
            (self.keyed if keyed else self.unkeyed).append(kernel.__name__)
            self._inside_fast = True
            try:
                return fast(kernel, grid, args, meta)
            finally:
                self._inside_fast = False

        def spied_run(kernel, *args, **kwargs):
            if not self._inside_fast:
                self.plain.append(kernel.__name__)
            if any(kwargs.get(k, _MISSING) != v for k, v in _launch.COMPILE_OPTIONS.items()):
                self.unfused.append(kernel.__name__)
            return run(kernel, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(torch.cuda, "current_device", lambda: 0)  # _launch_key asks
            patch.setattr(_launch, "_launch_fast", spied_fast)
            patch.setattr(InterpretedFunction, "run", spied_run)
            yield


def _cases() -> list[tuple[str, str | None]]:
    """(op, forced config or None) for every op, its interpreter configs forced too."""
    cases = []
    for name, op in OPS.items():
        cases.append((name, None))
        if op.configs is not None:
            cases += [(name, c) for c in op.configs.names if c.endswith("/interpret")]
    return cases


def _dtype(op) -> str | None:
    """A dtype the op runs in the interpreter without a declared limitation."""
    return next(
        (d for d in ("float32", "bfloat16", "float16")
         if op.supports("interpret", d) and op.limitation("interpret", d) is None),
        None,
    )  # fmt: skip


@pytest.mark.parametrize(("name", "config"), _cases())
def test_every_launch_goes_fast_with_a_key(name, config, harness_state, monkeypatch):
    if harness_state.mode != "interpret":
        pytest.skip("the interpreter's launches stand for the GPU's here")
    op = OPS[name]
    dtypes = [d for d in ("float32", "bfloat16") if _dtype(op) and op.supports("interpret", d)]
    if config is not None:
        dtypes = [d for d in dtypes if not op.configs.excluded(config, d)]
    # The first pinned example (and dtype) that launches a kernel, under the config forced
    # where it applies (an empty input launches nothing).
    for dtype in dtypes:
        for shape, params in op.examples:
            case = Case(name, dtype, tuple(shape), dict(params), seed=0)
            inputs = build_inputs(op, case, "cpu")
            forced = op.configs.force(config) if config else contextlib.nullcontext()
            recorded = op.configs.record() if op.configs else contextlib.nullcontext([])
            tuning = _Launches()
            with forced, recorded as ran, tuning.watching(monkeypatch):
                op.kernel(*inputs.args, **inputs.kwargs)  # a tuned kernel tunes: Triton's way
            if config is not None and config not in ran:
                continue
            launches = _Launches()
            forced = op.configs.force(config) if config else contextlib.nullcontext()
            with forced, launches.watching(monkeypatch):
                op.kernel(*inputs.args, **inputs.kwargs)
            if launches.keyed or launches.unkeyed or launches.plain:
                assert not launches.plain, f"through Triton's dispatch: {launches.plain}"
                assert not launches.unkeyed, f"fast could not key: {launches.unkeyed}"
                unfused = tuning.unfused + launches.unfused
                assert not unfused, f"without COMPILE_OPTIONS: {unfused}"
                return
    if config is None:
        pytest.fail(f"no pinned example of {name} launched a kernel")
    pytest.skip(f"{config} applies to no pinned example")
