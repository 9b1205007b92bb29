"""Interpreted `tl.reduce` and `tl.associative_scan` with a combine function of the
kernel's own, at numpy speed.

Triton's interpreter runs `tl.sum`, `tl.max`, `tl.cumsum` and the other built-in
reductions and scans as one numpy call, but a `tl.reduce` or `tl.associative_scan` whose
combine function is the kernel's (two sums taken as one reduction, a Welford merge, an
argmax of a key, a linear recurrence) one *element* at a time: a Python call of the
combine function per element, each building interpreter tensors. A LayerNorm backward
reducing (ROWS, 4096) tiles that way spent 26 of its test's 32 seconds there.

`install()` replaces both paths (`interpreter.ReduceOps.generic_reduce` and
`ScanOps.generic_scan`, named alike in Triton 3.6 and 3.9) with trees of calls of the
combine function on whole arrays, log2(n) calls in all: a reduction combines element 2i
with element 2i + 1 along the axis until one is left; a scan combines each element with
the running result d before it, for d = 1, 2, 4, ... (Hillis and Steele). A combine
function must be associative for a GPU (which reduces and scans in trees of its own), so
a tree changes no result but by the rounding of a different order, as the GPU's does;
the left operand always covers the lower indices, so a combine that is not commutative
(a tie broken to the left, the composition of affine maps) keeps its meaning. A combine
function that cannot take arrays (Python control flow on its arguments: the interpreter
would call a whole block true) falls back to the interpreter's own loop.

On in interpret and parity modes (`harness.modes.activate` installs it); the environment
variable HARNESS_TREE_REDUCE=0 turns it off.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from harness.patches import interpreter_patch

ENV = "HARNESS_TREE_REDUCE"

_one_by_one: dict[str, Any] = {}
"""The interpreter's own `generic_reduce` and `generic_scan`, once replaced: the fallbacks."""


@interpreter_patch(ENV)
def install(interpreter: ModuleType) -> bool:
    """Replace the interpreter's element-by-element reductions and scans (once per
    process). Returns whether the trees are in place: False when turned off or when this
    Triton's interpreter lacks either entry point."""
    paths = {
        "generic_reduce": (getattr(interpreter, "ReduceOps", None), _tree_reduce),
        "generic_scan": (getattr(interpreter, "ScanOps", None), _tree_scan),
    }
    if not all(hasattr(ops, name) and hasattr(ops, "to_tensor") for name, (ops, _) in
               paths.items()):  # fmt: skip
        return False
    for name, (ops, tree) in paths.items():
        _one_by_one[name] = getattr(ops, name)
        setattr(ops, name, _with_fallback(name, tree))
    return True


def _with_fallback(name: str, tree: Any) -> Any:
    def generic(self, input):
        try:
            return tree(self, input)
        except Exception:  # a combine function that wants scalars: the interpreter's loop
            return _one_by_one[name](self, input)

    return generic


def _tree_reduce(reduce_op: Any, inputs: tuple) -> list:
    """`ReduceOps.generic_reduce`'s result (one tensor per input, the axis reduced or
    kept as 1, or scalars when reducing everything) by a tree of whole-array combines."""
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
        arrays = _combine(reduce_op, left, right, dtypes)
    results = []
    for a, dtype in zip(arrays, dtypes, strict=True):  # the axis is 1 long now
        if not reduce_op.keep_dims:
            a = np.squeeze(a, axis=axis)
            if flat_axis is None:  # everything reduced: a scalar
                a = a.item()
        results.append(reduce_op.to_tensor(a, dtype))
    return results


def _tree_scan(scan_op: Any, inputs: list) -> list:
    """`ScanOps.generic_scan`'s result (one tensor per input, of its shape; a reverse
    scan's inputs come flipped) by doubling: after the step of distance d, element i
    holds the combination of elements max(0, i - 2d + 1) to i."""
    axis = scan_op.axis
    dtypes = [t.dtype for t in inputs]
    arrays = [t.handle.data for t in inputs]
    n = arrays[0].shape[axis]
    # Shapes stay whole (a block's dims are powers of two): each step combines every
    # element with the one `distance` before it, rolled around, and the first `distance`
    # elements, which have none before them, keep what they hold.
    index = np.arange(n).reshape([n if i == axis else 1 for i in range(arrays[0].ndim)])
    distance = 1
    while distance < n:
        before = [np.roll(a, distance, axis=axis) for a in arrays]
        combined = _combine(scan_op, before, arrays, dtypes)
        arrays = [np.where(index < distance, a, c) for a, c in zip(arrays, combined, strict=True)]
        distance *= 2
    return [scan_op.to_tensor(a, d) for a, d in zip(arrays, dtypes, strict=True)]


def _combine(op: Any, left: list, right: list, dtypes: list) -> list:
    """The op's combine function on whole arrays: left's elements with right's, as
    arrays of the inputs' dtypes."""
    import triton.language as tl

    operands = [op.to_tensor(a, d) for a, d in zip(left + right, dtypes * 2, strict=True)]
    combined = _without_block_truth(tl.core.tensor, op.combine_fn.fn, operands)
    combined = combined if isinstance(combined, tuple) else (combined,)
    arrays = []
    for value, a in zip(combined, left, strict=True):
        data = value.handle.data if isinstance(value, tl.core.tensor) else value  # or a number
        arrays.append(np.broadcast_to(np.asarray(data).astype(a.dtype, copy=False), a.shape))
    return arrays


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
