"""conv2d: out = conv(x, weight) + bias, as torch.nn.functional.conv2d, as an implicit GEMM;
and its backward (`Conv2dFunction`), and `TritonConv2d`, an nn.Conv2d on these kernels.

x is (N, C, H, W) (or (C, H, W)), weight (K, C / groups, R, S), bias (K,) or None; any
stride, padding (ints, pairs, "same", "valid"), dilation and groups; float32, float16 or
bfloat16, accumulated in float32 and rounded once. Every tensor is read through its
strides, so NCHW and channels-last (NHWC in memory) inputs cost no copy; the output is
in the input's memory format, as PyTorch's. With no input channels (C = 0) an output sums
no products: it is its filter's bias, K filters of it, where PyTorch returns no filters.

The GPU ideas, in the order they appear:

1. A convolution is a GEMM. Each output element out[n, k, p, q] is a dot product of the
   filter w[k] (C/groups x R x S numbers) with the window of x it sits on. Lay the output
   pixels (n, p, q) out as the M = N P Q rows of a matrix and the filters of a group as
   its Kg = K / groups columns: then out = A @ B, with B the filters as a (Cg R S) x Kg
   matrix and A the "im2col" matrix whose row (n, p, q) is the window under that pixel,
   Cg R S long. That is the GEMM of kernels/matmul.py, tiled the same way (BLOCK_M pixels
   x BLOCK_N filters per program, BLOCK_K of the reduction per step, `tl.dot` on the
   tensor cores, a float32 accumulator); one grid axis per group.
2. Implicit: A is never built. It holds each input element up to R S times (a 3x3
   convolution's im2col is 9 times x), so materialising it costs memory and bandwidth.
   Instead each program computes, for its BLOCK_M x BLOCK_K tile of A, which element of
   x each entry is, and loads it straight from x: row m is the pixel (n, p, q) = (m //
   PQ, m % PQ // Q, m % Q), computed once; the reduction walks the taps (r, s) and, for
   each, the channels c in blocks of BLOCK_K, so that a step's tap is two scalars and
   its BLOCK_M input pixels (p sh - ph + r dh, q sw - pw + s dw) one vector: only the
   channel offsets form a tile, with no division per element.
3. Padding is a mask. A tap whose input row or column falls outside 0..H-1, 0..W-1 reads
   the zero padding: the load's mask is false there and `other=0.0` supplies the zero, so
   the padded input is never built either (nor is any memory outside x touched). The same
   mask drops the rows past M and the channels past Cg of a partial block.
4. Why channels-last is faster. The reduction index runs over c fastest. In NHWC memory
   consecutive c are adjacent, so a tile of A is BLOCK_M runs of contiguous channels:
   wide, coalesced loads, as a GEMM wants. In NCHW consecutive channels are H W elements
   apart and every element of the tile is its own memory transaction. (Along a row of A,
   neighbouring pixels q are sw apart in either format.) cuDNN and Triton convolutions
   prefer NHWC on tensor-core GPUs for this reason.
5. The backward is two more implicit GEMMs. dx is a transposed convolution: the same
   kernel with the roles of x and out exchanged (TRANSPOSED): dx[n, c, h, w] sums
   dy[n, k, p, q] w[k, c, r, s] over the taps where h = p sh - ph + r dh, i.e. p =
   (h + ph - r dh) / sh, which contributes only where the division is exact and p is in
   0..P-1: a mask again. dweight is a GEMM of its own (`conv2d_weight_grad_kernel`):
   filters x (Cg R S), reduced over the N P Q output pixels. dbias is a sum of dy.
6. Depthwise convolutions (groups = C, each channel its own filters) have Cg = 1: a GEMM
   with a reduction of R S and a handful of columns wastes the tensor cores. They run on
   the direct kernels of kernels/conv2d_depthwise.py (`depthwise`), each laid along what
   memory holds adjacent; their backward runs on the GEMM kernels here.

Precision: float16/bfloat16 products are exact in float32 and summed in float32; a
float32 `tl.dot` truncates its operands to tf32 on the GPU (declared in the op's error
model); in Triton's interpreter `tl.dot` is exact float32, and bfloat16 arithmetic is
wrong there, so the interpreter's kernels upcast 16-bit tiles first (`UPCAST`, as
kernels/matmul.py).

7. A 1 x 1 convolution with stride 1, no padding and one group needs no im2col at all:
   its pixels are the rows of a matrix already (channels-last: (N H W, C); NCHW: each
   image a (C, H W) matrix), so it is one GEMM, which `_pointwise` hands to
   kernels/matmul.py (the `pointwise` design). It lost to the implicit GEMM on most
   shapes timed, so it runs only when forced (benchmarks/conv2d_tuning.md#pointwise_configs).

8. On Hopper, a tap as one block for the copy engine (`conv2d_tma_kernel`, the boxes
   and rows designs; stride 1, one group, 16-byte channel rows). With stride 1, tap
   (r, s) of a box of output pixels (rows x columns of one image) is the same box of x
   moved by (r dh - ph, s dw - pw): a 4-D block (1, rows, columns, C) of channels-last
   x, which the copy engine (TMA) fetches whole into shared memory. Coordinates outside
   x, the padding, arrive as zeros: no index tile, no mask, no select. A 1 x 1
   convolution without padding is a GEMM over pixel rows as they lie (rows; for NCHW x
   each image's (C, H W) matrix is read in place). The tile is computed as out^T = w
   @ x^T, filters first: Triton reads the second operand of a dot from shared memory
   through a reshape of the 4-D block, so both operands reach the tensor cores without
   passing through registers. An NCHW x is first copied to channels-last by a tiled
   transposition (`channels_last_kernel`, coalesced on both sides), and so are
   (K, C, R, S) filters, to (K, R, S, C), both in one launch
   (`channels_last_pair_kernel`, PAIRED_COPIES); the output keeps x's format. Both
   copies are temporaries a replay makes anew (`kernels._launch.note_temporary`): a call
   planned in full costs the host far more than the device (see `_forward`). The
   implicit GEMM (1.-5.) runs the rest: strides above 1, groups, float32 unforced.
   dx of a stride-1 convolution is one too (dy against the flipped filters, C and K
   exchanged, padded by dh (R - 1) - ph): the same kernel (`_tma`, transposed).

   Rejected (benchmarks/conv2d_tuning.md#rejected-designs):
   - "shifted rows" (0024e95): every tap a shift of one (N H W, C) matrix's row index
     needs the padding zeroed by a select, which pulls the block into registers;
   - an NCHW x read in place (79d0367), to save its copy: a tap moves the box by a
     column, and a block whose innermost coordinate is not a multiple of 16 bytes is an
     illegal instruction on the H200 (Triton 3.6), as Triton's interpreter asserts.

Where the TMA designs stand against cuDNN: benchmarks/conv2d_tuning.md#tma_by_default;
the measurements behind every constant: benchmarks/conv2d_tuning.md, a section each.

Not done yet: a direct depthwise backward, and dweight on the copy engine.
"""

from __future__ import annotations

import numbers

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_wait
from triton.tools.tensor_descriptor import TensorDescriptor

from harness.autotune import autotune
from harness.parity import in_interpreter
from kernels import _plans
from kernels._checks import check_like, check_shape, check_tensor
from kernels._launch import (
    MAX_GRID,
    cdiv,
    checked_grid,
    copy_engine,
    descriptor,
    early_launch,
    fitted,
    fitting_configs,
    launch_resolved,
    multiprocessors,
    note_temporary,
    offsets_fit_int32,
    replayed,
    tma_readable,
)
from kernels.conv2d_depthwise import (
    DEPTHWISE_CONFIGS,
    PLANE_CONFIGS,
    depthwise,
)
from kernels.matmul import grouped_tile, matmul, store_block
from references.conv2d import IntPair, output_size, paddings, pair


