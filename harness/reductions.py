"""Interpreted `tl.reduce` with a combine function of the kernel's own, at numpy speed.

Triton's interpreter runs `tl.sum`, `tl.max` and the other built-in reductions as one
numpy call, but a `tl.reduce` whose combine function is the kernel's (two sums taken as
one reduction, a Welford merge, an argmax of a key) one *element* at a time: a Python
call of the combine function per element, each building interpreter tensors. A
LayerNorm backward reducing (ROWS, 4096) tiles that way spent 26 of its test's 32
seconds there.

`install()` replaces that path (`interpreter.ReduceOps.generic_reduce`, named alike in
Triton 3.6 and 3.9) with a tree: the combine function is called on whole arrays, element
2i with element 2i + 1 along the axis, until one is left: log2(n) calls in all. A combine
function must be associative for a GPU (which reduces in a tree of its own), so the tree
changes no result but by the rounding of a different order, as the GPU's does; the left
operand always holds the lower indices, so a combine that is not commutative (a tie
broken to the left) keeps its meaning. A combine function that cannot take arrays
(Python control flow on its arguments: the interpreter would call a whole block true)
falls back to the interpreter's own loop.

On in interpret and parity modes (`harness.modes.activate` installs it); the environment
variable HARNESS_TREE_REDUCE=0 turns it off.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

ENV = "HARNESS_TREE_REDUCE"

_installed = False
_one_by_one: Any = None
"""The interpreter's own `generic_reduce`, once replaced: the fallback."""


def enabled() -> bool:
    return os.environ.get(ENV, "1") != "0"


def install() -> bool:
    """Replace the interpreter's element-by-element reduction (once per process). Returns
    whether the tree is in place: False when turned off or when this Triton's
    interpreter has no such entry point."""
    global _installed, _one_by_one
    if _installed or not enabled():
        return _installed
    try:
        from triton.runtime import interpreter
    except ImportError:
        return False
    ops = getattr(interpreter, "ReduceOps", None)
    if ops is None or not all(hasattr(ops, n) for n in ("generic_reduce", "to_tensor")):
        return False
    _one_by_one = ops.generic_reduce

    def generic_reduce(self, input):
        try:
            return _tree_reduce(self, input)
        except Exception:  # a combine function that wants scalars: the interpreter's loop
            return _one_by_one(self, input)

    ops.generic_reduce = generic_reduce
    _installed = True
    return True


def _tree_reduce(reduce_op: Any, inputs: tuple) -> list:
    """`ReduceOps.generic_reduce`'s result (one tensor per input, the axis reduced or
    kept as 1, or scalars when reducing everything) by a tree of whole-array combines."""
    import triton.language as tl

    def _data(value: Any) -> Any:  # a combine function may return a Python number
        return value.handle.data if isinstance(value, tl.core.tensor) else value

    flat_axis = reduce_op.axis
    dtypes = [t.dtype for t in inputs]
    arrays = [t.handle.data for t in inputs]
    axis = flat_axis
    if axis is None:  # every input flattened (the interpreter's `unravel` does the first only)
        arrays, axis = [a.reshape(-1) for a in arrays], 0
    while arrays[0].shape[axis] > 1:  # a power of two, as every block's dims
        n = arrays[0].shape[axis]
        left = [np.take(a, np.arange(0, n, 2), axis=axis) for a in arrays]
        right = [np.take(a, np.arange(1, n, 2), axis=axis) for a in arrays]
        halves = zip(left + right, dtypes * 2, strict=True)
        operands = [reduce_op.to_tensor(a, d) for a, d in halves]
        combined = _without_block_truth(tl.core.tensor, reduce_op.combine_fn.fn, operands)
        combined = combined if isinstance(combined, tuple) else (combined,)
        arrays = [
            np.broadcast_to(np.asarray(_data(value)).astype(a.dtype, copy=False), half.shape)
            for value, a, half in zip(combined, arrays, left, strict=True)
        ]
    results = []
    for a, dtype in zip(arrays, dtypes, strict=True):  # the axis is 1 long now
        if not reduce_op.keep_dims:
            a = np.squeeze(a, axis=axis)
            if flat_axis is None:  # everything reduced: a scalar
                a = a.item()
        results.append(reduce_op.to_tensor(a, dtype))
    return results


def _without_block_truth(tensor_type: type, fn: Any, operands: list) -> Any:
    """fn(*operands), where the truth value of a block raises. The interpreter calls any
    block true (a scalar's truth is its value): a combine function that branches on its
    arguments (`if a > b`, `a if c else b`, `and`, `while`) would take one branch for
    every element at once, and is sent to the interpreter's loop instead."""
    truth = tensor_type.__bool__

    def scalar_truth(self):
        if self.handle.data.size != 1:
            raise TypeError("a combine function branches on its arguments")
        return truth(self)

    tensor_type.__bool__ = scalar_truth
    try:
        return fn(*operands)
    finally:
        tensor_type.__bool__ = truth
