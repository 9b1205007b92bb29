"""add_row_sum: out = x + x.sum(dim=-1, keepdim=True)."""

from __future__ import annotations

import numpy as np
import torch


def add_row_sum_numpy(x: np.ndarray) -> np.ndarray:
    rows = np.atleast_1d(x)  # a 0-d tensor is one row of one element
    with np.errstate(invalid="ignore"):  # +inf + -inf in a row: NaN on purpose
        return (rows + rows.sum(axis=-1, keepdims=True)).reshape(np.shape(x))


def add_row_sum_torch(x: torch.Tensor) -> torch.Tensor:
    """In float32, rounded once: `x + x.sum()` in float16 would round the sum to float16
    before the add, an error of u(float16) |sum| that a kernel accumulating in float32
    does not make (and the op's error model does not allow)."""
    x32 = x.float()
    return (x32 + x32.sum(dim=-1, keepdim=True)).to(x.dtype)
