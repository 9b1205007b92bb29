"""Pieces shared by the entries of row-wise ops (add_row_sum, softmax): row shapes and
pinned examples that reach every code path of `kernels._rows.launch_rowwise`, the error
growth of a row reduction, and the GPU benchmark shapes."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from harness import Budget, Case, ErrorModel, reduction_growth, strategies
from kernels import _rows

# Row lengths around every block size a row-wise launcher switches at, in either mode.
ROW_BLOCKS = (
    _rows.INTERPRET_LOOP_BLOCK,
    _rows.INTERPRET_WHOLE_ROW_MAX,
    _rows.LOOP_BLOCK,
    _rows.WHOLE_ROW_MAX,
)


def row_shapes(budget: Budget) -> st.SearchStrategy[tuple[int, ...]]:
    """(*leading, n) within the budget, n biased to block boundaries, 0 allowed."""
    lengths = strategies.sizes(budget.numel, ROW_BLOCKS, allow_empty=True)
    return strategies.shapes(budget.numel, lengths, allow_empty=True)


def row_length(case: Case) -> int:
    return case.shape[-1] if case.shape else 1


def row_error_model(condition: Callable) -> ErrorModel:
    """Rounding error of an op built on a sum over each row: it grows like log2 of the
    row length (a tree within a block, a loop across blocks), relative to `condition`."""
    return ErrorModel(growth=reduction_growth(row_length), condition=condition)


# Pinned cases for a row-wise launcher, cheap in the interpreter: empty dims, length 1,
# many packed short rows, rows read in place at a padded stride, the largest single
# block and one past it (the looped kernel), and rows over several loop blocks.
_WHOLE, _LOOP = _rows.INTERPRET_WHOLE_ROW_MAX, _rows.INTERPRET_LOOP_BLOCK
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
]

# GPU timings: the common 4096 x 4096, then rows of 1024 to 65536 at 2**26 elements.
ROW_BENCH_CASES: list[tuple[tuple[int, ...], dict]] = [
    ((4096, 4096), {}),
    *((((1 << 26) >> k, 1 << k), {}) for k in range(10, 17)),
]
