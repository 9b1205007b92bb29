"""layer_norm over the last dim, forward (y, mean, rstd) and backward (dx, dweight, dbias).

The statistics follow the kernel's convention: mean and rstd = 1 / sqrt(var + eps) of
shape x.shape[:-1] (var is the biased variance), float32 in the PyTorch tier. The backward
returns dx, then dweight if weight is given, then dbias if bias is given.
"""

from __future__ import annotations

import numpy as np
import torch


def _centered_statistics(x, eps):
    """x - mean, mean and rstd over the last dim. vecdot sums the squares without an
    array of them: these run on rows of up to 64M elements in the night run."""
    with np.errstate(invalid="ignore"):  # inf - inf in a row holding +-inf: NaN on purpose
        mean = x.mean(axis=-1)
        centered = x - mean[..., None]
        rstd = 1.0 / np.sqrt(np.vecdot(centered, centered) / x.shape[-1] + eps)
    return centered, mean, rstd


def layer_norm_statistics_numpy(x, eps):
    """mean and rstd = 1 / sqrt(var + eps) of x over its last dim."""
    _, mean, rstd = _centered_statistics(x, eps)
    return mean, rstd


def layer_norm_numpy(x, weight, bias, eps):
    centered, mean, rstd = _centered_statistics(x, eps)
    with np.errstate(invalid="ignore"):
        y = centered * rstd[..., None]
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
    return y, mean, rstd


def layer_norm_torch(x, weight, bias, eps):
    """aten's layer norm, the op F.layer_norm and nn.LayerNorm run.

    On CUDA its saved statistics are float32, as ours. On the CPU they come back in x's
    dtype, rounded: there they are taken from the same op run on float32 x instead.
    """
    n = x.shape[-1]
    y, mean, rstd = torch.ops.aten.native_layer_norm(x, [n], weight, bias, eps)
    if mean.dtype != torch.float32:
        _, mean, rstd = torch.ops.aten.native_layer_norm(x.float(), [n], None, None, eps)
    return y, mean.reshape(x.shape[:-1]), rstd.reshape(x.shape[:-1])


def layer_norm_backward_numpy(dy, x, mean, rstd, weight, bias):
    """The analytic gradient: with xhat = (x - mean) * rstd and g = dy * weight,
    dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), dweight = sum(dy * xhat),
    dbias = sum(dy), the sums over every leading dim."""
    xhat = (x - mean[..., None]) * rstd[..., None]
    g = dy * weight if weight is not None else dy
    mean_g_xhat = np.vecdot(g, xhat)[..., None] / x.shape[-1]  # no n-sized temporary
    dx = rstd[..., None] * (g - g.mean(axis=-1, keepdims=True) - xhat * mean_g_xhat)
    leading = tuple(range(x.ndim - 1))
    grads = [dx]
    if weight is not None:
        grads.append((dy * xhat).sum(axis=leading))
    if bias is not None:
        grads.append(dy.sum(axis=leading))
    return tuple(grads)


def layer_norm_backward_torch(dy, x, mean, rstd, weight, bias):
    """aten's layer-norm backward, what autograd runs after F.layer_norm.

    CUDA's takes the float32 statistics as they are. The CPU's insists on statistics in
    x's dtype; rounding them to float16/bfloat16 moves xhat by |mean| * rstd * u, which is
    unbounded relative to xhat itself (two close values in a row of two: |mean| >> std).
    So on the CPU, float16/bfloat16 run the same op in float32 and round its results.
    """
    n = x.shape[-1]
    mask = [True, weight is not None, bias is not None]
    stats = mean.reshape(*x.shape[:-1], 1), rstd.reshape(*x.shape[:-1], 1)
    if x.device.type == "cpu" and x.dtype != torch.float32:
        up = [t.float() if t is not None else None for t in (dy, x, weight, bias)]
        grads = torch.ops.aten.native_layer_norm_backward(
            up[0], up[1], [n], *stats, up[2], up[3], mask
        )
        grads = [g.to(x.dtype) if g is not None else None for g in grads]
    else:
        grads = torch.ops.aten.native_layer_norm_backward(dy, x, [n], *stats, weight, bias, mask)
    if bias is not None and grads[2].shape != bias.shape:
        # PyTorch 2.11 on CUDA returned an empty dbias (shape (0,)) for rows of one column
        # without weight (96133 x 1, float32, H200; `_cuda_bias_alone`); dbias is the sum
        # of dy over rows.
        grads = (*grads[:2], dy.float().sum(dim=tuple(range(dy.dim() - 1))).to(dy.dtype))
    return tuple(g for g in grads if g is not None)


def _cuda_bias_alone(x, weight, bias) -> bool:
    """CUDA layer norm with a bias and no weight, which PyTorch 2.11 gets wrong.

    Its backward returns an empty dbias (shape (0,)) when dweight is not asked for and
    there are over 65536 rows of a few columns (96133 x 1, 131072 x 2, 127*767 x 2,
    128*2048 x 46, float32, H200): the two-stage dweight/dbias path that
    pytorch/pytorch#192016 mends for another shape bug. A unit weight did not help
    (autograd still asks for no dweight). The autograd tier goes around it; the backward
    tier sums dy itself when dbias comes back empty."""
    return weight is None and bias is not None and x.device.type == "cuda"


def layer_norm_autograd_torch(x, weight, bias, eps):
    """y of F.layer_norm, differentiable. On the CPU, float16/bfloat16 run in float32 and
    round y (autograd rounds the gradients back the same way): the CPU backward takes
    statistics rounded to x's dtype (see layer_norm_backward_torch)."""
    n = x.shape[-1]
    if x.device.type == "cpu" and x.dtype != torch.float32:
        up = [t.float() if t is not None else None for t in (x, weight, bias)]
        return torch.nn.functional.layer_norm(up[0], [n], up[1], up[2], eps).to(x.dtype)
    if _cuda_bias_alone(x, weight, bias):
        return normalized_then_biased(x, bias, eps)
    return torch.nn.functional.layer_norm(x, [n], weight, bias, eps)


def normalized_then_biased(x: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """F.layer_norm(x, bias=bias) without the fused bias: normalized with neither
    parameter (no dweight/dbias path), the bias added after, in float32 and rounded once,
    as the fused kernel does."""
    y = torch.nn.functional.layer_norm(x.float(), x.shape[-1:], None, None, eps) + bias.float()
    return y.to(x.dtype)
