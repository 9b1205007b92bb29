"""rms_norm over the last dim: the forward (y, rstd) and the backward (dx, dweight), as two
entries, and gradients through autograd. Cases, inputs and the error models' pieces are
layer_norm's (ops/layer_norm.py): RMSNorm is LayerNorm with the mean taken as 0 and no
bias, and its error models are LayerNorm's with that mean (whose rounding they then
still allow for: a slightly wider bound, never a narrower one)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from harness import Backward, BadInput, Case, Configs, ErrorModel, Inputs, Op, OutputModel, Values
from harness.dtypes import itemsize
from harness.error_models import row_statistics_errors
from kernels import _plans
from kernels import rms_norm as kernel
from kernels.layer_norm_tuned import backward_configs
from ops._one_tensor import bad_tensor_inputs, make_x
from ops._rowwise import ROW_EXAMPLES, row_configs, row_lanes, row_length
from ops.layer_norm import (
    LAYER_NORM_BACKWARD,
    NORM_VALUES,
    backward_models,
    dx_condition,
    leading_dims,
    norm_cases,
    rows_of,
    through_forward_conditions,
    value_limit,
    x_and_params,
)
from references.rms_norm import (
    rms_norm_autograd_torch,
    rms_norm_backward_numpy,
    rms_norm_backward_torch,
    rms_norm_backward_torch_bench,
    rms_norm_numpy,
    rms_norm_rstd_numpy,
    rms_norm_torch,
    rms_norm_torch_bench,
)

AFFINE = ("weight", "none")
"""nn.RMSNorm's two settings (elementwise_affine or not): a weight, or no parameter."""
_cases = norm_cases(AFFINE)


def _forward_inputs(case: Case, device, gen) -> Inputs:
    x, weight, _ = x_and_params(case, device, gen)
    return Inputs((x, weight, case.params.get("eps", 1e-5)))


def _statistics(v: Values, x: np.ndarray, rstd: np.ndarray):
    """|xhat|, kappa and xhat's error scale of x given rstd (`row_statistics_errors` with
    a mean of 0), once per case."""
    if "rms" not in v.cache:
        with np.errstate(invalid="ignore"):  # rows holding NaN are not judged by value
            v.cache["rms"] = row_statistics_errors(x, np.zeros(x.shape[:-1]), rstd)
    return v.cache["rms"]


def _y_condition(v: Values) -> np.ndarray:
    abs_xhat, kappa, xhat_error = _statistics(v, v.args[0], v.oracle[1])
    weight = v.args[1]
    with np.errstate(invalid="ignore"):
        y = abs_xhat * (1 + kappa) + xhat_error
        return y * np.abs(weight) if weight is not None else y


def _rstd_condition(v: Values) -> np.ndarray:
    _, kappa, _ = _statistics(v, v.args[0], v.oracle[1])
    return np.abs(v.oracle[1]) * (1 + kappa[..., 0])


# y = x rstd w: rstd's error (the squares' sum, the division, + eps, the GPU's rsqrt: 2
# ulps), then two multiplies; rstd as LayerNorm's, without the centering.
RMS_NORM_MODEL = ErrorModel(
    outputs=[
        OutputModel("y", _y_condition, terms=row_length, lanes=row_lanes, steps=6.0),
        OutputModel("rstd", _rstd_condition, terms=row_length, lanes=row_lanes, steps=6.0),
    ]
)


def _has_weight(case: Case) -> bool:
    return case.params.get("affine", "weight") == "weight"


def _forward_bytes(case: Case) -> float:
    """x read and y written once, weight read once, rstd written."""
    es, n = itemsize(case.dtype), case.shape[-1]
    return 2 * math.prod(case.shape) * es + _has_weight(case) * n * es + 4 * rows_of(case)


