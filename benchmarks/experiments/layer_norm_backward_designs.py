"""Backward designs for long LayerNorm rows that lost to the walker, kept to reproduce
the figures in `kernels.layer_norm.BWD_WALKER_BLOCK`'s docstring. Not used by the library.

* `ticket_backward`: row-sum programs and tile programs in one launch. Each program takes
  a ticket (an atomic counter) that decides its work: the row sums of group g + LAG, or
  the tiles of group g, which spin until group g's row sums are all in. Waiting only on
  earlier tickets cannot deadlock, and the tiles were to re-read their rows from L2.
  Measured 1.13-1.34x PyTorch at 4096 x 16384 float16 (the two passes: 1.38x).
* `scratch_backward`: one persistent program per SM walks row pairs, reading each row
  twice (the row sums, then dx; the second read from L2) and keeping dweight/dbias in a
  scratch row of its own in global memory (L2). Measured 1.17x.
* `parts_backward`: the library's walker split into more than two parts, for rows over
  16384 columns: each program owns 8192 columns and reads the other parts only for the
  row sums (from L2, its partners read them too). Measured at 2048 x 32768 1.11x
  (float16) and 1.32x (float32), at 1024 x 65536 0.64x and 0.74x, against 1.33-1.38x
  for the library's two passes:
      PYTHONPATH=. python benchmarks/experiments/layer_norm_backward_designs.py parts

    PYTHONPATH=. python benchmarks/experiments/layer_norm_backward_designs.py
"""

from __future__ import annotations

import itertools
import sys

import torch
import triton
import triton.language as tl

import kernels.layer_norm as ln
from benchmarks.tune_rowwise import median_us
from kernels._checks import interpreting
from kernels._rows import as_rows, block_for


