"""Sweep the launch constants of the row-wise kernels on a GPU, against PyTorch.

The launchers choose block sizes and warps by plain heuristics (no @triton.autotune: it
cannot run in the interpreter). This script re-measures those choices: it sets the
module constants the heuristics read, times each variant with harness.perf.timing (median
device time, L2 flushed) on the issue's shapes, and prints the speedup over PyTorch
eager for each.

    PYTHONPATH=. python benchmarks/tune_rowwise.py [SWEEP ...]   (SWEEPS' keys; default all)
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import sys

import torch
import torch.nn.functional as F

import kernels._rows as rows
import kernels.add_row_sum as add_row_sum_op
import kernels.layer_norm as ln
import kernels.layer_norm_tuned as ln_tuned
import kernels.scale as scale_op
import kernels.softmax as softmax_op
import kernels.vector_add as vector_add_op
from harness.perf.timing import CudaEventTimer
from kernels.add_row_sum import add_row_sum
from kernels.softmax import softmax

DTYPES = (torch.float16, torch.float32)


@contextlib.contextmanager
def constants(module, **values):
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


_TIMER = CudaEventTimer()


def median_us(fn) -> float:
    """Device time as the benchmarks take it (harness.perf.timing: L2 flushed, and the host's
    launch cost hidden behind a spin, which plain do_bench times for launchers whose
    Python costs more than its flush)."""
    fn()
    _TIMER.time_calls(fn, 20)  # warm-up
    return 1e3 * statistics.median(_TIMER.time_calls(fn, 100))


def sweep(title, shapes, variants, make):
    """make(shape, dtype) -> (triton_fn, torch_fn[, copy_fn]); variants: [(module, {const:
    value})], or lists of such pairs (constants of several modules). With a copy_fn (a
    device copy of the bytes the op moves once), each variant's time is also given as a
    fraction of that copy's."""
    variants = [v if isinstance(v, list) else [v] for v in variants]
    print(f"\n## {title}", flush=True)
    for shape, dtype in itertools.product(shapes, DTYPES):
        triton_fn, torch_fn, *copy_fn = make(shape, dtype)
        base = median_us(torch_fn)
        copy = median_us(copy_fn[0]) if copy_fn else None
        cells = []
        for variant in variants:
            with contextlib.ExitStack() as stack:
                for module, values in variant:
                    stack.enter_context(constants(module, **values))
                t = median_us(triton_fn)
            label = ",".join(f"{k}={v}" for _, values in variant for k, v in values.items())
            cells.append((base / t, label, t))
        best = max(cells)
        row = "  ".join(f"{s:.2f}x" + (f" ({copy / t:.0%})" if copy else "") for s, _, t in cells)
        print(
            f"{shape!s:<14} {str(dtype)[6:]:<8} torch {base:7.1f} us | {row} | best {best[0]:.2f}x"
            f" ({best[1]})",
            flush=True,
        )
    for i, variant in enumerate(variants):
        print(f"  variant {i}: {', '.join(str(values) for _, values in variant)}")


def copy_of(x: torch.Tensor):
    """A device copy of x into a fresh tensor: x read once, its size written once."""
    out = torch.empty_like(x)
    return lambda: out.copy_(x)


def make_softmax(shape, dtype):
    x = torch.randn(shape, device="cuda", dtype=dtype)
    return (lambda: softmax(x)), (lambda: torch.softmax(x, dim=-1)), copy_of(x)


def make_add_row_sum(shape, dtype):
    x = torch.randn(shape, device="cuda", dtype=dtype)
    return (lambda: add_row_sum(x)), (lambda: x + x.sum(-1, keepdim=True)), copy_of(x)


def make_scale(shape, dtype):
    x = torch.randn(shape, device="cuda", dtype=dtype)
    return (lambda: scale_op.scale(x, 2.0)), (lambda: x * 2.0), copy_of(x)


def make_vector_add(shape, dtype):
    x, y = (torch.randn(shape, device="cuda", dtype=dtype) for _ in "xy")
    return (lambda: vector_add_op.vector_add(x, y)), (lambda: x + y)


