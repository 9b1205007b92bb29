"""Shared pieces of the row-wise kernels (add_row_sum, softmax, layer_norm), and of a
normalization's backward (dx, and the two-stage dweight/dbias reduction).

A row-wise op works on the last dimension; every leading dimension is just "more rows".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_wait

from harness.parity import in_interpreter
from kernels import _plans
from kernels._launch import (
    cdiv,
    checked_grid,
    fast,
    multiprocessors,
    next_power_of_2,
    note_replay,
    note_temporary,
)


def as_rows(x: torch.Tensor) -> torch.Tensor:
    """A 2-D (n_rows, n_cols) view of `x` over its last dim, with unit column stride.

    Copies only when it must: when the last dim is not unit-stride, or the leading dims
    cannot be merged into one row stride. The row stride is passed to the kernel, so a
    row-sliced or padded tensor is read in place.
    """
    if x.dim() == 2 and x.stride(1) == 1:  # already rows: the common case, kept cheap
        return x
    n_cols = x.shape[-1] if x.dim() else 1
    if x.dim() == 0:
        x = x.reshape(1, 1)
    if x.dim() > 0 and x.stride(-1) != 1 and x.numel() > 0 and n_cols > 1:
        x = x.contiguous()
    try:
        return x.view(-1, n_cols) if n_cols > 0 else x.reshape(math.prod(x.shape[:-1]), 0)
    except RuntimeError:  # leading dims not mergeable into one stride
        return x.contiguous().view(-1, n_cols)


def block_for(n_cols: int, max_block: int) -> int:
    """The smallest power of two >= n_cols, capped at max_block (and at least 1)."""
    return min(next_power_of_2(max(n_cols, 1)), max_block)


# ----------------------------------------------------------------------------------------
# Launch plans for kernels that keep a row in registers, or loop over it when it is long.
#
# On the GPU, a row of up to WHOLE_ROW_MAX elements is held in registers by one program
# (one read of memory, one write). Short rows are packed several to a program so that each
# program still moves a few thousand elements; longer float32 rows, for an op with a split
# kernel, are held by several programs, a slice each (SPLIT_SLICE); longer rows still are
# looped over in blocks of LOOP_BLOCK. num_warps grows with the tile so that each thread holds about
# ELEMENTS_PER_THREAD values: enough independent loads in flight to cover memory latency,
# few enough registers that several programs share a streaming multiprocessor.
#
# In Triton's interpreter a big block is cheap, but every program and every loop iteration
# costs around a millisecond; the limits there are small so that the cases a test draws
# (16384 elements at most) reach the looped kernel too, over several iterations.
# ----------------------------------------------------------------------------------------

WHOLE_ROW_MAX = 32768
"""Longest row (elements) kept in registers on the GPU: 32 warps hold 32 float32 values a
thread; at 65536 (256 KiB of float32 a row) the registers run out. Measured:
benchmarks/rows_and_launch_tuning.md#whole_row_max."""
TILE_TARGET = 4096
"""Elements per program a packed tile of short rows aims for."""
LOOP_BLOCK = 8192
"""Columns per iteration of a looped (long-row) kernel on the GPU. Measured:
benchmarks/rows_and_launch_tuning.md#loop_block."""
ELEMENTS_PER_THREAD = 16
MAX_WARPS = 32
PASS_TWO_FROM_THE_END = True
"""Whether a looped kernel's second pass walks its row from the last block back to the
first. Pass 1 reads the row front to back, so what is still in L2 when pass 2 starts is
the row's end: at 1024 x 65536 the rows in flight (one program per row) outgrow the
H200's 60 MB of L2 and pass 2 reads from memory, 3 passes of traffic against a copy's 2,
a ceiling of 2/3 of a copy's speed. Walked from the end, pass 2 first reads what pass 1
read last. Measured: benchmarks/rows_and_launch_tuning.md#pass_two_from_the_end."""

SPLIT_SLICE = 16384
"""Columns each program of a split row holds (design "split", for ops that have a split
kernel): a row longer than WHOLE_ROW_MAX is cut in slices of this, one program each,
where a looped program would read it twice. At this width a whole row runs near a copy's
speed (benchmarks/rows_and_launch_tuning.md#split_slice)."""
SPLIT_MIN_ELEMENT_BYTES = 4
"""Unforced, rows are split only where an element is at least this wide: split float32
rows beat the looped kernel, split 16-bit rows did not. Measured:
benchmarks/rows_and_launch_tuning.md#split_min_element_bytes."""
MAX_SLICES = 16
"""Most programs a split row takes (longer rows are looped): every program of a row must
be running at once (`row_slice`), so a row's programs must fit the GPU many times over."""
SPLIT_MIN_SLICE = 128
"""Fewest columns in a forced split's slice: a slice's sum has at least 4 warps' 128
lanes, and so a split row's sum is no deeper than a whole row's (ops._rowwise.ROW_LANES)."""