def _gemm_config(bm: int, bn: int, bk: int, warps: int, stages: int) -> triton.Config:
    return triton.Config(
        {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=warps, num_stages=stages
    )


# Tuned on ResNet's shapes (benchmarks/conv2d_tuning.md#gemm_gpu_configs); 64 x 32 stays
# for few filters per group. A config's K step is halved for float32 where its pipeline
# would not fit in shared memory (`kernels._launch.fitted`). In the interpreter a program
# and a K step each cost the same whatever the tile: blocks only as small as the tests'
# small cases need to cover several tiles and steps. 16 is the smallest tl.dot a GPU
# compiles.
GEMM_GPU_CONFIGS = (
    _gemm_config(128, 64, 64, 4, 4),
    _gemm_config(256, 128, 64, 8, 3),
    _gemm_config(128, 128, 64, 8, 3),
    _gemm_config(64, 64, 64, 4, 4),
    _gemm_config(64, 32, 32, 4, 4),
)
GEMM_INTERPRET_CONFIGS = (_gemm_config(32, 16, 16, 4, 1),)


def _tma_blocks(nargs: dict) -> None:
    """A TMA config's pre-hook: the descriptors' blocks become the config's tiles."""
    bm, bn, bk, box_w = (nargs[k] for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K", "BOX_W"))
    if box_w > 0:
        nargs["x_desc"].block_shape = [1, bm // box_w, box_w, bk]
    elif nargs["CHANNELS_FIRST"]:
        nargs["x_desc"].block_shape = [1, bk, bm]
    else:
        nargs["x_desc"].block_shape = [bm, bk]
    nargs["w_desc"].block_shape = [1, bn, bk]
    out_desc = nargs["out_desc"]
    if out_desc is None:
        return
    if not nargs.get("OUT_DESCRIPTOR", 0):  # unused: the least block the engine takes
        least = 16 // out_desc.base.element_size()
        out_desc.block_shape = [1] * (len(out_desc.shape) - 1) + [least]
    else:
        out_desc.block_shape = [1, bn, bm] if nargs["CHANNELS_FIRST"] else [bm, bn]


def _tma_config(
    bm: int, bn: int, bk: int, warps: int, stages: int, box_w: int = 0, per_sm: int = 0,
    out: int = 0,
) -> triton.Config:  # fmt: skip
    """A config of `conv2d_tma_kernel`: grouped order; BOX_W the boxes' width (0: rows of
    pixels); PROGRAMS_PER_SM as kernels/matmul.py's TMA configs (0: a program per tile);
    out = 1 sets OUT_DESCRIPTOR (out stored by the copy engine; the name gains -o1)."""
    config = _gemm_config(bm, bn, bk, warps, stages)
    config.kwargs |= {"GROUP_M": 8, "PROGRAMS_PER_SM": per_sm, "BOX_W": box_w}
    if out:
        config.kwargs["OUT_DESCRIPTOR"] = out
    config.pre_hook = _tma_blocks
    return config


# Filters are the first operand of tl.dot (out^T), so BLOCK_N is the tensor cores' M, 64
# a warp group. Boxes come in several widths: the best depends on the shape and on out's
# layout, as the threads store an NCHW output a box row at a time (8 pixels, 16 bytes, in
# boxes 8 wide). Rows store through a descriptor of out (OUT_DESCRIPTOR): the threads' store needs
# a tile of 64-bit addresses, registers the persistent config spilled. Measured:
# benchmarks/conv2d_tuning.md#boxes_gpu_configs, benchmarks/conv2d_tuning.md#rows_gpu_configs.
# Rejected: boxes stored by the copy engine (e4eceaf): benchmarks/conv2d_tuning.md#rejected-designs
BOXES_GPU_CONFIGS = (
    _tma_config(128, 64, 64, 4, 4, box_w=8),
    _tma_config(128, 64, 64, 4, 4, box_w=16),
    _tma_config(128, 64, 64, 4, 4, box_w=32),
    _tma_config(128, 128, 64, 8, 3, box_w=16),
    _tma_config(128, 128, 64, 8, 3, box_w=32),
    _tma_config(128, 64, 64, 4, 4, box_w=8, per_sm=2),
)
ROWS_GPU_CONFIGS = (
    _tma_config(128, 64, 64, 4, 4, per_sm=2, out=1),
    _tma_config(128, 64, 64, 4, 4, out=1),
    _tma_config(128, 128, 64, 8, 3, out=1),
)
# A program per tile, and (one multiprocessor counted there) programs looping over tiles;
# rows stored by the threads, and through a descriptor of out.
BOXES_INTERPRET_CONFIGS = (
    _tma_config(32, 16, 16, 4, 1, box_w=8),
    _tma_config(32, 16, 16, 4, 1, box_w=4, per_sm=2),
)
ROWS_INTERPRET_CONFIGS = (
    _tma_config(32, 16, 16, 4, 1),
    _tma_config(32, 16, 16, 4, 1, per_sm=2),
    _tma_config(32, 16, 16, 4, 1, per_sm=2, out=1),
)


GEMM_CONFIGS = _plans.by_name("gemm", GEMM_GPU_CONFIGS, GEMM_INTERPRET_CONFIGS)
BOXES_CONFIGS = _plans.by_name("boxes", BOXES_GPU_CONFIGS, BOXES_INTERPRET_CONFIGS)
ROWS_CONFIGS = _plans.by_name("rows", ROWS_GPU_CONFIGS, ROWS_INTERPRET_CONFIGS)
# A 1 x 1 convolution with stride 1, no padding and one group is a plain GEMM over the
# pixels: `_pointwise` hands it to kernels/matmul.py (its own tuning, TMA included). Slower
# than the implicit GEMM on most shapes timed (docstring, 7.): it runs only when forced.
POINTWISE_CONFIGS = {"gpu": {"pointwise": None}, "interpret": {"pointwise": None}}
CONFIG_NAMES = _plans.table_names(
    "conv2d",
    GEMM_CONFIGS,
    BOXES_CONFIGS,
    ROWS_CONFIGS,
    DEPTHWISE_CONFIGS,
    PLANE_CONFIGS,
    POINTWISE_CONFIGS,
)
"""Every config a launch can run, for the op's config axis (`kernels._plans` names)."""

# The tuners' keys: the GEMM's sizes, and the source's channel stride, which tells a
# channels-last source (1) from an NCHW one; each tensor's dtype is part of every key.


@autotune(
    GEMM_GPU_CONFIGS,
    key=["M", "N_COLS", "RED", "stride_sc", "TRANSPOSED", "INPUT_PRECISION"],
    interpret_config=GEMM_INTERPRET_CONFIGS[0],
    prune_configs_by={"early_config_prune": fitting_configs("src_ptr")},
)
@triton.jit
def conv2d_gemm_kernel(
    src_ptr,  # forward: x (N, C, H, W); TRANSPOSED: dy (N, K, P, Q). Any strides.
    w_ptr,  # weight (K, C / groups, R, S), any strides
    out_ptr,  # forward: out (N, K, P, Q); TRANSPOSED: dx (N, C, H, W)
    bias_ptr,  # bias (K,) or None (forward only)
    M,  # rows of the GEMM: N x the result's pixels
    N_COLS,  # columns per group: the result's channels per group
    RED,  # the reduction per group: the source's channels per group x R x S
    CIN_G,  # the source's channels per group (forward: C / groups; TRANSPOSED: K / groups)
    SRC_H, SRC_W,  # the source's height and width
    OUT_H, OUT_W,  # the result's height and width
    R, S,  # the kernel's height and width
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,  # the forward convolution's
    stride_sn, stride_sc, stride_sh, stride_sw,  # the source's strides
    stride_wg,  # weight: between groups (K / groups filters)
    stride_wi,  # weight: along the source's channels within a group
    stride_wo,  # weight: along the result's channels within a group
    stride_wr, stride_ws,
    stride_on, stride_oc, stride_oh, stride_ow,  # the result's strides
    stride_bias,
    TRANSPOSED: tl.constexpr,  # False: out = conv(x, w); True: dx = conv^T(dy, w)
    INPUT_PRECISION: tl.constexpr,  # tl.dot's for float32 tiles ("tf32"); None
    UPCAST: tl.constexpr,  # 16-bit tiles to float32 before tl.dot (the interpreter)
    INDEX_64: tl.constexpr,  # index arithmetic in int64: some offset may pass 2**31
    BLOCK_M: tl.constexpr,  # result pixels per program
    BLOCK_N: tl.constexpr,  # result channels per program
    BLOCK_K: tl.constexpr,  # the reduction step
):  # fmt: skip
    # Index arithmetic in int32 where every offset fits (`_index_64`): in int64 each
    # division is a subroutine call, and tiles of indices spill registers
    # (benchmarks/conv2d_tuning.md#index_64).
    pid = tl.program_id(axis=0)
    group = tl.program_id(axis=1)
    if INDEX_64:
        pid, group = pid.to(tl.int64), group.to(tl.int64)
    num_pid_n = (N_COLS + BLOCK_N - 1) // BLOCK_N
    pid_m = pid // num_pid_n
    pid_n = pid % num_pid_n

    # Rows: result pixels (n, oh, ow); columns: result channels of this group.
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < N_COLS
    pixels = OUT_H * OUT_W
    img = offs_m // pixels
    oh = (offs_m % pixels) // OUT_W
    ow = offs_m % OUT_W
    if TRANSPOSED:
        # The source pixel that tap (r, s) of a result pixel comes from is
        # (oh + ph - r dh) / sh: the numerator's part that does not depend on the tap.
        base_h = oh + pad_h
        base_w = ow + pad_w
    else:
        # The input under tap (r, s) of output pixel (oh, ow) is oh sh - ph + r dh.
        base_h = oh * stride_h - pad_h
        base_w = ow * stride_w - pad_w
    # Scalar base pointers and tiles of (int32 where they fit) offsets: tiles of 64-bit
    # pointers cost registers that the pipelined loop spills
    # (benchmarks/conv2d_tuning.md#index_64).
    src_group = src_ptr + group * CIN_G * stride_sc
    w_group = w_ptr + group * stride_wg
    image_offs = img * stride_sn
    filter_offs = offs_n * stride_wo
    offs_k = tl.arange(0, BLOCK_K)
    if INDEX_64:
        offs_k = offs_k.to(tl.int64)

    # The reduction walks the taps (r, s), and for each the source's channels in blocks
    # of BLOCK_K: one loop of R S ceil(CIN_G / BLOCK_K) steps (one loop, so that Triton
    # pipelines its loads across taps too). A step's tap and channel block are scalars;
    # where its BLOCK_M pixels read is one vector; only the channel offsets are a tile.
    channel_blocks = (CIN_G + BLOCK_K - 1) // BLOCK_K
    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, tl.float32)
    for step in range(0, R * S * channel_blocks):
        tap = step // channel_blocks
        r = tap // S
        s = tap % S
        if INDEX_64:
            r, s = r.to(tl.int64), s.to(tl.int64)
        c = (step % channel_blocks) * BLOCK_K + offs_k
        c_mask = c < CIN_G
        if TRANSPOSED:
            # Tap (r, s) reaches (oh, ow) from source pixel (num_h / sh, num_w / sw) where
            # the division is exact and the pixel exists.
            num_h = base_h - r * dil_h
            num_w = base_w - s * dil_w
            ih = num_h // stride_h
            iw = num_w // stride_w
            h_ok = (num_h >= 0) & (ih * stride_h == num_h) & (ih < SRC_H)
            w_ok = (num_w >= 0) & (iw * stride_w == num_w) & (iw < SRC_W)
        else:
            ih = base_h + r * dil_h
            iw = base_w + s * dil_w
            h_ok = (ih >= 0) & (ih < SRC_H)
            w_ok = (iw >= 0) & (iw < SRC_W)
        # The padding (and any tap with no source pixel) loads 0, which adds nothing; so
        # do rows past M and channels past CIN_G (a NaN there would not: 0 x NaN).
        pixel_ok = m_mask & h_ok & w_ok
        pixel_offs = image_offs + ih * stride_sh + iw * stride_sw
        a_offs = pixel_offs[:, None] + (c * stride_sc)[None, :]
        a = tl.load(src_group + a_offs, mask=pixel_ok[:, None] & c_mask[None, :], other=0.0)
        w_tap = w_group + r * stride_wr + s * stride_ws
        b = tl.load(
            w_tap + ((c * stride_wi)[:, None] + filter_offs[None, :]),
            mask=c_mask[:, None] & n_mask[None, :],
            other=0.0,
        )
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=tl.float32)

    store_pixels(acc, img * stride_on + oh * stride_oh + ow * stride_ow, m_mask,
                 group * N_COLS + offs_n, n_mask, out_ptr, bias_ptr, stride_oc,
                 stride_bias)  # fmt: skip


@triton.jit
def store_pixels(acc, pixel_offs, pixel_ok, channels, channel_ok, out_ptr, bias_ptr, stride_oc,
                 stride_bias):  # fmt: skip
    """The epilogue: out[pixel, channel] = acc + bias[channel], rounded once to out's
    dtype, for the pixels (rows, their offsets in out) and channels (columns) that exist."""
    if bias_ptr is not None:
        bias = tl.load(bias_ptr + channels * stride_bias, mask=channel_ok, other=0.0)
        acc += bias.to(tl.float32)[None, :]
    out_ptrs = out_ptr + pixel_offs[:, None] + channels[None, :] * stride_oc
    ok = pixel_ok[:, None] & channel_ok[None, :]
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=ok)


