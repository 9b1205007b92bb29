"""A tensor descriptor's block at any column (`harness.descriptors` in the interpreter, the
copy engine on a GPU): what lies there, and zeros outside the tensor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from harness.modes import device_for
from harness.tensors import make_tensor

BLOCK = (4, 16)


@triton.jit
def _block_at(desc, out_ptr, row, column, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    block = desc.load([row, column])
    rows = tl.arange(0, BLOCK_R)[:, None]
    columns = tl.arange(0, BLOCK_C)[None, :]
    tl.store(out_ptr + rows * BLOCK_C + columns, block)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_a_block_at_any_column_reads_what_lies_there_and_zeros_outside(dtype, harness_state):
    """Blocks at aligned and unaligned columns, before the first column and past the
    last (and rows likewise) read x where they overlap it and zeros elsewhere, bit for
    bit, as a slice of x padded with zeros does."""
    device = device_for(harness_state.mode)
    x = make_tensor((5, 24), dtype, device, torch.Generator().manual_seed(13))
    desc = TensorDescriptor(x, list(x.shape), list(x.stride()), list(BLOCK))
    rows, columns = BLOCK
    padded = F.pad(x, (columns, columns, rows, rows))
    for row, column in [(0, 0), (1, -3), (-2, 5), (3, 13), (2, 20), (0, -15), (4, 8)]:
        out = torch.full(BLOCK, float("nan"), dtype=x.dtype, device=device)
        _block_at[(1,)](desc, out, row, column, BLOCK_R=rows, BLOCK_C=columns)
        expected = padded[row + rows : row + 2 * rows, column + columns : column + 2 * columns]
        assert torch.equal(out, expected), (row, column)
