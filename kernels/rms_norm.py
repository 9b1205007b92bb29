"""rms_norm: y = x / sqrt(mean(x^2) + eps) * weight over the last dim, and its backward;
plus a drop-in `torch.nn.RMSNorm` (`TritonRMSNorm`).

RMSNorm is LayerNorm without the centering: no mean is subtracted, no bias added, and
rstd = 1 / sqrt(mean(x^2) + eps) scales x itself. So it needs no kernel of its own: it
runs LayerNorm's (`kernels/layer_norm.py`, the tutorial, and the backward's designs for
long rows in `kernels/layer_norm_tuned.py`) with no mean pointer. A kernel given None
for mean_ptr is compiled with the mean taken as 0 (Triton specializes a None argument
as a constant, so the branches on it cost nothing at run time):

1. The forward is `_layer_norm_fwd_kernel` (a row, or a tile of short rows, held in
   registers) or `_layer_norm_fwd_looped_kernel` (long rows, with no pass for a mean).
2. The backward, with xhat = x * rstd and g = dy * weight:
       dx = rstd * (g - xhat * mean(g * xhat))      (LayerNorm's, less mean(g))
       dweight = sum over rows of dy * xhat
   runs the design LayerNorm's planner picks for the shape (one pass, walkers, two
   passes), and the same two-stage dweight reduction (`kernels._rows`).

What differs is what the launchers check and return: (y, rstd) from the forward, rstd
float32 of shape x.shape[:-1], as the backward takes it. RMSNorm's speed has not been
measured on a GPU yet: the constants are LayerNorm's.
"""

from __future__ import annotations

import torch

from kernels import _plans
from kernels._checks import check_like, check_shape, check_tensor
from kernels._launch import replayed
from kernels._rows import as_rows, replay_context
from kernels.layer_norm import (
    as_normalized_rows,
    backward_launches,
    check_eps,
    check_param,
    check_rows_input,
    check_statistic,
    forward_launches,
    normalized_shape_of,
)

__all__ = ["RMSNormFunction", "TritonRMSNorm", "rms_norm", "rms_norm_backward"]


@replayed(replay_context)
def rms_norm(
    x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """RMSNorm over the last dim of x: returns (y, rstd).

    y = x * rstd * weight has x's shape and dtype; rstd = 1 / sqrt(mean(x^2) + eps) is
    float32 of shape x.shape[:-1]. weight, optional, has shape (x.shape[-1],) and x's
    dtype and device. As torch.nn.functional.rms_norm(x, x.shape[-1:], weight, eps).
    """
    check_rows_input(x)
    weight = check_param("weight", weight, x)
    eps = check_eps(eps)
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    rstd = torch.empty(x.shape[:-1], dtype=torch.float32, device=x.device)
    forward_launches(as_rows(x), weight, None, eps, y, None, rstd)
    return y, rstd


@replayed(replay_context)
def rms_norm_backward(
    dy: torch.Tensor, x: torch.Tensor, rstd: torch.Tensor, weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, ...]:
    """Gradients of `rms_norm` given dy = dL/dy and the forward's float32 rstd (of shape
    x.shape[:-1]): returns (dx,), then dweight if weight is given."""
    check_rows_input(x)
    check_tensor("dy", dy)
    check_like("dy", dy, "x", x)
    check_shape("dy", dy, tuple(x.shape), "the shape of x")
    check_statistic("rstd", rstd, x)
    weight = check_param("weight", weight, x)
    return backward_launches(dy, x, None, rstd, weight, None)


@_plans.carried_to_backward
class RMSNormFunction(torch.autograd.Function):
    """F.rms_norm(x, normalized_shape, weight, eps) on the Triton kernels: the trailing
    dims named by normalized_shape are flattened into one row; weight (optional) has
    shape normalized_shape. eps None: torch.finfo(x.dtype).eps, as PyTorch's."""

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        normalized_shape: int | tuple[int, ...] | torch.Size,
        weight: torch.Tensor | None,
        eps: float | None,
    ) -> torch.Tensor:
        shape = normalized_shape_of(normalized_shape)
        x_rows, w = as_normalized_rows(x, shape, weight=weight)
        if eps is None and x.is_floating_point():  # else rms_norm's check says what x is
            eps = torch.finfo(x.dtype).eps
        y, rstd = rms_norm(x_rows, w, eps)
        ctx.save_for_backward(x_rows, w, rstd)
        ctx.shape = shape
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x_rows, w, rstd = ctx.saved_tensors
        grads = rms_norm_backward(dy.reshape(x_rows.shape), x_rows, rstd, w)
        dw = grads[1].view(ctx.shape) if w is not None else None
        return grads[0].view(dy.shape), None, dw, None


class TritonRMSNorm(torch.nn.Module):
    """A drop-in for torch.nn.RMSNorm: same arguments, parameter and state-dict key.

    A normalized_shape of several dims is normalized as one flattened row. x and the
    weight must share a dtype (TypeError otherwise)."""

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | torch.Size,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_of(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = torch.nn.Parameter(
                torch.empty(self.normalized_shape, device=device, dtype=dtype)
            )
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            torch.nn.init.ones_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return RMSNormFunction.apply(x, self.normalized_shape, self.weight, self.eps)

    # nn.RMSNorm's attributes, so that its repr describes this module too.
    extra_repr = torch.nn.RMSNorm.extra_repr
