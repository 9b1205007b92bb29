"""layer_norm: y = (x - mean) / sqrt(var + eps) * weight + bias over the last dim, and
its backward; plus a drop-in `torch.nn.LayerNorm` (`TritonLayerNorm`).

This file is the tutorial: the forward, the one-pass backward, their launchers, the
autograd Function and the module. `kernels/layer_norm_tuned.py` holds the backward's
designs for long rows, the launch constants and the planner that picks a design per
shape; benchmarks/layer_norm_tuning.md, the measurements behind each constant.

The forward returns (y, mean, rstd): mean and rstd = 1 / sqrt(var + eps) are float32, of
shape x.shape[:-1], the statistics the backward needs. Every dtype computes in float32:
float16/bfloat16 values are upcast as they are loaded (in Triton's interpreter bfloat16
is stored as uint16, so arithmetic before the cast would be garbage).

The GPU ideas, in the order they appear:

1. A reduction within a block (`_layer_norm_fwd_kernel`): a row is loaded into registers
   once, `tl.sum` is a tree across the program's threads, and the row never leaves the
   chip until y is stored. Short rows are packed several to a program.
2. Variance from centered values: mean((x - mean)^2) over the values already in
   registers costs no memory traffic; mean(x^2) - mean^2 would subtract two nearly
   equal numbers when |mean| >> std and lose every digit. Padded lanes are zeroed
   (`tl.where`) first: there x - mean would be -mean. The mean itself is corrected by
   the mean of the deviations from it (`_corrected_mean`): a float32 sum of a long row
   rounds, and a row of equal values must still center at exactly 0.
3. Loops for long rows (`_layer_norm_fwd_looped_kernel`): three passes over the row,
   the re-reads mostly from the L2 cache.
4. The backward (`_layer_norm_bwd_kernel`): with xhat = (x - mean) * rstd and g = dy * w,
       dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
       dweight = sum over rows of dy * xhat,   dbias = sum over rows of dy.
   dx needs two reductions along the row. dweight and dbias are reductions *across*
   rows, made in two stages (`kernels._rows`): each program walks a contiguous chunk of
   rows, keeps float32 partial sums in registers and stores them once to a (n_chunks, N)
   buffer; a second kernel adds the chunks up. The grid fills the GPU once and no more,
   so the buffer stays small next to x and dy. On Hopper the second kernel is launched
   before the first ends (a programmatic dependent launch, `kernels._rows.sum_partials`)
   and waits in place for its partial sums: the GPU's gap between two dependent
   launches, 1-2 us on an H100, is gone.
5. Software pipelining (PREFETCH): each step issues the next tile's loads before the
   current tile's reductions, so that the loads are in flight while it computes.
6. One kernel, two ops: given None for mean_ptr, every kernel here (and each backward
   design of kernels/layer_norm_tuned.py) is compiled with the mean taken as 0 and no
   mean(g) in dx, which is RMSNorm (`kernels/rms_norm.py`). Triton specializes a None
   argument as a constant: the branches on it are resolved when the kernel compiles.

Offsets: row * stride is computed in int64 wherever it may pass 2**31 elements.
"""

from __future__ import annotations

import math
import numbers

import torch
import triton
import triton.language as tl

from kernels import _plans
from kernels._checks import check_like, check_real, check_shape, check_tensor
from kernels._launch import checked_grid, fast, replayed
from kernels._rows import (
    as_rows,
    load_x_dy,
    norm_dx,
    partial_sums_buffer,
    plan_rows,
    replay_context,
    row_tile,
    store_partial_sums,
    sum_partials,
)
from kernels.layer_norm_tuned import (
    BACKWARD_CONFIGS,
    BACKWARD_DESIGNS,
    BWD_BLOCK_MAX,
    BWD_WALKER_BLOCK,
    BWD_WALKER_MIN_BYTES,
    INTERPRET_BWD_BLOCK_MAX,
    INTERPRET_BWD_STREAM,
    INTERPRET_BWD_WALKER_BLOCK,
    INTERPRET_BWD_WALKER_MIN_BYTES,
    BackwardArgs,
    OnePassPlan,
    backward_plan,
    launch_tuned,
    mean_of_g,
    other_parts_row_sums,
    row_sums,
    saved_mean,
)