@triton.jit
def _ticket_kernel(
    dy_ptr,
    x_ptr,
    w_ptr,
    mean_ptr,
    rstd_ptr,
    coef_ptr,
    dx_ptr,
    dw_part_ptr,
    db_part_ptr,
    sync_ptr,  # int32 [1 + n_groups], zeroed: ticket counter, then row sums done per group
    n_rows,
    n_cols,
    n_groups,
    lag,
    stride_dyrow,
    stride_xrow,
    stride_dxrow,
    stride_partrow,
    HAS_WEIGHT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    GROUP_ROWS: tl.constexpr,  # rows per group = row-sum items per group
    SUMS_N: tl.constexpr,  # columns per step of a row-sum item
    ROWS: tl.constexpr,
    BLOCK_N: tl.constexpr,  # tile of a tile item
    EVICT: tl.constexpr,
    PREFETCH: tl.constexpr,
):
    ticket = tl.atomic_add(sync_ptr, 1)
    n_tiles = tl.cdiv(n_cols, BLOCK_N)
    per_phase = GROUP_ROWS + n_tiles
    head = lag * GROUP_ROWS  # phases 0 .. lag-1: row sums only
    mid = (n_groups - lag) * per_phase  # then row sums of g + lag, tiles of g
    in_head = ticket < head
    in_mid = (ticket >= head) & (ticket < head + mid)
    t_mid = tl.maximum(ticket - head, 0)
    q = t_mid // per_phase
    w_ = t_mid % per_phase
    t_tail = tl.maximum(ticket - head - mid, 0)
    is_sum = in_head | (in_mid & (w_ < GROUP_ROWS))
    group = tl.where(
        in_head,
        ticket // GROUP_ROWS,
        tl.where(in_mid, tl.where(w_ < GROUP_ROWS, q + lag, q), n_groups - lag + t_tail // n_tiles),
    )
    index = tl.where(
        in_head,
        ticket % GROUP_ROWS,
        tl.where(in_mid, tl.where(w_ < GROUP_ROWS, w_, w_ - GROUP_ROWS), t_tail % n_tiles),
    )
    if is_sum:
        row = group.to(tl.int64) * GROUP_ROWS + index
        if row < n_rows:
            mean = tl.load(mean_ptr + row)
            rstd = tl.load(rstd_ptr + row)
            cols = tl.arange(0, SUMS_N)
            lane_gx = tl.zeros([SUMS_N], tl.float32)
            lane_g = tl.zeros([SUMS_N], tl.float32)
            for start in range(0, n_cols, SUMS_N):
                col_mask = start + cols < n_cols
                x = tl.load(
                    x_ptr + row * stride_xrow + start + cols,
                    mask=col_mask,
                    other=0.0,
                    eviction_policy="evict_last" if EVICT else "",
                )
                g = tl.load(
                    dy_ptr + row * stride_dyrow + start + cols,
                    mask=col_mask,
                    other=0.0,
                    eviction_policy="evict_last" if EVICT else "",
                )
                g = g.to(tl.float32)
                if HAS_WEIGHT:
                    g *= tl.load(w_ptr + start + cols, mask=col_mask, other=0.0).to(tl.float32)
                lane_gx += g * ((x.to(tl.float32) - mean) * rstd)
                lane_g += g
            tl.store(coef_ptr + 2 * row, tl.sum(lane_gx, axis=0) / n_cols)
            tl.store(coef_ptr + 2 * row + 1, tl.sum(lane_g, axis=0) / n_cols)
        tl.debug_barrier()
        tl.atomic_add(sync_ptr + 1 + group, 1, sem="release")
    else:
        while tl.atomic_add(sync_ptr + 1 + group, 0, sem="acquire") < GROUP_ROWS:
            pass
        tl.debug_barrier()
        cols = index * BLOCK_N + tl.arange(0, BLOCK_N)[None, :]
        col_mask = cols < n_cols
        dw_acc = tl.zeros([ROWS, BLOCK_N], tl.float32)
        db_acc = tl.zeros([ROWS, BLOCK_N], tl.float32)
        w = tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32) if HAS_WEIGHT else 1.0
        group_start = group.to(tl.int64) * GROUP_ROWS
        tile_rows = tl.arange(0, ROWS)[:, None]
        group_end = tl.minimum(group_start + GROUP_ROWS, n_rows)
        if PREFETCH:
            first = group_start + tile_rows
            x_next = tl.load(
                x_ptr + first * stride_xrow + cols,
                mask=(first < group_end) & col_mask,
                other=0.0,
                eviction_policy="evict_first" if EVICT else "",
            )
            dy_next = tl.load(
                dy_ptr + first * stride_dyrow + cols,
                mask=(first < group_end) & col_mask,
                other=0.0,
                eviction_policy="evict_first" if EVICT else "",
            )
        for offset in range(0, GROUP_ROWS, ROWS):
            rows = group_start + offset + tile_rows
            row_mask = rows < n_rows
            mask = row_mask & col_mask
            if PREFETCH:
                x = x_next.to(tl.float32)
                dy = dy_next.to(tl.float32)
                nxt = rows + ROWS
                x_next = tl.load(
                    x_ptr + nxt * stride_xrow + cols,
                    mask=(nxt < group_end) & col_mask,
                    other=0.0,
                    eviction_policy="evict_first" if EVICT else "",
                )
                dy_next = tl.load(
                    dy_ptr + nxt * stride_dyrow + cols,
                    mask=(nxt < group_end) & col_mask,
                    other=0.0,
                    eviction_policy="evict_first" if EVICT else "",
                )
            else:
                x = tl.load(
                    x_ptr + rows * stride_xrow + cols,
                    mask=mask,
                    other=0.0,
                    eviction_policy="evict_first" if EVICT else "",
                ).to(tl.float32)
                dy = tl.load(
                    dy_ptr + rows * stride_dyrow + cols,
                    mask=mask,
                    other=0.0,
                    eviction_policy="evict_first" if EVICT else "",
                ).to(tl.float32)
            mean = tl.load(mean_ptr + rows, mask=row_mask, other=0.0)
            rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
            c_gx = tl.load(coef_ptr + 2 * rows, mask=row_mask, other=0.0, cache_modifier=".cg")
            c_g = tl.load(coef_ptr + 2 * rows + 1, mask=row_mask, other=0.0, cache_modifier=".cg")
            xhat = (x - mean) * rstd
            if HAS_WEIGHT:
                dw_acc += dy * xhat
            if HAS_BIAS:
                db_acc += dy
            dx = (dy * w - (xhat * c_gx + c_g)) * rstd
            tl.store(dx_ptr + rows * stride_dxrow + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        part_cols = index * BLOCK_N + tl.arange(0, BLOCK_N)
        part_mask = part_cols < n_cols
        part_offsets = group.to(tl.int64) * stride_partrow + part_cols
        if HAS_WEIGHT:
            tl.store(dw_part_ptr + part_offsets, tl.sum(dw_acc, axis=0), mask=part_mask)
        if HAS_BIAS:
            tl.store(db_part_ptr + part_offsets, tl.sum(db_acc, axis=0), mask=part_mask)


CFG = dict(
    GROUP_ROWS=32,
    LAG=2,
    SUMS_N=4096,
    ROWS=8,
    BLOCK_N=256,
    WARPS=8,
    EVICT=True,
    PREFETCH=True,
)


def ticket_backward(dy, x, mean, rstd, weight=None, bias=None, cfg=None):
    c = dict(CFG, **(cfg or {}))
    x_rows, dy_rows = as_rows(x), as_rows(dy)
    n_rows, n_cols = x_rows.shape
    dx = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    n_sums = (weight is not None) + (bias is not None)
    G = c["GROUP_ROWS"] if not interpreting() else 4
    n_groups = triton.cdiv(n_rows, G)
    partial = torch.empty((n_sums, n_groups, n_cols), dtype=torch.float32, device=x.device)
    dw_part = partial[0] if weight is not None else dx
    db_part = partial[-1] if bias is not None else dx
    w_arg = weight if weight is not None else x_rows
    coef = torch.empty((n_rows, 2), dtype=torch.float32, device=x.device)
    sync = torch.zeros(1 + n_groups, dtype=torch.int32, device=x.device)
    block_n = block_for(n_cols, c["BLOCK_N"])
    sums_n = block_for(n_cols, c["SUMS_N"])
    n_tiles = triton.cdiv(n_cols, block_n)
    lag = min(c["LAG"], n_groups)
    grid = (n_groups * (G + n_tiles),)
    _ticket_kernel[grid](
        dy_rows,
        x_rows,
        w_arg,
        mean.reshape(-1),
        rstd.reshape(-1),
        coef,
        dx,
        dw_part,
        db_part,
        sync,
        n_rows,
        n_cols,
        n_groups,
        lag,
        dy_rows.stride(0),
        x_rows.stride(0),
        dx.stride(0),
        partial.stride(1),
        HAS_WEIGHT=weight is not None,
        HAS_BIAS=bias is not None,
        GROUP_ROWS=G,
        SUMS_N=sums_n,
        ROWS=min(c["ROWS"], G),
        BLOCK_N=block_n,
        EVICT=c["EVICT"],
        PREFETCH=c["PREFETCH"],
        num_warps=c["WARPS"],
    )
    grads = (dx.view(x.shape),)
    if n_sums:
        sums = ln.sum_partials(partial, x.dtype)
        grads += tuple(sums.unbind(0))
    return grads


@triton.jit
def _scratch_kernel(
    dy_ptr,
    x_ptr,
    w_ptr,
    mean_ptr,
    rstd_ptr,
    dx_ptr,
    dw_part_ptr,
    db_part_ptr,
    n_rows,
    n_cols,
    stride_dyrow,
    stride_xrow,
    stride_dxrow,
    stride_partrow,
    HAS_WEIGHT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK_N: tl.constexpr,
    EVICT: tl.constexpr,
):
    pid = tl.program_id(0)
    n_prog = tl.num_programs(0)
    tile_rows = tl.arange(0, ROWS)[:, None]
    cols0 = tl.arange(0, BLOCK_N)[None, :]
    n_row_tiles = tl.cdiv(n_rows, ROWS)
    scratch = pid.to(tl.int64) * stride_partrow
    for tile in range(pid, n_row_tiles, n_prog):
        rows = (tile * ROWS + tile_rows).to(tl.int64)
        row_mask = rows < n_rows
        mean = tl.load(mean_ptr + rows, mask=row_mask, other=0.0)
        rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
        acc_gx = tl.zeros([ROWS, BLOCK_N], tl.float32)
        acc_g = tl.zeros([ROWS, BLOCK_N], tl.float32)
        for start in range(0, n_cols, BLOCK_N):
            cols = start + cols0
            col_mask = cols < n_cols
            mask = row_mask & col_mask
            x = tl.load(
                x_ptr + rows * stride_xrow + cols,
                mask=mask,
                other=0.0,
                eviction_policy="evict_last" if EVICT else "",
            ).to(tl.float32)
            g = tl.load(
                dy_ptr + rows * stride_dyrow + cols,
                mask=mask,
                other=0.0,
                eviction_policy="evict_last" if EVICT else "",
            ).to(tl.float32)
            if HAS_WEIGHT:
                g *= tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
            acc_gx += g * ((x - mean) * rstd)
            acc_g += g
        c_gx = tl.sum(acc_gx, axis=1, keep_dims=True) / n_cols
        c_g = tl.sum(acc_g, axis=1, keep_dims=True) / n_cols
        not_first = tl.full([BLOCK_N], tile, tl.int32) > pid
        for start in range(0, n_cols, BLOCK_N):
            cols = start + cols0
            col_mask = cols < n_cols
            mask = row_mask & col_mask
            x = tl.load(
                x_ptr + rows * stride_xrow + cols,
                mask=mask,
                other=0.0,
                eviction_policy="evict_first" if EVICT else "",
            ).to(tl.float32)
            dy = tl.load(
                dy_ptr + rows * stride_dyrow + cols,
                mask=mask,
                other=0.0,
                eviction_policy="evict_first" if EVICT else "",
            ).to(tl.float32)
            w = (
                tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
                if HAS_WEIGHT
                else 1.0
            )
            xhat = (x - mean) * rstd
            dx = (dy * w - (xhat * c_gx + c_g)) * rstd
            tl.store(dx_ptr + rows * stride_dxrow + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)
            pcols = start + tl.arange(0, BLOCK_N)
            pmask = pcols < n_cols
            if HAS_WEIGHT:
                old = tl.load(dw_part_ptr + scratch + pcols, mask=pmask & not_first, other=0.0)
                tl.store(dw_part_ptr + scratch + pcols, old + tl.sum(dy * xhat, axis=0), mask=pmask)
            if HAS_BIAS:
                old = tl.load(db_part_ptr + scratch + pcols, mask=pmask & not_first, other=0.0)
                tl.store(db_part_ptr + scratch + pcols, old + tl.sum(dy, axis=0), mask=pmask)


PCFG = dict(ROWS=2, BLOCK_N=4096, WARPS=16, PPS=1, EVICT=False)


def scratch_backward(dy, x, mean, rstd, weight=None, bias=None, cfg=None):
    c = dict(PCFG, **(cfg or {}))
    x_rows, dy_rows = as_rows(x), as_rows(dy)
    n_rows, n_cols = x_rows.shape
    dx = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    n_sums = (weight is not None) + (bias is not None)
    rows = c["ROWS"]
    sm = 4 if interpreting() else ln._sm_count(0)
    n_prog = min(triton.cdiv(n_rows, rows), c["PPS"] * sm)
    partial = torch.empty((n_sums, n_prog, n_cols), dtype=torch.float32, device=x.device)
    dw_part = partial[0] if weight is not None else dx
    db_part = partial[-1] if bias is not None else dx
    w_arg = weight if weight is not None else x_rows
    block_n = block_for(n_cols, c["BLOCK_N"] if not interpreting() else 1024)
    _scratch_kernel[(n_prog,)](
        dy_rows,
        x_rows,
        w_arg,
        mean.reshape(-1),
        rstd.reshape(-1),
        dx,
        dw_part,
        db_part,
        n_rows,
        n_cols,
        dy_rows.stride(0),
        x_rows.stride(0),
        dx.stride(0),
        partial.stride(1),
        HAS_WEIGHT=weight is not None,
        HAS_BIAS=bias is not None,
        ROWS=rows,
        BLOCK_N=block_n,
        EVICT=c["EVICT"],
        num_warps=c["WARPS"],
    )
    grads = (dx.view(x.shape),)
    if n_sums:
        sums = ln.sum_partials(partial, x.dtype)
        grads += tuple(sums.unbind(0))
    return grads


@triton.jit
def _parts_kernel(
    dy_ptr,
    x_ptr,
    w_ptr,
    mean_ptr,
    rstd_ptr,
    dx_ptr,
    dw_part_ptr,
    db_part_ptr,
    n_rows,
    n_cols,
    stride_dyrow,
    stride_xrow,
    stride_dxrow,
    stride_partrow,
    PARTS: tl.constexpr,
    BLOCK_N: tl.constexpr,
    STAGES: tl.constexpr,
    INNER_STAGES: tl.constexpr,
):
    part = tl.program_id(0) % PARTS
    walker = tl.program_id(0) // PARTS
    n_walkers = tl.num_programs(0) // PARTS
    own = part * BLOCK_N + tl.arange(0, BLOCK_N)
    own_mask = own < n_cols
    dw_acc = tl.zeros([BLOCK_N], tl.float32)
    db_acc = tl.zeros([BLOCK_N], tl.float32)
    first_row = walker.to(tl.int64)
    for i in tl.range(0, tl.cdiv(n_rows - walker, n_walkers), num_stages=STAGES):
        row = first_row + i * n_walkers
        mean = tl.load(mean_ptr + row)
        rstd = tl.load(rstd_ptr + row)
        x = tl.load(x_ptr + row * stride_xrow + own, mask=own_mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + row * stride_dyrow + own, mask=own_mask, other=0.0).to(tl.float32)
        xhat = (x - mean) * rstd
        g = dy * tl.load(w_ptr + own, mask=own_mask, other=0.0).to(tl.float32)
        sum_gx = tl.sum(g * xhat, axis=0)
        sum_g = tl.sum(g, axis=0)
        for k in tl.range(1, PARTS, num_stages=INNER_STAGES):
            other = ((part + k) % PARTS) * BLOCK_N + tl.arange(0, BLOCK_N)
            other_mask = other < n_cols
            g_far, xhat_far = ln._g_and_xhat(
                x_ptr,
                dy_ptr,
                w_ptr,
                row * stride_xrow + other,
                row * stride_dyrow + other,
                other,
                other_mask,
                other_mask,
                mean,
                rstd,
                True,
            )
            sum_gx += tl.sum(g_far * xhat_far, axis=0)
            sum_g += tl.sum(g_far, axis=0)
        dx = (g - (xhat * (sum_gx / n_cols) + sum_g / n_cols)) * rstd
        tl.store(dx_ptr + row * stride_dxrow + own, dx.to(dx_ptr.dtype.element_ty), mask=own_mask)
        dw_acc += dy * xhat
        db_acc += dy
    part_offsets = walker.to(tl.int64) * stride_partrow + own
    tl.store(dw_part_ptr + part_offsets, dw_acc, mask=own_mask)
    tl.store(db_part_ptr + part_offsets, db_acc, mask=own_mask)


def parts_backward(dy, x, mean, rstd, weight, bias, block=8192, warps=16, stages=2, inner=1):
    x_rows, dy_rows = as_rows(x), as_rows(dy)
    n_rows, n_cols = x_rows.shape
    dx = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    block = min(block, triton.next_power_of_2(n_cols))
    parts = triton.cdiv(n_cols, block)
    sm = 4 if interpreting() else ln._sm_count(0)
    n_walkers = min(n_rows, max(sm // parts, 1))
    partial = torch.empty((2, n_walkers, n_cols), dtype=torch.float32, device=x.device)
    _parts_kernel[(parts * n_walkers,)](
        dy_rows,
        x_rows,
        weight,
        mean.reshape(-1),
        rstd.reshape(-1),
        dx,
        partial[0],
        partial[1],
        n_rows,
        n_cols,
        dy_rows.stride(0),
        x_rows.stride(0),
        dx.stride(0),
        partial.stride(1),
        PARTS=parts,
        BLOCK_N=block,
        STAGES=stages,
        INNER_STAGES=inner,
        num_warps=warps,
    )
    sums = ln.sum_partials(partial, x.dtype)
    return dx, sums[0], sums[1]


def _tiers(n: int, dtype: torch.dtype) -> dict:
    x = torch.randn(4096 * 16384 // n, n, device="cuda", dtype=dtype)
    w, b = (torch.randn(n, device="cuda", dtype=dtype) for _ in "wb")
    dy = torch.randn_like(x)
    _, mean, rstd = ln.layer_norm(x, w, b)
    args = (dy, x, mean, rstd, w, b)
    return {
        "pytorch": lambda: torch.ops.aten.native_layer_norm_backward(
            dy, x, [n], mean[:, None], rstd[:, None], w, b, [True] * 3
        ),
        "library": lambda: ln.layer_norm_backward(*args),
        "tickets": lambda: ticket_backward(*args, cfg=dict(GROUP_ROWS=64, LAG=4)),
        "scratch": lambda: scratch_backward(*args, cfg=dict(EVICT=True)),
        "parts": lambda: parts_backward(*args, block=8192, warps=8, stages=2),
    }


def main() -> None:
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    parts = sys.argv[1:] == ["parts"]
    for dtype, n in itertools.product(
        (torch.float16, torch.float32), (32768,) if parts else (16384,)
    ):
        tiers = _tiers(n, dtype)
        if parts:
            tiers = {k: tiers[k] for k in ("pytorch", "library", "parts")}
        else:
            del tiers["parts"]
        ref = [t.float() for t in tiers["library"]()]
        base = median_us(tiers["pytorch"])
        for name, fn in tiers.items():
            got = [t.float() for t in fn()]
            err = max(
                float((g - r).abs().max() / r.abs().max()) for g, r in zip(got, ref, strict=True)
            )
            speedup = base / median_us(fn)
            print(f"{str(dtype)[6:]:<8} {name:<8} {speedup:.2f}x PyTorch (max rel diff {err:.0e})")


if __name__ == "__main__":
    main()
