"""vector_add: out = x + y (elementwise; any shape)."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from harness import BadInput, Case, ErrorModel, Inputs, Op, strategies
from harness.dtypes import itemsize
from harness.tensors import add_specials, make_tensor
from harness.tolerance import elementwise
from kernels.vector_add import BLOCK_SIZE, vector_add
from references.vector_add import vector_add_numpy, vector_add_torch


def _cases(budget):
    lengths = strategies.sizes(budget.numel, (BLOCK_SIZE,), allow_empty=True)
    shape = strategies.shapes(budget.numel, lengths, max_rows=budget.rows)
    return strategies.with_params(shape, specials=st.booleans())


def _inputs(case: Case, device, gen) -> Inputs:
    layout = case.params.get("layout", "contiguous")
    values = case.params.get("values", "normal")
    x, y = (
        make_tensor(case.shape, case.dtype, device, gen, layout=layout, values=values) for _ in "xy"
    )
    if case.params.get("specials"):
        add_specials(x, gen)
    return Inputs((x, y))


def _bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    return [
        BadInput("shape mismatch", Inputs((t(4, 5), t(4, 6))), ValueError, r"\by\b.*shape"),
        BadInput(
            "device mismatch",
            Inputs((t(8), t(8, dev=other))),
            ValueError,
            r"\by\b.*device|\by\b is on",
        ),
        BadInput(
            "dtype mismatch", Inputs((t(8), t(8, dtype=torch.float16))), TypeError, r"\by\b.*dtype"
        ),
        BadInput(
            "integer dtype",
            Inputs((t(8, dtype=torch.int32), t(8, dtype=torch.int32))),
            TypeError,
            r"\bx\b.*dtype",
        ),
        BadInput(
            "float64",
            Inputs((t(8, dtype=torch.float64), t(8, dtype=torch.float64))),
            TypeError,
            r"\bx\b.*dtype",
        ),
        BadInput("not a tensor", Inputs(([1.0, 2.0], t(2))), TypeError, r"\bx\b.*torch.Tensor"),
        BadInput("sparse y", Inputs((t(8), t(8).to_sparse())), TypeError, r"\by\b.*dense"),
    ]


VECTOR_ADD = Op(
    name="vector_add",
    numpy_ref=vector_add_numpy,
    torch_ref=vector_add_torch,
    kernel=vector_add,
    make_inputs=_inputs,
    cases=_cases,
    examples=[
        ((0,), {}),
        ((1,), {}),
        ((BLOCK_SIZE - 1,), {}),
        ((BLOCK_SIZE,), {}),
        ((BLOCK_SIZE + 1,), {"layout": "strided"}),
        ((3, 2 * BLOCK_SIZE + 1), {"layout": "transposed"}),
        ((5, 7), {"specials": True}),
    ],
    bad_inputs=_bad_inputs,
    flops=lambda case: math.prod(case.shape),
    bytes=lambda case: 3 * math.prod(case.shape) * itemsize(case.dtype),
    bench_cases=[((1 << k,), {}) for k in (20, 24, 26, 28)],
    error_model=ErrorModel(outputs=[elementwise("out")]),
    values=("normal", "offset", "large", "wide", "positive", "ties", "tiny"),
)
