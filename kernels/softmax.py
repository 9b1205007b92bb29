"""softmax: out[i, :] = exp(x[i, :] - max_i) / sum(exp(x[i, :] - max_i)), over the last dim.

The brief's softmax made numerically stable and correct for rows of any length. Two GPU
ideas:

1. A row that fits one block is kept in registers by one program (`softmax_kernel`): it
   is read from memory once, reduced twice (max, then sum) without leaving the chip, and
   written once. Short rows are packed several to a program, so each program still moves a
   few thousand elements.
2. A row too long for one block is handled with the *online max-and-sum*
   (`softmax_looped_kernel`): one pass keeps, per lane, a running max m and a running sum
   s of exp(x - m); when m grows, s is rescaled by exp(m_old - m_new). The lanes are
   combined at the end, and a second pass writes exp(x - max) / sum. Two reads instead of
   the three of max, sum, write. The first pass loads two blocks before it uses either
   (LOOP_LOADS), so more bytes are in flight while a program waits on memory.
3. A row too long for one program's registers but not for several programs' is split
   (`softmax_split_kernel`): each program holds a slice, and the row's programs exchange
   their slice's max and sum of exp(x - max) through global memory, each rescaling
   them to the row max as the online pass does. One read and one write, as for a row
   in one block, where the looped kernel reads twice (its second read from memory once
   the rows in flight outgrow L2).
4. A program that holds a whole long row fills its streaming multiprocessor alone, and
   while it reduces, nothing is loading: rows can be *walked* instead (`softmax_kernel`
   with WALK): one persistent program an SM takes every n-th row, and Triton's
   pipeliner (`tl.range(num_stages=...)`) copies its next row into shared memory while
   it works on this one (`kernels._rows.WALKER_MAX_ROW_BYTES`). add_row_sum walks its
   long 16-bit rows; softmax, which holds a row and its exponentials, lost with it
   (WALK_LONG_ROWS), and runs the design only where it is forced.

Subtracting the row max keeps every exp() <= 1, so nothing overflows. Special values come
out as in PyTorch: a NaN or +inf in a row makes the whole row NaN (+inf - +inf is NaN), a
-inf element gives 0, and a row that is entirely -inf gives NaN (-inf - -inf is NaN).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from harness.parity import in_interpreter
from kernels import _plans
from kernels._checks import check_tensor
from kernels._launch import replayed
from kernels._rows import (
    LANE_MAX_START,
    exchange_partials,
    exp,
    lanes_to_row,
    launch_rowwise,
    online_max_and_sum,
    pass_two_start,
    replay_context,
    row_pointers,
    row_slice,
    row_tile,
    store_slice,
)


@triton.jit
def softmax_kernel(
    x_ptr,  # logits, shape (n_rows, n_cols), unit column stride
    out_ptr,  # probabilities, shape (n_rows, n_cols), unit column stride
    n_rows,  # number of rows
    n_cols,  # entries per row (the softmax dim), <= BLOCK_COLS
    stride_xrow,  # elements between consecutive rows of x
    stride_outrow,  # elements between consecutive rows of out
    ROWS: tl.constexpr,  # rows per tile, a power of two
    BLOCK_COLS: tl.constexpr,  # columns per row block, a power of two >= n_cols
    WALK: tl.constexpr,  # walkers: every num_programs-th tile a program (else one tile)
    STAGES: tl.constexpr,  # walkers: tiles in flight a program (`_rows.RowPlan`)
    FAST_EXP: tl.constexpr,  # the SFU's ex2, subnormals flushed (False: interpreter)
):
    if WALK:  # the pipeliner loads a walker's next tiles while it works on this one
        for tile in tl.range(tl.program_id(0), tl.cdiv(n_rows, ROWS), tl.num_programs(0),
                             num_stages=STAGES):  # fmt: skip
            _softmax_tile(tile, x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
                          ROWS, BLOCK_COLS, FAST_EXP)  # fmt: skip
    else:
        _softmax_tile(tl.program_id(0), x_ptr, out_ptr, n_rows, n_cols, stride_xrow,
                      stride_outrow, ROWS, BLOCK_COLS, FAST_EXP)  # fmt: skip


@triton.jit
def _softmax_tile(
    tile, x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr, FAST_EXP: tl.constexpr,
):  # fmt: skip
    rows, cols, tile_mask = row_tile(tile, n_rows, n_cols, ROWS, BLOCK_COLS)
    # other=-inf: padding lanes must not win the max, and exp(-inf - max) = 0 drops them
    # from the sum.
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=tile_mask, other=float("-inf"))
    x = x.to(tl.float32)
    row_max = tl.max(x, axis=1)
    numerator = exp(x - row_max[:, None], FAST_EXP)
    denominator = tl.sum(numerator, axis=1)
    # One division per row, then a multiply per element.
    y = numerator * (1.0 / denominator)[:, None]
    tl.store(out_ptr + rows * stride_outrow + cols, y.to(out_ptr.dtype.element_ty), mask=tile_mask)


@triton.jit
def softmax_looped_kernel(
    x_ptr,  # logits, shape (n_rows, n_cols), unit column stride
    out_ptr,  # probabilities, shape (n_rows, n_cols), unit column stride
    n_cols,  # entries per row (the softmax dim), any number
    stride_xrow,  # elements between consecutive rows of x
    stride_outrow,  # elements between consecutive rows of out
    BLOCK_COLS: tl.constexpr,  # columns per load, a power of two
    FROM_THE_END: tl.constexpr,  # pass 2 from the row's last block (_rows.pass_two_start)
    LOADS: tl.constexpr,  # pass 1's blocks an iteration, 1 or 2 (_rows.RowPlan.loads)
    FAST_EXP: tl.constexpr,  # the SFU's ex2, subnormals flushed (False: interpreter)
):
    tl.static_assert(LOADS == 1 or LOADS == 2, "the looped kernel loads 1 or 2 blocks at once")
    x_row_ptr, out_row_ptr = row_pointers(x_ptr, stride_xrow, out_ptr, stride_outrow)
    cols = tl.arange(0, BLOCK_COLS)

    # Pass 1, the online max-and-sum, kept per lane so the loop needs no reduction:
    # lane j sees columns j, j + BLOCK_COLS, ... and holds their max and sum of exp(x - max).
    # (The row's running max, one reduction a block and one exp an element, ran slower:
    # da5ac7c, rejected, benchmarks/rows_and_launch_tuning.md#softmax_looped_kernel.)
    lane_max = tl.full([BLOCK_COLS], LANE_MAX_START, tl.float32)
    lane_sum = tl.zeros([BLOCK_COLS], tl.float32)
    # Whole iterations first, LOADS blocks each, all inside the row: no masks, and both
    # blocks' loads issued before either is used (two blocks in flight a program).
    paired_end = n_cols - n_cols % (LOADS * BLOCK_COLS)
    for start in range(0, paired_end, LOADS * BLOCK_COLS):
        x = tl.load(x_row_ptr + start + cols).to(tl.float32)
        if LOADS == 2:
            x_next = tl.load(x_row_ptr + start + BLOCK_COLS + cols).to(tl.float32)
            lane_max, lane_sum = online_max_and_sum(lane_max, lane_sum, x, x_next, FAST_EXP)
        else:
            lane_max, lane_sum = online_max_and_sum(lane_max, lane_sum, x, None, FAST_EXP)
    # Then the blocks left, one a time; the last may hang past the row's end.
    for start in range(paired_end, n_cols, BLOCK_COLS):
        # other=-inf: a padding lane never raises the max, and adds exp(-inf) = 0.
        x = tl.load(x_row_ptr + start + cols, mask=start + cols < n_cols, other=float("-inf"))
        lane_max, lane_sum = online_max_and_sum(lane_max, lane_sum, x.to(tl.float32), None,
                                                 FAST_EXP)  # fmt: skip

    # Combine the lanes (a row that is all -inf gets a NaN sum, hence a NaN row).
    row_max, row_sum = lanes_to_row(lane_max, lane_sum, FAST_EXP)
    inv_sum = 1.0 / row_sum

    # Pass 2: read the row again (from L2, while the rows in flight fit in it) and
    # write the probabilities.
    for i in range(0, tl.cdiv(n_cols, BLOCK_COLS)):
        start = pass_two_start(i, n_cols, BLOCK_COLS, FROM_THE_END)
        col_mask = start + cols < n_cols
        # other=-inf makes padding lanes exp() to 0; they are not stored anyway.
        x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=float("-inf"))
        y = exp(x.to(tl.float32) - row_max, FAST_EXP) * inv_sum
        tl.store(out_row_ptr + start + cols, y.to(out_ptr.dtype.element_ty), mask=col_mask)


@triton.jit
def softmax_split_kernel(
    x_ptr,  # logits, shape (n_rows, n_cols), unit column stride
    out_ptr,  # probabilities, shape (n_rows, n_cols), unit column stride
    partial_ptr,  # float32 (n_rows, SLICES, 2): each slice's max and sum of exp(x - max)
    counter_ptr,  # int32 (n_rows + 1,), zeroed: per row the slices published, then a ticket
    n_rows,  # number of rows
    n_cols,  # entries per row (the softmax dim)
    n_slices,  # programs per row, each BLOCK_COLS columns (the last may hang past the end)
    stride_xrow,  # elements between consecutive rows of x
    stride_outrow,  # elements between consecutive rows of out
    SLICES: tl.constexpr,  # n_slices rounded up to a power of two
    BLOCK_COLS: tl.constexpr,  # columns per slice, a power of two
    EXCHANGE: tl.constexpr,  # "wait" on the GPU; "publish", then "read" (_rows.launch_split)
    FAST_EXP: tl.constexpr,  # the SFU's ex2, subnormals flushed (False: interpreter)
):
    row, part, cols, col_mask = row_slice(counter_ptr + n_rows, n_cols, n_slices, BLOCK_COLS,
                                          EXCHANGE)  # fmt: skip
    # other=-inf: padding lanes never win the max and add exp(-inf) = 0 to the sum.
    x = tl.load(x_ptr + row * stride_xrow + cols, mask=col_mask, other=float("-inf"))
    x = x.to(tl.float32)
    slice_max = tl.max(x, axis=0)
    # A slice of -inf only (its row may have other values) shifts by 0 and adds 0, not NaN.
    shift = tl.where(slice_max == float("-inf"), 0.0, slice_max)
    slice_sum = tl.sum(exp(x - shift, FAST_EXP), axis=0)
    maxes, sums = exchange_partials(partial_ptr, counter_ptr, row, part, n_slices, slice_max,
                                    slice_sum, float("-inf"), 0.0, SLICES, EXCHANGE)  # fmt: skip
    # Each slice's sum rescaled to the row max (an all -inf row: NaN, as in PyTorch).
    row_max = tl.max(maxes, axis=0)
    row_sum = tl.sum(sums * exp(maxes - row_max, FAST_EXP), axis=0)
    y = exp(x - row_max, FAST_EXP) * (1.0 / row_sum)
    store_slice(out_ptr + row * stride_outrow + cols, y, col_mask, EXCHANGE)


WALK_LONG_ROWS = False
"""Whether 16-bit rows past WHOLE_ROW_MAX are walked (`kernels._rows.plan_rows`) instead
of looped: at 1024 x 65536 they ran 57-58% of a same-size copy against the looped
kernel's 74% (H100, benchmarks/rows_and_launch_tuning.md#walkers)."""


