"""add_row_sum: out = x + x.sum(dim=-1, keepdim=True) (rows of any length)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from harness import Case, Inputs, Op, strategies
from kernels.add_row_sum import add_row_sum
from ops._one_tensor import bad_x_inputs, make_x, read_once_write_once
from ops._rowwise import ROW_BENCH_CASES, ROW_EXAMPLES, row_error_model, row_shapes
from references.add_row_sum import add_row_sum_numpy, add_row_sum_torch


def _cases(budget):
    params = st.fixed_dictionaries({"layout": strategies.layouts(), "specials": st.booleans()})
    return st.tuples(row_shapes(budget), params)


def _inputs(case: Case, device, gen) -> Inputs:
    return Inputs((make_x(case, device, gen),))


def _condition(np_args, np_kwargs, oracle):
    # Cancellation in the row sum is judged against what was summed: |x| + sum |x|.
    magnitude = np.abs(np.atleast_1d(np_args[0]))
    return ((magnitude + magnitude.sum(axis=-1, keepdims=True)).reshape(oracle[0].shape),)


ADD_ROW_SUM = Op(
    name="add_row_sum",
    numpy_ref=add_row_sum_numpy,
    torch_ref=add_row_sum_torch,
    kernel=add_row_sum,
    make_inputs=_inputs,
    cases=_cases,
    examples=[*ROW_EXAMPLES, ((7, 33), {"specials": True})],
    error_model=row_error_model(_condition),
    bad_inputs=bad_x_inputs,
    flops=lambda case: 2 * math.prod(case.shape),  # one add into the sum, one add out
    bytes=read_once_write_once,
    bench_cases=ROW_BENCH_CASES,
)
