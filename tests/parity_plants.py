"""Planted divergences between a compiled kernel and its interpreted twin: bugs that no
single mode's run exposes on every machine, and parity mode (`--triton-mode=parity`,
harness.parity) names.

PLANTED holds two ops, each registered through the public API:
  block_scan     a running sum computed in blocks of 32, each program adding the last
                 element the previous program wrote: right when programs run one after
                 another (the interpreter), a race on a GPU, where they run at once and
                 read the previous block before it is written. The compiled kernel fails;
                 its twin passes.
  scale_unmasked y = 2 x, loading whole blocks without a mask and storing only the
                 valid lanes: every output is right and a GPU does not fault on the few
                 bytes past the end, but the bounds-checked twin refuses the load.
HONEST holds the same two ops done right (a sequential scan in one program; the masked
load): both pass in every mode. `python -m harness check --ops tests.parity_plants:PLANTED
--mode parity` on a GPU machine reports both divergences.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl
from hypothesis import strategies as st

from harness import ErrorModel, Inputs, Op, Registry
from harness.error_models import elementwise
from harness.tensors import make_tensor
from harness.tolerance import OutputModel, Values

BLOCK = 32


@triton.jit
def _block_scan_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr, RACE: tl.constexpr):
    """y = cumsum(x). RACE: one program per block, each starting from the last element
    the previous one stored, with nothing that makes it wait for that store."""
    if RACE:
        start = tl.program_id(0) * BLOCK
        offsets = start + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + offsets, mask=offsets < n, other=0.0).to(tl.float32)
        carry = tl.load(y_ptr + start - 1, mask=start > 0, other=0.0).to(tl.float32)
        y = tl.cumsum(x, axis=0) + carry
        tl.store(y_ptr + offsets, y.to(y_ptr.dtype.element_ty), mask=offsets < n)
    else:  # one program walks the blocks in order, carrying the sum in a register
        carry = 0.0
        for start in range(0, n, BLOCK):
            offsets = start + tl.arange(0, BLOCK)
            x = tl.load(x_ptr + offsets, mask=offsets < n, other=0.0).to(tl.float32)
            y = tl.cumsum(x, axis=0) + carry
            tl.store(y_ptr + offsets, y.to(y_ptr.dtype.element_ty), mask=offsets < n)
            carry = tl.sum(x, axis=0) + carry


def block_scan(x: torch.Tensor, race: bool = True) -> torch.Tensor:
    y = torch.empty_like(x)
    n = x.numel()
    if n:
        grid = (triton.cdiv(n, BLOCK) if race else 1,)
        _block_scan_kernel[grid](x, y, n, BLOCK=BLOCK, RACE=race)
    return y


@triton.jit
def _scale_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr, MASKED: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if MASKED:
        x = tl.load(x_ptr + offsets, mask=offsets < n)
    else:  # the bug: the tail block's stray lanes read past the end of x
        x = tl.load(x_ptr + offsets)
    tl.store(y_ptr + offsets, (x.to(tl.float32) * 2).to(y_ptr.dtype.element_ty), mask=offsets < n)


def scale(x: torch.Tensor, masked: bool = False) -> torch.Tensor:
    y = torch.empty_like(x)
    if x.numel():
        _scale_kernel[(triton.cdiv(x.numel(), 256),)](x, y, x.numel(), BLOCK=256, MASKED=masked)
    return y


def _vector(budget_numel: int) -> st.SearchStrategy:
    lengths = st.integers(1, max(1, budget_numel)).filter(lambda n: n % 256 != 0)
    return st.tuples(lengths.map(lambda n: (n,)), st.just({}))


def _inputs(case, device, gen) -> Inputs:
    return Inputs((make_tensor(case.shape, case.dtype, device, gen),))


def _prefix_magnitudes(v: Values) -> np.ndarray:
    return np.cumsum(np.abs(v.args[0]))


def _scan_op(kernel) -> Op:
    return Op(
        name="block_scan",
        numpy_ref=np.cumsum,
        torch_ref=lambda x: torch.cumsum(x.float(), 0).to(x.dtype),
        kernel=kernel,
        make_inputs=_inputs,
        cases=lambda budget: _vector(budget.numel),
        examples=[((1000,), {})],
        error_model=ErrorModel(
            outputs=[OutputModel("y", condition=_prefix_magnitudes, terms=lambda c: c.shape[0])]
        ),
    )


def _scale_op(kernel) -> Op:
    return Op(
        name="scale_unmasked",
        numpy_ref=lambda x: 2 * x,
        torch_ref=lambda x: 2 * x,
        kernel=kernel,
        make_inputs=_inputs,
        cases=lambda budget: _vector(budget.numel),
        examples=[((1000,), {})],
        error_model=ErrorModel(outputs=[elementwise("y")]),
    )


PLANTED = Registry([_scan_op(block_scan), _scale_op(scale)], module=f"{__name__}:PLANTED")
HONEST = Registry(
    [
        _scan_op(lambda x: block_scan(x, race=False)),
        _scale_op(lambda x: scale(x, masked=True)),
    ],
    module=f"{__name__}:HONEST",
)
