"""vector_add: out = x + y."""

from __future__ import annotations

import numpy as np
import torch


def vector_add_numpy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x + y


def vector_add_torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x + y
