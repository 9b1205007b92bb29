"""add_row_sum: out = x + x.sum(dim=-1, keepdim=True) (rows of any length)."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from harness import Case, ErrorModel, Inputs, Op, strategies
from harness.dtypes import to_torch
from harness.error_models import row_sum
from kernels import _rows
from kernels.add_row_sum import add_row_sum
from ops._one_tensor import bad_x_inputs, make_x, read_once_write_once
from ops._rowwise import (
    ROW_BENCH_CASES,
    ROW_EXAMPLES,
    row_configs,
    row_lanes,
    row_length,
    row_shapes,
)
from references.add_row_sum import add_row_sum_numpy, add_row_sum_torch


def _cases(budget):
    return strategies.with_params(row_shapes(budget), specials=st.booleans())


def _inputs(case: Case, device, gen) -> Inputs:
    # A float32 sum of n terms cannot overflow below max / n: the wide profile stays there.
    limit = torch.finfo(to_torch(case.dtype)).max / (row_length(case) + 1)
    return Inputs((make_x(case, device, gen, limit),))


# out = fl(x + S): the sum S of n terms, then one float32 add (steps = 1), then the final
# rounding. (The PyTorch tier computes in float32 too: see references/add_row_sum.py.)
ADD_ROW_SUM_MODEL = ErrorModel(outputs=[row_sum("out", lanes=row_lanes)])

ADD_ROW_SUM = Op(
    name="add_row_sum",
    numpy_ref=add_row_sum_numpy,
    torch_ref=add_row_sum_torch,
    kernel=add_row_sum,
    make_inputs=_inputs,
    cases=_cases,
    examples=[*ROW_EXAMPLES, ((7, 33), {"specials": True})],
    error_model=ADD_ROW_SUM_MODEL,
    bad_inputs=bad_x_inputs,
    flops=lambda case: 2 * math.prod(case.shape),  # one add into the sum, one add out
    bytes=read_once_write_once,
    bench_cases=ROW_BENCH_CASES,
    values=("normal", "offset", "large", "wide", "positive", "ties", "tiny"),
    configs=row_configs(designs=_rows.SPLIT_ROW_DESIGNS),
)
