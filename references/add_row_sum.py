"""add_row_sum: out = x + x.sum(dim=-1, keepdim=True)."""

from __future__ import annotations

import numpy as np
import torch


def add_row_sum_numpy(x: np.ndarray) -> np.ndarray:
    rows = np.atleast_1d(x)  # a 0-d tensor is one row of one element
    with np.errstate(invalid="ignore"):  # +inf + -inf in a row: NaN on purpose
        return (rows + rows.sum(axis=-1, keepdims=True)).reshape(np.shape(x))


def add_row_sum_torch(x: torch.Tensor) -> torch.Tensor:
    return x + x.sum(dim=-1, keepdim=True)