WALKER_MAX_ROW_BYTES = 131072
"""Longest row (bytes) walked (design "walker", for the ops that launch through
`launch_rowwise`): WALKERS_PER_SM programs an SM, each holding a whole row in registers
and taking every n_programs-th row, while Triton's pipeliner loads its next
WALKER_STAGES - 1 rows into shared memory. Unforced, only an op that asks (`walks`)
walks, and only the rows it would otherwise loop over: longer than WHOLE_ROW_MAX and not
split, i.e. 16-bit rows of 32769 to 65536 columns. One program per looped row reads it
twice and has no load in flight while it reduces
(benchmarks/rows_and_launch_tuning.md#walkers)."""
WALKER_MAX_WARPS = 16
"""A walker's warps at most: at 65536 16-bit columns, 128 float32 values a thread (and 128
registers: add_row_sum spills a few bytes, faster all the same than on 32 warps)."""
WALKERS_PER_SM = 1
WALKER_STAGES = 2

INTERPRET_WHOLE_ROW_MAX = 1024
INTERPRET_TILE_TARGET = 1024
INTERPRET_LOOP_BLOCK = 256
INTERPRET_SPLIT_SLICE = 256
INTERPRET_WALKER_MAX_ROW_BYTES = 4096
INTERPRET_WALKERS = 3
"""Walkers in all (the interpreter has no SMs): each takes several rows."""

_plans.tunable(__name__)  # tuning scripts set the constants above


@dataclass(frozen=True)
class RowLimits:
    """The block-size constants a row plan is made from, one set per mode."""

    whole_row_max: int
    tile_target: int
    loop_block: int
    split_slice: int
    walker_max_row_bytes: int


def row_limits(constants: str) -> RowLimits:
    """The "gpu" or "interpret" constants above (read at each call: tuning scripts set them)."""
    if constants == "gpu":
        return RowLimits(WHOLE_ROW_MAX, TILE_TARGET, LOOP_BLOCK, SPLIT_SLICE,
                         WALKER_MAX_ROW_BYTES)  # fmt: skip
    return RowLimits(INTERPRET_WHOLE_ROW_MAX, INTERPRET_TILE_TARGET, INTERPRET_LOOP_BLOCK,
                     INTERPRET_SPLIT_SLICE, INTERPRET_WALKER_MAX_ROW_BYTES)  # fmt: skip


ROW_DESIGNS = ("whole", "looped")
"""A row held in registers by one program (several short rows packed to a tile), or
looped over in blocks by one program per row."""
SPLIT_ROW_DESIGNS = (*ROW_DESIGNS, "walker", "split")
"""And, for the ops of `launch_rowwise`: whole rows walked by a few persistent programs
(WALKER_MAX_ROW_BYTES), and a row held in registers by several programs, a slice each,
which exchange their partial results (`row_slice`, `exchange_partials`)."""


@dataclass(frozen=True)
class RowPlan:
    """How a launcher covers an (n_rows, n_cols) tensor.

    whole_row: each row fits one block, and a tile of `rows_per_program` rows is a
    program's, or (`walk`) each of the grid's programs takes every grid-th tile, `stages`
    - 1 of them loading ahead; slices > 0 (split): each row is cut
    in `slices` slices of `block_cols` columns, a program each; otherwise one program per
    row loops over it in blocks of `block_cols`, `loads` of them an iteration of its
    first pass.
    """

    whole_row: bool
    block_cols: int
    rows_per_program: int
    num_warps: int
    grid: tuple[int]
    slices: int = 0
    walk: bool = False
    stages: int = 1
    loads: int = 1

    @property
    def design(self) -> str:
        if self.whole_row:
            return "walker" if self.walk else "whole"
        return "split" if self.slices else "looped"


