"""layer_norm over the last dim: the forward (y, mean, rstd) and the backward (dx, dweight,
dbias), as two entries that share how x, weight and bias are drawn."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from hypothesis import strategies as st

from harness import (
    Backward,
    BadInput,
    Case,
    Configs,
    ErrorModel,
    Inputs,
    Op,
    OutputModel,
    Values,
    strategies,
)
from harness.dtypes import itemsize, to_torch
from harness.error_models import normalization, normalization_errors, row_statistics_errors
from harness.op import Budget
from harness.tensors import make_tensor
from kernels import _plans
from kernels import layer_norm as kernel
from ops._one_tensor import bad_tensor_inputs, make_x
from ops._rowwise import ROW_BLOCKS, ROW_EXAMPLES, row_configs, row_lanes, row_length
from references.layer_norm import (
    layer_norm_autograd_torch,
    layer_norm_backward_numpy,
    layer_norm_backward_torch,
    layer_norm_numpy,
    layer_norm_statistics_numpy,
    layer_norm_torch,
)

NORM_VALUES = ("normal", "offset", "wide", "positive", "ties", "tiny")
"""Not "large": it is the wide profile's job here (values up to the limit below)."""

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
    return strategies.shapes(budget.numel, lengths, allow_empty=True, max_rows=budget.rows)


def norm_cases(affine: tuple[str, ...] = AFFINE):
    """Cases of a normalization over the last dim: shapes near every block boundary of
    the layer_norm kernels, the parameters that exist (param `affine`, as AFFINE names
    them), eps, rows of one value, NaNs."""

    def cases(budget: Budget):
        return strategies.with_params(
            _shapes(budget),
            lambda shape: st.fixed_dictionaries({}, optional={"nans": st.booleans()}),
            affine=st.sampled_from(affine),
            eps=st.sampled_from(EPS),
            constant_rows=st.booleans(),
        )

    return cases


_cases = norm_cases()


def value_limit(case: Case) -> float:
    """The wide profile's largest magnitude (of x and of dy). PyTorch's CPU backward forms
    products like sum(dy x w) mean rstd**3 in float32, and rstd reaches 1 / sqrt(eps) =
    1e3 (the smallest eps drawn, on a constant row): the values stay where those are
    finite, n * limit**3 * 1e9 < max(float32)."""
    f32_max = torch.finfo(torch.float32).max
    rstd_max = 1 / math.sqrt(min(EPS))
    return min(
        torch.finfo(to_torch(case.dtype)).max,
        (f32_max / (row_length(case) * rstd_max**3)) ** (1 / 3) / 2,
    )


def x_and_params(case: Case, device, gen):
    """x (some rows constant with the param `constant_rows`, some NaN with `nans`), then
    weight and bias (or None) as the param `affine` says.

    NaN, not +-inf: the mean of a row holding +inf is +inf, as the oracle and the kernel
    give it, but PyTorch's Welford mean turns it into NaN (inf - inf) unless the inf comes
    last in the row. y and rstd are NaN on such a row either way.
    """
    x = make_x(case, device, gen, value_limit(case))
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
    x, weight, bias = x_and_params(case, device, gen)
    return Inputs((x, weight, bias, case.params.get("eps", 1e-5)))


def _weighted(p, like):
    return np.abs(p) if p is not None else np.ones(like.shape[-1:])


def _rstd_condition(v: Values) -> np.ndarray:
    _, kappa, _ = normalization_errors(v, statistics=(1, 2))
    return np.abs(v.oracle[2]) * (1 + kappa[..., 0])


# y = (x - mean) rstd w + b: the statistics' errors (sums over the row), then the
# subtraction, two multiplies and an add; rstd: the centered squares, their sum, the
# division, + eps and the GPU's approximate rsqrt (2 ulps), halved by the square root.
LAYER_NORM_MODEL = ErrorModel(
    outputs=[
        normalization("y", lanes=row_lanes, statistics=(1, 2)),
        OutputModel(
            "mean",
            lambda v: np.abs(v.args[0]).mean(axis=-1),  # a sum: against sum |x| / n
            terms=row_length,
            lanes=row_lanes,
            steps=1.0,
        ),
        OutputModel("rstd", _rstd_condition, terms=row_length, lanes=row_lanes, steps=6.0),
    ]
)


def rows_of(case: Case) -> int:
    return math.prod(case.shape[:-1])


