"""layer_norm over the last dim: the forward (y, mean, rstd) and the backward (dx, dweight,
dbias), as two entries that share how x, weight and bias are drawn."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from hypothesis import strategies as st

from harness import BadInput, Case, ErrorModel, Inputs, Op, reduction_growth, strategies
from harness.dtypes import itemsize
from harness.op import Budget
from harness.tensors import make_tensor
from kernels import layer_norm as kernel
from ops._one_tensor import bad_tensor_inputs, make_x
from ops._rowwise import ROW_BLOCKS, ROW_EXAMPLES, row_length
from references.layer_norm import (
    layer_norm_backward_numpy,
    layer_norm_backward_torch,
    layer_norm_numpy,
    layer_norm_torch,
)

# Which parameters exist: nn.LayerNorm's three settings, and F.layer_norm's bias alone.
AFFINE = ("both", "weight", "none", "bias")
# Small, default and large eps (a large one weighs on rstd). Not tiny ones: on a row of
# equal values the float32 mean is off by about u|x|, so var is about (u x)^2, and once eps
# is not well above that (1e-14 for |x| ~ 1) rstd hangs on the rounding of the mean: an
# error of second order in u, which the (first-order) policy does not bound.
EPS = (1e-5, 1e-6, 1e-3, 1.0)

# Row lengths around the block sizes either kernel switches at, in either mode.
_BLOCKS = (
    *ROW_BLOCKS,
    kernel.INTERPRET_BWD_BLOCK_MAX,
    kernel.INTERPRET_BWD_STREAM,
    kernel.INTERPRET_BWD_WALKER_MIN_BYTES // 4,  # float32
    kernel.INTERPRET_BWD_WALKER_MIN_BYTES // 2,  # float16, bfloat16
    kernel.INTERPRET_BWD_WALKER_BLOCK,
    2 * kernel.INTERPRET_BWD_WALKER_BLOCK,
    kernel.BWD_BLOCK_MAX,
    kernel.BWD_WALKER_MIN_BYTES // 4,
    kernel.BWD_WALKER_MIN_BYTES // 2,
    kernel.BWD_WALKER_BLOCK,
    2 * kernel.BWD_WALKER_BLOCK,
)
_SPLIT = kernel.INTERPRET_BWD_BLOCK_MAX
_WALKER = kernel.INTERPRET_BWD_WALKER_BLOCK


def _shapes(budget: Budget) -> st.SearchStrategy[tuple[int, ...]]:
    """(*leading, n) within the budget: n >= 1 near block boundaries, leading dims may be 0."""
    lengths = strategies.sizes(budget.numel, _BLOCKS)
    return strategies.shapes(budget.numel, lengths, allow_empty=True)


def _cases(budget: Budget):
    params = st.fixed_dictionaries(
        {
            "layout": strategies.layouts(),
            "affine": st.sampled_from(AFFINE),
            "eps": st.sampled_from(EPS),
            "constant_rows": st.booleans(),
        },
        optional={"nans": st.booleans()},
    )
    return st.tuples(_shapes(budget), params)


def _x_and_params(case: Case, device, gen):
    """x (some rows constant with the param `constant_rows`, some NaN with `nans`), then
    weight and bias (or None) as the param `affine` says.

    NaN, not +-inf: the mean of a row holding +inf is +inf, as the oracle and the kernel
    give it, but PyTorch's Welford mean turns it into NaN (inf - inf) unless the inf comes
    last in the row. y and rstd are NaN on such a row either way.
    """
    x = make_x(case, device, gen)
    if case.params.get("nans"):
        x[(torch.rand(x.shape, generator=gen) < 0.02).to(x.device)] = float("nan")
    if case.params.get("constant_rows") and x.numel():
        picked = torch.rand(x.shape[:-1], generator=gen) < 0.5
        x[picked.to(x.device)] = x[..., :1].expand(x.shape)[picked.to(x.device)]
    affine = case.params.get("affine", "both")
    n = case.shape[-1]
    weight = make_tensor((n,), case.dtype, device, gen) if affine in ("both", "weight") else None
    bias = make_tensor((n,), case.dtype, device, gen) if affine in ("both", "bias") else None
    return x, weight, bias


def _forward_inputs(case: Case, device, gen) -> Inputs:
    x, weight, bias = _x_and_params(case, device, gen)
    return Inputs((x, weight, bias, case.params.get("eps", 1e-5)))


def _centered_and_scale(x, mean, rstd):
    """|xhat| and the absolute error xhat inherits from the mean's rounding: the mean is
    off by about u * mean|x| (its condition), and x - mean passes that on times rstd."""
    xhat = (x - mean[..., None]) * rstd[..., None]
    return np.abs(xhat), (np.abs(x).mean(axis=-1) * np.abs(rstd))[..., None]


def _forward_condition(np_args, np_kwargs, oracle):
    x, weight, bias, _ = np_args
    _, mean, rstd = oracle
    with np.errstate(invalid="ignore"):  # rows holding NaN are not judged by value
        abs_xhat, mean_error = _centered_and_scale(x, mean, rstd)
        y = (abs_xhat + mean_error) * (np.abs(weight) if weight is not None else 1.0)
        if bias is not None:
            y = y + np.abs(bias)
        # mean: a sum, judged against sum|x| / n; rstd: a relative error.
        return y, np.abs(x).mean(axis=-1), np.abs(rstd)


def _rows_of(case: Case) -> int:
    return math.prod(case.shape[:-1])


def _forward_bytes(case: Case) -> float:
    """x read and y written once, weight and bias read once, mean and rstd written."""
    es, n = itemsize(case.dtype), case.shape[-1]
    n_params = {"both": 2, "weight": 1, "bias": 1, "none": 0}[case.params.get("affine", "both")]
    return 2 * math.prod(case.shape) * es + n_params * n * es + 2 * 4 * _rows_of(case)


def _forward_bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    x = t(4, 8)
    return [
        *bad_tensor_inputs(device, lambda bad_x: Inputs((bad_x, None, None, 1e-5))),
        BadInput("weight length", Inputs((x, t(7), t(8), 1e-5)), ValueError, r"\bweight\b.*shape"),
        BadInput("weight 2-D", Inputs((x, t(1, 8), None, 1e-5)), ValueError, r"\bweight\b.*shape"),
        BadInput("bias length", Inputs((x, t(8), t(9), 1e-5)), ValueError, r"\bbias\b.*shape"),
        BadInput("weight device", Inputs((x, t(8, dev=other), None, 1e-5)), ValueError,
                 r"\bweight\b.*(device|CUDA)"),
        BadInput("bias dtype", Inputs((x, t(8), t(8, dtype=torch.float16), 1e-5)), TypeError,
                 r"\bbias\b.*dtype"),
        BadInput("integer weight", Inputs((x, t(8, dtype=torch.int64), None, 1e-5)), TypeError,
                 r"\bweight\b.*dtype"),
        BadInput("empty rows", Inputs((t(4, 0), None, None, 1e-5)), ValueError, r"\bx\b.*last dim"),
        BadInput("scalar x", Inputs((t(), None, None, 1e-5)), ValueError, r"\bx\b.*last dim"),
        *(
            BadInput(f"eps={eps}", Inputs((x, None, None, eps)), ValueError, r"\beps\b")
            for eps in (0.0, -1e-5, float("nan"), float("inf"), 1e-45)
        ),
        BadInput("eps a tensor", Inputs((x, None, None, t(1))), TypeError, r"\beps\b"),
    ]  # fmt: skip


# Pinned cases: the row-wise ones (without empty rows, which have no statistics), a row
# of 65536, the parameter settings, constant rows, specials, a large eps.
_EXAMPLES = [
    *(example for example in ROW_EXAMPLES if example[0][-1] > 0),
    ((3, 0, 7), {}),
    ((1, 65536), {}),
    ((5, 300), {"affine": "weight", "layout": "strided"}),
    ((6, 100), {"affine": "bias", "constant_rows": True}),
    ((9, 70), {"affine": "none", "eps": 1.0}),
    ((7, 33), {"nans": True}),
]

LAYER_NORM = Op(
    name="layer_norm",
    numpy_ref=layer_norm_numpy,
    torch_ref=layer_norm_torch,
    kernel=kernel.layer_norm,
    make_inputs=_forward_inputs,
    cases=_cases,
    examples=_EXAMPLES,
    error_model=ErrorModel(growth=reduction_growth(row_length), condition=_forward_condition),
    bad_inputs=_forward_bad_inputs,
    # Per element: an add into the mean, a subtraction, a square and an add into the
    # variance, the multiply by rstd, by weight and the add of bias.
    flops=lambda case: 7 * math.prod(case.shape),
    bytes=_forward_bytes,
    bench_cases=[((4096, n), {}) for n in (1024, 4096, 8192, 16384)],
)


# ----------------------------------------------------------------------------- backward
def _backward_inputs(case: Case, device, gen) -> Inputs:
    """dy, x and the forward's float32 statistics of x (taken with torch in float32)."""
    x, weight, bias = _x_and_params(case, device, gen)
    # dy in the same layout as x, without specials.
    dy = make_x(dataclasses.replace(case, params={**case.params, "specials": False}), device, gen)
    x32 = x.float()
    mean = x32.mean(dim=-1)
    var = (x32 - mean[..., None]).square().mean(dim=-1)
    rstd = torch.rsqrt(var + case.params.get("eps", 1e-5))
    return Inputs((dy, x, mean, rstd, weight, bias))


