"""layer_norm: y = (x - mean) / sqrt(var + eps) * weight + bias over the last dim, and
its backward; plus a drop-in `torch.nn.LayerNorm` (`TritonLayerNorm`).

The forward returns (y, mean, rstd): mean and rstd = 1 / sqrt(var + eps) are float32, of
shape x.shape[:-1], the statistics the backward needs. Every dtype computes in float32;
float16/bfloat16 values are upcast as they are loaded.

The GPU ideas, in the order they appear:

1. A reduction within a block (`_layer_norm_fwd_kernel`). A row that fits one block is
   loaded into registers once; `tl.sum` over the row is a tree reduction across the
   program's threads; the row never leaves the chip until y is stored. Short rows are
   packed several to a program (a 2-D tile of ROWS x BLOCK_N) so that each program still
   moves a few thousand elements and pays for its reductions once per tile, not per row.
2. Variance from centered values. var = mean((x - mean)^2), a second reduction over the
   values already in registers, costs no extra memory traffic. The one-pass formula
   mean(x^2) - mean^2 subtracts two nearly equal numbers when |mean| >> std and can lose
   every digit (even go negative). Padded lanes are zeroed (`tl.where`) before the
   reduction: there x - mean would be -mean.
3. Long rows (`_layer_norm_fwd_looped_kernel`) loop over column blocks: one pass for the
   mean, one for the centered variance, one to write y. The re-reads mostly hit the L2
   cache. A one-pass Welford/Chan merge would save a read but turns a row's +inf mean
   into NaN (inf - inf when merging); the two passes give +inf, the exact mean.
4. The backward (`_layer_norm_bwd_kernel`): with xhat = (x - mean) * rstd and g = dy * w,
       dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
       dweight = sum over rows of dy * xhat,   dbias = sum over rows of dy.
   dx needs two reductions along the row; dweight and dbias are reductions *across*
   rows. Summing across rows with atomics would make every program hit the same N
   addresses. Instead, a **two-stage reduction**: each program walks a contiguous chunk of
   rows, keeps its partial dweight/dbias in float32 registers, and writes them once to a
   (n_chunks, N) buffer; `_sum_chunks_kernel` then adds the chunks up, column block by
   column block, and stores both sums in the parameters' dtype in one launch (torch would
   need a sum and a cast for each). The grid is sized to fill the GPU once (16 warps
   of programs per SM: one program of a big tile, four of a small one) and no more: the
   buffer, (programs x N) float32, is then small next to x and dy, and mostly read back
   from the L2 cache. The second stage reads it in narrow column blocks (n_cols / 16
   programs), each taking hundreds of chunks a step: a short row gives the buffer few
   columns and many chunks, and a wide, shallow read would leave it latency bound.
   A row longer than the block a program can hold *with* its accumulators is split into
   column parts, one program per part (grid axis 1): each keeps its own part in registers
   and streams the other parts (mostly from L2, its neighbours are reading them) only to
   finish the two row sums.
5. Software pipelining (BWD_PREFETCH). With one program per SM, a loop of "load a tile,
   reduce it (across warps, through shared memory), store dx" leaves the memory idle
   during the reductions: each iteration waits a full memory latency. So each iteration
   first issues the loads of the *next* tile (kept in their own dtype, half the registers
   for float16) and only then computes the current one: two tiles are in flight, and the
   loads overlap the reductions. The first tile is loaded before the loop.
6. Walkers for long rows (`_layer_norm_bwd_walker_kernel`, rows of more than 8 KiB). One
   program per SM walks rows n apart, a whole row at a time: the row sums are two
   reductions over registers, dx is stored at once, and dweight/dbias accumulate per
   lane over the walk, a float32 pair per column. Two ideas keep it fed:
   * Software pipelining by the compiler: `tl.range(..., num_stages=3)` makes Triton
     load the next two rows into shared memory (cp.async) while this one is computed,
     so three rows are in flight but the registers hold one.
   * Halves. A 16384-column row and its accumulators do not fit one program's registers
     (they spill). So two programs share each row, one per half: each keeps its half
     and its half's accumulators, and reads the other half only for the two row sums.
     The partners walk the same rows at the same pace, so whichever reads a half second
     finds it in the L2 cache: memory still sees x and dy once.
7. Two passes for the longest rows (over 2 x 8192 columns, where even a half spills).
   dx needs only two numbers per row, mean(g * xhat) and mean(g):
   `_layer_norm_bwd_row_sums_kernel` computes them (reading x and dy, writing 8 bytes a
   row), and `_layer_norm_bwd_tiled_kernel` then covers a grid of (row chunks x column
   blocks), each program independent: dx is elementwise, and dweight/dbias accumulate
   per lane with no reduction in the loop at all. Five units of traffic (x, dy twice,
   dx once) instead of three, but no program ever holds a row.

Offsets: row * stride is computed in int64 wherever it may pass 2**31 elements.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers

import torch
import triton
import triton.language as tl

from kernels import _plans, _rows
from kernels._checks import check_like, check_shape, check_tensor, interpreting
from kernels._launch import MAX_GRID, cdiv, checked_grid, next_power_of_2
from kernels._rows import as_rows, block_for, plan_rows, row_tile


# ------------------------------------------------------------------------------ forward
@triton.jit
def _layer_norm_fwd_kernel(
    x_ptr,  # input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    b_ptr,  # bias, shape (n_cols,); not read unless HAS_BIAS
    y_ptr,  # output, shape (n_rows, n_cols), unit column stride, dtype of x
    mean_ptr,  # output, float32, shape (n_rows,)
    rstd_ptr,  # output, float32, shape (n_rows,)
    n_rows,  # number of rows
    n_cols,  # row length, <= BLOCK_N
    stride_xrow,  # elements between consecutive rows of x
    stride_yrow,  # elements between consecutive rows of y
    eps,  # added to the variance, > 0
    HAS_WEIGHT: tl.constexpr,  # multiply by w
    HAS_BIAS: tl.constexpr,  # add b
    ROWS: tl.constexpr,  # rows per program, a power of two
    BLOCK_N: tl.constexpr,  # columns per row block, a power of two >= n_cols
):
    # rows (ROWS, 1), int64 since row * stride may pass 2**31; cols (1, BLOCK_N);
    # mask = row_mask & col_mask, (ROWS, BLOCK_N).
    rows, cols, mask = row_tile(n_rows, n_cols, ROWS, BLOCK_N)
    row_mask = rows < n_rows  # (ROWS, 1): the last tile may hang past the last row
    # other=0: padded lanes add nothing to the sum for the mean.
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=1, keep_dims=True) / n_cols  # (ROWS, 1)
    # Zero the padded lanes before squaring: there x - mean = -mean.
    centered = tl.where(mask, x - mean, 0.0)
    var = tl.sum(centered * centered, axis=1, keep_dims=True) / n_cols
    rstd = tl.rsqrt(var + eps)
    y = centered * rstd
    col_mask = cols < n_cols  # (1, BLOCK_N)
    if HAS_WEIGHT:
        # other=0: padded columns are computed but never stored.
        y = y * tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        y = y + tl.load(b_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + rows * stride_yrow + cols, y.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + rows, mean, mask=row_mask)
    tl.store(rstd_ptr + rows, rstd, mask=row_mask)


@triton.jit
def _layer_norm_fwd_looped_kernel(
    x_ptr,  # input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    b_ptr,  # bias, shape (n_cols,); not read unless HAS_BIAS
    y_ptr,  # output, shape (n_rows, n_cols), unit column stride, dtype of x
    mean_ptr,  # output, float32, shape (n_rows,)
    rstd_ptr,  # output, float32, shape (n_rows,)
    n_cols,  # row length, any
    stride_xrow,  # elements between consecutive rows of x
    stride_yrow,  # elements between consecutive rows of y
    eps,  # added to the variance, > 0
    HAS_WEIGHT: tl.constexpr,  # multiply by w
    HAS_BIAS: tl.constexpr,  # add b
    BLOCK_N: tl.constexpr,  # columns per iteration, a power of two
):
    # One program per row; 64-bit row offset: row * stride passes 2**31 in big tensors.
    row = tl.program_id(0).to(tl.int64)
    x_row_ptr = x_ptr + row * stride_xrow
    y_row_ptr = y_ptr + row * stride_yrow
    cols = tl.arange(0, BLOCK_N)

    # Pass 1: the mean. Each lane sums its columns j, j + BLOCK_N, ...; one tree at the end.
    lane_sum = tl.zeros([BLOCK_N], tl.float32)
    for start in range(0, n_cols, BLOCK_N):
        col_mask = start + cols < n_cols  # the last block may hang past the row's end
        # other=0: padded lanes add nothing to the sum.
        lane_sum += tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
    mean = tl.sum(lane_sum, axis=0) / n_cols

    # Pass 2: the variance of the centered values (read again, mostly from L2).
    lane_sum = tl.zeros([BLOCK_N], tl.float32)
    for start in range(0, n_cols, BLOCK_N):
        col_mask = start + cols < n_cols
        x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
        centered = tl.where(col_mask, x - mean, 0.0)  # padded lanes would add mean^2
        lane_sum += centered * centered
    rstd = tl.rsqrt(tl.sum(lane_sum, axis=0) / n_cols + eps)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)

    # Pass 3: normalize, scale, shift, store.
    for start in range(0, n_cols, BLOCK_N):
        col_mask = start + cols < n_cols
        # other=0 on every load: padded lanes are computed but never stored.
        x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
        y = (x - mean) * rstd
        if HAS_WEIGHT:
            y = y * tl.load(w_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
        if HAS_BIAS:
            y = y + tl.load(b_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
        tl.store(y_row_ptr + start + cols, y.to(y_ptr.dtype.element_ty), mask=col_mask)


# ----------------------------------------------------------------------------- backward
@triton.jit
def _load_x_dy(x_ptr, dy_ptr, rows, cols, stride_xrow, stride_dyrow, mask):
    """A (ROWS, BLOCK_N) tile of x and of dy, in their own dtype. other=0: padded lanes
    get dy = 0, so they add nothing to the row sums (g * xhat, g) nor to the dweight and
    dbias accumulators (dy * xhat, dy), whatever xhat is there."""
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=mask, other=0.0)
    dy = tl.load(dy_ptr + rows * stride_dyrow + cols, mask=mask, other=0.0)
    return x, dy


@triton.jit
def _g_and_xhat(
    x_ptr, dy_ptr, w_ptr, x_offsets, dy_offsets, cols, mask, col_mask, mean, rstd,
    HAS_WEIGHT: tl.constexpr,
):  # fmt: skip
    """g = dy * w and xhat = (x - mean) * rstd over a block, in float32: what the two row
    sums of dx are made of. other=0 on every load: padded lanes get g = 0, and add
    nothing to a sum of g or of g * xhat."""
    x = tl.load(x_ptr + x_offsets, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(dy_ptr + dy_offsets, mask=mask, other=0.0).to(tl.float32)
    if HAS_WEIGHT:
        g *= tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
    return g, (x - mean) * rstd


@triton.jit
def _layer_norm_bwd_kernel(
    dy_ptr,  # upstream gradient, shape (n_rows, n_cols), unit column stride
    x_ptr,  # the forward's input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    mean_ptr,  # float32, shape (n_rows,): the forward's saved mean
    rstd_ptr,  # float32, shape (n_rows,): the forward's saved 1 / sqrt(var + eps)
    dx_ptr,  # output, shape (n_rows, n_cols), contiguous, dtype of x
    dw_part_ptr,  # output, float32, shape (n_chunks, n_cols): per-chunk sums of dy * xhat
    db_part_ptr,  # output, float32, shape (n_chunks, n_cols): per-chunk sums of dy
    n_rows,  # number of rows
    n_cols,  # row length
    rows_per_chunk,  # rows one program walks, a multiple of ROWS
    stride_dyrow,  # elements between consecutive rows of dy
    stride_xrow,  # elements between consecutive rows of x
    stride_dxrow,  # elements between consecutive rows of dx
    stride_partrow,  # elements between consecutive chunks of dw_part / db_part
    HAS_WEIGHT: tl.constexpr,  # scale dy by w, and accumulate dweight
    HAS_BIAS: tl.constexpr,  # accumulate dbias
    PREFETCH: tl.constexpr,  # load the next tile's x and dy before computing this one
    ROWS: tl.constexpr,  # rows per iteration, a power of two
    BLOCK_N: tl.constexpr,  # columns this program owns (one part of a row), a power of two
    STREAM_N: tl.constexpr,  # columns per step over the other parts, divides BLOCK_N
    SPLIT: tl.constexpr,  # rows are split into several parts (else no streaming loop)
):
    chunk = tl.program_id(0)  # which contiguous chunk of rows
    part = tl.program_id(1)  # which BLOCK_N columns of each row this program owns
    part_start = part * BLOCK_N
    cols = part_start + tl.arange(0, BLOCK_N)[None, :]  # (1, BLOCK_N)
    col_mask = cols < n_cols  # the last part may hang past the row's end
    dw_acc = tl.zeros([BLOCK_N], tl.float32)
    db_acc = tl.zeros([BLOCK_N], tl.float32)
    # The weight of the program's columns, loaded once (not in the loop: a (1, BLOCK_N)
    # load gets a layout of its own, and would cost a layout conversion per tile).
    # other=0: padded columns have dy = 0 and are never stored; any value would do.
    w = tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32) if HAS_WEIGHT else 1.0

    # 64-bit rows: row * stride passes 2**31 once a tensor holds over 2**31 elements.
    chunk_start = chunk.to(tl.int64) * rows_per_chunk
    tile_rows = tl.arange(0, ROWS)[:, None]  # (ROWS, 1)
    chunk_end = tl.minimum(chunk_start + rows_per_chunk, n_rows)  # one past its last row
    if PREFETCH:
        # The first tile, loaded before the loop; each iteration then loads the next one
        # *before* its reductions, so that a tile's loads are in flight while the previous
        # tile is computed: software pipelining.
        first = chunk_start + tile_rows
        x_next, dy_next = _load_x_dy(
            x_ptr, dy_ptr, first, cols, stride_xrow, stride_dyrow, (first < n_rows) & col_mask
        )
    for offset in range(0, rows_per_chunk, ROWS):
        rows = chunk_start + offset + tile_rows  # (ROWS, 1)
        row_mask = rows < n_rows  # the last chunk may hang past the last row
        mask = row_mask & col_mask
        if PREFETCH:
            x, dy = x_next, dy_next
            # The next tile of this chunk; past the chunk's end (on the last iteration) the
            # mask is all false and nothing is read.
            nxt = rows + ROWS
            x_next, dy_next = _load_x_dy(
                x_ptr, dy_ptr, nxt, cols, stride_xrow, stride_dyrow, (nxt < chunk_end) & col_mask
            )
        else:
            x, dy = _load_x_dy(x_ptr, dy_ptr, rows, cols, stride_xrow, stride_dyrow, mask)
        x = x.to(tl.float32)
        dy = dy.to(tl.float32)
        # other=0 for padded rows: xhat = 0 there; they store nothing.
        mean = tl.load(mean_ptr + rows, mask=row_mask, other=0.0)
        rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
        xhat = (x - mean) * rstd
        # Stage one of dweight and dbias: add this tile's rows to the program's partial
        # sums (padded lanes hold dy = 0).
        if HAS_WEIGHT:
            dw_acc += tl.sum(dy * xhat, axis=0)
        if HAS_BIAS:
            db_acc += tl.sum(dy, axis=0)
        g = dy * w
        sum_gx = tl.sum(g * xhat, axis=1, keep_dims=True)  # (ROWS, 1), this part's share
        sum_g = tl.sum(g, axis=1, keep_dims=True)
        # The rest of each row, when the row is split into parts: the other parts' columns,
        # STREAM_N at a time, only for their share of the two sums. Step k of the loop
        # reads columns [k, k + STREAM_N), skipping this program's own part. The loop is
        # empty when one part is the whole row, and then not even compiled (SPLIT false):
        # its registers would count against the whole kernel.
        if SPLIT:
            for k in range(0, tl.cdiv(n_cols, BLOCK_N) * BLOCK_N - BLOCK_N, STREAM_N):
                far = tl.where(k < part_start, k, k + BLOCK_N) + tl.arange(0, STREAM_N)[None, :]
                far_col_mask = far < n_cols  # the last part may hang past the row's end
                g_far, xhat_far = _g_and_xhat(
                    x_ptr, dy_ptr, w_ptr, rows * stride_xrow + far, rows * stride_dyrow + far,
                    far, row_mask & far_col_mask, far_col_mask, mean, rstd, HAS_WEIGHT,
                )  # fmt: skip
                sum_gx += tl.sum(g_far * xhat_far, axis=1, keep_dims=True)
                sum_g += tl.sum(g_far, axis=1, keep_dims=True)
        dx = (g - (xhat * (sum_gx / n_cols) + sum_g / n_cols)) * rstd
        tl.store(dx_ptr + rows * stride_dxrow + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)

    part_cols = part_start + tl.arange(0, BLOCK_N)
    part_mask = part_cols < n_cols  # the last part may hang past the row's end
    part_offsets = chunk.to(tl.int64) * stride_partrow + part_cols
    if HAS_WEIGHT:
        tl.store(dw_part_ptr + part_offsets, dw_acc, mask=part_mask)
    if HAS_BIAS:
        tl.store(db_part_ptr + part_offsets, db_acc, mask=part_mask)


@triton.jit
def _layer_norm_bwd_walker_kernel(
    dy_ptr,  # upstream gradient, shape (n_rows, n_cols), unit column stride
    x_ptr,  # the forward's input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    mean_ptr,  # float32, shape (n_rows,): the forward's saved mean
    rstd_ptr,  # float32, shape (n_rows,): the forward's saved 1 / sqrt(var + eps)
    dx_ptr,  # output, shape (n_rows, n_cols), contiguous, dtype of x
    dw_part_ptr,  # output, float32, shape (n_walkers, n_cols): per-walker sums of dy * xhat
    db_part_ptr,  # output, float32, shape (n_walkers, n_cols): per-walker sums of dy
    n_rows,  # number of rows
    n_cols,  # row length, <= BLOCK_N (or 2 * BLOCK_N with HALVES)
    stride_dyrow,  # elements between consecutive rows of dy
    stride_xrow,  # elements between consecutive rows of x
    stride_dxrow,  # elements between consecutive rows of dx
    stride_partrow,  # elements between consecutive walkers of dw_part / db_part
    HAS_WEIGHT: tl.constexpr,  # scale dy by w, and accumulate dweight
    HAS_BIAS: tl.constexpr,  # accumulate dbias
    HALVES: tl.constexpr,  # two programs share each row, one per half (else one owns it)
    BLOCK_N: tl.constexpr,  # columns a program owns (the row, or a half), a power of two
    STAGES: tl.constexpr,  # rows whose loads are in flight at once (software pipelining)
):
    # A walker visits rows walker, walker + n_walkers, ...: a whole row at a time.
    if HALVES:
        part = tl.program_id(0) % 2  # programs 2k and 2k + 1 walk the same rows
        walker = tl.program_id(0) // 2
        n_walkers = tl.num_programs(0) // 2
    else:
        part = 0
        walker = tl.program_id(0)
        n_walkers = tl.num_programs(0)
    own = part * BLOCK_N + tl.arange(0, BLOCK_N)  # the columns this program owns
    own_mask = own < n_cols  # the block is a power of two, the row (or half) need not be
    other = (1 - part) * BLOCK_N + tl.arange(0, BLOCK_N)  # the partner's half, if HALVES
    other_mask = other < n_cols
    dw_acc = tl.zeros([BLOCK_N], tl.float32)
    db_acc = tl.zeros([BLOCK_N], tl.float32)

    first_row = walker.to(tl.int64)  # 64-bit: row * stride may pass 2**31
    # num_stages: Triton's pipeliner issues the loads of the next STAGES - 1 rows into
    # shared memory while this one is computed, so the registers hold one row only.
    for i in tl.range(0, tl.cdiv(n_rows - walker, n_walkers), num_stages=STAGES):
        row = first_row + i * n_walkers
        mean = tl.load(mean_ptr + row)
        rstd = tl.load(rstd_ptr + row)
        # other=0 on every load: padded lanes get dy = 0, adding nothing to any sum.
        x = tl.load(x_ptr + row * stride_xrow + own, mask=own_mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + row * stride_dyrow + own, mask=own_mask, other=0.0).to(tl.float32)
        xhat = (x - mean) * rstd
        g = dy
        if HAS_WEIGHT:
            g = dy * tl.load(w_ptr + own, mask=own_mask, other=0.0).to(tl.float32)
        sum_gx = tl.sum(g * xhat, axis=0)
        sum_g = tl.sum(g, axis=0)
        if HALVES:
            # The partner's half, read only for its share of the two row sums. Both
            # programs read the whole row at about the same time: the second read of
            # each half comes from the L2 cache, not from memory.
            g_far, xhat_far = _g_and_xhat(
                x_ptr, dy_ptr, w_ptr, row * stride_xrow + other, row * stride_dyrow + other,
                other, other_mask, other_mask, mean, rstd, HAS_WEIGHT,
            )  # fmt: skip
            sum_gx += tl.sum(g_far * xhat_far, axis=0)
            sum_g += tl.sum(g_far, axis=0)
        dx = (g - (xhat * (sum_gx / n_cols) + sum_g / n_cols)) * rstd
        tl.store(dx_ptr + row * stride_dxrow + own, dx.to(dx_ptr.dtype.element_ty), mask=own_mask)
        # Stage one of dweight and dbias, per lane: nothing crosses threads in the loop.
        if HAS_WEIGHT:
            dw_acc += dy * xhat
        if HAS_BIAS:
            db_acc += dy

    part_offsets = walker.to(tl.int64) * stride_partrow + own
    if HAS_WEIGHT:
        tl.store(dw_part_ptr + part_offsets, dw_acc, mask=own_mask)
    if HAS_BIAS:
        tl.store(db_part_ptr + part_offsets, db_acc, mask=own_mask)


@triton.jit
def _layer_norm_bwd_row_sums_kernel(
    dy_ptr,  # upstream gradient, shape (n_rows, n_cols), unit column stride
    x_ptr,  # the forward's input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    mean_ptr,  # float32, shape (n_rows,): the forward's saved mean
    rstd_ptr,  # float32, shape (n_rows,): the forward's saved 1 / sqrt(var + eps)
    coef_ptr,  # output, float32, shape (n_rows, 2): mean(g * xhat), mean(g) of each row
    n_cols,  # row length
    stride_dyrow,  # elements between consecutive rows of dy
    stride_xrow,  # elements between consecutive rows of x
    HAS_WEIGHT: tl.constexpr,  # g = dy * w (else g = dy)
    BLOCK_N: tl.constexpr,  # columns per iteration, a power of two
):
    # Pass one of the two-pass (long-row) backward: one program per row, looping over it.
    row = tl.program_id(0).to(tl.int64)  # 64-bit: row * stride may pass 2**31
    mean = tl.load(mean_ptr + row)
    rstd = tl.load(rstd_ptr + row)
    cols = tl.arange(0, BLOCK_N)
    # Each lane sums its columns j, j + BLOCK_N, ...; one tree per sum at the end.
    lane_gx = tl.zeros([BLOCK_N], tl.float32)
    lane_g = tl.zeros([BLOCK_N], tl.float32)
    for start in range(0, n_cols, BLOCK_N):
        col_mask = start + cols < n_cols  # the last block may hang past the row's end
        g, xhat = _g_and_xhat(
            x_ptr, dy_ptr, w_ptr, row * stride_xrow + start + cols,
            row * stride_dyrow + start + cols, start + cols, col_mask, col_mask, mean, rstd,
            HAS_WEIGHT,
        )  # fmt: skip
        lane_gx += g * xhat
        lane_g += g
    tl.store(coef_ptr + 2 * row, tl.sum(lane_gx, axis=0) / n_cols)
    tl.store(coef_ptr + 2 * row + 1, tl.sum(lane_g, axis=0) / n_cols)


@triton.jit
def _layer_norm_bwd_tiled_kernel(
    dy_ptr,  # upstream gradient, shape (n_rows, n_cols), unit column stride
    x_ptr,  # the forward's input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    mean_ptr,  # float32, shape (n_rows,): the forward's saved mean
    rstd_ptr,  # float32, shape (n_rows,): the forward's saved 1 / sqrt(var + eps)
    coef_ptr,  # float32, shape (n_rows, 2): mean(g * xhat), mean(g), from pass one
    dx_ptr,  # output, shape (n_rows, n_cols), contiguous, dtype of x
    dw_part_ptr,  # output, float32, shape (n_chunks, n_cols): per-chunk sums of dy * xhat
    db_part_ptr,  # output, float32, shape (n_chunks, n_cols): per-chunk sums of dy
    n_rows,  # number of rows
    n_cols,  # row length
    rows_per_chunk,  # rows one program walks, a multiple of ROWS
    stride_dyrow,  # elements between consecutive rows of dy
    stride_xrow,  # elements between consecutive rows of x
    stride_dxrow,  # elements between consecutive rows of dx
    stride_partrow,  # elements between consecutive chunks of dw_part / db_part
    HAS_WEIGHT: tl.constexpr,  # scale dy by w, and accumulate dweight
    HAS_BIAS: tl.constexpr,  # accumulate dbias
    PREFETCH: tl.constexpr,  # load the next tile's x and dy before computing this one
    ROWS: tl.constexpr,  # rows per iteration, a power of two
    BLOCK_N: tl.constexpr,  # columns per program, a power of two
):
    # Pass two of the two-pass backward. Program (j, c) walks the rows of chunk c over
    # columns [j * BLOCK_N, (j + 1) * BLOCK_N): the row sums are known (coef), so no
    # program needs another's columns, and nothing in the loop crosses threads: dweight
    # and dbias accumulate per lane, (ROWS, BLOCK_N), and are summed over rows once.
    # Column blocks on grid axis 0: a row of 2**24 columns has 65536 blocks, past the
    # 65535 that CUDA allows on axes 1 and 2; there are only a few chunks.
    chunk = tl.program_id(1)
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)[None, :]  # (1, BLOCK_N)
    col_mask = cols < n_cols  # the last column block may hang past the row's end
    dw_acc = tl.zeros([ROWS, BLOCK_N], tl.float32)
    db_acc = tl.zeros([ROWS, BLOCK_N], tl.float32)
    # other=0: padded columns have dy = 0 and are never stored; any value would do.
    w = tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32) if HAS_WEIGHT else 1.0

    chunk_start = chunk.to(tl.int64) * rows_per_chunk  # 64-bit: row * stride, as above
    tile_rows = tl.arange(0, ROWS)[:, None]  # (ROWS, 1)
    chunk_end = tl.minimum(chunk_start + rows_per_chunk, n_rows)  # one past its last row
    if PREFETCH:
        # As in _layer_norm_bwd_kernel: the first tile here, each next one a step ahead.
        first = chunk_start + tile_rows
        x_next, dy_next = _load_x_dy(
            x_ptr, dy_ptr, first, cols, stride_xrow, stride_dyrow, (first < n_rows) & col_mask
        )
    for offset in range(0, rows_per_chunk, ROWS):
        rows = chunk_start + offset + tile_rows  # (ROWS, 1)
        row_mask = rows < n_rows  # the last chunk may hang past the last row
        mask = row_mask & col_mask
        if PREFETCH:
            x, dy = x_next, dy_next
            nxt = rows + ROWS  # all false on the last iteration: nothing past the chunk
            x_next, dy_next = _load_x_dy(
                x_ptr, dy_ptr, nxt, cols, stride_xrow, stride_dyrow, (nxt < chunk_end) & col_mask
            )
        else:
            x, dy = _load_x_dy(x_ptr, dy_ptr, rows, cols, stride_xrow, stride_dyrow, mask)
        x = x.to(tl.float32)
        dy = dy.to(tl.float32)
        # other=0 for padded rows: xhat = 0 and dy = 0 there; they store nothing.
        mean = tl.load(mean_ptr + rows, mask=row_mask, other=0.0)
        rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
        c_gx = tl.load(coef_ptr + 2 * rows, mask=row_mask, other=0.0)
        c_g = tl.load(coef_ptr + 2 * rows + 1, mask=row_mask, other=0.0)
        xhat = (x - mean) * rstd
        if HAS_WEIGHT:
            dw_acc += dy * xhat
        if HAS_BIAS:
            db_acc += dy
        dx = (dy * w - (xhat * c_gx + c_g)) * rstd
        tl.store(dx_ptr + rows * stride_dxrow + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)

    part_cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    part_mask = part_cols < n_cols  # the last column block may hang past the row's end
    part_offsets = chunk.to(tl.int64) * stride_partrow + part_cols
    if HAS_WEIGHT:
        tl.store(dw_part_ptr + part_offsets, tl.sum(dw_acc, axis=0), mask=part_mask)
    if HAS_BIAS:
        tl.store(db_part_ptr + part_offsets, tl.sum(db_acc, axis=0), mask=part_mask)


@triton.jit
def _sum_chunks_kernel(
    part_ptr,  # float32, shape (n_sums, n_chunks, n_cols): per-chunk partial sums
    out_ptr,  # output, shape (n_sums, n_cols), the parameters' dtype
    n_chunks,  # number of chunks to add up
    n_cols,  # number of columns
    stride_partsum,  # elements between the sums of part (n_chunks * n_cols)
    stride_partchunk,  # elements between the chunks of part (n_cols)
    stride_outsum,  # elements between the sums of out (n_cols)
    BLOCK_CHUNKS: tl.constexpr,  # chunks per iteration, a power of two
    BLOCK_N: tl.constexpr,  # columns per program, a power of two
):
    # Stage two of the dweight/dbias reduction: program (i, s) adds up columns
    # [i * BLOCK_N, (i + 1) * BLOCK_N) of sum s over all chunks.
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < n_cols  # the last column block may hang past the end
    part_sum_ptr = part_ptr + tl.program_id(1).to(tl.int64) * stride_partsum
    acc = tl.zeros([BLOCK_CHUNKS, BLOCK_N], tl.float32)
    for start in range(0, n_chunks, BLOCK_CHUNKS):
        chunks = start + tl.arange(0, BLOCK_CHUNKS)
        chunk_mask = chunks < n_chunks  # the last step may hang past the last chunk
        offsets = chunks[:, None].to(tl.int64) * stride_partchunk + cols[None, :]
        # other=0: padded lanes add nothing to the sum.
        acc += tl.load(
            part_sum_ptr + offsets, mask=chunk_mask[:, None] & col_mask[None, :], other=0.0
        )
    total = tl.sum(acc, axis=0)
    out_sum_ptr = out_ptr + tl.program_id(1) * stride_outsum
    tl.store(out_sum_ptr + cols, total.to(out_ptr.dtype.element_ty), mask=col_mask)


# ------------------------------------------------------------------------------ launchers
FWD_ELEMENTS_PER_THREAD = 32
"""Row elements per thread in the forward (the shared default is 16): half the warps, so
the two cross-warp reductions (mean, variance) cost less. Measured on an H100
(benchmarks/tune_rowwise.py fwd, M = 4096): 1.45x / 1.39x PyTorch at N = 1024 (float16 /
float32) against 1.24x / 1.30x, 1.63x against 1.28x at N = 16384 float16, the rest equal."""
BWD_BLOCK_MAX = 8192
"""Longest part of a row one backward program owns, GPU; a longer row is split into
parts, one program each (grid axis 1)."""
BWD_STREAM = 1024
"""Columns per step when a program sums over the parts of a row that it does not own."""
BWD_ELEMENTS_PER_THREAD = 16
"""Tile elements per thread in the one-pass backward, which holds several float32 vectors
per element (xhat, g, the two accumulators). Measured on an H100 at M = 4096
(benchmarks/scratch sweeps of tile size x elements a thread x prefetch): 16 a thread beat
8 at N = 1024 and 2048 in every dtype (float32 N = 1024: 1.67x PyTorch against 1.22x)."""
BWD_TILE_TARGET = 4096
"""Elements of a one-pass backward tile (ROWS rows of BLOCK_N)."""
BWD_SHORT_16BIT_TILE = 2048
"""The tile for 16-bit rows of at most 1024 elements: measured 1.33x (float16) and 1.23x
(bfloat16) PyTorch at 4096 x 1024, where 4096-element tiles ran 0.92x and 0.86x."""
BWD_WARPS_PER_SM = 16
"""Warps of one-pass backward programs an SM runs at once: the grid holds
BWD_WARPS_PER_SM // num_warps programs per SM (at least one), sized to fill the GPU once
and no more, since each program adds a row to the buffer of partial sums. A big tile
(16 warps at N = 8192) takes its SM's registers alone; a small one (4 warps for 16-bit
rows of 1024) would leave the SM with a single tile's loads in flight, latency bound.
Measured on an H100 (layer_norm backward, M = 4096, float16 / bfloat16 / float32): at
N = 1024 (4 programs of 4 warps, 2 of 8 in float32) 1.74 / 1.76 / 1.92x PyTorch, where one
program per SM ran 1.25 / 1.33 / 1.80x; at N = 4096 (2 of 8) 1.92 / 1.92 / 1.80x, where
one ran 1.66 / 1.62 / 1.81x. 8 or 32 warps per SM measured no better."""
BWD_MAX_WARPS = 16
"""Warps of a one-pass backward program at most. A row of 8192 then runs at 16 elements a
thread in up to 128 registers; measured on an H100 (benchmarks/tune_rowwise.py) at
4096 x 8192 float16 that ran 1.88x PyTorch, where 32 warps (8 a thread) ran 0.88x."""
BWD_PREFETCH = True
"""Software pipelining in the backward loops: each iteration issues the loads of the next
tile (x and dy, in their own dtype) before the reductions of the current one, so that
one program keeps two tiles' loads in flight instead of waiting on each. The prefetched
tile costs registers: the one-pass kernel prefetches only tiles of at most
BWD_PREFETCH_MAX_TILE elements (ptxas sm_90: 4096 at 16 warps takes 94-116 registers;
8192 spills)."""
BWD_PREFETCH_MAX_TILE = 4096
BWD_WALKER_MIN_BYTES = 8192
"""Rows of more than this many bytes (4096 float16 or 2048 float32 elements), up to
2 * BWD_WALKER_BLOCK elements, take the walker backward (`_layer_norm_bwd_walker_kernel`);
shorter ones the one-pass tiles, which pack several rows to a program. Measured on an
H100 (PyTorch = 1): at 4096 x 4096 the walker ran 1.70x (float16) and 2.17x (float32),
the tiles 1.90x and 1.78x; at 4096 x 2048 float32 the walker 1.79x, the tiles 2.03x; at
4096 x 8192 the walker 2.21x / 2.17x, the tiles 1.88x / 2.16x."""
BWD_WALKER_BLOCK = 8192
"""Columns one walker program owns: a row up to this long is one program's, a longer one
(up to twice this) is split in two halves, a program each. Rows longer than twice this
take the two-pass backward: `_layer_norm_bwd_row_sums_kernel` (the two row sums, 8 bytes
a row) then `_layer_norm_bwd_tiled_kernel` over (row chunks, column blocks). It reads x
and dy twice (five units of traffic against three), but no program holds a row: at
2048 x 32768 a half row is 16384 columns, and a walker's row and accumulators spill
(measured 0.7-1.1x PyTorch, against 1.34-1.38x for the two passes); in quarters of 8192,
each program reading the other three for the row sums, 1.11x (float16) and 1.32x
(float32), and in eighths at 1024 x 65536, 0.64x and 0.74x (`parts_backward`; the
rejected designs' code is benchmarks/experiments/layer_norm_backward_designs.py at
commit e1905bf, removed from main since).
At 4096 x 16384 the walker in halves measured 1.99x (float16) and 2.09x (float32). Designs
measured there before it, all slower: the two passes 1.38x and 1.40x; split parts in the
one-pass kernel (`SPLIT`) 0.5x and 0.8x; one program per row with its partial sums added
into L2 by relaxed atomics 1.12x and 1.10x; row-sum and tile programs in one launch,
ordered by atomic tickets so that tiles re-read rows from L2, 1.13-1.34x (float16); a
persistent program per SM keeping dweight/dbias in an L2 scratch row, 1.17x (those two are
in the same file at commit e1905bf). With the
defaults the one-pass kernel's split-parts path runs only in the interpreter (small
blocks, so the tests reach it); removing it from the kernel slowed the one-pass kernel
at 4096 x 1024 by 10% on the H100 (Triton 3.6), so it stays."""
BWD_WALKER_WARPS = 16
"""Warps of a walker program: 16 elements of a 8192-column block a thread, with the two
accumulators 128 registers (ptxas sm_90, no spills), so one program per SM. At 4096 x
16384, 32 warps (64 registers) ran 1.53x / 1.61x PyTorch (float16 / float32) against
1.99x / 2.09x."""
BWD_WALKER_MAX_STAGES = 3
"""Rows in flight per walker (Triton's num_stages), as many as shared memory holds: each
stage buffers x, dy (and w) for the program's columns. Measured on an H100 at 4096 x
16384 in halves: 3 stages ran 2.06x PyTorch (float16), 1 stage 1.75x; float32 (2 stages,
as many as fit) 2.11x."""
BWD_ROW_SUMS_BLOCK = (4096, 8)
"""Pass one of the two-pass backward: (columns per iteration, warps); one row a program."""
BWD_TILED_BLOCK = (8, 256, 8)
"""Pass two of the two-pass backward: (rows, columns, warps) of a program's tile. The
accumulators are per lane, (rows x columns) each: 8 x 256 over 8 warps is 8 elements a
thread, 62-79 registers with the prefetched tile (ptxas sm_90), so 3 programs share an
SM. 16 elements a thread take 100-138 (spills in float32 with prefetch)."""
BWD_TILED_PROGRAMS_PER_SM = 3
"""Programs per SM the tiled pass's grid aims for (over both grid axes), as many as fit
at once (above): one wave, and a small buffer of partial sums."""
SUM_CHUNKS_BLOCK = (512, 16, 8)
"""Stage two of the dweight/dbias reduction: (chunks per iteration, columns per program,
warps). Narrow column blocks and tall chunk blocks: the buffer has few columns and many
chunks at short rows, and a grid of n_cols / 16 programs with 8192 partial sums in
flight each reads it in one or two steps. Measured on an H100 (layer_norm backward at
M = 4096, programs per SM as above): at N = 1024, 1.74 / 1.76 / 1.92x PyTorch (float16 /
bfloat16 / float32), where (32, 128, 4), 16 programs stepping 17 times over the buffer,
ran 1.67 / 1.70 / 1.78x."""
"""Stage two of the dweight/dbias reduction: (chunks, columns) per iteration."""

# Triton's interpreter: small parts, so that the drawn cases (16384 elements at most)
# reach split rows and several chunks; a stand-in SM count.
INTERPRET_BWD_BLOCK_MAX = 512
INTERPRET_BWD_STREAM = 128
INTERPRET_BWD_WALKER_MIN_BYTES = 4096
INTERPRET_BWD_WALKER_BLOCK = 4096
INTERPRET_BWD_ROW_SUMS_BLOCK = (1024, 4)
INTERPRET_BWD_TILED_BLOCK = (4, 1024, 4)
INTERPRET_SM_COUNT = 4
INTERPRET_SUM_CHUNKS_BLOCK = (4, 512, 4)
"""Wide column blocks in the interpreter, where each program costs about a millisecond
(the GPU's 16-column blocks would make 1000 programs of a 16384 row), and few chunks a
step, so that the tests step through several."""


@functools.cache
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


@functools.cache
def _shared_memory(device_index: int) -> int:
    """Bytes of shared memory one program may use on this GPU."""
    return triton.runtime.driver.active.utils.get_device_properties(device_index)["max_shared_mem"]


def _check_eps(eps: object) -> float:
    """eps is a real number > 0 that stays > 0, and normal, in float32."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a float, got {type(eps).__name__}")
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= torch.finfo(torch.float32).tiny):
        raise ValueError(
            f"eps must be finite and > 0 (at least {torch.finfo(torch.float32).tiny:.3g}, "
            f"the smallest normal float32, since it is added in float32), got {eps}"
        )
    return eps


