"""conv2d's depthwise kernels: groups = C, each input channel convolved with its own
filters (K / C of them, the channel multiplier), as torch.nn.functional.conv2d.

A depthwise filter sees one channel, so an output is R x S multiply-adds and nothing is
reduced over channels: as a GEMM (kernels/conv2d.py) its reduction would be R S terms
long for a handful of columns, and the tensor cores would idle. The problem is bound by
memory in principle (x read once, the output written once, the filters tiny), and each
kernel here is a direct loop whose design is about two things: reading along what memory
holds adjacent, and not paying a load, a conversion and a mask for every tap of every
output. `depthwise` picks the kernel.

The GPU ideas, in the order the kernels use them:

1. Coalescing decides the tile. A warp's 32 threads should read 32 neighbouring
   addresses. In channels-last x the channels are adjacent, so the threads take
   neighbouring filters (`conv2d_depthwise_kernel`: pixels x filters, each tap a row of
   weights times a masked gather). In NCHW a plane's row is adjacent, so the threads take
   neighbouring columns of one filter's output (`conv2d_depthwise_plane_kernel`: rows x
   columns of a plane, each tap a scalar weight).
2. Strips share their inputs. A thread owns a strip of adjacent outputs (BLOCK_Q or
   BLOCK_STRIP columns, ROWS rows); an input column or row that several of the strip's
   taps read is loaded and converted once, and each tap is then one multiply-add
   (`_strip_rows`). Without strips the kernels were bound by instruction issue, not by
   memory (benchmarks/depthwise_tuning.md#strips).
3. Aligned vectors. Where every row of x and of the output starts on a multiple of 16
   bytes (`_row_alignment`), a plane strip's columns are one vector load a row, each
   vector inside the row or masked whole outside it, and `tl.split` takes it apart in
   the thread's registers; 7 x 7's halo comes in vectors too (`_vector_row`). Scalar
   strips of 8 had waited on the L1 (benchmarks/depthwise_tuning.md#aligned-vectors).
4. A walk. A plane program walks TILES tiles (2-7) down its plane, paying its prologue
   (which plane, the filter's weights) once (benchmarks/depthwise_tuning.md#walks).

Why 7 x 7 stays far from a copy: an output is 49 float32 multiply-adds, and at the GPU's
float32 rate those of a large convolution take longer than a copy of its bytes would, so
no design of multiply-adds comes near a copy (64% of one at most on the H200); nor does
the count of instructions alone set the time
(benchmarks/depthwise_tuning.md#why-7-x-7-stays-far-from-a-copy).

Where they stand: benchmarks/depthwise_tuning.md#where-they-stand-on-the-h200. The
backward runs on kernels/conv2d.py's GEMMs.

Rejected on the tensor cores, each a filter row as a banded (Toeplitz) matrix of weights
that a tile of input rows multiplies (more arithmetic than 7 x 7's, on faster units),
both slower than the strips (benchmarks/depthwise_tuning.md#rejected-designs):
- one output tile a program (`conv2d_depthwise_band_kernel`, last in bb2f0a5);
- R sums in flight down a whole plane, each input row loaded once, Hopper's wgmma taking
  x from registers (`depthwise_dots`, last in 920e976).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from harness.autotune import autotune
from kernels import _plans
from kernels._launch import cdiv, checked_grid

if TYPE_CHECKING:
    from kernels.conv2d import Geometry


def _depthwise_config(
    block_pq: int, block_k: int, warps: int, block_q: int = 1, rows: int = 1
) -> triton.Config:
    """BLOCK_PQ strips of BLOCK_Q output pixels, each in `rows` output rows, x BLOCK_K
    filters (BLOCK_Q and ROWS named only past 1)."""
    blocks = (
        {"BLOCK_PQ": block_pq, "BLOCK_K": block_k}
        | ({"BLOCK_Q": block_q} if block_q > 1 else {})
        | ({"ROWS": rows} if rows > 1 else {})
    )
    return triton.Config(blocks, num_warps=warps, num_stages=1)


# Strips of 8 and 4 adjacent outputs (BLOCK_Q) share input columns among the taps
# (conv2d_depthwise_kernel), and strips of 2 and 3 output rows (ROWS) share input rows;
# larger tiles spill on 7 x 7. A tile of these holds 4-8 filters a thread (its elements over its
# threads: Triton loads them as one vector), so 7 x 7 needs 4-8 x 49 weights a thread,
# more than the registers hold; the last config, one filter a thread in 8 x 8 outputs,
# holds 49 weights and 64 sums.
# Measured: benchmarks/depthwise_tuning.md#depthwise_gpu_configs
DEPTHWISE_GPU_CONFIGS = (
    _depthwise_config(8, 128, 4, 8),
    _depthwise_config(8, 128, 4, 4),
    _depthwise_config(16, 64, 4, 8),
    _depthwise_config(8, 64, 4, 8, 2),
    _depthwise_config(4, 128, 4, 4, 3),
    _depthwise_config(8, 128, 4, 4, 2),
    _depthwise_config(1, 128, 4, 8, 8),
)
# The interpreter's tables: one-pixel strips, strips of 4, and strips of 2 rows x 4.
DEPTHWISE_INTERPRET_CONFIGS = (
    _depthwise_config(32, 8, 4),
    _depthwise_config(8, 8, 4, 4),
    _depthwise_config(4, 8, 4, 4, 2),
)


def _plane_config(
    block_p: int, block_q: int, warps: int, strip: int = 1, rows: int = 1, tiles: int = 1
) -> triton.Config:
    """BLOCK_P rows x BLOCK_Q columns, in strips of `strip` columns, each in `rows` rows,
    `tiles` such tiles down the plane a program (the three named only past 1)."""
    blocks = (
        {"BLOCK_P": block_p, "BLOCK_Q": block_q}
        | ({"BLOCK_STRIP": strip} if strip > 1 else {})
        | ({"ROWS": rows} if rows > 1 else {})
        | ({"TILES": tiles} if tiles > 1 else {})
    )
    return triton.Config(blocks, num_warps=warps, num_stages=1)


# Tiles of one channel's output plane, rows x columns, TILES of them down the plane a
# program; strips of adjacent columns a thread (BLOCK_STRIP), loaded and stored as aligned
# vectors where the rows allow (ALIGN), in ROWS rows. A config for each shape swept
# (3 x 3 at strides 1 and 2, 7 x 7, 28 x 28 planes) and one close to the best on all of
# them; scalar strips wait on memory, so one-column strips of 8 rows, walking, stay only
# for rows the vectors cannot take. Measured: benchmarks/depthwise_tuning.md#plane_gpu_configs
PLANE_GPU_CONFIGS = (
    _plane_config(16, 64, 1, 8, 4, 4),
    _plane_config(8, 32, 1, 4, 2, 7),
    _plane_config(8, 64, 1, 8, 2, 7),
    _plane_config(32, 32, 1, 4, 8, 2),
    _plane_config(16, 32, 1, 4, 4, 4),
    _plane_config(8, 64, 2, 1, 8, 7),
)


PLANE_INTERPRET_CONFIGS = (
    _plane_config(4, 8, 1),
    _plane_config(4, 16, 1, 4),
    _plane_config(4, 8, 1, 4, 2),
    _plane_config(4, 8, 1, 2, 2, 3),
)
# Rejected: the walk pipelined by Triton (PREFETCH, 115282b): slower or no faster
# (benchmarks/depthwise_tuning.md#rejected-designs).


# Each kernel's configs by design name (`kernels._plans`); kernels/conv2d.py puts them on
# the op's config axis.
DEPTHWISE_CONFIGS = _plans.by_name("depthwise", DEPTHWISE_GPU_CONFIGS, DEPTHWISE_INTERPRET_CONFIGS)
PLANE_CONFIGS = _plans.by_name("plane", PLANE_GPU_CONFIGS, PLANE_INTERPRET_CONFIGS)


@triton.jit
def _strip_columns(first_col, W, lane_ok, COLS: tl.constexpr):
    """Where each of the input columns first_col + j, j < COLS, that a strip's filter rows
    reach lies in the input (and `lane_ok`, unless None); outside is padding. The same
    for every filter row: worked out once, before the loop over them."""
    # (Tuples grow by +, which Triton's frontend compiles.)
    oks = ()
    for j in tl.static_range(COLS):
        iw = first_col + j
        ok = (iw >= 0) & (iw < W)
        if lane_ok is not None:
            ok = ok & lane_ok
        oks = oks + (ok,)  # noqa: RUF005
    return oks


@triton.jit
def _strip_zeros(SHAPE_0: tl.constexpr, SHAPE_1: tl.constexpr, STRIP: tl.constexpr):
    """STRIP float32 accumulators of (SHAPE_0, SHAPE_1), one per output of a strip."""
    accs = ()
    for _ in tl.static_range(STRIP):
        accs = accs + (tl.zeros((SHAPE_0, SHAPE_1), tl.float32),)  # noqa: RUF005
    return accs


@triton.jit
def _strip_weights(w_row, stride_ws, mask, S: tl.constexpr):
    """A filter row's S weights (pointers `w_row` at tap 0, zero where not `mask` unless
    None), in float32."""
    weights = ()
    for s in tl.static_range(S):
        if mask is None:
            weight = tl.load(w_row + s * stride_ws)
        else:
            weight = tl.load(w_row + s * stride_ws, mask=mask, other=0.0)
        weights = weights + (weight.to(tl.float32),)  # noqa: RUF005
    return weights


@triton.jit
def _strip_row(
    accs, row_ptrs, stride_xw, row_ok, col_oks, columns, weights,
    U: tl.constexpr, R: tl.constexpr, S: tl.constexpr, STRIDE_H: tl.constexpr,
    DIL_H: tl.constexpr, STRIDE_W: tl.constexpr, DIL_W: tl.constexpr,
    ROWS: tl.constexpr, STRIP: tl.constexpr,
):  # fmt: skip
    """One input row of a thread's ROWS x STRIP outputs (ROWS strips of STRIP adjacent
    outputs, in consecutive output rows; accs[t STRIP + i] is output (t, i)): each input
    column j the row reaches is loaded (row_ptrs + j stride_xw, zero where not row_ok &
    col_oks[j]; or taken from `columns`, loaded before, unless None) and converted to
    float32 once, then multiply-added into every output it feeds. The row is U rows below
    the first output row's first tap: it feeds output row t through filter row r where U
    = t STRIDE_H + r DIL_H (weights[t S + s] are that filter row's), and output column i
    through tap s where j = i STRIDE_W + s DIL_W; both decided at compile time."""
    COLS: tl.constexpr = (STRIP - 1) * STRIDE_W + (S - 1) * DIL_W + 1
    # A pointer stepped column by column (64-bit: no offset j stride_xw to overflow);
    # with stride_xw 1 (specialized) the steps fold into the loads' immediate offsets.
    ptrs = row_ptrs
    for j in tl.static_range(COLS):
        if columns is None:
            xv = tl.load(ptrs, mask=row_ok & col_oks[j], other=0.0).to(tl.float32)
            ptrs += stride_xw
        else:
            xv = columns[j]
        updated = ()
        for t in tl.static_range(ROWS):
            for i in tl.static_range(STRIP):
                acc = accs[t * STRIP + i]
                if (
                    (U >= t * STRIDE_H)
                    & ((U - t * STRIDE_H) % DIL_H == 0)
                    & (U - t * STRIDE_H < R * DIL_H)
                    & (j >= i * STRIDE_W)
                    & ((j - i * STRIDE_W) % DIL_W == 0)
                    & (j - i * STRIDE_W < S * DIL_W)
                ):
                    acc += xv * weights[t * S + (j - i * STRIDE_W) // DIL_W]
                updated = updated + (acc,)  # noqa: RUF005
        accs = updated
    return accs


@triton.jit
def _split_columns(tile, VEC: tl.constexpr):
    """A (rows, strips, VEC) tile's VEC columns, in order, each a (rows, strips) tile:
    halved log2(VEC) times by tl.split on a last axis of 2 (a thread's own registers)."""
    parts = (tile,)
    rows: tl.constexpr = tile.shape[0]
    strips: tl.constexpr = tile.shape[1]
    for level in tl.static_range((VEC > 1) + (VEC > 2) + (VEC > 4) + (VEC > 8)):
        evens = ()
        odds = ()
        for k in tl.static_range(1 << level):
            # parts[k] holds columns k, k + n, k + 2n, ... (n = 1 << level): the evens
            # of them go to evens[k] (columns k, k + 2n, ...), the odds to odds[k].
            part = tl.reshape(parts[k], (rows, strips, VEC >> (level + 1), 2))
            even, odd = tl.split(part)
            evens = evens + (even,)  # noqa: RUF005
            odds = odds + (odd,)  # noqa: RUF005
        parts = evens + odds
    columns = ()
    for i in tl.static_range(VEC):
        columns = columns + (tl.reshape(parts[i], (rows, strips)),)  # noqa: RUF005
    return columns


@triton.jit
def _join_columns(columns, VEC: tl.constexpr):
    """The inverse of `_split_columns`: VEC (rows, strips) tiles as one (rows, strips,
    VEC) tile."""
    rows: tl.constexpr = columns[0].shape[0]
    strips: tl.constexpr = columns[0].shape[1]
    parts = ()
    for i in tl.static_range(VEC):
        parts = parts + (tl.reshape(columns[i], (rows, strips, 1)),)  # noqa: RUF005
    for level in tl.static_range((VEC > 1) + (VEC > 2) + (VEC > 4) + (VEC > 8)):
        joined = ()
        # (VEC >> (level + 1) written out: a constexpr cannot be reassigned in a loop.)
        for k in tl.static_range(VEC >> (level + 1)):
            part = tl.join(parts[k], parts[k + (VEC >> (level + 1))])  # (..., 1 << level, 2)
            joined = joined + (tl.reshape(part, (rows, strips, 2 << level)),)  # noqa: RUF005
        parts = joined
    return parts[0]


@triton.jit
def _vector_row(
    row_ptrs, vec_ptrs, row_ok, col_oks, vec_oks,
    COLS: tl.constexpr, VEC: tl.constexpr, FIRST: tl.constexpr, VECTORS: tl.constexpr,
):  # fmt: skip
    """An input row's COLS columns for `_strip_row` (float32), as row_ptrs + j reaches
    them (stride 1), loaded in aligned vectors: vec_ptrs, a (..., VEC) tile of pointers
    at column j = FIRST, and the next VECTORS - 1 vectors, each whole in or out of the
    row (vec_oks); the columns outside those one by one (col_oks)."""
    core = ()
    for k in tl.static_range(VECTORS):
        tile = tl.load(vec_ptrs + k * VEC, mask=(row_ok & vec_oks[k])[:, :, None], other=0.0)
        core = core + _split_columns(tile.to(tl.float32), VEC)
    columns = ()
    for j in tl.static_range(COLS):
        if (j >= FIRST) and (j < FIRST + VECTORS * VEC):
            column = core[j - FIRST]
        else:
            column = tl.load(row_ptrs + j, mask=row_ok & col_oks[j], other=0.0).to(tl.float32)
        columns = columns + (column,)  # noqa: RUF005
    return columns


@triton.jit
def _filter_row(w_row, stride_wr, stride_ws, w_mask, weights, r: tl.constexpr, S: tl.constexpr):
    """Filter row r's S weights in float32: loaded (`_strip_weights`), or taken from
    `weights`, every filter's R x S weights loaded before (unless None)."""
    if weights is None:
        row = _strip_weights(w_row + r * stride_wr, stride_ws, w_mask, S)
    else:
        row = ()
        for s in tl.static_range(S):
            row = row + (weights[r * S + s],)  # noqa: RUF005
    return row


@triton.jit
def _strip_rows(
    accs, x_ptr, x_offs, first_ih, H, stride_xh, stride_xw, lane_ok, col_oks,
    w_row, stride_wr, stride_ws, w_mask, weights, vec_offs, vec_oks,
    R: tl.constexpr, S: tl.constexpr, STRIDE_H: tl.constexpr, DIL_H: tl.constexpr,
    STRIDE_W: tl.constexpr, DIL_W: tl.constexpr, ROWS: tl.constexpr, STRIP: tl.constexpr,
    UNROLL: tl.constexpr, VEC: tl.constexpr = 0, FIRST: tl.constexpr = 0,
    VECTORS: tl.constexpr = 0,
):  # fmt: skip
    """All the filter rows of a thread's ROWS x STRIP outputs (`_strip_row`): x_ptr +
    x_offs points at the strips' first input column in input row 0, first_ih is the
    first output row's first input row; lane_ok masks whole strips (past the tile). The
    weights are loaded here (w_row, pointers at each filter's tap (0, 0)) unless
    `weights` holds them already (`_filter_row`). With VEC, the strips' columns come in
    aligned vectors of VEC (`_vector_row`: VECTORS of them from column FIRST, vec_offs
    and vec_oks).

    With ROWS output rows a thread (UNROLL), input row first_ih + u feeds every output row
    t with a filter row r at u = t STRIDE_H + r DIL_H: the loop runs over the input rows,
    unrolled, each loaded and converted once for up to min(ROWS, R) output rows (at stride
    1, ROWS + R - 1 rows for ROWS R row-taps). One output row without UNROLL: a loop over
    the R filter rows, not unrolled."""
    if UNROLL:
        for u in tl.static_range((ROWS - 1) * STRIDE_H + (R - 1) * DIL_H + 1):
            # Each output row's filter-row weights; rows that u does not feed take row
            # 0's, never used, so never loaded (dead code, as is an input row that feeds
            # no output). The filter row is a constant, an expression: an int assigned
            # to a name would be a run-time integer in Triton.
            row_weights = ()
            for t in tl.static_range(ROWS):
                row_weights = row_weights + _filter_row(
                    w_row, stride_wr, stride_ws, w_mask, weights,
                    (u - t * STRIDE_H) // DIL_H
                    if (u >= t * STRIDE_H)
                    and ((u - t * STRIDE_H) % DIL_H == 0)
                    and (u - t * STRIDE_H < R * DIL_H)
                    else 0,
                    S,
                )  # fmt: skip
            ih = first_ih + u
            row_ok = lane_ok & (ih >= 0) & (ih < H)
            row_ptrs = x_ptr + (x_offs + ih * stride_xh)
            columns = None
            if VEC:
                # (A hint: the row's start is a multiple of VEC, as the launcher checked.)
                vec_ptrs = x_ptr + (
                    vec_offs + tl.multiple_of(ih * stride_xh, [VEC, VEC])[:, :, None]
                )
                columns = _vector_row(
                    row_ptrs, vec_ptrs, row_ok, col_oks, vec_oks,
                    (STRIP - 1) * STRIDE_W + (S - 1) * DIL_W + 1, VEC, FIRST, VECTORS,
                )  # fmt: skip
            accs = _strip_row(
                accs, row_ptrs, stride_xw, row_ok, col_oks, columns, row_weights,
                u, R, S, STRIDE_H, DIL_H, STRIDE_W, DIL_W, ROWS, STRIP,
            )  # fmt: skip
    else:
        # Unrolled, all R x COLS tiles of loads were hoisted and spilled
        # (benchmarks/depthwise_tuning.md#_strip_rows).
        for r in range(R):
            ih = first_ih + r * DIL_H
            row_ok = lane_ok & (ih >= 0) & (ih < H)
            row_ptrs = x_ptr + (x_offs + ih * stride_xh)
            tl.static_assert(weights is None, "weights loaded before need UNROLL")
            row_weights = _strip_weights(w_row + r * stride_wr, stride_ws, w_mask, S)
            accs = _strip_row(
                accs, row_ptrs, stride_xw, row_ok, col_oks, None, row_weights,
                0, 1, S, 1, 1, STRIDE_W, DIL_W, 1, STRIP,
            )  # fmt: skip
    return accs


@triton.jit
def _strip_store(
    out_ptr, out_offs, ok, accs, first_p, first_q, P, Q, stride_oh, stride_ow, bias,
    ROWS: tl.constexpr, STRIP: tl.constexpr,
):  # fmt: skip
    """Stores a thread's outputs (first_p + t, first_q + i) (where ok and inside P, Q;
    out_offs at row first_p), plus `bias` unless None, rounded once to out's type."""
    for t in tl.static_range(ROWS):
        row_ok = ok
        if ROWS > 1:  # (one row: ok says it)
            row_ok = ok & (first_p + t < P)
        for i in tl.static_range(STRIP):
            q = first_q + i
            acc = accs[t * STRIP + i]
            if bias is not None:
                acc += bias
            out_ptrs = out_ptr + (out_offs + t * stride_oh + q * stride_ow)
            tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=row_ok & (q < Q))


@autotune(
    DEPTHWISE_GPU_CONFIGS,
    key=["M", "K", "R", "S", "STRIDE_H", "DIL_H", "STRIDE_W", "DIL_W", "stride_xc"],
    interpret_config=DEPTHWISE_INTERPRET_CONFIGS[0],
)
@triton.jit
def conv2d_depthwise_kernel(
    x_ptr,  # x (N, C, H, W), any strides
    w_ptr,  # weight (K, 1, R, S), K = C x the channel multiplier
    out_ptr,  # out (N, K, P, Q)
    bias_ptr,  # bias (K,) or None
    M,  # output pixels: N x P x Q
    K,  # filters
    MULT,  # filters per input channel (the channel multiplier)
    H, W, P, Q,
    pad_h, pad_w,
    stride_xn, stride_xc, stride_xh, stride_xw,
    stride_wk, stride_wr, stride_ws,
    stride_on, stride_ok, stride_oh, stride_ow,
    stride_bias,
    R: tl.constexpr,  # filter rows
    S: tl.constexpr,  # filter columns
    STRIDE_H: tl.constexpr,  # row stride and dilation: which input row feeds which
    DIL_H: tl.constexpr,  # output row is decided at compile time (ROWS > 1)
    STRIDE_W: tl.constexpr,  # column stride and dilation: which input column feeds which
    DIL_W: tl.constexpr,  # output column is decided at compile time
    INDEX_64: tl.constexpr,  # index arithmetic in int64: some offset may pass 2**31
    BLOCK_PQ: tl.constexpr,  # strips of output pixels per program
    BLOCK_K: tl.constexpr,  # filters per program
    BLOCK_Q: tl.constexpr = 1,  # output columns per strip (adjacent, in one row)
    ROWS: tl.constexpr = 1,  # output rows per strip (consecutive)
):  # fmt: skip
    """A tile of BLOCK_PQ strips x BLOCK_K filters per program, each strip ROWS x BLOCK_Q
    adjacent output pixels (n, p0 .. p0 + ROWS - 1, q0 .. q0 + BLOCK_Q - 1), each filter
    reading its own input channel k // MULT: a loop over the filter rows, each a row of
    weights per tap times masked gathers of the input, multiply-added in float32.
    (Filters are adjacent in a channels-last tensor: the tile's loads and stores are
    contiguous along them.)

    The GPU idea: reuse in registers. The kernel is bound by instructions, not memory,
    and each product needs its input converted to float32 (16-bit products are exact
    there). With one pixel per strip every tap loads and converts its own input; along
    a row of a strip, input column j feeds output column i through tap s where j = i
    STRIDE_W + s DIL_W, so each of the (BLOCK_Q - 1) STRIDE_W + (S - 1) DIL_W + 1 input
    columns a filter row reaches is loaded and converted once and multiply-added into
    every output it feeds: for 3 x 3 at stride 1 and BLOCK_Q = 4, 6 conversions per
    filter row instead of 12. The same down the rows with ROWS > 1: an input row feeds
    every output row of the strip that one of its filter rows reaches (`_strip_rows`).
    Triton has no register shift, so the strip's outputs are separate tiles, a tuple
    unrolled at compile time (the strides and dilations are constants for that)."""
    # Index arithmetic in int32 where every offset fits, as in conv2d_gemm_kernel.
    strip_block, k_block = tl.program_id(axis=0), tl.program_id(axis=1)
    if INDEX_64:
        strip_block, k_block = strip_block.to(tl.int64), k_block.to(tl.int64)
    strip = strip_block * BLOCK_PQ + tl.arange(0, BLOCK_PQ)
    k = k_block * BLOCK_K + tl.arange(0, BLOCK_K)
    k_mask = k < K
    row_strips = tl.cdiv(Q, BLOCK_Q)
    row_groups = tl.cdiv(P, ROWS)
    group = strip // row_strips  # n cdiv(P, ROWS) + p // ROWS
    strip_mask = group < (M // Q // P) * row_groups
    img = group // row_groups
    oh = (group % row_groups) * ROWS
    q0 = (strip % row_strips) * BLOCK_Q
    base_h = oh * STRIDE_H - pad_h
    base_w = q0 * STRIDE_W - pad_w
    # Offsets, not pointers: a tile of 64-bit pointers held across the loop is twice
    # the registers of int32 offsets.
    x_tile = (img * stride_xn + base_w * stride_xw)[:, None] + ((k // MULT) * stride_xc)[None, :]
    # Each input column's padding mask, the same for every filter row.
    COLS: tl.constexpr = (BLOCK_Q - 1) * STRIDE_W + (S - 1) * DIL_W + 1
    col_oks = _strip_columns(base_w[:, None], W, k_mask[None, :], COLS)
    accs = _strip_zeros(BLOCK_PQ, BLOCK_K, ROWS * BLOCK_Q)
    # Padding: taps outside the input load 0; so do strips past the last row.
    accs = _strip_rows(
        accs, x_ptr, x_tile, base_h[:, None], H, stride_xh, stride_xw, strip_mask[:, None],
        col_oks, (w_ptr + k * stride_wk)[None, :], stride_wr, stride_ws, k_mask[None, :], None,
        None, None, R, S, STRIDE_H, DIL_H, STRIDE_W, DIL_W, ROWS, BLOCK_Q, ROWS > 1,
    )  # fmt: skip
    bias = None
    if bias_ptr is not None:
        bias = tl.load(bias_ptr + k * stride_bias, mask=k_mask, other=0.0).to(tl.float32)
        bias = bias[None, :]
    out_tile = (img * stride_on + oh * stride_oh)[:, None] + (k * stride_ok)[None, :]
    ok = strip_mask[:, None] & k_mask[None, :]
    _strip_store(
        out_ptr, out_tile, ok, accs, oh[:, None], q0[:, None], P, Q, stride_oh, stride_ow,
        bias, ROWS, BLOCK_Q,
    )  # fmt: skip


@triton.jit
def _plane_tile(K, P, Q, INDEX_64: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_Q: tl.constexpr):
    """(image, filter, first row, first column) of this program's tile of output planes.
    One grid axis (the others stop at 65535): tiles of plane n K + k, plane by plane."""
    pid = tl.program_id(axis=0)
    if INDEX_64:
        pid = pid.to(tl.int64)
    col_blocks = tl.cdiv(Q, BLOCK_Q)
    tiles = tl.cdiv(P, BLOCK_P) * col_blocks
    plane = pid // tiles
    tile = pid % tiles
    return plane // K, plane % K, (tile // col_blocks) * BLOCK_P, (tile % col_blocks) * BLOCK_Q


@autotune(
    PLANE_GPU_CONFIGS,
    key=["P", "Q", "R", "S", "STRIDE_H", "DIL_H", "STRIDE_W", "DIL_W", "ALIGN"],
    interpret_config=PLANE_INTERPRET_CONFIGS[0],
)
@triton.jit
def conv2d_depthwise_plane_kernel(
    x_ptr, w_ptr, out_ptr, bias_ptr,  # as in conv2d_depthwise_kernel
    K, MULT,  # filters, and filters per input channel
    H, W, P, Q,
    pad_h,
    stride_xn, stride_xc, stride_xh, stride_xw,
    stride_wk, stride_wr, stride_ws,
    stride_on, stride_ok, stride_oh, stride_ow,
    stride_bias,
    R: tl.constexpr,  # filter rows, as in conv2d_depthwise_kernel
    S: tl.constexpr,  # filter columns
    STRIDE_H: tl.constexpr,  # strides and dilations, constants as in
    DIL_H: tl.constexpr,  # conv2d_depthwise_kernel
    STRIDE_W: tl.constexpr,
    DIL_W: tl.constexpr,
    PAD_W: tl.constexpr,  # left padding: which input column a vector's lane holds
    ALIGN: tl.constexpr,  # x's and out's rows start on multiples of ALIGN elements (stride 1)
    INDEX_64: tl.constexpr,  # index arithmetic in int64: some offset may pass 2**31
    BLOCK_P: tl.constexpr,  # output rows per program
    BLOCK_Q: tl.constexpr,  # output columns per program
    BLOCK_STRIP: tl.constexpr = 1,  # adjacent output columns per strip (a thread's)
    ROWS: tl.constexpr = 1,  # consecutive output rows per strip
    TILES: tl.constexpr = 1,  # tiles per program, one below the other, walked in a loop
):  # fmt: skip
    """TILES tiles of BLOCK_P x BLOCK_Q outputs of one filter's output plane per program,
    one below the other, as strips of ROWS x BLOCK_STRIP adjacent outputs: the filter
    rows of conv2d_depthwise_kernel, unrolled, each weight a scalar.

    The GPU idea: coalescing. A warp's 32 threads should read 32 neighbouring addresses.
    In NCHW (and in any layout whose columns are adjacent) a plane's row is contiguous,
    and the tile's strips q0 + arange(...) BLOCK_STRIP say so to the compiler, which lays
    the threads along them. The pixels x filters tile of `conv2d_depthwise_kernel` finds
    its pixels by a division (pix % Q): the compiler cannot see that they are adjacent,
    lays the threads along the filters, and in NCHW each thread then reads another plane.

    And reuse in registers, as there: a strip's outputs share the input columns and rows
    between them, each loaded and converted once (`_strip_rows`).

    Vectors. Loaded one column at a time, a strip's neighbours are BLOCK_STRIP STRIDE_W
    elements apart: each warp-wide load touches up to 32 sectors for 64 bytes, and the
    L1 cache, not the arithmetic, sets the pace. Where every row of x and out starts on a
    multiple of BLOCK_STRIP elements (ALIGN, from the launcher, told to the compiler by
    tl.multiple_of), a strip's own STRIDE_W runs of BLOCK_STRIP columns are one 16-byte
    load each, the warp's loads 512 contiguous bytes; tl.split takes the vector apart into
    the columns the taps want, in the thread's own registers. The halo (the columns
    either side that the taps reach, PAD_W of them on the left) comes in the aligned
    vectors around it where it is wider than a column: a warp's load of one column a
    thread touches the cache lines of a vector a thread. The outputs leave the same way,
    tl.join putting a strip's row back together for one store.

    And a walk: the program's prologue (which plane, which tile, the filter's weights)
    is paid once for TILES tiles, not once a tile."""
    img, k, p0, q0 = _plane_tile(K, P, Q, INDEX_64, BLOCK_P * TILES, BLOCK_Q)
    STRIPS: tl.constexpr = BLOCK_Q // BLOCK_STRIP
    q = q0 + tl.arange(0, STRIPS)[None, :] * BLOCK_STRIP  # (1, STRIPS): each strip's first
    if INDEX_64:
        q = q.to(tl.int64)
    # (Hints: the planes start on multiples of ALIGN, as the launcher checked.)
    x_plane = x_ptr + tl.multiple_of(img * stride_xn + (k // MULT) * stride_xc, ALIGN)
    out_plane = tl.multiple_of(img * stride_on + k * stride_ok, ALIGN)
    w_filter = w_ptr + k * stride_wk
    COLS: tl.constexpr = (BLOCK_STRIP - 1) * STRIDE_W + (S - 1) * DIL_W + 1
    first_col = q * STRIDE_W - PAD_W
    col_oks = _strip_columns(first_col, W, None, COLS)
    bias = None
    if bias_ptr is not None:
        bias = tl.load(bias_ptr + k * stride_bias).to(tl.float32)
    weights = None
    if TILES > 1:
        # The filter's weights once for all the tiles: the compiler cannot hoist loads
        # out of a loop that stores (out might alias them).
        weights = ()
        for r in tl.static_range(R):
            weights = weights + _strip_weights(w_filter + r * stride_wr, stride_ws, None, S)
    for tile in range(tl.minimum(tl.cdiv(P - p0, BLOCK_P), TILES)):
        _plane_rows(
            x_plane, w_filter, out_ptr, out_plane, p0 + tile * BLOCK_P, q, first_col, col_oks,
            bias, weights, H, W, P, Q, pad_h, stride_xh, stride_xw, stride_wr, stride_ws,
            stride_oh, stride_ow, R, S, STRIDE_H, DIL_H, STRIDE_W, DIL_W, PAD_W, ALIGN,
            INDEX_64, BLOCK_P, STRIPS, BLOCK_STRIP, ROWS,
        )  # fmt: skip


@triton.jit
def _plane_rows(
    x_plane, w_filter, out_ptr, out_plane, p0, q, first_col, col_oks, bias, weights,
    H, W, P, Q, pad_h, stride_xh, stride_xw, stride_wr, stride_ws, stride_oh, stride_ow,
    R: tl.constexpr, S: tl.constexpr, STRIDE_H: tl.constexpr, DIL_H: tl.constexpr,
    STRIDE_W: tl.constexpr, DIL_W: tl.constexpr, PAD_W: tl.constexpr, ALIGN: tl.constexpr,
    INDEX_64: tl.constexpr, BLOCK_P: tl.constexpr, STRIPS: tl.constexpr,
    STRIP: tl.constexpr, ROWS: tl.constexpr,
):  # fmt: skip
    """Output rows p0 .. p0 + BLOCK_P - 1 of a plane tile (conv2d_depthwise_plane_kernel),
    columns q (each strip's first): computed and stored."""
    p = p0 + tl.arange(0, BLOCK_P // ROWS)[:, None] * ROWS  # each strip's first row
    if INDEX_64:
        p = p.to(tl.int64)
    # Row validity per row, column validity per column: broadcast where they meet.
    p_ok = p < P
    # Vectors where a strip's columns lie in aligned runs of STRIP (a strip starts on a
    # multiple of STRIP, and so does every row of x and out).
    VEC: tl.constexpr = STRIP if (STRIP > 1) and (ALIGN % STRIP == 0) else 0
    # The halo: the COLS - STRIDE_W VEC columns either side of the core that the taps
    # reach, LEFT of them before it (its first, j = PAD_W, is x's column q STRIDE_W).
    COLS: tl.constexpr = (STRIP - 1) * STRIDE_W + (S - 1) * DIL_W + 1
    LEFT: tl.constexpr = PAD_W if PAD_W < COLS else COLS
    RIGHT: tl.constexpr = COLS - PAD_W - STRIDE_W * VEC if COLS > PAD_W + STRIDE_W * VEC else 0
    # A side's halo comes in whole vectors too where that takes fewer loads: a warp's
    # load of one column a thread touches the same cache lines as a load of a vector a
    # thread (7 x 7: six columns one by one, or two vectors).
    BEFORE: tl.constexpr = (LEFT + VEC - 1) // VEC if (VEC > 0) and (LEFT > 1) else 0
    AFTER: tl.constexpr = (RIGHT + VEC - 1) // VEC if (VEC > 0) and (RIGHT > 1) else 0
    vec_offs = None
    vec_oks = None
    if VEC:
        # x's columns q STRIDE_W - BEFORE VEC .. (q + STRIP) STRIDE_W + AFTER VEC - 1 of a
        # row: vectors each inside the row or outside it whole (W is a multiple of STRIP).
        first = q * STRIDE_W - BEFORE * VEC
        vec_offs = first[:, :, None] + tl.arange(0, VEC)[None, None, :]
        vec_oks = ()
        for v in tl.static_range(BEFORE + STRIDE_W + AFTER):
            inside = first + v * VEC < W
            if v < BEFORE:
                inside = inside & (first + v * VEC >= 0)
            vec_oks = vec_oks + (inside,)  # noqa: RUF005
    accs = _strip_zeros(BLOCK_P // ROWS, STRIPS, ROWS * STRIP)
    # Padding: taps outside the input load 0; so do rows past P.
    accs = _strip_rows(
        accs, x_plane, first_col * stride_xw, p * STRIDE_H - pad_h, H, stride_xh, stride_xw,
        p_ok, col_oks, w_filter, stride_wr, stride_ws, None, weights, vec_offs, vec_oks,
        R, S, STRIDE_H, DIL_H, STRIDE_W, DIL_W, ROWS, STRIP, True, VEC, PAD_W - BEFORE * VEC,
        BEFORE + STRIDE_W + AFTER,
    )  # fmt: skip
    out_rows = out_plane + p * stride_oh
    if VEC:
        # A strip's outputs as one vector a row: they are adjacent, aligned (and all
        # inside Q or all past it: Q is a multiple of STRIP too).
        for t in tl.static_range(ROWS):
            row = ()
            for i in tl.static_range(STRIP):
                row = row + (accs[t * STRIP + i],)  # noqa: RUF005
            values = _join_columns(row, VEC)
            if bias is not None:
                values += bias
            # (Hinted on the sum but for row 0, where the sum folds away and the hint with
            # it: row 0 went out in 4- or 8-byte stores, after a change of layout.)
            row_offs = out_rows + t * stride_oh if t > 0 else out_rows
            row_offs = tl.multiple_of(row_offs, [VEC, VEC])[:, :, None]
            ptrs = out_ptr + (row_offs + (q[:, :, None] + tl.arange(0, VEC)[None, None, :]))
            ok = p_ok & (p + t < P) & (q < Q)
            tl.store(ptrs, values.to(out_ptr.dtype.element_ty), mask=ok[:, :, None])
    else:
        _strip_store(
            out_ptr, out_rows, p_ok, accs, p, q, P, Q, stride_oh, stride_ow, bias, ROWS, STRIP
        )


# ------------------------------------------------------------------------------ launcher
def depthwise(
    geo: Geometry,
    x: torch.Tensor,
    weight: torch.Tensor,
    out: torch.Tensor,
    bias: torch.Tensor | None,
    index_64: bool,
) -> None:
    """out = the depthwise convolution of x (a checked problem, `geo.depthwise`) + bias,
    `index_64` where some offset may pass 2**31 (`kernels.conv2d._index_64`).

    Where a row of x is contiguous (NCHW) and the filters are not, the plane kernel;
    the pixels x filters kernel reads channels-last x along its filters. A forced config
    picks its own kernel."""
    design, table = _plans.forced("conv2d")
    rows_adjacent = x.stride(3) == 1 and x.stride(1) != 1
    tiles_forced = design in DEPTHWISE_CONFIGS[table]
    if design in PLANE_CONFIGS[table] or (not tiles_forced and rows_adjacent):
        _planes(geo, x, weight, out, bias, index_64)
    else:
        _tiles(geo, x, weight, out, bias, index_64)


def _row_alignment(t: torch.Tensor, width: int) -> int:
    """The most elements (a power of two, 16 bytes' worth at most) that every row of t's
    planes starts on a multiple of, width (the row's length) being one too; 1 unless
    the rows are contiguous."""
    if t.stride(3) != 1 or t.data_ptr() % t.element_size():
        return 1
    common = math.gcd(t.data_ptr() // t.element_size(), *t.stride()[:3], width)
    most = 16 // t.element_size()
    return math.gcd(common, most) if common else most


def _planes(geo: Geometry, x, weight, out, bias, index_64: bool) -> None:
    """Tiles of output planes: the plane kernel."""
    planes = geo.n * geo.k
    grid = lambda meta: checked_grid(
        (
            planes
            * cdiv(geo.p, meta["BLOCK_P"] * meta.get("TILES", 1))
            * cdiv(geo.q, meta["BLOCK_Q"]),
        ),
        "x",
    )
    # The strides and dilations are constants there (`_strip_rows`).
    (stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w) = geo.stride, geo.pad, geo.dilation
    args = (
        x, weight, out, bias, geo.k, geo.k // geo.c, geo.h, geo.w, geo.p, geo.q,
        pad_h, *x.stride(), weight.stride(0), weight.stride(2),
        weight.stride(3), *out.stride(), bias.stride(0) if bias is not None else 0,
    )  # fmt: skip
    constants = {
        "R": geo.r,
        "S": geo.s,
        "STRIDE_H": stride_h,
        "DIL_H": dil_h,
        "STRIDE_W": stride_w,
        "DIL_W": dil_w,
        "PAD_W": pad_w,
        "ALIGN": min(_row_alignment(x, geo.w), _row_alignment(out, geo.q)),
        "INDEX_64": index_64,
    }
    _plans.launch("conv2d", conv2d_depthwise_plane_kernel, PLANE_CONFIGS, grid, args, constants)


def _tiles(geo: Geometry, x, weight, out, bias, index_64: bool) -> None:
    m = geo.n * geo.p * geo.q
    strips = lambda meta: (
        geo.n * cdiv(geo.p, meta.get("ROWS", 1)) * cdiv(geo.q, meta.get("BLOCK_Q", 1))
    )
    grid = lambda meta: checked_grid(
        (cdiv(strips(meta), meta["BLOCK_PQ"]), cdiv(geo.k, meta["BLOCK_K"])), "x"
    )
    (stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w) = geo.stride, geo.pad, geo.dilation
    args = (
        x, weight, out, bias, m, geo.k, geo.k // geo.c, geo.h, geo.w, geo.p, geo.q,
        pad_h, pad_w, *x.stride(), weight.stride(0),
        weight.stride(2), weight.stride(3), *out.stride(),
        bias.stride(0) if bias is not None else 0,
    )  # fmt: skip
    constants = {
        "R": geo.r, "S": geo.s, "STRIDE_H": stride_h, "DIL_H": dil_h,
        "STRIDE_W": stride_w, "DIL_W": dil_w,
        "INDEX_64": index_64,
    }  # fmt: skip
    _plans.launch("conv2d", conv2d_depthwise_kernel, DEPTHWISE_CONFIGS, grid, args, constants)
