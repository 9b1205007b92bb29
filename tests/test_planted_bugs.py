"""The planted-bug library (tests/planted_bugs.py): each bug, put in place of the real
kernel, fails the suite's differential check in every dtype where it is really wrong,
and passes where it is not (a check that failed there would be a false alarm).

Each bug runs through `check_op` exactly as `OpTests.test_differential` runs an op: the
op's pinned examples, then drawn cases of interpreter size, in the session's mode. The
report of the first failing case names what caught it (the case, the value profile,
the output and the bound).
"""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from harness import Budget, Registry
from harness.dtypes import FLOAT_DTYPES
from harness.runner import CaseFailure, check_op
from ops import OPS
from tests.planted_bugs import PLANTED

SIXTEEN = ("float16", "bfloat16")

# Where each bug is really wrong; in the other dtypes it is invisible, for the reason
# PLANTED gives (a float32 "16-bit" accumulator is float32).
WRONG_IN: dict[str, tuple[str, ...]] = {
    "add_row_sum_fp16_sequential": SIXTEEN,
    "add_row_sum_fp16_lanes": SIXTEEN,
    "softmax_exp_in_input_dtype": SIXTEEN,
    "softmax_no_max_subtraction": FLOAT_DTYPES,
    "softmax_other_zero": FLOAT_DTYPES,
    "softmax_wrong_row_stride": FLOAT_DTYPES,
    "layer_norm_one_pass_variance": FLOAT_DTYPES,
    "layer_norm_padded_length": FLOAT_DTYPES,
    "add_row_sum_off_by_one": FLOAT_DTYPES,
    "attention_no_rescale": FLOAT_DTYPES,
    "rms_norm_centered": FLOAT_DTYPES,
    "conv2d_same_padding_top": FLOAT_DTYPES,
    "dropout_tutorial": FLOAT_DTYPES,
    "dropout_one_word": FLOAT_DTYPES,
    "dropout_nan_through": FLOAT_DTYPES,
    "dropout_mask_inverted": FLOAT_DTYPES,
    "cross_entropy_no_max": FLOAT_DTYPES,
    "cross_entropy_padding_zero": FLOAT_DTYPES,
    "cross_entropy_smoothing_other_classes": FLOAT_DTYPES,
    "cross_entropy_mean_over_all_rows": FLOAT_DTYPES,
    "cross_entropy_weighted_mean_over_rows": FLOAT_DTYPES,
    "cross_entropy_grad_mean_over_all_rows": FLOAT_DTYPES,
    "cross_entropy_grad_probabilities_summing_to_one": FLOAT_DTYPES,
}

PLANTED_OPS = Registry(
    [
        dataclasses.replace(OPS[op_name], name=name, kernel=launcher, configs=None, backward=None)
        for name, (op_name, launcher, _, _) in PLANTED.items()
    ],
    module=__name__,
)


def test_every_planted_bug_is_listed():
    assert set(WRONG_IN) == set(PLANTED)


def test_a_planted_bug_report_reproduces(harness_state):
    """The command a planted bug's failure prints re-runs that case, from this module
    (which also imports the main table)."""
    from harness.cli import main

    op = PLANTED_OPS["add_row_sum_fp16_sequential"]
    with pytest.raises(CaseFailure) as failure:
        check_op(op, "float16", harness_state.mode, PLANTED_OPS.module, Budget("interpret"))
    command = str(failure.value).split("re-run this case: ")[-1].strip()
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "harness", "repro"]
    assert main(argv[3:]) == 1


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bug(name: str, dtype: str, harness_state) -> None:
    op = PLANTED_OPS[name]
    budget = Budget("interpret")  # whole-row kernels: interpreter-sized rows, either mode
    if dtype in WRONG_IN[name]:
        with pytest.raises(CaseFailure) as failure:
            check_op(op, dtype, harness_state.mode, PLANTED_OPS.module, budget)
        assert f"FAILED {name}[{dtype}]" in str(failure.value)
        assert "re-run this case: python -m harness repro --ops tests.test_planted_bugs" in str(
            failure.value
        )
    else:  # invisible in this dtype (see PLANTED): the honest computation passes
        check_op(op, dtype, harness_state.mode, PLANTED_OPS.module, budget)
