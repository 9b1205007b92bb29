"""What the differential tests of matmul cannot see: that the forward reads its operands
in place, through their strides, whatever their layout (the harness's strided inputs
prove that the strides are honoured, not that nothing was copied first)."""

from __future__ import annotations

import pytest
import torch

from harness.modes import device_for
from harness.tensors import make_tensor
from kernels.matmul import matmul

COPIES = ("contiguous", "clone", "reshape", "copy_")
"""What a launcher would call to copy an operand into a layout of its liking."""


def _refuse(*args, **kwargs):
    raise AssertionError("matmul copied an operand")


@pytest.mark.parametrize("layout", ["transposed", "strided", "padded"])
@pytest.mark.parametrize(("a_shape", "b_shape"), [((5, 7), (7, 3)), ((2, 5, 7), (7, 3))])
def test_operands_are_read_in_place(layout, a_shape, b_shape, harness_state):
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    a = make_tensor(a_shape, "float16", device, gen, layout=layout)
    b = make_tensor(b_shape, "float16", device, gen, layout=layout)
    bias = make_tensor(b_shape[-1:], "float16", device, gen, layout="strided")
    with pytest.MonkeyPatch.context() as patch:
        for name in COPIES:
            patch.setattr(torch.Tensor, name, _refuse)
        out = matmul(a, b, bias, activation="gelu")
    # The same kernel on contiguous copies: the same tiles, sums and roundings.
    same = matmul(a.contiguous(), b.contiguous(), bias.contiguous(), activation="gelu")
    assert torch.equal(out, same)
