"""Shared pieces of the row-wise kernels (scale, add_row_sum, softmax, layer_norm).

A row-wise op works on the last dimension; every leading dimension is just "more rows".
"""

from __future__ import annotations

import math

import torch
import triton


def as_rows(x: torch.Tensor) -> torch.Tensor:
    """A 2-D (n_rows, n_cols) view of `x` over its last dim, with unit column stride.

    Copies only when it must: when the last dim is not unit-stride, or the leading dims
    cannot be merged into one row stride. The row stride is passed to the kernel, so a
    row-sliced or padded tensor is read in place.
    """
    n_cols = x.shape[-1] if x.dim() else 1
    if x.dim() == 0:
        x = x.reshape(1, 1)
    if x.dim() > 0 and x.stride(-1) != 1 and x.numel() > 0 and n_cols > 1:
        x = x.contiguous()
    try:
        return x.view(-1, n_cols) if n_cols > 0 else x.reshape(math.prod(x.shape[:-1]), 0)
    except RuntimeError:  # leading dims not mergeable into one stride
        return x.contiguous().view(-1, n_cols)


def block_for(n_cols: int, max_block: int) -> int:
    """The smallest power of two >= n_cols, capped at max_block (and at least 1)."""
    return min(triton.next_power_of_2(max(n_cols, 1)), max_block)
