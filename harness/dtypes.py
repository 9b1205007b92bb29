"""Floating-point facts the tolerance policy is built from (see Higham, ch. 2).

One table, keyed by dtype name, so no test carries its own epsilon.
"""

from __future__ import annotations

import numpy as np
import torch

FLOAT_DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")

#: u = 2**-(mantissa bits + 1): the largest relative error of one rounding.
UNIT_ROUNDOFF: dict[str, float] = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
    "tf32": 2.0**-11,  # the tensor cores' float32 operands: 10 mantissa bits
}


def operand_error(precision: str) -> float:
    """The largest relative error of one operand of a product that is converted to
    `precision` before the multiply: a rounding, u, except tf32. NVIDIA's tensor cores read
    a float32 operand in tf32 mode by *truncating* its mantissa to 10 bits (Triton's own
    tests mask the inputs with 0xffffe000 to match): an error below 2**-10 = 2 u(tf32).
    Measured on the H200: a 1x1x1 float32 tl.dot off by 1.36e-3 relative, past the 9.8e-4
    of two roundings."""
    return 2.0**-10 if precision == "tf32" else UNIT_ROUNDOFF[precision]


#: Below this, a value is subnormal and its rounding error is absolute, not relative.
SMALLEST_NORMAL: dict[str, float] = {
    "float64": 2.0**-1022,
    "float32": 2.0**-126,
    "float16": 2.0**-14,
    "bfloat16": 2.0**-126,
}

#: Tensor-core operand types read by dropping low bits of a float32 operand's bit
#: pattern (truncation toward zero), and how many: tf32 keeps 10 of float32's 23
#: mantissa bits. On a normal operand that is `operand_error`; a subnormal one loses its
#: low bits absolutely (to a multiple of 2**-136), and one below 2**-136 reads as zero.
#: Seen on an H100 (a night run's float32 conv2d, 2026-12-06,
#: benchmarks/results/2026-12-06h-h100): -inf times a weight of 6.4e-42 came out NaN, where
#: the oracle and cuDNN gave -inf; the four elements that failed are exactly those where
#: -inf meets the one weight below 2**-136 (all 529 subnormal weights zeroed would have
#: made 808). 16-bit operands are read as they are.
TRUNCATED_OPERANDS: dict[str, int] = {"tf32": 13}


def read_by_tensor_cores(a: np.ndarray, operands: str) -> np.ndarray:
    """a, float32 values (in float32 or float64), as the tensor cores read it as
    `operands` (TRUNCATED_OPERANDS), in a's dtype; NaN stays NaN."""
    mask = ~np.uint32((1 << TRUNCATED_OPERANDS[operands]) - 1)
    read = (a.astype(np.float32).view(np.uint32) & mask).view(np.float32).astype(a.dtype)
    return np.where(np.isnan(a), a, read)


_TORCH = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
_NAMES = {v: k for k, v in _TORCH.items()}


def to_torch(name: str) -> torch.dtype:
    """The torch dtype called `name` ("float16", ...)."""
    try:
        return _TORCH[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected one of {sorted(_TORCH)}") from None


def itemsize(name: str) -> int:
    """Bytes per element of the dtype called `name`."""
    return to_torch(name).itemsize


def name_of(dtype: torch.dtype) -> str:
    """The short name of a floating torch dtype ("float16"); str(dtype) for others."""
    return _NAMES.get(dtype, str(dtype).replace("torch.", ""))
