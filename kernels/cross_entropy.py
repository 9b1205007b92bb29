"""cross_entropy: the loss of logits x (N, C) against class indices target (N,), or
against class probabilities target (N, C) (a distillation's or mixup's soft labels), as
torch.nn.functional.cross_entropy: class weights, ignore_index, label_smoothing,
reductions "none", "sum" and "mean", and the gradient with respect to x. Logits
(N, C, d1, ..., dk) against target (N, d1, ..., dk), a segmentation's, are a row of C at
each position: the kernels read them with the classes last (`classes_last`), in place
where x is channels-last, gathered once where it is not.

Row r's loss is lse - x[r, t] (t its target, lse = log sum_j exp(x[r, j])); with label
smoothing eps, (1 - eps) of it plus eps of lse - mean_j x[r, j]. Class weights w scale
the first term by w_t and each class's share of the second by w_j (its mean becomes
sum_j w_j (lse - x_j) / C), and a "mean" divides by the rows' target weights.
Probabilities p replace the one-hot target: the first term is sum_j w_j p_j (lse - x_j),
a sum over the row as the smoothing's is (the one-hot term's p is 1 at t), and a "mean"
divides by the rows, all of them (PyTorch's rule; ignore_index has no meaning). Four GPU
ideas:

1. A row's loss needs only two numbers of the row: its max m and S = sum_j exp(x_j - m)
   (lse = m + log S). So the forward reads the logits once and writes three floats a
   row, where PyTorch's log_softmax then nll_loss write and read an (N, C) tensor of
   log-probabilities between them. A tile of short rows is reduced in registers; a long
   row (a language model's vocabulary: 32k to 256k classes) is streamed in blocks by one
   program with softmax's online max-and-sum (`_rows.online_max_and_sum`).
2. The target's logit is one gathered load a row (x[r, t]), not a one-hot mask
   multiplied over the row.
3. Once m and S are saved, the gradient needs no reduction at all:
   dx_j = dloss (exp(x_j - m) / S - (1 - eps) [j = t] - eps / C). The backward is a 2-D
   grid of independent (row tile, column block) programs, as an elementwise kernel is.
   (Probabilities that need not sum to 1 add a third number a row: sum_j w_j p_j.)
4. A load is a 16-byte vector only where the compiler can prove its address aligned and
   its mask constant over the vector. A vocabulary of 50257 classes gives neither: its
   16-bit rows start anywhere, and a mask against n_cols = 50257 changes at any column.
   So a long row's blocks are counted from the 16-byte boundary at or before the row,
   and only the blocks at its two ends are masked. With the one-exp online update of
   `_rows.online_max_and_sum`, the streamed loop went from 19.1 SASS instructions an
   element (2 of them exps) to 11.5 (1), offline for sm_90, and the bfloat16 forward at
   50257 classes from 59% of its floor as planned then (64% in its best block size) to
   77% (H100, 2026-12-07g, same call). Probabilities are read at the logits' offsets
   (one row stride serves both; `kernel_rows`), so their blocks are vectors as well:
   offline, the soft loop reads 8 logits and 8 probabilities in two loads (not yet timed
   on a GPU).

m and S are saved rather than lse: exp(x_j - m) rounds x_j - m, a small number when x_j is
near the max, where x_j - lse would subtract an lse already rounded to float32 (off by
u |lse|, which logits offset by 1000 make 6e-5).

A row whose target is ignore_index gets loss 0 and gradient 0, whatever its logits hold
(PyTorch's backward passes a NaN logit of such a row on as NaN: 0 x NaN). A target that
is neither a class index in [0, C) nor ignore_index gives its row a NaN loss and NaN
gradient: PyTorch raises IndexError, which a kernel cannot do without the host waiting
for the device on every call.
"""

from __future__ import annotations

import struct

import torch
import triton
import triton.language as tl

from harness.parity import in_interpreter
from kernels import _plans
from kernels._checks import check_like, check_real, check_shape, check_tensor
from kernels._launch import cdiv, checked_grid, fast, note_temporary, replayed
from kernels._rows import (
    LANE_MAX_START,
    as_rows,
    block_for,
    exp,
    lanes_to_row,
    online_max_and_sum,
    plan_rows,
    replay_context,
    row_limits,
    warps_for,
)

WHOLE_ROW_MAX = 8192
"""Longest row (classes) the forward keeps in registers on the GPU (a cap on the row-wise
ops' `_rows.WHOLE_ROW_MAX`; the interpreter's smaller limits stand): past it a row is
streamed. H100, 2026-12-07g (benchmarks/cross_entropy_probe.py --designs): at 16384
classes whole rows ran at 64% of their floor in bfloat16 against 70% streamed, 92%
against 87% in float32; at 8192, 66% against 61% and 88% against 82%."""
LOOP_BLOCK = 2048
"""Columns an iteration of the streamed forward on the GPU (a cap on `_rows.LOOP_BLOCK`):
4 warps a program. H100, 2026-12-07g: 77-83% of the floor in bfloat16 and 86-92% in
float32 at 32000 to 128256 classes, against 47-51% and 64-69% in blocks of 4096 and
55-69% and 60-67% in 8192. (Compiled offline by Triton 3.6 at 50257 classes, 4096's
kernel takes 84 registers a thread at 8 warps, room for two programs an SM; 2048's takes
80 at 4 warps, room for six.)"""

_plans.tunable(__name__)  # the probe's --designs sets the constants above

REDUCTIONS = ("none", "sum", "mean")
TARGET_DTYPES = (torch.int64, torch.int32)
NO_IGNORE_INDEX = -100  # F.cross_entropy's default: the only one it takes with probabilities


@triton.jit
def _load_or_zero(ptrs, mask):
    """A block as float32, 0 in the lanes a mask leaves out (mask None: the whole block).
    (if/else, not an early return: Triton compiles what follows a constexpr if's return.)"""
    if mask is None:
        block = tl.load(ptrs)
    else:
        block = tl.load(ptrs, mask=mask, other=0.0)
    return block.to(tl.float32)


