"""scale: out = alpha * x (elementwise; any shape; alpha a real number)."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from harness import BadInput, Case, ErrorModel, Inputs, Op, strategies
from harness.tolerance import elementwise
from kernels.scale import BLOCK_SIZE, scale
from ops._one_tensor import bad_tensor_inputs, make_x, read_once_write_once
from references.scale import scale_numpy, scale_torch

# Factors exact in float32 (the kernel's alpha is then the oracle's): plain ones, and
# magnitudes in [2**-10, 2**10] of either sign. Much smaller ones flush a float16 output to
# all zeros, which the engine reads as a constant output.
ALPHAS = st.one_of(
    st.sampled_from((1.0, -1.0, 0.0, 0.5, 2.0, -3.0)),
    st.builds(
        lambda magnitude, negative: -magnitude if negative else magnitude,
        st.floats(2.0**-10, 2.0**10, width=32),
        st.booleans(),
    ),
)


def _cases(budget):
    lengths = strategies.sizes(budget.numel, (BLOCK_SIZE,), allow_empty=True)
    shape = strategies.shapes(budget.numel, lengths, allow_empty=True, max_rows=budget.rows)
    return strategies.with_params(shape, alpha=ALPHAS, specials=st.booleans())


def _inputs(case: Case, device, gen) -> Inputs:
    return Inputs((make_x(case, device, gen), case.params.get("alpha", 2.0)))


def _bad_inputs(device) -> list[BadInput]:
    x = torch.ones(4, 8, device=device)
    return [
        *bad_tensor_inputs(device, lambda t: Inputs((t, 2.0))),
        BadInput("alpha a tensor", Inputs((x, torch.tensor(2.0))), TypeError, r"\balpha\b"),
        BadInput("alpha a string", Inputs((x, "2")), TypeError, r"\balpha\b"),
        BadInput("alpha a bool", Inputs((x, True)), TypeError, r"\balpha\b"),
        BadInput("alpha NaN", Inputs((x, float("nan"))), ValueError, r"\balpha\b.*finite"),
        BadInput("alpha inf", Inputs((x, float("-inf"))), ValueError, r"\balpha\b.*finite"),
        BadInput("alpha past float32", Inputs((x, 1e39)), ValueError, r"\balpha\b.*float32"),
    ]


SCALE = Op(
    name="scale",
    numpy_ref=scale_numpy,
    torch_ref=scale_torch,
    kernel=scale,
    make_inputs=_inputs,
    cases=_cases,
    examples=[
        ((0,), {}),
        ((1,), {"alpha": -3.0}),
        ((BLOCK_SIZE - 1,), {}),
        ((BLOCK_SIZE,), {"alpha": 0.5}),
        ((BLOCK_SIZE + 1,), {"layout": "strided"}),
        ((3, 2 * BLOCK_SIZE + 1), {"layout": "transposed", "alpha": -1.0}),
        ((5, 7), {"specials": True}),
        ((5, 7), {"specials": True, "alpha": 0.0}),
        ((6, 9), {"layout": "padded"}),  # 0 * inf is NaN
    ],
    bad_inputs=_bad_inputs,
    flops=lambda case: math.prod(case.shape),
    bytes=read_once_write_once,
    bench_cases=[((1 << k,), {"alpha": 2.0}) for k in (24, 26, 28)],
    error_model=ErrorModel(outputs=[elementwise("out")]),
    values=("normal", "offset", "large", "wide", "positive", "ties", "tiny"),
)
