"""cross_entropy: F.cross_entropy with class-index or class-probability targets (class
weights, ignore_index, label_smoothing, reductions; logits (N, C) or (N, C, d1, ...)), and
its gradient in the logits."""

from __future__ import annotations

import math
from typing import NamedTuple

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
from harness.dtypes import SMALLEST_NORMAL, UNIT_ROUNDOFF, itemsize, to_torch
from kernels import cross_entropy as kernel_module
from kernels._rows import INTERPRET_LOOP_BLOCK, INTERPRET_WHOLE_ROW_MAX
from kernels.cross_entropy import (
    REDUCTIONS,
    CrossEntropyFunction,
    classes_last,
    cross_entropy,
)
from ops._one_tensor import make_x
from ops._rowwise import ROW_BLOCKS, ROW_EXAMPLES, row_configs, row_lanes
from references.cross_entropy import (
    cross_entropy_native,
    cross_entropy_numpy,
    cross_entropy_torch,
    logit_rows,
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
# Class weights: none, drawn in [0, 2) in x's dtype with a quarter of them 0 (a row whose
# target weighs 0 adds nothing, to the "mean"'s denominator either), and the same read
# through a stride of 2.
WEIGHTS = ("none", "random", "strided")
# Class indices of either dtype, or class probabilities (soft labels) in x's dtype
# (`_probabilities`).
TARGETS = ("int64", "int32", "probabilities")


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
        target=st.sampled_from(TARGETS),
        specials=st.booleans(),
        offset=st.sampled_from(OFFSETS),
        weights=st.sampled_from(WEIGHTS),
    )


def _classes(shape: tuple[int, ...]) -> int:
    """C: x's dim 1, or its only dim."""
    return shape[1] if len(shape) > 1 else shape[0]


def _target_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """x's shape without its class dim: (N,), (N, d1, ..., dk) or ()."""
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def _soft(case: Case) -> bool:
    """The target is class probabilities."""
    return case.params.get("target") == "probabilities"


def _limit(case: Case) -> float:
    """The wide profile's largest magnitude: a row's sum of logits (label smoothing's mean)
    stays finite in float32."""
    classes = _classes(case.shape)
    f32_max = torch.finfo(torch.float32).max
    return min(torch.finfo(to_torch(case.dtype)).max, f32_max / (4 * max(classes, 1)))


def _class_weights(case: Case, device, gen) -> torch.Tensor | None:
    drawn = case.params.get("weights", "none")
    if drawn == "none":
        return None
    n_classes = _classes(case.shape)
    weight = torch.rand(n_classes, generator=gen) * 2
    weight[torch.rand(n_classes, generator=gen) < 0.25] = 0.0
    weight = weight.to(device=device, dtype=to_torch(case.dtype))
    if drawn == "strided":  # every other element of a buffer twice as long, NaN between
        weight = torch.stack([weight, torch.full_like(weight, math.nan)], dim=1).view(-1)[::2]
    return weight


def _probabilities(case: Case, x: torch.Tensor, gen) -> torch.Tensor:
    """Class probabilities of x's shape, dtype and memory format: each row a softmax of
    2 z, z standard normal (peaked, as a teacher's are: a few percent of the classes hold
    most of it, so that rows differ), a quarter of them then 0, and the rest divided by
    their sum (a row of zeros stays); every other row then scaled by a factor drawn in
    [0, 2): PyTorch takes probabilities as given, and a kernel that assumed a sum of 1
    would be wrong there."""
    rows = torch.randn(math.prod(_target_shape(case.shape)), _classes(case.shape), generator=gen)
    rows = (2 * rows).softmax(dim=-1)
    rows[torch.rand(rows.shape, generator=gen) < 0.25] = 0.0
    rows /= rows.sum(dim=-1, keepdim=True).clamp_min(1e-30)
    rows[1::2] *= 2 * torch.rand(rows[1::2].shape[0], 1, generator=gen)
    shape = tuple(case.shape)
    if len(shape) > 2:  # rows are positions (N, d1, ...), their classes last
        p = rows.reshape(shape[:1] + shape[2:] + shape[1:2]).movedim(-1, 1)
    else:
        p = rows.reshape(shape)
    return torch.empty_like(x).copy_(p)  # x's dtype, device and memory format


