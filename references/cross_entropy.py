"""cross_entropy: the loss of logits x (N, C) against class indices target (N,) or
class probabilities target (N, C), as torch.nn.functional.cross_entropy computes it
(optional class weights); x (N, C, d1, ..., dk) with target (N, d1, ..., dk) (or
probabilities of x's shape) is a row of C logits at each position.

Row r's loss, with lse = log sum_j exp(x[r, j]), eps the label smoothing and w the class
weights (all 1 when none are given):

    loss[r] = (1 - eps) w_t (lse - x[r, t]) + eps / C sum_j w_j (lse - x[r, j]),

t = target[r]: the weighted negative log-probability of the target class, mixed with that
of the uniform distribution over the C classes. Class probabilities p replace the target
class by a distribution over all of them (the one-hot p of t gives the formula above):

    loss[r] = (1 - eps) sum_j w_j p[r, j] (lse - x[r, j]) + eps / C sum_j w_j (lse - x[r, j]),

and every row counts: "mean" divides by the rows (PyTorch's rule, weights or not), and
there is no ignore_index. With class indices, a row whose target is ignore_index has
loss 0 (its logits may hold anything); reduction "none" returns the rows' losses, "sum"
their sum, "mean" their sum over the rows' target weights w_t, the rows not ignored
(their count without weights; NaN when every row is ignored: 0 / 0, as PyTorch).
Special values come out as the formula gives them in IEEE arithmetic: a NaN or +inf
logit makes its row NaN, a -inf one weighs nothing in lse but makes the loss +inf if it
is the target's (or, smoothing, any logit's; with probabilities, any logit's: +inf where
its probability is positive, NaN where it is 0, 0 x inf, as PyTorch's). A target that is
neither a class index nor ignore_index has a NaN loss here (PyTorch raises IndexError;
the kernel cannot raise without a device synchronization, so it writes NaN). There must
be at least one class.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

REDUCTIONS = ("none", "sum", "mean")


def row_statistics_numpy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's max m and its sum S of exp(x - m), over the last dim of (N, C) x:
    lse = m + log S. A row of -inf only has S = NaN (-inf - -inf)."""
    with np.errstate(invalid="ignore"):  # inf - inf: NaN on purpose
        row_max = x.max(axis=-1, initial=-np.inf)
        return row_max, np.exp(x - row_max[:, None]).sum(axis=-1)


def logit_rows(x: np.ndarray) -> np.ndarray:
    """x as (rows, C): (C,) one row (a 0-d target), (N, C, d1, ...) a row for each of
    its positions, in target's order."""
    if np.ndim(x) > 2:
        x = np.moveaxis(x, 1, -1)
    return np.atleast_2d(x).reshape(-1, np.shape(x)[-1])


def cross_entropy_numpy(
    x: np.ndarray,
    target: np.ndarray,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    weight: np.ndarray | None = None,
) -> np.ndarray:
    rows = logit_rows(x)
    n_cols = rows.shape[-1]
    weights = np.ones(n_cols) if weight is None else np.asarray(weight, dtype=np.float64)
    if np.ndim(target) == np.ndim(x):  # probabilities (a float64 array here, as indices)
        return _against_probabilities(rows, logit_rows(target), np.shape(x), label_smoothing,
                                      reduction, weights)  # fmt: skip
    classes = np.atleast_1d(np.asarray(target)).reshape(-1).astype(np.int64)
    ignored = classes == ignore_index
    valid = (classes >= 0) & (classes < n_cols)
    target_weight = np.where(valid & ~ignored, weights[np.where(valid, classes, 0)], 0.0)
    row_max, row_sum = row_statistics_numpy(rows)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lse = row_max + np.log(row_sum)
        picked = rows[np.arange(len(classes)), np.where(valid, classes, 0)]
        loss = (1.0 - label_smoothing) * target_weight * (lse - picked)
        if label_smoothing:
            uniform = (weights * (lse[:, None] - rows)).sum(axis=-1) / n_cols
            loss = loss + label_smoothing * uniform
    loss = np.where(ignored, 0.0, np.where(valid, loss, np.nan))
    if reduction == "none":
        return loss.reshape(np.shape(target))
    total = loss.sum()
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(invalid="ignore"):  # every row ignored: 0 / 0
        return np.asarray(total / target_weight.sum())


def _against_probabilities(
    rows: np.ndarray, probabilities: np.ndarray, shape: tuple[int, ...], eps: float,
    reduction: str, weights: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """The loss of (N, C) rows against (N, C) class probabilities (x's shape given)."""
    row_max, row_sum = row_statistics_numpy(rows)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        surprise = row_max[:, None] + np.log(row_sum)[:, None] - rows  # lse - x_j
        loss = (1.0 - eps) * (weights * probabilities * surprise).sum(axis=-1)
        if eps:
            loss = loss + eps / rows.shape[-1] * (weights * surprise).sum(axis=-1)
    if reduction == "none":
        return loss.reshape(shape[:1] + shape[2:] if len(shape) > 1 else ())
    total = loss.sum()
    with np.errstate(invalid="ignore"):  # no rows: 0 / 0
        return np.asarray(total if reduction == "sum" else total / len(loss))


def cross_entropy_torch(
    x: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """In float32, rounded to x's dtype once: in a 16-bit dtype PyTorch rounds each
    log-probability to it, and label smoothing's sum of C of them overflows float16 from
    C = 12288 with logits offset by -1000 (`cross_entropy_native` is the call itself)."""
    weight = None if weight is None else weight.float()
    target = target.float() if target.is_floating_point() else target
    return cross_entropy_native(x.float(), target, ignore_index, label_smoothing, reduction,
                                weight).to(x.dtype)  # fmt: skip


def cross_entropy_native(
    x: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """F.cross_entropy as a user calls it, in x's dtype (what the benchmarks time)."""
    # PyTorch takes int64 class indices only; the kernel takes int32 ones too.
    target = target if target.is_floating_point() else target.long()
    return F.cross_entropy(
        x, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
        label_smoothing=label_smoothing,
    )  # fmt: skip
