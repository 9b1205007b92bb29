"""Floating-point facts the tolerance policy is built from (see Higham, ch. 2).

One table, keyed by dtype name, so no test carries its own epsilon.
"""

from __future__ import annotations

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
