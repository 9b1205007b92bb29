"""Planted bugs in the row-wise kernels, cross_entropy, attention, conv2d and dropout:
launchers that each make one realistic mistake.

Every launcher here takes the same arguments and returns the same thing as the real one
it stands in for (`kernels.add_row_sum.add_row_sum`, `kernels.softmax.softmax`,
`kernels.layer_norm.layer_norm`, `kernels.rms_norm.rms_norm`,
`kernels.attention.attention`, `kernels.conv2d.conv2d`, `kernels.dropout.dropout`,
`kernels.cross_entropy.cross_entropy` and its gradient): same
input checks, same output shapes and dtypes, same
handling of empty, 0-d and 1-d inputs (through `kernels._rows.as_rows`, which keeps a
padded or row-sliced view in place and passes its row stride). Everything is computed in
float32, with masks and strides right, except the one line marked `# BUG:`.

The kernels are deliberately simple: a program holds a tile of ROWS whole rows (one block
of the next power of two >= n_cols columns), which suits rows of up to a few thousand
elements; the two 16-bit row sums loop over columns instead, for a tile of up to
LOOPED_ROWS rows. 16-bit accumulation is emulated by rounding a float32 sum to the input
dtype after every add: Triton's interpreter stores bfloat16 as uint16, so arithmetic
directly on bfloat16 values would be garbage there, while conversions work; the rounding
is the same as a 16-bit add on the GPU.

`PLANTED` maps each bug's name to (op name, launcher, what is wrong, where it shows).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels._checks import check_tensor
from kernels._launch import cdiv
from kernels._rows import as_rows, block_for, row_tile, warps_for
from kernels.add_row_sum import add_row_sum
from kernels.attention import check_inputs as _check_attention_inputs
from kernels.conv2d import Geometry, run_forward, unbatched
from kernels.cross_entropy import (
    as_given,
    cross_entropy,
    cross_entropy_backward,
    forward_launches,
    kernel_rows,
    row_losses,
)
from kernels.cross_entropy import check_inputs as check_cross_entropy_inputs
from kernels.layer_norm import _forward_setup, _mean_and_rstd, _scale_shift, _store_rows, layer_norm

TILE_TARGET = 4096
"""Elements of the (ROWS, BLOCK_COLS) tile a program holds."""
LANES = 32
"""Lanes of `add_row_sum_fp16_lanes`: lane j sums columns j, j + LANES, ..."""
LOOPED_ROWS = 64
"""Rows per program of the two 16-bit sums, which loop over columns (cheap in the
interpreter, where each loop step costs the same whatever the tile holds)."""


def _tile(n_rows: int, n_cols: int, looped: bool = False) -> dict:
    """Block, rows per program, grid and warps: a tile of whole rows, or (looped) a tile
    of LOOPED_ROWS rows by a block of columns that the kernel loops over."""
    if looped:
        rows = block_for(n_rows, LOOPED_ROWS)
        block = block_for(n_cols, max(TILE_TARGET // rows, 1))
    else:
        block = block_for(n_cols, 1 << 30)  # the whole row, however long
        rows = block_for(n_rows, max(TILE_TARGET // block, 1))
    return dict(
        grid=(cdiv(n_rows, rows),), ROWS=rows, BLOCK_COLS=block, num_warps=warps_for(rows * block)
    )


def _launch(x: torch.Tensor, kernel, looped: bool = False, **meta) -> torch.Tensor:
    """Run `kernel(x, out, n_rows, n_cols, stride_xrow, stride_outrow, ROWS, BLOCK_COLS)`
    over the rows of x (tiled as `_tile` says); out is fresh, contiguous, in x's shape and
    dtype."""
    check_tensor("x", x)
    x_rows = as_rows(x)
    n_rows, n_cols = x_rows.shape
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if out.numel() == 0:
        return out
    tile = _tile(n_rows, n_cols, looped)
    grid = tile.pop("grid")
    kernel[grid](x_rows, out, n_rows, n_cols, x_rows.stride(0), n_cols, **tile, **meta)
    return out


# --------------------------------------------------------------------------- add_row_sum
@triton.jit
def _store_x_plus(
    x_ptr, out_ptr, rows, row_mask, n_cols, stride_xrow, stride_outrow, row_sum,
    BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """out = x + row_sum over the rows of a tile, BLOCK_COLS columns at a time."""
    cols = tl.arange(0, BLOCK_COLS)[None, :]
    for start in range(0, n_cols, BLOCK_COLS):
        mask = row_mask & (start + cols < n_cols)
        x = tl.load(x_ptr + rows * stride_xrow + start + cols, mask=mask, other=0.0)
        y = x.to(tl.float32) + row_sum
        tl.store(
            out_ptr + rows * stride_outrow + start + cols, y.to(out_ptr.dtype.element_ty), mask=mask
        )


@triton.jit
def _add_row_sum_sequential_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """x + row sum, the sum taken one column at a time in the input dtype."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)[:, None]
    row_mask = rows < n_rows  # (ROWS, 1)
    acc = tl.zeros([ROWS, 1], x_ptr.dtype.element_ty)
    for j in range(0, n_cols):
        xj = tl.load(x_ptr + rows * stride_xrow + j, mask=row_mask, other=0.0)
        # BUG: the running sum is kept in the input dtype (float16 / bfloat16), rounded
        # after every add: once it is large, each small term loses most of its digits.
        acc = (acc.to(tl.float32) + xj.to(tl.float32)).to(x_ptr.dtype.element_ty)
    row_sum = acc.to(tl.float32)
    _store_x_plus(
        x_ptr, out_ptr, rows, row_mask, n_cols, stride_xrow, stride_outrow, row_sum, BLOCK_COLS
    )


