"""The long-row cases of the row-wise ops, for a profiler: where a row's time goes.

    ncu --profile-from-start off --nvtx --metrics <list> python benchmarks/rows_probe.py

float16: softmax at 2048 x 32768 (a whole row in one program's registers) and at
1024 x 65536 (the looped kernel: two reads of each row), add_row_sum at 1024 x 65536 (the
same plan without an exp), layer_norm_backward at 4096 x 4096 (the one-pass tiles, 69%
of a same-size copy on the H200 in 2026-12-05e) and 4096 x 1024, and a copy of the 1024
x 65536 tensor. Each runs once before the profiled range (compiling), then once inside
it, in an NVTX range named after it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kernels.add_row_sum import add_row_sum
from kernels.layer_norm import layer_norm, layer_norm_backward
from kernels.softmax import softmax


def backward_call(n_rows: int, n_cols: int) -> Callable[[], object]:
    """layer_norm_backward on float16 rows, with weight and bias, after a forward
    (benchmarks/rows_timeline.py times it too)."""
    x, dy = (torch.randn(n_rows, n_cols, device="cuda", dtype=torch.float16) for _ in "xy")
    w, b = (torch.randn(n_cols, device="cuda", dtype=torch.float16) for _ in "wb")
    _, mean, rstd = layer_norm(x, w, b)
    return lambda: layer_norm_backward(dy, x, mean, rstd, w, b)


def main() -> None:
    wide = torch.randn(2048, 32768, device="cuda", dtype=torch.float16)
    long = torch.randn(1024, 65536, device="cuda", dtype=torch.float16)
    copy_out = torch.empty_like(long)
    cases = {
        "softmax 2048x32768": lambda: softmax(wide),
        "softmax 1024x65536": lambda: softmax(long),
        "add_row_sum 1024x65536": lambda: add_row_sum(long),
        "layer_norm_backward 4096x4096": backward_call(4096, 4096),
        "layer_norm_backward 4096x1024": backward_call(4096, 1024),
        "copy 1024x65536": lambda: copy_out.copy_(long),
    }
    for case in cases.values():
        case()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    for name, case in cases.items():
        torch.cuda.nvtx.range_push(name)
        case()
        torch.cuda.nvtx.range_pop()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    main()