def _check_param(name: str, p: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """weight or bias: None, or a tensor like x of shape (x.shape[-1],), made contiguous."""
    if p is None:
        return None
    check_tensor(name, p)
    check_like(name, p, "x", x)
    check_shape(name, p, (x.shape[-1],), "the last dim of x")
    return p.contiguous()


def _check_rows_input(x: torch.Tensor) -> None:
    check_tensor("x", x)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"x must have a last dim of length >= 1, got shape {tuple(x.shape)}")


def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LayerNorm over the last dim of x: returns (y, mean, rstd).

    y has x's shape and dtype; mean and rstd = 1 / sqrt(var + eps) are float32 of shape
    x.shape[:-1] (the biased variance, as torch.nn.LayerNorm). weight and bias, each
    optional, have shape (x.shape[-1],) and x's dtype and device.
    """
    _check_rows_input(x)
    weight = _check_param("weight", weight, x)
    bias = _check_param("bias", bias, x)
    eps = _check_eps(eps)

    x_rows = as_rows(x)
    n_rows, n_cols = x_rows.shape
    # Allocated in their final shapes, contiguous: y's rows are n_cols apart, and mean
    # and rstd are flat (no views to make afterwards: each costs the host ~2 us).
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    mean = torch.empty(x.shape[:-1], dtype=torch.float32, device=x.device)
    rstd = torch.empty(x.shape[:-1], dtype=torch.float32, device=x.device)
    if n_rows == 0:
        return y, mean, rstd

    # An unused pointer argument still needs a tensor; x stands in (never read).
    w_arg = weight if weight is not None else x_rows
    b_arg = bias if bias is not None else x_rows
    flags = dict(HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None)
    plan = plan_rows(n_rows, n_cols, FWD_ELEMENTS_PER_THREAD, family="layer_norm")
    if plan.whole_row:  # a grid of row tiles, each row held in registers
        _layer_norm_fwd_kernel[plan.grid](
            x_rows, w_arg, b_arg, y, mean, rstd, n_rows, n_cols,
            x_rows.stride(0), n_cols, eps,
            ROWS=plan.rows_per_program, BLOCK_N=plan.block_cols, num_warps=plan.num_warps,
            **flags,
        )  # fmt: skip
    else:  # one program per row, looping over it
        _layer_norm_fwd_looped_kernel[plan.grid](
            x_rows, w_arg, b_arg, y, mean, rstd, n_cols,
            x_rows.stride(0), n_cols, eps,
            BLOCK_N=plan.block_cols, num_warps=plan.num_warps, **flags,
        )  # fmt: skip
    return y, mean, rstd


def _chunks(n_rows: int, rows: int, n_programs: int) -> int:
    """Rows per chunk, a multiple of `rows`, cutting n_rows into about n_programs chunks."""
    n_tiles = cdiv(n_rows, rows)
    return rows * cdiv(n_tiles, min(n_tiles, max(1, n_programs)))


@dataclasses.dataclass(frozen=True)
class BackwardLimits:
    """The block-size constants a backward plan is made from, one set per mode."""

    block_max: int
    stream: int
    walker_min_bytes: int
    walker_block: int
    row_sums_block: tuple[int, int]
    tiled_block: tuple[int, int, int]
    sum_chunks_block: tuple[int, int, int]
    interpret: bool


def backward_limits(constants: str) -> BackwardLimits:
    """The "gpu" or "interpret" constants above (read at each call: tuning scripts set them)."""
    if constants == "gpu":
        return BackwardLimits(
            BWD_BLOCK_MAX, BWD_STREAM, BWD_WALKER_MIN_BYTES, BWD_WALKER_BLOCK,
            BWD_ROW_SUMS_BLOCK, BWD_TILED_BLOCK, SUM_CHUNKS_BLOCK, False,
        )  # fmt: skip
    return BackwardLimits(
        INTERPRET_BWD_BLOCK_MAX, INTERPRET_BWD_STREAM, INTERPRET_BWD_WALKER_MIN_BYTES,
        INTERPRET_BWD_WALKER_BLOCK, INTERPRET_BWD_ROW_SUMS_BLOCK, INTERPRET_BWD_TILED_BLOCK,
        INTERPRET_SUM_CHUNKS_BLOCK, True,
    )  # fmt: skip


BACKWARD_DESIGNS = ("one_pass", "one_pass_split", "walker", "walker_halves", "two_pass")
BACKWARD_CONFIGS = (
    *_plans.names("layer_norm_backward", ("one_pass", *BACKWARD_DESIGNS[2:]), ("gpu",)),
    *_plans.names("layer_norm_backward", BACKWARD_DESIGNS, ("interpret",)),
)
"""Every config the planner picks by default in either mode (split parts only with the
interpreter's small blocks)."""


def _design_for(n_cols: int, element_size: int, limits: BackwardLimits) -> str:
    """The design the planner picks by default (see `_backward_plan`)."""
    if n_cols > 2 * limits.walker_block:
        return "two_pass"
    if n_cols * element_size > limits.walker_min_bytes:
        return "walker_halves" if n_cols > limits.walker_block else "walker"
    return "one_pass_split" if n_cols > limits.block_max else "one_pass"


def _admits(design: str, n_cols: int, limits: BackwardLimits) -> bool:
    """Whether a forced design can run rows of n_cols with these limits."""
    return {
        "two_pass": True,
        "walker": n_cols <= limits.walker_block,
        "walker_halves": 1 < n_cols <= 2 * limits.walker_block,
        "one_pass": n_cols <= limits.block_max,
        # parts on grid axis 1, 65535 at most
        "one_pass_split": limits.block_max < n_cols <= limits.block_max * MAX_GRID[1],
    }[design]


def _backward_plan(
    n_rows: int, n_cols: int, device: torch.device, element_size: int, has_weight: bool
) -> dict:
    """How `layer_norm_backward` covers (n_rows, n_cols): the design, grid, block sizes,
    and n_chunks, the rows of the buffer of partial dweight/dbias sums.

    One pass (`_layer_norm_bwd_kernel`) up to a row of BWD_WALKER_MIN_BYTES: short rows are
    packed ROWS to a tile of about TILE_TARGET elements, as in the forward; the rows are
    cut into chunks so that the grid fills the GPU once, BWD_WARPS_PER_SM warps' worth
    of programs per SM. Walkers (`_layer_norm_bwd_walker_kernel`) up to a row of
    2 * BWD_WALKER_BLOCK, one program per SM, a row or half a row each. Two passes for
    longer rows: the row sums, then (column blocks x row chunks) tiles. A design forced
    through kernels._plans replaces the default wherever it can run the rows.
    """
    forced, constants = _plans.forced("layer_norm_backward")
    if forced is not None and not _admits(forced, n_cols, backward_limits(constants)):
        forced, constants = None, _plans.default_constants()  # the mode's own plan
    limits = backward_limits(constants)
    design = forced or _design_for(n_cols, element_size, limits)
    _plans.launched("layer_norm_backward", design, constants)
    interp = interpreting()  # device queries: the interpreter has no device
    sm_count = INTERPRET_SM_COUNT if interp else _sm_count(device.index or 0)
    prefetch = bool(BWD_PREFETCH)
    if design == "two_pass":
        sums_block, sums_warps = limits.row_sums_block
        rows, block_n, warps = limits.tiled_block
        block_n = block_for(n_cols, block_n)
        rows = block_for(n_rows, rows)
        n_blocks = cdiv(n_cols, block_n)
        rows_per_chunk = _chunks(n_rows, rows, BWD_TILED_PROGRAMS_PER_SM * sm_count // n_blocks)
        n_chunks = cdiv(n_rows, rows_per_chunk)
        return dict(
            design="two_pass",
            limits=limits,
            n_chunks=n_chunks,
            sums=dict(grid=(n_rows,), BLOCK_N=block_for(n_cols, sums_block), num_warps=sums_warps),
            grid=(n_blocks, n_chunks),
            rows_per_chunk=rows_per_chunk,
            PREFETCH=prefetch,
            ROWS=rows,
            BLOCK_N=block_n,
            num_warps=warps,
        )
    if design.startswith("walker"):
        halves = design == "walker_halves"
        block_n = block_for(cdiv(n_cols, 2) if halves else n_cols, limits.walker_block)
        n_walkers = min(n_rows, max(sm_count // (1 + halves), 1))
        # Shared memory per stage: x, dy (and w) for the columns a program loads; the
        # stage being computed is in registers, and 2 KiB stay free for the reductions.
        stage_bytes = (2 + has_weight) * (1 + halves) * block_n * element_size
        smem = 64 * 1024 if interp else _shared_memory(device.index or 0)
        stages = min(BWD_WALKER_MAX_STAGES, 1 + (smem - 2048) // stage_bytes)
        return dict(
            design="walker",
            limits=limits,
            n_chunks=n_walkers,
            grid=((1 + halves) * n_walkers,),
            HALVES=halves,
            BLOCK_N=block_n,
            STAGES=max(stages, 1),
            num_warps=BWD_WALKER_WARPS,
        )
    block_n = block_for(n_cols, limits.block_max)
    n_parts = cdiv(n_cols, block_n)
    if limits.interpret:
        tile_target = _rows.INTERPRET_TILE_TARGET
    elif element_size == 2 and n_cols <= 1024:
        tile_target = BWD_SHORT_16BIT_TILE
    else:
        tile_target = BWD_TILE_TARGET
    rows = block_for(n_rows, max(tile_target // block_n, 1))
    warps = next_power_of_2(max(rows * block_n // (32 * BWD_ELEMENTS_PER_THREAD), 1))
    warps = min(max(warps, 4), BWD_MAX_WARPS)
    programs_per_sm = max(BWD_WARPS_PER_SM // warps, 1)
    rows_per_chunk = _chunks(n_rows, rows, programs_per_sm * sm_count // n_parts)
    n_chunks = cdiv(n_rows, rows_per_chunk)
    return dict(
        design="one_pass",
        limits=limits,
        n_chunks=n_chunks,
        grid=(n_chunks, n_parts),
        rows_per_chunk=rows_per_chunk,
        PREFETCH=prefetch and rows * block_n <= BWD_PREFETCH_MAX_TILE,
        ROWS=rows,
        BLOCK_N=block_n,
        STREAM_N=min(limits.stream, block_n),
        SPLIT=n_parts > 1,
        num_warps=warps,
    )


def layer_norm_backward(
    dy: torch.Tensor,
    x: torch.Tensor,
    mean: torch.Tensor,
    rstd: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ...]:
    """Gradients of `layer_norm` given dy = dL/dy and what the forward saved.

    Returns (dx,), then dweight if weight is given, then dbias if bias is given (as
    aten's native_layer_norm_backward with its output mask set by which parameters
    exist). bias is only asked whether it exists: the gradients do not depend on it.
    mean and rstd are the forward's float32 statistics, of shape x.shape[:-1].
    """
    _check_rows_input(x)
    check_tensor("dy", dy)
    check_like("dy", dy, "x", x)
    check_shape("dy", dy, tuple(x.shape), "the shape of x")
    for name, stat in (("mean", mean), ("rstd", rstd)):
        check_tensor(name, stat, (torch.float32,))
        if stat.device != x.device:
            raise ValueError(f"{name} is on {stat.device} but x is on {x.device}")
        check_shape(name, stat, tuple(x.shape[:-1]), "x.shape[:-1]")
    weight = _check_param("weight", weight, x)
    bias = _check_param("bias", bias, x)

    x_rows, dy_rows = as_rows(x), as_rows(dy)
    n_rows, n_cols = x_rows.shape
    dx = torch.empty(x.shape, dtype=x.dtype, device=x.device)  # contiguous: rows n_cols apart
    n_sums = (weight is not None) + (bias is not None)
    if n_rows == 0:  # no rows: dweight and dbias are empty sums
        sums = torch.zeros((n_sums, n_cols), dtype=x.dtype, device=x.device)
        return (dx, *sums.unbind(0))

    plan = _backward_plan(n_rows, n_cols, x.device, x.element_size(), weight is not None)
    design, grid, n_chunks = plan.pop("design"), plan.pop("grid"), plan.pop("n_chunks")
    grid = checked_grid(grid, f"x of shape {tuple(x.shape)}")
    limits = plan.pop("limits")
    # Stage one's output: the partial dweight (if any) then dbias (if any) of each chunk.
    partial = torch.empty((n_sums, n_chunks, n_cols), dtype=torch.float32, device=x.device)
    # An unused pointer argument still needs a tensor; dx stands in (never touched), and x
    # for a missing weight (never read).
    dw_part = partial[0] if weight is not None else dx
    db_part = partial[-1] if bias is not None else dx
    w_arg = weight if weight is not None else x_rows
    mean, rstd = mean.contiguous(), rstd.contiguous()  # read as flat arrays of n_rows
    flags = dict(HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None)
    common = (dy_rows.stride(0), x_rows.stride(0), n_cols, partial.stride(1))
    if design == "walker":
        _layer_norm_bwd_walker_kernel[grid](
            dy_rows, x_rows, w_arg, mean, rstd, dx, dw_part, db_part, n_rows, n_cols,
            *common, **flags, **plan,
        )  # fmt: skip
    elif design == "two_pass":
        sums_plan = plan.pop("sums")
        coef = torch.empty((n_rows, 2), dtype=torch.float32, device=x.device)
        _layer_norm_bwd_row_sums_kernel[sums_plan.pop("grid")](
            dy_rows, x_rows, w_arg, mean, rstd, coef, n_cols,
            dy_rows.stride(0), x_rows.stride(0), HAS_WEIGHT=weight is not None, **sums_plan,
        )  # fmt: skip
        _layer_norm_bwd_tiled_kernel[grid](
            dy_rows, x_rows, w_arg, mean, rstd, coef, dx, dw_part, db_part,
            n_rows, n_cols, plan.pop("rows_per_chunk"), *common, **flags, **plan,
        )  # fmt: skip
    else:
        _layer_norm_bwd_kernel[grid](
            dy_rows, x_rows, w_arg, mean, rstd, dx, dw_part, db_part,
            n_rows, n_cols, plan.pop("rows_per_chunk"), *common, **flags, **plan,
        )  # fmt: skip
    grads = (dx,)
    if n_sums:
        grads += tuple(sum_partials(partial, x.dtype, limits.sum_chunks_block).unbind(0))
    return grads


def sum_partials(
    partial: torch.Tensor, dtype: torch.dtype, block: tuple[int, int, int] | None = None
) -> torch.Tensor:
    """Stage two of the dweight/dbias reduction: partial, float32 of shape (n_sums,
    n_chunks, n_cols), summed over its chunks into a new (n_sums, n_cols) tensor of
    `dtype`, in one launch. `block`: (chunks per step, columns, warps); by default the
    mode's SUM_CHUNKS_BLOCK."""
    n_sums, n_chunks, n_cols = partial.shape
    sums = torch.empty((n_sums, n_cols), dtype=dtype, device=partial.device)
    block_chunks, block_n, sum_warps = block or (
        INTERPRET_SUM_CHUNKS_BLOCK if interpreting() else SUM_CHUNKS_BLOCK
    )
    # One program per column block of each sum: columns are independent.
    grid = checked_grid((cdiv(n_cols, block_n), n_sums), f"a row of {n_cols} columns")
    _sum_chunks_kernel[grid](
        partial, sums, n_chunks, n_cols,
        partial.stride(0), partial.stride(1), sums.stride(0),
        BLOCK_CHUNKS=block_chunks, BLOCK_N=block_n, num_warps=sum_warps,
    )  # fmt: skip
    return sums


# ------------------------------------------------------------------------ autograd, module
def _normalized_shape(normalized_shape: int | tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(int(n) for n in normalized_shape)


class LayerNormFunction(torch.autograd.Function):
    """F.layer_norm(x, normalized_shape, weight, bias, eps) on the Triton kernels.

    The trailing dims named by normalized_shape are flattened into one row; weight and
    bias (optional) have shape normalized_shape.
    """

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps):
        shape = _normalized_shape(normalized_shape)
        if x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape) :]) != shape:
            raise ValueError(f"x must end in normalized_shape {shape}, got {tuple(x.shape)}")
        for name, p in (("weight", weight), ("bias", bias)):
            if p is not None and tuple(p.shape) != shape:
                raise ValueError(
                    f"{name} must have shape normalized_shape {shape}, got {tuple(p.shape)}"
                )
        n = math.prod(shape)
        x_rows = x.reshape(*x.shape[: x.dim() - len(shape)], n)
        w = weight.reshape(n) if weight is not None else None
        b = bias.reshape(n) if bias is not None else None
        y, mean, rstd = layer_norm(x_rows, w, b, eps)
        ctx.save_for_backward(x_rows, w, b, mean, rstd)
        ctx.shape = shape
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy):
        x_rows, w, b, mean, rstd = ctx.saved_tensors
        grads = list(layer_norm_backward(dy.reshape(x_rows.shape), x_rows, mean, rstd, w, b))
        dx = grads.pop(0).view(dy.shape)
        dw = grads.pop(0).view(ctx.shape) if w is not None else None
        db = grads.pop(0).view(ctx.shape) if b is not None else None
        return dx, None, dw, db, None


class TritonLayerNorm(torch.nn.Module):
    """A drop-in for torch.nn.LayerNorm: same arguments, parameters and state-dict keys.

    A normalized_shape of several dims is normalized as one flattened row. x and the
    parameters must share a dtype: where nn.LayerNorm under autocast would compute a
    float16 x with float32 parameters in float32, this refuses the mix (TypeError).
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | torch.Size,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.normalized_shape = _normalized_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = torch.nn.Parameter(torch.empty(self.normalized_shape, **factory))
            if bias:
                self.bias = torch.nn.Parameter(torch.empty(self.normalized_shape, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            torch.nn.init.ones_(self.weight)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return LayerNormFunction.apply(x, self.normalized_shape, self.weight, self.bias, self.eps)

    # The same attributes as nn.LayerNorm, so its repr (which differs between torch
    # releases) describes this module too.
    extra_repr = torch.nn.LayerNorm.extra_repr