def add_row_sum_fp16_sequential(x: torch.Tensor) -> torch.Tensor:
    """add_row_sum with the row sum accumulated sequentially in x's dtype; in float32 the
    real kernel (`_real_in_float32`)."""
    if x.dtype == torch.float32:
        return _real_in_float32(x)
    return _launch(x, _add_row_sum_sequential_kernel, looped=True)


def _real_in_float32(x: torch.Tensor) -> torch.Tensor:
    """The real add_row_sum, for a planted launcher given float32: its bug is the dtype of
    its sums, which in float32 is the real kernel's, but its loop sums in another order
    than the real kernel's tree, and that order alone can pass the real kernel's bound
    (the sequential sum of a row of 509 values near 1000: 1.28 times the bound of a tree
    of depth 10). The bug is invisible in float32; the order would not be."""
    return add_row_sum(x)


@triton.jit
def _add_row_sum_lanes_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr, LANES: tl.constexpr,
):  # fmt: skip
    """x + row sum, LANES lanes per row accumulating in the input dtype, then a tree."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)[:, None]
    row_mask = rows < n_rows  # (ROWS, 1)
    lanes = tl.arange(0, LANES)[None, :]
    # BUG: the lane accumulators have the input dtype (float16 / bfloat16), not float32.
    lane_sum = tl.zeros([ROWS, LANES], x_ptr.dtype.element_ty)
    for start in range(0, n_cols, LANES):
        mask = row_mask & (start + lanes < n_cols)
        xs = tl.load(x_ptr + rows * stride_xrow + start + lanes, mask=mask, other=0.0)
        lane_sum = (lane_sum.to(tl.float32) + xs.to(tl.float32)).to(x_ptr.dtype.element_ty)
    row_sum = tl.sum(lane_sum.to(tl.float32), axis=1, keep_dims=True)  # the tree, in float32
    _store_x_plus(
        x_ptr, out_ptr, rows, row_mask, n_cols, stride_xrow, stride_outrow, row_sum, BLOCK_COLS
    )


def add_row_sum_fp16_lanes(x: torch.Tensor) -> torch.Tensor:
    """add_row_sum whose LANES per-lane partial sums are kept in x's dtype; in float32
    the real kernel (`_real_in_float32`: LANES is fewer lanes than its tree has)."""
    if x.dtype == torch.float32:
        return _real_in_float32(x)
    return _launch(x, _add_row_sum_lanes_kernel, looped=True, LANES=LANES)


@triton.jit
def _add_row_sum_off_by_one_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """x + row sum, the last column left out."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)[:, None]
    cols = tl.arange(0, BLOCK_COLS)[None, :]
    mask = (rows < n_rows) & (cols < n_cols - 1)  # BUG: should be cols < n_cols
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=mask, other=0.0).to(tl.float32)
    y = x + tl.sum(x, axis=1, keep_dims=True)
    tl.store(out_ptr + rows * stride_outrow + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def add_row_sum_off_by_one(x: torch.Tensor) -> torch.Tensor:
    """add_row_sum whose column mask drops each row's last column: not summed, and its
    output element never written (left as torch.empty found it)."""
    return _launch(x, _add_row_sum_off_by_one_kernel)


# ------------------------------------------------------------------------------- softmax
@triton.jit
def _normalize_and_store(numerator, out_ptr, rows, cols, stride_outrow, tile_mask):
    """The rest of a softmax, right in every planted bug: divide by the row sum, store."""
    y = numerator / tl.sum(numerator, axis=1, keep_dims=True)
    tl.store(out_ptr + rows * stride_outrow + cols, y.to(out_ptr.dtype.element_ty), mask=tile_mask)


@triton.jit
def _softmax_exp_in_input_dtype_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """Softmax whose exponentials are taken and kept in the input dtype."""
    rows, cols, tile_mask = row_tile(tl.program_id(0), n_rows, n_cols, ROWS, BLOCK_COLS)
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=tile_mask, other=float("-inf"))
    x = x.to(tl.float32)
    row_max = tl.max(x, axis=1, keep_dims=True)
    z = x - row_max
    # BUG: x - max and exp() of it are rounded to the input dtype (float16 / bfloat16)
    # before the float32 sum: each term carries a 16-bit rounding, and small ones flush.
    dtype = x_ptr.dtype.element_ty
    numerator = tl.exp(z.to(dtype).to(tl.float32)).to(dtype).to(tl.float32)
    _normalize_and_store(numerator, out_ptr, rows, cols, stride_outrow, tile_mask)