# The public API, and constants of kernels.layer_norm_tuned re-exported for ops/ (the
# planner reads them there: a tuning script sets them there, not here).
__all__ = [
    "BACKWARD_CONFIGS",
    "BACKWARD_DESIGNS",
    "BWD_BLOCK_MAX",
    "BWD_WALKER_BLOCK",
    "BWD_WALKER_MIN_BYTES",
    "INTERPRET_BWD_BLOCK_MAX",
    "INTERPRET_BWD_STREAM",
    "INTERPRET_BWD_WALKER_BLOCK",
    "INTERPRET_BWD_WALKER_MIN_BYTES",
    "LayerNormFunction",
    "TritonLayerNorm",
    "as_normalized_rows",
    "backward_launches",
    "check_eps",
    "check_param",
    "check_rows_input",
    "check_statistic",
    "forward_launches",
    "layer_norm",
    "layer_norm_backward",
    "normalized_shape_of",
    "sum_partials",
]


# ------------------------------------------------------------------------------ forward
@triton.jit
def _row_mean(row_sum, n_cols):
    """row_sum / n_cols: a row's first mean, which `_corrected_mean` finishes. Triton's
    float32 `/` is an approximate division on NVIDIA GPUs (div.full.f32, off by up to 2
    ulps; exact in the interpreter), and a long row's float32 sum rounds anyway; the
    correction lands a row of equal values on that value whatever ulps this is off. A
    Newton step here, or `tl.math.div_rn`, left no more rows off and cost the float32
    forward at 4096 x 1024 2.2 or 0.8 us on an H100 (benchmarks/ln_mean_probe.py)."""
    return row_sum / tl.cast(n_cols, tl.float32)  # n_cols may be a constexpr 1


@triton.jit
def _corrected_mean(first, deviation, n_cols):
    """A row's mean from a first estimate (`_row_mean` of its sum) and the sum of the row's
    deviations from it: first + deviation / n. A float32 sum of many values rounds at
    every step, and the first estimate is off by up to (depth of the sum) ulps of the
    mean; the deviations are small, so their mean is accurate to ulps of the spread
    instead (the corrected two-pass algorithm: Chan, Golub and LeVeque, 1983). On a row
    of equal values the correction lands on that value exactly: its deviations are all
    the same, the exact difference x - first, so the row centers at exactly 0 and
    normalizes to the bias, as in float64. Without it, a float16 row of 65536 equal
    values near 6e4 with eps = 1e-5 normalized to +-1 and its dweight overflowed (a GPU
    night run, benchmarks/results/2026-12-06e-h100 call 6). A row whose first estimate is
    +-inf keeps it (its deviations are inf - inf)."""
    finite = tl.abs(first) < float("inf")
    return tl.where(finite, first + deviation / tl.cast(n_cols, tl.float32), first)


@triton.jit
def _corrected_variance(squares, deviation, n_cols):
    """mean(d^2) - mean(d)^2 of a row's deviations d = x - first from its first mean
    (`_corrected_mean`): the variance about the corrected mean, from one pass. d's mean
    is tiny next to its spread, so the subtraction loses nothing worth having; it may
    round below 0 (a row of equal values), which is clamped (NaN stays NaN)."""
    mean_deviation = deviation / tl.cast(n_cols, tl.float32)
    var = squares / tl.cast(n_cols, tl.float32) - mean_deviation * mean_deviation
    return tl.where(var < 0.0, 0.0, var)


