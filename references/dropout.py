"""dropout: element i of x kept iff the top 31 bits r of word i mod 4 of Philox4x32-10
(seed, counter i // 4) satisfy r >= p * 2**31, and then scaled by 1 / (1 - p); else 0.
The random words are Triton's (`harness.philox`, checked against Random123 and Triton)."""

from __future__ import annotations

import math

import numpy as np
import torch

from harness.philox import randint4x_numpy, randint4x_torch


def _quarters(n: int) -> int:
    """Counters that cover n elements, four a counter."""
    return -(-n // 4)


def top_bits_numpy(n: int, seed: int) -> np.ndarray:
    """The 31 bits r each of n elements is judged by, in row-major order."""
    words = np.stack(randint4x_numpy(seed, np.arange(_quarters(n), dtype=np.int64)), axis=1)
    return words.reshape(-1)[:n] >> 1


def kept_numpy(shape: tuple[int, ...], p: float, seed: int) -> np.ndarray:
    """The mask of kept elements, of `shape` (row-major element order)."""
    top_bits = top_bits_numpy(int(np.prod(shape)), seed).astype(np.float64)
    return (top_bits >= p * 2.0**31).reshape(shape)  # both sides exact in float64


def dropout_numpy(
    x: np.ndarray, p: float, seed: int, return_mask: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    kept = kept_numpy(x.shape, p, seed)
    # p = 1 keeps nothing (and 1 / (1 - p) is not a number).
    y = np.where(kept, x / (1.0 - p), 0.0) if p < 1.0 else np.zeros_like(x)
    return (y, kept.astype(np.float64)) if return_mask else y


def dropout_torch(
    x: torch.Tensor, p: float, seed: int, return_mask: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """In float32 as the kernel, with the same float32 factor; PyTorch's own dropout draws
    other random numbers (its generator's)."""
    n = x.numel()
    counters = torch.arange(_quarters(n), dtype=torch.int64, device=x.device)
    words = torch.stack(randint4x_torch(seed, counters), dim=1).reshape(-1)[:n]
    keep = ((words >> 1) >= math.ceil(p * 2**31)).reshape(x.shape)  # integers: no rounding
    scale = torch.tensor(1.0 / (1.0 - p) if p < 1.0 else 0.0, dtype=torch.float32)
    y = torch.where(keep, x.float() * scale.to(x.device), 0.0).to(x.dtype)
    return (y, keep) if return_mask else y
