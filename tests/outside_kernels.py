"""Kernels as a user brings them: in the style of Triton's tutorials (fused softmax,
LayerNorm forward, blocked matmul, a row's argmax), written here, not copied, each with a
planted bug.
tests/outside_ops.py registers them through the public API alone.

The launchers take `bug=True` to run the planted variant:
  softmax     the padding lanes load 0.0 instead of -inf: they add exp(0 - max) to the sum
              of every row whose length is not a power of two;
  layer_norm  the variance sums (x - mean)**2 over the padding lanes too (the mean**2 of
              each, where a tl.where was needed);
  matmul      the K loop runs K // BLOCK_K blocks instead of cdiv(K, BLOCK_K): the last,
              partial block of K is never added;
  argmax      the padding lanes load 0.0 instead of -inf: a row of negative values whose
              length is not a power of two points past its end.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _load_row(x_ptr, x_row_stride, n, BLOCK: tl.constexpr, BUG: tl.constexpr):
    """This program's row of x (its index, the columns, the values in float32: the
    interpreter cannot compare or add bfloat16, stored as uint16), padded past n with
    -inf, or with 0 for BUG (a row of negative logits then has the padding as its max)."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    if BUG:
        x = tl.load(x_ptr + row * x_row_stride + cols, mask=cols < n, other=0.0)
    else:
        x = tl.load(x_ptr + row * x_row_stride + cols, mask=cols < n, other=-float("inf"))
    return row, cols, x.to(tl.float32)


@triton.jit
def _softmax_kernel(x_ptr, y_ptr, x_row_stride, y_row_stride, n, BLOCK: tl.constexpr,
                    BUG: tl.constexpr):  # fmt: skip
    row, cols, x = _load_row(x_ptr, x_row_stride, n, BLOCK, BUG)
    z = tl.exp(x - tl.max(x, axis=0))
    y = z / tl.sum(z, axis=0)
    tl.store(y_ptr + row * y_row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=cols < n)


def softmax(x: torch.Tensor, bug: bool = False) -> torch.Tensor:
    """Softmax over the last dim of a 2-D tensor, a row per program."""
    x2 = x.reshape(-1, x.shape[-1]) if x.dim() != 2 else x
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    y = torch.empty(x2.shape, dtype=x.dtype, device=x.device)
    if y.numel():
        block = triton.next_power_of_2(x2.shape[1])
        _softmax_kernel[(x2.shape[0],)](x2, y, x2.stride(0), y.stride(0), x2.shape[1],
                                        BLOCK=block, BUG=bug)  # fmt: skip
    return y.reshape(x.shape)


@triton.jit
def _layer_norm_kernel(x_ptr, w_ptr, b_ptr, y_ptr, row_stride, n, eps, BLOCK: tl.constexpr,
                       BUG: tl.constexpr):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    x_row, y_row = x_ptr + row * row_stride, y_ptr + row * n
    total = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        total += tl.load(x_row + cols, mask=cols < n, other=0.0).to(tl.float32)
    mean = tl.sum(total, axis=0) / n
    squares = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(x_row + cols, mask=cols < n, other=0.0).to(tl.float32)
        if BUG:
            centered = x - mean
        else:
            centered = tl.where(cols < n, x - mean, 0.0)
        squares += centered * centered
    rstd = 1.0 / tl.sqrt(tl.sum(squares, axis=0) / n + eps)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < n
        x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + cols, mask=mask).to(tl.float32)
        b = tl.load(b_ptr + cols, mask=mask).to(tl.float32)
        tl.store(y_row + cols, ((x - mean) * rstd * w + b).to(y_ptr.dtype.element_ty), mask=mask)


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, bug: bool = False
) -> torch.Tensor:
    """LayerNorm over the last dim: a row per program, looping over it in blocks."""
    x2 = x.reshape(-1, x.shape[-1])
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    y = torch.empty(x2.shape, dtype=x.dtype, device=x.device)
    if y.numel():
        block = min(triton.next_power_of_2(x2.shape[1]), 256)
        _layer_norm_kernel[(x2.shape[0],)](x2, weight, bias, y, x2.stride(0), x2.shape[1], eps,
                                           BLOCK=block, BUG=bug)  # fmt: skip
    return y.reshape(x.shape)


@triton.jit
def _matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, sam, sak, sbk, sbn, scm, scn,
                   BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, BUG: tl.constexpr,
                   ):  # fmt: skip
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    acc = tl.zeros([BM, BN], tl.float32)
    if BUG:
        k_blocks = K // BK
    else:
        k_blocks = tl.cdiv(K, BK)
    for kb in range(0, k_blocks):
        rk = kb * BK + tl.arange(0, BK)
        a = tl.load(a_ptr + rm[:, None] * sam + rk[None, :] * sak,
                    mask=(rm[:, None] < M) & (rk[None, :] < K), other=0.0)  # fmt: skip
        b = tl.load(b_ptr + rk[:, None] * sbk + rn[None, :] * sbn,
                    mask=(rk[:, None] < K) & (rn[None, :] < N), other=0.0)  # fmt: skip
        # float32 operands: the interpreter cannot multiply bfloat16 (stored as uint16)
        acc += tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    c = c_ptr + rm[:, None] * scm + rn[None, :] * scn
    tl.store(c, acc.to(c_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rn[None, :] < N))


def matmul(a: torch.Tensor, b: torch.Tensor, bug: bool = False) -> torch.Tensor:
    """a @ b for 2-D a (M, K) and b (K, N), read through their strides."""
    (m, k), n = a.shape, b.shape[1]
    c = torch.empty((m, n), dtype=a.dtype, device=a.device)
    if c.numel():
        grid = (triton.cdiv(m, 16), triton.cdiv(n, 16))
        _matmul_kernel[grid](a, b, c, m, n, k, *a.stride(), *b.stride(), *c.stride(),
                             BM=16, BN=16, BK=16, BUG=bug)  # fmt: skip
    return c


@triton.jit
def _argmax_kernel(x_ptr, i_ptr, x_row_stride, n, BLOCK: tl.constexpr, BUG: tl.constexpr):
    row, _, x = _load_row(x_ptr, x_row_stride, n, BLOCK, BUG)
    tl.store(i_ptr + row, tl.argmax(x, axis=0, tie_break_left=True))  # ties go left


def argmax(x: torch.Tensor, bug: bool = False) -> torch.Tensor:
    """The index of the largest element of each row of a 2-D tensor (the first of equals),
    int64, a row per program."""
    x2 = x if x.stride(-1) == 1 else x.contiguous()
    index = torch.empty(x.shape[:-1], dtype=torch.int64, device=x.device)
    if index.numel():
        block = triton.next_power_of_2(x2.shape[1])
        _argmax_kernel[(x2.shape[0],)](x2, index, x2.stride(0), x2.shape[1], BLOCK=block, BUG=bug)
    return index
