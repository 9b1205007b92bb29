"""Outputs with no rounding in them (`harness.tolerance.exact`): a mask, an index, a copy,
held to equality with the oracle in any dtype, NaN where the oracle has NaN."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from harness import Case, ErrorModel, Inputs, Op
from harness.compare import run_case
from harness.modes import device_for
from harness.tensors import make_tensor
from harness.tolerance import exact


def _inputs(case: Case, device, gen) -> Inputs:
    """x, with NaN in its third row where the case asks for it."""
    x = make_tensor(case.shape, case.dtype, device, gen)
    if case.params.get("nan"):
        x[2] = float("nan")
    return Inputs((x,))


def _honest(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (x > 0), x.clone()


SIGN_AND_COPY = Op(
    name="positive_and_copy",
    numpy_ref=lambda x: (x > 0, x),
    torch_ref=_honest,
    kernel=_honest,
    make_inputs=_inputs,
    cases=None,
    error_model=ErrorModel(outputs=[exact("positive"), exact("copy")]),
)


def _run(op: Op, harness_state, **params):
    case = Case(op.name, "float16", (5, 7), params, seed=3)
    return run_case(op, case, harness_state.mode, device_for(harness_state.mode), __name__)


def test_equal_outputs_pass_and_nan_equals_nan(harness_state):
    for params in ({}, {"nan": True}):
        result = _run(SIGN_AND_COPY, harness_state, **params)
        assert result.ok, result.report()
        assert "ok, equal to the oracle's" in result.report()


@pytest.mark.parametrize("which", [0, 1])
def test_one_element_off_fails_and_the_report_names_it(which, harness_state):
    def off_by_one(x):
        outputs = [x > 0, x.clone()]
        outputs[which][3, 4] = ~outputs[which][3, 4] if which == 0 else outputs[which][3, 4] + 1
        return tuple(outputs)

    result = _run(dataclasses.replace(SIGN_AND_COPY, kernel=off_by_one), harness_state)
    verdict = result.verdict("kernel")[which]
    assert not result.ok and not verdict.ok and verdict.n_bad == 1
    report = result.report()
    assert "1 of 35 elements differ from the oracle's (an exact output), the first at (3, 4)" in (
        report
    )
    assert "first differing element (3, 4)" in report and "exact: every element equal" in report


def test_a_nan_where_the_oracle_has_a_number_fails(harness_state):
    def unwritten(x):
        copy = x.clone()
        copy[0, 0] = float("nan")
        return x > 0, copy

    result = _run(dataclasses.replace(SIGN_AND_COPY, kernel=unwritten), harness_state)
    assert not result.ok and result.verdict("kernel")[1].n_bad == 1


def test_an_integer_output_without_an_exact_model_is_refused(harness_state):
    op = dataclasses.replace(SIGN_AND_COPY, error_model=ErrorModel())
    report = _run(op, harness_state).report()
    assert "not a floating dtype the policy knows" in report
    assert "harness.tolerance.exact" in report


def test_an_exact_bound_allows_nothing_in_any_dtype(harness_state):
    result = _run(SIGN_AND_COPY, harness_state)
    for verdict in result.verdict("kernel"):
        assert verdict.bound.exact and verdict.bound.allowed(1.0, 1.0) == 0.0
    assert [v.bound.out_dtype for v in result.verdict("kernel")] == ["bool", "float16"]
