"""matmul: act(a @ b + bias), batched as torch.matmul broadcasts; activation None, "relu"
or "gelu" in its tanh approximation.

The oracle evaluates gelu by the kernel's own formula, x / (1 + exp(-2 y)) with
y = sqrt(2 / pi) (x + 0.044715 x^3) (equal to 0.5 x (1 + tanh(y))), in float64: a
different approximation of gelu would be a difference of definitions, not of rounding.
For x -> -inf, exp overflows to inf and the quotient is -0, the limit (and -inf / inf is
NaN, as PyTorch's 0.5 x (1 + tanh(y)) gives at x = -inf).
"""

from __future__ import annotations

import numpy as np
import torch

GELU_C = float(np.sqrt(2.0 / np.pi))
GELU_CUBIC = 0.044715


def gelu_tanh_numpy(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # exp(inf) = inf: the limit, above
        return x / (1.0 + np.exp(-2.0 * GELU_C * (x + GELU_CUBIC * x * x * x)))


def gelu_tanh_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s, x s') of gelu(x) = x s(x), s = sigmoid(2 y), y = sqrt(2 / pi) (x + 0.044715 x^3):
    gelu'(x) = s + x s', with s' = 2 s (1 - s) y'. 1 - s is computed as s exp(-2 y), not
    by a subtraction; past |x| = 10, x s' is below 1e-35 and taken as 0 (x y' would
    overflow first)."""
    with np.errstate(over="ignore", invalid="ignore"):
        xc = np.clip(x, -10.0, 10.0)
        e = np.exp(-2.0 * GELU_C * (xc + GELU_CUBIC * xc**3))
        s = 1.0 / (1.0 + e)
        ds = 2.0 * s * (s * e) * GELU_C * (1 + 3 * GELU_CUBIC * xc**2)
        x_ds = np.where(np.abs(x) <= 10.0, xc * ds, 0.0)
        return np.where(np.isnan(x), np.nan, s), np.where(np.isnan(x), np.nan, x_ds)


def activation_grad_numpy(z: np.ndarray, activation: str | None) -> np.ndarray:
    """act'(z): 1; relu's 0 where z <= 0, else 1 (NaN: 1, as PyTorch passes the gradient
    through a NaN); gelu's s + x s', NaN at +-inf as PyTorch's (its tanh formula has
    0 x inf there), where gelu itself is inf and NaN."""
    if activation == "relu":
        return np.where(z <= 0, 0.0, 1.0)
    if activation == "gelu":
        s, x_ds = gelu_tanh_parts(z)
        return np.where(np.isinf(z), np.nan, s + x_ds)
    return np.ones_like(z)


def activate_numpy(z: np.ndarray, activation: str | None) -> np.ndarray:
    if activation == "relu":
        return np.maximum(z, 0.0)  # NaN stays NaN
    if activation == "gelu":
        return gelu_tanh_numpy(z)
    return z


def matmul_numpy(
    a: np.ndarray,
    b: np.ndarray,
    bias: np.ndarray | None = None,
    activation: str | None = None,
    precision: str = "tf32",
) -> np.ndarray:
    """The exact result, in float64; `precision` is the kernel's and changes nothing here."""
    z = np.matmul(a, b)
    if bias is not None:
        z = z + bias
    return activate_numpy(z, activation)


def sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`grad` summed over the batch dims its operand (of `shape`) was broadcast along."""
    if grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    elif grad.ndim == 3 and shape[0] == 1:
        grad = grad.sum(axis=0, keepdims=True)
    return grad


def matmul_backward_numpy(
    a: np.ndarray,
    b: np.ndarray,
    bias: np.ndarray | None,
    activation: str | None,
    precision: str,
    dy: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """(dA, dB) and dbias when there is a bias, for the upstream gradient dy: with
    dz = dy act'(A @ B + bias), dA = dz @ B^T, dB = A^T @ dz and dbias = the sum of dz over
    its rows, each summed over the batch its operand was broadcast along."""
    z = np.matmul(a, b)
    if bias is not None:
        z = z + bias
    dz = dy * activation_grad_numpy(z, activation)
    grads = [
        sum_to(np.matmul(dz, np.swapaxes(b, -1, -2)), a.shape),
        sum_to(np.matmul(np.swapaxes(a, -1, -2), dz), b.shape),
    ]
    if bias is not None:
        grads.append(dz.reshape(-1, dz.shape[-1]).sum(axis=0))
    return tuple(grads)


def activate_torch(z: torch.Tensor, activation: str | None) -> torch.Tensor:
    if activation == "relu":
        return torch.relu(z)
    if activation == "gelu":
        return torch.nn.functional.gelu(z, approximate="tanh")
    return z


def matmul_torch(
    a: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
    precision: str = "tf32",
) -> torch.Tensor:
    """As PyTorch computes it in the inputs' dtype: the product, the bias and the activation
    each rounded to that dtype. PyTorch's own float32 setting decides tf32 (off by
    default), not `precision`."""
    z = torch.matmul(a, b)
    if bias is not None:
        z = z + bias
    return activate_torch(z, activation)


def matmul_torch_bench(
    a: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
    precision: str = "tf32",
) -> torch.Tensor:
    """What the benchmarks time against the kernel: `matmul_torch` with float32 products
    in the kernel's `precision` (cuBLAS in tf32 for "tf32"; PyTorch's default is full
    float32, which would time a tf32 kernel against a slower product)."""
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        return matmul_torch(a, b, bias, activation, precision)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