@triton.jit
def _masked_sum(total, values, mask):
    """total + values, but 0 from the lanes a mask leaves out (a -inf logit of a masked
    lane times a weight of 0 is NaN)."""
    if mask is not None:
        values = tl.where(mask, values, 0.0)
    return total + values


@triton.jit
def _fold_block(lanes, x_ptrs, w_ptrs, p_ptrs, mask, SMOOTHING: tl.constexpr,
                WEIGHTED: tl.constexpr, PROBS: tl.constexpr, FAST_EXP: tl.constexpr):  # fmt: skip
    """A block of a row folded into each lane's running max and sum of exp(x - max)
    (`online_max_and_sum`, so that the loop needs no reduction) and into the totals the
    loss's sums over the row need: with SMOOTHING, of the logits (WEIGHTED: of w x, and
    of the class weights w); with PROBS, of w p x and of w p (p the target's
    probabilities, w 1 unweighted). lanes: (max, sum, total, weight, prob_total,
    prob_weight). mask None: the block is whole. A masked lane reads -inf, which never
    raises the max and adds exp(-inf) = 0, and adds nothing to the totals."""
    lane_max, lane_sum, lane_total, lane_weight, lane_prob_total, lane_prob_weight = lanes
    if mask is None:
        x = tl.load(x_ptrs).to(tl.float32)
    else:
        x = tl.load(x_ptrs, mask=mask, other=float("-inf")).to(tl.float32)
    lane_max, lane_sum = online_max_and_sum(lane_max, lane_sum, x, None, FAST_EXP)
    w = 1.0
    if WEIGHTED and (SMOOTHING or PROBS):
        w = _load_or_zero(w_ptrs, mask)
    if SMOOTHING:
        if WEIGHTED:
            lane_weight += w
        lane_total = _masked_sum(lane_total, w * x, mask)
    if PROBS:
        share = w * _load_or_zero(p_ptrs, mask)  # the target's weight of each logit
        lane_prob_weight += share
        lane_prob_total = _masked_sum(lane_prob_total, share * x, mask)
    return lane_max, lane_sum, lane_total, lane_weight, lane_prob_total, lane_prob_weight


