"""A kernel whose store lands far outside its output: in Triton's interpreter that writes
to wild host memory and kills the process (tests/test_crashes.py runs it in a subprocess,
as test_oob.py)."""

import torch
import triton
import triton.language as tl

from harness import Inputs, Op, Registry, strategies
from harness.tensors import make_tensor
from harness.testing import OpTests


@triton.jit
def wild_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offsets, mask=offsets < n)
    tl.store(out_ptr + offsets * 100000000, x, mask=offsets < n)  # the bug: a wild store


def wild(x):
    out = torch.empty_like(x)
    wild_kernel[(triton.cdiv(x.numel(), 64),)](x, out, x.numel(), BLOCK=64)
    return out


class TestWild(OpTests):
    ops = Registry(
        [
            Op(
                name="wild",
                numpy_ref=lambda x: x,
                torch_ref=torch.clone,
                kernel=wild,
                make_inputs=lambda case, device, gen: Inputs(
                    (make_tensor(case.shape, case.dtype, device, gen),)
                ),
                cases=lambda budget: strategies.with_params(strategies.shapes(budget.numel)),
                examples=[((5, 3), {})],
                dtypes=("float32",),
            )
        ],
        module=__name__,
    )
