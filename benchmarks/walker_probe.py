"""Probe: softmax and add_row_sum over long rows by persistent walkers, against the
shipped designs.

Issue 10's long rows (16-bit 32768 and 65536 columns) run at 69-78% of a same-size copy:
one program per row, whole (32768) or looped (65536, its second read partly from memory).
A walker is a persistent program, `PER_SM` to a streaming multiprocessor, that walks rows
n_programs apart, a whole row at a time in registers, while Triton's pipeliner
(`tl.range(num_stages=STAGES)`) copies the next row into shared memory: loads stay in
flight while the reductions run, which one program per row cannot do. Offline (sm_90,
Triton 3.9): 32768 16-bit columns on 32 warps 47 registers, 65536 64 and 152 bytes of
spills; STAGES = S holds S - 1 rows in shared memory (64 KB a 32768-column 16-bit row).

Each variant is checked against torch.softmax in float64 (max abs error printed) and
timed as tune_rowwise.py times (L2 flushed, median), as a % of a same-size copy:

    PYTHONPATH=. python benchmarks/walker_probe.py
"""

from __future__ import annotations

import functools
import itertools
import math

import torch
import triton
import triton.language as tl

from benchmarks.tune_rowwise import copy_of, median_us
from kernels._rows import exp
from kernels.add_row_sum import add_row_sum
from kernels.softmax import softmax


@triton.jit
def softmax_walker_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    BLOCK_COLS: tl.constexpr, STAGES: tl.constexpr, SOFTMAX: tl.constexpr,
):  # fmt: skip
    cols = tl.arange(0, BLOCK_COLS)
    col_mask = cols < n_cols
    for row in tl.range(tl.program_id(0), n_rows, tl.num_programs(0), num_stages=STAGES):
        offset = row.to(tl.int64)
        if SOFTMAX:
            x = tl.load(x_ptr + offset * stride_xrow + cols, mask=col_mask, other=float("-inf"))
            row_max = tl.max(x.to(tl.float32), axis=0)
            numerator = exp(x.to(tl.float32) - row_max, True)
            y = numerator * (1.0 / tl.sum(numerator, axis=0))
        else:  # add_row_sum
            x = tl.load(x_ptr + offset * stride_xrow + cols, mask=col_mask, other=0.0)
            y = x.to(tl.float32) + tl.sum(x.to(tl.float32), axis=0)
        tl.store(out_ptr + offset * stride_outrow + cols, y.to(out_ptr.dtype.element_ty),
                 mask=col_mask)  # fmt: skip


def walker(op: str, x: torch.Tensor, warps: int, per_sm: int, stages: int):
    n_rows, n_cols = x.shape
    out = torch.empty_like(x)
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count
    grid = (min(n_rows, sms * per_sm),)
    block = triton.next_power_of_2(n_cols)

    def run():
        softmax_walker_kernel[grid](
            x, out, n_rows, n_cols, x.stride(0), out.stride(0), BLOCK_COLS=block,
            STAGES=stages, SOFTMAX=op == "softmax", num_warps=warps,
        )  # fmt: skip
        return out

    return run


OPS = {
    "softmax": (softmax, functools.partial(torch.softmax, dim=-1)),
    "add_row_sum": (add_row_sum, lambda x: x + x.sum(-1, keepdim=True)),
}
SHAPES = {"softmax": [(4096, 16384), (2048, 32768), (1024, 65536)],
          "add_row_sum": [(2048, 32768), (1024, 65536)]}  # fmt: skip
DTYPES = [torch.float16, torch.float32]
# (warps, walkers an SM, stages): two walkers of 32 warps share an SM only at <= 32
# registers a thread, which none of these rows allows.
VARIANTS = [(16, 1, 1), (16, 1, 2), (16, 1, 3), (16, 2, 1), (16, 2, 2),
            (32, 1, 1), (32, 1, 2), (32, 1, 3)]  # fmt: skip


def main() -> None:
    print(torch.cuda.get_device_name(), "triton", triton.__version__, flush=True)
    for op, (shipped, reference) in OPS.items():
        for shape, dtype in itertools.product(SHAPES[op], DTYPES):
            _probe(op, shipped, reference, shape, dtype)


def _probe(op, shipped, reference, shape, dtype) -> None:
    x = torch.randn(shape, device="cuda", dtype=dtype)
    expect = reference(x.double())
    copy = median_us(copy_of(x))
    ours = median_us(functools.partial(shipped, x))
    torch_us = median_us(functools.partial(reference, x))
    ours_error = (shipped(x).double() - expect).abs().max().item()
    print(
        f"\n{op} {shape} {str(dtype)[6:]}: copy {copy:.1f} us, ours {ours:.1f} us "
        f"({copy / ours:.0%}, max error {ours_error:.1e}), torch {torch_us:.1f} us "
        f"({copy / torch_us:.0%})",
        flush=True,
    )
    for warps, per_sm, stages in VARIANTS:
        name = f"{warps} warps, {per_sm} an SM, {stages} stages"
        try:
            run = walker(op, x, warps, per_sm, stages)
            error = (run().double() - expect).abs().max().item()
            us = median_us(run)
        except Exception as e:  # a probe: report and go on
            print(f"  {name:<28} n/a: {type(e).__name__} {str(e)[:80]}", flush=True)
            continue
        # Rounded as the shipped kernel rounds (float32 sums, the dtype's output).
        bad = "" if math.isfinite(error) and error <= 4 * ours_error + 1e-6 else "  WRONG"
        print(
            f"  {name:<28} {us:7.1f} us {copy / us:5.0%} of copy, {ours / us:.2f}x ours, "
            f"max error {error:.1e}{bad}",
            flush=True,
        )


if __name__ == "__main__":
    main()
