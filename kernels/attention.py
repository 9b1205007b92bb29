"""attention: O = softmax(Q K^T scale + mask) V, flash-attention style, forward and backward.

Q is (batch, heads, Lq, D), K and V (batch, kv_heads, Lk, D) with heads a multiple of
kv_heads (grouped-query attention: Q head h reads K/V head h // (heads / kv_heads)); D
(head_dim) is 16, 32, 64 or 128; Lq and Lk are any lengths, equal or not. `causal` is
PyTorch's `is_causal`: top-left aligned, query i sees keys 0..i. Every input is read
through its strides; O comes back in the inputs' dtype, contiguous.

The GPU ideas, in the order they appear:

1. The score matrix never exists. A program owns BLOCK_M query rows (`attention_forward_
   kernel`) and walks K and V in blocks of BLOCK_N keys (`_attend_key_blocks`): for each
   block it forms the BLOCK_M x BLOCK_N scores S = Q K^T on chip, folds them into its
   running output, and drops them. Memory traffic is Q, K, V and O, not Lq x Lk.
2. Online softmax. Softmax needs the row max (for exp not to overflow) and the row sum,
   both over all keys, before any probability is known. The program keeps, per row, the
   running max m, the running sum l of exp(s - m) and the unnormalized output
   acc = sum_j exp(s_j - m) v_j. When a new block raises the max to m', everything
   accumulated so far was scaled by exp(-m) where it should be exp(-m'): both l and acc
   are multiplied by alpha = exp(m - m') (`alpha` in `_attend_key_blocks`) before the
   block's own terms are added. After the last block, O = acc / l. Exponentials are exp2
   of scores pre-multiplied by scale log2(e) (one multiply fewer per score; exp2 is what
   the GPU computes).
3. The log-sum-exp is all the backward needs. The forward stores, per row, LSE = m + log l
   (float32, natural log). Then any probability can be recomputed exactly as the forward
   had it, P_ij = exp(s_ij - LSE_i), from Q and K alone: no (Lq, Lk) matrix is saved. The
   backward (`_dkdv_query_blocks`, `_dq_key_blocks`) recomputes S and P block by block:

       dV = P^T dO,  dP = dO V^T,  dS = P (dP - delta),  dQ = scale dS K,  dK = scale dS^T Q

   with delta_i = sum_j P_ij dP_ij = rowsum(dO_i * O_i), computed first by a small
   preprocessing kernel (`attention_delta_kernel`) so that dS needs no second pass over
   the keys. dK and dV are owned by a program per key block (looping over the query
   blocks and over the group's Q heads, so GQA needs no atomics), dQ by a program per
   query block (looping over the key blocks): every gradient is written once.
4. Causal block skipping. With the causal mask, query block [m0, m0 + BLOCK_M) sees no
   key past m0 + BLOCK_M - 1: the key loop stops there (`_key_ranges`), halving the
   work. Key blocks entirely left of the diagonal (every key <= m0) need no mask; only
   the blocks the diagonal crosses pay for the comparison (`ON_DIAGONAL`; in the forward
   `MASKED`, with the tail past Lk). The dK/dV kernel mirrors it over query blocks
   (`_query_ranges`). Program order: the last query blocks have the most keys to walk,
   so the causal forward and dQ kernels launch them first (`pid_m` reversed): the long
   programs start early and short ones fill the tail of the launch. (The dK/dV kernel's
   first key blocks are its longest: seen by the most query blocks.)
5. Masked tails. Lq and Lk need no multiple of anything: rows past Lq load 0 and are not
   stored; keys past Lk load 0 and get score -inf (exp2 gives 0: no weight), never
   reaching the sums. The forward walks the key blocks that need no mask (wholly inside
   Lk, left of the diagonal) in a loop of their own (`MASKED` false): no load masks, no
   -inf select, and the scale fused into exp2's subtraction (a multiply-add an element,
   the row max taken on the unscaled scores; measured:
   benchmarks/attention_tuning.md#masked). The backward's loops do the same (`MASKED` in
   `_dkdv_query_blocks`, `_dq_key_blocks`): the query blocks wholly inside Lq, for a key
   block wholly inside Lk, and the key blocks wholly inside Lk left of the diagonal, each
   without masks. No row is ever fully masked (row i always sees key 0 when Lk >= 1), so
   m is finite after the first block and exp2(-inf - m) is a clean 0. Lk = 0 is handled
   by the launcher: O = 0 (the empty sum, as PyTorch's SDPA gives it).
6. Tensor descriptors (TMA=True, Hopper). Q, K and V are described once on the host as
   4-D tensors (`_descriptors`); a block is then one head's rows [start, start + rows),
   which the copy engine moves into shared memory without the threads' address
   arithmetic, with zeros past Lq or Lk (`_block`): no load masks, and the -inf of the
   scores past Lk stays. It needs the last dim contiguous and the other strides 16-byte
   aligned (`tma_readable`); other inputs take the pointer loads. It is the default
   (TMA_BY_DEFAULT) for 16-bit inputs with more than TMA_MIN_WORK visible scores, forward
   and backward (Q and dO blocks in the dK/dV kernel's loop, K and V in the dQ kernel's;
   measured: benchmarks/attention_tuning.md#tma_by_default).

Precision: S and every sum are float32. P (and dS in the backward) is rounded to the
inputs' dtype before its tl.dot with V (K, Q): 16-bit tensor-core operands on a GPU, one
rounding of the dtype per probability, which the error model declares (`operands`).
float32 dots are exact (`DOT_PRECISION` "ieee"), as PyTorch's SDPA is in float32: a GPU's
default for a float32 tl.dot truncates its operands to tf32, which puts the log-sum-exp
far past its float32 bound (benchmarks/attention_tuning.md#dot_precision). In Triton's
interpreter, arithmetic and tl.dot on bfloat16 are wrong: there the kernels upcast 16-bit
tiles to float32 after loading (`UPCAST`), and P and dS are rounded to the dtype and
upcast again, so the interpreter computes what the GPU does.

Configs: `GPU_CONFIGS`, autotuned per (Lq, Lk, D, causal) through `harness.autotune` on
a GPU; `INTERPRET_CONFIGS` for the interpreter (blocks of 32, and 16: several key blocks,
rescales and diagonal blocks on the small cases tests draw). Each is named
`attention/<BMxBN-wW-sS>/<gpu|interpret>` for `kernels._plans`. The backward kernels
launch with the forced config if one is forced, else with a config each from
`BACKWARD_CONFIGS` (by mode, dtype and head_dim: `backward_table`; measured:
benchmarks/attention_tuning.md#backward_configs).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from harness.autotune import autotune, with_config
from harness.parity import in_interpreter
from kernels import _plans
from kernels._checks import check_like, check_real, check_tensor
from kernels._launch import (
    cdiv,
    checked_grid,
    copy_engine,
    descriptor,
    fast,
    launch_resolved,
    note_temporary,
    replayed,
    tma_readable,
)

HEAD_DIMS = (16, 32, 64, 128)
LOG2E: tl.constexpr = tl.constexpr(math.log2(math.e))
LN2: tl.constexpr = tl.constexpr(math.log(2.0))


def _config(bm: int, bn: int, warps: int, stages: int) -> triton.Config:
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=warps, num_stages=stages)


# A set in the spirit of Triton's fused-attention tutorial (06). Shared memory is about
# stages x BLOCK_N x D x 2 tiles, plus Q's: each config fits sm_90's 227 KB at D = 128 in
# float32 (hence 128 x 64 on 2 stages).
# Measured: benchmarks/attention_tuning.md#gpu_configs
GPU_CONFIGS = (
    _config(128, 64, 8, 2),
    _config(128, 32, 4, 3),
    _config(64, 64, 4, 3),
    _config(64, 32, 4, 2),
)
# In the interpreter each operation of a key step costs the same whatever the tile, so
# small tiles are slow: blocks of 32 by default, so that drawn cases of a hundred keys
# still walk several blocks, rescale and cross the diagonal; blocks of 16 (the smallest
# tl.dot a GPU compiles) as the second config.
# Measured: benchmarks/attention_tuning.md#interpret_configs
INTERPRET_CONFIGS = (
    _config(32, 32, 4, 1),
    _config(16, 16, 4, 1),
)


class _ConfigTable(dict):
    """A dict that counts the assignments to its items (a tuning script's, as
    benchmarks/vendor.py's sweep makes them), so that a replay's context can tell them
    without hashing configs (a microsecond each)."""

    changes = 0

    def __setitem__(self, key: str, value: tuple) -> None:
        super().__setitem__(key, value)
        self.changes += 1


# The backward's configs, (dK/dV kernel's, dQ kernel's). In the dK/dV kernel BLOCK_N is
# the key block a program owns and BLOCK_M its step over queries; in the dQ kernel the
# other way round. At D = 128 a third stage of 64 x 64 keys slows the dK/dV kernel (shared
# memory); float32 keeps 64 x 32 blocks (twice the bytes a tile).
# Measured: benchmarks/attention_tuning.md#backward_configs
BACKWARD_CONFIGS = _ConfigTable({
    "gpu": (_config(64, 64, 4, 3), _config(64, 64, 4, 2)),
    "gpu-d128": (_config(64, 64, 4, 2), _config(128, 64, 8, 3)),
    "gpu-float32": (_config(64, 32, 4, 2), _config(64, 32, 4, 2)),
    "interpret": (INTERPRET_CONFIGS[0], INTERPRET_CONFIGS[0]),
})  # fmt: skip


def backward_table(table: str, q: torch.Tensor) -> str:
    """Which of BACKWARD_CONFIGS a backward on q in mode `table` launches with."""
    if table != "gpu":
        return table
    if q.dtype == torch.float32:
        return "gpu-float32"
    return "gpu-d128" if q.shape[-1] > 64 else "gpu"


def config_name(config: triton.Config) -> str:
    k = config.kwargs
    design = "tma-" if k.get("TMA") else ""
    return f"{design}{k['BLOCK_M']}x{k['BLOCK_N']}-w{config.num_warps}-s{config.num_stages}"


def _tma_config(bm: int, bn: int, warps: int, stages: int) -> triton.Config:
    config = _config(bm, bn, warps, stages)
    config.kwargs["TMA"] = True
    return config


# The forward with its Q, K and V blocks read through tensor descriptors (Hopper's copy
# engine; module docstring, 6), forced by name (the config axis, `benchmarks/vendor.py
# attention-tma`) or run by default (TMA_BY_DEFAULT: the first).
# Measured: benchmarks/attention_tuning.md#tma_gpu_configs
TMA_GPU_CONFIGS = (_tma_config(128, 64, 8, 3), _tma_config(64, 64, 4, 3))
TMA_INTERPRET_CONFIGS = (_tma_config(32, 32, 4, 1),)
TMA_BY_DEFAULT = True
"""Whether the forward (TMA_GPU_CONFIGS[0]) and the backward (its own blocks) read through
descriptors unforced: on a GPU, 16-bit inputs TMA can read, more than TMA_MIN_WORK
visible scores. Measured: benchmarks/attention_tuning.md#tma_by_default."""
# Below it the pointer kernel is the faster: benchmarks/attention_tuning.md#tma_min_work
TMA_MIN_WORK = 2**28  # batch x heads x Lq x Lk, halved if causal: 2 x 16 x 4096^2 causal


def _by_name(*configs: triton.Config) -> dict[str, triton.Config]:
    return {config_name(c): c for c in configs}


CONFIGS = {
    "gpu": _by_name(*GPU_CONFIGS, *TMA_GPU_CONFIGS),
    "interpret": _by_name(*INTERPRET_CONFIGS, *TMA_INTERPRET_CONFIGS),
}
CONFIG_NAMES = tuple(f"attention/{name}/{table}" for table in CONFIGS for name in CONFIGS[table])
"""Every forward config a launch can run (`kernels._plans` names)."""


# ------------------------------------------------------------------------------ rounding
@triton.jit
def _as_operand(x, like_ptr, UPCAST: tl.constexpr):
    """float32 x rounded to the dtype of `like_ptr`'s elements, as tl.dot takes it: in
    that dtype on a GPU (16-bit: the tensor cores' operands); in the interpreter (UPCAST)
    a float32 holding the rounded value. bfloat16 is rounded there by its bits (to
    nearest even): the interpreter's own conversion truncates, and garbles subnormals."""
    dtype = like_ptr.dtype.element_ty
    if UPCAST:
        if dtype == tl.bfloat16:
            bits = x.to(tl.int32, bitcast=True)
            rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & -65536).to(tl.float32, bitcast=True)
        else:
            rounded = x.to(dtype).to(tl.float32)
    else:
        rounded = x.to(dtype)
    return rounded


