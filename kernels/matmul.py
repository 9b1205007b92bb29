"""matmul: C = act(A @ B + bias), 2-D or batched, with float32 accumulation; and its
backward (`MatmulFunction`).

A is (M, K) or (batch, M, K), B is (K, N) or (batch, K, N); batch dims broadcast as in
torch.matmul (a missing or size-1 batch dim is read with batch stride 0). bias, if any,
is (N,); the activation is None, "relu", or "gelu" in its tanh approximation,
0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), computed as the equal
x / (1 + exp(-2 sqrt(2 / pi) (x + 0.044715 x^3))) (`gelu_tanh`). float32, float16 and
bfloat16 inputs are read through their strides (transposed, sliced or padded views cost
no copy) and C comes back in their dtype.

The GPU ideas, in the order they appear:

1. Tiling. Each program computes one BLOCK_M x BLOCK_N tile of C. Computed naively,
   every element of C reads a row of A and a column of B from memory: 2K loads for 2K
   flops. A tile reads a BLOCK_M x BLOCK_K panel of A and a BLOCK_K x BLOCK_N panel of B
   per step and does BLOCK_M x BLOCK_N x BLOCK_K multiply-adds with them, on the tensor
   cores (`tl.dot`), from registers and shared memory: the data each byte is reused for
   grows with the tile, which is what lifts a matmul from memory bound to compute bound.
   The accumulator stays in float32 registers for the whole K loop; C is rounded to its
   dtype once, at the store.
2. The K loop and its masks. The panels walk K in steps of BLOCK_K, moving their pointers
   by BLOCK_K strides each step. The last step may stick out past K: the mask
   `offs_k < K - k` makes those lanes load 0 (`other=0.0`), and 0 x 0 adds nothing to the
   dot, so K needs no multiple of anything (K = 1 and K < BLOCK_K included). Rows of A
   past M and columns of B past N are not masked at all: their indices wrap (`% M`,
   `% N`) to rows that exist, so every load of the loop is in bounds, and the store's
   mask drops the wrapped rows and columns of the tile.
3. Program order for L2 reuse (GROUP_M). Programs run roughly in the order of their ids.
   Numbered row by row, consecutive programs share a panel of A but each reads a new
   panel of B: a wave of programs reads all of B. Grouped, ids go down a column of
   GROUP_M tiles before moving right, so a wave covers a GROUP_M-tall block of C and reads
   GROUP_M panels of A and a few of B, which then stay in L2 for the whole wave.
4. The epilogue. bias, relu and gelu are applied to the float32 accumulator before the
   one rounding to C's dtype: one pass over memory instead of three. For the backward of
   gelu the kernel can also store the pre-activation Z = A @ B + bias.
5. Offsets in 32 or 64 bits. Triton passes sizes and strides below 2**31 as int32, and a
   row index times a row stride can pass 2**31 for a large operand. The batch's part of
   an offset is one scalar per program, always int64; the tiles of offsets are int64
   only where some offset may pass 2**31 (INDEX_64, `offsets_fit_int32` on the host): a
   tile of int64 offsets holds two registers per element, and a 128 x 128 tile's
   epilogue spilled registers to local memory with them.

6. TMA (`matmul_tma_kernel`, a second design). On Hopper a tensor descriptor names a
   tensor, its shape and strides once; each K step asks the copy engine for a block at
   (row, column), and it lands in shared memory asynchronously, without the threads'
   address arithmetic, zero-filled past the tensor's edge: no masks, no wrapped rows.
   It reads operands whose rows are 16-byte aligned (`_launch_tma`); the pointer
   kernel takes the rest. Batched operands are 3-D descriptors, a block being one
   batch's (`block_at`), so that a block hanging past K reads zeros, not the next
   batch's rows. Without the address arithmetic it needs fewer registers than the
   pointer kernel (which spills), and it is the default for 16-bit GEMMs of at least
   TMA_MIN_WORK multiply-adds, all batches counted
   (benchmarks/matmul_tuning.md#matmul_tma_kernel).
7. Persistence (PROGRAMS_PER_SM > 0 in a TMA config). Instead of a program per tile, a
   program per multiprocessor walks tiles pid, pid + programs, ... in one loop that the
   compiler pipelines across tiles (`tl.range(..., flatten=True)`): the next tile's
   first loads are in flight during this tile's epilogue, and the launch has no tail
   of half-empty waves.

8. C through a descriptor too (C_DESCRIPTOR in a TMA config, forced only: no faster than
   C stored by the threads, benchmarks/matmul_tuning.md#tma_forced_only_configs). The
   finished tile goes to shared memory and the copy engine writes it, clipped at C's
   edges, in two halves (less shared memory to stage it in).

Not done here: warp specialization (loads and MMAs on warps of their own, as cuBLAS's
sm90 kernels do). Triton's Hopper pass applies only to 4-warp kernels with descriptors
made in the kernel, and under Triton 3.6 its 12-warp kernels computed wrong products on
the H200: rejected in ea969f6 (benchmarks/matmul_tuning.md#warp-specialization).

Precision: float16/bfloat16 products are exact in float32 and summed in float32. A
float32 `tl.dot` truncates its operands to tf32 (10 mantissa bits) on the tensor cores with
precision="tf32", or runs exact float32 FMAs with precision="ieee", a running sum of spans
of IEEE_SPAN_STEPS K steps each summed apart (`spanned`): one running sum over a long K of
same-sign terms loses digits to rounding (stagnation). On Hopper the tf32
instruction reads both operands K-major, so a row-major B is copied K-major first
(`_k_major_for_tf32`). In Triton's interpreter `tl.dot` is exact float32 whatever the
precision, and bfloat16 arithmetic is wrong there: the interpreter's kernels upcast 16-bit
panels to float32 before `tl.dot` (exact: the products are the same), which on a GPU would
only cost tensor-core speed.

Configs: `GPU_CONFIGS`, autotuned on (batches, M, N, K, precision) per dtype through
`harness.autotune` on a GPU, a config's K step halved for float32 operands where its
pipeline would not fit in shared memory (`kernels._launch.fitted`); `INTERPRET_CONFIGS`
for the interpreter (small blocks, several tiles and K steps on the small cases tests
draw), the first of them the interpreter's default. Each is named
`matmul/<BMxBNxBK-gG-wW-sS>/<gpu|interpret>` for `kernels._plans`: forcing a name
launches that config (bypassing the tuning), and every launch records the config it ran.
"""

