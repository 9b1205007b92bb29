"""How much a worse launch constant costs vector_add: its kernel timed at several block
sizes and warps against the shipped one (4 warps), on the GPU (what
tests/perf_plants.py:RETUNED is chosen by).

    PYTHONPATH=. python benchmarks/launch_constant.py
"""

from __future__ import annotations

import torch
from triton.testing import do_bench

from kernels._launch import cdiv
from kernels.vector_add import BLOCK_SIZE, vector_add_kernel


def time_block(
    x: torch.Tensor, y: torch.Tensor, out: torch.Tensor, block: int, num_warps: int = 4
) -> float:
    """Median ms of one launch of vector_add's kernel at `block` elements a program."""
    n = x.numel()
    grid = (cdiv(n, block),)
    return do_bench(
        lambda: vector_add_kernel[grid](x, y, out, n, BLOCK_SIZE=block, num_warps=num_warps),
        return_mode="median",
    )


def main() -> None:
    for dtype in (torch.float32, torch.float16):
        for log_n in (20, 24, 26, 28):
            x, y = (torch.randn(1 << log_n, device="cuda", dtype=dtype) for _ in "xy")
            out = torch.empty_like(x)
            shipped = time_block(x, y, out, BLOCK_SIZE)
            line = "  ".join(
                f"{b}: {time_block(x, y, out, b) / shipped:.3f}x" for b in (64, 128, 256, 512, 2048)
            )
            warps = "  ".join(
                f"w{w}: {time_block(x, y, out, BLOCK_SIZE, w) / shipped:.3f}x"
                for w in (1, 2, 8, 16)
            )
            name = f"{str(dtype)[6:]:8s} 2^{log_n}"
            print(f"{name}  {BLOCK_SIZE}: {shipped * 1e3:8.1f} us  {line}  {warps}")


if __name__ == "__main__":
    main()