def warps_for(tile_elements: int, elements_per_thread: int | None = None) -> int:
    """num_warps giving each thread about `elements_per_thread` values (by default
    ELEMENTS_PER_THREAD: 4 warps up to a tile of 2048, 8 at 4096, 16 at 8192, 32 from
    16384), within [4, MAX_WARPS]."""
    warps = tile_elements // (32 * (elements_per_thread or ELEMENTS_PER_THREAD))
    return min(max(next_power_of_2(max(warps, 1)), 4), MAX_WARPS)


def plan_rows(
    n_rows: int,
    n_cols: int,
    elements_per_thread: int | None = None,
    family: str = "rows",
    splits: bool = False,
    element_bytes: int = 4,
    multiprocessors: int = 1,
    walks: bool = False,
    loop_loads: int = 1,
    whole_row_max: int | None = None,
    loop_block: int | None = None,
) -> RowPlan:
    """The launch plan for a row-wise kernel over n_rows rows of n_cols (both > 0);
    `elements_per_thread` overrides ELEMENTS_PER_THREAD for a kernel measured to prefer
    fewer, fuller threads; `whole_row_max` and `loop_block` cap the mode's limits for a
    kernel measured to prefer shorter whole rows or blocks. The config launched is named
    `family/design/constants` (see kernels._plans). Whole rows up to the mode's
    whole_row_max; past it, with `splits` (the op has walking whole-row kernels and a
    split kernel, as `launch_rowwise` takes them) and elements (of `element_bytes`) of at
    least SPLIT_MIN_ELEMENT_BYTES, split in up to MAX_SLICES slices; else, where the op
    `walks` and the row is at most the mode's walker_max_row_bytes, walked by
    `multiprocessors` x WALKERS_PER_SM programs; else looped, `loop_loads` blocks an
    iteration of the first pass, each thread's ELEMENTS_PER_THREAD values an iteration
    split among them (the op's choice: a looped kernel that takes LOADS = 2).

    A plan is worked out once per shape, and remembered (`_PLANS`, until tuning scripts
    set a constant: `_plans.tunings()`): a training loop calls with the same shapes."""
    design, constants = _plans.forced(family)
    key = (n_rows, n_cols, elements_per_thread, design, constants, splits, element_bytes,
           multiprocessors, walks, loop_loads, whole_row_max, loop_block,
           _plans.tunings())  # fmt: skip
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        limits = row_limits(constants)
        limits = replace(
            limits,
            whole_row_max=min(limits.whole_row_max, whole_row_max or limits.whole_row_max),
            loop_block=min(limits.loop_block, loop_block or limits.loop_block),
        )
        plan = _PLANS[key] = _plan(
            n_rows, n_cols, elements_per_thread, design, constants, splits, element_bytes,
            multiprocessors, walks, loop_loads, limits,
        )  # fmt: skip
    design = plan.design
    _plans.launched(family, design, constants)
    note_replay(_plans.always, lambda: _plans.launched(family, design, constants))
    return plan


def replay_context() -> tuple:
    """`kernels._launch.replayed`'s context for a row-wise op (replayed at its public
    function, so that a replay skips its checks too): the forcing, and how many times
    launch constants were set (`_plans.tunings`: this module's and the ops')."""
    return _plans.forced_name(), _plans.tunings()


_PLANS: dict[tuple, RowPlan] = {}
_MAX_PLANS = 4096


def _plan(
    n_rows: int,
    n_cols: int,
    elements_per_thread: int | None,
    design: str | None,
    constants: str,
    splits: bool,
    element_bytes: int,
    multiprocessors: int,
    walks: bool,
    loop_loads: int,
    limits: RowLimits,
) -> RowPlan:
    slice_cols = limits.split_slice
    if splits and design == "split":  # forced: at least two slices where the row allows
        slice_cols = min(slice_cols, next_power_of_2(cdiv(n_cols, 2)))
        slice_cols = max(slice_cols, SPLIT_MIN_SLICE, next_power_of_2(cdiv(n_cols, MAX_SLICES)))
    slices = cdiv(n_cols, slice_cols)
    long_row = n_cols > limits.whole_row_max
    unforced_split = (
        design is None
        and element_bytes >= SPLIT_MIN_ELEMENT_BYTES
        and long_row
        and 2 <= slices <= MAX_SLICES
    )
    if splits and (design == "split" or unforced_split):
        warps = warps_for(slice_cols, elements_per_thread)
        return RowPlan(False, slice_cols, 1, warps, (n_rows * slices,), slices)
    walked = design == "walker" or (design is None and walks and long_row)
    if splits and walked and n_cols * element_bytes <= limits.walker_max_row_bytes:
        walkers = (
            INTERPRET_WALKERS if constants == "interpret" else multiprocessors * WALKERS_PER_SM
        )
        return _whole_rows(n_rows, n_cols, elements_per_thread,
                           limits.walker_max_row_bytes // element_bytes, limits.tile_target,
                           walkers)  # fmt: skip
    if design not in ("looped", "split", "walker") and not long_row:
        return _whole_rows(n_rows, n_cols, elements_per_thread, limits.whole_row_max,
                           limits.tile_target)  # fmt: skip
    loop_block = limits.loop_block
    per_load = (elements_per_thread or ELEMENTS_PER_THREAD) // loop_loads
    return RowPlan(False, loop_block, 1, warps_for(loop_block, per_load), (n_rows,),
                   loads=loop_loads)  # fmt: skip