LOOP_LOADS = 2
"""Blocks the looped kernel's first pass loads an iteration (1 or 2), on twice the warps
(32 at LOOP_BLOCK = 8192): one program an SM, half the rows in flight (a smaller share of
L2 for pass 2 to find), the same bytes in flight. 1024 x 65536 float16: 83% of a
same-size copy against 75% with one (H100); the same two reads with no softmax in
them ran 77% (benchmarks/two_pass_floor.py, rows_and_launch_tuning.md#loop_loads)."""

_plans.tunable(__name__)  # tuning scripts set the constants above


# A later call of x's signature: the same launch, at once.
@replayed(replay_context)
def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax of `x` over its last dim, as torch.softmax(x, dim=-1); returns a new tensor.

    Rows that fit one block go to `softmax_kernel` (a grid of row tiles), longer rows to
    `softmax_split_kernel` (a program per slice) or, longer still,
    `softmax_looped_kernel` (one program per row); see `kernels._rows.plan_rows`.
    """
    check_tensor("x", x)
    return launch_rowwise(
        x, softmax_kernel, softmax_looped_kernel, softmax_split_kernel,
        walks=WALK_LONG_ROWS, loop_loads=LOOP_LOADS, FAST_EXP=not in_interpreter(),
    )  # fmt: skip
