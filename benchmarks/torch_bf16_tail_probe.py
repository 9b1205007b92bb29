"""What the harness's warnings on matmul[bfloat16] in interpret mode are: PyTorch's CPU
bfloat16 matmul, not our kernel. On CPUs with AMX, torch 2.13's CPU build runs a bfloat16
matmul on oneDNN's `brg_matmul:avx10_1_512_amx` (oneDNN 3.12); where K is not a multiple of
32 and A's rows are longer than K (a view such as `x[:, :K]`, the harness's "padded"
layout), the elements after the rows reach the outputs: finite values there change
nothing (they meet zeros, as far as this shows), a NaN there makes NaN of whole blocks
of output rows (uxlfoundation/oneDNN#5717: K's tail in AMX tiles, closed after 3.12).
The harness pads rows with NaN to catch kernels that read past a row, so the PyTorch
tier misses its bound and the check warns (`ReferenceWarning`) while the kernel passes.

    PYTHONPATH=. python benchmarks/torch_bf16_tail_probe.py

prints, per shape, dtype and padding value, how many outputs differ from the product of
the same values stored contiguously (0 everywhere but bfloat16 with NaN padding on such
a CPU). Run with ONEDNN_VERBOSE=1 to see the implementation oneDNN picked.
"""

from __future__ import annotations

import torch

SHAPES = ((193, 21, 21), (33, 1, 513), (47, 95, 7), (64, 64, 64))
PADDING = 3  # elements after each row, as harness.tensors.ROW_PADDING


def differing(m: int, k: int, n: int, dtype: torch.dtype, fill: float) -> int:
    """Outputs of A @ B that differ from the contiguous product, A's rows padded by `fill`."""
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(m, k, generator=gen).to(dtype)
    b = torch.randn(k, n, generator=gen).to(dtype)
    rows = torch.full((m, k + PADDING), fill, dtype=dtype)
    rows[:, :k] = values
    got, want = rows[:, :k] @ b, values @ b
    return int((got.float() != want.float()).sum())


def main() -> None:
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    for m, k, n in SHAPES:
        for dtype in (torch.bfloat16, torch.float16, torch.float32):
            counts = {fill: differing(m, k, n, dtype, fill) for fill in (0.0, 1e3, float("nan"))}
            shown = ", ".join(f"padding {fill:g}: {c}" for fill, c in counts.items())
            print(f"({m}, {k}) @ ({k}, {n}) {str(dtype)[6:]:<9} outputs differing: {shown}")


if __name__ == "__main__":
    main()
