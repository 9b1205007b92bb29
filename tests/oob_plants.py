"""Three kernels with planted out-of-bounds accesses that no output comparison sees, for
both checkers: the bounds-checked interpreter (tests/test_bounds.py) and compute-sanitizer
on a GPU (tests/test_memcheck.py, which runs `python -m tests.oob_plants NAME` under it:
after memcheck's first finding CUDA's context is unusable, so one plant a process).

  unmasked_load  a load without its mask; the stray lanes are never stored
  store_past_end a store masked with <= instead of <: one element past the end
  wrong_stride   rows read with a stride of n + 1 instead of n: the last rows run past
                 the tensor
"""

from __future__ import annotations

import sys

import torch
import triton
import triton.language as tl


@triton.jit
def _scale_unmasked_load(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offsets)  # the bug: no mask; the stray lanes are never stored
    tl.store(out_ptr + offsets, x * 2.0, mask=offsets < n)


@triton.jit
def _copy_one_past(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offsets, mask=offsets < n)
    tl.store(out_ptr + offsets, x, mask=offsets <= n)  # the bug: <= stores one past the end


@triton.jit
def _row_sums_wrong_stride(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * (n + 1) + cols, mask=cols < n)  # the bug: stride n + 1
    tl.store(out_ptr + row, tl.sum(x, axis=0))


BLOCK = 16
PLANTS = {  # name: (kernel, input shape, output shape)
    "unmasked_load": (_scale_unmasked_load, (10,), (10,)),
    "store_past_end": (_copy_one_past, (20,), (20,)),
    "wrong_stride": (_row_sums_wrong_stride, (4, 8), (4,)),
}
KERNEL_NAMES = {name: plant[0].__name__ for name, plant in PLANTS.items()}


def launch(kernel, x: torch.Tensor, out_shape: tuple[int, ...]) -> torch.Tensor:
    """`kernel` over x (1-D: blocks of BLOCK elements; 2-D: a program a row) into a new
    output of `out_shape`."""
    out = torch.empty(out_shape, dtype=x.dtype, device=x.device)
    if x.dim() == 2:
        kernel[(x.shape[0],)](x, out, x.shape[1], BLOCK=BLOCK)
    else:
        kernel[(triton.cdiv(x.numel(), BLOCK),)](x, out, x.numel(), BLOCK=BLOCK)
    return out


def run(name: str, device: str) -> torch.Tensor:
    """Plant `name` launched on fresh inputs on `device`."""
    kernel, in_shape, out_shape = PLANTS[name]
    x = torch.arange(torch.Size(in_shape).numel(), dtype=torch.float32, device=device)
    return launch(kernel, x.reshape(in_shape), out_shape)


if __name__ == "__main__":
    out = run(sys.argv[1], "cuda")
    torch.cuda.synchronize()
    print(f"{sys.argv[1]}: ran, {out.numel()} outputs")