def _inputs(case: Case, device, gen) -> Inputs:
    """x, target, ignore_index, label_smoothing, reduction ("none" unless the case says:
    a loss a row is what the tolerance tests read), weight. Ignored rows are drawn among
    the rows whose logits are finite: PyTorch's backward passes a NaN of an ignored row on
    as NaN, where the oracle and the kernel give 0 (tests/test_cross_entropy.py checks
    that). Class probabilities come with ignore_index -100, the only one they take."""
    params = case.params
    x = make_x(case, device, gen, _limit(case)).add_(params.get("offset", 0.0))
    if params.get("memory") == "channels_last":  # (N, C, H, W): its rows are read in place
        x = x.contiguous(memory_format=torch.channels_last)
    smoothing, reduction = params.get("smoothing", 0.0), params.get("reduction", "none")
    weight = _class_weights(case, device, gen)
    if _soft(case):
        return Inputs((x, _probabilities(case, x, gen), -100, smoothing, reduction, weight))
    ignore_index = params.get("ignore_index", -100)
    n_classes = _classes(case.shape)
    n_rows = math.prod(_target_shape(case.shape))
    target = torch.randint(0, n_classes, (n_rows,), generator=gen)
    ignored = params.get("ignored", "none")
    if ignored != "none" and n_rows:
        finite = torch.isfinite(classes_last(x.cpu()).reshape(n_rows, n_classes)).all(dim=-1)
        picked = torch.rand(n_rows, generator=gen) < 0.25 if ignored == "some" else True
        target[finite & picked] = ignore_index
    target = target.to(getattr(torch, params.get("target", "int64")))
    target = target.reshape(_target_shape(case.shape)).to(device)
    return Inputs((x, target, ignore_index, smoothing, reduction, weight))


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


class _Rows(NamedTuple):
    x: np.ndarray  # (N, C)
    counted: np.ndarray  # (N,) bool: not ignored, in range (probabilities: every row)
    ignored: np.ndarray  # (N,) bool: the target is ignore_index
    eps: float
    weights: np.ndarray  # (C,): the class weights, or ones
    share: np.ndarray  # (N, C): w_j y_j, y the target's distribution (one-hot or p), 0
    # where the row does not count
    target_weight: np.ndarray  # (N,): the share's sum, w_t where counted, else 0
    probabilities: bool  # the target is class probabilities (its sum a sum over the row)


def _rows_of(v: Values) -> _Rows:
    """x as (N, C) rows, which rows count, eps, the class weights and each class's share
    of the target term."""
    x, target, ignore_index, smoothing, _, weight = v.args[:6]
    rows = logit_rows(x)
    n_rows, n_classes = rows.shape
    weights = np.ones(n_classes) if weight is None else np.asarray(weight, dtype=np.float64)
    probabilities = np.ndim(target) == np.ndim(x)  # (each tier gets float64 arrays)
    if probabilities:
        ignored = np.zeros(n_rows, dtype=bool)
        counted = ~ignored
        share = weights * logit_rows(np.asarray(target, dtype=np.float64))
    else:
        classes = np.atleast_1d(np.asarray(target)).reshape(-1).astype(np.int64)
        ignored = classes == ignore_index
        counted = ~ignored & (classes >= 0) & (classes < n_classes)
        share = np.zeros_like(rows)
        picked = np.arange(n_rows)[counted], classes[counted]
        share[picked] = weights[classes[counted]]
    return _Rows(rows, counted, ignored, float(smoothing), weights, share, share.sum(axis=-1),
                 probabilities)  # fmt: skip


def _statistics(v: Values) -> tuple[np.ndarray, ...]:
    """Per row: z = x - m, p = softmax(x), log S (shared by the conditions)."""
    key = "cross_entropy_statistics"
    if key not in v.cache:
        rows = _rows_of(v).x
        row_max, row_sum = row_statistics_numpy(rows)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = rows - row_max[:, None]
            p = np.exp(z) / row_sum[:, None]
            v.cache[key] = z, p, np.log(row_sum)
    return v.cache[key]