def _forward_bytes(case: Case) -> float:
    """x read and y written once, weight and bias read once, mean and rstd written."""
    es, n = itemsize(case.dtype), case.shape[-1]
    n_params = {"both": 2, "weight": 1, "bias": 1, "none": 0}[case.params.get("affine", "both")]
    return 2 * math.prod(case.shape) * es + n_params * n * es + 2 * 4 * rows_of(case)


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
    error_model=LAYER_NORM_MODEL,
    bad_inputs=_forward_bad_inputs,
    # Per element: an add into the mean, a subtraction, a square and an add into the
    # variance, the multiply by rstd, by weight and the add of bias.
    flops=lambda case: 7 * math.prod(case.shape),
    bytes=_forward_bytes,
    bench_cases=[((4096, n), {}) for n in (1024, 4096, 8192, 16384)],
    values=NORM_VALUES,
    configs=row_configs("layer_norm"),
    backward=None,  # set below, once the gradient's error model is defined
)


# ----------------------------------------------------------------------------- backward
def _backward_inputs(case: Case, device, gen) -> Inputs:
    """dy, x and the forward's float32 statistics of x (taken with torch in float32)."""
    x, weight, bias = x_and_params(case, device, gen)
    # dy in the same layout as x, without specials.
    no_specials = dataclasses.replace(case, params={**case.params, "specials": False})
    dy = make_x(no_specials, device, gen, value_limit(case))
    x32 = x.float()
    mean = x32.mean(dim=-1)
    var = (x32 - mean[..., None]).square().mean(dim=-1)
    rstd = torch.rsqrt(var + case.params.get("eps", 1e-5))
    return Inputs((dy, x, mean, rstd, weight, bias))


def leading_dims(x) -> tuple[int, ...]:
    return tuple(range(x.ndim - 1))


def backward_models(case: Case, conditions, terms) -> list[OutputModel]:
    """dx, then dweight and dbias where the case has them (its param `affine`): the
    conditions of the three, the terms of dx's sums and of the parameters'."""
    dx, dweight, dbias = conditions
    dx_terms, param_terms = terms
    affine = case.params.get("affine", "both")
    models = [OutputModel("dx", dx, terms=dx_terms, lanes=row_lanes, steps=14.0)]
    if affine in ("both", "weight"):
        # The sum over rows goes in an order the model does not fix (chunks, then a
        # second stage); statistics of the forward, if any, are row sums in our lanes.
        def lanes(case: Case, mode: str):
            both = isinstance(param_terms(case), tuple)
            return (row_lanes(case, mode), None) if both else None

        models.append(OutputModel("dweight", dweight, terms=param_terms, lanes=lanes, steps=11.0))
    if affine in ("both", "bias") and dbias is not None:  # (None: no bias, as RMSNorm)
        models.append(OutputModel("dbias", dbias, terms=lambda case: rows_of(case), steps=1.0))
    return models


def _given_stats(v: Values):
    """|xhat|, its error scale and |g| = |dy w|, with the statistics given (the oracle has
    the same float32 values): xhat is off only by how it is computed from them."""
    if "given" not in v.cache:
        dy, x, mean, rstd, weight, _ = v.args
        abs_xhat, _, xhat_error = row_statistics_errors(x, mean, rstd)
        abs_g = np.abs(dy) * _weighted(weight, x)
        v.cache["given"] = abs_xhat, abs_xhat + xhat_error, abs_g, np.abs(rstd)
    return v.cache["given"]


def dx_condition(abs_xhat, xhat_error, abs_g, rstd, kappa=0.0, centered=True) -> np.ndarray:
    """dx = rstd (g - mean(g) - xhat mean(g xhat)), each term with its own magnitude, and
    the errors of rstd (kappa) and of xhat passed on through the last term. Not
    `centered` (RMSNorm): no mean(g)."""
    n = abs_g.shape[-1]
    # in place below: see row_statistics_errors
    dx = abs_g + abs_g.mean(axis=-1, keepdims=True) if centered else abs_g.copy()
    dx *= 1 + kappa
    dx += xhat_error * (np.vecdot(abs_g, abs_xhat)[..., None] / n)
    dx += abs_xhat * (np.vecdot(abs_g, xhat_error)[..., None] / n)
    dx *= rstd[..., None]
    return dx


def _dx_given_stats(v: Values) -> np.ndarray:
    abs_xhat, xhat_error, abs_g, rstd = _given_stats(v)
    return dx_condition(abs_xhat, xhat_error, abs_g, rstd)


def _dweight_given_stats(v: Values) -> np.ndarray:
    _, xhat_error, _, _ = _given_stats(v)
    return (np.abs(v.args[0]) * xhat_error).sum(axis=leading_dims(v.args[1]))  # sum(dy xhat)