def _forward_bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    x = t(4, 8)
    return [
        *bad_tensor_inputs(device, lambda bad_x: Inputs((bad_x, None, 1e-5))),
        BadInput("weight length", Inputs((x, t(7), 1e-5)), ValueError, r"\bweight\b.*shape"),
        BadInput("weight device", Inputs((x, t(8, dev=other), 1e-5)), ValueError,
                 r"\bweight\b.*(device|CUDA)"),
        BadInput("weight dtype", Inputs((x, t(8, dtype=torch.float16), 1e-5)), TypeError,
                 r"\bweight\b.*dtype"),
        BadInput("empty rows", Inputs((t(4, 0), None, 1e-5)), ValueError, r"\bx\b.*last dim"),
        *(
            BadInput(f"eps={eps}", Inputs((x, None, eps)), ValueError, r"\beps\b")
            for eps in (0.0, -1e-6, float("nan"), 1e-45)
        ),
        BadInput("eps a tensor", Inputs((x, None, t(1))), TypeError, r"\beps\b"),
    ]  # fmt: skip


# The row-wise pinned cases without empty rows (no statistics), a long row, and the
# settings: no weight with a large eps, rows of one value, NaNs, a strided x.
_EXAMPLES = [
    *(example for example in ROW_EXAMPLES if example[0][-1] > 0),
    ((1, 65536), {}),
    ((9, 70), {"affine": "none", "eps": 1.0}),
    ((6, 100), {"constant_rows": True}),
    ((7, 33), {"nans": True}),
    ((5, 300), {"layout": "strided"}),
]

RMS_NORM = Op(
    name="rms_norm",
    numpy_ref=rms_norm_numpy,
    torch_ref=rms_norm_torch,
    kernel=kernel.rms_norm,
    make_inputs=_forward_inputs,
    cases=_cases,
    examples=_EXAMPLES,
    error_model=RMS_NORM_MODEL,
    bad_inputs=_forward_bad_inputs,
    # Per element: a square and an add into the sum, the multiplies by rstd and by weight.
    flops=lambda case: 4 * math.prod(case.shape),
    bytes=_forward_bytes,
    bench_cases=[((4096, n), {}) for n in (1024, 4096, 8192, 16384)],
    torch_bench=rms_norm_torch_bench,
    values=NORM_VALUES,
    configs=row_configs("rms_norm"),
    backward=None,  # set below, once the gradient's error model is defined
)


# ----------------------------------------------------------------------------- backward
def _backward_inputs(case: Case, device, gen) -> Inputs:
    """dy, x, the forward's float32 rstd of x (taken with torch in float32), weight."""
    x, weight, _ = x_and_params(case, device, gen)
    no_specials = dataclasses.replace(case, params={**case.params, "specials": False})
    dy = make_x(no_specials, device, gen, value_limit(case))
    rstd = torch.rsqrt(x.float().square().mean(dim=-1) + case.params.get("eps", 1e-5))
    return Inputs((dy, x, rstd, weight))


def _given(v: Values):
    """|xhat|, its error scale and |g| = |dy w|, with rstd given (the oracle has the same
    float32 values): xhat is off only by how it is computed from it."""
    if "given" not in v.cache:
        dy, x, rstd, weight = v.args
        abs_xhat, _, xhat_error = _statistics(v, x, rstd)
        abs_g = np.abs(dy) * (np.abs(weight) if weight is not None else 1.0)
        v.cache["given"] = abs_xhat, abs_xhat + xhat_error, abs_g, np.abs(rstd)
    return v.cache["given"]


def _dx_given(v: Values) -> np.ndarray:
    abs_xhat, xhat_error, abs_g, rstd = _given(v)
    return dx_condition(abs_xhat, xhat_error, abs_g, rstd, centered=False)


def _dweight_given(v: Values) -> np.ndarray:
    _, xhat_error, _, _ = _given(v)
    return (np.abs(v.args[0]) * xhat_error).sum(axis=leading_dims(v.args[1]))  # sum(dy xhat)


