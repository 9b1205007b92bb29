"""Our attention kernels and SDPA's on the same operands, for a profiler.

    ncu --profile-from-start off --nvtx --section SpeedOfLight \\
        --section ComputeWorkloadAnalysis --section WarpStateStats --section Occupancy \\
        --section LaunchStats python benchmarks/attention_probe.py

(`--nvtx` prints the range, "forward ours", "backward flash", each kernel ran in.)

bfloat16, 16 heads: the forward at 2 x 4096, head_dim 128, non-causal (ours, then SDPA's
cuDNN and flash backends), where ours is furthest from cuDNN; the backward at 2 x 4096,
head_dim 64, non-causal (ours, then flash's), where it is furthest from 1.3x flash. Every
call runs once before the profiled range (compiling, tuning), so the profiler sees each
launch itself; the forwards the backwards differentiate run before it too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from kernels.attention import attention, attention_autograd


def main() -> None:
    def operands(d: int) -> list[torch.Tensor]:
        shape = (2, 16, 4096, d)
        return [torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in "qkv"]

    def sdpa(backend: SDPBackend, *qkv: torch.Tensor) -> torch.Tensor:
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(*qkv)

    forwards = {
        "ours": lambda *x: attention(*x),
        "cudnn": lambda *x: sdpa(SDPBackend.CUDNN_ATTENTION, *x),
        "flash": lambda *x: sdpa(SDPBackend.FLASH_ATTENTION, *x),
    }
    q, k, v = operands(128)
    for forward in forwards.values():
        forward(q, k, v)
    q64, k64, v64 = (x.requires_grad_() for x in operands(64))
    do = torch.randn_like(q64)
    outs = {
        "ours": attention_autograd(q64, k64, v64, False),
        "flash": forwards["flash"](q64, k64, v64),
    }
    for out in outs.values():
        torch.autograd.grad(out, (q64, k64, v64), do, retain_graph=True)
    torch.cuda.synchronize()

    torch.cuda.profiler.start()
    for name, forward in forwards.items():
        torch.cuda.nvtx.range_push(f"forward {name}")
        forward(q, k, v)
        torch.cuda.nvtx.range_pop()
    for name, out in outs.items():
        torch.cuda.nvtx.range_push(f"backward {name}")
        torch.autograd.grad(out, (q64, k64, v64), do, retain_graph=True)
        torch.cuda.nvtx.range_pop()
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()
    print("profiled: forward ours, cudnn, flash (D = 128); backward ours, flash (D = 64)")


if __name__ == "__main__":
    main()
