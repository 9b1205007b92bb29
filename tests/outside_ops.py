"""The four kernels of tests/outside_kernels.py registered as a user would, through the
public API alone: a NumPy oracle, PyTorch, the kernel, how to draw cases, and a named
error model (harness.error_models). Each `*_op` function is the glue for one kernel;
tests/test_outside_kernels.py holds each to 30 lines of code.

OUTSIDE holds the honest kernels, PLANTED their planted bugs (the same names, so a
failure's printed reproducer names `--ops tests.outside_ops:PLANTED`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from hypothesis import strategies as st

from harness import ErrorModel, Inputs, Op, Registry, strategies
from harness.error_models import TL_SUM_LANES, dot_product, normalization, softmax
from harness.tensors import make_tensor
from harness.tolerance import exact
from tests import outside_kernels as k


def softmax_op(kernel) -> Op:
    def oracle(x):
        z = np.exp(x - x.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

    def inputs(case, device, gen):
        return Inputs((make_tensor(case.shape, case.dtype, device, gen, **case.params),))

    return Op(
        name="softmax",
        numpy_ref=oracle,
        torch_ref=lambda x: torch.softmax(x.float(), dim=-1).to(x.dtype),
        kernel=kernel,
        make_inputs=inputs,
        cases=lambda budget: strategies.with_params(
            strategies.shapes(budget.numel, strategies.sizes(1024), max_rows=64)
        ),
        examples=[
            ((4, 100), {}),
            ((3, 128), {"layout": "transposed"}),
            ((8, 700), {"values": "large"}),
        ],
        error_model=ErrorModel(outputs=[softmax("y", lanes=TL_SUM_LANES)]),
        values=("normal", "offset", "large"),
    )


def layer_norm_op(kernel) -> Op:
    def oracle(x, w, b, eps):
        centered = x - x.mean(axis=-1, keepdims=True)
        return centered / np.sqrt((centered**2).mean(axis=-1, keepdims=True) + eps) * w + b

    def inputs(case, device, gen):
        n = case.shape[-1]
        x = make_tensor(case.shape, case.dtype, device, gen, **case.params)
        w, b = (make_tensor((n,), case.dtype, device, gen) for _ in "wb")
        return Inputs((x, w, b, 1e-5))

    return Op(
        name="layer_norm",
        numpy_ref=oracle,
        torch_ref=lambda x, w, b, eps: torch.nn.functional.layer_norm(
            x.float(), x.shape[-1:], w.float(), b.float(), eps
        ).to(x.dtype),
        kernel=kernel,
        make_inputs=inputs,
        cases=lambda budget: strategies.with_params(strategies.shapes(budget.numel, max_rows=64)),
        examples=[
            ((4, 100), {}),
            ((2, 300), {"layout": "strided"}),
            ((5, 300), {"values": "offset"}),
        ],
        error_model=ErrorModel(outputs=[normalization("y", lanes=TL_SUM_LANES)]),
        values=("normal", "offset"),
    )


def matmul_op(kernel) -> Op:
    def inputs(case, device, gen):
        m, kk, n = case.shape
        a = make_tensor((m, kk), case.dtype, device, gen, layout=case.params["a"])
        return Inputs((a, make_tensor((kk, n), case.dtype, device, gen)))

    dims = st.tuples(*(strategies.sizes(40, (16,)) for _ in "mkn"))
    return Op(
        name="matmul",
        numpy_ref=np.matmul,
        torch_ref=lambda a, b: (a.float() @ b.float()).to(a.dtype),
        kernel=kernel,
        make_inputs=inputs,
        cases=lambda budget: st.tuples(
            dims, st.fixed_dictionaries({"a": st.sampled_from(["contiguous", "transposed"])})
        ),
        examples=[((5, 17, 3), {"a": "transposed"}), ((16, 33, 16), {"a": "contiguous"})],
        error_model=ErrorModel(outputs=[dot_product("c", k=lambda case: case.shape[1])]),
    )


def argmax_op(kernel) -> Op:
    def inputs(case, device, gen):
        return Inputs((make_tensor(case.shape, case.dtype, device, gen, **case.params),))

    return Op(
        name="argmax",
        numpy_ref=lambda x: np.argmax(x, axis=-1),
        torch_ref=lambda x: torch.argmax(x, dim=-1),
        kernel=kernel,
        make_inputs=inputs,
        cases=lambda budget: strategies.with_params(
            strategies.shapes(budget.numel, strategies.sizes(1024), rank=2, max_rows=64)
        ),
        examples=[((64, 3), {}), ((3, 7), {"values": "ties"}), ((5, 64), {"layout": "strided"})],
        error_model=ErrorModel(outputs=[exact("index")]),  # an index: no rounding to allow
        values=("normal", "ties", "large"),
    )


KERNELS = (k.softmax, k.layer_norm, k.matmul, k.argmax)
GLUE = (softmax_op, layer_norm_op, matmul_op, argmax_op)
OUTSIDE = Registry([glue(kernel) for glue, kernel in zip(GLUE, KERNELS, strict=True)],
                   module=f"{__name__}:OUTSIDE")  # fmt: skip
PLANTED = Registry(
    [glue(functools.partial(kernel, bug=True)) for glue, kernel in zip(GLUE, KERNELS, strict=True)],
    module=f"{__name__}:PLANTED",
)