def softmax_exp_in_input_dtype(x: torch.Tensor) -> torch.Tensor:
    """softmax with x - max and exp() rounded to x's dtype (correct in float32)."""
    return _launch(x, _softmax_exp_in_input_dtype_kernel)


@triton.jit
def _softmax_no_max_subtraction_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """Softmax as exp(x) / sum(exp(x)), without subtracting the row max."""
    rows, cols, tile_mask = row_tile(tl.program_id(0), n_rows, n_cols, ROWS, BLOCK_COLS)
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=tile_mask, other=float("-inf"))
    x = x.to(tl.float32)
    # BUG: no row max subtracted: exp(x) overflows to inf from x = 88.7 on (inf / inf is
    # NaN), and underflows to 0 below about -103 (0 / 0 is NaN).
    numerator = tl.exp(x)
    _normalize_and_store(numerator, out_ptr, rows, cols, stride_outrow, tile_mask)


def softmax_no_max_subtraction(x: torch.Tensor) -> torch.Tensor:
    """softmax computed as exp(x) / sum(exp(x)) in float32."""
    return _launch(x, _softmax_no_max_subtraction_kernel)


@triton.jit
def _softmax_other_zero_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """Softmax whose padded lanes are loaded as 0 and then take part in max and sum."""
    rows, cols, tile_mask = row_tile(tl.program_id(0), n_rows, n_cols, ROWS, BLOCK_COLS)
    # BUG: other=0.0 instead of -inf: a padded lane (n_cols not a power of two) raises
    # the max to 0 when every real logit is negative, and adds exp(0 - max) to the sum.
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=tile_mask, other=0.0)
    x = x.to(tl.float32)
    row_max = tl.max(x, axis=1, keep_dims=True)
    numerator = tl.exp(x - row_max)
    _normalize_and_store(numerator, out_ptr, rows, cols, stride_outrow, tile_mask)


def softmax_other_zero(x: torch.Tensor) -> torch.Tensor:
    """softmax that pads its block with 0 rather than -inf (correct only when n_cols is a
    power of two, so that there is no padding)."""
    return _launch(x, _softmax_other_zero_kernel)


@triton.jit
def _softmax_wrong_row_stride_kernel(
    x_ptr, out_ptr, n_rows, n_cols, stride_xrow, stride_outrow,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """Softmax that steps from row to row of x by n_cols, not by its row stride."""
    rows, cols, tile_mask = row_tile(tl.program_id(0), n_rows, n_cols, ROWS, BLOCK_COLS)
    # BUG: n_cols where stride_xrow belongs: right for contiguous x only; a padded or
    # row-sliced view (stride_xrow > n_cols) is read from the wrong places.
    x = tl.load(x_ptr + rows * n_cols + cols, mask=tile_mask, other=float("-inf"))
    x = x.to(tl.float32)
    row_max = tl.max(x, axis=1, keep_dims=True)
    numerator = tl.exp(x - row_max)
    _normalize_and_store(numerator, out_ptr, rows, cols, stride_outrow, tile_mask)


def softmax_wrong_row_stride(x: torch.Tensor) -> torch.Tensor:
    """softmax that assumes x's rows are n_cols apart (correct for contiguous x)."""
    return _launch(x, _softmax_wrong_row_stride_kernel)


# ---------------------------------------------------------------------------- layer_norm
@triton.jit
def _layer_norm_one_pass_variance_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, n_rows, n_cols, stride_xrow, stride_yrow,
    eps, HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """LayerNorm forward with the variance as mean(x^2) - mean(x)^2."""
    rows, cols, mask = row_tile(tl.program_id(0), n_rows, n_cols, ROWS, BLOCK_COLS)
    row_mask = rows < n_rows
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=1, keep_dims=True) / n_cols
    # BUG: one-pass variance: when |mean| >> std the two terms nearly cancel and float32
    # loses the digits of the difference (it may even come out negative: rstd NaN).
    var = tl.sum(x * x, axis=1, keep_dims=True) / n_cols - mean * mean
    rstd = tl.rsqrt(var + eps)
    y = _scale_shift((x - mean) * rstd, w_ptr, b_ptr, 0, cols, cols < n_cols, HAS_WEIGHT, HAS_BIAS)
    _store_rows(y_ptr, mean_ptr, rstd_ptr, y, mean, rstd, rows, cols, stride_yrow, mask, row_mask)


