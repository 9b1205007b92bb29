"""Where Triton's interpreter runs a valid kernel otherwise than compiled Triton, fixed.

Comparisons typed as their operands. The interpreter builds `a < b` (every
`create_icmp*` and `create_fcmp*`) as its other binary operations: NumPy's booleans,
labelled with the operands' type (int32 for `n > 1`, float32 for `x < y`) where the
language says int1. A block of such comparisons behaves, but a *scalar* one broadcast
against a block (`create_splat` fills with the label's type) becomes int32 zeros and
ones: `mask = (cols < n) & (i + 1 < n_blocks)`, a mask a compiled kernel takes, is int32
in the interpreter, which Triton 3.9's interpreter refuses to load with ("mask has
unsupported dtype") and Triton 3.6's takes. `install()` labels every comparison int1.

`tl.fma` rounding twice. Triton 3.6's interpreter computes fma(a, b, c) as a * b + c in
the inputs' dtype, two roundings where the GPU's FFMA rounds once: the residual of a
division `fma(-q, n, s)`, exact on the GPU (kernels.layer_norm's row mean), or an
error-free product is not. Where the interpreter has no fused float32 fma of its own
(Triton 3.9's has), `install()` computes float32 and float16 fma in float64 (the product
exact there) and rounds the sum to odd (its lowest bit set where it is inexact) before
rounding to the dtype: once-rounded, as the GPU's. float64 fma stays as the interpreter
does it.

tf32 read as the GPU reads it. The interpreter's `tl.dot` ignores `input_precision`: its
float32 operands are exact, where the GPU's tensor cores read them as tf32 (the default
for float32), dropping the low 13 bits of each (`harness.dtypes.read_by_tensor_cores`):
errors up to 2**-10 of each operand, and a subnormal operand below 2**-136 read as zero
(an inf times it is NaN). `install()` reads a "tf32" dot's float32 operands so too, so
that interpret mode sees what the GPU computes; "ieee" and "tf32x3" stay exact.

Float arguments typed float32. Compiled Triton types a Python float argument fp32
(`triton.runtime.jit.mangle_type`): the launcher rounds it to float32, so 1e-200 arrives
as 0 and 1e39 as inf. The interpreter passes the Python float on, and Triton's typing of
constants makes one outside float32's normal range float64: the kernel then computes in
float64 (and, in Triton 3.9, stores float64 into bfloat16 as garbage: a label smoothing of
5.9e-211 gave cross_entropy's bfloat16 gradient zeros). `install()` rounds each float
argument to a float32 scalar, as the launcher does.

On in interpret and parity modes (`harness.modes.activate` installs it, with the bounds
check and the trees of `harness.reductions`); HARNESS_INTERPRETER_FIXES=0 turns it off.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from harness.dtypes import read_by_tensor_cores
from harness.patches import interpreter_patch

ENV = "HARNESS_INTERPRETER_FIXES"


@interpreter_patch(ENV)
def install(interpreter: ModuleType) -> bool:
    """Label the interpreter's comparisons int1, round its fma once, read a tf32 dot's
    operands and type float arguments as the GPU does (once per process). Returns whether
    the fixes are in place: False when turned off or when this Triton's interpreter builds
    comparisons some other way."""
    import triton.language as tl

    builder = interpreter.InterpreterBuilder
    names = [n for n in dir(builder) if n.startswith(("create_icmp", "create_fcmp"))]
    if not names or not hasattr(interpreter, "TensorHandle"):
        return False
    for name in names:
        setattr(builder, name, _typed_int1(getattr(builder, name), interpreter.TensorHandle, tl))
    if not hasattr(getattr(interpreter, "_interpreter", None), "fma_fp32"):
        builder.create_fma = _rounded_once(builder.create_fma, interpreter.TensorHandle)
    builder.create_dot = _read_as_tf32(builder.create_dot, interpreter.TensorHandle)
    if hasattr(interpreter, "_implicit_cvt"):
        interpreter._implicit_cvt = _floats_as_float32(
            interpreter._implicit_cvt, interpreter.TensorHandle, tl
        )
    return True


def _floats_as_float32(convert, handle_type, tl):
    def floats_as_float32(arg):
        if isinstance(arg, float):
            with np.errstate(over="ignore"):  # past float32's range: inf, as the launcher's
                value = np.array([arg], dtype=np.float32)
            return tl.tensor(handle_type(value, tl.float32), tl.float32)
        return convert(arg)

    return floats_as_float32


def _read_as_tf32(dot, handle_type):
    def read_as_tf32(self, a, b, d, input_precision, max_num_imprecise_acc):
        # (Triton 3.9's interpreter passes a Python enum, 3.6's the compiler's: by name.)
        if getattr(input_precision, "name", None) == "TF32":
            a, b = (
                handle_type(read_by_tensor_cores(x.data, "tf32"), x.dtype.scalar)
                if x.data.dtype == np.float32
                else x
                for x in (a, b)
            )
        return dot(self, a, b, d, input_precision, max_num_imprecise_acc)

    return read_as_tf32


def _typed_int1(compare, handle_type, tl):
    def typed(self, lhs, rhs):
        result = compare(self, lhs, rhs)
        return handle_type(result.data.astype(bool, copy=False), tl.int1)

    return typed


def _rounded_once(fma, handle_type):
    def rounded_once(self, x, y, z):
        dtype = z.data.dtype
        if dtype not in (np.float32, np.float16):
            return fma(self, x, y, z)
        return handle_type(fma_rounded_once(x.data, y.data, z.data), z.dtype.scalar)

    return rounded_once


def fma_rounded_once(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """x * y + z of float32 or float16 arrays (z's dtype), rounded once. The product is
    exact in float64 (48 bits of 53); the sum's rounding error, by Knuth's TwoSum, says
    whether the float64 sum is exact; where it is not, the sum rounded to odd (moved to
    its odd neighbour towards the exact value) carries that to the last rounding, which
    is then the correct one (Boldo and Melquiond's round-to-odd)."""
    x64, y64, z64 = (np.asarray(a, dtype=np.float64) for a in (x, y, z))
    product = x64 * y64
    total = product + z64
    from_product = total - z64
    error = (product - from_product) + (z64 - (total - from_product))
    even = (total.view(np.int64) & 1) == 0
    towards = np.where(error > 0, np.inf, -np.inf)
    inexact = (error != 0) & even & np.isfinite(total)
    with np.errstate(invalid="ignore"):
        odd = np.where(inexact, np.nextafter(total, towards), total)
    return odd.astype(np.asarray(z).dtype)
