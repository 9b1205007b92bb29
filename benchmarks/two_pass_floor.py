"""What softmax's long 16-bit rows can reach with their access pattern, no softmax in it.

Issue 10 asks for every memory-bound row at >= 85% of a same-size copy, or a measured
explanation of the floor that stops it. softmax's 16-bit rows past WHOLE_ROW_MAX go to
`softmax_looped_kernel`: one program a row, pass 1 reads the row from memory (two blocks
an iteration, LOOP_LOADS), pass 2 reads it back (from L2, last block first) and writes
it. This times that pattern with the arithmetic taken out, `two_pass_copy_kernel`:
pass 1 keeps a lane max instead of the online max-and-sum (offline, sm_90, Triton 3.9:
its unmasked loop 118 instructions a thread's 16 values, the looped kernel's 153, no
exp), pass 2 writes x - max, so that pass 1 cannot be dropped. Same plan as
the op: blocks of LOOP_BLOCK, the op's warps, one program a row. Beside it, in the same
process: the op itself, its looped kernel capped at 32 registers (two programs an SM
where the op's 42 allow one), PyTorch's softmax, and the copy of the same bytes (x read once,
its size written once), each as % of that copy.

Another design, the whole row held in registers as loaded and read once
(`resident_row_softmax_kernel`), was timed by this script until it was rejected; it
stays on branch softmax-resident-row (67fc041).

If the pattern alone runs where softmax does, the gap to a copy is the pattern's (a
row read twice by one program an SM, which writes only while it rereads), not softmax's
arithmetic. On an H100 it ran no faster than softmax (benchmarks/results/2026-12-06g-h100,
rows_and_launch_tuning.md#loop_loads).

    PYTHONPATH=. python benchmarks/two_pass_floor.py [--offline]

`--offline` compiles the probe kernel for sm_90 without a GPU and prints its registers
(benchmarks/sass_loop.compile_only).
"""

from __future__ import annotations

import sys

import torch
import triton
import triton.language as tl

from kernels import _rows
from kernels._rows import pass_two_start, row_pointers
from kernels.softmax import softmax, softmax_looped_kernel

SHAPES = ((1024, 65536), (2048, 49152), (512, 131072))
DTYPES = (torch.float16, torch.bfloat16)


@triton.jit
def two_pass_copy_kernel(x_ptr, out_ptr, n_cols, BLOCK_COLS: tl.constexpr,
                         LOADS: tl.constexpr):  # fmt: skip
    x_row_ptr, out_row_ptr = row_pointers(x_ptr, n_cols, out_ptr, n_cols)
    cols = tl.arange(0, BLOCK_COLS)
    lane_max = tl.full([BLOCK_COLS], float("-inf"), tl.float32)
    paired_end = n_cols - n_cols % (LOADS * BLOCK_COLS)
    for start in range(0, paired_end, LOADS * BLOCK_COLS):
        x = tl.load(x_row_ptr + start + cols).to(tl.float32)
        if LOADS == 2:
            x_next = tl.load(x_row_ptr + start + BLOCK_COLS + cols).to(tl.float32)
            x = tl.maximum(x, x_next)
        lane_max = tl.maximum(lane_max, x)
    for start in range(paired_end, n_cols, BLOCK_COLS):
        x = tl.load(x_row_ptr + start + cols, mask=start + cols < n_cols, other=float("-inf"))
        lane_max = tl.maximum(lane_max, x.to(tl.float32))
    row_max = tl.max(lane_max, axis=0)
    for i in range(0, tl.cdiv(n_cols, BLOCK_COLS)):
        start = pass_two_start(i, n_cols, BLOCK_COLS, True)
        col_mask = start + cols < n_cols
        x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0)
        y = x.to(tl.float32) - row_max
        tl.store(out_row_ptr + start + cols, y.to(out_ptr.dtype.element_ty), mask=col_mask)


def _launch(x: torch.Tensor, out: torch.Tensor, loads: int, warps: int):
    return two_pass_copy_kernel[(x.shape[0],)](x, out, x.shape[1], BLOCK_COLS=_rows.LOOP_BLOCK,
                                        LOADS=loads, num_warps=warps)  # fmt: skip


def _looped(x: torch.Tensor, out: torch.Tensor, maxnreg: int | None):
    """The op's looped kernel as the op launches it (two loads, 32 warps), registers
    capped at `maxnreg` (32: two programs of 1024 threads fit an SM's 65536)."""
    cap = {} if maxnreg is None else {"maxnreg": maxnreg}
    return softmax_looped_kernel[(x.shape[0],)](
        x, out, x.shape[1], x.shape[1], x.shape[1], BLOCK_COLS=_rows.LOOP_BLOCK,
        FROM_THE_END=True, LOADS=2, FAST_EXP=True, num_warps=32, **cap,
    )  # fmt: skip


def _offline() -> None:
    from benchmarks.compile_offline import _resources
    from benchmarks.sass_loop import compile_only, loops, sass

    compiled = compile_only(90)
    x = torch.randn(4, 65536).half()
    for loads, warps in ((2, 32), (1, 16)):
        _launch(x, torch.empty_like(x), loads, warps)
        kernel = compiled[-1][1]
        registers, spills, _ = _resources(kernel.asm["ptx"], 90)
        sizes = [sum(loop.values()) for loop in loops(sass(kernel.asm["cubin"]))]
        print(f"loads={loads} warps={warps}: {registers} registers, {spills} B spilled, "
              f"loops of {sizes} instructions")  # fmt: skip


def _timed(x: torch.Tensor) -> dict[str, float]:
    """Microseconds (medians) of each call on x, the probe checked first."""
    from triton.testing import do_bench

    out = torch.full_like(x, float("nan"))
    expected = (x.float() - x.float().amax(dim=-1, keepdim=True)).to(x.dtype)
    for loads, warps in ((2, 32), (1, 16)):
        out.fill_(float("nan"))
        kernel = _launch(x, out, loads, warps)
        assert torch.equal(out, expected), "the probe computed something else"
        print(f"  probe loads={loads} warps={warps}: {kernel.n_regs} registers", flush=True)
    for cap in (None, 32):
        kernel = _looped(x, out, cap)
        same = torch.equal(out, softmax(x))  # launched as the op does: the same bits
        print(f"  softmax looped, maxnreg {cap}: {kernel.n_regs} registers, "
              f"{kernel.n_spills} spills, equal to the op's: {same}", flush=True)  # fmt: skip
    copy_out = torch.empty_like(x)
    calls = {
        "copy": lambda: copy_out.copy_(x),
        "two-pass, 2 loads, 32 warps": lambda: _launch(x, out, 2, 32),
        "two-pass, 1 load, 16 warps": lambda: _launch(x, out, 1, 16),
        "softmax (ours)": lambda: softmax(x),
        "looped, maxnreg 32": lambda: _looped(x, out, 32),
        "torch.softmax": lambda: torch.softmax(x, dim=-1),
    }
    return {name: 1e3 * do_bench(fn, return_mode="median") for name, fn in calls.items()}


def main() -> None:
    print(torch.cuda.get_device_name(), "triton", triton.__version__)
    gen = torch.Generator(device="cuda").manual_seed(0)
    for dtype in DTYPES:
        for rows, cols in SHAPES:
            us = _timed(torch.randn(rows, cols, device="cuda", dtype=dtype, generator=gen))
            cells = "  ".join(f"{name} {t:.1f} us ({us['copy'] / t:.0%})" for name, t in us.items())
            print(f"{str(dtype)[6:]:<8} {rows} x {cols}: {cells}", flush=True)


if __name__ == "__main__":
    _offline() if "--offline" in sys.argv else main()
