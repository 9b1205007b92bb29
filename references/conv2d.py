"""conv2d: torch.nn.functional.conv2d, and its gradient.

out[n, k, p, q] = bias[k] + sum over c, r, s of
    x[n, g Cg + c, p sh - ph + r dh, q sw - pw + s dw] w[k, c, r, s]

for the filters k of group g = k // Kg (Cg = C / groups input channels and Kg = K / groups
filters a group), the input read as zero outside its H x W (the padding). The oracle
below is that definition in float64: the zero-padded input, and for each tap (r, s) of
the kernel the input pixels it reads (a strided slice) times its weights, a matrix
product per group (every group in one `@`), summed over the taps. R S products whose
temporaries are the input's size, not the R S copies of every window: at a night run's
sizes the oracle is NumPy's float64 matrix products.

`padding` is an int, a pair, "valid" (no padding) or "same" (stride 1 only: the output
the input's size, the total padding dil (R - 1) split with the extra row, when odd, at
the bottom and right, as PyTorch pads).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import torch

IntPair = int | tuple[int, int] | list[int]


def pair(value: IntPair) -> tuple[int, int]:
    """(value, value) for an int, the pair itself for a pair."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def paddings(
    padding: IntPair | str, kernel: tuple[int, int], dilation: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) for an already valid `padding`."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)  # type: ignore[return-value]
    ph, pw = pair(padding)
    return (ph, ph), (pw, pw)


def output_size(size: int, pad: tuple[int, int], kernel: int, stride: int, dilation: int) -> int:
    """P (or Q): how many windows of the dilated kernel fit in the padded input."""
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def _padded(x, kernel, stride, padding, dilation):
    """x zero-padded (N, C, Hp, Wp), the padding used, and the output's P and Q."""
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    pad_h, pad_w = paddings(padding, kernel, (dh, dw))
    p = output_size(x.shape[2], pad_h, kernel[0], sh, dh)
    q = output_size(x.shape[3], pad_w, kernel[1], sw, dw)
    return np.pad(x, ((0, 0), (0, 0), pad_h, pad_w)), pad_h, pad_w, p, q