@triton.jit
def _layer_norm_padded_length_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, n_rows, n_cols, stride_xrow, stride_yrow,
    eps, HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):  # fmt: skip
    """LayerNorm forward dividing its sums by the block length, not the row length: the
    real kernel's pieces (kernels.layer_norm), with one argument changed."""
    rows, cols, mask = row_tile(tl.program_id(0), n_rows, n_cols, ROWS, BLOCK_COLS)
    row_mask = rows < n_rows
    x = tl.load(x_ptr + rows * stride_xrow + cols, mask=mask, other=0.0).to(tl.float32)
    # BUG: divides by BLOCK_COLS (n_cols rounded up to a power of two), not n_cols: mean
    # and variance shrink by n_cols / BLOCK_COLS unless n_cols is a power of two.
    centered, mean, rstd = _mean_and_rstd(x, mask, BLOCK_COLS, eps, True)
    y = _scale_shift(centered * rstd, w_ptr, b_ptr, 0, cols, cols < n_cols, HAS_WEIGHT, HAS_BIAS)
    _store_rows(y_ptr, mean_ptr, rstd_ptr, y, mean, rstd, rows, cols, stride_yrow, mask, row_mask)


def _layer_norm_launch(kernel, x, weight, bias, eps):
    """The real `layer_norm` launcher's checks, outputs and arguments, with `kernel`."""
    x_rows, weight, bias, eps, outputs = _forward_setup(x, weight, bias, eps)
    n_rows, n_cols = x_rows.shape
    if n_rows:
        tile = _tile(n_rows, n_cols)
        grid = tile.pop("grid")
        kernel[grid](
            x_rows, weight if weight is not None else x_rows,
            bias if bias is not None else x_rows, *outputs, n_rows, n_cols,
            x_rows.stride(0), n_cols, eps,
            HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None, **tile,
        )  # fmt: skip
    return outputs