def _whole_rows(
    n_rows: int, n_cols: int, elements_per_thread: int | None, max_block: int,
    tile_target: int, walkers: int = 0,
) -> RowPlan:  # fmt: skip
    """Tiles of whole rows, a program each, or `walkers` programs walking them."""
    block_cols = block_for(n_cols, max_block)
    # Pack short rows, but never more rows to a tile than there are rows.
    rows = block_for(n_rows, max(tile_target // block_cols, 1))
    tiles = cdiv(n_rows, rows)
    warps = warps_for(rows * block_cols, elements_per_thread)
    if walkers:
        return RowPlan(True, block_cols, rows, min(warps, WALKER_MAX_WARPS),
                       (min(tiles, walkers),), walk=True, stages=WALKER_STAGES)  # fmt: skip
    return RowPlan(True, block_cols, rows, warps, (tiles,))


def launch_rowwise(
    x: torch.Tensor, whole_row_kernel, looped_kernel, split_kernel=None, walks: bool = False,
    loop_loads: int = 1, **constants: object,
) -> torch.Tensor:  # fmt: skip
    """Run a row-wise op over the last dim of `x`: a fresh contiguous output of its shape.

    `whole_row_kernel(x, out, n_rows, n_cols, stride_xrow, stride_outrow, ROWS, BLOCK_COLS,
    WALK, STAGES)` runs on a grid of row tiles, or walks them (`RowPlan.walk`);
    `looped_kernel(x, out, n_cols, stride_xrow, stride_outrow, BLOCK_COLS, FROM_THE_END,
    LOADS)` runs one program per row (its second pass placed by `pass_two_start`, its
    first `loop_loads` blocks an iteration, as the op asks); `split_kernel`,
    if the op has one, as `launch_split` says. Each takes the op's own `constants` too
    (constexprs). `walks`: rows the looped kernel would take are walked where they fit
    (`plan_rows`). Empty tensors launch nothing.
    """
    x_rows = as_rows(x)
    n_rows, n_cols = x_rows.shape
    # In x's shape, contiguous: its rows are n_cols apart (and no view to make afterwards).
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    if out.numel() == 0:
        return out
    plan = plan_rows(
        n_rows, n_cols, splits=split_kernel is not None, element_bytes=x.element_size(),
        multiprocessors=multiprocessors(x.device), walks=walks, loop_loads=loop_loads,
    )  # fmt: skip
    checked_grid(plan.grid, f"x of shape {tuple(x.shape)}")
    if plan.whole_row:
        fast(whole_row_kernel)[plan.grid](
            x_rows, out, n_rows, n_cols, x_rows.stride(0), n_cols,
            ROWS=plan.rows_per_program, BLOCK_COLS=plan.block_cols, WALK=plan.walk,
            STAGES=plan.stages, num_warps=plan.num_warps, **constants,
        )  # fmt: skip
    elif plan.slices:
        launch_split(split_kernel, plan, x_rows, out, constants)
    else:
        fast(looped_kernel)[plan.grid](
            x_rows, out, n_cols, x_rows.stride(0), n_cols, BLOCK_COLS=plan.block_cols,
            FROM_THE_END=PASS_TWO_FROM_THE_END, LOADS=plan.loads, num_warps=plan.num_warps,
            **constants,
        )  # fmt: skip
    return out


def launch_split(
    split_kernel, plan: RowPlan, x_rows: torch.Tensor, out: torch.Tensor, constants: dict
) -> None:
    """`split_kernel(x, out, partials, counters, n_rows, n_cols, n_slices, stride_xrow,
    stride_outrow, SLICES, BLOCK_COLS, EXCHANGE)` over a program per slice of each row.
    `partials` (float32, (n_rows, SLICES, 2)) holds each slice's two partial results;
    `counters` (int32, n_rows + 1, zeroed) the programs of each row that published
    theirs, then the next ticket (`row_slice`). On the GPU one launch publishes, waits for
    the row's other programs and writes ("wait"). Triton's interpreter runs programs one
    after another, so a program there would wait forever for the next: it launches
    twice, every program publishing, then every program reading and writing."""
    n_rows, n_cols = x_rows.shape
    slices = next_power_of_2(plan.slices)
    # Both are temporaries (`note_temporary`), so that a call of a shape split before is
    # replayed: each slot of `partials` is published before a sibling reads it, and
    # `counters` is zeroed by a launch of ours (torch.zeros would not be replayed).
    partials = note_temporary(
        torch.empty((n_rows, slices, 2), dtype=torch.float32, device=out.device)
    )
    counters = zeroed_counters(n_rows + 1, out.device)
    for exchange in ("publish", "read") if in_interpreter() else ("wait",):
        fast(split_kernel)[plan.grid](
            x_rows, out, partials, counters, n_rows, n_cols, plan.slices, x_rows.stride(0),
            n_cols, SLICES=slices, BLOCK_COLS=plan.block_cols, EXCHANGE=exchange,
            num_warps=plan.num_warps, **constants,
        )  # fmt: skip


_ZERO_BLOCK = 1024
"""Counters a program of `_zero_kernel` zeroes."""


def zeroed_counters(n: int, device: torch.device) -> torch.Tensor:
    """A new int32 tensor of `n` zeros, zeroed by a launch (so a replay makes its own)."""
    counters = note_temporary(torch.empty(n, dtype=torch.int32, device=device))
    fast(_zero_kernel)[(cdiv(n, _ZERO_BLOCK),)](counters, n, BLOCK=_ZERO_BLOCK)
    return counters


@triton.jit
def _zero_kernel(counters_ptr, n, BLOCK: tl.constexpr):
    """Zeroes n int32 counters, BLOCK a program."""
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(counters_ptr + offsets, 0, mask=offsets < n)  # the last block may hang past n


@triton.jit
def exp(x, FAST: tl.constexpr):
    """e^x of float32 x: one multiply by log2(e), then the SFU's ex2 with subnormal results
    flushed to 0 (`ex2.approx.ftz.f32`). tl.exp runs `ex2.approx.f32`, which keeps
    subnormal results: sm_90 SASS wraps each MUFU.EX2 in a compare and two multiplies. A
    row streamed at copy speed has only a few tens of instruction issues an element to
    spend, so those count; long 16-bit rows gain most
    (benchmarks/rows_and_launch_tuning.md#exp). A flushed result is below float32's
    smallest normal, within every error model's floor (harness/tolerance.py). FAST False:
    tl.exp, for Triton's interpreter, which runs no inline PTX (the launcher passes
    `not in_interpreter()`)."""
    if FAST:
        return tl.inline_asm_elementwise(
            "ex2.approx.ftz.f32 $0, $1;", "=f,f", [x * 1.4426950408889634],
            dtype=tl.float32, is_pure=True, pack=1,
        )  # fmt: skip
    else:
        return tl.exp(x)


LANE_MAX_START: tl.constexpr = tl.constexpr(-torch.finfo(torch.float32).max)
"""The running max of a lane that has seen nothing yet (`online_max_and_sum`): float32's
lowest finite value, so that exp(x - max) is never exp(-inf - -inf) = NaN for a lane
that reads -inf (padding, or a logit masked to -inf): it adds exp(-inf) = 0. (A max of
-inf would need a test and a select an element to shift by 0 there.)"""


@triton.jit
def online_max_and_sum(lane_max, lane_sum, x, x_next, FAST_EXP: tl.constexpr):
    """Each lane's running max m and sum s of exp(. - m) with a block x (and then x_next,
    unless None) folded in, with one exp an element: of the smaller of x and m less the
    larger. Where x raises the max, the sum is rescaled to it and x adds exp(0) = 1
    (s exp(m - x) + 1); else x adds exp(x - m). The SFU runs an exp at a quarter of the
    rate of an add: a 16-bit row streamed at copy speed has about two to spend an element,
    and rescaling the sum to a new max and adding exp(x - max) were two. A NaN x takes the
    second branch (x > m is false) and makes the sum NaN, as PyTorch's gives. Lanes start
    at m = LANE_MAX_START and s = 0."""
    lane_max, lane_sum = _fold_one(lane_max, lane_sum, x, FAST_EXP)
    if x_next is not None:
        lane_max, lane_sum = _fold_one(lane_max, lane_sum, x_next, FAST_EXP)
    return lane_max, lane_sum


@triton.jit
def _fold_one(lane_max, lane_sum, x, FAST_EXP: tl.constexpr):
    raises = x > lane_max
    smaller = tl.where(raises, lane_max, x)
    new_max = tl.maximum(lane_max, x)
    scale = exp(smaller - new_max, FAST_EXP)
    return new_max, tl.where(raises, lane_sum * scale + 1.0, lane_sum + scale)


@triton.jit
def lanes_to_row(lane_max, lane_sum, FAST_EXP: tl.constexpr):
    """A row's max and sum of exp(x - max) from its lanes' (`online_max_and_sum`), over the
    last axis: each lane's sum rescaled to the row max. A row that is all -inf has
    row_max = LANE_MAX_START and sum 0: its softmax is 0 / 0 = NaN, as PyTorch gives it."""
    row_max = tl.max(lane_max, axis=-1)
    row_sum = tl.sum(lane_sum * exp(lane_max - tl.expand_dims(row_max, -1), FAST_EXP), axis=-1)
    return row_max, row_sum


@triton.jit
def row_slice(ticket_ptr, n_cols, n_slices, BLOCK_COLS: tl.constexpr, EXCHANGE: tl.constexpr):
    """This program's slice of a split row: its row (int64), slice index, column indices
    and which of them exist. A program waits for its row's other programs
    (`exchange_partials`), so they must all run at once. Slices are handed out in the
    order programs start (a ticket from an atomic counter, not the program id, whose
    start order CUDA does not promise): a row's programs hold consecutive tickets, and
    every ticket below one taken belongs to a program already running. So only the row
    of the newest ticket can wait for a program not yet started; every other running
    row finishes and frees room, as long as one row's programs fit the GPU at once."""
    if EXCHANGE == "wait":
        ticket = tl.atomic_add(ticket_ptr, 1)
    else:  # programs run one after another: any order will do
        ticket = tl.program_id(0)
    row = ticket // n_slices
    part = ticket % n_slices
    cols = part * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
    return row.to(tl.int64), part, cols, cols < n_cols  # the last slice may hang past the end


@triton.jit
def exchange_partials(
    partial_ptr, arrived_ptr, row, part, n_slices, first, second, first_pad, second_pad,
    SLICES: tl.constexpr, EXCHANGE: tl.constexpr,
):  # fmt: skip
    """Publish this slice's two partial results (`first`, `second`) and return every
    slice's of the row, as two vectors of SLICES lanes (lanes past n_slices padded with
    `first_pad` and `second_pad`). "wait": publish, then wait until the row's n_slices
    programs have; "publish": only publish (and return this slice's results alone);
    "read": only read, every program having published in an earlier launch."""
    row_partials = partial_ptr + row * (2 * SLICES)
    if EXCHANGE != "read":
        tl.store(row_partials + 2 * part, first)
        tl.store(row_partials + 2 * part + 1, second)
    if EXCHANGE == "wait":
        tl.debug_barrier()  # every thread's stores come before the release below
        tl.atomic_add(arrived_ptr + row, 1, sem="release")
        # Spinning on plain volatile reads instead ran slower: 3feb3d4, rejected
        # (benchmarks/rows_and_launch_tuning.md#exchange_partials).
        while tl.atomic_add(arrived_ptr + row, 0, sem="acquire") < n_slices:
            pass
    parts = tl.arange(0, SLICES)
    if EXCHANGE == "publish":  # the others are not known yet: this slice's alone
        firsts = tl.where(parts == part, first, first_pad)
        seconds = tl.where(parts == part, second, second_pad)
    else:
        published = parts < n_slices  # SLICES is a power of two, n_slices need not be
        # volatile: from L2, never an L1 line read before a sibling published.
        firsts = tl.load(row_partials + 2 * parts, mask=published, other=first_pad,
                         volatile=True)  # fmt: skip
        seconds = tl.load(row_partials + 2 * parts + 1, mask=published, other=second_pad,
                          volatile=True)  # fmt: skip
    return firsts, seconds


@triton.jit
def store_slice(out_ptrs, y, col_mask, EXCHANGE: tl.constexpr):
    """A split row's slice stored in out's dtype, unless the launch only publishes: it has
    not seen the row's other slices yet."""
    if EXCHANGE != "publish":
        tl.store(out_ptrs, y.to(out_ptrs.dtype.element_ty), mask=col_mask)


@triton.jit
def row_tile(tile, n_rows, n_cols, ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr):
    """Tile number `tile` of ROWS rows by BLOCK_COLS columns: its row indices (int64,
    shape (ROWS, 1)), column indices (shape (1, BLOCK_COLS)) and which elements exist."""
    first_row = tl.cast(tile, tl.int64) * ROWS
    # 64-bit rows: row * stride passes 2**31 once a tensor holds over 2**31 elements.
    rows = first_row + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK_COLS)
    row_mask = rows < n_rows  # the last tile may hang past the last row
    col_mask = cols < n_cols  # the block is a power of two, the row need not be
    return rows[:, None], cols[None, :], row_mask[:, None] & col_mask[None, :]


@triton.jit
def pass_two_start(i, n_cols, BLOCK_COLS: tl.constexpr, FROM_THE_END: tl.constexpr):
    """Where the i-th block of a looped kernel's second pass starts: block i of the row, or
    block i counted from the row's end (see PASS_TWO_FROM_THE_END)."""
    if FROM_THE_END:
        i = tl.cdiv(n_cols, BLOCK_COLS) - 1 - i
    return i * BLOCK_COLS


@triton.jit
def row_pointers(x_ptr, stride_xrow, out_ptr, stride_outrow):
    """Where this program's row starts in x and in out, for one program per row."""
    # 64-bit row offset: row * stride passes 2**31 once a tensor holds over 2**31 elements.
    row = tl.program_id(0).to(tl.int64)
    return x_ptr + row * stride_xrow, out_ptr + row * stride_outrow


# ----------------------------------------------------------------------------------------
# Pieces of a normalization's backward: LayerNorm's designs share them, and RMSNorm
# (xhat = x * rstd, no mean: kernels/rms_norm.py) runs those designs.
#
# dweight and dbias are sums *across* rows. Atomics would make every program hit the same
# n_cols addresses, so they are made in two stages: each program sums its own rows into
# one float32 row of a (n_chunks, n_cols) buffer (`store_partial_sums`), and
# `sum_partials` then adds the chunks up.
# ----------------------------------------------------------------------------------------


@triton.jit
def load_x_dy(x_ptr, dy_ptr, rows, cols, stride_xrow, stride_dyrow, mask):
    """A (ROWS, BLOCK_N) tile of x and of dy, in their own dtype (upcast by the caller:
    a prefetched tile stays half the registers in 16 bits). other=0: padded lanes get
    dy = 0, so they add nothing to the row sums nor to the dweight/dbias sums."""
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=mask, other=0.0)
    dy = tl.load(dy_ptr + rows * stride_dyrow + cols, mask=mask, other=0.0)
    return x, dy


