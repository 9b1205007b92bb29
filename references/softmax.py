"""softmax over the last dim: exp(x - max) / sum(exp(x - max)).

The oracle is written so that special values come out as PyTorch gives them, which is
what the formula gives in IEEE arithmetic: a NaN or +inf in a row makes the row NaN
(+inf - +inf is NaN, and NaN spreads through the sum), a -inf element gives 0, and a row
entirely -inf is NaN (-inf - -inf is NaN).
"""

from __future__ import annotations

import numpy as np
import torch


def softmax_numpy(x: np.ndarray) -> np.ndarray:
    rows = np.atleast_1d(x)  # a 0-d tensor is one row of one element
    if rows.shape[-1] == 0:
        return np.array(x, copy=True)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN on purpose
        shifted = rows - rows.max(axis=-1, keepdims=True)  # max propagates NaN
        numerator = np.exp(shifted)
        return (numerator / numerator.sum(axis=-1, keepdims=True)).reshape(np.shape(x))


def softmax_torch(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)