from __future__ import annotations

import functools
import math

import torch
import triton
import triton.language as tl

from harness.autotune import autotune
from harness.parity import in_interpreter
from kernels import _plans
from kernels._checks import check_like, check_shape, check_tensor
from kernels._launch import (
    cdiv,
    checked_grid,
    copy_engine,
    descriptor,
    fitted,
    fitting_configs,
    multiprocessors,
    offsets_fit_int32,
    replayed,
    tma_readable,
)

ACTIVATIONS = (None, "relu", "gelu")
PRECISIONS = ("tf32", "ieee")

# gelu's tanh approximation: sqrt(2 / pi) and the cubic's coefficient (constexpr: a
# kernel reads no other globals).
GELU_C: tl.constexpr = tl.constexpr(math.sqrt(2.0 / math.pi))
GELU_CUBIC: tl.constexpr = tl.constexpr(0.044715)

IEEE_SPAN_STEPS: tl.constexpr = tl.constexpr(4)
"""K steps an ieee dot sums into a partial of its own before adding it to the running sum
(`spanned`). FMAs add K in order (in one running sum this kernel agreed with cuBLAS bit
for bit on vendor.py's shapes); past about 2**18 terms of one sign each term is a few
units of the running sum's last place and rounding drops part of it (stagnation). On an
H100, K = 3 x 2**20 products of uniform values erred by 26,000 u sum |a b| in one running
sum, by 5-115 u in spans of 4 steps (1 x 1 and 128 x 128 outputs,
benchmarks/long_k_probe.py); the spans' extra accumulator costs 2-4% of ieee's speed
(benchmarks/results/2026-12-07d-h100). Small, so that the interpreter's short K runs it."""