def _taps(kernel, stride, dilation, p, q):
    """Each tap (i, j) of the kernel, with the rows and the columns of the padded input
    it reads for the P x Q outputs (strided slices)."""
    (r, s), (sh, sw), (dh, dw) = kernel, pair(stride), pair(dilation)
    for i in range(r):
        for j in range(s):
            rows = slice(i * dh, i * dh + sh * (p - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (q - 1) + 1, sw)
            yield i, j, rows, cols


def _tap_weights(weight, i, j, groups):
    """The weights of tap (i, j) as one (Kg, Cg) matrix a group: (G, Kg, Cg)."""
    k, cg = weight.shape[:2]
    return np.ascontiguousarray(weight[:, :, i, j]).reshape(groups, k // groups, cg)


def conv2d_numpy(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """The exact convolution in float64 (module docstring); x (N, C, H, W) or (C, H, W).
    One tap of the kernel at a time: the input pixels that tap reads for every output,
    (N, G, Cg, P Q) with the channels in groups, times the tap's weights, (G, Kg, Cg),
    summed over the taps."""
    if x.ndim == 3:
        return conv2d_numpy(x[None], weight, bias, stride, padding, dilation, groups)[0]
    n, (k, cg, *kernel) = x.shape[0], weight.shape
    xp, _, _, p, q = _padded(x, kernel, stride, padding, dilation)
    grouped = xp.reshape(n, groups, cg, *xp.shape[2:])
    out = np.zeros((n, groups, k // groups, p * q))
    with np.errstate(invalid="ignore", over="ignore"):  # inf x 0 is NaN, as in every tier
        for i, j, rows, cols in _taps(kernel, stride, dilation, p, q):
            pixels = grouped[:, :, :, rows, cols].reshape(n, groups, cg, p * q)
            out += _tap_weights(weight, i, j, groups) @ pixels
        out = out.reshape(n, k, p, q)
        if bias is not None:
            out = out + bias[None, :, None, None]
    return out


def conv2d_backward_numpy(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride: IntPair,
    padding: IntPair | str,
    dilation: IntPair,
    groups: int,
    dy: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """(dx, dweight) and dbias when there is a bias, for the upstream gradient dy:

    dx[n, g Cg + c, h, w]  = sum over k of group g, r, s with h = p sh - ph + r dh (and
                             w likewise) of dy[n, k, p, q] w[k, c, r, s];
    dweight[k, c, r, s]    = sum over n, p, q of dy[n, k, p, q] x[n, g Cg + c, ...];
    dbias[k]               = sum over n, p, q of dy[n, k, p, q].

    One tap (r, s) at a time, as the forward: dx is accumulated into the padded input
    (each tap adds dy, weighted by that tap's weights, at the positions it read), then
    the padding cut off; dweight's tap is dy times the pixels that tap read."""
    if x.ndim == 3:
        grads = conv2d_backward_numpy(
            x[None], weight, bias, stride, padding, dilation, groups, dy[None]
        )
        return (grads[0][0], *grads[1:])
    n = x.shape[0]
    k, cg, r, s = weight.shape
    p, q = dy.shape[2:]
    xp, pad_h, pad_w, _, _ = _padded(x, (r, s), stride, padding, dilation)
    grouped = xp.reshape(n, groups, cg, *xp.shape[2:])
    dy_grouped = dy.reshape(n, groups, k // groups, p * q)
    dxp = np.zeros_like(grouped)
    dweight = np.zeros((groups, k // groups, cg, r, s))
    with np.errstate(invalid="ignore", over="ignore"):
        for i, j, rows, cols in _taps((r, s), stride, dilation, p, q):
            tap = np.swapaxes(_tap_weights(weight, i, j, groups), 1, 2) @ dy_grouped
            dxp[:, :, :, rows, cols] += tap.reshape(n, groups, cg, p, q)
            pixels = grouped[:, :, :, rows, cols].reshape(n, groups, cg, p * q)
            dweight[:, :, :, i, j] = (dy_grouped @ np.swapaxes(pixels, 2, 3)).sum(axis=0)
        dxp = dxp.reshape(xp.shape)
        dx = dxp[:, :, pad_h[0] : pad_h[0] + x.shape[2], pad_w[0] : pad_w[0] + x.shape[3]]
    grads = [dx, dweight.reshape(k, cg, r, s)]
    if bias is not None:
        grads.append(dy.sum(axis=(0, 2, 3)))
    return tuple(grads)


@contextlib.contextmanager
def _cudnn(**flags: bool) -> Iterator[None]:
    """torch.backends.cudnn's settings `flags` (benchmark, allow_tf32) inside, restored
    after."""
    saved = {name: getattr(torch.backends.cudnn, name) for name in flags}
    for name, value in flags.items():
        setattr(torch.backends.cudnn, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(torch.backends.cudnn, name, value)


def _no_tf32() -> contextlib.AbstractContextManager[None]:
    """cuDNN runs float32 convolutions in tf32 unless told otherwise
    (torch.backends.cudnn.allow_tf32 defaults to True): off here, so that PyTorch's tier
    is float32 as the error model says (a kernel's tf32 is declared by the op)."""
    return _cudnn(allow_tf32=False)


def conv2d_torch_bench(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """What the benchmarks time against the kernel: F.conv2d in the inputs' dtype (cuDNN
    on the GPU) with cudnn.benchmark on, as a training script sets it, and tf32 allowed
    for float32 (PyTorch's default for convolutions; the kernel's float32 tl.dot is tf32
    on the GPU). `conv2d_torch` upcasts 16-bit inputs and turns tf32 off, for values: an
    H100 timed it at 182-385 us where cuDNN took 20-59 us (results/2026-12-06-h100)."""
    with _cudnn(benchmark=True, allow_tf32=True):
        return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)


def conv2d_torch(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """F.conv2d, differentiable, in the inputs' dtype; tf32 off in the forward and the
    backward (`_no_tf32`, `_Float32Conv2d`).

    16-bit inputs are convolved in float32 and the result rounded once, as the op's
    model (and our kernel) does. PyTorch's own 16-bit paths round more often: the CPU
    backward rounds its partial results to the dtype (pinned example (2, 4, 6, 5): dx
    off by 34 (float16) and 151 (bfloat16) times the bound of one rounding after a
    float32 dot, dweight by 11 and 16.5 times), and cuDNN adds the bias to a result
    already rounded (pinned example (2, 3, 7, 6) in bfloat16 on the H200: 10.8 times the
    bound, where a small result is a large convolution less a large bias)."""
    if isinstance(padding, list):
        padding = tuple(padding)
    dtype = x.dtype
    if dtype in (torch.float16, torch.bfloat16):
        x, weight = x.float(), weight.float()
        bias = bias.float() if bias is not None else None
    out = _Float32Conv2d.apply(x, weight, bias, pair(stride), padding, pair(dilation), groups)
    return out.to(dtype)


def _conv2d_float32(x, weight, bias, stride, padding, dilation, groups) -> torch.Tensor:
    with warnings.catch_warnings(), _no_tf32():
        # 'same' with an even kernel: PyTorch pads a copy of x (a note on speed).
        warnings.filterwarnings("ignore", message="Using padding='same'")
        return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)


class _Float32Conv2d(torch.autograd.Function):
    """F.conv2d with tf32 off in the backward too: autograd runs a backward after the
    forward's `_no_tf32` has ended, and cuDNN's float32 dx then ran in tf32 (measured on
    the H200: a 1 x 1 channels-last dx 1430 times its float32 bound). The backward is
    autograd's own, on the forward recomputed under `_no_tf32`."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight, bias)
        ctx.conv = (stride, padding, dilation, groups)
        return _conv2d_float32(x, weight, bias, *ctx.conv)

    @staticmethod
    def backward(ctx, dy):
        leaves = [t.detach().requires_grad_() if t is not None else None for t in ctx.saved_tensors]
        wanted = [t for t, need in zip(leaves, ctx.needs_input_grad[:3], strict=True) if need]
        with torch.enable_grad(), _no_tf32():
            out = _conv2d_float32(*leaves, *ctx.conv)
            grads = iter(torch.autograd.grad(out, wanted, dy))
        return (*(next(grads) if need else None for need in ctx.needs_input_grad[:3]),
                None, None, None, None)  # fmt: skip
