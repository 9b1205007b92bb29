"""scale: out = alpha * x, elementwise, for a tensor of any shape and a scalar alpha.

The brief's memory-coalescing example made correct on every size. The GPU idea: memory
is read in transactions of 32-byte sectors, so a warp whose 32 threads touch consecutive
addresses is served by a few wide transactions, while scattered addresses cost one each.
Here program p owns the BLOCK_SIZE consecutive elements from p * BLOCK_SIZE, and Triton
gives each thread a run of consecutive elements that it moves with 16-byte vector loads
and stores: the kernel does one multiply per element and runs at the copy bandwidth of
the card, with 8 elements a thread (two 16-byte loads in float32) and many programs in
flight on each multiprocessor.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._checks import check_real, check_tensor
from kernels._launch import cdiv, fast, replayed

BLOCK_SIZE = 1024
NUM_WARPS = 4
"""1024 elements a program on 4 warps: 8 a thread. Measured:
benchmarks/rows_and_launch_tuning.md#scale-block_size-and-num_warps."""
FLOAT32_MAX = torch.finfo(torch.float32).max


@triton.jit
def scale_kernel(
    x_ptr,  # input, flat, n_elements
    out_ptr,  # output, flat, n_elements
    alpha,  # the factor, a float32 scalar
    n_elements,  # number of elements
    BLOCK_SIZE: tl.constexpr,  # elements per program, a power of two
):
    # 64-bit offsets: past 2**31 elements, pid * BLOCK_SIZE overflows int32.
    offsets = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    # The last block may stick out past the end: masked lanes neither load nor store.
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    # float32 math: one rounding into the output dtype, and the interpreter cannot
    # multiply bfloat16 values directly.
    y = alpha * x.to(tl.float32)
    tl.store(out_ptr + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


def _check_alpha(alpha: object) -> float:
    alpha = check_real("alpha", alpha)
    # The kernel multiplies in float32: a larger alpha would silently become inf.
    if abs(alpha) > FLOAT32_MAX:
        raise ValueError(f"alpha must be within the float32 range, got {alpha!r}")
    return alpha


# A later call of x's signature and this alpha: the same launch, at once (under the same
# constants: benchmarks/tune_rowwise.py sets them).
@replayed(lambda: (BLOCK_SIZE, NUM_WARPS))
def scale(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """alpha * x for a tensor x and a real number alpha; returns a new tensor."""
    check_tensor("x", x)
    alpha = _check_alpha(alpha)
    # The kernel walks flat memory; a non-contiguous view is copied first (one extra pass).
    x = x.contiguous()
    out = torch.empty_like(x)  # contiguous too, in x's shape: no view to make afterwards
    n = out.numel()
    if n > 0:
        grid = (cdiv(n, BLOCK_SIZE),)  # one program per block of BLOCK_SIZE elements
        fast(scale_kernel)[grid](x, out, alpha, n, BLOCK_SIZE=BLOCK_SIZE, num_warps=NUM_WARPS)
    return out