RMS_NORM_BACKWARD = Op(
    name="rms_norm_backward",
    numpy_ref=rms_norm_backward_numpy,
    torch_ref=rms_norm_backward_torch,
    kernel=kernel.rms_norm_backward,
    make_inputs=_backward_inputs,
    cases=_cases,
    # layer_norm_backward's pinned shapes (each design in the interpreter and on the
    # GPU), with RMSNorm's settings.
    examples=[
        (shape, {**params, "affine": "none" if params.get("affine") == "none" else "weight"})
        for shape, params in LAYER_NORM_BACKWARD.examples
    ],
    error_model=ErrorModel(
        outputs=lambda case: backward_models(
            case, (_dx_given, _dweight_given, None), (row_length, lambda case: rows_of(case))
        )
    ),
    bad_inputs=None,  # set below
    # Per element: xhat (1), g (1), the row sum (2), dx (3), dweight (2).
    flops=lambda case: 9 * math.prod(case.shape),
    # dy and x read, dx written, rstd read; weight read and dweight written.
    bytes=lambda case: (
        (3 * math.prod(case.shape) + 2 * _has_weight(case) * case.shape[-1]) * itemsize(case.dtype)
        + 4 * rows_of(case)
    ),
    bench_cases=[((4096, n), {}) for n in (1024, 4096, 8192, 16384)],
    torch_bench=rms_norm_backward_torch_bench,
    values=NORM_VALUES,
    configs=Configs(backward_configs("rms_norm_backward"), _plans.forcing, _plans.recording),
)


def _backward_bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    dy, x, rstd, w = t(4, 8), t(4, 8), t(4), t(8)

    def call(**bad):
        return Inputs(tuple({"dy": dy, "x": x, "rstd": rstd, "weight": w, **bad}.values()))

    return [
        *bad_tensor_inputs(device, lambda bad_x: call(x=bad_x, dy=bad_x)),
        BadInput("dy shape", call(dy=t(4, 9)), ValueError, r"\bdy\b.*shape"),
        BadInput("dy dtype", call(dy=t(4, 8, dtype=torch.bfloat16)), TypeError, r"\bdy\b.*dtype"),
        BadInput("rstd shape", call(rstd=t(4, 1)), ValueError, r"\brstd\b.*shape"),
        BadInput("rstd float16", call(rstd=t(4, dtype=torch.float16)), TypeError,
                 r"\brstd\b.*dtype"),
        BadInput("rstd device", call(rstd=t(4, dev=other)), ValueError, r"\brstd\b.*(device|CUDA)"),
        BadInput("weight length", call(weight=t(9)), ValueError, r"\bweight\b.*shape"),
    ]  # fmt: skip


RMS_NORM_BACKWARD = dataclasses.replace(RMS_NORM_BACKWARD, bad_inputs=_backward_bad_inputs)


# ----------------------------------------------------------------------------- autograd
def rms_norm_autograd(x, weight, eps):
    """y of the kernels' RMSNormFunction: the forward and backward kernels, as training
    runs them."""
    return kernel.RMSNormFunction.apply(x, (x.shape[-1],), weight, eps)


def _gradient_numpy(x, weight, eps, dy):
    """dx and dweight of the float64 forward, from its exact rstd."""
    return rms_norm_backward_numpy(dy, x, rms_norm_rstd_numpy(x, eps), weight)


def _statistics_numpy(x, eps):
    """RMSNorm's statistics as LayerNorm's: a mean of 0, and rstd."""
    return np.zeros(x.shape[:-1]), rms_norm_rstd_numpy(x, eps)


RMS_NORM = dataclasses.replace(
    RMS_NORM,
    backward=Backward(
        kernel=rms_norm_autograd,
        numpy_grad=_gradient_numpy,
        torch=rms_norm_autograd_torch,
        wrt=(0, 1),
        # dx: the forward's rstd (a sum over the row), then the backward's row sum;
        # dweight: rstd, then the sum over rows.
        error_model=ErrorModel(
            outputs=lambda case: backward_models(
                case,
                (*through_forward_conditions(_statistics_numpy, centered=False)[:2], None),
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
