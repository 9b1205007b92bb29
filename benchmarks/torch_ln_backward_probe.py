"""What the harness's warnings on layer_norm's backward with constant rows are: PyTorch's
CPU formula for dx, not our kernel. aten's LayerNorm backward on the CPU forms

    dx = a dy + b x + c,   a = rstd,  b = (mean sum dy - sum dy x) a^3 / N,
                           c = -b mean - a sum dy / N

(aten/src/ATen/native/cpu/layer_norm_kernel.cpp): no x - mean. On a constant row x - mean
is exactly 0 and rstd is 1 / sqrt(eps), but `mean sum dy - sum dy x` cancels to the
rounding errors of sum dy x, of order u |x| sum |dy|, and b x + c cancels again: the
error grows with |x| rstd, where the bound, which judges dx against |dy| and |xhat|,
does not. So on the "wide" profile's constant rows the PyTorch tier misses its bound
(a `ReferenceWarning`) while the kernel, which forms xhat = (x - mean) rstd first,
passes.

    PYTHONPATH=. python benchmarks/torch_ln_backward_probe.py

prints, for a constant row of each magnitude, the largest error of PyTorch's dx and of
our kernel's (in Triton's interpreter) relative to the largest |dx|, against float64.
No GPU; seconds.
"""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "1"  # before any kernel module is imported

import torch

from kernels.layer_norm import layer_norm_backward

N = 64
EPS = 1e-3
MAGNITUDES = (1.0, 1e3, 1e5, 1e7)


def relative_error(dx: torch.Tensor, exact: torch.Tensor) -> float:
    return float((dx.double() - exact).abs().max() / exact.abs().max())


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, a constant row of {N}, eps {EPS:g}, dy ~ N(0, 1)")
    print(f"{'|x|':>8}{'PyTorch':>12}{'kernel':>12}   (max |dx - exact| / max |exact|)")
    for magnitude in MAGNITUDES:
        x = torch.full((1, N), magnitude, dtype=torch.float32)
        dy = torch.randn(1, N, generator=gen)
        mean = x.double().mean(-1)
        rstd = 1.0 / torch.sqrt(x.double().var(-1, unbiased=False) + EPS)
        xhat = (x.double() - mean[:, None]) * rstd[:, None]
        g = dy.double()
        exact = rstd[:, None] * (
            g - g.mean(-1, keepdim=True) - xhat * (g * xhat).mean(-1, keepdim=True)
        )
        stats = (mean.float(), rstd.float())
        mask = [True, False, False]
        theirs = torch.ops.aten.native_layer_norm_backward(dy, x, [N], *stats, None, None, mask)[0]
        (ours,) = layer_norm_backward(dy, x, *stats)
        errors = (relative_error(theirs, exact), relative_error(ours, exact))
        print(f"{magnitude:>8g}{errors[0]:12.2e}{errors[1]:12.2e}")


if __name__ == "__main__":
    main()
