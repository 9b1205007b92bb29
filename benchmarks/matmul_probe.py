"""One launch of our GEMM and one of cuBLAS's on the same operands, for a profiler.

    ncu --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \\
        -k regex:"matmul|gemm|nvjet|xmma|cutlass" python benchmarks/matmul_probe.py

4096^3: bfloat16 through the TMA design (persistent, the tuned set's first persistent
config) then float32 with exact FMAs (precision="ieee", tf32 off in cuBLAS too), each
with one forced config so that the profiler sees the launch itself, not the autotuner's
trials; cuBLAS's launch follows each.
"""

from __future__ import annotations

import torch

from kernels import _plans
from kernels.matmul import matmul

FORCED = [
    (torch.bfloat16, "tf32", "matmul/tma-128x256x64-g8-p1-w8-s3/gpu"),
    (torch.float32, "ieee", "matmul/64x64x64-g8-w4-s3/gpu"),
]


def main() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    for dtype, precision, design in FORCED:
        a = torch.randn(4096, 4096, device="cuda", dtype=dtype)
        b = torch.randn(4096, 4096, device="cuda", dtype=dtype)
        with _plans.forcing(design), _plans.recording() as launched:
            matmul(a, b, precision=precision)
        torch.matmul(a, b)
        torch.cuda.synchronize()
        print(f"{dtype} {precision}: ours {launched}, then cuBLAS", flush=True)


if __name__ == "__main__":
    main()