@triton.jit
def norm_dx(g, xhat, mean_gxhat, mean_g, rstd):
    """dx of y = xhat * weight (+ bias), with g = dy * weight and the row means of g * xhat
    and of g: the part of g that normalizing did not remove, scaled by rstd.
    An RMSNorm, which subtracts no mean, passes mean_g = 0."""
    return (g - (xhat * mean_gxhat + mean_g)) * rstd


@triton.jit
def store_partial_sums(
    dw_part_ptr, db_part_ptr, chunk, stride_partrow, cols, n_cols, dw_acc, db_acc,
    HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, PER_LANE_ROWS: tl.constexpr,
):  # fmt: skip
    """Stage one's end: this program's float32 sums of dy * xhat (dweight) and of dy
    (dbias) over its rows, stored as row `chunk` of the buffers, at columns `cols`. The
    accumulators are those sums, or with PER_LANE_ROWS per-lane (rows, columns) ones,
    summed over their rows here."""
    mask = cols < n_cols  # the last block may hang past the row's end
    offsets = chunk.to(tl.int64) * stride_partrow + cols  # 64-bit: chunks x n_cols may pass 2**31
    if HAS_WEIGHT:
        tl.store(dw_part_ptr + offsets, _column_sums(dw_acc, PER_LANE_ROWS), mask=mask)
    if HAS_BIAS:
        tl.store(db_part_ptr + offsets, _column_sums(db_acc, PER_LANE_ROWS), mask=mask)


