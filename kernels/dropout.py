"""dropout: each element of x kept with probability 1 - p and scaled by 1 / (1 - p), or
zeroed, by random numbers that are a function of (seed, the element's index).

What it computes, exactly (references/dropout.py computes the same): element i of x, in
row-major order, is kept iff r >= p * 2**31, where r is the top 31 bits of word i mod 4 of
Philox4x32-10 (Triton's `tl.randint4x`) keyed by `seed`, at counter i // 4. A kept element
is x * (1 / (1 - p)), the factor rounded to float32 once; a dropped one is 0, whatever x
holds (NaN and inf too). So P(keep) = 1 - ceil(p * 2**31) / 2**31: exactly 1 at p = 0, 0
at p = 1. The same seed gives the same mask on every call, device and launch config.

The GPU ideas:

1. Counter-based random numbers. Philox makes a random word from (key, counter) alone,
   with no state carried from one number to the next, so every program draws its own
   elements' numbers independently, and the backward regenerates the forward's mask from
   the seed instead of storing it (`DropoutFunction` saves no mask: Triton's "low-memory
   dropout" tutorial).
2. Use all four words. One Philox call is ten rounds of two 32 x 32 -> 64-bit multiplies
   and makes four independent words; `tl.rand` per element would throw three away and do
   four times the integer work (offline SASS for sm_90, Triton 3.9: 64 instructions an
   element against this kernel's 28, `benchmarks/dropout_probe.py --offline`). Here
   counter c serves the four elements 4c .. 4c + 3, and a program's block is a
   (BLOCK_SIZE / 8, 8) tile of two counters a row, whose eight adjacent elements a thread
   loads and stores as one 16-byte vector in 16 bits (two in float32; rows of one
   counter's four took two 8-byte ones in 16 bits and 30 instructions an element).
3. Compare integers. `tl.rand` turns a word into a float32 (rounding 31 bits to 24) and
   the tutorial compares it with p; comparing the 31 bits with an integer threshold costs
   no conversion and keeps every one of 2**31 outcomes equally likely.
"""

from __future__ import annotations

import math
import numbers

import torch
import triton
import triton.language as tl

from kernels._checks import check_real, check_tensor
from kernels._launch import cdiv, fast

BLOCK_SIZE = 1024
NUM_WARPS = 4
"""1024 elements a program on 4 warps, as vector_add and scale; not yet tuned on a GPU."""


@triton.jit(do_not_specialize=["seed", "threshold"])
def dropout_kernel(
    x_ptr,  # input, flat, n_elements
    out_ptr,  # output, flat, n_elements
    keep_ptr,  # the mask, flat, n_elements booleans (STORE_KEEP), else unused
    n_elements,  # number of elements
    seed,  # the random stream: an int, taken modulo 2**64
    threshold,  # keep where the 31 random bits are >= threshold = ceil(p * 2**31)
    scale,  # 1 / (1 - p), float32 (unused where p = 1: nothing is kept)
    BLOCK_SIZE: tl.constexpr,  # elements per program, a multiple of 8
    STORE_KEEP: tl.constexpr,  # also write which elements were kept
):
    # A (BLOCK_SIZE / 8, 8) tile: row r holds elements 8r .. 8r + 7, the four words of
    # Philox counters 2r and 2r + 1 (64-bit, so that no counter wraps).
    ROWS: tl.constexpr = BLOCK_SIZE // 8
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    counters = rows[:, None] * 2 + tl.arange(0, 2)[None, :]
    word0, word1, word2, word3 = tl.randint4x(seed, counters)
    # Element 4c + k takes word k of counter c: the joins make (ROWS, 2, 2, 2), indexed
    # (row, counter, k // 2, k % 2), whose row-major order is the elements'.
    words = tl.join(tl.join(word0, word2), tl.join(word1, word3))
    words = tl.reshape(words, (ROWS, 8))
    offsets = rows[:, None] * 8 + tl.arange(0, 8)[None, :]
    # The last block may stick out past the end: masked lanes neither load nor store.
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    # The words are uint32: >> 1 keeps the top 31 bits, which fit an int32.
    keep = (words >> 1).to(tl.int32) >= threshold
    # float32 math: one rounding into the output dtype, and the interpreter cannot
    # multiply bfloat16 values directly. A dropped element is 0 even where x is NaN.
    y = tl.where(keep, x.to(tl.float32) * scale, 0.0)
    tl.store(out_ptr + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)
    if STORE_KEEP:
        tl.store(keep_ptr + offsets, keep, mask=mask)


def check_probability(p: object) -> float:
    """`p` as a float in [0, 1]."""
    p = check_real("p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    return p


def check_seed(seed: object) -> int:
    """`seed` as a Python int Triton can pass: an integer (not a bool) in [-2**63, 2**64)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"seed must be in [-2**63, 2**64), got {seed}")
    return seed


def dropout(
    x: torch.Tensor, p: float, seed: int, return_mask: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """x with each element kept and scaled by 1 / (1 - p), or zeroed (module docstring):
    a new tensor of x's shape and dtype; with return_mask, also the boolean mask of the
    kept elements (as torch.native_dropout). The same (x's shape, p, seed) always drops
    the same elements."""
    check_tensor("x", x)
    p = check_probability(p)
    seed = check_seed(seed)
    if not isinstance(return_mask, bool):
        raise TypeError(f"return_mask must be a bool, got {type(return_mask).__name__}")
    # The kernel walks flat memory; a non-contiguous view is copied first (one extra pass).
    x = x.contiguous()
    out = torch.empty_like(x)  # contiguous too, in x's shape: no view to make afterwards
    keep = torch.empty_like(x, dtype=torch.bool) if return_mask else out  # (out: unused)
    n = out.numel()
    if n > 0:
        threshold = math.ceil(p * 2**31)  # p * 2**31 is exact in float64
        scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
        grid = (cdiv(n, BLOCK_SIZE),)  # one program per block of BLOCK_SIZE elements
        fast(dropout_kernel)[grid](
            x, out, keep, n, seed, threshold, scale,
            BLOCK_SIZE=BLOCK_SIZE, STORE_KEEP=return_mask, num_warps=NUM_WARPS,
        )  # fmt: skip
    return (out, keep) if return_mask else out


class DropoutFunction(torch.autograd.Function):
    """dropout(x, p, seed) with its gradient: dx = dropout(dy, p, seed), the same mask
    regenerated from the seed (nothing but the seed is saved)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
        ctx.p, ctx.seed = p, seed
        return dropout(x, p, seed)

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return dropout(dy, ctx.p, ctx.seed), None, None


class TritonDropout(torch.nn.Module):
    """A drop-in for torch.nn.Dropout (in place excepted): in training, a fresh seed a
    call from PyTorch's default CPU generator (so torch.manual_seed makes a run
    repeatable); in eval, x itself."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if inplace:
            raise ValueError("inplace must be False: TritonDropout returns a new tensor")
        self.p = check_probability(p)
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        seed = int(torch.randint(0, 2**31, (), dtype=torch.int64))
        return DropoutFunction.apply(x, self.p, seed)

    # nn.Dropout's attributes, so that its repr describes this module too.
    extra_repr = torch.nn.Dropout.extra_repr