@triton.jit
def cross_entropy_kernel(
    x_ptr,  # logits, shape (n_rows, n_cols), unit column stride
    target_ptr,  # each row's class index (int64 or int32), n_rows of them; PROBS: the
    # class probabilities, x's dtype, at x's offsets (the same row stride)
    loss_ptr,  # each row's loss, n_rows of them (0 where ignored)
    max_ptr,  # float32, n_rows: each row's max m, for the backward
    sum_ptr,  # float32, n_rows: each row's sum of exp(x - m), for the backward
    mass_ptr,  # float32, n_rows: each row's sum of w_j p_j, for the backward (PROBS)
    weight_ptr,  # the class weights, n_cols of them (read where WEIGHTED)
    weight_total_ptr,  # float32, one element: their sum, for the backward (WEIGHTED and SMOOTHING)
    n_rows,  # number of rows
    n_cols,  # classes C, entries per row
    stride_xrow,  # elements between consecutive rows of x
    stride_target,  # elements between consecutive targets
    stride_weight,  # elements between consecutive class weights
    ignore_index,  # the target of a row that has no loss
    smoothing,  # label smoothing eps, in [0, 1]
    ROWS: tl.constexpr,  # rows per tile, a power of two
    BLOCK_COLS: tl.constexpr,  # columns per block, a power of two
    LOOPED: tl.constexpr,  # loop over each row in blocks (else BLOCK_COLS >= n_cols)
    ALIGN: tl.constexpr,  # LOOPED: elements in 16 bytes
    SKEWED: tl.constexpr,  # LOOPED: rows may start off that boundary (else skew is 0)
    SMOOTHING: tl.constexpr,  # smoothing > 0: each row's sum of logits is needed too
    WEIGHTED: tl.constexpr,  # class weights given
    PROBS: tl.constexpr,  # the target is class probabilities
    FAST_EXP: tl.constexpr,  # the SFU's ex2, subnormals flushed (False: interpreter)
):
    # 64-bit rows: row * stride passes 2**31 once a tensor holds over 2**31 elements.
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    row_mask = rows < n_rows  # the last tile may hang past the last row
    cols = tl.arange(0, BLOCK_COLS)
    if LOOPED:  # one row a program (ROWS == 1, so no row mask)
        # Blocks start at the 16-byte boundary at or before the row's first element, so
        # that every block but the first and the last is read whole, with unmasked vector
        # loads, whatever the row's length and stride (a 16-bit row of 50257 classes
        # starts anywhere; a mask at a column count not a multiple of 16 makes each load
        # a scalar one). The first block masks the lanes before the row, the last those
        # past its end.
        row_start = tl.program_id(0).to(tl.int64) * stride_xrow
        skew = 0
        if SKEWED:
            skew = (row_start % ALIGN).to(tl.int32)
            row_start -= skew
        offsets = tl.multiple_of(row_start, ALIGN) + cols[None, :]
        x_block = x_ptr + offsets
        p_block = target_ptr + offsets  # (PROBS)
        # The weights of the same columns (a block's first is column -skew).
        weight_cols = cols[None, :]
        if SKEWED:
            weight_cols -= skew
        w_block = weight_ptr + weight_cols.to(tl.int64) * stride_weight
        span = n_cols + skew  # elements from that boundary to the row's end
        lane_zeros = tl.zeros([ROWS, BLOCK_COLS], tl.float32)
        lanes = (tl.full([ROWS, BLOCK_COLS], LANE_MAX_START, tl.float32), lane_zeros,
                 lane_zeros, lane_zeros, lane_zeros, lane_zeros)  # fmt: skip
        first = (cols < span)[None, :]
        if SKEWED:
            first &= (cols >= skew)[None, :]
        lanes = _fold_block(lanes, x_block, w_block, p_block, first, SMOOTHING, WEIGHTED,
                            PROBS, FAST_EXP)  # fmt: skip
        whole_end = span // BLOCK_COLS * BLOCK_COLS
        for start in range(BLOCK_COLS, whole_end, BLOCK_COLS):
            lanes = _fold_block(lanes, x_block + start, w_block + start * stride_weight,
                                p_block + start, None, SMOOTHING, WEIGHTED, PROBS,
                                FAST_EXP)  # fmt: skip
        # The last block, masked (empty where the row ends on a block's end, or in the
        # first block: it then reads nothing and adds exp(-inf) = 0).
        last_start = tl.maximum(whole_end, BLOCK_COLS)
        last = (last_start + cols < span)[None, :]
        lanes = _fold_block(lanes, x_block + last_start, w_block + last_start * stride_weight,
                            p_block + last_start, last, SMOOTHING, WEIGHTED, PROBS,
                            FAST_EXP)  # fmt: skip
        lane_max, lane_sum, lane_total, lane_weight, lane_prob_total, lane_prob_weight = lanes
        row_max, row_sum = lanes_to_row(lane_max, lane_sum, FAST_EXP)
        row_total = tl.sum(lane_total, axis=1)
        weight_total = tl.sum(lane_weight, axis=1)
        prob_total = tl.sum(lane_prob_total, axis=1)
        mass = tl.sum(lane_prob_weight, axis=1)
    else:
        mask = row_mask[:, None] & (cols < n_cols)[None, :]
        # other=-inf: a padding lane never raises the max and adds exp(-inf) = 0; a row of
        # -inf only gets a NaN sum (-inf - -inf).
        offsets = rows[:, None] * stride_xrow + cols[None, :]
        x = tl.load(x_ptr + offsets, mask=mask, other=float("-inf")).to(tl.float32)
        row_max = tl.max(x, axis=1)
        row_sum = tl.sum(exp(x - row_max[:, None], FAST_EXP), axis=1)
        w = 1.0
        if WEIGHTED and (SMOOTHING or PROBS):
            w = _load_or_zero(weight_ptr + cols.to(tl.int64) * stride_weight, cols < n_cols)
            w = w[None, :]
        if WEIGHTED and SMOOTHING:
            row_total = tl.sum(tl.where(mask, w * x, 0.0), axis=1)
            weight_total = tl.sum(tl.where(mask, w, 0.0), axis=1)
        else:
            row_total = tl.sum(tl.where(mask, x, 0.0), axis=1)
        if PROBS:
            share = w * _load_or_zero(target_ptr + offsets, mask)
            prob_total = tl.sum(tl.where(mask, share * x, 0.0), axis=1)
            mass = tl.sum(share, axis=1)

    # Everything relative to the max: x_t - m and the mean of x - m are small where the
    # logits are large and close, and (1 - eps) m + eps m = m cancels exactly.
    log_sum = tl.log(row_sum)
    if PROBS:  # every row counts: no class index to ignore or to find out of range
        # (1 - eps) sum_j w_j p_j (lse - x_j), the sum of w_j p_j (x_j - m) relative to m
        loss = (1.0 - smoothing) * (mass * log_sum - (prob_total - mass * row_max))
        tl.store(mass_ptr + rows, mass, mask=row_mask)
    else:
        target = tl.load(target_ptr + rows * stride_target, mask=row_mask, other=ignore_index)
        ignored = target == ignore_index
        valid = (target >= 0) & (target < n_cols)
        # One gathered logit a row; an out-of-range target reads nothing (its loss is NaN).
        x_target = tl.load(x_ptr + rows * stride_xrow + target, mask=row_mask & valid,
                           other=0.0).to(tl.float32)  # fmt: skip
        target_weight = 1.0
        if WEIGHTED:
            target_weights = weight_ptr + target.to(tl.int64) * stride_weight
            target_weight = tl.load(target_weights, mask=row_mask & valid, other=0.0)
            target_weight = target_weight.to(tl.float32)
            loss = (1.0 - smoothing) * target_weight * (log_sum - (x_target - row_max))
        else:
            loss = log_sum - (1.0 - smoothing) * (x_target - row_max)
    if SMOOTHING:
        if WEIGHTED:  # eps / C sum_j w_j (lse - x_j), the sum of w_j (x_j - m) relative to m
            shifted_total = row_total - weight_total * row_max
            loss += smoothing / n_cols * (weight_total * log_sum - shifted_total)
            # Every program sums the same weights: row 0's sum is kept for the backward.
            tl.store(weight_total_ptr + rows * 0, weight_total, mask=rows == 0)
        elif PROBS:  # eps (lse - mean_j x_j)
            loss += smoothing * (log_sum - (row_total / n_cols - row_max))
        else:  # (lse already counted whole above)
            loss -= smoothing * (row_total / n_cols - row_max)
    if not PROBS:
        loss = tl.where(ignored, 0.0, tl.where(valid, loss, float("nan")))
    tl.store(loss_ptr + rows, loss.to(loss_ptr.dtype.element_ty), mask=row_mask)
    tl.store(max_ptr + rows, row_max, mask=row_mask)
    tl.store(sum_ptr + rows, row_sum, mask=row_mask)