def _row_conditions(v: Values) -> np.ndarray:
    """Each row's condition (0 where ignored; anything where the loss is not finite). With
    class weights w each term of the loss is weighed as the loss weighs it:
    (1 - eps) |w_t| (1 + log S + spread + |z_t|) + eps / C (sum_j |w_j| (1 + log S
    + spread) + sum_j |w_j| (|x_j| + |z_j|)), which is the formula above where w is 1.
    Class probabilities p spread the first term over the row as the smoothing's is:
    (1 - eps) sum_j |w_j p_j| (1 + log S + spread + |z_j| + |x_j|)."""
    r = _rows_of(v)
    z, p, log_sum = _statistics(v)
    n_classes = r.x.shape[1]
    magnitude = np.abs(r.weights)
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.where(p > 0, p * np.abs(z), 0.0).sum(axis=-1)
        lse = 1.0 + log_sum + spread  # the rounding of log sum exp
        # |z_t| for a class index; a sum of the logits, rounded, then m subtracted for
        # probabilities (where a share of 0 leaves the term out, whatever x_j is).
        summed = np.abs(z) + np.abs(r.x) if r.probabilities else np.abs(z)
        shared = np.where(r.share != 0, np.abs(r.share) * (lse[:, None] + summed), 0.0)
        condition = (1.0 - r.eps) * shared.sum(axis=-1)
        if r.eps:
            spread_x = (magnitude * (np.abs(r.x) + np.abs(z))).sum(axis=-1)
            condition += r.eps / n_classes * (magnitude.sum() * lse + spread_x)
    return np.where(r.counted, np.nan_to_num(condition, nan=np.inf), 0.0)


def _loss_condition(v: Values) -> np.ndarray:
    """A row's condition; summed over the rows for "sum", with each row's |loss| (the
    rows' float32 sum), and divided by the rows counted (their target weights' sum) for
    "mean"."""
    rows_condition = _row_conditions(v)
    reduction = v.args[4]
    if reduction == "none":
        return rows_condition.reshape(np.shape(v.oracle[0]))
    x, target, ignore_index, smoothing, _, weight = v.args[:6]
    losses = cross_entropy_numpy(x, target, ignore_index, smoothing, "none", weight)
    with np.errstate(invalid="ignore"):
        total = (rows_condition + np.abs(losses).reshape(-1)).sum()
    if reduction == "mean":
        denominator = _mean_denominator(v)
        total = total / abs(denominator) if denominator else 0.0
    return np.asarray(total)


def _mean_denominator(v: Values) -> float:
    """What "mean" divides by: the rows not ignored, or with class weights their target
    weights' sum; with class probabilities, every row."""
    r = _rows_of(v)
    if r.probabilities:
        return float(len(r.counted))
    if v.args[5] is None:
        return float(np.count_nonzero(~r.ignored))
    return float(r.target_weight.sum())


def _loss_terms(case: Case) -> int | tuple[int, int]:
    """A row's sum of C terms; the reduced loss's sum of N rows on top."""
    n_classes = _classes(case.shape)
    if case.params.get("reduction", "none") == "none":
        return n_classes
    return n_classes, max(math.prod(_target_shape(case.shape)), 1)


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
    """d loss / d loss_r for each row: dy itself ("none"), or one dy for all ("sum"),
    over the "mean"'s denominator ("mean"); 0 for an ignored row."""
    reduction, dy = v.args[4], v.args[-1]
    ignored = _rows_of(v).ignored
    if reduction == "none":
        g = np.atleast_1d(dy).astype(np.float64).reshape(-1)
    else:
        g = np.full(len(ignored), float(dy))
        if reduction == "mean":
            denominator = _mean_denominator(v)  # 0: the loss is 0 / 0, its gradient NaN
            g = g / denominator if denominator else np.full_like(g, np.nan)
    return np.where(ignored, 0.0, g)