def _backward_condition(np_args, np_kwargs, oracle):
    dy, x, mean, rstd, weight, bias = np_args
    abs_xhat, mean_error = _centered_and_scale(x, mean, rstd)
    abs_g = np.abs(dy * weight) if weight is not None else np.abs(dy)
    # dx = rstd (g - mean(g) - xhat mean(g xhat)): each term with its own magnitude; the
    # mean's error reaches xhat (see _centered_and_scale) and through it the last term.
    spread = (abs_g * abs_xhat).mean(axis=-1, keepdims=True)
    conditions = [
        np.abs(rstd)[..., None]
        * (abs_g + abs_g.mean(axis=-1, keepdims=True) + (abs_xhat + mean_error) * spread)
    ]
    leading = tuple(range(x.ndim - 1))
    if weight is not None:  # dweight = sum(dy xhat): against sum |dy xhat|
        conditions.append((np.abs(dy) * (abs_xhat + mean_error)).sum(axis=leading))
    if bias is not None:  # dbias = sum(dy): against sum |dy|
        conditions.append(np.abs(dy).sum(axis=leading))
    return tuple(conditions)


def _backward_bytes(case: Case) -> float:
    """dy and x read, dx written; the statistics read; weight read, dweight and dbias
    written, as the parameters exist."""
    es, n = itemsize(case.dtype), case.shape[-1]
    affine = case.params.get("affine", "both")
    n_param_io = {"both": 3, "weight": 2, "bias": 1, "none": 0}[affine]
    return 3 * math.prod(case.shape) * es + n_param_io * n * es + 2 * 4 * _rows_of(case)