@triton.jit
def _column_sums(acc, PER_LANE_ROWS: tl.constexpr):
    if PER_LANE_ROWS:
        acc = tl.sum(acc, axis=0)
    return acc


@triton.jit
def _sum_chunks_kernel(
    first_part_ptr,  # float32, shape (n_chunks, n_cols): per-chunk partial sums
    second_part_ptr,  # the same for the second sum (the first again if there is only one)
    first_out_ptr,  # output, shape (n_cols,), the parameters' dtype
    second_out_ptr,  # the same for the second sum (the first again if there is only one)
    n_chunks,  # number of chunks to add up
    n_cols,  # number of columns
    stride_partchunk,  # elements between the chunks of a part buffer (n_cols)
    BLOCK_CHUNKS: tl.constexpr,  # chunks per iteration, a power of two
    BLOCK_N: tl.constexpr,  # columns per program, a power of two
    EARLY: tl.constexpr,  # launched before stage one ended (`kernels._launch.early_launch`)
):
    """Stage two: program (i, s) adds up columns [i * BLOCK_N, (i + 1) * BLOCK_N) of sum s
    (0: the first, 1: the second) over all chunks, in float32, and stores them in the
    output's dtype: a sum and a cast in one launch for both sums. A (BLOCK_CHUNKS,
    BLOCK_N) accumulator keeps many loads in flight a step."""
    if EARLY:
        gdc_wait()  # until stage one has ended and its partial sums are visible
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < n_cols  # the last column block may hang past the end
    if tl.program_id(1) == 0:
        part_ptr, out_ptr = first_part_ptr, first_out_ptr
    else:
        part_ptr, out_ptr = second_part_ptr, second_out_ptr
    acc = tl.zeros([BLOCK_CHUNKS, BLOCK_N], tl.float32)
    for start in range(0, n_chunks, BLOCK_CHUNKS):
        chunks = start + tl.arange(0, BLOCK_CHUNKS)
        chunk_mask = chunks < n_chunks  # the last step may hang past the last chunk
        offsets = chunks[:, None].to(tl.int64) * stride_partchunk + cols[None, :]
        # other=0: padded lanes add nothing to the sum.
        acc += tl.load(part_ptr + offsets, mask=chunk_mask[:, None] & col_mask[None, :], other=0.0)
    total = tl.sum(acc, axis=0)
    tl.store(out_ptr + cols, total.to(out_ptr.dtype.element_ty), mask=col_mask)


