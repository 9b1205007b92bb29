"""A `@triton.jit` helper whose module sees `triton.language.core`, which the kernels of
tests/test_interpreter_speed.py do not: the interpreter must patch it at the helper's call."""

from __future__ import annotations

import triton
from triton.language import core


@triton.jit
def doubled_through_core(ptr, offsets):
    return core.load(ptr + offsets) * 2
