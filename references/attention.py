"""attention: softmax(Q K^T scale + mask) V over (batch, heads, seq, head_dim) inputs, with
grouped-query attention (K and V shared by groups of consecutive Q heads) and PyTorch's
causal mask (`is_causal`: top-left aligned, query i sees keys 0..i, tril(ones(Lq, Lk))).

The oracle is the formula in float64, a block of query rows at a time (`row_blocks`):
the (Lq, Lk) score matrix of a benchmark case (16384 x 16384 per head) would not fit in
memory at once. Q heads h * group ... (h + 1) * group - 1 share K/V head h, as
PyTorch's `enable_gqa` repeats them.

Keys: with no key at all (Lk = 0) the softmax is over an empty set; the output is the
empty sum, 0, as PyTorch's SDPA gives it (and its gradients are 0). Under top-left
alignment no query row is ever masked entirely when Lk >= 1 (row i always sees key 0),
so the oracle never divides by a zero sum.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

_CUDA_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]

ROW_BLOCK = 512
"""Query rows of the oracle's score blocks: at most ROW_BLOCK x Lk scores per head."""


def default_scale(head_dim: int, scale: float | None) -> float:
    """`scale`, or 1 / sqrt(head_dim) (PyTorch's default) when None."""
    return 1.0 / float(np.sqrt(head_dim)) if scale is None else float(scale)


def grouped(q: np.ndarray, kv_heads: int) -> np.ndarray:
    """q (B, H, L, D) as (B, kv_heads, group, L, D): the Q heads that share each K/V head."""
    b, h, length, d = q.shape
    return q.reshape(b, kv_heads, h // kv_heads, length, d)


def row_blocks(q_len: int) -> Iterator[slice]:
    """Query rows in blocks of ROW_BLOCK."""
    for start in range(0, q_len, ROW_BLOCK):
        yield slice(start, min(start + ROW_BLOCK, q_len))


def scores_block(
    q5: np.ndarray, k: np.ndarray, rows: slice, causal: bool, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """(S, P) for the query rows `rows`: S = scale Q K^T, -inf where the causal mask hides
    a key; P = softmax(S) over the keys. q5 is (B, Hkv, G, Lq, D), k (B, Hkv, Lk, D); both
    come back (B, Hkv, G, rows, Lk). Lk >= 1."""
    s = scale * np.matmul(q5[..., rows, :], np.swapaxes(k, -1, -2)[:, :, None])
    if causal:
        query = np.arange(rows.start, rows.stop)[:, None]
        s = np.where(np.arange(k.shape[-2])[None, :] <= query, s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return s, p


def attention_numpy(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False, scale: float | None = None
) -> np.ndarray:
    """The exact output in float64 (0 where there are no keys)."""
    scale = default_scale(q.shape[-1], scale)
    q5 = grouped(q, k.shape[1])
    out = np.zeros(q5.shape, dtype=np.float64)
    if k.shape[-2] == 0:
        return out.reshape(q.shape)
    for rows in row_blocks(q.shape[-2]):
        _, p = scores_block(q5, k, rows, causal, scale)
        out[..., rows, :] = np.matmul(p, v[:, :, None])
    return out.reshape(q.shape)


def attention_backward_numpy(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    causal: bool,
    scale: float | None,
    do: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dQ, dK, dV) for the upstream gradient dO, analytically: with P the probabilities
    and O = P V,

        dV = P^T dO,   dP = dO V^T,   dS = P (dP - rowsum(dO O)),
        dQ = scale dS K,   dK = scale dS^T Q,

    dK and dV summed over the Q heads of each K/V head's group."""
    scale = default_scale(q.shape[-1], scale)
    kv_heads = k.shape[1]
    q5, do5 = grouped(q, kv_heads), grouped(do, kv_heads)
    dq = np.zeros(q5.shape)
    dk, dv = np.zeros(k.shape), np.zeros(v.shape)
    if k.shape[-2] == 0:
        return dq.reshape(q.shape), dk, dv
    for rows in row_blocks(q.shape[-2]):
        _, p = scores_block(q5, k, rows, causal, scale)
        do_rows = do5[..., rows, :]
        o = np.matmul(p, v[:, :, None])
        dv += np.matmul(np.swapaxes(p, -1, -2), do_rows).sum(axis=2)
        dp = np.matmul(do_rows, np.swapaxes(v, -1, -2)[:, :, None])
        ds = p * (dp - (do_rows * o).sum(axis=-1, keepdims=True))
        dq[..., rows, :] = scale * np.matmul(ds, k[:, :, None])
        dk += scale * np.matmul(np.swapaxes(ds, -1, -2), q5[..., rows, :]).sum(axis=2)
    return dq.reshape(q.shape), dk, dv


def _dense(x: torch.Tensor) -> torch.Tensor:
    """x with row-major strides. `contiguous()` leaves x as it is when only a size-1 dim's
    stride is odd (a 1-row query is "contiguous" whatever its row stride), and SDPA's
    CUDA kernels check that stride too ("query is not correctly aligned (strideM)")."""
    dense = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    return x if dense.stride() == x.stride() else dense.copy_(x)


def attention_torch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """PyTorch's `scaled_dot_product_attention` (its `enable_gqa` repeats K/V heads, since
    torch 2.5), differentiable through autograd."""
    grouped_query = q.shape[1] != k.shape[1]
    if scale is not None and scale < 0:
        # SDPA's flash kernel (torch 2.11, H100) gave NaN everywhere at scale -0.5 (its
        # online softmax takes the scores' max before the scale, and exp overflows when a
        # negative scale makes that the min). (-Q) K^T |scale| is the same function, the
        # negation exact, and autograd carries dQ back through it; on every device, so
        # that the CPU's tests run it too.
        q, scale = -q, -scale
    if q.is_cuda:
        # SDPA's CUDA kernels want 16-byte aligned row strides. On the harness's padded
        # layouts (torch 2.11, H200) they refused ("query is not correctly aligned
        # (strideM)", "cutlassF: no kernel found to launch!") or read misaligned and
        # poisoned the CUDA context. The reference is about values: dense copies.
        q, k, v = _dense(q), _dense(k), _dense(v)
        # SDPA's cuDNN backward (cuDNN 9.19) faulted with a misaligned address on a
        # padded upstream gradient and poisoned the context: PyTorch's own kernels
        # (flash, memory-efficient, math), and dO made contiguous for them too.
        with sdpa_kernel(_CUDA_BACKENDS):
            out = F.scaled_dot_product_attention(
                q, k, v, is_causal=causal, scale=scale, enable_gqa=grouped_query
            )
        if out.requires_grad:
            out.register_hook(torch.Tensor.contiguous)
        return out
    # On the CPU, SDPA's math backend. Its flash kernel's backward (torch 2.13, bfloat16,
    # the pinned example (1, 2, 20, 50, 16) at scale 20) dropped a term of dK of 1.6e-37,
    # a P of 2.2e-37 times dS: 40% of that element, where the oracle, the math backend
    # and our kernel agree to 0.13%.
    with sdpa_kernel([SDPBackend.MATH]):
        return F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, scale=scale, enable_gqa=grouped_query
        )