def partial_sums_buffer(
    n_chunks: int, n_cols: int, has_weight: bool, has_bias: bool, stand_in: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
    """Stage one's buffers, float32 (n_chunks, n_cols) each, one per sum: dweight's partial
    sums (if any), then dbias's; and the two pointer arguments a kernel stores them
    through, with `stand_in` (never touched) for a missing one: an unused pointer still
    needs a tensor. Each buffer is an allocation of its own, written whole by stage one
    before stage two reads it: a replay (`kernels._launch.replayed`) makes its own."""
    shape, device = (n_chunks, n_cols), stand_in.device
    parts = tuple(
        note_temporary(torch.empty(shape, dtype=torch.float32, device=device))
        for _ in range(has_weight + has_bias)
    )
    dw_part = parts[0] if has_weight else stand_in
    db_part = parts[-1] if has_bias else stand_in
    return parts, dw_part, db_part


def sum_partials(
    parts: tuple[torch.Tensor, ...], dtype: torch.dtype, block: tuple[int, int, int],
    early: bool = False,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Stage two: each of `parts` (one or two float32 (n_chunks, n_cols) buffers of
    `partial_sums_buffer`) summed over its chunks into a new (n_cols,) tensor of `dtype`,
    in one launch. `block`: (chunks per step, columns per program, warps). `early`:
    launched before stage one ends (`kernels._launch.early_launch`)."""
    n_chunks, n_cols = parts[0].shape
    sums = tuple(torch.empty(n_cols, dtype=dtype, device=parts[0].device) for _ in parts)
    block_chunks, block_n, num_warps = block
    # One program per column block of each sum: columns are independent.
    grid = checked_grid((cdiv(n_cols, block_n), len(parts)), f"a row of {n_cols} columns")
    fast(_sum_chunks_kernel)[grid](
        parts[0], parts[-1], sums[0], sums[-1], n_chunks, n_cols, parts[0].stride(0),
        BLOCK_CHUNKS=block_chunks, BLOCK_N=block_n, EARLY=early, num_warps=num_warps,
        **({"launch_pdl": True} if early else {}),
    )  # fmt: skip
    return sums
