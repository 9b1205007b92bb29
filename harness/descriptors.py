"""Tensor-descriptor blocks at any column in Triton's interpreter, as on the GPU.

Hopper's copy engine (TMA) fetches a block of a tensor at any coordinates: negative, past
the end (both read as zeros) and, in the innermost dimension, at any element. Triton's
interpreter (3.6 and 3.9) asserts that the innermost offset of a descriptor's block is a
multiple of 16 bytes, so a kernel that moves its block by one column, such as a
convolution's tap reading an NCHW image's rows (kernels/conv2d.py), cannot be
interpreted. `install()` lets it be: a block at an unaligned column is computed as a
block that many columns wider at the aligned column just before it, with those columns
cut off again. The addresses and masks are the interpreter's own, element for element.

Installed with the bounds check (`harness.modes.activate`, `harness.parity.interpreted`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

_installed = False


def _cut(value: Any, skew: int) -> Any:
    """The interpreter's pointer or mask block (a TensorHandle, or a NumPy array in
    Triton 3.6's masks) without its first `skew` columns."""
    if isinstance(value, np.ndarray):
        return value[..., skew:]
    return type(value)(value.data[..., skew:], value.dtype)


def install() -> bool:
    """Wrap the interpreter's descriptor block addressing (once per process). False when
    this Triton's interpreter has no such entry point."""
    global _installed
    if _installed:
        return True
    try:
        from triton.runtime.interpreter import TensorDescHandle
    except ImportError:
        return False
    if not hasattr(TensorDescHandle, "materialize_pointers"):
        return False
    materialize = TensorDescHandle.materialize_pointers

    def materialize_pointers(self, offsets):
        itemsize = self.base.dtype.element_ty.primitive_bitwidth // 8
        per_16_bytes = max(16 // itemsize, 1)
        column = offsets[-1]
        skew = int(np.asarray(column.data).reshape(-1)[0]) % per_16_bytes
        if skew == 0:
            return materialize(self, offsets)
        wider = copy.copy(self)
        wider.block_shape = [*self.block_shape[:-1], self.block_shape[-1] + skew]
        aligned = type(column)(column.data - skew, column.dtype)
        pointers, masks = materialize(wider, [*offsets[:-1], aligned])
        return _cut(pointers, skew), _cut(masks, skew)

    TensorDescHandle.materialize_pointers = materialize_pointers
    _installed = True
    return True
