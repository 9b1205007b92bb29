"""scale: out = alpha * x."""

from __future__ import annotations

import numpy as np
import torch


def scale_numpy(x: np.ndarray, alpha: float) -> np.ndarray:
    return alpha * x


def scale_torch(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return alpha * x
