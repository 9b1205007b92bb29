"""Deliberately broken variants of vector_add, to prove the harness catches each bug.

Each is a real mistake seen in the wild: an off-by-one mask, a kernel that ignores
strides, a launcher that modifies its input, a reference that is itself wrong.
"""

from __future__ import annotations

import dataclasses

import torch
import triton
import triton.language as tl

from harness import Registry
from kernels.vector_add import vector_add
from ops.vector_add import VECTOR_ADD


@triton.jit
def _add_off_by_one(x_ptr, y_ptr, out_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements - 1  # BUG: the last element is never written
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, (x.to(tl.float32) + y.to(tl.float32)).to(x.dtype), mask=mask)


def add_off_by_one(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    _add_off_by_one[(triton.cdiv(n, 256),)](x, y, out, n, BLOCK_SIZE=256)
    return out


def add_ignoring_strides(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # BUG: reads the first numel elements of the storage, whatever the view's strides.
    flat_x = x.as_strided((x.numel(),), (1,))
    flat_y = y.as_strided((y.numel(),), (1,))
    return vector_add(flat_x, flat_y).view(x.shape)


def add_in_place(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x.add_(y)  # BUG: the caller's x is overwritten


def wrong_reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x - y  # BUG in the PyTorch tier, not the kernel


def flushes_specials(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(vector_add(x, y))  # BUG: NaN/Inf silently replaced


BUGGY = Registry(
    [
        dataclasses.replace(VECTOR_ADD, name="off_by_one", kernel=add_off_by_one),
        dataclasses.replace(VECTOR_ADD, name="ignores_strides", kernel=add_ignoring_strides),
        dataclasses.replace(VECTOR_ADD, name="in_place", kernel=add_in_place),
        dataclasses.replace(VECTOR_ADD, name="wrong_reference", torch_ref=wrong_reference),
        dataclasses.replace(VECTOR_ADD, name="flushes_specials", kernel=flushes_specials),
    ],
    module=__name__,
)
