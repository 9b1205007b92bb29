"""The one tolerance policy: rounding-error bounds, not literals.

An output element passes when

    |kernel - oracle| <= rtol * (condition + smallest_normal(out dtype))

where `condition` is the magnitude the error is relative to (|oracle| by default; for
a sum, sum |x_i|, so cancellation is judged against what was summed), and

    rtol = output_roundings * u(out dtype)  +  safety * growth(case) * u(float32)

The first term is the final rounding into the output dtype (two roundings by default:
the PyTorch tier often rounds an intermediate, and Triton's interpreter truncates
float32 -> bfloat16 instead of rounding to nearest, an error of up to 2u). The second is
the error accumulated in float32 arithmetic: `growth` is 1 for an elementwise op and
grows like log2(n) for a blocked reduction of length n (Higham ch. 3-4; FACTS.md).
`safety` covers the few float32 operations around each step. An op widens its
bound only through `overrides`, per dtype and with a reason, on its own entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.dtypes import SMALLEST_NORMAL, UNIT_ROUNDOFF

if TYPE_CHECKING:
    from harness.op import Case


TIGHTNESS = 64.0
"""The bound may be at most this many times the PyTorch tier's worst error on an op's
pinned examples (`OpTests.test_tolerance_policy`). Float32 reductions sit near 30x: the
bound is the worst case, log2(n) roundings, while random rounding errors mostly cancel."""


@dataclass(frozen=True)
class Override:
    """A declared widening of the bound for one dtype, with the reason it is needed."""

    factor: float
    reason: str


def _elementwise(case: Case) -> float:
    return 1.0


@dataclass(frozen=True)
class ErrorModel:
    """How an op's rounding error grows; see the module docstring."""

    growth: Callable[[Case], float] = _elementwise
    condition: Callable[..., tuple[Any, ...]] | None = None
    """(np_args, np_kwargs, oracle outputs) -> one magnitude array per output."""
    output_roundings: float = 2.0
    safety: float = 4.0
    accumulate: str = "float32"
    overrides: Mapping[str, Override] = field(default_factory=dict)

    def rtol(self, case: Case, out_dtype: str) -> float:
        tol = (
            self.output_roundings * UNIT_ROUNDOFF[out_dtype]
            + self.safety * self.growth(case) * UNIT_ROUNDOFF[self.accumulate]
        )
        override = self.overrides.get(case.dtype)
        return tol * (override.factor if override else 1.0)

    @staticmethod
    def floor(out_dtype: str) -> float:
        """Added to the condition so that zeros and subnormals are judged absolutely."""
        return SMALLEST_NORMAL[out_dtype]


def reduction_growth(length: Callable[[Case], int]) -> Callable[[Case], float]:
    """Growth of a blocked (tree within a block, loop across blocks) sum of `length` terms."""

    def growth(case: Case) -> float:
        return math.log2(max(length(case), 1)) + 1.0

    return growth
