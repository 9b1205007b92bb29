"""The generic tests every registered op gets. Subclass `OpTests` and set `ops`:

    class TestMyOps(OpTests):
        ops = Registry([MY_OP], module=__name__)

The plugin parametrizes each test over the registry's ops (and dtypes), marking what
the current mode cannot run as skipped or strictly expected to fail.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import re
import warnings
import weakref

import numpy as np
import pytest
import torch

from harness.compare import build_inputs, oracle_and_conditions, run_case
from harness.dtypes import FLOAT_DTYPES, to_torch
from harness.modes import device_for
from harness.op import Budget, Case, Op, Registry
from harness.runner import CaseFailure, check_op
from harness.tensors import changed, snapshot
from harness.tolerance import TIGHTNESS, TIGHTNESS_16BIT

CONFIG_EXAMPLES = {"gpu": 3, "interpret": 2, "parity": 2}
"""Drawn cases per launch config, after the op's pinned examples that fit CONFIG_BUDGET,
per mode: the interpreter runs a GPU table's large tiles at seconds a case (the plane
and pixels x filters depthwise configs of conv2d took 76 s of the suite's 500 on 2
cores), and the differential tests draw the many cases there."""
CONFIG_BUDGET = Budget("interpret", scale=1 / 4, rows=16)
"""Cases for the config axis: 4096 elements, 16 rows at most, in both modes. A forced
config runs where the mode would not pick it (the GPU's 16-column reductions, or one
program per row, in the interpreter), so its cases are kept small."""


class ReferenceWarning(UserWarning):
    """The PyTorch tier missed its bound on a case the kernel passed."""


def _marks(op: Op, mode: str, dtype: str) -> list[pytest.MarkDecorator]:
    if not op.supports(mode, dtype):
        return [pytest.mark.skip(reason=f"{op.name} does not support {dtype} in {mode} mode")]
    lim = op.limitation(mode, dtype)
    if lim is None:
        return []
    if lim.xfail:
        return [pytest.mark.xfail(strict=True, raises=CaseFailure, reason=lim.reason)]
    return [pytest.mark.skip(reason=lim.reason)]


def _config_marks(op: Op, mode: str, dtype: str, config: str) -> list[pytest.MarkDecorator]:
    reason = op.configs.excluded(config, dtype)
    if reason is not None:
        return [pytest.mark.skip(reason=f"{config} on {dtype}: {reason}")]
    return _marks(op, mode, dtype)


def parametrize(metafunc: pytest.Metafunc, registry: Registry, mode: str, shards: int = 1) -> None:
    if "config" in metafunc.fixturenames:
        params = [
            pytest.param(
                op,
                dtype,
                config,
                id=f"{name}-{dtype}-{config}",
                marks=_config_marks(op, mode, dtype, config),
            )
            for name, op in registry.items()
            if op.configs is not None
            for dtype in FLOAT_DTYPES
            for config in op.configs.names
        ]
        none = pytest.param(*[None] * 3, marks=pytest.mark.skip(reason="no launch configs"))
        metafunc.parametrize(("op", "dtype", "config"), params or [none])
    elif "shard" in metafunc.fixturenames:
        params = [
            pytest.param(
                op,
                dtype,
                (k, shards) if shards > 1 else None,
                id=f"{name}-{dtype}" + (f"-shard{k + 1}of{shards}" if shards > 1 else ""),
                marks=_marks(op, mode, dtype),
            )
            for name, op in registry.items()
            for dtype in FLOAT_DTYPES
            for k in range(shards)
        ]
        metafunc.parametrize(("op", "dtype", "shard"), params)
    elif "dtype" in metafunc.fixturenames:
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

    def test_differential(self, op: Op, dtype: str, shard, harness_state) -> None:
        """The kernel and the PyTorch tier match the float64 oracle on drawn cases (one
        shard of them with --triton-shards)."""
        st = harness_state
        summary = check_op(op, dtype, st.mode, self.ops.module, st.budget, shard=shard)
        for text in dict.fromkeys(summary.warnings):
            warnings.warn(ReferenceWarning(text), stacklevel=1)

    def test_configs(self, op: Op, dtype: str, config: str, harness_state) -> None:
        """Each launch config the op declares runs, forced, on the op's pinned examples
        and drawn cases of CONFIG_BUDGET's size, in this mode; and the kernel really
        launched it (a config its launcher ignores is not tested at all)."""
        st = harness_state
        fitting = [
            (shape, params)
            for shape, params in op.examples
            if math.prod(shape) <= CONFIG_BUDGET.numel
            and math.prod(shape[:-1]) <= (CONFIG_BUDGET.rows or math.inf)
        ]
        small = dataclasses.replace(op, examples=fitting)
        with op.configs.force(config), op.configs.record() as launched:
            try:
                drawn = CONFIG_EXAMPLES[st.mode]
                check_op(small, dtype, st.mode, self.ops.module, CONFIG_BUDGET, drawn)
            except CaseFailure as failure:
                raise CaseFailure(f"with launch config {config!r} forced:\n{failure}") from None
        assert config in launched, (
            f"{op.name}: config {config} never launched when forced (launched: "
            f"{', '.join(sorted(set(launched))) or 'nothing'})"
        )

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

    def test_keeps_nothing(self, op: Op, harness_state) -> None:
        """A call of the kernel keeps no reference to the tensors it was given or
        returned: once the caller drops them, they are freed. A launcher's cache keyed on
        its arguments (a memo of a function of tensors) keeps every call's operands and
        outputs alive, and a loop of calls runs out of memory (matmul's did: a memo on
        its TMA route filled the H200's 139 GiB within a float32 benchmark table)."""
        mode = harness_state.mode
        dtype = next(d for d in FLOAT_DTYPES if op.supports(mode, d))
        shape, params = op.examples[0]
        case = Case(op.name, dtype, tuple(shape), dict(params), seed=0)
        inputs = build_inputs(op, case, device_for(mode))
        given = [*inputs.args, *inputs.kwargs.values()]
        for _ in range(2):  # the first call may tune, compile or capture a replay
            outputs = op.kernel(*inputs.args, **inputs.kwargs)
        returned = list(outputs) if isinstance(outputs, tuple) else [outputs]
        kept = {
            f"{what} {j}": weakref.ref(t)
            for what, tensors in (("argument", given), ("output", returned))
            for j, t in enumerate(tensors)
            if isinstance(t, torch.Tensor)
        }
        del inputs, given, outputs, returned
        gc.collect()
        alive = [name for name, ref in kept.items() if ref() is not None]
        assert not alive, f"{op.name}: still referenced after the call: {', '.join(alive)}"

    def test_part(self, op: Op, harness_state) -> None:
        """The op's `Part` (what a benchmark-size check judges) is independent of the rest:
        on each pinned example it cuts, the oracle and the conditions of the part's inputs
        are the part of the whole's, and the kernel passes judged on the part. At least one
        pinned example must be cut, or the part is never tested."""
        if op.part is None:
            pytest.skip(f"{op.name} declares no part")
        mode = harness_state.mode
        dtype = next(d for d in FLOAT_DTYPES if op.supports(mode, d))
        cut = 0
        for shape, params in op.examples:
            case = Case(op.name, dtype, tuple(shape), dict(params), seed=0)
            part = op.part(case)
            if part is None:
                continue
            cut += 1
            inputs = build_inputs(op, case, "cpu")
            whole = oracle_and_conditions(op, case, inputs)
            alone = oracle_and_conditions(op, part.case, part.inputs(inputs))
            for what, of_whole, of_part in zip(("oracle", "condition"), whole, alone, strict=True):
                for j, (w, p) in enumerate(zip(part.outputs(of_whole), of_part, strict=True)):
                    np.testing.assert_allclose(
                        p, w, rtol=1e-12, equal_nan=True,
                        err_msg=f"{case.describe()}: the {what} of output {j} on {part.label}",
                    )  # fmt: skip
            result = run_case(op, case, mode, device_for(mode), self.ops.module, part=part)
            assert result.kernel_ok, result.report()
        assert cut, f"{op.name}: no pinned example is cut by its part: add one"

    def test_torch_bench(self, op: Op, harness_state) -> None:
        """The PyTorch call the benchmarks time against the kernel (`Op.torch_bench`)
        computes the op: on each pinned float32 example it passes as the kernel must,
        against the oracle within the kernel's bound (it runs at the kernel's precision).
        A speedup over a call that computes something else means nothing."""
        if op.torch_bench is None:
            pytest.skip(f"{op.name}'s benchmarks time its torch_ref")
        mode = harness_state.mode
        if mode == "parity":
            pytest.skip("parity compares a kernel's two modes; a PyTorch call has one")
        dtype = "float32"
        if not op.supports(mode, dtype) or op.limitation(mode, dtype):
            pytest.skip(f"{op.name} does not run {dtype} in {mode} mode")
        as_kernel = dataclasses.replace(op, kernel=op.torch_bench)
        for shape, params in op.examples:
            case = Case(op.name, dtype, tuple(shape), dict(params), seed=0)
            result = run_case(as_kernel, case, mode, device_for(mode), self.ops.module)
            assert result.kernel_ok, f"{op.name}'s torch_bench:\n{result.report()}"

    def test_tolerance_policy(self, op: Op, dtype: str, harness_state) -> None:
        """The bound is tight enough to mean something, on the pinned examples:
        - a kernel returning zeros, or a constant, fails wherever the oracle varies;
        - the PyTorch tier meets the bound on every pinned example (drawn cases only warn
          when it does not): a wrong reference, or a model that misses what PyTorch
          does, fails here;
        - the bound is not far above PyTorch's error (see `tightness`)."""
        mode = harness_state.mode
        device = device_for(mode)
        tried = 0
        used: dict[tuple[str, str], list[float]] = {}
        for shape, params in op.examples:
            case = Case(op.name, dtype, tuple(shape), dict(params), seed=0)
            honest = run_case(op, case, mode, device, self.ops.module)
            assert all(v.ok for v in honest.verdict("torch")), (
                f"the PyTorch tier misses the bound on a pinned example:\n{honest.report()}"
            )
            for j, ratio in enumerate(_against_kernel_bound(honest)):
                if ratio > 0:  # PyTorch was not exact: the example says something
                    bound = honest.verdict("kernel")[j].bound
                    used.setdefault((bound.output, bound.out_dtype), []).append(ratio)
            rounded = [
                o
                if v.bound.exact
                else torch.from_numpy(o).to(to_torch(v.bound.out_dtype)).double().numpy()
                for o, v in zip(honest.values["oracle"], honest.verdict("torch"), strict=True)
                if v.bound is not None
            ]
            if not any(_varies(o) for o in rounded):
                continue  # a constant is right here (as the output dtype rounds the oracle)
            for fill in ("zeros", "mean"):
                mutant = dataclasses.replace(op, kernel=_constant_like(op, case, device, fill))
                result = run_case(mutant, case, mode, device, self.ops.module)
                assert not result.kernel_ok, f"a {fill} kernel passed on {case.describe()}"
            tried += 1
        problems = tightness(used)
        assert not problems, (
            f"{op.name}[{dtype}]: the model is loose: " + "; ".join(problems) + " (a sum "
            "whose kernel declares no lanes is bounded for any order of summation: see "
            "harness.error_models.TL_SUM_LANES)"
        )
        if not tried:
            pytest.skip(f"{op.name} has no pinned example where PyTorch's result varies")


def _against_kernel_bound(result) -> list[float]:
    """PyTorch's worst error over the bound the *kernel* is held to, per output: how much
    of the kernel's allowance a correct implementation uses (0: says nothing)."""
    ratios = []
    torch_verdicts = result.verdict("torch")
    for j, v in enumerate(result.verdict("kernel")):
        ref, got = result.values["oracle"][j], result.values["torch"][j]
        both = np.isfinite(ref) & np.isfinite(got)
        # A kernel that converts its operands (tf32) where PyTorch does not is allowed
        # that error, which PyTorch's exact products never use: they say nothing here.
        converts = v.bound is not None and v.bound.operands and not torch_verdicts[j].bound.operands
        if v.bound is None or v.bound.exact or not both.any() or converts:
            ratios.append(0.0)
            continue
        allowed = v.bound.allowed(ref[both], result.conditions[j][both])
        ratios.append(float((np.abs(got[both] - ref[both]) / allowed).max()))
    return ratios


def _varies(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 1 and np.ptp(finite) > 0


def tightness(used: dict[tuple[str, str], list[float]]) -> list[str]:
    """Where the kernel's bound is far above PyTorch's error. `used` holds, per output (its
    name and dtype), PyTorch's worst error over the kernel's bound on each pinned example
    where PyTorch was not exact.

    16-bit outputs: the final rounding dominates a tight bound, and PyTorch's result is
    rounded too, so its worst element uses about half the bound on a typical example. The
    median over the examples must be at least 1/TIGHTNESS_16BIT: a bound that multiplies
    a 16-bit roundoff by the condition (tens of ulps loose on long rows) fails.
    float32 outputs: a worst-case bound on a sum of cancelling terms is far above the
    typical error (sqrt(depth) against depth, the terms' magnitudes against the result),
    so only the best example must use 1/TIGHTNESS of the bound.
    """
    problems = []
    for (name, dtype), ratios in used.items():
        if dtype == "float32":
            if max(ratios) < 1 / TIGHTNESS:
                problems.append(f"{name}: PyTorch uses at most {max(ratios):.3g} of the bound")
        elif float(np.median(ratios)) < 1 / TIGHTNESS_16BIT:
            problems.append(
                f"{name}: PyTorch uses a median {float(np.median(ratios)):.3g} of the bound"
            )
    return problems


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
