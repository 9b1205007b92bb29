"""add_row_sum: out[i, j] = x[i, j] + sum_k x[i, k], the row sum broadcast back over its row.

The brief's "shared memory" example made correct for rows of any length. The GPU idea:
a reduction within a block. `tl.sum` over a block is a tree: each thread adds up its own
values, then warps combine theirs through shuffles and shared memory, which Triton
allocates and synchronizes for us. The result is a scalar per row, broadcast back over
the same registers that still hold the row, so the row is read from memory only once
(`add_row_sum_kernel`). A row longer than one block is summed by a loop over its column
blocks, then read again to write the output (`add_row_sum_looped_kernel`), unless it fits
the registers of a few programs: then each holds a slice and the row's programs add up
their slices' sums through global memory (`add_row_sum_split_kernel`, softmax's design 3).
16-bit rows too long for one block but not for one SM's registers (WALK_LONG_ROWS) are
walked: one persistent program an SM, the next row loaded into shared memory while this
one is summed (softmax's design 4), each row read once.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels import _plans
from kernels._checks import check_tensor
from kernels._launch import replayed
from kernels._rows import (
    exchange_partials,
    launch_rowwise,
    pass_two_start,
    replay_context,
    row_pointers,
    row_slice,
    row_tile,
    store_slice,
)


@triton.jit
def add_row_sum_kernel(
    x_ptr,  # the rows to sum, shape (n_rows, n_cols), unit column stride
    out_ptr,  # x plus its row sums, shape (n_rows, n_cols), unit column stride
    n_rows,  # number of rows
    n_cols,  # terms in each row sum, <= BLOCK_COLS
    stride_xrow,  # elements between consecutive rows of x
    stride_outrow,  # elements between consecutive rows of out
    ROWS: tl.constexpr,  # rows per tile, a power of two
    BLOCK_COLS: tl.constexpr,  # columns per row block, a power of two >= n_cols
    WALK: tl.constexpr,  # walkers: every num_programs-th tile a program (else one tile)
    STAGES: tl.constexpr,  # walkers: tiles in flight a program (`_rows.RowPlan`)
):
    if WALK:  # the pipeliner loads a walker's next tiles while it works on this one
        for tile in tl.range(tl.program_id(0), tl.cdiv(n_rows, ROWS), tl.num_programs(0),
                             num_stages=STAGES):  # fmt: skip
            _add_row_sum_tile(tile, x_ptr, out_ptr, n_rows, n_cols, stride_xrow,
                              stride_outrow, ROWS, BLOCK_COLS)  # fmt: skip
    else:
        _add_row_sum_tile(tl.program_id(0), x_ptr, out_ptr, n_rows, n_cols, stride_xrow,
                          stride_outrow, ROWS, BLOCK_COLS)  # fmt: skip


@triton.jit
def _add_row_sum_tile(
    tile, x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    rows, cols, tile_mask = row_tile(tile, n_rows, n_cols, ROWS, BLOCK_COLS)
    # other=0: padding lanes add nothing to the sum.
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=tile_mask, other=0.0).to(tl.float32)
    row_sum = tl.sum(x, axis=1)
    y = x + row_sum[:, None]
    tl.store(out_ptr + rows * stride_outrow + cols, y.to(out_ptr.dtype.element_ty), mask=tile_mask)


@triton.jit
def add_row_sum_looped_kernel(
    x_ptr,  # the rows to sum, shape (n_rows, n_cols), unit column stride
    out_ptr,  # x plus its row sums, shape (n_rows, n_cols), unit column stride
    n_cols,  # terms in each row sum, any number
    stride_xrow,  # elements between consecutive rows of x
    stride_outrow,  # elements between consecutive rows of out
    BLOCK_COLS: tl.constexpr,  # columns per iteration, a power of two
    FROM_THE_END: tl.constexpr,  # pass 2 from the row's last block (_rows.pass_two_start)
    LOADS: tl.constexpr,  # pass 1's blocks an iteration (_rows.RowPlan.loads): 1 here
):
    tl.static_assert(LOADS == 1, "add_row_sum's looped kernel loads one block an iteration")
    x_row_ptr, out_row_ptr = row_pointers(x_ptr, stride_xrow, out_ptr, stride_outrow)
    cols = tl.arange(0, BLOCK_COLS)

    # Pass 1: each lane accumulates its columns; one tree reduction at the end.
    lane_sum = tl.zeros([BLOCK_COLS], tl.float32)
    for start in range(0, n_cols, BLOCK_COLS):
        col_mask = start + cols < n_cols  # the last block may hang past the row's end
        # other=0: padding lanes add nothing to the sum.
        x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0)
        lane_sum += x.to(tl.float32)
    row_sum = tl.sum(lane_sum, axis=0)

    # Pass 2: read the row again (from L2, while the rows in flight fit in it) and
    # write x + row_sum.
    for i in range(0, tl.cdiv(n_cols, BLOCK_COLS)):
        start = pass_two_start(i, n_cols, BLOCK_COLS, FROM_THE_END)
        col_mask = start + cols < n_cols
        x = tl.load(x_row_ptr + start + cols, mask=col_mask)  # masked lanes: not stored
        y = x.to(tl.float32) + row_sum
        tl.store(out_row_ptr + start + cols, y.to(out_ptr.dtype.element_ty), mask=col_mask)


@triton.jit
def add_row_sum_split_kernel(
    x_ptr,  # the rows to sum, shape (n_rows, n_cols), unit column stride
    out_ptr,  # x plus its row sums, shape (n_rows, n_cols), unit column stride
    partial_ptr,  # float32 (n_rows, SLICES, 2): each slice's sum (and an unused 0)
    counter_ptr,  # int32 (n_rows + 1,), zeroed: per row the slices published, then a ticket
    n_rows,  # number of rows
    n_cols,  # terms in each row sum
    n_slices,  # programs per row, each BLOCK_COLS columns (the last may hang past the end)
    stride_xrow,  # elements between consecutive rows of x
    stride_outrow,  # elements between consecutive rows of out
    SLICES: tl.constexpr,  # n_slices rounded up to a power of two
    BLOCK_COLS: tl.constexpr,  # columns per slice, a power of two
    EXCHANGE: tl.constexpr,  # "wait" on the GPU; "publish", then "read" (_rows.launch_split)
):
    row, part, cols, col_mask = row_slice(counter_ptr + n_rows, n_cols, n_slices, BLOCK_COLS,
                                          EXCHANGE)  # fmt: skip
    # other=0: padding lanes add nothing to the sum.
    x = tl.load(x_ptr + row * stride_xrow + cols, mask=col_mask, other=0.0).to(tl.float32)
    sums, _ = exchange_partials(partial_ptr, counter_ptr, row, part, n_slices,
                                tl.sum(x, axis=0), 0.0, 0.0, 0.0, SLICES, EXCHANGE)  # fmt: skip
    y = x + tl.sum(sums, axis=0)
    store_slice(out_ptr + row * stride_outrow + cols, y, col_mask, EXCHANGE)


WALK_LONG_ROWS = True
"""Whether 16-bit rows past WHOLE_ROW_MAX (up to kernels._rows.WALKER_MAX_ROW_BYTES) are
walked (`kernels._rows.plan_rows`) instead of looped: at 1024 x 65536 float16 87% of a
same-size copy against the looped kernel's 69% (H100,
benchmarks/rows_and_launch_tuning.md#walkers)."""

_plans.tunable(__name__)  # tuning scripts set WALK_LONG_ROWS


# A later call of x's signature: the same launch, at once.
@replayed(replay_context)
def add_row_sum(x: torch.Tensor) -> torch.Tensor:
    """x + x.sum(dim=-1, keepdim=True), summed in float32; returns a new tensor.

    Rows that fit one block go to `add_row_sum_kernel` (a grid of row tiles), longer rows
    to `add_row_sum_split_kernel` (a program per slice) or, longer still,
    `add_row_sum_looped_kernel` (one program per row); see `kernels._rows.plan_rows`.
    """
    check_tensor("x", x)
    return launch_rowwise(x, add_row_sum_kernel, add_row_sum_looped_kernel,
                          add_row_sum_split_kernel, walks=WALK_LONG_ROWS)  # fmt: skip
