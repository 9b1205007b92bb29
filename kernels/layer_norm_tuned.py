"""layer_norm's backward beyond the tutorial: the designs for long rows, the launch
constants, and the planner that picks a design and its typed plan for each shape.

`kernels/layer_norm.py` teaches the one-pass backward: tiles of whole rows, two row sums
in registers, and a two-stage dweight/dbias reduction. It is the fastest design up to a
row of BWD_WALKER_MIN_BYTES. Past that:

* Walkers (`_layer_norm_bwd_walker_kernel`): one program per SM walks rows n apart, a
  whole row at a time (Triton's pipeliner, `tl.range(num_stages=...)`, prefetches the
  next rows into shared memory). A row too long for one program's registers is shared
  by two, one per half, each reading the other half for the two row sums (from L2: the
  partners walk the same rows at the same pace). Exchanging their shares of the sums
  instead ran at half the speed (edfe1c8, benchmarks/layer_norm_tuning.md).
* Two passes, past 2 * BWD_WALKER_BLOCK columns: `_layer_norm_bwd_row_sums_kernel`
  writes the two row means dx needs (8 bytes a row), then `_layer_norm_bwd_tiled_kernel`
  covers (column blocks x row chunks), each program independent: more traffic, but no
  program ever holds a row.
* Split parts (`SPLIT` in the one-pass kernel): a row longer than BWD_BLOCK_MAX is cut
  into parts, a program each; on the GPU the walkers take such rows first.

Every design ends in the same two-stage reduction (`kernels._rows.store_partial_sums`,
`sum_partials`) and computes dx with `kernels._rows.norm_dx`. Why each constant has its
value: benchmarks/layer_norm_tuning.md, one section per constant.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from kernels import _plans, _rows
from kernels._checks import interpreting
from kernels._launch import (
    MAX_GRID,
    cdiv,
    early_launch,
    fast,
    next_power_of_2,
    note_replay,
    note_temporary,
)
from kernels._rows import block_for, load_x_dy, norm_dx, store_partial_sums

# ---------------------------------------------------------------------- launch constants
# The GPU's, each measured: benchmarks/layer_norm_tuning.md#<name in lower case>.
BWD_ELEMENTS_PER_THREAD = 16  # one-pass tile elements per thread
BWD_TILE_TARGET = 4096  # elements of a one-pass tile (ROWS rows of BLOCK_N)
BWD_SHORT_16BIT_TILE = 2048  # the tile for 16-bit rows of at most 1024 elements
BWD_WARPS_PER_SM = 16  # warps of one-pass programs per SM: the grid fills the GPU once
BWD_MAX_WARPS = 16  # warps of a one-pass program at most
BWD_PREFETCH = True  # software pipelining in the one-pass and tiled loops
BWD_PREFETCH_MAX_TILE = 4096  # largest one-pass tile prefetched (registers)
BWD_BLOCK_MAX = 8192  # longest part of a row one one-pass program owns (split parts)
BWD_STREAM = 1024  # columns per step over the parts a program does not own
BWD_WALKER_MIN_BYTES = 8192  # longer rows (in bytes) take the walkers
BWD_WALKER_BLOCK = 8192  # columns a walker owns; longer rows in halves, past 2x two passes
BWD_WALKER_WARPS = 8  # warps of a walker program
BWD_WALKERS_PER_SM = 1  # walker programs per SM (each with its share of shared memory)
BWD_WALKER_MAX_STAGES = 3  # rows in flight per walker, as shared memory allows
BWD_ROW_SUMS_BLOCK = (4096, 8)  # two passes, pass one: (columns per step, warps)
BWD_TILED_BLOCK = (8, 256, 8)  # two passes, pass two: (rows, columns, warps)
BWD_TILED_PROGRAMS_PER_SM = 3  # pass two's programs per SM, as many as fit at once
SUM_CHUNKS_BLOCK = (512, 16, 8)  # stage two of dweight/dbias: (chunks, columns, warps)
BWD_EARLY_SUMS = True  # stage two launched before stage one ends, where the GPU can (sm_90 on)

# Triton's interpreter: small parts, so that the drawn cases (16384 elements at most)
# reach split rows, halves, two passes and several chunks; a stand-in SM count.
INTERPRET_BWD_BLOCK_MAX = 512
INTERPRET_BWD_STREAM = 128
INTERPRET_BWD_WALKER_MIN_BYTES = 4096
INTERPRET_BWD_WALKER_BLOCK = 4096
INTERPRET_BWD_ROW_SUMS_BLOCK = (1024, 4)
INTERPRET_BWD_TILED_BLOCK = (4, 1024, 4)
INTERPRET_SM_COUNT = 4
INTERPRET_SUM_CHUNKS_BLOCK = (4, 512, 4)  # wide columns: an interpreted program is slow


_plans.tunable(__name__)  # tuning scripts set the constants above


@dataclass(frozen=True)
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


# ------------------------------------------------------------------------------ plans
BACKWARD_DESIGNS = ("one_pass", "one_pass_split", "walker", "walker_halves", "two_pass")


def backward_configs(family: str) -> tuple[str, ...]:
    """Every config the planner picks by default in either mode (split parts only with the
    interpreter's small blocks), named for `family` (`backward_plan`)."""
    return (
        *_plans.names(family, ("one_pass", *BACKWARD_DESIGNS[2:]), ("gpu",)),
        *_plans.names(family, BACKWARD_DESIGNS, ("interpret",)),
    )


BACKWARD_CONFIGS = backward_configs("layer_norm_backward")


@dataclass(frozen=True)
class BackwardPlan:
    """What every design's launch has: its grid, the rows of the buffer of partial
    dweight/dbias sums (one per program, or per program row), and stage two's block."""

    grid: tuple[int, ...]
    n_chunks: int
    sum_chunks_block: tuple[int, int, int]
    early_sums: bool  # BWD_EARLY_SUMS where stage two can be launched early, else False


@dataclass(frozen=True)
class OnePassPlan(BackwardPlan):
    """`_layer_norm_bwd_kernel` (kernels/layer_norm.py) on a grid of (chunks, parts)."""

    rows_per_chunk: int  # rows one program walks, a multiple of rows
    rows: int  # ROWS, rows of a tile
    block_n: int  # BLOCK_N, columns a program owns
    stream_n: int  # STREAM_N, columns per step over the other parts
    split: bool  # SPLIT: rows cut into several parts
    prefetch: bool  # PREFETCH
    num_warps: int


@dataclass(frozen=True)
class WalkerPlan(BackwardPlan):
    """`_layer_norm_bwd_walker_kernel` on a grid of walkers (twice as many in halves)."""

    halves: bool  # HALVES: two programs share each row
    block_n: int  # BLOCK_N, columns a program owns
    stages: int  # STAGES, rows in flight
    num_warps: int


@dataclass(frozen=True)
class TwoPassPlan(BackwardPlan):
    """`_layer_norm_bwd_row_sums_kernel`, one program per row, then
    `_layer_norm_bwd_tiled_kernel` on a grid of (column blocks, chunks)."""

    sums_grid: tuple[int]
    sums_block_n: int  # pass one's BLOCK_N
    sums_warps: int
    rows_per_chunk: int
    rows: int  # ROWS, rows of pass two's tile
    block_n: int  # BLOCK_N, its columns
    prefetch: bool  # PREFETCH
    num_warps: int


@functools.cache
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


@functools.cache
def _shared_memory(device_index: int) -> int:
    """Bytes of shared memory one program may use on this GPU."""
    return triton.runtime.driver.active.utils.get_device_properties(device_index)["max_shared_mem"]


def _chunks(n_rows: int, rows: int, n_programs: int) -> tuple[int, int]:
    """(rows per chunk, a multiple of `rows`, and the number of chunks), cutting n_rows
    into about n_programs chunks."""
    n_tiles = cdiv(n_rows, rows)
    rows_per_chunk = rows * cdiv(n_tiles, min(n_tiles, max(1, n_programs)))
    return rows_per_chunk, cdiv(n_rows, rows_per_chunk)


def _design_for(n_cols: int, element_size: int, limits: BackwardLimits) -> str:
    """The design the planner picks by default (see `backward_plan`)."""
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


def backward_plan(
    n_rows: int, n_cols: int, device: torch.device, element_size: int, has_weight: bool,
    family: str = "layer_norm_backward",
) -> OnePassPlan | WalkerPlan | TwoPassPlan:  # fmt: skip
    """How `layer_norm_backward` covers (n_rows, n_cols): one pass up to a row of
    BWD_WALKER_MIN_BYTES (split into parts past BWD_BLOCK_MAX columns), walkers up to
    2 * BWD_WALKER_BLOCK columns (in halves past BWD_WALKER_BLOCK), two passes beyond. A
    design forced through kernels._plans (config `family`/design/constants: RMSNorm's
    backward plans as "rms_norm_backward") replaces the default wherever it can run."""
    forced, constants = _plans.forced(family)
    if forced is not None and not _admits(forced, n_cols, backward_limits(constants)):
        forced, constants = None, _plans.default_constants()  # the mode's own plan
    limits = backward_limits(constants)
    design = forced or _design_for(n_cols, element_size, limits)
    _plans.launched(family, design, constants)
    # A replay skips this plan: it tells a recording() what it launches all the same.
    note_replay(_plans.always, lambda: _plans.launched(family, design, constants))
    interp = interpreting()  # device queries: the interpreter has no device
    sm_count = INTERPRET_SM_COUNT if interp else _sm_count(device.index or 0)
    early_sums = bool(BWD_EARLY_SUMS) and not limits.interpret and early_launch(device)
    if design == "two_pass":
        return _two_pass_plan(n_rows, n_cols, limits, sm_count, early_sums)
    if design.startswith("walker"):
        smem = 64 * 1024 if interp else _shared_memory(device.index or 0)
        halves = design == "walker_halves"
        return _walker_plan(
            n_rows, n_cols, limits, sm_count, smem, halves, element_size, has_weight, early_sums
        )
    return _one_pass_plan(n_rows, n_cols, limits, sm_count, element_size, early_sums)


def _one_pass_plan(
    n_rows: int, n_cols: int, limits: BackwardLimits, sm_count: int, element_size: int,
    early_sums: bool,
) -> OnePassPlan:  # fmt: skip
    """Short rows packed ROWS to a tile of about BWD_TILE_TARGET elements, as in the
    forward; the rows cut into chunks so that the grid fills the GPU once, BWD_WARPS_PER_SM
    warps' worth of programs per SM."""
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
    rows_per_chunk, n_chunks = _chunks(n_rows, rows, programs_per_sm * sm_count // n_parts)
    return OnePassPlan(
        grid=(n_chunks, n_parts),
        n_chunks=n_chunks,
        sum_chunks_block=limits.sum_chunks_block,
        early_sums=early_sums,
        rows_per_chunk=rows_per_chunk,
        rows=rows,
        block_n=block_n,
        stream_n=min(limits.stream, block_n),
        split=n_parts > 1,
        prefetch=bool(BWD_PREFETCH) and rows * block_n <= BWD_PREFETCH_MAX_TILE,
        num_warps=warps,
    )


def _walker_plan(
    n_rows: int, n_cols: int, limits: BackwardLimits, sm_count: int, smem: int,
    halves: bool, element_size: int, has_weight: bool, early_sums: bool,
) -> WalkerPlan:  # fmt: skip
    """BWD_WALKERS_PER_SM walker programs per SM (a pair of them per row in halves), as
    many rows in flight as their share of shared memory holds."""
    block_n = block_for(cdiv(n_cols, 2) if halves else n_cols, limits.walker_block)
    per_sm = 1 if limits.interpret else BWD_WALKERS_PER_SM
    n_walkers = min(n_rows, max(sm_count * per_sm // (1 + halves), 1))
    # Shared memory per stage: x, dy (and w) for the columns a program loads; the stage
    # being computed is in registers, and 2 KiB stay free for the reductions.
    stage_bytes = (2 + has_weight) * (1 + halves) * block_n * element_size
    stages = min(BWD_WALKER_MAX_STAGES, 1 + (smem // per_sm - 2048) // stage_bytes)
    return WalkerPlan(
        grid=((1 + halves) * n_walkers,),
        n_chunks=n_walkers,
        sum_chunks_block=limits.sum_chunks_block,
        early_sums=early_sums,
        halves=halves,
        block_n=block_n,
        stages=max(stages, 1),
        num_warps=BWD_WALKER_WARPS,
    )


def _two_pass_plan(
    n_rows: int, n_cols: int, limits: BackwardLimits, sm_count: int, early_sums: bool
) -> TwoPassPlan:
    """Pass one a program per row; pass two BWD_TILED_PROGRAMS_PER_SM programs per SM."""
    sums_block, sums_warps = limits.row_sums_block
    rows, block_n, warps = limits.tiled_block
    block_n = block_for(n_cols, block_n)
    rows = block_for(n_rows, rows)
    n_blocks = cdiv(n_cols, block_n)
    programs = BWD_TILED_PROGRAMS_PER_SM * sm_count // n_blocks
    rows_per_chunk, n_chunks = _chunks(n_rows, rows, programs)
    return TwoPassPlan(
        grid=(n_blocks, n_chunks),
        n_chunks=n_chunks,
        sum_chunks_block=limits.sum_chunks_block,
        early_sums=early_sums,
        sums_grid=(n_rows,),
        sums_block_n=block_for(n_cols, sums_block),
        sums_warps=sums_warps,
        rows_per_chunk=rows_per_chunk,
        rows=rows,
        block_n=block_n,
        prefetch=bool(BWD_PREFETCH),
        num_warps=warps,
    )


# ------------------------------------------------------------------ shared jit helpers
@triton.jit
def _add_pairs(gx_a, g_a, gx_b, g_b):
    """`row_sums`' combine: both running sums at once."""
    return gx_a + gx_b, g_a + g_b


@triton.jit
def row_sums(lane_gx, lane_g, axis: tl.constexpr, keep_dims: tl.constexpr = False):
    """sum(lane_gx) and sum(lane_g) along `axis` as one reduction: across a program's warps
    a tree passes through shared memory behind a barrier, so two sums taken together wait
    once, not twice (offline, sm_90, Triton 3.6: the walker's loop at N = 16384 went from
    12 barriers a row to 3)."""
    return tl.reduce((lane_gx, lane_g), axis, _add_pairs, keep_dims=keep_dims)


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
def other_parts_row_sums(
    x_ptr, dy_ptr, w_ptr, rows, row_mask, part_start, n_cols, mean, rstd, sum_gx, sum_g,
    stride_xrow, stride_dyrow,
    HAS_WEIGHT: tl.constexpr, BLOCK_N: tl.constexpr, STREAM_N: tl.constexpr,
):  # fmt: skip
    """sum_gx and sum_g, a program's share of a split row's two sums, plus the other
    parts' shares: their columns streamed STREAM_N at a time (mostly from L2, where the
    programs owning them are reading them). Step k reads columns [k, k + STREAM_N),
    skipping this program's own BLOCK_N columns from part_start."""
    for k in range(0, tl.cdiv(n_cols, BLOCK_N) * BLOCK_N - BLOCK_N, STREAM_N):
        far = tl.where(k < part_start, k, k + BLOCK_N) + tl.arange(0, STREAM_N)[None, :]
        far_col_mask = far < n_cols  # the last part may hang past the row's end
        g_far, xhat_far = _g_and_xhat(
            x_ptr, dy_ptr, w_ptr, rows * stride_xrow + far, rows * stride_dyrow + far,
            far, row_mask & far_col_mask, far_col_mask, mean, rstd, HAS_WEIGHT,
        )  # fmt: skip
        far_gx, far_g = row_sums(g_far * xhat_far, g_far, 1, True)
        sum_gx += far_gx
        sum_g += far_g
    return sum_gx, sum_g


@triton.jit
def saved_mean(mean_ptr, rows, row_mask):
    """The forward's mean of `rows` (other=0 where not `row_mask`, unless None); 0 when
    there is no mean_ptr: RMSNorm's backward (`kernels/rms_norm.py`) passes None."""
    if mean_ptr is None:
        return 0.0
    elif row_mask is None:
        return tl.load(mean_ptr + rows)
    else:
        return tl.load(mean_ptr + rows, mask=row_mask, other=0.0)


@triton.jit
def mean_of_g(sum_g, n_cols, mean_ptr):
    """mean(g), dx's second term; 0 for RMSNorm (no mean_ptr), which subtracts no mean."""
    if mean_ptr is None:
        return 0.0
    else:
        return sum_g / n_cols


# ---------------------------------------------------------------------------- walkers
@triton.jit
def _layer_norm_bwd_walker_kernel(
    dy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr, dx_ptr, dw_part_ptr, db_part_ptr,
    n_rows, n_cols, stride_dyrow, stride_xrow, stride_dxrow, stride_partrow,
    HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr,
    HALVES: tl.constexpr,  # two programs share each row, one per half (else one owns it)
    BLOCK_N: tl.constexpr,  # columns a program owns (the row, or a half), a power of two
    STAGES: tl.constexpr,  # rows whose loads are in flight at once (software pipelining)
):  # fmt: skip
    """dx, and per-walker dweight/dbias sums, for rows of a few thousand columns or more.

    A persistent program (one per SM) walks rows walker, walker + n_walkers, ... a whole
    row at a time: the two row sums are one reduction over registers (`row_sums`, the
    partner's half added lane by lane first), and dweight/dbias accumulate per lane. The
    compiler's pipeliner (num_stages) prefetches the next rows' x, dy, mean and rstd into
    shared memory (benchmarks/layer_norm_tuning.md#bwd_walker_max_stages).

    Arguments as `_layer_norm_bwd_kernel`'s (kernels/layer_norm.py), but the buffers have
    a row per walker, and n_cols <= BLOCK_N (2 * BLOCK_N with HALVES)."""
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
    # num_stages: Triton's pipeliner copies the next STAGES - 1 rows' x, dy, mean and
    # rstd into shared memory ahead of them (async copies).
    for i in tl.range(0, tl.cdiv(n_rows - walker, n_walkers), num_stages=STAGES):
        row = first_row + i * n_walkers
        mean = saved_mean(mean_ptr, row, None)
        rstd = tl.load(rstd_ptr + row)
        # other=0 on every load: padded lanes get dy = 0, adding nothing to any sum.
        x = tl.load(x_ptr + row * stride_xrow + own, mask=own_mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + row * stride_dyrow + own, mask=own_mask, other=0.0).to(tl.float32)
        xhat = (x - mean) * rstd
        g = dy
        if HAS_WEIGHT:
            g = dy * tl.load(w_ptr + own, mask=own_mask, other=0.0).to(tl.float32)
        lane_gx = g * xhat
        lane_g = g
        if HALVES:
            # The partner's half, read only for its share of the two row sums. Both
            # programs read the whole row at about the same time: the second read of
            # each half comes from the L2 cache, not from memory.
            g_far, xhat_far = _g_and_xhat(
                x_ptr, dy_ptr, w_ptr, row * stride_xrow + other, row * stride_dyrow + other,
                other, other_mask, other_mask, mean, rstd, HAS_WEIGHT,
            )  # fmt: skip
            lane_gx += g_far * xhat_far
            lane_g += g_far
        sum_gx, sum_g = row_sums(lane_gx, lane_g, 0)
        dx = norm_dx(g, xhat, sum_gx / n_cols, mean_of_g(sum_g, n_cols, mean_ptr), rstd)
        tl.store(dx_ptr + row * stride_dxrow + own, dx.to(dx_ptr.dtype.element_ty), mask=own_mask)
        # Stage one of dweight and dbias, per lane: nothing crosses threads in the loop.
        if HAS_WEIGHT:
            dw_acc += dy * xhat
        if HAS_BIAS:
            db_acc += dy

    store_partial_sums(
        dw_part_ptr, db_part_ptr, walker, stride_partrow, own, n_cols, dw_acc, db_acc,
        HAS_WEIGHT, HAS_BIAS, False,
    )  # fmt: skip


# ------------------------------------------------------------------------- two passes
@triton.jit
def _layer_norm_bwd_row_sums_kernel(
    dy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr,
    coef_ptr,  # output, float32, shape (n_rows, 2): mean(g * xhat), mean(g) of each row
    n_cols, stride_dyrow, stride_xrow,
    HAS_WEIGHT: tl.constexpr,  # g = dy * w (else g = dy)
    BLOCK_N: tl.constexpr,  # columns per iteration, a power of two
):  # fmt: skip
    """Pass one of the two-pass backward: the two numbers per row that dx needs, mean(g *
    xhat) and mean(g), one program per row looping over it. Each lane sums its columns j,
    j + BLOCK_N, ...; one tree for both sums at the end (`row_sums`). Other arguments as
    `_layer_norm_bwd_kernel`'s (kernels/layer_norm.py)."""
    row = tl.program_id(0).to(tl.int64)  # 64-bit: row * stride may pass 2**31
    mean = saved_mean(mean_ptr, row, None)
    rstd = tl.load(rstd_ptr + row)
    cols = tl.arange(0, BLOCK_N)
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
    sum_gx, sum_g = row_sums(lane_gx, lane_g, 0)
    tl.store(coef_ptr + 2 * row, sum_gx / n_cols)
    tl.store(coef_ptr + 2 * row + 1, mean_of_g(sum_g, n_cols, mean_ptr))


@triton.jit
def _layer_norm_bwd_tiled_kernel(
    dy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr,
    coef_ptr,  # float32, shape (n_rows, 2): mean(g * xhat), mean(g), from pass one
    dx_ptr, dw_part_ptr, db_part_ptr, n_rows, n_cols, rows_per_chunk,
    stride_dyrow, stride_xrow, stride_dxrow, stride_partrow,
    HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, PREFETCH: tl.constexpr,
    ROWS: tl.constexpr,  # rows per iteration, a power of two
    BLOCK_N: tl.constexpr,  # columns per program, a power of two
):  # fmt: skip
    """Pass two of the two-pass backward: dx, and per-chunk dweight/dbias sums.

    Program (j, c) walks the rows of chunk c over columns [j * BLOCK_N, (j + 1) * BLOCK_N).
    The row sums are known (coef), so no program needs another's columns, and nothing in
    the loop crosses threads: dweight and dbias accumulate per lane, (ROWS, BLOCK_N), and
    are summed over rows once. Column blocks are on grid axis 0: a row of 2**24 columns has
    65536 blocks, past the 65535 that CUDA allows on axes 1 and 2. Other arguments as
    `_layer_norm_bwd_kernel`'s (kernels/layer_norm.py)."""
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
        x_next, dy_next = load_x_dy(
            x_ptr, dy_ptr, first, cols, stride_xrow, stride_dyrow, (first < n_rows) & col_mask
        )
    for offset in range(0, rows_per_chunk, ROWS):
        rows = chunk_start + offset + tile_rows  # (ROWS, 1)
        row_mask = rows < n_rows  # the last chunk may hang past the last row
        mask = row_mask & col_mask
        if PREFETCH:
            x, dy = x_next, dy_next
            nxt = rows + ROWS  # all false on the last iteration: nothing past the chunk
            x_next, dy_next = load_x_dy(
                x_ptr, dy_ptr, nxt, cols, stride_xrow, stride_dyrow, (nxt < chunk_end) & col_mask
            )
        else:
            x, dy = load_x_dy(x_ptr, dy_ptr, rows, cols, stride_xrow, stride_dyrow, mask)
        x = x.to(tl.float32)
        dy = dy.to(tl.float32)
        # other=0 for padded rows: xhat = 0 and dy = 0 there; they store nothing.
        mean = saved_mean(mean_ptr, rows, row_mask)
        rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
        c_gx = tl.load(coef_ptr + 2 * rows, mask=row_mask, other=0.0)
        c_g = tl.load(coef_ptr + 2 * rows + 1, mask=row_mask, other=0.0)
        xhat = (x - mean) * rstd
        if HAS_WEIGHT:
            dw_acc += dy * xhat
        if HAS_BIAS:
            db_acc += dy
        dx = norm_dx(dy * w, xhat, c_gx, c_g, rstd)
        tl.store(dx_ptr + rows * stride_dxrow + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)

    store_partial_sums(
        dw_part_ptr, db_part_ptr, chunk, stride_partrow,
        tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N), n_cols, dw_acc, db_acc,
        HAS_WEIGHT, HAS_BIAS, True,
    )  # fmt: skip


# ---------------------------------------------------------------------------- launches
class BackwardArgs(NamedTuple):
    """The arguments every backward kernel takes first, in its order (the two-pass tiles
    take coef after rstd)."""

    dy: torch.Tensor
    x: torch.Tensor
    w: torch.Tensor  # x stands in when there is no weight (never read)
    mean: torch.Tensor
    rstd: torch.Tensor
    dx: torch.Tensor
    dw_part: torch.Tensor
    db_part: torch.Tensor
    n_rows: int
    n_cols: int


def launch_tuned(
    plan: WalkerPlan | TwoPassPlan,
    grid: tuple[int, ...],
    args: BackwardArgs,
    strides: tuple[int, int, int, int],
    has_weight: bool,
    has_bias: bool,
) -> None:
    """Run a walker or two-pass plan; `strides` are the row strides of dy, x, dx and the
    buffer of partial sums."""
    flags = dict(HAS_WEIGHT=has_weight, HAS_BIAS=has_bias)
    if isinstance(plan, WalkerPlan):
        fast(_layer_norm_bwd_walker_kernel)[grid](
            *args, *strides, **flags,
            HALVES=plan.halves, BLOCK_N=plan.block_n, STAGES=plan.stages,
            num_warps=plan.num_warps,
        )  # fmt: skip
        return
    # Written whole by pass one before pass two reads it: a replay makes its own.
    coef = note_temporary(torch.empty((args.n_rows, 2), dtype=torch.float32, device=args.x.device))
    fast(_layer_norm_bwd_row_sums_kernel)[plan.sums_grid](
        args.dy, args.x, args.w, args.mean, args.rstd, coef, args.n_cols, *strides[:2],
        HAS_WEIGHT=has_weight, BLOCK_N=plan.sums_block_n, num_warps=plan.sums_warps,
    )  # fmt: skip
    fast(_layer_norm_bwd_tiled_kernel)[grid](
        *args[:5], coef, *args[5:], plan.rows_per_chunk, *strides, **flags,
        PREFETCH=plan.prefetch, ROWS=plan.rows, BLOCK_N=plan.block_n, num_warps=plan.num_warps,
    )  # fmt: skip
