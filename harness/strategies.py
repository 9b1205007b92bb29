"""Hypothesis strategies that aim at where kernels break.

Masking bugs live at block boundaries, so sizes are drawn from: exact multiples of a
block size and one off either side; 1; primes; and anything in range (mostly not a
power of two). Layouts add non-contiguous and transposed views.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from harness.tensors import LAYOUTS

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
    choices = [st.sampled_from(boundary_sizes(blocks, max_size)), st.integers(1, max_size)]
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
    allow_empty: bool = False,
) -> tuple[int, ...]:
    """A shape (*leading, n): n from `last`, leading dims so that numel <= max_numel."""
    n = draw(last if last is not None else sizes(max_numel, allow_empty=allow_empty))
    leading: list[int] = []
    room = max_numel // max(n, 1)
    for _ in range(draw(st.integers(0, max_leading))):
        if room < 1:
            break
        d = draw(st.integers(1 if not allow_empty else 0, max(1, min(room, 64))))
        leading.append(d)
        room //= max(d, 1)
    return (*leading, n)


def layouts(ndim_at_least_2: bool = True) -> st.SearchStrategy[str]:
    """Memory layouts of an input; see `harness.tensors.make_tensor`."""
    return st.sampled_from(LAYOUTS if ndim_at_least_2 else ("contiguous", "strided"))


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)