def _dbias_given_stats(v: Values) -> np.ndarray:
    dy = v.args[0]
    return np.abs(dy).sum(axis=leading_dims(dy))  # dbias = sum(dy): against sum |dy|


_BACKWARD_GIVEN_STATS = ErrorModel(
    outputs=lambda case: backward_models(
        case,
        (_dx_given_stats, _dweight_given_stats, _dbias_given_stats),
        (row_length, lambda case: rows_of(case)),
    )
)


def _backward_bytes(case: Case) -> float:
    """dy and x read, dx written; the statistics read; weight read, dweight and dbias
    written, as the parameters exist."""
    es, n = itemsize(case.dtype), case.shape[-1]
    affine = case.params.get("affine", "both")
    n_param_io = {"both": 3, "weight": 2, "bias": 1, "none": 0}[affine]
    return 3 * math.prod(case.shape) * es + n_param_io * n * es + 2 * 4 * rows_of(case)


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
    error_model=_BACKWARD_GIVEN_STATS,
    bad_inputs=_backward_bad_inputs,
    # Per element: xhat (2), g (1), the two row sums (3), dx (4), dweight (2), dbias (1).
    flops=lambda case: 13 * math.prod(case.shape),
    bytes=_backward_bytes,
    bench_cases=[((4096, n), {}) for n in (1024, 4096, 8192, 16384)],
    values=NORM_VALUES,
    configs=Configs(kernel.BACKWARD_CONFIGS, _plans.forcing, _plans.recording),
)


# ----------------------------------------------------------------------------- autograd
def layer_norm_autograd(x, weight, bias, eps):
    """y of the kernels' LayerNormFunction: the forward and backward kernels, as training
    runs them."""
    return kernel.LayerNormFunction.apply(x, (x.shape[-1],), weight, bias, eps)


def _gradient_numpy(x, weight, bias, eps, dy):
    """dx, dweight, dbias of the float64 forward, from its exact statistics."""
    mean, rstd = layer_norm_statistics_numpy(x, eps)
    return layer_norm_backward_numpy(dy, x, mean, rstd, weight, bias)


def through_forward_conditions(statistics, centered: bool = True) -> tuple:
    """The conditions of dx, dweight and dbias for the gradients of autograd, of a
    normalization whose arguments are (x, weight, ..., eps) and then dy, and whose
    `statistics(x, eps)` are (mean, rstd) in float64: the kernel's backward gets the
    statistics its forward computed, off as the forward's model says (rstd by about
    kappa u relative, xhat by its xhat_error). Not `centered`: RMSNorm's dx."""

    def through(v: Values):
        if "through" not in v.cache:
            x, weight, eps, dy = v.args[0], v.args[1], v.args[-2], v.args[-1]
            mean, rstd = statistics(x, eps)
            abs_xhat, kappa, xhat_error = row_statistics_errors(x, mean, rstd)
            xhat_error = abs_xhat * (1 + kappa) + xhat_error
            abs_g = np.abs(dy) * _weighted(weight, x)
            v.cache["through"] = abs_xhat, kappa, xhat_error, abs_g, np.abs(rstd)
        return v.cache["through"]

    def dx(v: Values) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            abs_xhat, kappa, xhat_error, abs_g, rstd = through(v)
            return dx_condition(abs_xhat, xhat_error, abs_g, rstd, kappa, centered)

    def dweight(v: Values) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            _, _, xhat_error, _, _ = through(v)
            return (np.abs(v.args[-1]) * xhat_error).sum(axis=leading_dims(v.args[0]))

    def dbias(v: Values) -> np.ndarray:
        dy = v.args[-1]
        return np.abs(dy).sum(axis=leading_dims(dy))

    return dx, dweight, dbias


LAYER_NORM = dataclasses.replace(
    LAYER_NORM,
    backward=Backward(
        kernel=layer_norm_autograd,
        numpy_grad=_gradient_numpy,
        torch=layer_norm_autograd_torch,
        wrt=(0, 1, 2),
        # dx: the forward's statistics (sums over the row), then the backward's two row
        # sums; dweight: the statistics, then the sum over rows; dbias: over rows.
        error_model=ErrorModel(
            outputs=lambda case: backward_models(
                case,
                through_forward_conditions(layer_norm_statistics_numpy),
                (
                    lambda case: (row_length(case), row_length(case)),
                    lambda case: (row_length(case), rows_of(case)),
                ),
            )
        ),
        examples=[((3, 7, 40), {"upstream": "sum"}), ((5, 33), {"upstream": "sum"})],
        dy_limit=value_limit,
    ),
)
