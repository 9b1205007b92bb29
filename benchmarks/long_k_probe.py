"""matmul's float32 ieee error on long dots of same-sign terms, in units of u(float32) sum|a b|.

    PYTHONPATH=. python benchmarks/long_k_probe.py

Each K of 2**16 .. 3 x 2**20, for one output element (M = N = 1) and a 128 x 128 tile, on
three value distributions: uniform x uniform, (1000 + normal) x uniform (a large common
offset: one sign), normal x normal (both signs, for contrast). The kernel's FMAs add K in
order; summed in one running total, past about 2**18 same-sign terms each product is a
few units of the total's last place and rounding drops part of it (stagnation:
benchmarks/stagnation_probe.py). Last, the night case of 2026-12-07c: matmul.grad's dA
for A (1, 1) broadcast over B (3, 1, 2**20), a dot of 3 x 2**20 terms. Needs a GPU.
"""

from __future__ import annotations

import math

import torch

import kernels.matmul as mm
from harness.dtypes import UNIT_ROUNDOFF
from kernels import _plans

U = UNIT_ROUNDOFF["float32"]
LENGTHS = (2**16, 2**18, 2**20, 2**21, 3 * 2**20)


def error_in_u(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
    """max |c - a @ b| / (u sum |a b|), a @ b in float64."""
    exact = a.double() @ b.double()
    scale = a.double().abs() @ b.double().abs()
    return ((c.double() - exact).abs() / (U * scale)).max().item()


def operands(dist: str, m: int, n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    if dist == "uniform x uniform":
        return torch.rand(m, k, device="cuda"), torch.rand(k, n, device="cuda")
    if dist == "1000+normal x uniform":
        return 1000 + torch.randn(m, k, device="cuda"), torch.rand(k, n, device="cuda")
    return torch.randn(m, k, device="cuda"), torch.randn(k, n, device="cuda")


def main() -> None:
    torch.manual_seed(0)
    print(f"{'M = N':>6}{'K':>9}  {'values':<22}{'error (u sum|ab|)':>18}{'8 sqrt K':>10}  config")
    for m in (1, 128):
        for k in LENGTHS:
            for dist in ("uniform x uniform", "1000+normal x uniform", "normal x normal"):
                a, b = operands(dist, m, m, k)
                with _plans.recording() as launched:
                    c = mm.matmul(a, b, precision="ieee")
                err, sqrt_bound = error_in_u(c, a, b), 8 * math.sqrt(k)
                print(f"{m:>6}{k:>9}  {dist:<22}{err:18.1f}{sqrt_bound:10.0f}  {launched[-1]}")
    generator = torch.Generator().manual_seed(0)  # drawn on the CPU, as the harness draws
    a = torch.rand(1, 1, generator=generator).cuda().requires_grad_()
    b = torch.rand(3, 1, 2**20, generator=generator).cuda()
    dy = torch.rand(3, 1, 2**20, generator=generator).cuda()
    with _plans.recording() as launched:
        (da,) = torch.autograd.grad(mm.matmul_autograd(a, b, precision="ieee"), a, dy)
    left, right = dy.permute(1, 0, 2).reshape(1, -1), b.mT.reshape(-1, 1)
    print(f"night case dA (K = 3 x 2**20): {error_in_u(da, left, right):.1f} u  {launched}")


if __name__ == "__main__":
    main()
