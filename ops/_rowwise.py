"""Pieces shared by the entries of row-wise ops (add_row_sum, softmax, layer_norm): row
shapes and pinned examples that reach every code path of `kernels._rows`, the error
model of a sum over each row, the launch configs, and the GPU benchmark shapes."""

from __future__ import annotations

from hypothesis import strategies as st

from harness import Budget, Case, Configs, strategies
from kernels import _plans, _rows

# Row lengths around every block size a row-wise launcher switches at, in either mode.
ROW_BLOCKS = (
    _rows.INTERPRET_LOOP_BLOCK,
    _rows.INTERPRET_WHOLE_ROW_MAX,
    _rows.LOOP_BLOCK,
    _rows.WHOLE_ROW_MAX,
    _rows.INTERPRET_SPLIT_SLICE * _rows.MAX_SLICES,
)

ROW_LANES = 4 * 32
"""The fewest parallel accumulators any row kernel's sum has: `tl.sum` adds each thread's
elements in order, then combines the threads in a tree, and a program has 4 warps at
least; the looped kernels keep more lanes (256 or 8192) than that. So a row of n is
summed at depth at most ceil(n / 128) - 1 + 7, in every config and mode."""


def row_lanes(case: Case, mode: str) -> int:
    return ROW_LANES


def row_shapes(budget: Budget, blocks=ROW_BLOCKS) -> st.SearchStrategy[tuple[int, ...]]:
    """(*leading, n) within the budget, n biased to block boundaries, 0 allowed."""
    lengths = strategies.sizes(budget.numel, blocks, allow_empty=True)
    return strategies.shapes(budget.numel, lengths, allow_empty=True, max_rows=budget.rows)


def row_length(case: Case) -> int:
    return case.shape[-1] if case.shape else 1


def row_configs(family: str = "rows", designs: tuple[str, ...] = _rows.ROW_DESIGNS) -> Configs:
    """Whole rows in registers and looped rows (and split rows, for an op with a split
    kernel: `kernels._rows.SPLIT_ROW_DESIGNS`), each with the GPU's and the interpreter's
    block sizes (`kernels._rows.plan_rows`)."""
    return Configs(
        names=_plans.names(family, designs, ("gpu", "interpret")),
        force=_plans.forcing,
        record=_plans.recording,
    )


# Pinned cases for a row-wise launcher, cheap in the interpreter: empty dims, length 1,
# many packed short rows, rows read in place at a padded stride, the largest single
# block and one past it (split where the op has a split kernel and 4-byte elements, else
# looped), rows over several loop blocks, and one past the most slices a row is split in.
_WHOLE, _LOOP = _rows.INTERPRET_WHOLE_ROW_MAX, _rows.INTERPRET_LOOP_BLOCK
_SPLIT_MAX = _rows.INTERPRET_SPLIT_SLICE * _rows.MAX_SLICES
ROW_EXAMPLES: list[tuple[tuple[int, ...], dict]] = [
    ((0,), {}),
    ((3, 0), {}),
    ((0, 5), {}),
    ((1,), {}),
    ((2000, 1), {}),
    ((37, 5), {"layout": "transposed"}),
    ((6, 300), {"layout": "padded"}),
    ((4, _WHOLE), {}),
    ((3, _WHOLE + 1), {"layout": "strided"}),
    ((2, _WHOLE + 3 * _LOOP + 1), {"layout": "transposed"}),
    ((2, _WHOLE + _LOOP + 5), {"layout": "padded"}),
    ((1, _SPLIT_MAX + 3), {}),
    ((8, 700), {"values": "positive"}),
    ((5, 300), {"values": "offset"}),
]

# GPU timings: the common 4096 x 4096, then rows of 1024 to 65536 at 2**26 elements.
ROW_BENCH_CASES: list[tuple[tuple[int, ...], dict]] = [
    ((4096, 4096), {}),
    *((((1 << 26) >> k, 1 << k), {}) for k in range(10, 17)),
]