def _backward_bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    dy, x, w, b = t(4, 8), t(4, 8), t(8), t(8)
    stats = t(4), t(4)

    def call(**bad):
        args = {"dy": dy, "x": x, "mean": stats[0], "rstd": stats[1], "weight": w, "bias": b}
        return Inputs(tuple({**args, **bad}.values()))

    return [
        *bad_tensor_inputs(device, lambda bad_x: call(x=bad_x, dy=bad_x)),
        BadInput("dy shape", call(dy=t(4, 9)), ValueError, r"\bdy\b.*shape"),
        BadInput("dy dtype", call(dy=t(4, 8, dtype=torch.bfloat16)), TypeError, r"\bdy\b.*dtype"),
        BadInput("dy device", call(dy=t(4, 8, dev=other)), ValueError, r"\bdy\b.*(device|CUDA)"),
        BadInput("mean shape", call(mean=t(4, 1)), ValueError, r"\bmean\b.*shape"),
        BadInput("mean float16", call(mean=t(4, dtype=torch.float16)), TypeError,
                 r"\bmean\b.*dtype"),
        BadInput("rstd device", call(rstd=t(4, dev=other)), ValueError, r"\brstd\b.*(device|CUDA)"),
        BadInput("weight length", call(weight=t(9)), ValueError, r"\bweight\b.*shape"),
        BadInput("weight dtype", call(weight=t(8, dtype=torch.float16)), TypeError,
                 r"\bweight\b.*dtype"),
        BadInput("bias device", call(bias=t(8, dev=other)), ValueError, r"\bbias\b.*(device|CUDA)"),
    ]  # fmt: skip


LAYER_NORM_BACKWARD = Op(
    name="layer_norm_backward",
    numpy_ref=layer_norm_backward_numpy,
    torch_ref=layer_norm_backward_torch,
    kernel=kernel.layer_norm_backward,
    make_inputs=_backward_inputs,
    cases=_cases,
    examples=[
        ((0, 5), {}),
        ((1,), {}),
        ((2000, 1), {}),
        ((37, 5), {"layout": "transposed"}),
        ((100, 33), {"affine": "weight", "constant_rows": True}),
        ((64, 3), {"affine": "bias", "layout": "strided"}),
        ((5, 70), {"affine": "none", "eps": 1.0}),
        # In the interpreter: a row of the one-pass kernel split into two parts, the last
        # one partial; a walker's whole row; a row in halves; two passes.
        ((3, _SPLIT + 5), {"layout": "transposed"}),
        ((7, _WALKER - 3), {"affine": "weight"}),
        ((9, _WALKER + 5), {"layout": "strided", "affine": "bias"}),
        ((3, 2 * _WALKER + 1), {}),
        # On the GPU: a walker's halves, and two passes.
        ((2, kernel.BWD_WALKER_BLOCK + 1), {"layout": "transposed"}),
        ((1, 2 * kernel.BWD_WALKER_BLOCK + 3), {"affine": "weight"}),
    ],
    # dx reduces along rows (n), dweight and dbias across them (the number of rows).
    error_model=ErrorModel(
        growth=reduction_growth(lambda case: max(row_length(case), _rows_of(case))),
        condition=_backward_condition,
    ),
    bad_inputs=_backward_bad_inputs,
    # Per element: xhat (2), g (1), the two row sums (3), dx (4), dweight (2), dbias (1).
    flops=lambda case: 13 * math.prod(case.shape),
    bytes=_backward_bytes,
    bench_cases=[((4096, n), {}) for n in (1024, 4096, 8192, 16384)],
)
