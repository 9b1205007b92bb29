"""rms_norm over the last dim, forward (y, rstd) and backward (dx, dweight).

rstd = 1 / sqrt(mean(x^2) + eps) has shape x.shape[:-1], float32 in the PyTorch tier (the
kernel's convention, as layer_norm's statistics). The backward returns dx, then dweight
if weight is given.
"""

from __future__ import annotations

import numpy as np
import torch


def rms_norm_rstd_numpy(x, eps):
    """1 / sqrt(mean(x^2) + eps) over the last dim (vecdot: no array of the squares)."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf rows: on purpose
        return 1.0 / np.sqrt(np.vecdot(x, x) / x.shape[-1] + eps)


def rms_norm_numpy(x, weight, eps):
    rstd = rms_norm_rstd_numpy(x, eps)
    with np.errstate(invalid="ignore"):
        y = x * rstd[..., None]
        if weight is not None:
            y = y * weight
    return y, rstd


def rms_norm_torch(x, weight, eps):
    """F.rms_norm, the op nn.RMSNorm runs (it returns no statistic: rstd is taken from x
    in float32 beside it)."""
    y = torch.nn.functional.rms_norm(x, x.shape[-1:], weight, eps)
    x32 = x.float()
    return y, torch.rsqrt(x32.square().mean(dim=-1) + eps)


def rms_norm_torch_bench(x, weight, eps):
    """What the benchmarks time against the kernel: PyTorch's fused RMSNorm, the op behind
    F.rms_norm that also returns rstd (aten._fused_rms_norm, torch >= 2.8; earlier, the
    values' tier)."""
    fused = getattr(torch.ops.aten, "_fused_rms_norm", None)
    if fused is None:
        return rms_norm_torch(x, weight, eps)
    y, rstd = fused(x, [x.shape[-1]], weight, eps)
    return y, rstd.reshape(x.shape[:-1])


def rms_norm_backward_numpy(dy, x, rstd, weight):
    """The analytic gradient: with xhat = x * rstd and g = dy * weight,
    dx = rstd * (g - xhat * mean(g * xhat)), dweight = sum(dy * xhat) over every leading
    dim."""
    xhat = x * rstd[..., None]
    g = dy * weight if weight is not None else dy
    mean_g_xhat = np.vecdot(g, xhat)[..., None] / x.shape[-1]  # no n-sized temporary
    grads = [rstd[..., None] * (g - xhat * mean_g_xhat)]
    if weight is not None:
        grads.append((dy * xhat).sum(axis=tuple(range(x.ndim - 1))))
    return tuple(grads)


def rms_norm_backward_torch(dy, x, rstd, weight):
    """The same gradient in torch ops, in float32 and rounded once to x's dtype: PyTorch's
    backward op that takes a saved rstd (aten._fused_rms_norm_backward) has no CPU kernel,
    and autograd through F.rms_norm would take its own rstd from x."""
    xhat = x.float() * rstd[..., None]
    g = dy.float() * weight.float() if weight is not None else dy.float()
    dx = rstd[..., None] * (g - xhat * (g * xhat).mean(dim=-1, keepdim=True))
    grads = [dx.to(x.dtype)]
    if weight is not None:
        rows = (dy.float() * xhat).reshape(-1, x.shape[-1])  # (a 1-D x is one row)
        grads.append(rows.sum(dim=0).to(x.dtype))
    return tuple(grads)


def rms_norm_backward_torch_bench(dy, x, rstd, weight):
    """What the benchmarks time against the kernel: PyTorch's fused RMSNorm backward,
    what autograd runs after F.rms_norm on CUDA (aten._fused_rms_norm_backward, which has
    no CPU kernel: there, and before torch 2.9, the values' tier)."""
    fused = getattr(torch.ops.aten, "_fused_rms_norm_backward", None)
    if fused is None or x.device.type != "cuda":
        return rms_norm_backward_torch(dy, x, rstd, weight)
    mask = [True, weight is not None]
    grads = fused(dy, x, [x.shape[-1]], rstd[..., None], weight, mask)
    return tuple(g for g in grads if g is not None)


def rms_norm_autograd_torch(x, weight, eps):
    """y of F.rms_norm, differentiable."""
    return torch.nn.functional.rms_norm(x, x.shape[-1:], weight, eps)
