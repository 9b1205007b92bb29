"""cross_entropy: F.cross_entropy with class-index targets (ignore_index, label_smoothing,
reductions), and its gradient in the logits."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st

from harness import (
    Backward,
    BadInput,
    Case,
    ErrorModel,
    Inputs,
    Op,
    OutputModel,
    Values,
    strategies,
)
from harness.dtypes import itemsize, to_torch
from kernels import cross_entropy as kernel_module
from kernels._rows import INTERPRET_LOOP_BLOCK, INTERPRET_WHOLE_ROW_MAX
from kernels.cross_entropy import REDUCTIONS, CrossEntropyFunction, cross_entropy
from ops._one_tensor import make_x
from ops._rowwise import ROW_BLOCKS, ROW_EXAMPLES, row_configs, row_lanes
from references.cross_entropy import (
    cross_entropy_native,
    cross_entropy_numpy,
    cross_entropy_torch,
    row_statistics_numpy,
)

IGNORE_INDICES = (-100, -1, 0)  # 0 is a class too: its rows are ignored all the same
# Which rows are ignored: none, some (each with probability 1/4), every one (a "mean"
# of no rows is 0 / 0: NaN).
IGNORED = ("none", "some", "all")
# Float32 values, as the kernel takes eps (`kernels.cross_entropy.check_smoothing`): the
# oracle then computes with the eps every tier uses (a float64 eps of 1e-311 would make
# eps x inf infinite for the oracle alone).
SMOOTHINGS = st.one_of(st.sampled_from((0.0, 0.1, 1.0)), st.floats(0.0, 1.0, width=32))
# Added to every logit: the loss ignores it, but exp(x) without the max subtracted
# overflows float32 from x = 89 on, and lse - x[t] loses u |lse| where it is large.
OFFSETS = (0.0, 100.0, -1000.0)


def _cases(budget):
    # At least one class; at the row-wise blocks and the forward's own caps on them.
    blocks = (*ROW_BLOCKS, kernel_module.WHOLE_ROW_MAX, kernel_module.LOOP_BLOCK)
    lengths = strategies.sizes(budget.numel, blocks)
    shape = strategies.shapes(budget.numel, lengths, max_leading=1, allow_empty=True,
                              max_rows=budget.rows)  # fmt: skip
    return strategies.with_params(
        shape,
        reduction=st.sampled_from(REDUCTIONS),
        smoothing=SMOOTHINGS,
        ignore_index=st.sampled_from(IGNORE_INDICES),
        ignored=st.sampled_from(IGNORED),
        target=st.sampled_from(("int64", "int32")),
        specials=st.booleans(),
        offset=st.sampled_from(OFFSETS),
    )


def _limit(case: Case) -> float:
    """The wide profile's largest magnitude: a row's sum of logits (label smoothing's mean)
    stays finite in float32."""
    classes = case.shape[-1]
    f32_max = torch.finfo(torch.float32).max
    return min(torch.finfo(to_torch(case.dtype)).max, f32_max / (4 * max(classes, 1)))


def _inputs(case: Case, device, gen) -> Inputs:
    """x, target, ignore_index, label_smoothing, reduction ("none" unless the case says:
    a loss a row is what the tolerance tests read). Ignored rows are drawn among the rows
    whose logits are finite: PyTorch's backward passes a NaN of an ignored row on as NaN,
    where the oracle and the kernel give 0 (tests/test_cross_entropy.py checks that)."""
    params = case.params
    x = make_x(case, device, gen, _limit(case)).add_(params.get("offset", 0.0))
    ignore_index = params.get("ignore_index", -100)
    n_rows, n_classes = math.prod(case.shape[:-1]), case.shape[-1]
    target = torch.randint(0, n_classes, (n_rows,), generator=gen)
    ignored = params.get("ignored", "none")
    if ignored != "none" and n_rows:
        finite = torch.isfinite(x.cpu().reshape(n_rows, n_classes)).all(dim=-1)
        picked = torch.rand(n_rows, generator=gen) < 0.25 if ignored == "some" else True
        target[finite & picked] = ignore_index
    target = target.to(getattr(torch, params.get("target", "int64")))
    args = (target.reshape(case.shape[:-1]).to(device), ignore_index)
    return Inputs((x, *args, params.get("smoothing", 0.0), params.get("reduction", "none")))


# ------------------------------------------------------------------------------ error model
# The kernel works relative to each row's max m: z = x - m, S = sum exp(z), and
#   loss = log S - (1 - eps) z_t - eps (mean_j x_j - m).
# Rounding z_j costs u |z_j| in exp(z_j), which S weighs by p_j = exp(z_j) / S; log S
# adds u log S; z_t is rounded (u |z_t|); the smoothing's sum of logits is off by its
# depth's roundings of sum |x_j|, then rounded again by the subtraction of m (u mean |z|).
# So a row's condition is 1 + log S + sum_j p_j |z_j| + (1 - eps) |z_t|
# + eps (mean |x_j| + mean |z_j|); `steps` 8: the subtraction and multiply before exp2,
# the GPU's approximate exp2 and log2 (2 ulps each), the multiply by eps and the
# subtractions. An ignored row is exactly 0 (condition 0).
_STEPS = 8.0


def _rows_of(v: Values) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """x as (N, C) rows, the targets, which rows count, and eps."""
    x, target, ignore_index, smoothing = v.args[:4]
    rows = np.atleast_2d(x)
    classes = np.atleast_1d(np.asarray(target)).astype(np.int64)
    counted = (classes != ignore_index) & (classes >= 0) & (classes < rows.shape[-1])
    return rows, classes, counted, float(smoothing)


def _statistics(v: Values) -> tuple[np.ndarray, ...]:
    """Per row: z = x - m, p = softmax(x), log S (shared by the conditions)."""
    key = "cross_entropy_statistics"
    if key not in v.cache:
        rows, _, _, _ = _rows_of(v)
        row_max, row_sum = row_statistics_numpy(rows)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = rows - row_max[:, None]
            p = np.exp(z) / row_sum[:, None]
            v.cache[key] = z, p, np.log(row_sum)
    return v.cache[key]


def _row_conditions(v: Values) -> np.ndarray:
    """Each row's condition (0 where ignored; anything where the loss is not finite)."""
    rows, classes, counted, eps = _rows_of(v)
    z, p, log_sum = _statistics(v)
    n_rows = rows.shape[0]
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.where(p > 0, p * np.abs(z), 0.0).sum(axis=-1)
        z_target = np.abs(z[np.arange(n_rows), np.where(counted, classes, 0)])
        smooth = eps * (np.abs(rows).mean(axis=-1) + np.abs(z).mean(axis=-1)) if eps else 0.0
        condition = 1.0 + log_sum + spread + (1.0 - eps) * z_target + smooth
    return np.where(counted, np.nan_to_num(condition, nan=np.inf), 0.0)


def _loss_condition(v: Values) -> np.ndarray:
    """A row's condition; summed over the rows for "sum", with each row's |loss| (the
    rows' float32 sum), and divided by the rows counted for "mean"."""
    rows_condition = _row_conditions(v)
    reduction = v.args[4]
    if reduction == "none":
        return rows_condition.reshape(np.shape(v.oracle[0]))
    losses = cross_entropy_numpy(*v.args[:4], "none")
    with np.errstate(invalid="ignore"):
        total = (rows_condition + np.abs(np.atleast_1d(losses))).sum()
    if reduction == "mean":
        counted = np.count_nonzero(np.atleast_1d(np.asarray(v.args[1])) != v.args[2])
        total = total / counted if counted else 0.0
    return np.asarray(total)


def _loss_terms(case: Case) -> int | tuple[int, int]:
    """A row's sum of C terms; the reduced loss's sum of N rows on top."""
    n_classes = case.shape[-1]
    if case.params.get("reduction", "none") == "none":
        return n_classes
    return n_classes, max(math.prod(case.shape[:-1]), 1)


def _loss_lanes(case: Case, mode: str):
    """The kernel's row sums (`row_lanes`); the reduction's is torch.sum's, in any order."""
    if case.params.get("reduction", "none") == "none":
        return row_lanes(case, mode)
    return row_lanes(case, mode), None


LOSS_MODEL = OutputModel(
    "loss",
    condition=_loss_condition,
    terms=_loss_terms,
    lanes=_loss_lanes,
    steps=_STEPS + 1,  # "mean": the division by the rows counted
)


# ----------------------------------------------------------------------------- gradient
def _row_gradients(v: Values) -> np.ndarray:
    """d loss / d loss_r for each row: dy itself ("none"), or one dy for all ("sum"), over
    the rows counted ("mean"); 0 for an ignored row."""
    ignore_index, _, reduction, dy = v.args[2:]
    _, classes, _, _ = _rows_of(v)
    ignored = classes == ignore_index
    if reduction == "none":
        g = np.atleast_1d(dy).astype(np.float64).reshape(-1)
    else:
        g = np.full(len(classes), float(dy))
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                g = g / np.count_nonzero(~ignored)
    return np.where(ignored, 0.0, g)


def _cross_entropy_grad_numpy(
    x: np.ndarray, target: np.ndarray, ignore_index: int, smoothing: float, reduction: str,
    dy: np.ndarray,
) -> tuple[np.ndarray]:  # fmt: skip
    """dx = g (p - (1 - eps) onehot(t) - eps / C) for each row's upstream gradient g (0 on
    an ignored row, NaN where the target is out of range)."""
    v = Values((x, target, ignore_index, smoothing, reduction, dy), {}, ())
    rows, classes, counted, eps = _rows_of(v)
    _, p, _ = _statistics(v)
    n_rows, n_classes = rows.shape
    onehot = np.zeros_like(rows)
    onehot[np.arange(n_rows)[counted], classes[counted]] = 1.0
    g = _row_gradients(v)
    with np.errstate(invalid="ignore"):
        dx = g[:, None] * (p - (1.0 - eps) * onehot - eps / max(n_classes, 1))
    ignored = classes == ignore_index
    dx = np.where(ignored[:, None], 0.0, dx)  # whatever its logits hold
    dx = np.where((counted | ignored)[:, None], dx, np.nan)  # a target out of range
    return (dx.reshape(np.shape(x)),)


def _dx_condition(v: Values) -> np.ndarray:
    """|g| (p_j (1 + |z_j| + log S + sum_k p_k |z_k|) + (1 - eps) [j = t] + eps / C): the
    probabilities' rounding, as softmax's (PyTorch's 16-bit log-probabilities add log S),
    and the terms subtracted from them."""
    rows, classes, counted, eps = _rows_of(v)
    z, p, log_sum = _statistics(v)
    n_rows, n_classes = rows.shape
    g = np.abs(_row_gradients(v))
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.where(p > 0, p * np.abs(z), 0.0).sum(axis=-1, keepdims=True)
        weight = np.where(p > 0, p * (1.0 + np.abs(z) + log_sum[:, None] + spread), 0.0)
        hit = np.zeros_like(rows)
        hit[np.arange(n_rows)[counted], classes[counted]] = 1.0 - eps
        condition = g[:, None] * (weight + hit + eps / max(n_classes, 1))
    condition = np.where(np.isfinite(condition), condition, np.inf)
    return np.where(counted[:, None], condition, 0.0).reshape(np.shape(v.args[0]))


DX_MODEL = OutputModel(
    "dx",
    condition=_dx_condition,
    terms=lambda case: case.shape[-1],
    lanes=row_lanes,
    steps=_STEPS,
)


def _through_function(
    x: torch.Tensor, target: torch.Tensor, ignore_index: int, smoothing: float, reduction: str
) -> torch.Tensor:
    """The training path: CrossEntropyFunction (whose backward the gradient op checks)."""
    return CrossEntropyFunction.apply(x, target, ignore_index, smoothing, reduction)


# -------------------------------------------------------------------------- bad inputs
def _bad_inputs(device) -> list[BadInput]:
    x = torch.zeros(4, 8, device=device)
    t = torch.zeros(4, dtype=torch.int64, device=device)
    other = "meta" if device.type == "cpu" else "cpu"

    def call(x=x, t=t, ignore_index=-100, smoothing=0.0, reduction="mean"):
        return Inputs((x, t, ignore_index, smoothing, reduction))

    return [
        BadInput("x integer", call(x=t.reshape(4, 1)), TypeError, r"\bx\b.*dtype"),
        BadInput("x not a tensor", call(x=[[1.0]]), TypeError, r"\bx\b.*torch.Tensor"),
        BadInput("x 3-D", call(x=x.reshape(2, 2, 8)), ValueError, r"\bx\b.*\(N, C\)"),
        BadInput("no classes", call(x=x[:, :0]), ValueError, r"\bx\b.*one class"),
        BadInput("target float", call(t=x[:, 0]), TypeError, r"\btarget\b.*dtype"),
        BadInput("target int16", call(t=t.short()), TypeError, r"\btarget\b.*dtype"),
        BadInput("target shape", call(t=t[:3]), ValueError, r"\btarget\b.*shape"),
        BadInput("target probabilities", call(t=x.softmax(-1)), TypeError, r"\btarget\b"),
        BadInput("target elsewhere", call(t=t.to(other)), ValueError, r"\btarget\b"),
        BadInput("ignore_index float", call(ignore_index=-100.0), TypeError, r"\bignore_index\b"),
        BadInput("ignore_index 2**63", call(ignore_index=2**63), ValueError, r"\bignore_index\b"),
        BadInput("smoothing negative", call(smoothing=-0.1), ValueError, r"\blabel_smoothing\b"),
        BadInput("smoothing past 1", call(smoothing=1.5), ValueError, r"\blabel_smoothing\b"),
        BadInput("smoothing NaN", call(smoothing=math.nan), ValueError, r"\blabel_smoothing\b"),
        BadInput("reduction", call(reduction="avg"), ValueError, r"\breduction\b"),
    ]


_WHOLE, _LOOP = INTERPRET_WHOLE_ROW_MAX, INTERPRET_LOOP_BLOCK

CROSS_ENTROPY = Op(
    name="cross_entropy",
    numpy_ref=cross_entropy_numpy,
    torch_ref=cross_entropy_torch,
    kernel=cross_entropy,
    make_inputs=_inputs,
    cases=_cases,
    examples=[
        *((shape, params) for shape, params in ROW_EXAMPLES if shape[-1] > 0),  # C >= 1
        ((7, 33), {"reduction": "mean", "ignored": "some"}),
        ((6, 40), {"reduction": "mean", "ignored": "all"}),  # 0 / 0
        ((5, 300), {"reduction": "sum", "smoothing": 0.1, "target": "int32"}),
        ((9, 70), {"smoothing": 1.0, "ignore_index": 0, "layout": "transposed"}),
        ((3, _WHOLE + 2 * _LOOP + 3), {"smoothing": 0.25, "ignored": "some"}),
        ((7, 33), {"specials": True, "offset": 100.0}),
        ((4, 100), {"offset": -1000.0, "smoothing": 0.1}),
        ((2, _WHOLE + _LOOP + 3), {"values": "large", "specials": True}),
        ((50,), {"reduction": "mean", "smoothing": 0.5}),  # one row, a 0-d target
    ],
    error_model=ErrorModel(outputs=[LOSS_MODEL]),
    bad_inputs=_bad_inputs,
    # Per logit: a compare for the max, a subtraction, an exp and an add into the sum.
    flops=lambda case: 4 * math.prod(case.shape),
    bytes=lambda case: math.prod(case.shape) * itemsize(case.dtype),  # the logits, once
    bench_cases=[
        ((4096, 4096), {"reduction": "mean"}),
        ((4096, 32000), {"reduction": "mean"}),
        ((1024, 128256), {"reduction": "mean"}),
    ],
    torch_bench=cross_entropy_native,
    values=("normal", "offset", "large", "wide", "positive", "ties", "tiny"),
    configs=row_configs(),
    backward=Backward(
        kernel=_through_function,
        numpy_grad=_cross_entropy_grad_numpy,
        wrt=(0,),
        error_model=ErrorModel(outputs=[DX_MODEL]),
        examples=[((4, 33), {"upstream": "sum", "smoothing": 0.1})],
        dy_limit=lambda case: torch.finfo(to_torch(case.dtype)).max / 4,
    ),
)