def make_fwd(shape, dtype):
    n = shape[-1]
    x = torch.randn(shape, device="cuda", dtype=dtype)
    w = torch.randn(n, device="cuda", dtype=dtype)
    b = torch.randn(n, device="cuda", dtype=dtype)
    return (
        (lambda: ln.layer_norm(x, w, b, 1e-5)),
        (lambda: F.layer_norm(x, (n,), w, b, 1e-5)),
        copy_of(x),
    )


def make_bwd(shape, dtype):
    n = shape[-1]
    x = torch.randn(shape, device="cuda", dtype=dtype)
    w = torch.randn(n, device="cuda", dtype=dtype)
    b = torch.randn(n, device="cuda", dtype=dtype)
    dy = torch.randn(shape, device="cuda", dtype=dtype)
    _, mean, rstd = ln.layer_norm(x, w, b, 1e-5)
    mask = [True, True, True]
    return (
        lambda: ln.layer_norm_backward(dy, x, mean, rstd, w, b),
        lambda: torch.ops.aten.native_layer_norm_backward(
            dy, x, [n], mean[:, None], rstd[:, None], w, b, mask
        ),
        # x and dy read, dx written: a copy of 1.5 x's elements moves as many bytes.
        copy_of(torch.empty(x.numel() * 3 // 2, device="cuda", dtype=dtype)),
    )


LN_SHAPES = [(4096, 1024), (4096, 4096), (4096, 8192), (4096, 16384)]

LONG_SHAPES = [(4096, 16384), (2048, 32768), (1024, 65536)]
LONG_VARIANTS = [
    (rows, {}),  # the defaults
    (rows, dict(LOOP_BLOCK=4096)),
    (rows, dict(WHOLE_ROW_MAX=16384)),  # 32768 looped too
    (rows, dict(WHOLE_ROW_MAX=16384, LOOP_BLOCK=4096)),
    (rows, dict(PASS_TWO_FROM_THE_END=False)),  # pass 2 front to back, as before 2026-12-02d
    (rows, dict(MAX_WARPS=16)),  # a whole 32768 row on 16 warps: 64 values a thread
]

# The looped kernel's rows in flight against its loads in flight (16-bit rows past
# WHOLE_ROW_MAX). On the H100 (2026-12-05f, ncu) 1024 x 65536 float16 with one load an
# iteration on 16 warps, 2 programs an SM (33 MB of rows in flight), took 320 MB of DRAM
# traffic for 256 MB of data (L2 hits 43%). Two loads an iteration on 32 warps, one
# program an SM, ran 83% of a same-size copy against 75% (2026-12-06-h100, call 1,
# branch softmax-two-loads): the default since.
FLIGHT_SHAPES = [(4096, 40000), (1024, 65536), (512, 131072)]
FLIGHT_VARIANTS = [
    (rows, {}),  # the defaults: two loads of 8192 columns an iteration on 32 warps
    (softmax_op, dict(LOOP_LOADS=1)),  # one load of 8192 on 16 warps, as before
    [(softmax_op, dict(LOOP_LOADS=1)), (rows, dict(ELEMENTS_PER_THREAD=8))],  # on 32 warps
    (rows, dict(LOOP_BLOCK=16384)),  # two loads of 16384 on 32 warps
    (rows, dict(LOOP_BLOCK=4096)),  # two loads of 4096 on 16 warps
]

SPLIT_SHAPES = [(4096, 16384), (2048, 32768), (1024, 65536), (512, 131072)]
SPLIT_VARIANTS = [
    (rows, {}),  # the defaults: float32 split from 32769 columns in slices of 16384
    (rows, dict(MAX_SLICES=1)),  # no split: looped past WHOLE_ROW_MAX, as before 2026-12-03d
    (rows, dict(SPLIT_MIN_ELEMENT_BYTES=2)),  # 16-bit rows split too
    (rows, dict(SPLIT_MIN_ELEMENT_BYTES=2, SPLIT_SLICE=32768)),  # half the programs to wait for
    (rows, dict(SPLIT_MIN_ELEMENT_BYTES=2, SPLIT_SLICE=8192)),
    (rows, dict(SPLIT_MIN_ELEMENT_BYTES=2, ELEMENTS_PER_THREAD=32)),  # 16 warps a slice
]

# Rows past WHOLE_ROW_MAX: 16-bit ones walked where the op walks (WALK_LONG_ROWS), float32
# ones split (unchanged by these variants: a control). The first sweep of the design
# (2026-12-05c, H100) also timed 8192 to 32768 columns walked: slower than whole rows.
WALKER_SHAPES = [(4096, 40000), (2048, 49152), (1024, 65536), (4096, 65536)]


def walker_variants(op_module):
    """The op's default, its WALK_LONG_ROWS flipped, then the walkers' knobs with walking on
    (not two rows ahead: two 128 KB rows outgrow an SM's shared memory)."""
    on = (op_module, dict(WALK_LONG_ROWS=True))
    return [
        [(op_module, {})],
        [(op_module, dict(WALK_LONG_ROWS=not op_module.WALK_LONG_ROWS))],
        [on, (rows, dict(WALKER_MAX_WARPS=32))],
        [on, (rows, dict(WALKER_STAGES=1))],  # loading nothing ahead
        [on, (rows, dict(WALKERS_PER_SM=2))],
    ]


SWEEPS = {
    "walker-softmax": (
        "softmax, walkers (persistent programs, the next row in shared memory) or not",
        WALKER_SHAPES,
        walker_variants(softmax_op),
        make_softmax,
    ),
    "walker-add_row_sum": (
        "add_row_sum, walkers: as walker-softmax",
        WALKER_SHAPES,
        walker_variants(add_row_sum_op),
        make_add_row_sum,
    ),
    "split-softmax": (
        "softmax, split rows (a program per slice, exchanging max and sum) against looped",
        SPLIT_SHAPES,
        SPLIT_VARIANTS,
        make_softmax,
    ),
    "split-add_row_sum": (
        "add_row_sum, split rows: as split-softmax",
        SPLIT_SHAPES,
        SPLIT_VARIANTS,
        make_add_row_sum,
    ),
    "split16-softmax": (
        "softmax, 16-bit long rows split (slices of 16384 and 32768 columns) against looped",
        [(1024, 65536), (512, 131072), (2048, 49152)],
        [
            (rows, {}),  # the defaults: 16-bit rows looped, float32 split
            (rows, dict(SPLIT_MIN_ELEMENT_BYTES=2)),
            (rows, dict(SPLIT_MIN_ELEMENT_BYTES=2, SPLIT_SLICE=32768)),
            (rows, dict(SPLIT_MIN_ELEMENT_BYTES=2, SPLIT_SLICE=32768, ELEMENTS_PER_THREAD=32)),
            (rows, {}),
        ],
        make_softmax,
    ),
    "long-softmax": (
        "softmax, long rows: the looped kernel's block and pass 2's direction; 32768 looped",
        LONG_SHAPES,
        LONG_VARIANTS,
        make_softmax,
    ),
    "flight-softmax": (
        "softmax, looped 16-bit rows: rows in flight (L2) against loads in flight",
        FLIGHT_SHAPES,
        FLIGHT_VARIANTS,
        make_softmax,
    ),
    "long-add_row_sum": (
        "add_row_sum, long rows: as long-softmax",
        LONG_SHAPES,
        LONG_VARIANTS,
        make_add_row_sum,
    ),
    "scale": (
        "scale: elements per program and warps",
        [(1 << 24,), (1 << 26,), (1 << 28,)],
        [
            (scale_op, dict(BLOCK_SIZE=b, NUM_WARPS=w))
            for b, w in [(4096, 8), (1024, 4), (2048, 4), (4096, 4), (2048, 8), (8192, 8)]
        ],
        make_scale,
    ),
    "vector_add": (
        "vector_add: elements per program and warps (PyTorch's kernel is 0.3-0.5% faster "
        "in 16 bits from 2**26 elements, 2026-12-02d)",
        [(1 << 20,), (1 << 24,), (1 << 26,), (1 << 28,)],
        [
            (vector_add_op, dict(BLOCK_SIZE=b, NUM_WARPS=w))
            for b, w in [(1024, 4), (2048, 4), (2048, 8), (4096, 4), (4096, 8), (8192, 8)]
        ],
        make_vector_add,
    ),
    "softmax": (
        "softmax: rows kept whole up to WHOLE_ROW_MAX, warps capped at MAX_WARPS",
        [(4096, 4096), (4096, 16384), (2048, 32768), (1024, 65536)],
        [
            (rows, dict(WHOLE_ROW_MAX=16384, MAX_WARPS=16)),
            (rows, dict(WHOLE_ROW_MAX=32768, MAX_WARPS=16)),
            (rows, dict(WHOLE_ROW_MAX=32768, MAX_WARPS=32)),
            (rows, dict(WHOLE_ROW_MAX=16384, MAX_WARPS=16, LOOP_BLOCK=8192)),
            (rows, dict(WHOLE_ROW_MAX=16384, MAX_WARPS=16, LOOP_BLOCK=2048)),
        ],
        make_softmax,
    ),
    "fwd": (
        "layer_norm forward: elements per program (TILE_TARGET) and per thread",
        LN_SHAPES,
        [
            (ln, dict(FWD_ELEMENTS_PER_THREAD=32)),  # the default
            (ln, dict(FWD_ELEMENTS_PER_THREAD=64)),
            (ln, dict(FWD_ELEMENTS_PER_THREAD=16)),
            (rows, dict(TILE_TARGET=8192)),
            (rows, dict(TILE_TARGET=2048)),
            (rows, dict(WHOLE_ROW_MAX=8192)),  # 16384 on the looped kernel
        ],
        make_fwd,
    ),
    "bwd": (
        "layer_norm backward: tiles, walkers (whole rows or halves), two passes",
        LN_SHAPES,
        [
            (ln_tuned, values)  # the backward's constants live (and are read) there
            for values in [
                {},  # the defaults
                dict(BWD_WARPS_PER_SM=8),
                dict(BWD_WARPS_PER_SM=32),
                dict(BWD_WARPS_PER_SM=32, BWD_SHORT_16BIT_TILE=1024, BWD_TILE_TARGET=2048),
                dict(SUM_CHUNKS_BLOCK=(32, 32, 4)),
                dict(SUM_CHUNKS_BLOCK=(128, 32, 8)),
                dict(BWD_WALKER_MIN_BYTES=1 << 30),  # no walkers: tiles, then split parts
                dict(BWD_WALKER_MIN_BYTES=4096),  # walkers from 2048 float16 columns
                dict(BWD_WALKER_BLOCK=4096),  # two passes from 8193 columns
                dict(BWD_WALKER_MAX_STAGES=1),
                dict(BWD_WALKER_MAX_STAGES=2),
                dict(BWD_WALKER_WARPS=32),
                dict(BWD_TILED_BLOCK=(16, 256, 8)),
                dict(BWD_TILED_PROGRAMS_PER_SM=2),
            ]
        ],
        make_bwd,
    ),
    # Whole waves against the shapes: 1024 rows of 65536 are 7.76 rows an SM on an
    # H100 (132 SMs, one looped program an SM), 924 and 1056 are 7 and 8; 4096 rows of
    # 4096 are 31.03 an SM in one-row tiles (32 on the busiest SM), 4224 are 32.
    "waves-softmax": (
        "softmax's long rows: whole waves of rows, and the issue's 1024",
        [(924, 65536), (1024, 65536), (1056, 65536)],
        [(rows, {})],
        make_softmax,
    ),
    "waves-bwd": (
        "layer_norm backward's one-pass tiles: whole waves of rows, and the issue's 4096",
        [(3960, 4096), (4096, 4096), (4224, 4096)],
        [(ln_tuned, {})],
        make_bwd,
    ),
    "bwd-walkers": (
        "layer_norm backward, the walkers on the H200: warps and walkers per SM",
        [(4096, 4096), (4096, 8192), (4096, 16384), (8192, 16384)],
        [
            (ln_tuned, dict(BWD_WALKER_WARPS=warps, BWD_WALKERS_PER_SM=per_sm))
            for warps, per_sm in [(16, 1), (8, 1), (4, 1), (8, 2), (4, 2), (4, 4)]
        ],
        make_bwd,
    ),
}


if __name__ == "__main__":
    print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
    for name in sys.argv[1:] or list(SWEEPS):
        sweep(*SWEEPS[name])