@triton.jit
def transpose_tile(src_ptr, dst_ptr, n, c_block, p_block, C, PIXELS, stride_sn, stride_sc,
                   stride_sp, stride_dn, stride_dp,
                   BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr):  # fmt: skip
    """dst[n, p, c] = src[n, c, p] over one tile: channels c_block, pixels p_block."""
    c = c_block * BLOCK_C + tl.arange(0, BLOCK_C)
    p = p_block * BLOCK_P + tl.arange(0, BLOCK_P)
    inside = (c < C)[:, None] & (p < PIXELS)[None, :]
    tile = tl.load(src_ptr + n * stride_sn + c[:, None] * stride_sc + p[None, :] * stride_sp,
                   mask=inside)  # fmt: skip
    tl.store(dst_ptr + n * stride_dn + p[None, :] * stride_dp + c[:, None], tile, mask=inside)


@triton.jit
def channels_last_kernel(
    x_ptr,  # x (N, C, H W), any strides (NCHW: the pixels contiguous)
    y_ptr,  # y (N, H W, C), channels contiguous: x's channels-last copy
    C, PIXELS,
    stride_xn, stride_xc, stride_xp,
    stride_yn, stride_yp,
    BLOCK_C: tl.constexpr,
    BLOCK_P: tl.constexpr,
):  # fmt: skip
    """y[n, p, c] = x[n, c, p]: an image's (C, H W) matrix transposed, a tile at a time.
    Read along the pixels and written along the channels, each access is coalesced: the
    tile changes hands between the two layouts through shared memory (Triton inserts the
    conversion), instead of either side striding through memory, as PyTorch's copy of a
    permuted NCHW tensor does (benchmarks/conv2d_tuning.md#channels_last_kernel)."""
    transpose_tile(x_ptr, y_ptr, tl.program_id(axis=2).to(tl.int64), tl.program_id(axis=1),
                   tl.program_id(axis=0), C, PIXELS, stride_xn, stride_xc, stride_xp,
                   stride_yn, stride_yp, BLOCK_C, BLOCK_P)  # fmt: skip