@triton.jit
def _for_store(x, out_ptr, UPCAST: tl.constexpr):
    """float32 x in `out_ptr`'s dtype, rounded to nearest: bfloat16 by its bits in the
    interpreter (see `_as_operand`), so that tiny gradients (bfloat16 subnormals) store
    right there too."""
    dtype = out_ptr.dtype.element_ty
    stored = x.to(dtype)
    if UPCAST:
        if dtype == tl.bfloat16:
            bits = x.to(tl.int32, bitcast=True)
            rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
            stored = rounded.to(tl.int16).to(dtype, bitcast=True)
    return stored


# ------------------------------------------------------------------------------- ranges
@triton.jit
def _key_ranges(start_m, k_len, CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr,
                BLOCK_N: tl.constexpr):  # fmt: skip
    """(free_end, end) for the query block starting at row start_m: key blocks in
    [0, free_end) need no causal mask, those in [free_end, end) are crossed by the
    diagonal, keys from `end` on are hidden from every row of the block (skipped)."""
    if CAUSAL:
        # A block [n, n + BLOCK_N) is left of the diagonal for every row iff its last key
        # n + BLOCK_N - 1 <= start_m.
        free_end = min((start_m + 1) // BLOCK_N * BLOCK_N, k_len)
        end = min(start_m + BLOCK_M, k_len)
    else:
        free_end = k_len
        end = k_len
    return free_end, end


@triton.jit
def _query_ranges(start_n, q_len, CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr,
                  BLOCK_N: tl.constexpr):  # fmt: skip
    """(start, free_start) for the key block starting at key start_n: query blocks before
    `start` see none of its keys (skipped), those in [start, free_start) are crossed by
    the diagonal, those from free_start on see all of them."""
    if CAUSAL:
        start = start_n // BLOCK_M * BLOCK_M  # the block holding row start_n
        # Row r sees every key of the block iff r >= start_n + BLOCK_N - 1.
        free_start = min((start_n + BLOCK_N - 1 + BLOCK_M - 1) // BLOCK_M * BLOCK_M, q_len)
    else:
        start = 0
        free_start = 0
    return start, free_start


# ------------------------------------------------------------------------------ forward
@triton.jit
def _block(desc, batch, head, start, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr):
    """Rows [start, start + ROWS) of head (batch, head) of a (batch, heads, L, D) tensor
    descriptor, as a (ROWS, D) block; rows past L come back as zeros."""
    block = desc.load([batch.to(tl.int32), head.to(tl.int32), start, 0])
    return block.reshape(ROWS, HEAD_DIM)


@triton.jit
def _attend_key_blocks(
    acc, m_i, l_i,  # running output (BLOCK_M, D), max and sum (BLOCK_M,), float32
    q,  # the query block (BLOCK_M, D)
    k_base, v_base,  # K and V of this (batch, kv head)
    k_desc, v_desc, batch, kv_head,  # K and V as descriptors (TMA), and which of their heads
    offs_m, offs_d,  # the block's query rows, and 0..D-1
    key_start, key_end,  # the key blocks to walk
    k_len, stride_kn, stride_kd, stride_vn, stride_vd,
    qk_scale,  # scale * log2(e): scores in base 2
    BLOCK_N: tl.constexpr,
    MASKED: tl.constexpr,  # mask keys past Lk and, if CAUSAL, right of the diagonal
    CAUSAL: tl.constexpr,
    NEGATIVE_SCALE: tl.constexpr,  # qk_scale < 0: the largest scaled score is the smallest
    UPCAST: tl.constexpr,
    DOT_PRECISION: tl.constexpr,  # "ieee" for float32 tiles (exact products), else None
    TMA: tl.constexpr,  # K and V blocks through their descriptors, else through pointers
):  # fmt: skip
    """The online-softmax loop over key blocks [key_start, key_end) (module docstring, 2):
    blocks wholly inside Lk and left of the diagonal unless MASKED."""
    for start_n in range(key_start, key_end, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        key_mask = offs_n < k_len  # a MASKED block may stick out past Lk
        if TMA:  # past Lk the copy engine fills zeros (and the scores get -inf below)
            k_t = _block(k_desc, batch, kv_head, start_n, BLOCK_N, offs_d.shape[0]).T
            v = _block(v_desc, batch, kv_head, start_n, BLOCK_N, offs_d.shape[0])
        elif MASKED:
            k_t = tl.load(k_base + offs_d[:, None] * stride_kd + offs_n[None, :] * stride_kn,
                          mask=key_mask[None, :], other=0.0)  # fmt: skip
            v = tl.load(v_base + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd,
                        mask=key_mask[:, None], other=0.0)  # fmt: skip
        else:
            k_t = tl.load(k_base + offs_d[:, None] * stride_kd + offs_n[None, :] * stride_kn)
            v = tl.load(v_base + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd)
        if UPCAST:
            k_t = k_t.to(tl.float32)
            v = v.to(tl.float32)
        qk = tl.dot(q, k_t, input_precision=DOT_PRECISION)
        if MASKED:
            s = qk * qk_scale
            visible = key_mask[None, :]
            if CAUSAL:
                visible = visible & (offs_n[None, :] <= offs_m[:, None])
            # -inf: a hidden key neither raises the max nor adds exp2(-inf) = 0 to the sums.
            s = tl.where(visible, s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            p = tl.exp2(s - m_new[:, None])
        else:  # every key seen: the scaled max from the unscaled scores, then one FMA
            if NEGATIVE_SCALE:
                peak = tl.min(qk, axis=1)
            else:
                peak = tl.max(qk, axis=1)
            m_new = tl.maximum(m_i, peak * qk_scale)
            p = tl.exp2(qk * qk_scale - m_new[:, None])
        # What was summed so far used m_i: rescale it to the new max (exp2(-inf) = 0 for
        # the first block, whose acc and l are 0 anyway).
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        # The tensor cores' operand: P rounded to V's dtype.
        acc = acc * alpha[:, None] + tl.dot(
            _as_operand(p, v_base, UPCAST), v, input_precision=DOT_PRECISION
        )
        m_i = m_new
    return acc, m_i, l_i


@autotune(GPU_CONFIGS, key=["q_len", "k_len", "HEAD_DIM", "CAUSAL"],
          interpret_config=INTERPRET_CONFIGS[0])  # fmt: skip
@triton.jit
def attention_forward_kernel(
    q_ptr,  # Q, shape (batch, heads, Lq, D), any strides
    k_ptr,  # K, shape (batch, kv_heads, Lk, D), any strides
    v_ptr,  # V, shape (batch, kv_heads, Lk, D), any strides
    o_ptr,  # O, shape (batch, heads, Lq, D), contiguous, Q's dtype
    lse_ptr,  # log-sum-exp of each row's scores, shape (batch, heads, Lq), float32
    q_desc, k_desc, v_desc,  # Q, K, V as tensor descriptors if TMA, else None
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    heads,  # Q heads
    group,  # Q heads per K/V head
    q_len,  # Lq
    k_len,  # Lk, >= 1
    qk_scale,  # scale * log2(e)
    HEAD_DIM: tl.constexpr,  # D: 16, 32, 64 or 128
    CAUSAL: tl.constexpr,
    NEGATIVE_SCALE: tl.constexpr,  # qk_scale < 0
    UPCAST: tl.constexpr,  # 16-bit tiles to float32 after loading (the interpreter)
    DOT_PRECISION: tl.constexpr,  # "ieee" for float32 tiles (exact products), else None
    BLOCK_M: tl.constexpr,  # query rows per program
    BLOCK_N: tl.constexpr,  # keys per step
    TMA: tl.constexpr = False,  # Q, K and V blocks through descriptors (module docstring, 6)
):  # fmt: skip
    # One program per (query block, batch x head). Causal: the last query blocks (the
    # longest programs) first.
    pid_m = tl.program_id(0)
    if CAUSAL:
        pid_m = tl.num_programs(0) - 1 - pid_m
    batch_head = tl.program_id(1).to(tl.int64)
    batch = batch_head // heads
    head = batch_head % heads
    kv_head = head // group
    q_base = q_ptr + batch * stride_qb + head * stride_qh
    k_base = k_ptr + batch * stride_kb + kv_head * stride_kh
    v_base = v_ptr + batch * stride_vb + kv_head * stride_vh

    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_mask = offs_m < q_len  # rows past Lq load 0 and are never stored
    if TMA:
        q = _block(q_desc, batch, head, start_m, BLOCK_M, HEAD_DIM)
    else:
        q = tl.load(q_base + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                    mask=row_mask[:, None], other=0.0)  # fmt: skip
    if UPCAST:
        q = q.to(tl.float32)

    acc = tl.full((BLOCK_M, HEAD_DIM), 0.0, tl.float32)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.full((BLOCK_M,), 0.0, tl.float32)
    free_end, end = _key_ranges(start_m, k_len, CAUSAL, BLOCK_M, BLOCK_N)
    # Blocks wholly inside Lk and left of the diagonal, then the rest, masked.
    unmasked_end = min(free_end, k_len // BLOCK_N * BLOCK_N)
    acc, m_i, l_i = _attend_key_blocks(
        acc, m_i, l_i, q, k_base, v_base, k_desc, v_desc, batch, kv_head, offs_m, offs_d,
        0, unmasked_end, k_len, stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
        BLOCK_N, False, CAUSAL, NEGATIVE_SCALE, UPCAST, DOT_PRECISION, TMA,
    )  # fmt: skip
    acc, m_i, l_i = _attend_key_blocks(
        acc, m_i, l_i, q, k_base, v_base, k_desc, v_desc, batch, kv_head, offs_m, offs_d,
        unmasked_end, end, k_len, stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
        BLOCK_N, True, CAUSAL, NEGATIVE_SCALE, UPCAST, DOT_PRECISION, TMA,
    )  # fmt: skip

    o = acc / l_i[:, None]
    o_offsets = batch_head * q_len * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(o_ptr + o_offsets, _for_store(o, o_ptr, UPCAST), mask=row_mask[:, None])
    # LSE = m + log(l) in natural units: m is in base 2 (scores times log2(e)).
    lse = (m_i + tl.log2(l_i)) * LN2
    tl.store(lse_ptr + batch_head * q_len + offs_m, lse, mask=row_mask)


# ----------------------------------------------------------------------------- backward
@triton.jit
def attention_delta_kernel(
    o_ptr,  # O, shape (batch, heads, Lq, D), contiguous
    do_ptr,  # dO, shape (batch, heads, Lq, D), any strides
    delta_ptr,  # rowsum(dO * O), shape (batch, heads, Lq), float32
    stride_dob, stride_doh, stride_dom, stride_dod,
    heads, q_len,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
):  # fmt: skip
    """delta_i = sum_d dO_id O_id = sum_j P_ij dP_ij, per row, in float32."""
    batch_head = tl.program_id(1).to(tl.int64)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_mask = offs_m < q_len
    o_offsets = batch_head * q_len * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    o = tl.load(o_ptr + o_offsets, mask=row_mask[:, None], other=0.0)
    do_base = do_ptr + (batch_head // heads) * stride_dob + (batch_head % heads) * stride_doh
    do = tl.load(do_base + offs_m[:, None] * stride_dom + offs_d[None, :] * stride_dod,
                 mask=row_mask[:, None], other=0.0)  # fmt: skip
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), axis=1)
    tl.store(delta_ptr + batch_head * q_len + offs_m, delta, mask=row_mask)


@triton.jit
def _dkdv_query_blocks(
    dk, dv,  # running dK / scale and dV of the key block (BLOCK_N, D), float32
    k, v,  # the key block's K and V (BLOCK_N, D)
    q_base, do_base, lse_base, delta_base,  # this (batch, Q head)'s Q, dO, LSE, delta
    q_desc, do_desc, batch, head,  # Q and dO as descriptors (TMA), and which head
    offs_n, offs_d, query_start, query_end,
    q_len, k_len, stride_qm, stride_qd, stride_dom, stride_dod,
    qk_scale,
    BLOCK_M: tl.constexpr,
    MASKED: tl.constexpr,  # mask rows past Lq, keys past Lk and, if ON_DIAGONAL, the future
    ON_DIAGONAL: tl.constexpr,
    UPCAST: tl.constexpr,
    DOT_PRECISION: tl.constexpr,  # "ieee" for float32 tiles (exact products), else None
    TMA: tl.constexpr,
):  # fmt: skip
    """dV += P^T dO and dK += dS^T Q over query blocks [query_start, query_end), with P
    recomputed from the LSE (transposed: keys along rows, queries along columns); blocks
    wholly inside Lq, keys inside Lk and every key seen by every row unless MASKED."""
    key_mask = offs_n < k_len
    for start_m in range(query_start, query_end, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_mask = offs_m < q_len
        if TMA:
            q = _block(q_desc, batch, head, start_m, BLOCK_M, offs_d.shape[0])
            do = _block(do_desc, batch, head, start_m, BLOCK_M, offs_d.shape[0])
        elif MASKED:
            q = tl.load(q_base + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                        mask=row_mask[:, None], other=0.0)  # fmt: skip
            do = tl.load(do_base + offs_m[:, None] * stride_dom + offs_d[None, :] * stride_dod,
                         mask=row_mask[:, None], other=0.0)  # fmt: skip
        else:
            q = tl.load(q_base + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd)
            do = tl.load(do_base + offs_m[:, None] * stride_dom + offs_d[None, :] * stride_dod)
        if UPCAST:
            q = q.to(tl.float32)
            do = do.to(tl.float32)
        qk_t = tl.dot(k, tl.trans(q), input_precision=DOT_PRECISION)
        if MASKED:
            # other=0: a padded row's scores are hidden below, whatever its LSE.
            lse = tl.load(lse_base + offs_m, mask=row_mask, other=0.0) * LOG2E
            delta = tl.load(delta_base + offs_m, mask=row_mask, other=0.0)
            visible = key_mask[:, None] & row_mask[None, :]
            if ON_DIAGONAL:
                visible = visible & (offs_n[:, None] <= offs_m[None, :])
            p_t = tl.exp2(tl.where(visible, qk_t * qk_scale, float("-inf")) - lse[None, :])
        else:  # no select, and the scale folded into exp2's subtraction (one FMA)
            lse = tl.load(lse_base + offs_m) * LOG2E
            delta = tl.load(delta_base + offs_m)
            p_t = tl.exp2(qk_t * qk_scale - lse[None, :])
        dv += tl.dot(_as_operand(p_t, q_base, UPCAST), do, input_precision=DOT_PRECISION)
        dp_t = tl.dot(v, tl.trans(do), input_precision=DOT_PRECISION)
        ds_t = p_t * (dp_t - delta[None, :])
        dk += tl.dot(_as_operand(ds_t, q_base, UPCAST), q, input_precision=DOT_PRECISION)
    return dk, dv


@triton.jit
def attention_dkdv_kernel(
    q_ptr, k_ptr, v_ptr,  # as in the forward
    do_ptr,  # dO, shape (batch, heads, Lq, D), any strides
    lse_ptr, delta_ptr,  # shape (batch, heads, Lq), float32
    dk_ptr, dv_ptr,  # dK, dV, shape (batch, kv_heads, Lk, D), contiguous
    q_desc, k_desc, v_desc, do_desc,  # Q, K, V, dO as descriptors if TMA, else None
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_dob, stride_doh, stride_dom, stride_dod,
    kv_heads, group, q_len, k_len,
    scale,  # the softmax scale (natural units)
    HEAD_DIM: tl.constexpr,
    CAUSAL: tl.constexpr,
    UPCAST: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    TMA: tl.constexpr = False,  # Q, dO, K and V blocks through descriptors
):  # fmt: skip
    # One program per (key block, batch x K/V head): it sums over every query row of
    # every Q head of the group, so dK and dV are written once, without atomics.
    batch_kv = tl.program_id(1).to(tl.int64)
    batch = batch_kv // kv_heads
    kv_head = batch_kv % kv_heads
    start_n = tl.program_id(0) * BLOCK_N
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    key_mask = offs_n < k_len
    k = tl.load(k_ptr + batch * stride_kb + kv_head * stride_kh + offs_n[:, None] * stride_kn
                + offs_d[None, :] * stride_kd, mask=key_mask[:, None], other=0.0)  # fmt: skip
    v = tl.load(v_ptr + batch * stride_vb + kv_head * stride_vh + offs_n[:, None] * stride_vn
                + offs_d[None, :] * stride_vd, mask=key_mask[:, None], other=0.0)  # fmt: skip
    if UPCAST:
        k = k.to(tl.float32)
        v = v.to(tl.float32)
    qk_scale = scale * LOG2E
    dk = tl.full((BLOCK_N, HEAD_DIM), 0.0, tl.float32)
    dv = tl.full((BLOCK_N, HEAD_DIM), 0.0, tl.float32)
    start, free_start = _query_ranges(start_n, q_len, CAUSAL, BLOCK_M, BLOCK_N)
    # Past the diagonal: the query blocks wholly inside Lq without masks (if this key
    # block is wholly inside Lk), then the tail, masked.
    unmasked_end = free_start
    if start_n + BLOCK_N <= k_len:
        unmasked_end = max(free_start, q_len // BLOCK_M * BLOCK_M)
    for g in range(0, group):
        head = kv_head * group + g
        q_base = q_ptr + batch * stride_qb + head * stride_qh
        do_base = do_ptr + batch * stride_dob + head * stride_doh
        row_base = (batch * kv_heads * group + head) * q_len  # into LSE and delta
        lse_base, delta_base = lse_ptr + row_base, delta_ptr + row_base
        if CAUSAL:
            dk, dv = _dkdv_query_blocks(
                dk, dv, k, v, q_base, do_base, lse_base, delta_base, q_desc, do_desc, batch,
                head, offs_n, offs_d, start, free_start, q_len, k_len, stride_qm, stride_qd,
                stride_dom, stride_dod, qk_scale, BLOCK_M, True, True, UPCAST, DOT_PRECISION,
                TMA,
            )  # fmt: skip
        dk, dv = _dkdv_query_blocks(
            dk, dv, k, v, q_base, do_base, lse_base, delta_base, q_desc, do_desc, batch, head,
            offs_n, offs_d, free_start, unmasked_end, q_len, k_len, stride_qm, stride_qd,
            stride_dom, stride_dod, qk_scale, BLOCK_M, False, False, UPCAST, DOT_PRECISION, TMA,
        )  # fmt: skip
        dk, dv = _dkdv_query_blocks(
            dk, dv, k, v, q_base, do_base, lse_base, delta_base, q_desc, do_desc, batch, head,
            offs_n, offs_d, unmasked_end, q_len, q_len, k_len, stride_qm, stride_qd,
            stride_dom, stride_dod, qk_scale, BLOCK_M, True, False, UPCAST, DOT_PRECISION, TMA,
        )  # fmt: skip
    out = batch_kv * k_len * HEAD_DIM + offs_n[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(dk_ptr + out, _for_store(dk * scale, dk_ptr, UPCAST), mask=key_mask[:, None])
    tl.store(dv_ptr + out, _for_store(dv, dv_ptr, UPCAST), mask=key_mask[:, None])


@triton.jit
def _dq_key_blocks(
    dq,  # running dQ / scale of the query block (BLOCK_M, D), float32
    q, do, lse, delta,  # the query block's Q, dO (BLOCK_M, D), LSE (base 2) and delta
    k_base, v_base,
    k_desc, v_desc, batch, kv_head,  # K and V as descriptors (TMA), and which head
    offs_m, offs_d, key_start, key_end,
    k_len, stride_kn, stride_kd, stride_vn, stride_vd,
    qk_scale,
    BLOCK_N: tl.constexpr,
    MASKED: tl.constexpr,  # mask keys past Lk and, if ON_DIAGONAL, right of the diagonal
    ON_DIAGONAL: tl.constexpr,
    UPCAST: tl.constexpr,
    DOT_PRECISION: tl.constexpr,  # "ieee" for float32 tiles (exact products), else None
    TMA: tl.constexpr,
):  # fmt: skip
    """dQ += dS K over key blocks [key_start, key_end), P recomputed from the LSE; blocks
    wholly inside Lk and left of the diagonal unless MASKED. (Rows past Lq need no mask:
    their Q, dO, LSE and delta load 0, so their dS is 0, and they are not stored.)"""
    for start_n in range(key_start, key_end, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        key_mask = offs_n < k_len
        if TMA:
            k_t = _block(k_desc, batch, kv_head, start_n, BLOCK_N, offs_d.shape[0]).T
            v_t = _block(v_desc, batch, kv_head, start_n, BLOCK_N, offs_d.shape[0]).T
        elif MASKED:
            k_t = tl.load(k_base + offs_d[:, None] * stride_kd + offs_n[None, :] * stride_kn,
                          mask=key_mask[None, :], other=0.0)  # fmt: skip
            v_t = tl.load(v_base + offs_d[:, None] * stride_vd + offs_n[None, :] * stride_vn,
                          mask=key_mask[None, :], other=0.0)  # fmt: skip
        else:
            k_t = tl.load(k_base + offs_d[:, None] * stride_kd + offs_n[None, :] * stride_kn)
            v_t = tl.load(v_base + offs_d[:, None] * stride_vd + offs_n[None, :] * stride_vn)
        if UPCAST:
            k_t = k_t.to(tl.float32)
            v_t = v_t.to(tl.float32)
        qk = tl.dot(q, k_t, input_precision=DOT_PRECISION)
        if MASKED:
            visible = key_mask[None, :]
            if ON_DIAGONAL:
                visible = visible & (offs_n[None, :] <= offs_m[:, None])
            p = tl.exp2(tl.where(visible, qk * qk_scale, float("-inf")) - lse[:, None])
        else:  # no select, the scale folded into exp2's subtraction
            p = tl.exp2(qk * qk_scale - lse[:, None])
        ds = p * (tl.dot(do, v_t, input_precision=DOT_PRECISION) - delta[:, None])
        dq += tl.dot(_as_operand(ds, k_base, UPCAST), tl.trans(k_t), input_precision=DOT_PRECISION)
    return dq


@triton.jit
def attention_dq_kernel(
    q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr,  # as in attention_dkdv_kernel
    dq_ptr,  # dQ, shape (batch, heads, Lq, D), contiguous
    q_desc, k_desc, v_desc, do_desc,  # as in attention_dkdv_kernel
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_dob, stride_doh, stride_dom, stride_dod,
    heads, group, q_len, k_len,
    scale,
    HEAD_DIM: tl.constexpr,
    CAUSAL: tl.constexpr,
    UPCAST: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    TMA: tl.constexpr = False,
):  # fmt: skip
    # One program per (query block, batch x head), walking the keys as the forward does,
    # in its order: causal, the last query blocks (the most keys) first.
    pid_m = tl.program_id(0)
    if CAUSAL:
        pid_m = tl.num_programs(0) - 1 - pid_m
    batch_head = tl.program_id(1).to(tl.int64)
    batch = batch_head // heads
    head = batch_head % heads
    kv_head = head // group
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_mask = offs_m < q_len
    q = tl.load(q_ptr + batch * stride_qb + head * stride_qh + offs_m[:, None] * stride_qm
                + offs_d[None, :] * stride_qd, mask=row_mask[:, None], other=0.0)  # fmt: skip
    do = tl.load(do_ptr + batch * stride_dob + head * stride_doh + offs_m[:, None] * stride_dom
                 + offs_d[None, :] * stride_dod, mask=row_mask[:, None], other=0.0)  # fmt: skip
    if UPCAST:
        q = q.to(tl.float32)
        do = do.to(tl.float32)
    lse = tl.load(lse_ptr + batch_head * q_len + offs_m, mask=row_mask, other=0.0) * LOG2E
    delta = tl.load(delta_ptr + batch_head * q_len + offs_m, mask=row_mask, other=0.0)
    k_base = k_ptr + batch * stride_kb + kv_head * stride_kh
    v_base = v_ptr + batch * stride_vb + kv_head * stride_vh
    qk_scale = scale * LOG2E
    dq = tl.full((BLOCK_M, HEAD_DIM), 0.0, tl.float32)
    free_end, end = _key_ranges(start_m, k_len, CAUSAL, BLOCK_M, BLOCK_N)
    # As the forward: blocks inside Lk and left of the diagonal, then the rest, masked.
    unmasked_end = min(free_end, k_len // BLOCK_N * BLOCK_N)
    dq = _dq_key_blocks(
        dq, q, do, lse, delta, k_base, v_base, k_desc, v_desc, batch, kv_head, offs_m,
        offs_d, 0, unmasked_end, k_len, stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
        BLOCK_N, False, False, UPCAST, DOT_PRECISION, TMA,
    )  # fmt: skip
    dq = _dq_key_blocks(
        dq, q, do, lse, delta, k_base, v_base, k_desc, v_desc, batch, kv_head, offs_m,
        offs_d, unmasked_end, end, k_len, stride_kn, stride_kd, stride_vn, stride_vd,
        qk_scale, BLOCK_N, True, CAUSAL, UPCAST, DOT_PRECISION, TMA,
    )  # fmt: skip
    out = batch_head * q_len * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(dq_ptr + out, _for_store(dq * scale, dq_ptr, UPCAST), mask=row_mask[:, None])


# ----------------------------------------------------------------------------- launchers
def check_inputs(q, k, v, causal, scale) -> float:
    """The softmax scale, after checking every argument (module docstring for shapes)."""
    check_tensor("q", q)
    check_tensor("k", k)
    check_tensor("v", v)
    check_like("k", k, "q", q)
    check_like("v", v, "q", q)
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.dim() != 4:
            raise ValueError(
                f"{name} must be 4-D (batch, heads, seq, head_dim), got shape {tuple(x.shape)}"
            )
    batch, heads, _, head_dim = q.shape
    if head_dim not in HEAD_DIMS:
        raise ValueError(f"q's head_dim must be one of {HEAD_DIMS}, got {head_dim}")
    if k.shape[0] != batch or k.shape[-1] != head_dim:
        raise ValueError(
            f"k must have shape ({batch}, kv_heads, Lk, {head_dim}) to match q "
            f"{tuple(q.shape)}, got {tuple(k.shape)}"
        )
    if v.shape != k.shape:
        raise ValueError(f"v must have k's shape {tuple(k.shape)}, got {tuple(v.shape)}")
    kv_heads = k.shape[1]
    if kv_heads == 0 or heads % kv_heads:
        raise ValueError(
            f"k's heads ({kv_heads}) must divide q's heads ({heads}): grouped-query "
            "attention shares each K/V head among heads / kv_heads Q heads"
        )
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {causal!r}")
    if scale is None:
        return 1.0 / math.sqrt(head_dim)
    return check_real("scale", scale)


def _dot_precision(q: torch.Tensor) -> str | None:
    """float32 products exact, as PyTorch's SDPA computes them in float32: a GPU's default
    tf32 truncation put the scores off by about 2**-9 of scale |q| |k|."""
    return "ieee" if q.dtype == torch.float32 else None


def _strides(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.stride())


def _plan() -> tuple[triton.Config | None, str, str]:
    """(config, its name, table): the forced config, or None and "" (the caller's own)."""
    design, table = _plans.forced("attention")
    if design is None:
        return None, "", table
    try:
        return CONFIGS[table][design], design, table
    except KeyError:
        raise ValueError(f"no attention config named {design!r} in {table!r}") from None


def _tma_by_default(q: torch.Tensor, k_len: int, causal: bool, table: str) -> bool:
    batch, heads, q_len, _ = q.shape
    scores = batch * heads * q_len * k_len // (2 if causal else 1)
    unforced = TMA_BY_DEFAULT and table == "gpu" and q.element_size() == 2
    return unforced and scores > TMA_MIN_WORK and copy_engine(q.device)


def _descriptors(*blocks: tuple[torch.Tensor, int]) -> tuple[TensorDescriptor, ...]:
    """Each (batch, heads, L, D) tensor as a 4-D tensor descriptor over blocks of `rows`
    rows of one head, for each (tensor, rows)."""
    return tuple(descriptor(x, (1, 1, rows, x.shape[-1])) for x, rows in blocks)


@replayed(context=lambda: (_plans.forced_name(), TMA_BY_DEFAULT, TMA_MIN_WORK))
def attention_forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(O, LSE): O in q's dtype, contiguous; LSE (batch, heads, Lq) float32, the natural
    log-sum-exp of each row's scaled, masked scores (-inf without keys). Replayed for a
    signature launched before (`kernels._launch.replayed`): one launch, reading q, k, v
    or descriptors over them."""
    scale = check_inputs(q, k, v, causal, scale)
    batch, heads, q_len, head_dim = q.shape
    kv_heads, k_len = k.shape[1], k.shape[2]
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty((batch, heads, q_len), dtype=torch.float32, device=q.device)
    if k_len == 0:  # no keys: the empty sum (module docstring, 5)
        return o.zero_(), lse.fill_(float("-inf"))
    if o.numel() == 0:
        return o, lse
    grid = lambda meta: checked_grid((cdiv(q_len, meta["BLOCK_M"]), batch * heads), "q")
    config, name, table = _plan()
    if config is None and _tma_by_default(q, k_len, causal, table):
        config = TMA_GPU_CONFIGS[0]
        name = config_name(config)
    descriptors = (None,) * 3
    if config is not None and config.kwargs.get("TMA", False):
        if all(tma_readable(x) for x in (q, k, v)):
            bm, bn = config.kwargs["BLOCK_M"], config.kwargs["BLOCK_N"]
            descriptors = _descriptors((q, bm), (k, bn), (v, bn))
        else:  # the copy engine cannot read them: the tuned pointer kernel
            config, name = None, ""
    args = (q, k, v, o, lse, *descriptors, *_strides(q), *_strides(k), *_strides(v),
            heads, heads // kv_heads, q_len, k_len, scale * math.log2(math.e))  # fmt: skip
    constants = {
        "HEAD_DIM": head_dim,
        "CAUSAL": causal,
        "NEGATIVE_SCALE": scale < 0,
        "UPCAST": in_interpreter() and q.dtype != torch.float32,
        "DOT_PRECISION": _dot_precision(q),
    }
    if config is not None:
        with_config(attention_forward_kernel, config, launch_resolved)[grid](*args, **constants)
        _plans.note_named("attention", name, table)
    else:
        tuned = _plans.tuned(attention_forward_kernel, grid, args, constants)
        name = config_name(tuned)
        _plans.note_tuned(attention_forward_kernel, tuned, "attention", name, table)
    _plans.launched("attention", name, table)
    return o, lse


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """softmax(q k^T scale + mask) v for q (batch, heads, Lq, D), k and v (batch,
    kv_heads, Lk, D), heads a multiple of kv_heads, D in HEAD_DIMS; `causal` top-left
    aligned as PyTorch's is_causal; scale None: 1 / sqrt(D). A new contiguous tensor in
    q's dtype (zeros when Lk = 0)."""
    return attention_forward(q, k, v, causal, scale)[0]


@replayed(
    context=lambda: (_plans.forced_name(), TMA_BY_DEFAULT, TMA_MIN_WORK, BACKWARD_CONFIGS.changes)
)
def attention_backward(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    o: torch.Tensor,
    lse: torch.Tensor,
    causal: bool,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dQ, dK, dV) from the forward's O and LSE (module docstring, 3); dO of q's shape and
    dtype, any strides. Inputs already checked by the forward. Replayed for a signature
    launched before (`kernels._launch.replayed`): its three launches, on a delta of the
    replay's own."""
    batch, heads, q_len, head_dim = q.shape
    kv_heads, k_len = k.shape[1], k.shape[2]
    group = heads // kv_heads
    dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    if k_len == 0 or q.numel() == 0 or k.numel() == 0:  # every gradient an empty sum
        return dq.zero_(), dk.zero_(), dv.zero_()
    defaults = BACKWARD_CONFIGS[backward_table(_plans.default_constants(), q)]
    config, name, table = _plan()
    forced = config is not None
    # Descriptor loads where the forward has them: forced (a TMA design, whose blocks
    # stay the backward's defaults) or by default. Any other forced config runs both
    # kernels.
    tma = config.kwargs.get("TMA", False) if forced else _tma_by_default(q, k_len, causal, table)
    own_blocks = forced and not tma
    dkdv_config, dq_config = (config, config) if own_blocks else defaults
    name = name if own_blocks else config_name(dkdv_config)
    _plans.launched("attention", name, table)
    _plans.note_named("attention", name, table)
    tma = tma and all(tma_readable(x) for x in (q, k, v, do))
    upcast = in_interpreter() and q.dtype != torch.float32
    meta = {"HEAD_DIM": head_dim, "CAUSAL": causal, "UPCAST": upcast,
            "DOT_PRECISION": _dot_precision(q), "TMA": tma}  # fmt: skip
    common = (*_strides(q), *_strides(k), *_strides(v), *_strides(do))

    block_m = dq_config.kwargs["BLOCK_M"]
    delta = note_temporary(torch.empty((batch, heads, q_len), dtype=torch.float32, device=q.device))
    fast(attention_delta_kernel)[(cdiv(q_len, block_m), batch * heads)](
        o, do, delta, *_strides(do), heads, q_len, HEAD_DIM=head_dim, BLOCK_M=block_m
    )
    block_m, block_n = dkdv_config.kwargs["BLOCK_M"], dkdv_config.kwargs["BLOCK_N"]
    # Each kernel reads through descriptors only what it walks in blocks: Q and dO here.
    q_desc, do_desc = _descriptors((q, block_m), (do, block_m)) if tma else (None, None)
    grid = checked_grid((cdiv(k_len, block_n), batch * kv_heads), "k")
    fast(attention_dkdv_kernel)[grid](
        q, k, v, do, lse, delta, dk, dv, q_desc, None, None, do_desc, *common, kv_heads, group,
        q_len, k_len, scale, **meta, **_launch_meta(dkdv_config),
    )  # fmt: skip
    block_m, block_n = dq_config.kwargs["BLOCK_M"], dq_config.kwargs["BLOCK_N"]
    k_desc, v_desc = _descriptors((k, block_n), (v, block_n)) if tma else (None, None)
    grid = checked_grid((cdiv(q_len, block_m), batch * heads), "q")
    fast(attention_dq_kernel)[grid](
        q, k, v, do, lse, delta, dq, None, k_desc, v_desc, None, *common, heads, group, q_len,
        k_len, scale, **meta, **_launch_meta(dq_config),
    )  # fmt: skip
    return dq, dk, dv


def _launch_meta(config: triton.Config) -> dict:
    """A config's blocks, warps and stages, as a launch's keywords."""
    return {**config.kwargs, "num_warps": config.num_warps, "num_stages": config.num_stages}


@_plans.carried_to_backward
class AttentionFunction(torch.autograd.Function):
    """`attention` with its backward: the forward saves Q, K, V, O and the per-row LSE
    (not P); the backward recomputes P from them (module docstring, 3)."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale):
        o, lse = attention_forward(q, k, v, causal, scale)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal = causal
        ctx.scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = attention_backward(do, q, k, v, o, lse, ctx.causal, ctx.scale)
        return dq, dk, dv, None, None


def attention_autograd(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """`attention`, differentiable in q, k and v (`AttentionFunction`)."""
    return AttentionFunction.apply(q, k, v, causal, scale)