@triton.jit
def _mean_and_rstd(x, mask, n_cols, eps, CENTERED: tl.constexpr):
    """Each row's mean and rstd = 1 / sqrt(var + eps) over a (ROWS, BLOCK_N) float32 tile
    whose padded lanes hold 0 (so they add nothing to the sum for the mean), as (ROWS, 1);
    and the centered values x - mean, padded lanes zeroed. Not CENTERED (RMSNorm): the
    mean is taken as 0, and var is the mean square."""
    if CENTERED:
        first = _row_mean(tl.sum(x, axis=1, keep_dims=True), n_cols)  # (ROWS, 1)
        # Zero the padded lanes before squaring: there x - first = -first.
        d = tl.where(mask, x - first, 0.0)
        deviation, squares = row_sums(d, d * d, 1, keep_dims=True)  # one tree for both
        mean = _corrected_mean(first, deviation, n_cols)
        var = _corrected_variance(squares, deviation, n_cols)
        centered = tl.where(mask, x - mean, 0.0)
    else:
        mean = 0.0
        centered = x
        var = tl.sum(centered * centered, axis=1, keep_dims=True) / n_cols
    return centered, mean, tl.rsqrt(var + eps)


@triton.jit
def _scale_shift(
    y, w_ptr, b_ptr, start, cols, col_mask, HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr
):
    """y * w + b over columns start + cols, each of w and b optional, in float32."""
    if HAS_WEIGHT:
        # other=0: padded columns are computed but never stored.
        y = y * tl.load(w_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        y = y + tl.load(b_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
    return y


@triton.jit
def _store_rows(y_ptr, mean_ptr, rstd_ptr, y, mean, rstd, rows, cols, stride_yrow, mask, row_mask):
    """A tile of y, cast to y's dtype, and its rows' mean (unless mean_ptr is None) and rstd."""
    tl.store(y_ptr + rows * stride_yrow + cols, y.to(y_ptr.dtype.element_ty), mask=mask)
    if mean_ptr is not None:
        tl.store(mean_ptr + rows, mean, mask=row_mask)
    tl.store(rstd_ptr + rows, rstd, mask=row_mask)


@triton.jit
def _layer_norm_fwd_kernel(
    x_ptr,  # input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    b_ptr,  # bias, shape (n_cols,); not read unless HAS_BIAS
    y_ptr,  # output, shape (n_rows, n_cols), unit column stride, dtype of x
    mean_ptr,  # output, float32, shape (n_rows,); None: RMSNorm (the mean taken as 0)
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
    """y, mean and rstd of ROWS whole rows, held in registers: a reduction within a block.

    Each row is read once; `tl.sum` over it is a tree across the program's threads, and
    the variance is a second reduction over the centered values already in registers
    (no memory traffic, and no cancellation, unlike mean(x^2) - mean^2). Short rows are
    packed ROWS to a program so that each moves a few thousand elements."""
    # rows (ROWS, 1), int64 since row * stride may pass 2**31; cols (1, BLOCK_N);
    # mask = row_mask & col_mask, (ROWS, BLOCK_N).
    rows, cols, mask = row_tile(tl.program_id(0), n_rows, n_cols, ROWS, BLOCK_N)
    row_mask = rows < n_rows  # (ROWS, 1): the last tile may hang past the last row
    # other=0: padded lanes add nothing to the sum for the mean. Upcast before any
    # arithmetic.
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=mask, other=0.0).to(tl.float32)
    centered, mean, rstd = _mean_and_rstd(x, mask, n_cols, eps, mean_ptr is not None)
    y = _scale_shift(centered * rstd, w_ptr, b_ptr, 0, cols, cols < n_cols, HAS_WEIGHT, HAS_BIAS)
    _store_rows(y_ptr, mean_ptr, rstd_ptr, y, mean, rstd, rows, cols, stride_yrow, mask, row_mask)


@triton.jit
def _layer_norm_fwd_looped_kernel(
    x_ptr,  # input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    b_ptr,  # bias, shape (n_cols,); not read unless HAS_BIAS
    y_ptr,  # output, shape (n_rows, n_cols), unit column stride, dtype of x
    mean_ptr,  # output, float32, shape (n_rows,); None: RMSNorm (the mean taken as 0)
    rstd_ptr,  # output, float32, shape (n_rows,)
    n_cols,  # row length, any
    stride_xrow,  # elements between consecutive rows of x
    stride_yrow,  # elements between consecutive rows of y
    eps,  # added to the variance, > 0
    HAS_WEIGHT: tl.constexpr,  # multiply by w
    HAS_BIAS: tl.constexpr,  # add b
    BLOCK_N: tl.constexpr,  # columns per iteration, a power of two
):
    """y, mean and rstd of one row too long for registers, in BLOCK_N columns a step:
    one pass for the mean, one for the centered variance, one to write y. The re-reads
    mostly hit the L2 cache. (A one-pass Welford/Chan merge would save a read, but turns
    a row's +inf mean into NaN: inf - inf when merging.) Without mean_ptr (RMSNorm): no
    pass for the mean, which is 0."""
    # One program per row; 64-bit row offset: row * stride passes 2**31 in big tensors.
    row = tl.program_id(0).to(tl.int64)
    x_row_ptr = x_ptr + row * stride_xrow
    y_row_ptr = y_ptr + row * stride_yrow
    cols = tl.arange(0, BLOCK_N)

    # Pass 1: the mean. Each lane sums its columns j, j + BLOCK_N, ...; one tree at the end.
    mean = 0.0
    if mean_ptr is not None:
        lane_sum = tl.zeros([BLOCK_N], tl.float32)
        for start in range(0, n_cols, BLOCK_N):
            col_mask = start + cols < n_cols  # the last block may hang past the row's end
            # other=0: padded lanes add nothing to the sum.
            x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0)
            lane_sum += x.to(tl.float32)
        mean = _row_mean(tl.sum(lane_sum, axis=0), n_cols)

    # Pass 2: the variance of the centered values (read again, mostly from L2), and the
    # mean corrected by their sum (`_corrected_mean`, `_corrected_variance`).
    lane_sum = tl.zeros([BLOCK_N], tl.float32)
    lane_squares = tl.zeros([BLOCK_N], tl.float32)
    for start in range(0, n_cols, BLOCK_N):
        col_mask = start + cols < n_cols
        x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
        centered = tl.where(col_mask, x - mean, 0.0)  # padded lanes would add mean^2
        lane_sum += centered
        lane_squares += centered * centered
    if mean_ptr is not None:
        deviation, squares = row_sums(lane_sum, lane_squares, 0)  # one tree for both
        var = _corrected_variance(squares, deviation, n_cols)
        mean = _corrected_mean(mean, deviation, n_cols)
    else:
        var = tl.sum(lane_squares, axis=0) / n_cols
    rstd = tl.rsqrt(var + eps)
    if mean_ptr is not None:
        tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)

    # Pass 3: normalize, scale, shift, store.
    for start in range(0, n_cols, BLOCK_N):
        col_mask = start + cols < n_cols
        # other=0 on every load: padded lanes are computed but never stored.
        x = tl.load(x_row_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
        y = _scale_shift(
            (x - mean) * rstd, w_ptr, b_ptr, start, cols, col_mask, HAS_WEIGHT, HAS_BIAS
        )
        tl.store(y_row_ptr + start + cols, y.to(y_ptr.dtype.element_ty), mask=col_mask)


# ----------------------------------------------------------------------------- backward
@triton.jit
def _layer_norm_bwd_kernel(
    dy_ptr,  # upstream gradient, shape (n_rows, n_cols), unit column stride
    x_ptr,  # the forward's input, shape (n_rows, n_cols), unit column stride
    w_ptr,  # weight, shape (n_cols,); not read unless HAS_WEIGHT
    mean_ptr,  # float32, shape (n_rows,): the forward's saved mean; None: RMSNorm's (0)
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
    """dx of a chunk of rows, and the chunk's partial dweight/dbias sums (stage one).

    Program (c, p) walks chunk c's rows in tiles of ROWS rows by the BLOCK_N columns of
    part p (the whole row unless SPLIT): per tile, two reductions along each row (the
    means of g * xhat and of g) give dx, and one down the tile's rows adds to the
    chunk's dweight/dbias, kept in float32 registers until the chunk ends."""
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
        # Software pipelining: the first tile is loaded before the loop; each iteration
        # then issues the next tile's loads *before* this tile's reductions, so that they
        # are in flight while it is computed. (Kept inline, not in a helper shared with
        # the two-pass tiles: a helper's scope changes ptxas's output for this kernel.)
        first = chunk_start + tile_rows
        x_next, dy_next = load_x_dy(
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
            x_next, dy_next = load_x_dy(
                x_ptr, dy_ptr, nxt, cols, stride_xrow, stride_dyrow, (nxt < chunk_end) & col_mask
            )
        else:
            x, dy = load_x_dy(x_ptr, dy_ptr, rows, cols, stride_xrow, stride_dyrow, mask)
        # Upcast before any arithmetic (the interpreter stores bfloat16 as uint16).
        x = x.to(tl.float32)
        dy = dy.to(tl.float32)
        # other=0 for padded rows: xhat = 0 there; they store nothing.
        mean = saved_mean(mean_ptr, rows, row_mask)
        rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
        xhat = (x - mean) * rstd
        # Stage one of dweight and dbias (padded lanes hold dy = 0).
        if HAS_WEIGHT:
            dw_acc += tl.sum(dy * xhat, axis=0)
        if HAS_BIAS:
            db_acc += tl.sum(dy, axis=0)
        g = dy * w
        sum_gx = tl.sum(g * xhat, axis=1, keep_dims=True)  # (ROWS, 1), this part's share
        sum_g = tl.sum(g, axis=1, keep_dims=True)
        # A split row's other parts (a tuned design: kernels/layer_norm_tuned.py). Not
        # even compiled when SPLIT is false: its registers would count against the kernel.
        if SPLIT:
            sum_gx, sum_g = other_parts_row_sums(
                x_ptr, dy_ptr, w_ptr, rows, row_mask, part_start, n_cols, mean, rstd,
                sum_gx, sum_g, stride_xrow, stride_dyrow, HAS_WEIGHT, BLOCK_N, STREAM_N,
            )  # fmt: skip
        dx = norm_dx(g, xhat, sum_gx / n_cols, mean_of_g(sum_g, n_cols, mean_ptr), rstd)
        tl.store(dx_ptr + rows * stride_dxrow + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)

    store_partial_sums(
        dw_part_ptr, db_part_ptr, chunk, stride_partrow, part_start + tl.arange(0, BLOCK_N),
        n_cols, dw_acc, db_acc, HAS_WEIGHT, HAS_BIAS, False,
    )  # fmt: skip


# ------------------------------------------------------------------------- input checks
def check_eps(eps: object) -> float:
    """eps is a real number > 0 that stays > 0, and normal, in float32."""
    eps = check_real("eps", eps)
    if eps < torch.finfo(torch.float32).tiny:
        raise ValueError(
            f"eps must be > 0 (at least {torch.finfo(torch.float32).tiny:.3g}, the smallest "
            f"normal float32, since it is added in float32), got {eps}"
        )
    return eps


def check_param(name: str, p: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """weight or bias: None, or a tensor like x of shape (x.shape[-1],), made contiguous."""
    if p is None:
        return None
    check_tensor(name, p)
    check_like(name, p, "x", x)
    check_shape(name, p, (x.shape[-1],), "the last dim of x")
    return p.contiguous()


def check_rows_input(x: torch.Tensor) -> None:
    check_tensor("x", x)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"x must have a last dim of length >= 1, got shape {tuple(x.shape)}")


# ------------------------------------------------------------------------------ launchers
FWD_ELEMENTS_PER_THREAD = 32  # half the warps of the shared default (16): cheaper
# cross-warp reductions. Measured: benchmarks/layer_norm_tuning.md#fwd_elements_per_thread
_plans.tunable(__name__)  # tuning scripts set it


def _forward_setup(
    x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, float, tuple[torch.Tensor, ...]]:
    """The forward's checks, then (x_rows, weight, bias, eps, (y, mean, rstd)): x as rows,
    the checked arguments, and the outputs allocated in their final shapes, contiguous
    (y's rows n_cols apart, mean and rstd flat: no views to make afterwards, each of which
    costs the host ~2 us). Planted bugs (tests/planted_bugs.py) launch through it too."""
    check_rows_input(x)
    weight = check_param("weight", weight, x)
    bias = check_param("bias", bias, x)
    eps = check_eps(eps)
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    mean = torch.empty(x.shape[:-1], dtype=torch.float32, device=x.device)
    rstd = torch.empty(x.shape[:-1], dtype=torch.float32, device=x.device)
    return as_rows(x), weight, bias, eps, (y, mean, rstd)


@replayed(replay_context)
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
    x_rows, weight, bias, eps, (y, mean, rstd) = _forward_setup(x, weight, bias, eps)
    forward_launches(x_rows, weight, bias, eps, y, mean, rstd)
    return y, mean, rstd


def forward_launches(
    x_rows: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
    y: torch.Tensor,
    mean: torch.Tensor | None,
    rstd: torch.Tensor,
) -> None:
    """`layer_norm`'s launches once its arguments are checked and its outputs made. mean
    None: RMSNorm's forward (`kernels/rms_norm.py`), the same kernels with the mean taken
    as 0."""
    n_rows, n_cols = x_rows.shape
    if n_rows == 0:
        return
    # An unused pointer argument still needs a tensor; x stands in (never read).
    w_arg = weight if weight is not None else x_rows
    b_arg = bias if bias is not None else x_rows
    flags = dict(HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None)
    family = "layer_norm" if mean is not None else "rms_norm"
    plan = plan_rows(n_rows, n_cols, FWD_ELEMENTS_PER_THREAD, family=family)
    if plan.whole_row:  # a grid of row tiles, each row held in registers
        fast(_layer_norm_fwd_kernel)[plan.grid](
            x_rows, w_arg, b_arg, y, mean, rstd, n_rows, n_cols,
            x_rows.stride(0), n_cols, eps,
            ROWS=plan.rows_per_program, BLOCK_N=plan.block_cols, num_warps=plan.num_warps,
            **flags,
        )  # fmt: skip
    else:  # one program per row, looping over it
        fast(_layer_norm_fwd_looped_kernel)[plan.grid](
            x_rows, w_arg, b_arg, y, mean, rstd, n_cols,
            x_rows.stride(0), n_cols, eps,
            BLOCK_N=plan.block_cols, num_warps=plan.num_warps, **flags,
        )  # fmt: skip


# A later call of the same signature: the same launches, at once (in a training loop the
# checks and the plan cost the host several times the kernels' own launch).
@replayed(replay_context)
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
    check_rows_input(x)
    check_tensor("dy", dy)
    check_like("dy", dy, "x", x)
    check_shape("dy", dy, tuple(x.shape), "the shape of x")
    for name, stat in (("mean", mean), ("rstd", rstd)):
        check_statistic(name, stat, x)
    weight = check_param("weight", weight, x)
    bias = check_param("bias", bias, x)
    return backward_launches(dy, x, mean, rstd, weight, bias)


def check_statistic(name: str, stat: torch.Tensor, x: torch.Tensor) -> None:
    """A saved row statistic (mean, rstd): float32, on x's device, of shape x.shape[:-1]."""
    check_tensor(name, stat, (torch.float32,))
    if stat.device != x.device:
        raise ValueError(f"{name} is on {stat.device} but x is on {x.device}")
    check_shape(name, stat, tuple(x.shape[:-1]), "x.shape[:-1]")


def backward_launches(
    dy: torch.Tensor,
    x: torch.Tensor,
    mean: torch.Tensor | None,
    rstd: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
) -> tuple[torch.Tensor, ...]:
    """`layer_norm_backward`'s work once its arguments are checked: (dx, dweight if
    weight, dbias if bias). mean None: RMSNorm's backward (`kernels/rms_norm.py`), the
    same designs with the mean taken as 0."""
    has_weight, has_bias, centered = weight is not None, bias is not None, mean is not None
    x_rows, dy_rows = as_rows(x), as_rows(dy)
    n_rows, n_cols = x_rows.shape
    dx = torch.empty(x.shape, dtype=x.dtype, device=x.device)  # contiguous: rows n_cols apart
    if n_rows == 0:  # no rows: dweight and dbias are empty sums
        sums = torch.zeros((has_weight + has_bias, n_cols), dtype=x.dtype, device=x.device)
        return (dx, *sums.unbind(0))

    # The design and its launch sizes for this shape: kernels/layer_norm_tuned.py.
    family = "layer_norm_backward" if centered else "rms_norm_backward"
    plan = backward_plan(n_rows, n_cols, x.device, x.element_size(), has_weight, family)
    grid = checked_grid(plan.grid, f"x of shape {tuple(x.shape)}")
    # Stage one's output: a row of partial dweight (if any) and dbias (if any) per chunk;
    # dx stands in for a missing one (never touched), x for a missing weight (never read).
    parts, dw_part, db_part = partial_sums_buffer(
        plan.n_chunks, n_cols, has_weight, has_bias, stand_in=dx
    )
    rstd = rstd.contiguous()  # read as a flat array of n_rows, as mean
    mean = mean.contiguous() if centered else None
    args = BackwardArgs(
        dy_rows, x_rows, weight if has_weight else x_rows, mean, rstd, dx, dw_part, db_part,
        n_rows, n_cols,
    )  # fmt: skip
    strides = (dy_rows.stride(0), x_rows.stride(0), n_cols, n_cols)  # the parts' rows too
    if isinstance(plan, OnePassPlan):
        fast(_layer_norm_bwd_kernel)[grid](
            *args, plan.rows_per_chunk, *strides, HAS_WEIGHT=has_weight, HAS_BIAS=has_bias,
            PREFETCH=plan.prefetch, ROWS=plan.rows, BLOCK_N=plan.block_n,
            STREAM_N=plan.stream_n, SPLIT=plan.split, num_warps=plan.num_warps,
        )  # fmt: skip
    else:  # long rows: walkers, or two passes
        launch_tuned(plan, grid, args, strides, has_weight, has_bias)
    if not (has_weight or has_bias):
        return (dx,)
    # Stage two: the chunks' partial sums added up, in the parameters' dtype.
    return (dx, *sum_partials(parts, x.dtype, plan.sum_chunks_block, plan.early_sums))


# ------------------------------------------------------------------------ autograd, module
def normalized_shape_of(normalized_shape: int | tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(int(n) for n in normalized_shape)


def as_normalized_rows(
    x: torch.Tensor, shape: tuple[int, ...], **params: torch.Tensor | None
) -> tuple[torch.Tensor, ...]:
    """x with the trailing dims `shape` flattened into one row, then each of `params`
    (weight, bias: None or of shape `shape`) flattened alike; a ValueError naming the
    argument that does not fit."""
    if x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape) :]) != shape:
        raise ValueError(f"x must end in normalized_shape {shape}, got {tuple(x.shape)}")
    n = math.prod(shape)
    flat = []
    for name, p in params.items():
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(
                f"{name} must have shape normalized_shape {shape}, got {tuple(p.shape)}"
            )
        flat.append(p.reshape(n) if p is not None else None)
    return (x.reshape(*x.shape[: x.dim() - len(shape)], n), *flat)


@_plans.carried_to_backward
class LayerNormFunction(torch.autograd.Function):
    """F.layer_norm(x, normalized_shape, weight, bias, eps) on the Triton kernels.

    The trailing dims named by normalized_shape are flattened into one row; weight and
    bias (optional) have shape normalized_shape.
    """

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        normalized_shape: int | tuple[int, ...] | torch.Size,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        eps: float,
    ) -> torch.Tensor:
        shape = normalized_shape_of(normalized_shape)
        x_rows, w, b = as_normalized_rows(x, shape, weight=weight, bias=bias)
        y, mean, rstd = layer_norm(x_rows, w, b, eps)
        ctx.save_for_backward(x_rows, w, b, mean, rstd)
        ctx.shape = shape
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.normalized_shape = normalized_shape_of(normalized_shape)
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
