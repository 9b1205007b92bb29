"""Interpreted reductions and scans with a kernel's own combine function
(harness.reductions): trees of whole-array combines give what the interpreter's
element-by-element loops give, keep a tie broken to the left on the left and a
recurrence in order, and leave to those loops a combine function that cannot take
arrays."""

from __future__ import annotations

import pytest
import torch
import triton
import triton.language as tl

from harness import reductions
from tests.interpreter_patches import require_patch


@pytest.fixture(autouse=True)
def interpret_only(harness_state):
    require_patch(harness_state, reductions, "the trees replace the interpreter's loops")


@pytest.fixture
def no_fallback(monkeypatch):
    """The interpreter's own loop made unreachable: what passes took the tree."""

    def fell_back(self, input):
        raise AssertionError("the reduction or scan fell back to the interpreter's loop")

    for name in ("generic_reduce", "generic_scan"):
        monkeypatch.setitem(reductions._one_by_one, name, fell_back)


@triton.jit
def _add_pairs(a_sum, b_sum, a, b):
    return a_sum + a, b_sum + b


@triton.jit
def _max_first(value_a, index_a, value_b, index_b):
    """The larger value and its index; on a tie the left one's. Not commutative."""
    take_b = value_b > value_a
    return tl.where(take_b, value_b, value_a), tl.where(take_b, index_b, index_a)


@triton.jit
def _max_by_branching(a, b):
    if a > b:  # Python control flow on the values: scalars only
        return a
    return b


@triton.jit
def _compose_affine(a_first, b_first, a_then, b_then):
    """h -> a_then * (a_first * h + b_first) + b_then: the maps composed in order. Not
    commutative."""
    return a_first * a_then, a_then * b_first + b_then


@triton.jit
def _recurrence_kernel(a_ptr, b_ptr, out_ptr, ROWS: tl.constexpr, COLS: tl.constexpr,
                       REVERSE: tl.constexpr):  # fmt: skip
    """h = a * h_before + b along each row (from its end when REVERSE), from h = 0."""
    offsets = tl.arange(0, ROWS)[:, None] * COLS + tl.arange(0, COLS)[None, :]
    a, b = tl.load(a_ptr + offsets), tl.load(b_ptr + offsets)
    _, h = tl.associative_scan((a, b), 1, _compose_affine, reverse=REVERSE)
    tl.store(out_ptr + offsets, h)


@triton.jit
def _reduce_kernel(x_ptr, y_ptr, out_ptr, ROWS: tl.constexpr, COLS: tl.constexpr,
                   AXIS: tl.constexpr, N_OUT: tl.constexpr, COMBINE: tl.constexpr):  # fmt: skip
    rows = tl.arange(0, ROWS)[:, None]
    cols = tl.arange(0, COLS)[None, :]
    x = tl.load(x_ptr + rows * COLS + cols)
    y = tl.load(y_ptr + rows * COLS + cols)
    outs = tl.arange(0, N_OUT)
    if COMBINE == "pairs":
        first, second = tl.reduce((x, y), AXIS, _add_pairs)
    elif COMBINE == "max_first":
        index = (rows * COLS + cols).to(tl.float32) + 0.0 * x
        first, second = tl.reduce((x, index), AXIS, _max_first)
    else:
        first = tl.reduce(x, AXIS, _max_by_branching)
        second = first
    tl.store(out_ptr + outs, first)
    tl.store(out_ptr + N_OUT + outs, second)


@triton.jit
def _reduce_all_kernel(x_ptr, y_ptr, out_ptr, N: tl.constexpr, KEEP_DIMS: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, N)[:, None] * N + tl.arange(0, N)[None, :])
    y = tl.load(y_ptr + tl.arange(0, N)[:, None] * N + tl.arange(0, N)[None, :])
    first, second = tl.reduce((x, y), None, _add_pairs, keep_dims=KEEP_DIMS)
    if KEEP_DIMS:
        first, second = tl.sum(first), tl.sum(second)  # blocks of one to scalars
    tl.store(out_ptr, first)
    tl.store(out_ptr + 1, second)


def _integers(shape, seed):
    # Whole numbers: every order of the additions gives the same float32 sum.
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-50, 50, shape, generator=gen).float()


def _reduce(x, y, axis, combine):
    rows, cols = x.shape
    n_out = rows if axis == 1 else cols
    out = torch.full((2 * n_out,), float("nan"))
    _reduce_kernel[(1,)](x, y, out, rows, cols, axis, n_out, combine)
    return out.chunk(2)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("shape", [(1, 8), (4, 16), (8, 32), (16, 4)])
def test_two_sums_taken_as_one_reduction_are_both_right(shape, axis, no_fallback):
    x, y = _integers(shape, 0), _integers(shape, 1)
    sums_x, sums_y = _reduce(x, y, axis, "pairs")
    assert torch.equal(sums_x, x.sum(axis)) and torch.equal(sums_y, y.sum(axis))


@pytest.mark.parametrize("axis", [0, 1])
def test_a_tie_broken_to_the_left_stays_left(axis, no_fallback):
    # Few distinct values: every max is tied, and the first of each must win.
    x = torch.randint(0, 3, (8, 32), generator=torch.Generator().manual_seed(2)).float()
    maxes, indices = _reduce(x, x, axis, "max_first")
    expected = x.max(axis).values
    flat = torch.arange(x.numel()).reshape(x.shape)
    first = torch.where(x == x.max(axis, keepdim=True).values, flat, x.numel()).min(axis).values
    assert torch.equal(maxes, expected) and torch.equal(indices, first.float())


@pytest.mark.parametrize("keep_dims", [False, True])
def test_a_reduction_over_every_axis(keep_dims, no_fallback):
    x, y = _integers((8, 8), 3), _integers((8, 8), 4)
    out = torch.full((2,), float("nan"))
    _reduce_all_kernel[(1,)](x, y, out, 8, keep_dims)
    assert torch.equal(out, torch.stack([x.sum(), y.sum()]))


def test_a_combine_function_that_wants_scalars_runs_in_the_interpreters_loop(monkeypatch):
    calls = []
    one_by_one = reductions._one_by_one["generic_reduce"]

    def counted(self, input):
        calls.append(1)
        return one_by_one(self, input)

    monkeypatch.setitem(reductions._one_by_one, "generic_reduce", counted)
    x = _integers((4, 8), 5)
    maxes, _ = _reduce(x, x, 1, "branching")
    assert calls and torch.equal(maxes, x.max(1).values)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shape", [(1, 2), (4, 16), (8, 64)])
def test_a_linear_recurrence_scans_in_order(shape, reverse, no_fallback):
    gen = torch.Generator().manual_seed(6)
    a = torch.randint(0, 2, shape, generator=gen).float() * 2 - 1  # +-1: every sum exact
    b = torch.randint(-9, 10, shape, generator=gen).float()
    out = torch.full(shape, float("nan"))
    _recurrence_kernel[(1,)](a, b, out, *shape, reverse)
    want = torch.empty(shape)
    h = torch.zeros(shape[0])
    for col in reversed(range(shape[1])) if reverse else range(shape[1]):
        h = a[:, col] * h + b[:, col]
        want[:, col] = h
    assert torch.equal(out, want)


def test_the_report_header_says_whether_the_trees_are_on(monkeypatch):
    from harness import modes

    assert "reductions and scans as trees on" in modes.interpreter_aids()
    monkeypatch.setattr(reductions, "install", lambda: False)
    assert f"as trees off ({reductions.ENV}=0" in modes.interpreter_aids()
