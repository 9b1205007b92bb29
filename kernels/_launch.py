"""Host-side arithmetic for launch plans, in plain Python.

`triton.cdiv` and `triton.next_power_of_2` are usable inside kernels too: in Triton 3.9
they are constexpr functions, and each host call goes through a wrapper that costs
about 3 us. A launcher that plans with a dozen of them spends more time there than in
its own checks, on every call. These two do the same in well under a microsecond.
"""

from __future__ import annotations


def cdiv(x: int, y: int) -> int:
    """ceil(x / y) for integers, y > 0."""
    return -(-x // y)


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << (n - 1).bit_length() if n > 1 else 1
