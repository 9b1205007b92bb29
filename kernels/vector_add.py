"""vector_add: out = x + y, elementwise, for tensors of any shape and size.

The first kernel of the brief, made correct on every size. The GPU idea: the work is
split into blocks of BLOCK_SIZE elements and one *program* (a CTA) handles a block;
`tl.arange` gives each program a vector of offsets, and a mask switches off the lanes
that fall past the end of the tensor in the last, partial block. Consecutive lanes touch
consecutive addresses, so loads and stores are coalesced: this kernel runs at the
memory bandwidth of the card (two loads and one store per element).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._checks import check_like, check_shape, check_tensor
from kernels._launch import cdiv, fast, replayed

BLOCK_SIZE = 1024
NUM_WARPS = 4
"""1024 elements a program on 4 warps: 8 a thread, one 16-byte load of each input in
16 bits. Measured: benchmarks/rows_and_launch_tuning.md#vector_add-block_size-and-num_warps."""


@triton.jit
def vector_add_kernel(
    x_ptr,  # first input, flat, n_elements
    y_ptr,  # second input, flat, n_elements
    out_ptr,  # output, flat, n_elements
    n_elements,  # number of elements
    BLOCK_SIZE: tl.constexpr,  # elements per program, a power of two
):
    # 64-bit offsets: past 2**31 elements, pid * BLOCK_SIZE overflows int32.
    block_start = tl.program_id(axis=0).to(tl.int64) * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    # The last block may stick out past the end: masked lanes neither load nor store.
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    # Add in float32: exact for float16/bfloat16 inputs before the one final rounding,
    # and Triton's interpreter cannot do arithmetic on bfloat16 directly.
    total = x.to(tl.float32) + y.to(tl.float32)
    tl.store(out_ptr + offsets, total.to(out_ptr.dtype.element_ty), mask=mask)


# A later call of the same shapes, strides and dtypes: the same launch, at once (under the
# same constants: benchmarks/tune_rowwise.py sets them).
@replayed(lambda: (BLOCK_SIZE, NUM_WARPS))
def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x + y for two tensors of the same shape, dtype and device; returns a new tensor."""
    check_tensor("x", x)
    check_tensor("y", y)
    check_like("y", y, "x", x)
    check_shape("y", y, tuple(x.shape), "the shape of x")
    # The kernel walks flat memory; a non-contiguous view is copied first (one extra pass).
    x, y = x.contiguous(), y.contiguous()
    out = torch.empty_like(x)  # contiguous too, in x's shape: no view to make afterwards
    n = out.numel()
    if n > 0:
        grid = (cdiv(n, BLOCK_SIZE),)  # one program per block of BLOCK_SIZE elements
        fast(vector_add_kernel)[grid](x, y, out, n, BLOCK_SIZE=BLOCK_SIZE, num_warps=NUM_WARPS)
    return out
