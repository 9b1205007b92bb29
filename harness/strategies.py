"""Hypothesis strategies that aim at where kernels break.

Masking bugs live at block boundaries, so sizes are drawn from: exact multiples of a
block size and one off either side; 1; primes; and anything in range (mostly not a
power of two, log-uniform). Leading dims take whatever the budget leaves. Layouts add non-contiguous
and transposed views, among those the shape can have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from hypothesis import strategies as st

from harness.tensors import layouts_for

_PRIMES = (2, 3, 5, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 65521)


def boundary_sizes(blocks: Sequence[int], max_size: int) -> list[int]:
    """k*b - 1, k*b and k*b + 1 for each block size b and small k, within max_size."""
    out: set[int] = {1}
    for b in blocks:
        for k in (1, 2, 3, 4, 7, 8, 16, 64):
            for n in (k * b - 1, k * b, k * b + 1):
                if 1 <= n <= max_size:
                    out.add(n)
    out.update(p for p in _PRIMES if p <= max_size)
    return sorted(out)


def sizes(
    max_size: int,
    blocks: Sequence[int] = (128, 1024),
    *,
    allow_empty: bool = False,
) -> st.SearchStrategy[int]:
    """A length in [1, max_size] (or 0 if allow_empty), biased to block boundaries."""
    max_size = max(1, max_size)
    # Anything in range, log-uniform: every scale is drawn as often (a uniform draw would
    # make half the cases larger than max_size / 2, and the big ones cost the most).
    anything = st.floats(0.0, math.log2(max_size)).map(lambda e: min(max_size, round(2**e)))
    choices = [st.sampled_from(boundary_sizes(blocks, max_size)), anything]
    if allow_empty:
        choices.append(st.just(0))
    return st.one_of(*choices)


@st.composite
def shapes(
    draw: st.DrawFn,
    max_numel: int,
    last: st.SearchStrategy[int] | None = None,
    *,
    max_leading: int = 2,
    rank: int | None = None,
    allow_empty: bool = False,
    blocks: Sequence[int] = (128, 256, 1024),
    max_rows: int | None = None,
) -> tuple[int, ...]:
    """A shape (*leading, n): n from `last`, then leading dims (`rank` - 1 of them, or 0
    to max_leading) each as large as the room left under max_numel allows, biased to
    block boundaries like n: the budget decides, so a few long rows and many short rows
    are both drawn (thousands of rows when n is small), up to max_rows rows if given."""
    n = draw(last if last is not None else sizes(max_numel, allow_empty=allow_empty))
    leading: list[int] = []
    room = max_numel // max(n, 1)
    if max_rows is not None:
        room = min(room, max_rows)
    count = rank - 1 if rank is not None else draw(st.integers(0, max_leading))
    for _ in range(count):
        if room < 1 and rank is None:
            break
        d = draw(sizes(max(room, 1), blocks, allow_empty=allow_empty))
        leading.append(d)
        room //= max(d, 1)
    return (*leading, n)


def with_params(
    shape_strategy: st.SearchStrategy[tuple[int, ...]],
    params: Callable[[tuple[int, ...]], st.SearchStrategy[dict]] | None = None,
    **fixed: st.SearchStrategy,
) -> st.SearchStrategy[tuple[tuple[int, ...], dict]]:
    """(shape, params): params["layout"] drawn among the layouts this shape can have (a 1-D
    tensor has no transpose), the `fixed` strategies by name, and `params(shape)` if given."""

    def for_shape(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[tuple[int, ...], dict]]:
        drawn = {"layout": st.sampled_from(layouts_for(shape)), **fixed}
        base = st.fixed_dictionaries(drawn)
        if params is not None:
            base = st.tuples(base, params(shape)).map(lambda pair: {**pair[0], **pair[1]})
        return st.tuples(st.just(shape), base)

    return shape_strategy.flatmap(for_shape)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)