@triton.jit
def cross_entropy_backward_kernel(
    x_ptr,  # logits, shape (n_rows, n_cols), unit column stride
    target_ptr,  # each row's class index (int64 or int32); PROBS: the class
    # probabilities, x's dtype, at x's offsets (the same row stride)
    max_ptr,  # float32, n_rows: each row's max m (the forward's)
    sum_ptr,  # float32, n_rows: each row's sum of exp(x - m) (the forward's)
    mass_ptr,  # float32, n_rows: each row's sum of w_j p_j (the forward's; PROBS)
    dloss_ptr,  # the gradient of each row's loss (stride 0: one for every row)
    dx_ptr,  # the gradient of x, shape (n_rows, n_cols), contiguous
    dp_ptr,  # TARGET_GRAD: the gradient of the probabilities, as dx
    count_ptr,  # one element: the rows not ignored, or their target weights' sum (MEAN)
    weight_ptr,  # the class weights, n_cols of them (read where WEIGHTED)
    weight_total_ptr,  # float32, one element: their sum (read where WEIGHTED and SMOOTHING)
    n_rows,  # number of rows
    n_cols,  # classes C, entries per row
    stride_xrow,  # elements between consecutive rows of x
    stride_target,  # elements between consecutive targets
    stride_dloss,  # elements between consecutive rows' dloss (0: a reduced loss's)
    stride_weight,  # elements between consecutive class weights
    ignore_index,  # the target of a row that has no loss
    smoothing,  # label smoothing eps, in [0, 1]
    ROWS: tl.constexpr,  # rows per tile, a power of two
    BLOCK_COLS: tl.constexpr,  # columns per program, a power of two
    ALIGN: tl.constexpr,  # elements in 16 bytes where ROWS == 1; else 1
    SKEWED: tl.constexpr,  # ROWS == 1 and rows may start off that boundary (else skew is 0)
    SAME_STRIDE: tl.constexpr,  # stride_xrow == n_cols: dx's rows start where x's do
    MEAN: tl.constexpr,  # the loss was a mean: dloss over the count of rows not ignored
    SMOOTHING: tl.constexpr,  # smoothing > 0
    WEIGHTED: tl.constexpr,  # class weights given
    PROBS: tl.constexpr,  # the target is class probabilities
    TARGET_GRAD: tl.constexpr,  # PROBS: their gradient is wanted too (dp)
    FAST_EXP: tl.constexpr,  # the SFU's ex2, subnormals flushed (False: interpreter)
):
    first_row = tl.program_id(0).to(tl.int64) * ROWS
    rows = first_row + tl.arange(0, ROWS)
    row_mask = rows < n_rows
    dloss = tl.load(dloss_ptr + rows * stride_dloss, mask=row_mask, other=0.0).to(tl.float32)
    if MEAN:
        count = tl.load(count_ptr).to(tl.float32)
        # Rows that count but weigh 0 in all make the loss 0 / 0: their gradient is NaN too
        # (dloss / 0 would be inf, or NaN where dloss is 0).
        dloss = tl.where(count == 0, float("nan"), dloss / count)
    row_max = tl.load(max_ptr + rows, mask=row_mask, other=0.0)
    inv_sum = 1.0 / tl.load(sum_ptr + rows, mask=row_mask, other=1.0)  # one division a row
    # The target's part of each row: its class (PROBS: its probabilities, whose weights'
    # sum the forward saved as target_weight), whether it is ignored or out of range.
    target = 0
    ignored = rows < 0  # (PROBS: no row is)
    valid = rows >= 0
    target_weight = 1.0
    if PROBS:
        target_weight = tl.load(mass_ptr + rows, mask=row_mask, other=0.0)
    else:
        target = tl.load(target_ptr + rows * stride_target, mask=row_mask, other=ignore_index)
        ignored = target == ignore_index
        valid = (target >= 0) & (target < n_cols)
        if WEIGHTED:
            target_weight = tl.load(weight_ptr + target.to(tl.int64) * stride_weight,
                                    mask=row_mask & valid, other=0.0).to(tl.float32)  # fmt: skip
    weight_total = n_cols * 1.0  # the weights' sum: C unweighted (n_cols may be a constexpr 1)
    if WEIGHTED and SMOOTHING:
        weight_total = tl.load(weight_total_ptr)

    # As the forward's streamed blocks: columns counted from the 16-byte boundary at or
    # before the row (skew is 0 at compile time where the rows start on it), so that a
    # program whose block lies inside the row reads and writes it whole, with unmasked
    # vector loads and stores; the grid's last column of programs takes the skew's
    # columns past the end.
    row_start = rows * stride_xrow
    dx_row_start = rows * n_cols
    block_start = tl.program_id(1) * BLOCK_COLS
    offsets = block_start + tl.arange(0, BLOCK_COLS)[None, :]
    cols = offsets
    if SKEWED:
        skew = (row_start % ALIGN).to(tl.int32)
        row_start -= skew
        dx_row_start -= skew
        cols = offsets - skew[:, None]
    x_offsets = tl.multiple_of(row_start, ALIGN)[:, None] + offsets
    if SAME_STRIDE:
        dx_row_start = tl.multiple_of(dx_row_start, ALIGN)
    dx_offsets = dx_row_start[:, None] + offsets  # (dp's too: both are contiguous rows)
    dx_ptrs = dx_ptr + dx_offsets
    w_ptrs = weight_ptr + cols.to(tl.int64) * stride_weight  # (WEIGHTED)
    tl.static_assert(ALIGN <= BLOCK_COLS, "a block past the first starts inside its row")
    inside = (first_row + ROWS <= n_rows) & (block_start + BLOCK_COLS <= n_cols)
    if SKEWED:
        inside = inside & (block_start > 0)
    if inside:
        x = tl.load(x_ptr + x_offsets).to(tl.float32)
        dx = _gradient(x, w_ptrs, target_ptr + x_offsets, None, cols, target, ignored, valid,
                       dloss, row_max, inv_sum, smoothing, n_cols, target_weight,
                       weight_total, SMOOTHING, WEIGHTED, PROBS, FAST_EXP)  # fmt: skip
        tl.store(dx_ptrs, dx.to(dx_ptr.dtype.element_ty))
        if TARGET_GRAD:
            dp = _target_gradient(x, w_ptrs, None, dloss, row_max, inv_sum, smoothing, WEIGHTED)
            tl.store(dp_ptr + dx_offsets, dp.to(dp_ptr.dtype.element_ty))
    else:  # an edge tile: it hangs past the last row, or past either end of its rows
        mask = row_mask[:, None] & (cols >= 0) & (cols < n_cols)
        x = tl.load(x_ptr + x_offsets, mask=mask, other=0.0).to(tl.float32)
        dx = _gradient(x, w_ptrs, target_ptr + x_offsets, mask, cols, target, ignored, valid,
                       dloss, row_max, inv_sum, smoothing, n_cols, target_weight,
                       weight_total, SMOOTHING, WEIGHTED, PROBS, FAST_EXP)  # fmt: skip
        tl.store(dx_ptrs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        if TARGET_GRAD:
            dp = _target_gradient(x, w_ptrs, mask, dloss, row_max, inv_sum, smoothing, WEIGHTED)
            tl.store(dp_ptr + dx_offsets, dp.to(dp_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _target_gradient(x, w_ptrs, mask, dloss, row_max, inv_sum, smoothing,
                     WEIGHTED: tl.constexpr):  # fmt: skip
    """The gradient of the loss in the target's probabilities, a tile (float32):
    dloss (1 - eps) w_j (lse - x_j), lse - x_j = log S - (x_j - m) (log S = -log(1 / S))."""
    share = (1.0 - smoothing) * dloss[:, None]
    if WEIGHTED:
        share *= _load_or_zero(w_ptrs, mask)
    return share * (-tl.log(inv_sum)[:, None] - (x - row_max[:, None]))


@triton.jit
def _gradient(x, w_ptrs, p_ptrs, mask, cols, target, ignored, valid, dloss, row_max,
              inv_sum, smoothing, n_cols, target_weight, weight_total,
              SMOOTHING: tl.constexpr, WEIGHTED: tl.constexpr, PROBS: tl.constexpr,
              FAST_EXP: tl.constexpr):  # fmt: skip
    """The gradient in the logits x of a tile (float32; mask None: the tile is whole).
    Unweighted, dloss (softmax(x) - (1 - eps) onehot(target) - eps / C), NaN where the
    target is out of range, 0 where it is ignored. With the class weights w, W their sum,
    and the target's distribution y (onehot(target), or PROBS the probabilities p) with
    target_weight = sum_j w_j y_j: dloss ((1 - eps) (target_weight softmax(x) - w y)
    + eps / C (W softmax(x) - w)), w 1 and W = C where there are none."""
    probability = exp(x - row_max[:, None], FAST_EXP) * inv_sum[:, None]
    if WEIGHTED or PROBS:
        w = 1.0
        if WEIGHTED and (SMOOTHING or PROBS):  # (a class index alone needs only w_t)
            w = _load_or_zero(w_ptrs, mask)
        if PROBS:
            y_weight = w * _load_or_zero(p_ptrs, mask)
        else:
            y_weight = tl.where(cols == target[:, None], target_weight[:, None], 0.0)
        hit = (1.0 - smoothing) * dloss[:, None]
        dx = hit * (target_weight[:, None] * probability - y_weight)
        if SMOOTHING:
            # dloss first: eps / C times a small weight alone may sink deep into the
            # subnormals (eps 2**-126, C 127 and w_j 2**-13 leave one significant bit in
            # ten).
            uniform = dloss[:, None] * smoothing / n_cols
            dx += uniform * (weight_total * probability - w)
    else:
        is_target = cols == target[:, None]
        grad = probability - tl.where(is_target, 1.0 - smoothing, 0.0) - smoothing / n_cols
        dx = dloss[:, None] * grad
    if not PROBS:
        dx = tl.where(valid[:, None], dx, float("nan"))
        # After the NaN: an ignored row's gradient is 0 even where its logits are not
        # finite.
        dx = tl.where(ignored[:, None], 0.0, dx)
    return dx


@triton.jit
def cross_entropy_reduce_kernel(
    loss_ptr,  # float32, n_rows: each row's loss (0 where ignored)
    target_ptr,  # each row's class index (int64 or int32; not read where PROBS)
    out_ptr,  # the reduced loss, one element of x's dtype
    count_ptr,  # one element: the rows not ignored, int32, or WEIGHTED their target
    # weights' sum, float32 (the backward's "mean" reads it)
    weight_ptr,  # the class weights (read where WEIGHTED)
    n_rows,  # number of rows
    n_cols,  # classes C
    stride_target,  # elements between consecutive targets
    stride_weight,  # elements between consecutive class weights
    ignore_index,  # the target of a row that has no loss
    MEAN: tl.constexpr,  # divide by the rows not ignored (0 / 0 = NaN when none is)
    WEIGHTED: tl.constexpr,  # count each row as its target's weight
    PROBS: tl.constexpr,  # the targets are probabilities: every row counts as 1
    BLOCK: tl.constexpr,  # rows an iteration, a power of two
):
    """The rows' losses summed and the rows not ignored counted (or their weights summed)
    by one program, in a fixed order (the same bits every call, as PyTorch's sum), then
    divided and rounded once: one launch where sum, compare, count, divide and cast were
    five of PyTorch's."""
    lanes = tl.arange(0, BLOCK)
    total = tl.zeros([BLOCK], tl.float32)
    counted = tl.zeros([BLOCK], count_ptr.dtype.element_ty)
    for start in range(0, n_rows, BLOCK):
        rows = start + lanes
        mask = rows < n_rows  # the last block may hang past the last row
        total += tl.load(loss_ptr + rows, mask=mask, other=0.0)
        if PROBS:
            counted += mask.to(tl.int32)
        else:
            target = tl.load(target_ptr + rows * stride_target, mask=mask, other=ignore_index)
            if WEIGHTED:  # (a target out of range weighs nothing: its loss is NaN anyway)
                counts = mask & (target != ignore_index) & (target >= 0) & (target < n_cols)
                weight_ptrs = weight_ptr + target.to(tl.int64) * stride_weight
                counted += tl.load(weight_ptrs, mask=counts, other=0.0).to(tl.float32)
            else:
                counted += (target != ignore_index).to(tl.int32)
    loss = tl.sum(total, axis=0)
    count = tl.sum(counted, axis=0)
    if MEAN:
        loss = loss / count.to(tl.float32)  # float32: the interpreter's NumPy would widen
    tl.store(out_ptr, loss.to(out_ptr.dtype.element_ty))
    tl.store(count_ptr, count)


def check_inputs(
    x: object,
    target: object,
    ignore_index: object,
    label_smoothing: object,
    reduction: object,
    weight: object = None,
) -> float:
    """Refuses what F.cross_entropy would (naming the argument), and class probabilities
    of another dtype than x's (PyTorch would promote); returns label_smoothing as a
    float."""
    check_tensor("x", x)
    if x.dim() == 0:
        raise ValueError("x must be logits of shape (N, C), (N, C, d1, ...) or (C,), got ()")
    classes = x.shape[1] if x.dim() > 1 else x.shape[0]
    if classes == 0:  # PyTorch gives 0 or NaN, by reduction and rank
        raise ValueError(
            f"x must have at least one class (dim {int(x.dim() > 1)}), got {tuple(x.shape)}"
        )
    probabilities = is_probabilities(target)
    if probabilities:
        check_tensor("target", target)
        check_like("target", target, "x", x)
        check_shape("target", target, x.shape, "class probabilities: x's shape")
    else:
        check_tensor("target", target, TARGET_DTYPES)
        if target.device != x.device:
            raise ValueError(f"target is on {target.device} but x is on {x.device}")
        check_shape("target", target, x.shape[:1] + x.shape[2:] if x.dim() > 1 else (),
                    "one class index for each row of x: x's shape without its class dim, "
                    "or class probabilities of x's shape")  # fmt: skip
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    if not -(2**63) <= ignore_index < 2**63:
        raise ValueError(f"ignore_index must fit in 64 bits, got {ignore_index}")
    if probabilities and ignore_index != NO_IGNORE_INDEX:
        raise ValueError(
            f"ignore_index must be {NO_IGNORE_INDEX} (the default) where target holds class "
            f"probabilities: every row counts (as PyTorch's rule), got {ignore_index}"
        )
    check_reduction(reduction)
    if weight is not None:
        check_tensor("weight", weight)
        check_like("weight", weight, "x", x)
        check_shape("weight", weight, (classes,), "one weight for each class")
    return check_smoothing(label_smoothing)


def rows_shape(target: torch.Tensor) -> tuple[int, ...]:
    """The shape of a loss for each row, reduction "none"'s: a class-index target's, or
    the probabilities' without their class dim."""
    if not is_probabilities(target):
        return tuple(target.shape)
    return tuple(target.shape[:1] + target.shape[2:]) if target.dim() > 1 else ()


def is_probabilities(target: object) -> bool:
    """A float target: class probabilities, a distribution over the classes at each row."""
    return isinstance(target, torch.Tensor) and target.is_floating_point()


def check_smoothing(label_smoothing: object) -> float:
    """label_smoothing in [0, 1], rounded to float32 as the kernel receives it (so an eps
    below 2**-149 is no smoothing at all, in the launcher's choice of kernel too)."""
    smoothing = check_real("label_smoothing", label_smoothing)
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {smoothing}")
    return struct.unpack("f", struct.pack("f", smoothing))[0]


def check_reduction(reduction: object) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")


def classes_last(x: torch.Tensor) -> torch.Tensor:
    """x (N, C, d1, ..., dk) as a view with its classes last, (N, d1, ..., dk, C): a row
    for each of its N d1 ... dk positions, in the order of target's elements (channels-last
    logits are then read in place); x (N, C) or (C,) as it is."""
    return x.movedim(1, -1) if x.dim() > 2 else x


def kernel_rows(x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, C, d1, ...) or (N, C) as the kernels read it, (rows, C) with unit column
    stride (`classes_last`, then `_rows.as_rows`: a copy only where it must), and target:
    class indices a 1-D view of one a row; probabilities rows of C at x's offsets (one row
    stride serves both: where theirs differ, both are copied contiguous)."""
    x_rows = as_rows(classes_last(x))
    n_rows = x_rows.shape[0]
    if not is_probabilities(target):
        return x_rows, target.reshape(n_rows)
    target_rows = as_rows(classes_last(target))
    if n_rows > 1 and target_rows.stride(0) != x_rows.stride(0):
        x_rows, target_rows = x_rows.contiguous(), target_rows.contiguous()
    return x_rows, target_rows


def as_given(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`kernel_rows`' rows viewed in the shape of the tensor they came from (for whose
    classes_last view they are a view), so that `kernel_rows` takes them back as they are."""
    if like.dim() > 2:
        return rows.view(classes_last(like).shape).movedim(-1, 1)
    return rows.view(like.shape)


def row_losses(
    x: torch.Tensor, target: torch.Tensor, ignore_index: int, smoothing: float,
    loss_dtype: torch.dtype, weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Each row's loss (in loss_dtype), max and sum of exp(x - max) (float32); with class
    weights and label smoothing, their sum (float32, one element, else None); with class
    probabilities, each row's sum of w_j p_j (float32, else None). For checked inputs:
    `cross_entropy_kernel` on the launch plan of `_rows.plan_rows`."""
    x_rows, target_rows = kernel_rows(x, target)
    n_rows, n_cols = x_rows.shape
    losses = torch.empty(n_rows, dtype=loss_dtype, device=x.device)
    row_max = torch.empty(n_rows, dtype=torch.float32, device=x.device)
    row_sum = torch.empty_like(row_max)
    probabilities = is_probabilities(target)
    mass = torch.empty_like(row_max) if probabilities else None
    weighted = weight is not None
    if weighted and weight.stride(0) * n_cols >= 2**31:
        weight = weight.contiguous()  # the streamed loop's int32 column offsets, times stride
    weight_total = None
    if weighted and smoothing > 0 and n_rows > 0:
        weight_total = torch.empty(1, dtype=torch.float32, device=x.device)
    if n_rows == 0:
        return losses, row_max, row_sum, weight_total, mass
    plan = plan_rows(n_rows, n_cols, whole_row_max=WHOLE_ROW_MAX, loop_block=LOOP_BLOCK)
    checked_grid(plan.grid, f"x of shape {tuple(x.shape)}")
    align, skewed = (1, False) if plan.whole_row else row_alignment(x_rows)
    fast(cross_entropy_kernel)[plan.grid](
        x_rows, target_rows, losses, row_max, row_sum, row_sum if mass is None else mass,
        weight if weighted else x_rows, row_sum if weight_total is None else weight_total,
        n_rows, n_cols, x_rows.stride(0), target_rows.stride(0),
        weight.stride(0) if weighted else 1, ignore_index, smoothing,
        ROWS=plan.rows_per_program, BLOCK_COLS=plan.block_cols, LOOPED=not plan.whole_row,
        ALIGN=align, SKEWED=skewed, SMOOTHING=smoothing > 0, WEIGHTED=weighted,
        PROBS=probabilities, FAST_EXP=not in_interpreter(), num_warps=plan.num_warps,
    )  # fmt: skip
    return losses, row_max, row_sum, weight_total, mass


def row_alignment(x_rows: torch.Tensor) -> tuple[int, bool]:
    """The ALIGN and SKEWED of the kernels' one-row programs: the elements in 16 bytes, and
    whether rows may start off that boundary (their stride not a multiple of 16 bytes).
    Where they may not, the skew is 0 at compile time and each row's start is still
    declared a multiple of ALIGN: Triton knows the stride's divisibility only by 16
    elements, so a 16-bit row of 50264 classes (16 bytes times 6283) would otherwise be
    read one element a load."""
    elements = 16 // x_rows.element_size()
    return elements, x_rows.stride(0) % elements != 0


REDUCE_BLOCK = 1024
"""Rows an iteration of `cross_entropy_reduce_kernel` (one program, 4 warps)."""


def reduce_losses(
    losses: torch.Tensor, target: torch.Tensor, ignore_index: int, reduction: str,
    dtype: torch.dtype, weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """The rows' float32 losses reduced as `reduction` asks, in `dtype` ("mean": over the
    rows not ignored, each weighing its target's class weight where there are weights,
    every row where target holds probabilities; 0 / 0 = NaN when no row counts), and
    the count of those rows (int32, one element), or with class-index targets and weights
    their weights' sum (float32); None for "none". No synchronization with the host."""
    probabilities = is_probabilities(target)
    if reduction == "none":
        return losses.view(rows_shape(target)), None
    weighted = weight is not None and not probabilities
    out = torch.empty((), dtype=dtype, device=losses.device)
    count_dtype = torch.float32 if weighted else torch.int32
    count = torch.empty(1, dtype=count_dtype, device=losses.device)
    target_rows = losses if probabilities else target.reshape(losses.shape[0])  # (not read)
    fast(cross_entropy_reduce_kernel)[(1,)](
        losses, target_rows, out, count, weight if weighted else losses, losses.shape[0],
        1 if weight is None else weight.shape[0], target_rows.stride(0),
        weight.stride(0) if weighted else 1, ignore_index, MEAN=reduction == "mean",
        WEIGHTED=weighted, PROBS=probabilities, BLOCK=REDUCE_BLOCK, num_warps=4,
    )  # fmt: skip
    return out, count


@replayed(replay_context)
def cross_entropy_backward(
    dloss: torch.Tensor, x: torch.Tensor, target: torch.Tensor, row_max: torch.Tensor,
    row_sum: torch.Tensor, count: torch.Tensor | None, ignore_index: int, smoothing: float,
    reduction: str, weight: torch.Tensor | None = None,
    weight_total: torch.Tensor | None = None, mass: torch.Tensor | None = None,
    target_grad: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """The gradients of cross_entropy(x, target, ..., weight) with respect to x (rows,
    C) and, where target_grad asks, to the class probabilities target (as `kernel_rows`
    gives it; else None), given the forward's row statistics (and, for "mean", its count
    of the rows not ignored or their weights' sum; with weights and label smoothing, the
    weights' sum; with probabilities, each row's sum of w_j p_j) and the gradient dloss
    of its (reduced) output."""
    x_rows = as_rows(x)
    n_rows, n_cols = x_rows.shape
    probabilities = is_probabilities(target)
    dx = torch.empty_like(x, memory_format=torch.contiguous_format)
    target_grad = target_grad and probabilities
    dp = torch.empty_like(dx) if target_grad else None
    if dx.numel() == 0:
        return dx, dp
    # "sum" and "mean": one dloss for every row, a 0-d tensor read at stride 0.
    dloss_rows = dloss.reshape(n_rows if reduction == "none" else 1)
    limits = row_limits(_plans.forced("rows")[1])  # the forward's mode, or its forcing's
    block = block_for(n_cols, limits.loop_block)
    rows = block_for(n_rows, max(limits.tile_target // block, 1))
    # Rows off the 16-byte boundary are shifted to it one row a program, in blocks wider
    # than the shift.
    align, skewed = row_alignment(x_rows) if rows == 1 and block >= 16 else (1, False)
    blocks = cdiv(n_cols + (align - 1 if skewed else 0), block)
    grid = checked_grid((cdiv(n_rows, rows), blocks), f"x of shape {tuple(x.shape)}")
    target_rows = target if probabilities else target.reshape(n_rows)
    weighted = weight is not None
    fast(cross_entropy_backward_kernel)[grid](
        x_rows, target_rows, row_max, row_sum, row_sum if mass is None else mass, dloss_rows, dx,
        dx if dp is None else dp, row_max if count is None else count,  # (read for "mean")
        weight if weighted else x_rows, row_max if weight_total is None else weight_total,
        n_rows, n_cols, x_rows.stride(0), target_rows.stride(0),
        dloss_rows.stride(0) if reduction == "none" else 0,
        weight.stride(0) if weighted else 1, ignore_index, smoothing,
        ROWS=rows, BLOCK_COLS=block, ALIGN=align, SKEWED=skewed,
        SAME_STRIDE=x_rows.stride(0) == n_cols,
        MEAN=reduction == "mean", SMOOTHING=smoothing > 0, WEIGHTED=weighted,
        PROBS=probabilities, TARGET_GRAD=target_grad, FAST_EXP=not in_interpreter(),
        num_warps=warps_for(rows * block),
    )  # fmt: skip
    return dx, dp


def cross_entropy(
    x: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """F.cross_entropy(x, target, weight, ignore_index=..., reduction=...,
    label_smoothing=...) for logits x of shape (N, C), (N, C, d1, ..., dk) (a class
    distribution at each position, as a segmentation's) or (C,), target either class
    indices of x's shape without its class dim, int64 or int32, or class probabilities of
    x's shape and dtype (ignore_index then -100, its default), and optional class weights
    of shape (C,) in x's dtype; the result in x's dtype. Differentiable in x and in class
    probabilities where autograd records (`CrossEntropyFunction`), not in weight (as
    PyTorch's); see the module docstring for what differs from PyTorch (an out-of-range
    target gives NaN, not an IndexError)."""
    if torch.is_grad_enabled() and isinstance(weight, torch.Tensor) and weight.requires_grad:
        raise ValueError(
            "weight must not require grad: cross_entropy is not differentiable in its class "
            "weights (nor is PyTorch's); pass weight.detach()"
        )
    tensors = (x, target if is_probabilities(target) else None)
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad
                                       for t in tensors):  # fmt: skip
        # (checked there, by forward_launches)
        return CrossEntropyFunction.apply(x, target, ignore_index, label_smoothing, reduction,
                                          weight)  # fmt: skip
    return forward_launches(x, target, ignore_index, label_smoothing, reduction, weight)[0]


@replayed(replay_context)
def forward_launches(
    x: torch.Tensor, target: torch.Tensor, ignore_index: int, label_smoothing: float,
    reduction: str, weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """cross_entropy's checks and launches: its loss, each row's max and sum of
    exp(x - max) (float32), but for "none" the count of rows not ignored (or their target
    weights' sum), with weights and label smoothing the weights' sum, with probabilities
    each row's sum of w_j p_j. A call of a signature made before is replayed
    (`kernels._launch.replayed`): its checks read nothing the signature does not name."""
    smoothing = check_inputs(x, target, ignore_index, label_smoothing, reduction, weight)
    loss_dtype = x.dtype if reduction == "none" else torch.float32
    losses, row_max, row_sum, weight_total, mass = row_losses(
        x, target, ignore_index, smoothing, loss_dtype, weight
    )
    if reduction != "none":  # made here, written whole by the forward, read by the reduce
        note_temporary(losses)
    loss, count = reduce_losses(losses, target, ignore_index, reduction, x.dtype, weight)
    return loss, row_max, row_sum, count, weight_total, mass


@_plans.carried_to_backward
class CrossEntropyFunction(torch.autograd.Function):
    """cross_entropy with its gradient in x (and in class probabilities, where they require
    one): the forward saves each row's max and sum of exp(x - max) (8 bytes a row; with
    class probabilities, also their sum of w_j p_j) and, for "mean", its count of the rows
    not ignored (or their target weights' sum); the backward recomputes the probabilities
    from them."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, target: torch.Tensor, ignore_index: int, label_smoothing: float,
        reduction: str, weight: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        # Saved as the kernels read it, a row for each class index: a strided x is copied
        # once (class probabilities too). (N, C, d1, ...) goes to the checks in its own
        # layout.
        x_rows, saved_target = as_rows(classes_last(x)), target
        if is_probabilities(target) and target.shape == x.shape:  # (else the checks refuse)
            x_rows, saved_target = kernel_rows(x, target)
            target = as_given(saved_target, target)
        loss, row_max, row_sum, count, weight_total, mass = forward_launches(
            as_given(x_rows, x), target, ignore_index, label_smoothing, reduction, weight
        )
        ctx.save_for_backward(x_rows, saved_target, row_max, row_sum, count, weight,
                              weight_total, mass)  # fmt: skip
        ctx.options = (ignore_index, check_smoothing(label_smoothing), reduction)
        ctx.moved_shape, ctx.class_dim_first = classes_last(x).shape, x.dim() > 2
        return loss

    @staticmethod
    def backward(ctx, dloss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x_rows, target, row_max, row_sum, count, weight, weight_total, mass = ctx.saved_tensors
        dx, dp = cross_entropy_backward(dloss, x_rows, target, row_max, row_sum, count,
                                        *ctx.options, weight, weight_total, mass,
                                        ctx.needs_input_grad[1])  # fmt: skip
        dx = dx.view(ctx.moved_shape)
        dx = dx.movedim(-1, 1) if ctx.class_dim_first else dx
        if dp is not None:  # (target's shape, in the layout of x's gradient)
            dp = dp.view(ctx.moved_shape)
            dp = dp.movedim(-1, 1) if ctx.class_dim_first else dp
        return dx, dp, None, None, None, None


class TritonCrossEntropyLoss(torch.nn.Module):
    """A drop-in for torch.nn.CrossEntropyLoss, (N, C) or (N, C, d1, ...) logits against
    class indices or class probabilities: weight (a buffer, in the state dict as there),
    ignore_index, reduction and label_smoothing as there."""

    def __init__(
        self, weight: torch.Tensor | None = None, ignore_index: int = -100,
        reduction: str = "mean", label_smoothing: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        check_reduction(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = check_smoothing(label_smoothing)

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(x, target, self.ignore_index, self.label_smoothing, self.reduction,
                             self.weight)  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
            f"label_smoothing={self.label_smoothing}"
        )