def layer_norm_one_pass_variance(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """layer_norm with var = mean(x^2) - mean(x)^2 (in float32): (y, mean, rstd)."""
    return _layer_norm_launch(_layer_norm_one_pass_variance_kernel, x, weight, bias, eps)


def layer_norm_padded_length(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """layer_norm whose mean and variance divide by the padded block length: (y, mean,
    rstd)."""
    return _layer_norm_launch(_layer_norm_padded_length_kernel, x, weight, bias, eps)


# ----------------------------------------------------------------------------- attention
ATTENTION_BLOCK = 16
"""Query rows and keys per block of `attention_no_rescale`."""


@triton.jit
def _attention_no_rescale_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr,
    stride_qb, stride_qh, stride_qm, stride_qd, stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    heads, group, q_len, k_len, qk_scale,
    HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """Attention by online softmax over every key block (the causal mask applied to each,
    no block skipped), in float32, O contiguous."""
    batch_head = tl.program_id(1).to(tl.int64)
    batch, head = batch_head // heads, batch_head % heads
    offs_m = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    offs_d = tl.arange(0, HEAD_DIM)
    row_mask = offs_m < q_len
    q_base = q_ptr + batch * stride_qb + head * stride_qh
    q = tl.load(q_base + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                mask=row_mask[:, None], other=0.0).to(tl.float32)  # fmt: skip
    k_base = k_ptr + batch * stride_kb + (head // group) * stride_kh
    v_base = v_ptr + batch * stride_vb + (head // group) * stride_vh
    acc = tl.full((BLOCK, HEAD_DIM), 0.0, tl.float32)
    m_i = tl.full((BLOCK,), float("-inf"), tl.float32)
    l_i = tl.full((BLOCK,), 0.0, tl.float32)
    for start_n in range(0, k_len, BLOCK):
        offs_n = start_n + tl.arange(0, BLOCK)
        key_mask = offs_n < k_len
        k_t = tl.load(k_base + offs_d[:, None] * stride_kd + offs_n[None, :] * stride_kn,
                      mask=key_mask[None, :], other=0.0).to(tl.float32)  # fmt: skip
        v = tl.load(v_base + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd,
                    mask=key_mask[:, None], other=0.0).to(tl.float32)  # fmt: skip
        visible = key_mask[None, :]
        if CAUSAL:
            visible = visible & (offs_n[None, :] <= offs_m[:, None])
        s = tl.where(visible, tl.dot(q, k_t) * qk_scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        # BUG: acc is not rescaled by alpha when a block raises the max: the blocks before
        # it keep their weights exp(s - m_old), too large by exp(m_new - m_old), while the
        # sum l they are divided by was rescaled.
        acc = acc + tl.dot(p, v)
        m_i = m_new
    o = acc / l_i[:, None]
    o_offsets = batch_head * q_len * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(o_ptr + o_offsets, o.to(o_ptr.dtype.element_ty), mask=row_mask[:, None])


def attention_no_rescale(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """attention whose online softmax forgets to rescale the output accumulator when the
    running max grows (correct when the keys fit one block)."""
    scale = _check_attention_inputs(q, k, v, causal, scale)
    batch, heads, q_len, head_dim = q.shape
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if k.shape[2] == 0 or o.numel() == 0:
        return o.zero_()
    grid = (cdiv(q_len, ATTENTION_BLOCK), batch * heads)
    _attention_no_rescale_kernel[grid](
        q, k, v, o, *q.stride(), *k.stride(), *v.stride(), heads, heads // k.shape[1],
        q_len, k.shape[2], scale * 1.4426950408889634,  # scale log2(e): scores in base 2
        HEAD_DIM=head_dim, CAUSAL=causal, BLOCK=ATTENTION_BLOCK,
    )  # fmt: skip
    return o


# -------------------------------------------------------------------------------- conv2d
def _conv2d_same_padding_top(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    geo = Geometry(x, weight, bias, stride, padding, dilation, groups)
    if padding == "same":
        totals = [d * (k - 1) for k, d in ((geo.r, geo.dilation[0]), (geo.s, geo.dilation[1]))]
        geo.pad = tuple(t - t // 2 for t in totals)  # BUG: the odd extra row on top (left)
    return run_forward(geo, x, weight, bias)


def conv2d_same_padding_top(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """conv2d whose padding='same' puts the odd extra row and column of an even kernel's
    padding at the top and left (PyTorch puts them at the bottom and right): the real
    kernels, a wrong launch plan."""
    return unbatched(_conv2d_same_padding_top)(x, weight, bias, stride, padding, dilation, groups)


def rms_norm_centered(
    x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """rms_norm launched with a mean buffer: the shared kernels then center each row, as
    for LayerNorm (kernels/rms_norm.py passes None). The real kernels, a wrong launch."""
    y, _, rstd = layer_norm(x, weight, None, eps)  # BUG: a mean pointer, so rows are centered
    return y, rstd


# ------------------------------------------------------------------------------- dropout
@triton.jit
def _dropout_planted_kernel(
    x_ptr, out_ptr, keep_ptr, n_elements, seed, threshold, scale, BLOCK: tl.constexpr,
    BUG: tl.constexpr,
):  # fmt: skip
    """kernels/dropout.py's kernel, but for the one bug named by BUG."""
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask).to(tl.float32)
    word0, word1, word2, word3 = tl.randint4x(seed, offsets // 4)  # the element's counter's
    k = offsets % 4
    words = tl.where(k == 0, word0, tl.where(k == 1, word1, tl.where(k == 2, word2, word3)))
    if BUG == "one_word":
        words = word0  # BUG: the four elements of a counter share its first word
    keep = (words >> 1).to(tl.int32) >= threshold
    if BUG == "tutorial":
        # BUG: the tutorial's draw, tl.rand at the element's own offset, compared with p
        keep = tl.rand(seed, offsets) > threshold / 2147483648.0
    if BUG == "nan_through":
        y = x * keep.to(tl.float32) * scale  # BUG: a dropped NaN or inf times 0 is NaN
    else:
        y = tl.where(keep, x * scale, 0.0)
    tl.store(out_ptr + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)
    if BUG == "mask_inverted":
        keep = keep == 0  # BUG: the mask of the dropped elements (y itself is right)
    tl.store(keep_ptr + offsets, keep, mask=mask)


def _dropout_planted(bug: str):
    def launcher(x: torch.Tensor, p: float, seed: int, return_mask: bool = False):
        check_tensor("x", x)
        x = x.contiguous()
        out, keep = torch.empty_like(x), torch.empty_like(x, dtype=torch.bool)
        if out.numel():
            threshold, scale = math.ceil(p * 2**31), 1 / (1 - p) if p < 1 else 0.0
            grid = (cdiv(out.numel(), 1024),)
            _dropout_planted_kernel[grid](
                x, out, keep, out.numel(), seed, threshold, scale, BLOCK=1024, BUG=bug
            )
        return (out, keep) if return_mask else out

    return launcher


# ------------------------------------------------------------------------- cross_entropy
@triton.jit
def _cross_entropy_planted_kernel(
    x_ptr, target_ptr, loss_ptr, n_rows, n_cols, stride_xrow, ignore_index, smoothing,
    ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr, BUG: tl.constexpr,
):  # fmt: skip
    """Each row's loss over whole rows, but for the one bug named by BUG."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK_COLS)[None, :]
    row_mask = rows < n_rows
    mask = row_mask[:, None] & (cols < n_cols)
    if BUG == "padding_zero":
        other = 0.0  # BUG: padding lanes enter the max and the sum as logits of 0
    else:
        other = float("-inf")
    x = tl.load(x_ptr + rows[:, None] * stride_xrow + cols, mask=mask, other=other)
    x = x.to(tl.float32)
    # Relative to the row max, as the real kernel: x_t - m and the mean of x - m.
    row_max = tl.max(x, axis=1)
    if BUG == "no_max":
        row_max = tl.zeros_like(row_max)  # BUG: exp(x) overflows from x = 88.7
    z = x - row_max[:, None]
    log_sum = tl.log(tl.sum(tl.exp(z), axis=1))
    target = tl.load(target_ptr + rows, mask=row_mask, other=ignore_index)
    nll = log_sum - tl.sum(tl.where(cols == target[:, None], z, 0.0), axis=1)
    z_total = tl.sum(tl.where(mask, z, 0.0), axis=1)
    if BUG == "smoothing_other_classes":
        # BUG: eps spread over the C - 1 other classes (another convention), not all C
        smooth = (n_cols * log_sum - z_total - nll) / (n_cols - 1)
    else:
        smooth = log_sum - z_total / n_cols
    loss = (1.0 - smoothing) * nll + smoothing * smooth
    tl.store(loss_ptr + rows, tl.where(target == ignore_index, 0.0, loss), mask=row_mask)


def _cross_entropy_planted(bug: str):
    def launcher(x, target, ignore_index=-100, label_smoothing=0.0, reduction="mean",
                 weight=None):  # fmt: skip
        if weight is not None or x.dim() > 2 or target.is_floating_point():
            # planted in the unweighted 2-D loss against class indices alone
            return cross_entropy(x, target, ignore_index, label_smoothing, reduction, weight)
        smoothing = check_cross_entropy_inputs(x, target, ignore_index, label_smoothing,
                                               reduction)  # fmt: skip
        x_rows = as_rows(x)
        n_rows, n_cols = x_rows.shape
        losses = torch.empty(n_rows, dtype=torch.float32, device=x.device)
        if n_rows:
            tile = _tile(n_rows, n_cols)
            grid = tile.pop("grid")
            _cross_entropy_planted_kernel[grid](
                x_rows, target.reshape(n_rows).contiguous(), losses, n_rows, n_cols,
                x_rows.stride(0), ignore_index, smoothing, **tile, BUG=bug,
            )  # fmt: skip
        if reduction == "none":
            return losses.view(target.shape).to(x.dtype)
        total = losses.sum()
        if reduction == "mean":
            counted = (target != ignore_index).sum()
            if bug == "mean_over_all_rows":
                counted = target.numel()  # BUG: ignored rows counted in the mean
            total = total / counted
        return total.to(x.dtype)

    return launcher


def cross_entropy_weighted_mean_over_rows(
    x, target, ignore_index=-100, label_smoothing=0.0, reduction="mean", weight=None
):  # fmt: skip
    """cross_entropy through the real kernels, but a weighted "mean" divided by the rows
    counted instead of their target weights' sum."""
    if reduction != "mean" or weight is None:
        return cross_entropy(x, target, ignore_index, label_smoothing, reduction, weight)
    total = cross_entropy(x, target, ignore_index, label_smoothing, "sum", weight)
    counted = (target != ignore_index).sum()  # BUG: the rows, not their weights
    return (total.float() / counted).to(x.dtype)


def cross_entropy_grad_mean_over_all_rows(
    x, target, ignore_index, smoothing, reduction, weight, dy
):  # fmt: skip
    """The gradient of cross_entropy through the real kernels, but a "mean"'s upstream
    gradient divided by every row, ignored ones included."""
    _, row_max, row_sum, weight_total, mass = row_losses(x, target, ignore_index, smoothing,
                                                         torch.float32, weight)  # fmt: skip
    if reduction == "mean":
        dy, reduction = dy.float() / target.numel(), "sum"  # BUG: not by the rows counted
    x_rows, target_rows = kernel_rows(x, target)
    return _gradients(x, cross_entropy_backward(
        dy, x_rows, target_rows, row_max, row_sum, None, ignore_index, smoothing, reduction,
        weight, weight_total, mass, target_grad=True,
    ))  # fmt: skip


def _gradients(x, dx_and_dp):
    """The backward's (dx, dp) as the gradient op returns them: in x's shape, dp only where
    the target is probabilities."""
    return tuple(as_given(g, x) for g in dx_and_dp if g is not None)


def cross_entropy_grad_probabilities_summing_to_one(
    x, target, ignore_index, smoothing, reduction, weight, dy
):  # fmt: skip
    """The gradient of cross_entropy through the real kernels, but against unweighted class
    probabilities the textbook softmax(x) - p, as if each row's probabilities summed to
    1."""
    forward = forward_launches(x, target, ignore_index, smoothing, reduction, weight)
    _, row_max, row_sum, count, weight_total, mass = forward
    if mass is not None and weight is None:
        mass = torch.ones_like(mass)  # BUG: each row's sum of p taken to be 1
    x_rows, target_rows = kernel_rows(x, target)
    return _gradients(x, cross_entropy_backward(
        dy, x_rows, target_rows, row_max, row_sum, count, ignore_index, smoothing, reduction,
        weight, weight_total, mass, target_grad=True,
    ))  # fmt: skip


# name -> (op name, launcher, the bug, where it shows and where it hides)
PLANTED: dict[str, tuple[str, object, str, str]] = {
    "add_row_sum_fp16_sequential": (
        "add_row_sum",
        add_row_sum_fp16_sequential,
        "row sum accumulated one column at a time in the input dtype, rounded after each add",
        "wrong in float16 and bfloat16 (worse in bfloat16: 8 bits of mantissa), growing "
        "with the row length; invisible in float32, where the input dtype is float32",
    ),
    "add_row_sum_fp16_lanes": (
        "add_row_sum",
        add_row_sum_fp16_lanes,
        f"{LANES} per-lane partial sums kept in the input dtype, then a float32 tree",
        f"wrong in float16 and bfloat16 for rows much longer than {LANES} (each lane "
        f"then sums many terms); invisible in float32, and for rows of <= {LANES} columns "
        "(each lane adds one term, exactly)",
    ),
    "softmax_exp_in_input_dtype": (
        "softmax",
        softmax_exp_in_input_dtype,
        "x - max and exp() rounded to the input dtype before the float32 sum",
        "float16 and bfloat16 only, and subtly: about one rounding of the input dtype per "
        "term (and tiny terms flushed to zero), near the output's own rounding; invisible "
        "in float32, where the rounding is a no-op",
    ),
    "softmax_no_max_subtraction": (
        "softmax",
        softmax_no_max_subtraction,
        "exp(x) / sum(exp(x)) without subtracting the row max",
        "every dtype, but only for large logits (exp overflows from x = 88.7: NaN) or very "
        "negative rows (the sum underflows: NaN); invisible for logits of moderate size, "
        "where only the rounding differs",
    ),
    "softmax_other_zero": (
        "softmax",
        softmax_other_zero,
        "block padded with 0 instead of -inf: padded lanes enter the max and the sum",
        "every dtype when n_cols is not a power of two (badly when every logit is "
        "negative: the max becomes 0); invisible when n_cols is a power of two (no "
        "padding)",
    ),
    "softmax_wrong_row_stride": (
        "softmax",
        softmax_wrong_row_stride,
        "rows of x addressed n_cols apart instead of by the row stride",
        "every dtype, on padded or row-sliced views (row stride > n_cols); invisible for "
        "contiguous inputs, and for a single row",
    ),
    "layer_norm_one_pass_variance": (
        "layer_norm",
        layer_norm_one_pass_variance,
        "var = mean(x^2) - mean(x)^2 in float32, one pass",
        "every dtype when |mean| >> std (e.g. x + 1000: cancellation, rstd off or NaN); "
        "invisible for centred data such as randn",
    ),
    "layer_norm_padded_length": (
        "layer_norm",
        layer_norm_padded_length,
        "mean and variance divided by the padded block length (a power of two), not n_cols",
        "every dtype when n_cols is not a power of two; invisible when it is",
    ),
    "add_row_sum_off_by_one": (
        "add_row_sum",
        add_row_sum_off_by_one,
        "column mask cols < n_cols - 1: the last column neither summed nor written",
        "every dtype and every shape with a non-empty last dim",
    ),
    "rms_norm_centered": (
        "rms_norm",
        rms_norm_centered,
        "each row centered before it is scaled (LayerNorm's y, rstd of the variance)",
        "every dtype, on any row whose mean is not 0 (a drawn row's never is exactly); "
        "hidden only where the mean is 0",
    ),
    "attention_no_rescale": (
        "attention",
        attention_no_rescale,
        "online softmax without the rescale of the output accumulator when the max grows",
        f"every dtype once the keys span several blocks of {ATTENTION_BLOCK} and a later "
        "block raises a row's max; invisible for a single key block",
    ),
    "conv2d_same_padding_top": (
        "conv2d",
        conv2d_same_padding_top,
        "padding='same' with an even kernel: the extra padding row and column at the top "
        "and left instead of the bottom and right (the window one pixel off)",
        "every dtype, for 'same' with an even kernel size (or an odd dilated extent); "
        "invisible for odd kernels and for explicit padding",
    ),
    "dropout_tutorial": (
        "dropout",
        _dropout_planted("tutorial"),
        "the tutorial's mask, tl.rand(seed, offsets) > p: other random numbers",
        "every dtype for 0 < p < 1; invisible at p = 0 and p = 1, where no draw matters",
    ),
    "dropout_one_word": (
        "dropout",
        _dropout_planted("one_word"),
        "the four elements of a Philox counter all judged by its first word",
        "every dtype, on any tensor of more than one element with 0 < p < 1",
    ),
    "dropout_mask_inverted": (
        "dropout",
        _dropout_planted("mask_inverted"),
        "y right, but the mask returned marks the dropped elements, not the kept ones",
        "every dtype wherever the mask is returned (its output is exact: no element may "
        "differ), on any tensor with an element; y alone shows nothing",
    ),
    "dropout_nan_through": (
        "dropout",
        _dropout_planted("nan_through"),
        "x * keep * scale: a dropped NaN or inf becomes NaN instead of 0",
        "every dtype, on inputs holding NaN or inf (the specials param) that the mask "
        "drops; invisible on finite inputs",
    ),
    "cross_entropy_no_max": (
        "cross_entropy",
        _cross_entropy_planted("no_max"),
        "lse = log(sum(exp(x))) without subtracting the row max",
        "every dtype for logits past 88.7 (exp overflows: inf - inf, NaN) or all far below "
        "0 (the sum underflows: -inf); invisible for logits of moderate size",
    ),
    "cross_entropy_padding_zero": (
        "cross_entropy",
        _cross_entropy_planted("padding_zero"),
        "the row's block padded with logits of 0 instead of -inf: padding enters lse",
        "every dtype when C is not a power of two; invisible when it is (no padding)",
    ),
    "cross_entropy_smoothing_other_classes": (
        "cross_entropy",
        _cross_entropy_planted("smoothing_other_classes"),
        "label smoothing's eps spread over the C - 1 classes other than the target",
        "every dtype with 0 < eps and C > 1, wherever the target's log-probability differs "
        "from the mean of the others'; invisible without smoothing",
    ),
    "cross_entropy_mean_over_all_rows": (
        "cross_entropy",
        _cross_entropy_planted("mean_over_all_rows"),
        "reduction 'mean' divides by every row, the ignored ones included",
        "every dtype for 'mean' with some rows ignored; invisible with none ignored",
    ),
    "cross_entropy_weighted_mean_over_rows": (
        "cross_entropy",
        cross_entropy_weighted_mean_over_rows,
        "with class weights, reduction 'mean' divides by the rows counted, not by the sum "
        "of their target weights (PyTorch's nll_loss convention)",
        "every dtype for 'mean' with class weights other than all ones; invisible without weights",
    ),
    "cross_entropy_grad_mean_over_all_rows": (
        "cross_entropy.grad",
        cross_entropy_grad_mean_over_all_rows,
        "the forward right, but the gradient of 'mean' divided by every row",
        "every dtype for 'mean' with some rows ignored (and not all), or against class "
        "probabilities (whose elements it counts as rows); invisible otherwise",
    ),
    "cross_entropy_grad_probabilities_summing_to_one": (
        "cross_entropy.grad",
        cross_entropy_grad_probabilities_summing_to_one,
        "against class probabilities, the textbook gradient softmax(x) - p, which holds only "
        "where each row's probabilities sum to 1",
        "every dtype, on the rows whose probabilities sum to other than 1 (PyTorch takes "
        "them as given); invisible against class indices, or probabilities that sum to 1",
    ),
}