def _like_x(rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(rows, C) back in x's shape (`logit_rows` undone)."""
    if np.ndim(x) <= 2:
        return rows.reshape(np.shape(x))
    shape = np.shape(x)
    return np.moveaxis(rows.reshape(shape[:1] + shape[2:] + shape[1:2]), -1, 1)


def _cross_entropy_grad_numpy(
    x: np.ndarray, target: np.ndarray, ignore_index: int, smoothing: float, reduction: str,
    weight: np.ndarray | None, dy: np.ndarray,
) -> tuple[np.ndarray]:  # fmt: skip
    """dx = g ((1 - eps) (T p - w y) + eps / C (W p - w)) for each row's upstream gradient
    g (0 on an ignored row, NaN where the target is out of range), p = softmax(x), y the
    target's distribution (onehot(t), or its probabilities), w the class weights (ones
    without), T = sum_j w_j y_j (w_t for a class index) and W = sum_j w_j: g (p - (1 - eps)
    onehot(t) - eps / C) for an unweighted class index. With class probabilities y, also
    their gradient dy_j = g (1 - eps) w_j (lse - x_j)."""
    v = Values((x, target, ignore_index, smoothing, reduction, weight, dy), {}, ())
    r = _rows_of(v)
    _, p, _ = _statistics(v)
    n_classes = r.x.shape[1]
    g = _row_gradients(v)
    with np.errstate(invalid="ignore"):
        hit = (1.0 - r.eps) * (r.target_weight[:, None] * p - r.share)
        uniform = r.eps / n_classes * (r.weights.sum() * p - r.weights)
        dx = g[:, None] * (hit + uniform)
    dx = np.where(r.ignored[:, None], 0.0, dx)  # whatever its logits hold
    dx = np.where((r.counted | r.ignored)[:, None], dx, np.nan)  # a target out of range
    if not r.probabilities:
        return (_like_x(dx, x),)
    # and in the probabilities: g (1 - eps) w_j (lse - x_j) (lse - x_j = log S - z_j)
    z, _, log_sum = _statistics(v)
    with np.errstate(invalid="ignore", over="ignore"):
        dp = g[:, None] * (1.0 - r.eps) * r.weights * (log_sum[:, None] - z)
    return _like_x(dx, x), _like_x(dp, x)


def _dx_condition(v: Values) -> np.ndarray:
    """|g| (s p_j (1 + |z_j| + log S + sum_k p_k |z_k|) + (1 - eps) |w_j y_j|
    + eps |w_j| / C), s = (1 - eps) sum_k |w_k y_k| + eps sum_k |w_k| / C (1 without
    weights, y a one-hot class index): the probabilities' rounding, as softmax's
    (PyTorch's 16-bit log-probabilities add log S), and the terms subtracted from them;
    plus |g| s 2**-126 / u(float32): a probability below float32's smallest normal is
    flushed or rounded absolutely (the GPU's ex2 flushes it to 0), and a large |g|
    multiplies that (a drawn case: p 4.8e-59 times dy -1.4e30, 0 from both PyTorch and the
    kernel)."""
    r = _rows_of(v)
    z, p, log_sum = _statistics(v)
    n_classes = r.x.shape[1]
    g = np.abs(_row_gradients(v))
    magnitude = np.abs(r.weights)
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.where(p > 0, p * np.abs(z), 0.0).sum(axis=-1, keepdims=True)
        rounded = np.where(p > 0, p * (1.0 + np.abs(z) + log_sum[:, None] + spread), 0.0)
        hit = (1.0 - r.eps) * np.abs(r.share)
        scale = hit.sum(axis=-1) + r.eps * magnitude.sum() / n_classes
        underflow = SMALLEST_NORMAL["float32"] / UNIT_ROUNDOFF["float32"]
        rounded = rounded + underflow
        condition = g[:, None] * (scale[:, None] * rounded + hit + r.eps * magnitude / n_classes)
    condition = np.where(np.isfinite(condition), condition, np.inf)
    return _like_x(np.where(r.counted[:, None], condition, 0.0), v.args[0])


def _gradient_model(name: str, condition) -> OutputModel:
    """A gradient of (N, C), each element from a row's statistics (sums of C terms)."""
    return OutputModel(name, condition, terms=lambda case: _classes(case.shape),
                       lanes=row_lanes, steps=_STEPS)  # fmt: skip


DX_MODEL = _gradient_model("dx", _dx_condition)


def _dp_condition(v: Values) -> np.ndarray:
    """|g| (1 - eps) |w_j| (1 + log S + sum_k p_k |z_k| + |z_j|): lse's rounding (as the
    loss's) and z_j's."""
    r = _rows_of(v)
    z, p, log_sum = _statistics(v)
    g = np.abs(_row_gradients(v))
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.where(p > 0, p * np.abs(z), 0.0).sum(axis=-1, keepdims=True)
        lse = 1.0 + log_sum[:, None] + spread + np.abs(z)
        condition = g[:, None] * (1.0 - r.eps) * np.abs(r.weights) * lse
    return _like_x(np.where(np.isfinite(condition), condition, np.inf), v.args[0])


DP_MODEL = _gradient_model("dtarget", _dp_condition)
"""The gradient in class probabilities (cases whose target is probabilities)."""


def _through_function(
    x: torch.Tensor, target: torch.Tensor, ignore_index: int, smoothing: float, reduction: str,
    weight: torch.Tensor | None,
) -> torch.Tensor:  # fmt: skip
    """The training path: CrossEntropyFunction (whose backward the gradient op checks)."""
    return CrossEntropyFunction.apply(x, target, ignore_index, smoothing, reduction, weight)


# -------------------------------------------------------------------------- bad inputs
def _bad_inputs(device) -> list[BadInput]:
    x = torch.zeros(4, 8, device=device)
    t = torch.zeros(4, dtype=torch.int64, device=device)
    other = "meta" if device.type == "cpu" else "cpu"

    def call(x=x, t=t, ignore_index=-100, smoothing=0.0, reduction="mean", weight=None):
        return Inputs((x, t, ignore_index, smoothing, reduction, weight))

    w = torch.ones(8, device=device)
    p = torch.full((4, 8), 1 / 8, device=device)

    return [
        BadInput("x integer", call(x=t.reshape(4, 1)), TypeError, r"\bx\b.*dtype"),
        BadInput("x not a tensor", call(x=[[1.0]]), TypeError, r"\bx\b.*torch.Tensor"),
        BadInput("x 0-D", call(x=x[0, 0]), ValueError, r"\bx\b.*\(N, C\)"),
        BadInput("x 3-D, target 1-D", call(x=x.reshape(2, 2, 8)), ValueError, r"target.*\(2, 8"),
        BadInput("no classes", call(x=x[:, :0]), ValueError, r"\bx\b.*one class"),
        BadInput("target float, one a row", call(t=x[:, 0]), ValueError, r"target.*\(4, 8\)"),
        BadInput("target int16", call(t=t.short()), TypeError, r"\btarget\b.*dtype"),
        BadInput("target shape", call(t=t[:3]), ValueError, r"\btarget\b.*shape"),
        BadInput("probabilities float16", call(t=p.half()), TypeError, r"\btarget\b.*dtype"),
        BadInput("probabilities float64", call(t=p.double()), TypeError, r"\btarget\b.*dtype"),
        BadInput("probabilities shape", call(t=p[:, :7]), ValueError, r"\btarget\b.*\(4, 8\)"),
        BadInput("probabilities elsewhere", call(t=p.to(other)), ValueError, r"\btarget\b"),
        BadInput(
            "probabilities ignore_index",
            call(t=p, ignore_index=0),
            ValueError,
            r"\bignore_index\b.*-100",
        ),
        BadInput("target elsewhere", call(t=t.to(other)), ValueError, r"\btarget\b"),
        BadInput("ignore_index float", call(ignore_index=-100.0), TypeError, r"\bignore_index\b"),
        BadInput("ignore_index 2**63", call(ignore_index=2**63), ValueError, r"\bignore_index\b"),
        BadInput("smoothing negative", call(smoothing=-0.1), ValueError, r"\blabel_smoothing\b"),
        BadInput("smoothing past 1", call(smoothing=1.5), ValueError, r"\blabel_smoothing\b"),
        BadInput("smoothing NaN", call(smoothing=math.nan), ValueError, r"\blabel_smoothing\b"),
        BadInput("reduction", call(reduction="avg"), ValueError, r"\breduction\b"),
        BadInput("weight not a tensor", call(weight=[1.0] * 8), TypeError, r"\bweight\b"),
        BadInput("weight float16", call(weight=w.half()), TypeError, r"\bweight\b.*dtype"),
        BadInput("weight shape", call(weight=w[:7]), ValueError, r"\bweight\b.*\(8,\)"),
        BadInput("weight 2-D", call(weight=w.reshape(1, 8)), ValueError, r"\bweight\b.*shape"),
        BadInput("weight elsewhere", call(weight=w.to(other)), ValueError, r"\bweight\b"),
    ]


_WHOLE, _LOOP = INTERPRET_WHOLE_ROW_MAX, INTERPRET_LOOP_BLOCK
_SOFT = {"target": "probabilities"}  # class probabilities, soft labels

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
        ((7, 33), {"reduction": "mean", "ignored": "some", "weights": "random"}),
        ((5, 300), {"smoothing": 0.1, "weights": "strided", "offset": -1000.0}),
        ((3, _WHOLE + 2 * _LOOP + 3), {"reduction": "sum", "smoothing": 0.25, "weights": "random"}),
        ((2, _WHOLE + _LOOP + 3), {"smoothing": 0.5, "weights": "strided", "specials": True}),
        # (N, C, d1, ...): a row of C logits at each position, target (N, d1, ...)
        ((2, 7, 5), {}),
        (
            (3, 33, 2, 4),
            {"reduction": "mean", "ignored": "some", "weights": "random", "smoothing": 0.1},
        ),
        ((2, 40, 3, 3), {"memory": "channels_last", "reduction": "sum", "layout": "contiguous"}),
        ((2, _WHOLE + _LOOP + 3, 2), {"smoothing": 0.2, "ignored": "some"}),
        # class probabilities: whole rows, streamed ones, (N, C, d1, ...) read in place
        ((7, 33), {**_SOFT, "reduction": "mean"}),
        ((5, 300), {**_SOFT, "smoothing": 0.1, "weights": "random", "offset": -1000.0}),
        ((3, _WHOLE + 2 * _LOOP + 3), {**_SOFT, "weights": "strided", "smoothing": 0.25}),
        ((2, 40, 3, 3), {**_SOFT, "memory": "channels_last", "layout": "contiguous"}),
    ],
    error_model=ErrorModel(outputs=[LOSS_MODEL]),
    bad_inputs=_bad_inputs,
    # Per logit: a compare for the max, a subtraction, an exp and an add into the sum.
    flops=lambda case: 4 * math.prod(case.shape),
    # the logits once (and the probabilities, where the target is)
    bytes=lambda case: math.prod(case.shape) * itemsize(case.dtype) * (2 if _soft(case) else 1),
    bench_cases=[
        ((4096, 4096), {"reduction": "mean"}),
        ((4096, 32000), {"reduction": "mean"}),
        ((1024, 128256), {"reduction": "mean"}),
        # class weights and label smoothing: the streamed forward reads a weight a logit
        ((4096, 50257), {"reduction": "mean", "weights": "random", "smoothing": 0.1}),
        # soft labels: a probability read beside each logit
        ((4096, 32000), {"reduction": "mean", "target": "probabilities"}),
    ],
    torch_bench=cross_entropy_native,
    values=("normal", "offset", "large", "wide", "positive", "ties", "tiny"),
    configs=row_configs(),
    backward=Backward(
        kernel=_through_function,
        numpy_grad=_cross_entropy_grad_numpy,
        wrt=(0, 1),  # x, and the target where it is probabilities
        error_model=ErrorModel(
            outputs=lambda case: [DX_MODEL, DP_MODEL] if _soft(case) else [DX_MODEL]
        ),
        examples=[
            ((4, 33), {"upstream": "sum", "smoothing": 0.1}),
            ((6, 40), {"reduction": "mean", "smoothing": 0.3, "weights": "random"}),
            ((3, _WHOLE + _LOOP + 3), {"smoothing": 0.2, "weights": "strided"}),
            ((2, 9, 3, 2), {"reduction": "mean", "weights": "random", "smoothing": 0.3}),
            ((2, 40, 3, 3), {"memory": "channels_last", "layout": "contiguous"}),
            ((4, 33), {**_SOFT, "upstream": "sum", "smoothing": 0.1, "weights": "random"}),
            ((3, _WHOLE + _LOOP + 3), {**_SOFT, "reduction": "mean"}),
        ],
        dy_limit=lambda case: torch.finfo(to_torch(case.dtype)).max / 4,
    ),
)