def _config(bm: int, bn: int, bk: int, group: int, warps: int, stages: int) -> triton.Config:
    return triton.Config(
        {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": group},
        num_warps=warps,
        num_stages=stages,
    )


# The tuner's candidates, from large 16-bit tiles down to small ones for small GEMMs and
# float32 ieee's FMAs (64 x 64 x 64); 128 x 256 x 32 is tf32's. Shared memory is stages x
# (BM x BK + BK x BN) x the element size: 144 KiB for the first in 16 bits.
# Measured: benchmarks/matmul_tuning.md#gpu_configs
GPU_CONFIGS = (
    _config(128, 256, 64, 8, 8, 3),
    _config(128, 256, 64, 8, 8, 4),
    _config(256, 128, 64, 8, 8, 3),
    _config(128, 128, 64, 8, 8, 3),
    _config(128, 128, 32, 8, 4, 4),
    _config(128, 256, 32, 8, 8, 3),
    _config(64, 128, 64, 8, 4, 4),
    _config(64, 64, 64, 8, 4, 3),
)
# In the interpreter a program costs milliseconds whatever its tile, so its blocks are
# only as small as they must be for the small cases tests draw to cover several tiles,
# groups and K steps. 16 is the smallest tl.dot a GPU compiles.
# Measured: benchmarks/matmul_tuning.md#interpret_configs
INTERPRET_CONFIGS = (
    _config(32, 32, 32, 2, 4, 1),
    _config(16, 16, 16, 3, 4, 1),
)


CONFIGS = _plans.by_name("", GPU_CONFIGS, INTERPRET_CONFIGS)


# The TMA design (`matmul_tma_kernel`), autotuned among these on a GPU: 128 x 256 x 64
# tiles, a program per tile or persistent, 3 or 4 stages; other tiles lost from 4000^3 up
# (benchmarks/matmul_tuning.md#tma_gpu_configs). All four share their blocks, so one set
# of descriptors serves the tuner. Persistent configs run 16-bit operands only: with
# float32 they need 278 KB of shared memory, past sm_90's 227 KB.
def _tma_config(
    bm: int, bn: int, bk: int, group: int, warps: int, stages: int, per_sm: int = 0, c: int = 0
) -> triton.Config:
    """A TMA config: PROGRAMS_PER_SM 0 launches a program per tile of C; n > 0 launches
    n programs per multiprocessor (at most one per tile), each looping over tiles. c = 1
    sets C_DESCRIPTOR (C stored through a descriptor too; the name gains -c1)."""
    config = _config(bm, bn, bk, group, warps, stages)
    config.kwargs["PROGRAMS_PER_SM"] = per_sm
    if c:
        config.kwargs["C_DESCRIPTOR"] = c
    return config


TMA_GPU_CONFIGS = (
    _tma_config(128, 256, 64, 8, 8, 3),
    _tma_config(128, 256, 64, 8, 8, 4),
    _tma_config(128, 256, 64, 8, 8, 3, per_sm=1),
    _tma_config(128, 256, 64, 8, 8, 4, per_sm=1),
)
# C through a descriptor too (C_DESCRIPTOR), forced only: it ran as the configs above, to
# within the run-to-run noise, so it is not worth the tuner's time on every new shape.
# Measured: benchmarks/matmul_tuning.md#tma_forced_only_configs
TMA_FORCED_ONLY_CONFIGS = (
    _tma_config(128, 256, 64, 8, 8, 3, c=1),
    _tma_config(128, 256, 64, 8, 8, 3, per_sm=1, c=1),
)
# The interpreter's: a program per tile, (counting one multiprocessor there) two programs
# looping over the tiles, and C through a descriptor.
TMA_INTERPRET_CONFIGS = (
    _tma_config(32, 32, 32, 2, 4, 1),
    _tma_config(32, 32, 32, 2, 4, 1, per_sm=2),
    _tma_config(32, 32, 32, 2, 4, 1, c=1),
)
TMA_CONFIGS = _plans.by_name(
    "tma", TMA_GPU_CONFIGS + TMA_FORCED_ONLY_CONFIGS, TMA_INTERPRET_CONFIGS
)
TMA_BY_DEFAULT = True
"""Whether a GEMM TMA can read runs it unforced (tuned among TMA_GPU_CONFIGS), if its
operands are 16-bit (float32 was not timed) and it has at least TMA_MIN_WORK
multiply-adds. Measured: benchmarks/matmul_tuning.md#tma_by_default"""
# Smaller GEMMs have too few 128 x 256 tiles to fill the GPU (32 at 1024^3); a batched
# GEMM counts every batch's work. Measured: benchmarks/matmul_tuning.md#tma_min_work
TMA_MIN_WORK = 2**33  # multiply-adds: 2048^3 and up


def ieee_span_lengths() -> tuple[int, ...]:
    """The terms one span of an ieee dot may hold (`spanned`): IEEE_SPAN_STEPS K steps of
    any config of either design in either mode, as tuned or forced and as `fitted` to
    float32 operands. The error model's `harness.Spans` for ops/matmul.py."""
    configs = [c for table in (CONFIGS, TMA_CONFIGS) for t in table.values() for c in t.values()]
    k_steps = {c.kwargs["BLOCK_K"] for c in configs}
    k_steps |= {fitted(c, torch.float32.itemsize).kwargs["BLOCK_K"] for c in configs}
    return tuple(sorted(IEEE_SPAN_STEPS.value * k for k in k_steps))


def excluded_config(name: str, dtype: str) -> str | None:
    """Why config `name` (`family/design/constants`) never runs on `dtype`, or None."""
    config = TMA_CONFIGS.get(name.split("/")[-1], {}).get(name.split("/")[1])
    if config is not None and config.kwargs["PROGRAMS_PER_SM"] and dtype == "float32":
        return "persistent TMA takes 16-bit operands (float32's needs 278 KB of shared memory)"
    return None


def _tma_by_default(a: torch.Tensor, work: int, table: str) -> bool:
    unforced = TMA_BY_DEFAULT and table == "gpu" and a.element_size() == 2
    return unforced and work >= TMA_MIN_WORK and copy_engine(a.device)


CONFIG_NAMES = _plans.table_names("matmul", CONFIGS, TMA_CONFIGS)
"""Every config a launch can run, for the op's config axis (`kernels._plans` names)."""


@triton.jit
def gelu_tanh(x):
    """gelu's tanh approximation: 0.5 x (1 + tanh(y)) = x sigmoid(2 y) = x / (1 + exp(-2 y)),
    y = sqrt(2 / pi) (x + 0.044715 x^3). For x -> -inf, exp overflows to inf and x / inf is
    -0, the limit; tanh itself is not in triton.language."""
    inner = GELU_C * (x + GELU_CUBIC * x * x * x)
    return x / (1.0 + tl.exp(-2.0 * inner))


@triton.jit
def spanned(total, part, step, SPAN_STEPS: tl.constexpr):
    """(total, part) after K step `step` (0, 1, ...): every SPAN_STEPS steps the span's
    partial sum `part` is added to `total` and starts again from zero, so that a long K
    is a short in-order sum of spans, each a short in-order sum of products. (`total +
    tl.dot(a, b)` would not do: Triton folds it back into `tl.dot(a, b, total)`.)"""
    if step % SPAN_STEPS == SPAN_STEPS - 1:
        total += part
        part = tl.zeros_like(part)
    return total, part


@triton.jit
def grouped_tile(pid, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """Grouped order: program `pid` takes tile (pid_m, pid_n) of C, going down GROUP_M
    tiles of a column before moving right; the last group may be shorter. (Not tl.cdiv,
    nor tl.zeros in the kernels: jit functions, which the interpreter sets up anew at
    every call, milliseconds a program; this one is worth its call.)"""
    num_pid_m = (M + BLOCK_M - 1) // BLOCK_M
    num_pid_n = (N + BLOCK_N - 1) // BLOCK_N
    num_pid_in_group = GROUP_M * num_pid_n
    first_pid_m = (pid // num_pid_in_group) * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    return pid_m, pid_n


@autotune(
    GPU_CONFIGS,
    key=["batches", "M", "N", "K", "INPUT_PRECISION"],
    interpret_config=INTERPRET_CONFIGS[0],
    prune_configs_by={"early_config_prune": fitting_configs("a_ptr")},
)
@triton.jit
def matmul_kernel(
    a_ptr,  # A, shape (batch or 1, M, K), any strides
    b_ptr,  # B, shape (batch or 1, K, N), any strides
    c_ptr,  # C = act(A @ B + bias), shape (batch, M, N), C's dtype
    bias_ptr,  # bias, shape (N,); None without one
    z_ptr,  # Z = A @ B + bias (the pre-activation), strides of C; None unless STORE_Z
    M,  # rows of A and C
    N,  # columns of B and C
    K,  # the dot length: columns of A, rows of B
    batches,  # the grid's second axis; an argument for the tuner's key only
    stride_ab,  # elements between batches of A (0: A broadcast over the batch)
    stride_am,
    stride_ak,
    stride_bb,  # elements between batches of B (0: B broadcast over the batch)
    stride_bk,
    stride_bn,
    stride_cb,
    stride_cm,
    stride_cn,
    stride_bias,
    ACTIVATION: tl.constexpr,  # "none", "relu" or "gelu"
    INPUT_PRECISION: tl.constexpr,  # tl.dot's for float32 panels ("tf32", "ieee"); None
    UPCAST: tl.constexpr,  # 16-bit panels to float32 before tl.dot (the interpreter)
    INDEX_64: tl.constexpr,  # tiles of offsets in int64: some offset may pass 2**31
    BLOCK_M: tl.constexpr,  # rows of C per program
    BLOCK_N: tl.constexpr,  # columns of C per program
    BLOCK_K: tl.constexpr,  # the K step
    GROUP_M: tl.constexpr,  # tiles down a column of C before moving right
):
    pid_m, pid_n = grouped_tile(tl.program_id(axis=0), M, N, BLOCK_M, BLOCK_N, GROUP_M)
    batch = tl.program_id(axis=1).to(tl.int64)  # a scalar: int64 costs nothing

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # Rows past M and columns past N wrap to ones that exist: the loop's loads need no
    # mask on them, and the store drops them.
    rows_a = offs_m % M
    cols_b = offs_n % N
    if INDEX_64:  # an index times a stride may pass 2**31 (else int32: fewer registers)
        offs_m, offs_n, offs_k = offs_m.to(tl.int64), offs_n.to(tl.int64), offs_k.to(tl.int64)
        rows_a, cols_b = rows_a.to(tl.int64), cols_b.to(tl.int64)
    # The panels: a scalar pointer each, which the K loop moves on, and a tile of offsets
    # from it that stays (offsets, not pointers: half the registers in int32).
    a_panel = a_ptr + batch * stride_ab
    b_panel = b_ptr + batch * stride_bb
    a_tile = rows_a[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_tile = offs_k[:, None] * stride_bk + cols_b[None, :] * stride_bn
    # One K step moves the panels BLOCK_K columns of A and rows of B on, in int64.
    a_step = tl.full((), BLOCK_K, tl.int64) * stride_ak
    b_step = tl.full((), BLOCK_K, tl.int64) * stride_bk

    total = tl.full((BLOCK_M, BLOCK_N), 0.0, tl.float32)  # the spans finished (ieee)
    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, tl.float32)
    for k in range(0, K, BLOCK_K):
        # The last step may hang past K: those lanes load 0, which adds nothing.
        k_mask = offs_k < K - k
        a = tl.load(a_panel + a_tile, mask=k_mask[None, :], other=0.0)
        b = tl.load(b_panel + b_tile, mask=k_mask[:, None], other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=tl.float32)
        if INPUT_PRECISION == "ieee":  # FMAs in order: a span at a time (IEEE_SPAN_STEPS)
            total, acc = spanned(total, acc, k // BLOCK_K, IEEE_SPAN_STEPS.value)
        a_panel += a_step
        b_panel += b_step
    if INPUT_PRECISION == "ieee":
        acc += total

    if z_ptr is not None:
        z_ptr += batch * stride_cb
    epilogue(acc, offs_m, offs_n, M, N, c_ptr + batch * stride_cb, z_ptr, bias_ptr, stride_cm,
             stride_cn, stride_bias, ACTIVATION)  # fmt: skip


@triton.jit
def finished(acc, offs_m, offs_n, M, N, z_ptr, bias_ptr, stride_cm, stride_cn, stride_bias,
             ACTIVATION: tl.constexpr):  # fmt: skip
    """The epilogue's arithmetic on the float32 accumulator of the tile at rows offs_m and
    columns offs_n: bias, Z (stored, masked to C's shape) if asked for, the activation."""
    n_mask = offs_n < N
    if bias_ptr is not None:
        bias = tl.load(bias_ptr + offs_n * stride_bias, mask=n_mask, other=0.0)
        acc += bias.to(tl.float32)[None, :]
    if z_ptr is not None:
        z_tile = offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
        z_mask = (offs_m < M)[:, None] & n_mask[None, :]
        tl.store(z_ptr + z_tile, acc.to(z_ptr.dtype.element_ty), mask=z_mask)
    if ACTIVATION == "relu":
        acc = tl.where(acc < 0.0, 0.0, acc)  # NaN stays NaN, as in torch.relu
    elif ACTIVATION == "gelu":
        acc = gelu_tanh(acc)
    return acc


@triton.jit
def epilogue(acc, offs_m, offs_n, M, N, c_ptr, z_ptr, bias_ptr, stride_cm, stride_cn,
             stride_bias, ACTIVATION: tl.constexpr):  # fmt: skip
    """The epilogue: `finished`, then one rounding at the store (masked to C)."""
    acc = finished(acc, offs_m, offs_n, M, N, z_ptr, bias_ptr, stride_cm, stride_cn,
                   stride_bias, ACTIVATION)  # fmt: skip
    c_tile = offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    c_mask = (offs_m < M)[:, None] & (offs_n < N)[None, :]
    tl.store(c_ptr + c_tile, acc.to(c_ptr.dtype.element_ty), mask=c_mask)


@autotune(
    TMA_GPU_CONFIGS,
    key=["M", "N", "K", "batches", "B_K_MAJOR"],
    interpret_config=TMA_INTERPRET_CONFIGS[0],
)
@triton.jit
def matmul_tma_kernel(
    a_desc,  # A (M, K) as a tensor descriptor: blocks of BLOCK_M x BLOCK_K (a batch first
    # if BATCHED, as for B and C)
    b_desc,  # B as a descriptor: (K, N) blocks of BLOCK_K x BLOCK_N, or B^T (N, K) if B_K_MAJOR
    c_ptr,  # C (M, N) or (batches, M, N), a new contiguous tensor
    c_desc,  # C as a descriptor, blocks of BLOCK_M x BLOCK_N / 2, if C_DESCRIPTOR; else None
    bias_ptr,  # bias (N,); None without one
    z_ptr,  # Z = A @ B + bias, strides of C; None unless stored
    M,
    N,
    K,
    batches,  # C's batches (1 unbatched): the grid's second axis, or the tile loop's share
    a_batch_step,  # 1: A's descriptor has C's batches; 0: one A for all (broadcast)
    b_batch_step,  # the same for B
    stride_cb,
    stride_cm,
    stride_cn,
    stride_bias,
    ACTIVATION: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,  # tl.dot's for float32 blocks ("tf32", "ieee"); None
    B_K_MAJOR: tl.constexpr,  # B read as B^T's rows (a transposed view): its K is contiguous
    UPCAST: tl.constexpr,  # 16-bit blocks to float32 before tl.dot (the interpreter)
    INDEX_64: tl.constexpr,  # C's tile offsets in int64
    BATCHED: tl.constexpr,  # 3-D descriptors, a batch first (blocks of 1 x rows x columns)
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
    PROGRAMS_PER_SM: tl.constexpr,  # 0: one tile per program; else programs loop over tiles
    C_DESCRIPTOR: tl.constexpr = 0,  # 1: C stored through c_desc (the copy engine) too
):
    """`matmul_kernel` with the loads given to Hopper's copy engine (TMA): a descriptor
    names the tensor, its shape and strides, once; each step asks for a block at (row,
    column), and the engine moves it into shared memory, without the threads' address
    arithmetic, filling with 0 whatever lies past the tensor's edge, so the loop needs no
    mask and no wrapped indices. Same tiles, order and epilogue. Batched operands are
    3-D descriptors (BATCHED): a block of one batch, its edges the batch's own, so a
    block hanging past K reads zeros, never the next batch's rows.

    Persistent (PROGRAMS_PER_SM > 0): the grid is a few programs per multiprocessor, and
    each walks the tiles pid, pid + programs, ... (every batch's, one batch after the
    other); `flatten` makes the compiler pipeline the tile loop and the K loop as one, so
    the next tile's first loads are in flight while this tile's epilogue runs, and no
    wave of programs ends with idle SMs.

    C_DESCRIPTOR: the tile of C leaves through the copy engine as well (`c_desc.store`),
    from shared memory, clipped at C's edges by the engine: no store mask, and the
    threads hand the tile over instead of writing it out element by element."""
    if PROGRAMS_PER_SM == 0:
        tma_tile(tl.program_id(axis=0), tl.program_id(axis=1), a_desc, b_desc, c_ptr, c_desc,
                 bias_ptr, z_ptr, M, N, K, a_batch_step, b_batch_step, stride_cb, stride_cm,
                 stride_cn, stride_bias, ACTIVATION, INPUT_PRECISION, B_K_MAJOR, UPCAST,
                 INDEX_64, BATCHED, BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M, C_DESCRIPTOR)  # fmt: skip
    else:
        tiles = ((M + BLOCK_M - 1) // BLOCK_M) * ((N + BLOCK_N - 1) // BLOCK_N)
        programs = tl.num_programs(axis=0)
        for work in tl.range(tl.program_id(axis=0), tiles * batches, programs, flatten=True):
            tma_tile(work % tiles, work // tiles, a_desc, b_desc, c_ptr, c_desc, bias_ptr,
                     z_ptr, M, N, K, a_batch_step, b_batch_step, stride_cb, stride_cm,
                     stride_cn, stride_bias, ACTIVATION, INPUT_PRECISION, B_K_MAJOR, UPCAST,
                     INDEX_64, BATCHED, BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M,
                     C_DESCRIPTOR)  # fmt: skip


@triton.jit
def block_at(desc, batch, i, j, BATCHED: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr):
    """The ROWS x COLS block at (i, j) of a descriptor, in batch `batch` of a 3-D one."""
    if BATCHED:
        block = tl.reshape(desc.load([batch, i, j]), (ROWS, COLS))
    else:
        block = desc.load([i, j])
    return block


@triton.jit
def store_block(desc, batch, i, j, block, BATCHED: tl.constexpr):
    """`block_at`'s store: `block` to (i, j), in batch `batch` if BATCHED."""
    if BATCHED:
        desc.store([batch, i, j], tl.reshape(block, (1, block.shape[0], block.shape[1])))
    else:
        desc.store([i, j], block)


@triton.jit
def tma_tile(tile, batch, a_desc, b_desc, c_ptr, c_desc, bias_ptr, z_ptr, M, N, K,
             a_batch_step, b_batch_step, stride_cb, stride_cm, stride_cn, stride_bias,
             ACTIVATION: tl.constexpr, INPUT_PRECISION: tl.constexpr, B_K_MAJOR: tl.constexpr,
             UPCAST: tl.constexpr, INDEX_64: tl.constexpr, BATCHED: tl.constexpr,
             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
             GROUP_M: tl.constexpr, C_DESCRIPTOR: tl.constexpr):  # fmt: skip
    """Tile number `tile` of batch `batch` of C (grouped order), its K loop on descriptor
    loads."""
    pid_m, pid_n = grouped_tile(tile, M, N, BLOCK_M, BLOCK_N, GROUP_M)
    row = pid_m * BLOCK_M
    col = pid_n * BLOCK_N
    a_batch = batch * a_batch_step
    b_batch = batch * b_batch_step

    total = tl.full((BLOCK_M, BLOCK_N), 0.0, tl.float32)  # the spans finished (ieee)
    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, tl.float32)
    for k in range(0, K, BLOCK_K):
        a = block_at(a_desc, a_batch, row, k, BATCHED, BLOCK_M, BLOCK_K)  # past M or K: zeros
        if B_K_MAJOR:
            b = block_at(b_desc, b_batch, col, k, BATCHED, BLOCK_N, BLOCK_K).T
        else:
            b = block_at(b_desc, b_batch, k, col, BATCHED, BLOCK_K, BLOCK_N)
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=tl.float32)
        if INPUT_PRECISION == "ieee":  # FMAs in order: a span at a time (IEEE_SPAN_STEPS)
            total, acc = spanned(total, acc, k // BLOCK_K, IEEE_SPAN_STEPS.value)
    if INPUT_PRECISION == "ieee":
        acc += total

    offs_m = row + tl.arange(0, BLOCK_M)
    offs_n = col + tl.arange(0, BLOCK_N)
    if INDEX_64:
        offs_m, offs_n = offs_m.to(tl.int64), offs_n.to(tl.int64)
    c_batch = batch.to(tl.int64) * stride_cb  # a scalar: int64 costs nothing
    if z_ptr is not None:
        z_ptr += c_batch
    if C_DESCRIPTOR:  # two halves: half the shared memory to stage each store in
        acc = finished(acc, offs_m, offs_n, M, N, z_ptr, bias_ptr, stride_cm, stride_cn,
                       stride_bias, ACTIVATION)  # fmt: skip
        halves = tl.permute(tl.reshape(acc, (BLOCK_M, 2, BLOCK_N // 2)), (0, 2, 1))
        left, right = tl.split(halves)
        store_block(c_desc, batch, row, col, left.to(c_ptr.dtype.element_ty), BATCHED)
        store_block(c_desc, batch, row, col + BLOCK_N // 2, right.to(c_ptr.dtype.element_ty),
                    BATCHED)  # fmt: skip
    else:
        epilogue(acc, offs_m, offs_n, M, N, c_ptr + c_batch, z_ptr, bias_ptr, stride_cm,
                 stride_cn, stride_bias, ACTIVATION)  # fmt: skip


def _batch_stride(x: torch.Tensor, strides: tuple[int, ...]) -> int:
    """The batch stride of a 2-D or 3-D operand (`strides`: x.stride()): 0 where it
    broadcasts over the batch."""
    return strides[0] if len(strides) == 3 and x.shape[0] > 1 else 0


def _check_inputs(a, b, bias, activation, precision) -> tuple[int, int, int, int]:
    """(batch, M, K, N), after checking every argument; batch -1: no batch dim."""
    check_tensor("a", a)
    check_tensor("b", b)
    check_like("b", b, "a", a)
    a_dim, b_dim = a.dim(), b.dim()  # read once: this runs on every launch
    if a_dim != 2 and a_dim != 3:
        raise ValueError(f"a must be 2-D or 3-D (batch, rows, columns), got shape {tuple(a.shape)}")
    if b_dim != 2 and b_dim != 3:
        raise ValueError(f"b must be 2-D or 3-D (batch, rows, columns), got shape {tuple(b.shape)}")
    a_shape, b_shape = a.shape, b.shape
    M, K = a_shape[-2:]
    if b_shape[-2] != K:
        raise ValueError(
            f"b must have {K} rows (the inner dim: a has shape {tuple(a_shape)}), "
            f"got shape {tuple(b_shape)}"
        )
    N = b_shape[-1]
    if a_dim == 2 and b_dim == 2:
        batch = -1
    else:
        # torch.matmul's broadcasting: a missing batch dim is 1, and 1 takes the other's.
        batch_a = a_shape[0] if a_dim == 3 else 1
        batch_b = b_shape[0] if b_dim == 3 else 1
        if batch_a != batch_b and 1 not in (batch_a, batch_b):
            raise ValueError(
                f"b's batch dim {batch_b} does not broadcast with a's {batch_a} "
                f"(shapes {tuple(a_shape)} and {tuple(b_shape)})"
            )
        batch = batch_a if batch_b == 1 else batch_b
    if bias is not None:
        check_tensor("bias", bias)
        check_like("bias", bias, "a", a)
        check_shape("bias", bias, (N,), "(N,): one per column of b")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'gelu', got {activation!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'tf32' or 'ieee', got {precision!r}")
    return batch, M, K, N


def _index_64(interpreting: bool, *views: tuple[tuple[int, ...], tuple[int, ...]]) -> bool:
    """INDEX_64: where an offset within the operands' tiles, (rows, columns) and their
    strides per view, may pass 2**31; and in the interpreter, which evaluates an overflow
    check at every int32 add and multiply (a device_assert, which it does not enforce),
    so that int32 runs slower there (benchmarks/matmul_tuning.md#_index_64)."""
    return interpreting or not offsets_fit_int32(*views)


@functools.cache
def _reads_tf32_k_major(device: torch.device) -> bool:
    """Whether `device`'s tf32 tensor-core instruction (sm_90's wgmma) reads its shared-memory
    operands K-major only."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 9


def _k_major_for_tf32(b: torch.Tensor, precision: str, interpreting: bool) -> torch.Tensor:
    """B, copied K-major where a float32 GEMM in tf32 would read it N-major (row-major B):
    Hopper's wgmma transposes 16-bit operands as it reads them but not tf32 ones, and
    Triton then falls back to a path slower than the copy
    (benchmarks/matmul_tuning.md#_k_major_for_tf32). The one exception to reading operands
    through their strides. `interpreting`: `in_interpreter()`, which the caller has asked
    already."""
    if b.dtype != torch.float32 or precision != "tf32" or interpreting:
        return b
    n_major = b.stride(-1) == 1 and b.stride(-2) != 1 and min(b.shape[-2:]) > 1
    if not n_major:
        return b
    return b.mT.contiguous().mT if _reads_tf32_k_major(b.device) else b


def _launch_tma(a, b, out, bias, z, batch, activation, precision, interpreting: bool) -> bool:
    """Run the TMA design, the config forced or else tuned if `_tma_by_default` (a batched
    GEMM weighed by all its batches' work), where the operands suit it: K > 0, A
    readable, B readable as it is or as B^T, persistent configs on 16-bit operands, C's
    rows 16-byte aligned for a C_DESCRIPTOR config. False: it did not run."""
    (M, K), N = a.shape[-2:], b.shape[-1]
    design, table = _plans.forced("matmul")
    if design is None:
        if not _tma_by_default(a, max(batch, 1) * M * N * K, table):
            return False
        # tuned: the configs share their blocks (the interpreter's tuner runs its first)
        blocks = (TMA_GPU_CONFIGS if table == "gpu" else TMA_INTERPRET_CONFIGS)[0].kwargs
    else:
        config = TMA_CONFIGS[table].get(design)
        dtype = str(a.dtype).removeprefix("torch.")
        if config is None or excluded_config(f"matmul/{design}/{table}", dtype):
            return False
        blocks = fitted(config, a.element_size()).kwargs  # float32: a smaller K step
    batched = batch >= 0
    if batched:  # 3-D views, a batch dim of 1 where an operand has none (broadcast)
        a, b = (x if x.dim() == 3 else x.unsqueeze(0) for x in (a, b))
    b_k_major = not tma_readable(b)
    b_t = b.mT  # B^T, (N, K), read where B's K is contiguous
    if K == 0 or not tma_readable(a) or (b_k_major and not tma_readable(b_t)):
        return False
    c_store = blocks.get("C_DESCRIPTOR", 0)
    if c_store and not tma_readable(out):
        return False
    bm, bn, bk = (blocks[k] for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))
    lead = (1,) * batched  # a block is one batch's
    a_desc = descriptor(a, (*lead, bm, bk))
    b_desc = descriptor(b_t, (*lead, bn, bk)) if b_k_major else descriptor(b, (*lead, bk, bn))
    c_desc = descriptor(out, (*lead, bm, bn // 2)) if c_store else None
    tiles, batches = cdiv(M, bm) * cdiv(N, bn), max(batch, 1)
    machine = multiprocessors(a.device)
    grid = lambda meta: checked_grid(
        (min(tiles * batches, meta["PROGRAMS_PER_SM"] * machine),)
        if meta["PROGRAMS_PER_SM"]
        else (tiles, batches),
        "a and b",
    )
    steps = (int(a.shape[0] > 1), int(b.shape[0] > 1)) if batched else (0, 0)
    args = (a_desc, b_desc, out, c_desc, bias, z, M, N, K, batches, *steps, M * N,
            out.stride(-2), out.stride(-1), bias.stride(0) if bias is not None else 0)  # fmt: skip
    constants = {
        "ACTIVATION": activation or "none",
        "INPUT_PRECISION": precision if a.dtype == torch.float32 else None,
        "B_K_MAJOR": b_k_major,
        "UPCAST": interpreting and a.dtype != torch.float32,
        "INDEX_64": interpreting or not offsets_fit_int32(((M, N), out.stride()[-2:])),
        "BATCHED": batched,
    }
    fit = lambda config: fitted(config, a.element_size())
    _plans.launch("matmul", matmul_tma_kernel, TMA_CONFIGS, grid, args, constants, fit)
    return True


@replayed(context=lambda: (_plans.forced_name(), TMA_BY_DEFAULT, TMA_MIN_WORK))
def _launch(
    a: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str | None,
    precision: str,
    store_preactivation: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """C, and Z = A @ B + bias in float32 when `store_preactivation` (else None). Replayed
    for a signature launched before (`kernels._launch.replayed`): a small GEMM's host cost,
    launched anew, was more than its kernel's time (benchmarks/matmul_tuning.md#_launch)."""
    batch, M, K, N = _check_inputs(a, b, bias, activation, precision)
    interpreting = in_interpreter()  # once a call: it reads the environment
    b = _k_major_for_tf32(b, precision, interpreting)
    out_shape = (M, N) if batch < 0 else (batch, M, N)
    out = a.new_empty(out_shape)  # as torch.empty(dtype=a.dtype, device=a.device), cheaper
    z = a.new_empty(out_shape, dtype=torch.float32) if store_preactivation else None
    if out.numel() == 0:
        return out, z
    batches = max(batch, 1)
    grid = lambda meta: checked_grid(
        (cdiv(M, meta["BLOCK_M"]) * cdiv(N, meta["BLOCK_N"]), batches), "a and b"
    )
    # Strides read once each (a call to torch apiece); C, new and contiguous, is read as
    # a (batches, M, N) view, whose strides are these.
    a_strides, b_strides, c_strides = a.stride(), b.stride(), (M * N, N, 1)
    args = (
        a,
        b,
        out,
        bias,
        z,
        M,
        N,
        K,
        batches,
        _batch_stride(a, a_strides),
        a_strides[-2],
        a_strides[-1],
        _batch_stride(b, b_strides),
        b_strides[-2],
        b_strides[-1],
        *c_strides,
        bias.stride(0) if bias is not None else 0,
    )
    if _launch_tma(a, b, out, bias, z, batch, activation, precision, interpreting):
        return out, z
    constants = {
        "ACTIVATION": activation or "none",
        "INPUT_PRECISION": precision if a.dtype == torch.float32 else None,
        "UPCAST": interpreting and a.dtype != torch.float32,
        "INDEX_64": _index_64(
            interpreting,
            (a.shape[-2:], a_strides[-2:]),
            (b.shape[-2:], b_strides[-2:]),
            ((M, N), c_strides[1:]),
        ),
    }
    fit = lambda config: fitted(config, a.element_size())
    _plans.launch("matmul", matmul_kernel, CONFIGS, grid, args, constants, fit)
    return out, z


def matmul(
    a: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
    precision: str = "tf32",
) -> torch.Tensor:
    """act(a @ b + bias) in a's dtype, accumulated in float32, as torch.matmul broadcasts
    a (M, K) or (batch, M, K) with b (K, N) or (batch, K, N); bias (N,) or None;
    activation None, "relu" or "gelu" (tanh approximation); precision "tf32" or "ieee"
    (float32 on the GPU's tensor cores, see the module docstring). A new tensor."""
    return _launch(a, b, bias, activation, precision)[0]


# ------------------------------------------------------------------------------ autograd
def _gelu_tanh_grad(z: torch.Tensor) -> torch.Tensor:
    """gelu'(z) = s + z s' for float32 z, s = sigmoid(2 y), y = sqrt(2 / pi) (z + 0.044715
    z^3), s' = 2 s (1 - s) y'; 1 - s as s exp(-2 y), without a subtraction. Past |z| = 10
    it is its limit, 1 or 0, to within 1e-35: so z^2 never overflows (an unclamped z y'
    is inf where s (1 - s) is 0: NaN). At z = +-inf it is NaN, as PyTorch's."""
    zc = z.clamp(-10.0, 10.0)
    e = torch.exp(-2.0 * GELU_C.value * (zc + GELU_CUBIC.value * zc * zc * zc))
    s = 1.0 / (1.0 + e)
    ds = 2.0 * s * (s * e) * GELU_C.value * (1.0 + 3.0 * GELU_CUBIC.value * zc * zc)
    grad = torch.where(z.abs() > 10.0, (z > 0).float(), s + zc * ds)  # NaN stays NaN
    return torch.where(z.isinf(), float("nan"), grad)


def _sum_over_batch(left: torch.Tensor, right: torch.Tensor, shape: torch.Size, precision: str):
    """left @ right (batched), summed over the batch dims of an operand of `shape` that was
    broadcast: one GEMM whose dot runs over (batch, inner), in float32, so that the sum
    over the batch is not rounded to the dtype per batch. Its operands are copied into
    that layout where strides cannot express it (only in this broadcast case)."""
    batch = max(left.shape[0] if left.dim() == 3 else 1, right.shape[0] if right.dim() == 3 else 1)
    if (len(shape) == 3 and shape[0] == batch) or left.dim() == right.dim() == 2:
        return matmul(left, right, precision=precision)
    p, q, r = left.shape[-2], left.shape[-1], right.shape[-1]
    folded_left = left.expand(batch, p, q).permute(1, 0, 2).reshape(p, batch * q)
    folded_right = right.expand(batch, q, r).reshape(batch * q, r)
    return matmul(folded_left, folded_right, precision=precision).reshape(shape)


@_plans.carried_to_backward
class MatmulFunction(torch.autograd.Function):
    """`matmul(a, b, bias, activation, precision)` with its backward, for training: with
    dz = dy act'(Z), dA = dz @ B^T and dB = A^T @ dz, two more GEMMs on the same kernel
    (through strided views: B^T and A^T are not copied, except where a batch dim an
    operand was broadcast along must be summed, `_sum_over_batch`), and dbias = the sum
    of dz over its rows, accumulated in float32. relu's derivative comes from the output
    (C > 0), gelu's from Z, which the forward kernel stores in float32 for it: Z rounded
    to a 16-bit dtype would move dz by up to 0.33 u |dy| (the largest |Z gelu''(Z)|),
    and could overflow where C does not. dz is rounded to the dtype for the GEMMs (exact
    for relu)."""

    @staticmethod
    def forward(ctx, a, b, bias, activation, precision):
        keep_z = activation == "gelu"
        out, z = _launch(a, b, bias, activation, precision, store_preactivation=keep_z)
        ctx.save_for_backward(a, b, z if keep_z else out)
        ctx.activation, ctx.precision, ctx.has_bias = activation, precision, bias is not None
        return out

    @staticmethod
    def backward(ctx, dy):
        a, b, saved = ctx.saved_tensors
        if ctx.activation == "relu":
            dz = torch.where(saved <= 0, 0.0, dy)  # NaN passes dy through, as torch.relu's
        elif ctx.activation == "gelu":
            dz = (dy.float() * _gelu_tanh_grad(saved)).to(dy.dtype)
        else:
            dz = dy
        da = db = dbias = None
        if ctx.needs_input_grad[0]:
            da = _sum_over_batch(dz, b.mT, a.shape, ctx.precision)
        if ctx.needs_input_grad[1]:
            db = _sum_over_batch(a.mT, dz, b.shape, ctx.precision)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            rows = tuple(range(dz.dim() - 1))
            dbias = torch.sum(dz, dim=rows, dtype=torch.float32).to(dz.dtype)
        return da, db, dbias, None, None


def matmul_autograd(
    a: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
    precision: str = "tf32",
) -> torch.Tensor:
    """`matmul`, differentiable in a, b and bias (`MatmulFunction`)."""
    return MatmulFunction.apply(a, b, bias, activation, precision)
