"""The generic tests every registered op gets. Subclass `OpTests` and set `ops`:

    class TestMyOps(OpTests):
        ops = Registry([MY_OP], module=__name__)

The plugin parametrizes each test over the registry's ops (and dtypes), marking what
the current mode cannot run as skipped or strictly expected to fail.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from harness.compare import build_inputs, run_case
from harness.dtypes import FLOAT_DTYPES, UNIT_ROUNDOFF
from harness.modes import device_for
from harness.op import Case, Op, Registry
from harness.runner import CaseFailure, check_op
from harness.tensors import changed, snapshot
from harness.tolerance import TIGHTNESS


def _marks(op: Op, mode: str, dtype: str) -> list[pytest.MarkDecorator]:
    if not op.supports(mode, dtype):
        return [pytest.mark.skip(reason=f"{op.name} does not support {dtype} in {mode} mode")]
    lim = op.limitation(mode, dtype)
    if lim is None:
        return []
    if lim.xfail:
        return [pytest.mark.xfail(strict=True, raises=CaseFailure, reason=lim.reason)]
    return [pytest.mark.skip(reason=lim.reason)]


def parametrize(metafunc: pytest.Metafunc, registry: Registry, mode: str) -> None:
    if "dtype" in metafunc.fixturenames:
        params = [
            pytest.param(op, dtype, id=f"{name}-{dtype}", marks=_marks(op, mode, dtype))
            for name, op in registry.items()
            for dtype in FLOAT_DTYPES
        ]
        metafunc.parametrize(("op", "dtype"), params)
    else:
        metafunc.parametrize("op", [pytest.param(op, id=n) for n, op in registry.items()])


class OpTests:
    """Differential, bad-input and engine-sanity tests for every op in `ops`."""

    ops: Registry

    def test_differential(self, op: Op, dtype: str, harness_state) -> None:
        """The kernel and the PyTorch tier match the float64 oracle on drawn cases."""
        st = harness_state
        check_op(op, dtype, st.mode, self.ops.module, st.budget)

    def test_bad_inputs(self, op: Op, harness_state) -> None:
        """Each declared bad input raises its error, naming the argument, and leaves
        the inputs untouched."""
        device = torch.device(device_for(harness_state.mode))
        bad_inputs = op.bad_inputs(device)
        if not bad_inputs:
            pytest.skip(f"{op.name} declares no bad inputs")
        problems = []
        for bad in bad_inputs:
            snap = snapshot((bad.inputs.args, bad.inputs.kwargs))
            try:
                op.kernel(*bad.inputs.args, **bad.inputs.kwargs)
            except bad.error as exc:
                if not re.search(bad.match, str(exc)):
                    problems.append(f"{bad.label}: message {str(exc)!r} lacks /{bad.match}/")
            except Exception as exc:  # the wrong kind of error, e.g. from deep in Triton
                problems.append(f"{bad.label}: raised {type(exc).__name__}: {exc}")
            else:
                problems.append(f"{bad.label}: accepted, expected {bad.error.__name__}")
            if changed(snap):
                problems.append(f"{bad.label}: modified its inputs")
        assert not problems, f"{op.name}:\n  " + "\n  ".join(problems)

    def test_tolerance_policy(self, op: Op, dtype: str, harness_state) -> None:
        """The bound is tight enough to mean something, on every pinned example:
        - a kernel returning zeros, or a constant, fails wherever the oracle varies;
        - the bound is at most TIGHTNESS times the worst error of the PyTorch tier
          (or one rounding, where PyTorch is exact): never far looser than PyTorch."""
        mode = harness_state.mode
        device = device_for(mode)
        tried, worst_torch, loosest = 0, 0.0, 0.0
        for shape, params in op.examples:
            case = Case(op.name, dtype, tuple(shape), dict(params), seed=0)
            honest = run_case(op, case, mode, device, self.ops.module)
            for v in honest.verdict("torch"):
                if v.numel:
                    worst_torch, loosest = max(worst_torch, v.max_err), max(loosest, v.rtol)
            if not any(o.size > 1 and np.ptp(o) > 0 for o in honest.values["oracle"]):
                continue
            for fill in ("zeros", "mean"):
                mutant = dataclasses.replace(op, kernel=_constant_like(op, case, device, fill))
                result = run_case(mutant, case, mode, device, self.ops.module)
                assert not result.ok, f"a {fill} kernel passed on {case.describe()}"
            tried += 1
        if not tried:
            pytest.skip(f"{op.name} has no pinned example with a non-constant oracle")
        assert loosest <= TIGHTNESS * max(worst_torch, UNIT_ROUNDOFF[dtype]), (
            f"{op.name}[{dtype}]: the bound {loosest:.3g} is over {TIGHTNESS}x PyTorch's "
            f"worst error {worst_torch:.3g} on the pinned examples"
        )


def _constant_like(op: Op, case: Case, device: str, fill: str):
    def kernel(*args, **kwargs):
        inputs = build_inputs(op, case, device)
        outs = op.torch_ref(*inputs.args, **inputs.kwargs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        fake = tuple(
            torch.zeros_like(o)
            if fill == "zeros"
            else torch.full_like(o, o.float().nanmean().item())
            for o in outs
        )
        return fake if len(fake) > 1 else fake[0]

    return kernel