@triton.jit
def _flat_tile(tile, C, PIXELS, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr):
    """Tile number `tile` as (image, channel block, pixel block), pixel blocks fastest."""
    p_blocks = tl.cdiv(PIXELS, BLOCK_P)
    blocks = tl.cdiv(C, BLOCK_C) * p_blocks
    return (tile // blocks).to(tl.int64), tile % blocks // p_blocks, tile % p_blocks


@triton.jit
def channels_last_pair_kernel(
    x_ptr, y_ptr, C, PIXELS, stride_xn, stride_xc, stride_xp, stride_yn, stride_yp,
    X_TILES,  # x's tiles: the programs before this number copy x, the rest w
    w_ptr, v_ptr, WC, TAPS, stride_wk, stride_wc, stride_wt, stride_vk, stride_vt,
    BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,  # x's tile
    FEW_C: tl.constexpr, FEW_P: tl.constexpr,  # w's tile: its filters have few taps
):  # fmt: skip
    """`channels_last_kernel` on x (N, C, H W) and on the filters w (K, C, R S) in one
    launch: each is a tensor of images to transpose, and a program copies one tile of
    either. Two small copies cost one launch, and the second one's programs run beside
    the first one's instead of after them."""
    tile = tl.program_id(axis=0)
    if tile < X_TILES:
        n, c_block, p_block = _flat_tile(tile, C, PIXELS, BLOCK_C, BLOCK_P)
        transpose_tile(x_ptr, y_ptr, n, c_block, p_block, C, PIXELS, stride_xn, stride_xc,
                       stride_xp, stride_yn, stride_yp, BLOCK_C, BLOCK_P)  # fmt: skip
    else:
        k, c_block, t_block = _flat_tile(tile - X_TILES, WC, TAPS, FEW_C, FEW_P)
        transpose_tile(w_ptr, v_ptr, k, c_block, t_block, WC, TAPS, stride_wk, stride_wc,
                       stride_wt, stride_vk, stride_vt, FEW_C, FEW_P)  # fmt: skip


@triton.jit
def conv2d_tma_kernel(
    x_desc,  # x, a descriptor: channels-last (N, H, W, C) boxes, or rows (BOX_W 0) of
    # (N H W, C) channels-last or (N, C, H W) NCHW (CHANNELS_FIRST)
    w_desc,  # weight as (R S, K, C): a tap's filters x channels, a descriptor
    out_ptr,  # out (N, K, P, Q), any strides
    out_desc,  # rows: out as a descriptor (`_out_descriptor`), or None
    bias_ptr,  # bias (K,) or None
    N, K, C, P, Q,  # images, filters, channels, the output's height and width
    pad_h, pad_w, dil_h, dil_w,
    stride_on, stride_oc, stride_op, stride_oq,
    stride_bias,
    R: tl.constexpr, S: tl.constexpr,  # the kernel's height and width
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
    INDEX_64: tl.constexpr,  # out's offsets in int64
    BLOCK_M: tl.constexpr,  # output pixels per tile
    BLOCK_N: tl.constexpr,  # filters per tile
    BLOCK_K: tl.constexpr,  # channels per step
    GROUP_M: tl.constexpr,  # tiles of pixels per group (kernels/matmul.py's grouped order)
    PROGRAMS_PER_SM: tl.constexpr,  # 0: a program per tile; else programs loop over tiles
    BOX_W: tl.constexpr,  # boxes of BLOCK_M / BOX_W x BOX_W pixels; 0: rows of pixels
    CHANNELS_FIRST: tl.constexpr = False,  # rows of NCHW x (an image's channels x pixels),
    # and of NCHW out
    OUT_DESCRIPTOR: tl.constexpr = 0,  # 1: the tile leaves through out_desc, if there is one
    EARLY: tl.constexpr = False,  # launched before the copy it reads ended: wait for it
):  # fmt: skip
    """A stride-1 convolution of one group on Hopper's copy engine (TMA): each tap of a
    tile of output pixels is one block of x, which the engine fetches whole into shared
    memory, with no per-element address arithmetic and no mask.

    Boxes (BOX_W > 0). A tile is a box of BLOCK_M / BOX_W rows x BOX_W columns of one
    image's output, and tap (r, s) of it the same box of x moved by (r dh - ph, s dw -
    pw): the 4-D block (1, rows, columns, channels) of x at (n, top + r dh - ph, left +
    s dw - pw, c). The padding is what lies outside x, which the engine fills with
    zeros (coordinates may be negative): the masks of the implicit GEMM are gone. The
    price is the part of a box past the output's edge (56 columns in boxes 8 wide cost
    nothing, 14 in boxes 16 wide 2 of 16).

    Rows (BOX_W = 0): a 1 x 1 convolution of stride 1 without padding is a GEMM over
    the pixels as they lie, (N H W, C) rows of channels: a tile is BLOCK_M of them. In
    NCHW (CHANNELS_FIRST) an image is a (C, H W) matrix, x^T's block already: a tile is
    BLOCK_M pixels of one image, read without a transposition, and out^T's tile is
    where NCHW keeps it.

    Both operands stay in shared memory for the tensor cores: the tile is computed as
    out^T = w (BLOCK_N filters x BLOCK_K channels) @ x^T, the box's 4-D block read as a
    (pixels x channels) matrix in place (a reshape of shared memory, which Triton
    does for the second operand of a dot and not for the first).

    OUT_DESCRIPTOR: a finished row tile leaves through the copy engine too, clipped at
    out's edges, in place of a store by the threads, whose (pixels x filters) tile of
    64-bit addresses is most of the registers a 1 x 1 tile needs: as (filters, pixels)
    of an NCHW image or (pixels, filters) channels-last.

    EARLY: launched while the launch before it (the copy of x or of the filters to
    channels-last) was still running (`kernels._launch.early_launch`); every program
    waits for that launch to end, and its writes to be visible, before it reads."""
    if EARLY:
        gdc_wait()
    if PROGRAMS_PER_SM == 0:
        tma_conv_tile(tl.program_id(axis=0), x_desc, w_desc, out_ptr, out_desc, bias_ptr, N, K,
                      C, P, Q, pad_h, pad_w, dil_h, dil_w, stride_on, stride_oc, stride_op,
                      stride_oq, stride_bias, R, S, INPUT_PRECISION, UPCAST, INDEX_64, BLOCK_M,
                      BLOCK_N, BLOCK_K, GROUP_M, BOX_W, CHANNELS_FIRST,
                      OUT_DESCRIPTOR)  # fmt: skip
    else:
        rows = pixel_rows(N, P, Q, BLOCK_M, BOX_W, CHANNELS_FIRST)
        tiles = ((rows + BLOCK_M - 1) // BLOCK_M) * ((K + BLOCK_N - 1) // BLOCK_N)
        programs = tl.num_programs(axis=0)
        for tile in tl.range(tl.program_id(axis=0), tiles, programs, flatten=True):
            tma_conv_tile(tile, x_desc, w_desc, out_ptr, out_desc, bias_ptr, N, K, C, P, Q,
                          pad_h, pad_w, dil_h, dil_w, stride_on, stride_oc, stride_op,
                          stride_oq, stride_bias, R, S, INPUT_PRECISION, UPCAST, INDEX_64,
                          BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M, BOX_W, CHANNELS_FIRST,
                          OUT_DESCRIPTOR)  # fmt: skip


@triton.jit
def pixel_rows(N, P, Q, BLOCK_M: tl.constexpr, BOX_W: tl.constexpr, CHANNELS_FIRST: tl.constexpr):
    """The GEMM's rows: the output pixels, or BLOCK_M for every box (or image's tile)."""
    if BOX_W > 0:
        box_h: tl.constexpr = BLOCK_M // BOX_W
        rows = N * ((P + box_h - 1) // box_h) * ((Q + BOX_W - 1) // BOX_W) * BLOCK_M
    elif CHANNELS_FIRST:
        rows = N * ((P * Q + BLOCK_M - 1) // BLOCK_M) * BLOCK_M
    else:
        rows = N * P * Q
    return rows


@triton.jit
def tma_conv_tile(tile, x_desc, w_desc, out_ptr, out_desc, bias_ptr, N, K, C, P, Q, pad_h,
                  pad_w, dil_h, dil_w, stride_on, stride_oc, stride_op, stride_oq, stride_bias,
                  R: tl.constexpr, S: tl.constexpr, INPUT_PRECISION: tl.constexpr,
                  UPCAST: tl.constexpr, INDEX_64: tl.constexpr, BLOCK_M: tl.constexpr,
                  BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
                  BOX_W: tl.constexpr, CHANNELS_FIRST: tl.constexpr,
                  OUT_DESCRIPTOR: tl.constexpr):  # fmt: skip
    """Tile number `tile` of out (grouped order): its reduction over the taps and channel
    blocks on descriptor loads, then its epilogue."""
    pid_m, pid_n = grouped_tile(tile, pixel_rows(N, P, Q, BLOCK_M, BOX_W, CHANNELS_FIRST), K,
                                BLOCK_M, BLOCK_N, GROUP_M)  # fmt: skip
    col = pid_n * BLOCK_N
    offs_n = col + tl.arange(0, BLOCK_N)
    lanes = tl.arange(0, BLOCK_M)
    if INDEX_64:
        offs_n, lanes = offs_n.to(tl.int64), lanes.to(tl.int64)
    if BOX_W > 0:  # box number pid_m: image, then rows of boxes, then boxes along a row
        box_h: tl.constexpr = BLOCK_M // BOX_W
        boxes_w = (Q + BOX_W - 1) // BOX_W
        boxes = ((P + box_h - 1) // box_h) * boxes_w
        img = pid_m // boxes
        top = (pid_m % boxes) // boxes_w * box_h
        left = (pid_m % boxes) % boxes_w * BOX_W
        p = top + lanes // BOX_W
        q = left + lanes % BOX_W
        pixel_ok = (p < P) & (q < Q)
    elif CHANNELS_FIRST:  # the image's tile number pid_m % tiles
        tiles = (P * Q + BLOCK_M - 1) // BLOCK_M
        img = pid_m // tiles
        first = (pid_m % tiles) * BLOCK_M
        p = (first + lanes) // Q
        q = (first + lanes) % Q
        pixel_ok = first + lanes < P * Q
    else:
        row = pid_m * BLOCK_M
        img = (row + lanes) // (P * Q)
        p = ((row + lanes) % (P * Q)) // Q
        q = (row + lanes) % Q
        pixel_ok = row + lanes < N * P * Q

    channel_blocks = (C + BLOCK_K - 1) // BLOCK_K
    acc = tl.full((BLOCK_N, BLOCK_M), 0.0, tl.float32)  # out^T: filters x pixels
    for step in range(0, R * S * channel_blocks):
        tap = step // channel_blocks
        c = (step % channel_blocks) * BLOCK_K
        if BOX_W > 0:  # past x's edges (the padding) and past C: zeros
            up = (tap // S) * dil_h - pad_h
            right = (tap % S) * dil_w - pad_w
            block = x_desc.load([img, top + up, left + right, c])
            pixels_t = tl.reshape(block, (BLOCK_M, BLOCK_K)).T
        elif CHANNELS_FIRST:  # past the image's pixels and past C: zeros
            pixels_t = tl.reshape(x_desc.load([img, c, first]), (BLOCK_K, BLOCK_M))
        else:
            pixels_t = x_desc.load([row, c]).T
        filters = tl.reshape(w_desc.load([tap, col, c]), (BLOCK_N, BLOCK_K))
        if UPCAST:
            pixels_t = pixels_t.to(tl.float32)
            filters = filters.to(tl.float32)
        acc = tl.dot(filters, pixels_t, acc, input_precision=INPUT_PRECISION,
                     out_dtype=tl.float32)  # fmt: skip

    if OUT_DESCRIPTOR and out_desc is not None:  # out^T's tile, or out's, clipped
        if bias_ptr is not None:
            bias = tl.load(bias_ptr + offs_n * stride_bias, mask=offs_n < K, other=0.0)
            acc += bias.to(tl.float32)[:, None]
        tile_t = acc.to(out_desc.dtype)  # filters x pixels
        tl.static_assert(BOX_W == 0, "boxes are stored by the threads")
        if CHANNELS_FIRST:
            store_block(out_desc, img, col, first, tile_t, True)
        else:
            store_block(out_desc, 0, row, col, tile_t.T, False)
    else:
        store_pixels(acc.T, img * stride_on + p * stride_op + q * stride_oq, pixel_ok,
                     offs_n, offs_n < K, out_ptr, bias_ptr, stride_oc, stride_bias)  # fmt: skip


_TMA_KEY = ["N", "K", "C", "P", "Q", "R", "S", "stride_oc", "CHANNELS_FIRST", "INPUT_PRECISION"]
_TMA_PRUNE = {"early_config_prune": fitting_configs("out_ptr")}
conv2d_rows_kernel = autotune(ROWS_GPU_CONFIGS, _TMA_KEY, ROWS_INTERPRET_CONFIGS[0],
                              prune_configs_by=_TMA_PRUNE)(conv2d_tma_kernel)  # fmt: skip
conv2d_boxes_kernel = autotune(BOXES_GPU_CONFIGS, _TMA_KEY, BOXES_INTERPRET_CONFIGS[0],
                               prune_configs_by=_TMA_PRUNE)(conv2d_tma_kernel)  # fmt: skip


@autotune(
    GEMM_GPU_CONFIGS,
    key=["M", "N_COLS", "RED", "stride_xc", "INPUT_PRECISION"],
    interpret_config=GEMM_INTERPRET_CONFIGS[0],
    prune_configs_by={"early_config_prune": fitting_configs("x_ptr")},
)
@triton.jit
def conv2d_weight_grad_kernel(
    dy_ptr,  # dy (N, K, P, Q), any strides
    x_ptr,  # x (N, C, H, W), any strides
    dw_ptr,  # dweight (K, C / groups, R, S)
    M,  # rows: filters per group (K / groups)
    N_COLS,  # columns: the taps per filter, C / groups x R x S, channels fastest
    RED,  # the reduction: output pixels N x P x Q
    CG,  # input channels per group
    S,
    H, W, P, Q,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    stride_dyn, stride_dyk, stride_dyh, stride_dyw,
    stride_xn, stride_xc, stride_xh, stride_xw,
    stride_dwk, stride_dwc, stride_dwr, stride_dws,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
    INDEX_64: tl.constexpr,  # index arithmetic in int64: some offset may pass 2**31
    BLOCK_M: tl.constexpr,  # filters per program
    BLOCK_N: tl.constexpr,  # taps per program
    BLOCK_K: tl.constexpr,  # output pixels per step
):  # fmt: skip
    """dweight[g Kg + k, c, r, s] = sum over pixels (n, p, q) of dy[n, g Kg + k, p, q] x
    x[n, g Cg + c, p sh - ph + r dh, q sw - pw + s dw]: filters x taps, reduced over the
    output pixels; the input read through the forward's masks."""
    # Index arithmetic in int32 where every offset fits, as in conv2d_gemm_kernel.
    pid = tl.program_id(axis=0)
    group = tl.program_id(axis=1)
    if INDEX_64:
        pid, group = pid.to(tl.int64), group.to(tl.int64)
    num_pid_n = (N_COLS + BLOCK_N - 1) // BLOCK_N
    pid_m = pid // num_pid_n
    pid_n = pid % num_pid_n

    filters = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    taps = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    f_mask = filters < M
    t_mask = taps < N_COLS
    c = taps % CG
    rs = taps // CG
    r = tl.where(t_mask, rs // S, 0)  # taps past N_COLS: row 0, an offset in range
    s = rs % S
    dy_rows = dy_ptr + (group * M + filters) * stride_dyk
    x_cols = x_ptr + (group * CG + c) * stride_xc
    offs_k = tl.arange(0, BLOCK_K)
    if INDEX_64:
        offs_k = offs_k.to(tl.int64)

    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, tl.float32)
    for k0 in range(0, RED, BLOCK_K):
        pix = k0 + offs_k
        k_mask = pix < RED
        img = pix // (P * Q)
        p = (pix % (P * Q)) // Q
        q = pix % Q
        a_ptrs = dy_rows[:, None] + (img * stride_dyn + p * stride_dyh + q * stride_dyw)[None, :]
        a = tl.load(a_ptrs, mask=f_mask[:, None] & k_mask[None, :], other=0.0)
        ih = p[:, None] * stride_h - pad_h + r[None, :] * dil_h
        iw = q[:, None] * stride_w - pad_w + s[None, :] * dil_w
        # Padding: taps outside the input load 0.
        b_mask = k_mask[:, None] & t_mask[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        b_ptrs = x_cols[None, :] + (img * stride_xn)[:, None] + ih * stride_xh + iw * stride_xw
        b = tl.load(b_ptrs, mask=b_mask, other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=tl.float32)

    dw_ptrs = (
        dw_ptr
        + (group * M + filters)[:, None] * stride_dwk
        + (c * stride_dwc + r * stride_dwr + s * stride_dws)[None, :]
    )
    tl.store(dw_ptrs, acc.to(dw_ptr.dtype.element_ty), mask=f_mask[:, None] & t_mask[None, :])


# ------------------------------------------------------------------------------ launcher
def _integer(value: object) -> bool:
    """An integer as F.conv2d takes one (a NumPy integer too), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_pair(name: str, value: object, least: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least `least`, as Python ints."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    if len(items) not in (1, 2) or not all(_integer(v) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < least for v in items):
        raise ValueError(f"{name} must be at least {least}, got {value!r}")
    return pair(tuple(items) * (3 - len(items)))  # type: ignore[arg-type]


class Geometry:
    """A checked convolution problem: sizes, stride, padding (top, left) and dilation."""

    def __init__(self, x, weight, bias, stride, padding, dilation, groups) -> None:
        check_tensor("x", x)
        check_tensor("weight", weight)
        check_like("weight", weight, "x", x)
        if x.dim() != 4:
            raise ValueError(f"x must be 4-D (N, C, H, W) or 3-D, got shape {tuple(x.shape)}")
        if weight.dim() != 4:
            raise ValueError(
                f"weight must be 4-D (K, C / groups, R, S), got shape {tuple(weight.shape)}"
            )
        if not _integer(groups):
            raise TypeError(f"groups must be an int, got {groups!r}")
        groups = int(groups)
        if groups < 1:
            raise ValueError(f"groups must be at least 1, got {groups}")
        self.n, self.c, self.h, self.w = x.shape
        self.k, cg, self.r, self.s = weight.shape
        if self.c % groups or self.k % groups:
            raise ValueError(
                f"groups={groups} must divide x's {self.c} channels and weight's {self.k} filters"
            )
        if cg != self.c // groups:
            raise ValueError(
                f"weight must have C / groups = {self.c // groups} channels (dim 1) for x's "
                f"{self.c} channels in {groups} group(s), got shape {tuple(weight.shape)}"
            )
        if bias is not None:
            check_tensor("bias", bias)
            check_like("bias", bias, "x", x)
            check_shape("bias", bias, (self.k,), "(K,): one per filter")
        self.stride = _positive_pair("stride", stride, 1)
        self.dilation = _positive_pair("dilation", dilation, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"padding must be 'same', 'valid', an int or a pair, got {padding!r}"
                )
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as PyTorch), got {stride!r}")
        else:
            _positive_pair("padding", padding, 0)
        (top, bottom), (left, right) = paddings(padding, (self.r, self.s), self.dilation)
        self.pad = (top, left)
        self.groups, self.cg, self.kg = groups, self.c // groups, self.k // groups
        self.p = output_size(self.h, (top, bottom), self.r, self.stride[0], self.dilation[0])
        self.q = output_size(self.w, (left, right), self.s, self.stride[1], self.dilation[1])
        if self.p < 1 or self.q < 1:
            raise ValueError(
                f"weight's kernel {self.r}x{self.s} (dilation {self.dilation}) is larger than "
                f"x's padded input {self.h + top + bottom}x{self.w + left + right}"
            )

    @property
    def depthwise(self) -> bool:
        """Each input channel its own filters (a channel multiplier of K / C)."""
        return self.groups > 1 and self.groups == self.c

    def conv_args(self) -> tuple[int, ...]:
        return (*self.stride, *self.pad, *self.dilation)


def _like_input(x: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A new tensor of `shape` in x's memory format: channels-last where x is (as
    PyTorch's convolutions return), else contiguous."""
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(shape, dtype=dtype, device=x.device, memory_format=fmt)


def _dot_constants(x: torch.Tensor) -> dict:
    return {
        "INPUT_PRECISION": "tf32" if x.dtype == torch.float32 else None,
        "UPCAST": in_interpreter() and x.dtype != torch.float32,
    }


def _index_64(geo: Geometry, src: torch.Tensor, *others: torch.Tensor) -> bool:
    """INDEX_64 for a launch reading `src` through the convolution's taps: where some
    offset a tile forms may pass 2**31, and in the interpreter, which evaluates an
    overflow check (a device_assert it does not enforce) at every int32 add and
    multiply. A tap's row or column reaches a padding, a dilated kernel and a stride
    past the source's own extent: counted in."""
    if in_interpreter():
        return True
    (pad_h, pad_w), (dil_h, dil_w) = geo.pad, geo.dilation
    reach = (2 * pad_h + geo.r * dil_h, 2 * pad_w + geo.s * dil_w)
    n, c, h, w = src.shape
    views = [((n, c, h + reach[0], w + reach[1]), src.stride())]
    views += [(tuple(x.shape), x.stride()) for x in others]
    return not offsets_fit_int32(*views)


def _gemm(
    geo: Geometry,
    src: torch.Tensor,
    weight: torch.Tensor,
    out: torch.Tensor,
    bias: torch.Tensor | None,
    transposed: bool,
) -> None:
    """out = conv(src = x, weight) + bias, or (transposed) out = dx from src = dy."""
    cin_g, cout_g = (geo.kg, geo.cg) if transposed else (geo.cg, geo.kg)
    src_hw = src.shape[2:]
    out_h, out_w = out.shape[2:]
    m = out.shape[0] * out_h * out_w
    red = cin_g * geo.r * geo.s
    # Filters of a group are K / groups apart in weight's first dim; forward reads
    # w[k, c] with c along the source's channels, transposed w[k, c] with k along them.
    stride_wi, stride_wo = weight.stride(0), weight.stride(1)
    if not transposed:
        stride_wi, stride_wo = stride_wo, stride_wi
    grid = lambda meta: checked_grid(
        (cdiv(m, meta["BLOCK_M"]) * cdiv(cout_g, meta["BLOCK_N"]), geo.groups), "x"
    )
    args = (
        src, weight, out, bias, m, cout_g, red, cin_g, *src_hw, out_h, out_w, geo.r, geo.s,
        *geo.conv_args(), *src.stride(), geo.kg * weight.stride(0), stride_wi, stride_wo,
        weight.stride(2), weight.stride(3), *out.stride(),
        bias.stride(0) if bias is not None else 0,
    )  # fmt: skip
    constants = {
        "TRANSPOSED": transposed, "INDEX_64": _index_64(geo, src, weight, out),
        **_dot_constants(src),
    }  # fmt: skip
    fit = lambda config: fitted(config, src.element_size())
    _plans.launch("conv2d", conv2d_gemm_kernel, GEMM_CONFIGS, grid, args, constants, fit)


def _kernel_copies(x: torch.Tensor) -> bool:
    """Whether `_channels_last(x)` is a copy by `channels_last_kernel`: x (N, C, H, W) is
    not channels-last already, its pixels are one run per channel, as NCHW's, an image's
    offsets fit int32 (the image's own are int64), and its images fit the grid's third
    axis."""
    n, c, h, w = x.shape
    if x.permute(0, 2, 3, 1).is_contiguous() or n > MAX_GRID[2]:
        return False
    one_run = x.stride(3) * w == x.stride(2) or h == 1
    return one_run and offsets_fit_int32(((c, h * w), (x.stride(1), x.stride(3))),
                                         ((h * w, c), (c, 1)))  # fmt: skip


def _copy_args(x: torch.Tensor) -> tuple:
    """The copy kernel's arguments for an x it copies (`_kernel_copies`): x, its copy (a
    new temporary, `note_temporary`), C, the pixels, the strides."""
    n, c, h, w = x.shape
    out = note_temporary(torch.empty((n, h, w, c), dtype=x.dtype, device=x.device))
    return x, out, c, h * w, x.stride(0), x.stride(1), x.stride(3), out.stride(0), c


def _tile(pixels: int) -> tuple[int, int, int]:
    """The copy's tile (channels, pixels, warps) for images of `pixels` pixels."""
    return CHANNELS_LAST_BLOCK if pixels > 16 else FEW_PIXELS_BLOCK


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W)'s pixels as a new channels-last (N, H, W, C) tensor: a view where x
    is channels-last, else a copy by `channels_last_kernel` (`_kernel_copies`; the
    images on the grid's third axis) or by PyTorch, whose copy is not replayed. Filters
    (K, C, R, S) are copied the same way, to (K, R, S, C)."""
    pixels = x.permute(0, 2, 3, 1)
    if pixels.is_contiguous():
        return pixels
    if not _kernel_copies(x):  # PyTorch's copy
        return pixels.contiguous()
    args = _copy_args(x)
    block_c, block_p, warps = _tile(args[3])
    grid = (cdiv(args[3], block_p), cdiv(args[2], block_c), x.shape[0])
    launch_resolved(channels_last_kernel, checked_grid(grid, "x"), args,
                    {"BLOCK_C": block_c, "BLOCK_P": block_p, "num_warps": warps})  # fmt: skip
    return args[1]


def _channels_last_pair(x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(`_channels_last(x)`, `_channels_last(weight)`): where both are copies the kernel
    makes and PAIRED_COPIES is on, one launch of `channels_last_pair_kernel` makes both."""
    if not (PAIRED_COPIES and _kernel_copies(x) and _kernel_copies(weight)):
        return _channels_last(x), _channels_last(weight)
    x_args, w_args = _copy_args(x), _copy_args(weight)
    (block_c, block_p, warps), (few_c, few_p, _) = _tile(x_args[3]), _tile(w_args[3])
    x_tiles = x.shape[0] * cdiv(x_args[2], block_c) * cdiv(x_args[3], block_p)
    w_tiles = weight.shape[0] * cdiv(w_args[2], few_c) * cdiv(w_args[3], few_p)
    meta = {"BLOCK_C": block_c, "BLOCK_P": block_p, "FEW_C": few_c, "FEW_P": few_p,
            "num_warps": warps}  # fmt: skip
    launch_resolved(channels_last_pair_kernel, checked_grid((x_tiles + w_tiles,), "x"),
                    (*x_args, x_tiles, *w_args), meta)  # fmt: skip
    return x_args[1], w_args[1]


CHANNELS_LAST_BLOCK = (64, 64, 4)
"""`channels_last_kernel`'s tile, (channels, pixels, warps): it copies an NCHW image at a
clone's speed (benchmarks/conv2d_tuning.md#channels_last_block)."""
PAIRED_COPIES = True
"""Whether an NCHW x and (K, C, R, S) filters are copied to channels-last in one launch
(`channels_last_pair_kernel`) instead of two: the filters' own launch cost more than
their copy (benchmarks/conv2d_tuning.md#paired_copies)."""
FEW_PIXELS_BLOCK = (64, 16, 4)
"""The tile for 16 pixels or fewer: a 3 x 3 convolution's filters, (K, C, 3, 3), whose 9
taps would leave 55 of the 64-pixel tile's pixels masked
(benchmarks/conv2d_tuning.md#few_pixels_block)."""


EARLY_AFTER_COPIES = True
"""Whether the TMA kernel is launched early (`kernels._launch.early_launch`) after this
call's own copy of x or the filters (benchmarks/conv2d_tuning.md, "Launched early")."""

TMA_BY_DEFAULT = True
"""Whether a convolution the TMA designs can run (`_tma`) takes one unforced, on a GPU,
with 16-bit operands: rows for a 1 x 1 convolution without padding, boxes otherwise.
Faster than the implicit GEMM on every shape timed, in both formats
(benchmarks/conv2d_tuning.md#tma_by_default)."""


def _tma(geo: Geometry, src, weight, out, bias, transposed: bool = False) -> bool:
    """out = conv(src = x, weight) + bias, or (transposed) out = dx from src = dy, on
    `conv2d_tma_kernel` where it applies: stride 1, one group, the source's pixels and
    the filters readable by the copy engine as channels-last tensors (an NCHW source is
    copied to channels-last first, the filters always are where they are not already;
    out keeps its own format); rows only for a 1 x 1 convolution without padding.
    Forced (a boxes or rows config), or unforced (TMA_BY_DEFAULT). False: it did not run.

    dx of a stride-1 convolution is a stride-1 convolution of dy: dx[h] sums dy[h + ph -
    r dh] w[r] over the taps, i.e. dy padded by dh (R - 1) - ph (top) against the
    filters flipped, with the roles of C and K exchanged."""
    design, table = _plans.forced("conv2d")
    (top, left), (dil_h, dil_w) = geo.pad, geo.dilation
    if transposed:
        pad = (dil_h * (geo.r - 1) - top, dil_w * (geo.s - 1) - left)
        cin, cout = geo.k, geo.c
    else:
        pad, cin, cout = (top, left), geo.c, geo.k
    n, src_h, src_w, (out_h, out_w) = geo.n, *src.shape[2:], out.shape[2:]
    pointwise = (geo.r, geo.s, pad) == (1, 1, (0, 0))
    if design is None:
        unforced = TMA_BY_DEFAULT and table == "gpu" and src.element_size() == 2
        if not (unforced and copy_engine(src.device)):
            return False
        rows = pointwise
    elif design in BOXES_CONFIGS[table] or design in ROWS_CONFIGS[table]:
        rows = design in ROWS_CONFIGS[table]
    else:
        return False
    if geo.stride != (1, 1) or geo.groups != 1 or (rows and not pointwise):
        return False
    # The copy engine's coordinates and the kernel's row counts are int32; its rows of
    # channels start 16-byte aligned.
    if n * (out_h + 256) * (out_w + 256) >= 2**31 or cin * src.element_size() % 16:
        return False
    # NCHW rows read the source as it lies; the rest reads channels-last pixels
    channels_first = rows and src.is_contiguous() and src_h * src_w * src.element_size() % 16 == 0
    if channels_first:
        pixels = src.view(n, cin, src_h * src_w)
    elif rows:
        pixels = _channels_last(src).view(n * src_h * src_w, cin)
    elif not transposed:  # (N, H, W, C) and (K, R, S, C) filters, maybe in one launch
        pixels, filters = _channels_last_pair(src, weight)
    else:
        pixels = _channels_last(src)
    if transposed:  # (C, R, S, K): the filters flipped, K the source's channels
        filters = weight.flip((2, 3)).permute(1, 2, 3, 0).contiguous()
    elif channels_first or rows:  # (K, R, S, C): channels-last filters
        filters = _channels_last(weight)
    taps = filters.view(cout, geo.r * geo.s, cin).permute(1, 0, 2)  # (R S, filters, channels)
    if not (tma_readable(pixels) and tma_readable(taps)):
        return False
    # Blocks of 1 for now: the config's pre-hook sets them (`_tma_blocks`).
    x_desc, w_desc = descriptor(pixels, [1] * pixels.dim()), descriptor(taps, (1, 1, 1))
    out_desc = _out_descriptor(out, channels_first) if rows else None

    def tiles(meta: dict) -> int:
        bm, box_w = meta["BLOCK_M"], meta["BOX_W"]
        if box_w > 0:
            pixel_tiles = n * cdiv(out_h, bm // box_w) * cdiv(out_w, box_w)
        elif channels_first:
            pixel_tiles = n * cdiv(out_h * out_w, bm)
        else:
            pixel_tiles = cdiv(n * out_h * out_w, bm)
        return pixel_tiles * cdiv(cout, meta["BLOCK_N"])

    machine = multiprocessors(src.device)
    grid = lambda meta: checked_grid(
        (min(tiles(meta), meta["PROGRAMS_PER_SM"] * machine) if meta["PROGRAMS_PER_SM"]
         else tiles(meta),), "x",
    )  # fmt: skip
    args = (
        x_desc, w_desc, out, out_desc, bias, n, cout, cin, out_h, out_w, *pad, dil_h, dil_w,
        *out.stride(), bias.stride(0) if bias is not None else 0,
    )  # fmt: skip
    # Launched early where this call copied x or the filters just before (a new tensor):
    # on the copy engine's GPUs, so where the copy engine runs unforced.
    early = (
        EARLY_AFTER_COPIES
        and early_launch(src.device)
        and (pixels.data_ptr() != src.data_ptr() or filters.data_ptr() != weight.data_ptr())
    )
    constants = {
        "R": geo.r, "S": geo.s, "INDEX_64": _index_64(geo, out), **_dot_constants(src),
        "CHANNELS_FIRST": channels_first, "EARLY": early,
        **({"launch_pdl": True} if early else {}),
    }  # fmt: skip
    kernel, configs = (
        (conv2d_rows_kernel, ROWS_CONFIGS) if rows else (conv2d_boxes_kernel, BOXES_CONFIGS)
    )
    fit = lambda config: fitted(config, src.element_size())
    _plans.launch("conv2d", kernel, configs, grid, args, constants, fit)
    return True


def _out_descriptor(out: torch.Tensor, nchw: bool) -> TensorDescriptor | None:
    """out as the copy engine can write row tiles (blocks of 1 until `_tma_blocks`): an
    NCHW image's (filters, pixels) matrix, or the channels-last (pixels, filters) one.
    None where out lies otherwise, or the engine cannot reach it through its strides."""
    n, k, h, w = out.shape
    if nchw and out.is_contiguous():
        target = out.view(n, k, h * w)
    elif not nchw and out.permute(0, 2, 3, 1).is_contiguous():
        target = out.permute(0, 2, 3, 1).view(n * h * w, k)
    else:
        return None
    return descriptor(target, [1] * target.dim()) if tma_readable(target) else None


def _pointwise(geo: Geometry, x, weight, bias) -> torch.Tensor | None:
    """A 1 x 1, stride 1, unpadded, ungrouped convolution as one GEMM of kernels/matmul.py,
    in x's memory format, if forced (`POINTWISE_CONFIGS`) and x's pixels are one run:
    channels-last, out (N H W, K) = x (N H W, C) @ w^T (C, K) + bias; NCHW without a
    bias, out[n] (K, H W) = w (K, C) @ x[n] (C, H W) (a GEMM's bias is per column: added
    after, it would round the sum twice in x's dtype). None: another design runs."""
    design, table = _plans.forced("conv2d")
    if design not in POINTWISE_CONFIGS[table]:
        return None
    one_by_one = (geo.r, geo.s, geo.stride, geo.pad, geo.groups) == (1, 1, (1, 1), (0, 0), 1)
    if not one_by_one:
        return None
    n, k, h, w = geo.n, geo.k, geo.h, geo.w
    filters = weight[:, :, 0, 0]  # (K, C), read through its strides
    pixels_last = x.permute(0, 2, 3, 1)
    if not x.is_contiguous() and pixels_last.is_contiguous():  # channels-last
        out = matmul(pixels_last.reshape(n * h * w, geo.c), filters.T, bias)
        out = out.view(n, h, w, k).permute(0, 3, 1, 2)
    elif x.is_contiguous() and bias is None:
        out = matmul(filters, x.view(n, geo.c, h * w)).view(n, k, h, w)
    else:
        return None
    _plans.launched("conv2d", design, table)
    return out


def run_forward(geo: Geometry, x, weight, bias) -> torch.Tensor:
    """The forward on a checked problem: the depthwise kernel or the implicit GEMM (or,
    forced, a 1 x 1 convolution as a matmul)."""
    out = _like_input(x, (geo.n, geo.k, geo.p, geo.q), x.dtype)
    if out.numel() == 0:
        return out
    pointwise = _pointwise(geo, x, weight, bias) if geo.cg > 0 else None
    if pointwise is not None:
        return pointwise
    if geo.cg == 0:  # no input channels: the bias alone
        out.copy_((bias if bias is not None else torch.zeros_like(out[0, :, 0, 0]))[:, None, None])
    elif geo.depthwise:
        depthwise(geo, x, weight, out, bias, _index_64(geo, x, weight, out))
    elif not _tma(geo, x, weight, out, bias):
        _gemm(geo, x, weight, out, bias, transposed=False)
    return out


@replayed(
    context=lambda: (
        _plans.forced_name(),
        TMA_BY_DEFAULT,
        CHANNELS_LAST_BLOCK,
        FEW_PIXELS_BLOCK,
        PAIRED_COPIES,
        EARLY_AFTER_COPIES,
    )
)
def _forward(x, weight, bias, stride, padding, dilation, groups) -> torch.Tensor:
    """The forward's launcher: checks, plan, launches. Replayed for a signature launched
    before (`kernels._launch.replayed`): its launches sent again, x and the filters copied
    to channels-last by `channels_last_kernel` into temporaries of the replay's own (a
    copy by PyTorch, where that kernel cannot, is not replayed). Planned in full, a call
    costs the host several times its device time (benchmarks/conv2d_tuning.md#_forward)."""
    geo = Geometry(x, weight, bias, stride, padding, dilation, groups)
    return run_forward(geo, x, weight, bias)


def unbatched(fn):
    """fn(x, ...) for a 3-D (C, H, W) x as for a batch of one, as F.conv2d does."""

    def run(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if isinstance(x, torch.Tensor) and x.dim() == 3:
            return fn(x[None], weight, bias, stride, padding, dilation, groups)[0]
        return fn(x, weight, bias, stride, padding, dilation, groups)

    return run


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """torch.nn.functional.conv2d on the Triton kernels (module docstring): x (N, C, H, W)
    or (C, H, W), weight (K, C / groups, R, S), bias (K,) or None. A new tensor in x's
    dtype and memory format."""
    return unbatched(_forward)(x, weight, bias, stride, padding, dilation, groups)


# ------------------------------------------------------------------------------ autograd
def _input_grad(geo: Geometry, dy: torch.Tensor, weight: torch.Tensor, x: torch.Tensor):
    dx = _like_input(x, tuple(x.shape), x.dtype)
    if dx.numel() == 0:
        return dx
    if geo.kg == 0 or dy.numel() == 0:
        return dx.zero_()
    if not _tma(geo, dy, weight, dx, None, transposed=True):
        _gemm(geo, dy, weight, dx, None, transposed=True)
    return dx


def _weight_grad(geo: Geometry, dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor):
    dw = torch.empty(weight.shape, dtype=weight.dtype, device=weight.device)
    if dw.numel() == 0:
        return dw
    red = geo.n * geo.p * geo.q
    if red == 0:
        return dw.zero_()
    taps = geo.cg * geo.r * geo.s
    grid = lambda meta: checked_grid(
        (cdiv(geo.kg, meta["BLOCK_M"]) * cdiv(taps, meta["BLOCK_N"]), geo.groups), "weight"
    )
    args = (
        dy, x, dw, geo.kg, taps, red, geo.cg, geo.s, geo.h, geo.w, geo.p, geo.q,
        *geo.conv_args(), *dy.stride(), *x.stride(), *dw.stride(),
    )  # fmt: skip
    constants = {"INDEX_64": _index_64(geo, x, dy, dw), **_dot_constants(x)}
    fit = lambda config: fitted(config, x.element_size())
    _plans.launch("conv2d", conv2d_weight_grad_kernel, GEMM_CONFIGS, grid, args, constants, fit)
    return dw


@_plans.carried_to_backward
class Conv2dFunction(torch.autograd.Function):
    """`conv2d` with its backward: dx by the TMA designs where the forward could take
    them (stride 1, one group: a convolution of dy, `_tma`), else by the transposed
    implicit GEMM (the forward's kernel, TRANSPOSED); dweight by its own implicit GEMM
    over the output pixels, dbias the sum of dy over (N, P, Q) accumulated in float32;
    each rounded once to the dtype."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        out = _forward(x, weight, bias, stride, padding, dilation, groups)
        ctx.save_for_backward(x, weight)
        ctx.conv, ctx.has_bias = (stride, padding, dilation, groups), bias is not None
        return out

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        geo = Geometry(x, weight, None, *ctx.conv)  # checked in the forward: it passes
        dx = dweight = dbias = None
        if ctx.needs_input_grad[0]:
            dx = _input_grad(geo, dy, weight, x)
        if ctx.needs_input_grad[1]:
            dweight = _weight_grad(geo, dy, x, weight)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            dbias = torch.sum(dy, dim=(0, 2, 3), dtype=torch.float32).to(dy.dtype)
        return dx, dweight, dbias, None, None, None, None


def conv2d_autograd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """`conv2d`, differentiable in x, weight and bias (`Conv2dFunction`)."""
    return unbatched(Conv2dFunction.apply)(x, weight, bias, stride, padding, dilation, groups)


class TritonConv2d(torch.nn.Module):
    """torch.nn.Conv2d on these kernels: the same constructor, parameters and state dict
    (`weight`, `bias`), so `load_state_dict(conv.state_dict())` moves an nn.Conv2d's
    weights in and out. Only padding_mode="zeros"."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair | str = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode must be 'zeros', got {padding_mode!r}")
        # nn.Conv2d's own initialisation, then its parameters taken over.
        reference = torch.nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            device=device, dtype=dtype,
        )  # fmt: skip
        self.weight = reference.weight
        self.bias = reference.bias
        self.stride, self.padding = reference.stride, reference.padding
        self.dilation, self.groups = reference.dilation, groups

    @classmethod
    def from_torch(cls, conv: torch.nn.Conv2d) -> TritonConv2d:
        """A TritonConv2d with `conv`'s configuration and a copy of its weights."""
        module = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode,
            device=conv.weight.device, dtype=conv.weight.dtype,
        )  # fmt: skip
        module.load_state_dict(conv.state_dict())
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d_autograd(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )
