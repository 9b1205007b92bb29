"""The one tolerance policy: rounding-error bounds derived per output, not literals.

An element t of a tier's output passes against the float64 oracle o when

    |t - o|  <=  a * u(out) * |o|  +  (g * u(acc) + r * u(out)) * condition  +  floor

Each term is one source of error (Higham, Accuracy and Stability of Numerical Algorithms,
ch. 2-4; ../shared/FACTS.md):

* ``a * u(out) * |o|``: the final rounding of the result into the output dtype, relative
  to the result itself. One rounding to nearest (a = 1), except for a kernel's bfloat16
  output in Triton's interpreter, which *truncates* float32 to bfloat16 (its
  ``cast_impl`` drops the low bits): an error below one ulp, 2u (a = 2).
* ``g * u(acc) * condition``: the error accumulated inside, in the accumulation dtype
  (float32). ``condition`` is what that error is
  relative to: for a sum, sum |x_i|, so cancellation is judged against what was summed
  and not against a small result. ``g`` counts roundings: ``steps`` for the elementwise
  work around the reduction, plus the growth of the reduction itself. A term of a sum
  of n terms goes through ``depth`` roundings: a tree over n lanes has depth
  ceil(log2 n); a blocked reduction (each of L lanes walks ceil(n/L) terms in order,
  then a tree over the lanes) ceil(n/L) - 1 + ceil(log2 L); a sum in spans (each span
  of S terms summed in order apart, then the spans in order: `Spans`) S - 1 + ceil(n/S)
  - 1; an unknown order (PyTorch's, or a kernel that does not declare its order) up to
  n - 1. The worst case is then
  ``depth * u * condition``; rounding errors of round-to-nearest behave as independent
  and mean-zero, and with probability at least 1 - 2 exp(-LAMBDA**2 / 2) (below 1e-13)
  the error is within ``LAMBDA * sqrt(depth) * u * condition`` (Higham and Mary, "A new
  approach to probabilistic rounding error analysis", SISC 2019). The growth is the
  smaller of the two, so long sequential loops get a bound that grows like sqrt(n).
  Only so far: past STAGNATION_DEPTH roundings of one running sum of same-sign terms,
  each term is a few units of the sum's last place and round-to-nearest's errors are
  no longer mean-zero (the small terms' share is dropped: stagnation). Past that depth
  each rounding counts in full.
  Not so on a GPU's tensor cores: each step of a tl.dot (an MMA instruction) adds its
  products to the float32 accumulator *truncated* (rounded toward zero), errors of one
  sign wherever the terms have one. Such a sum's growth is at least
  ``TENSOR_CORE_STEP * ceil(n / k)`` for k products a step, linear in n: on an H100 a
  bfloat16 dot of K = 133003 non-negative terms erred by 12690 u sum |a b| against
  LAMBDA sqrt(K) = 2918 (`benchmarks/dot_accumulation_probe.py`, which a night run's
  failing matmul led to). The growth is the larger of the two.
* ``p * e(operands) * condition``: a dot whose operands are converted before they are
  multiplied (a float32 ``tl.dot`` truncates both to tf32 on the GPU, and in the
  interpreter as `harness.interpreter_fixes` reads it, each off by
  e < 2**-10: p = 2, relative to sum |a b|; `harness.dtypes.operand_error`), where the
  products of the others are exact in float32 (p = 0).
* ``r * u(out) * condition``: roundings of intermediates into the output dtype that a
  *reference* tier makes (PyTorch's ``x + x.sum()`` rounds the sum to float16 before the
  add). Kernels compute in float32 and get r = 0: a kernel that rounds an intermediate to
  16 bits is exactly the bug this policy must catch.
* ``floor``: absolute error where the result is subnormal: half the spacing of the
  output dtype's subnormals per rounding into it (the final one, and a reference's r),
  plus one smallest normal of the
  accumulation dtype per rounding (a GPU may flush a subnormal float32 intermediate).

A 16-bit accumulator in a kernel fails this bound: its error is u(float16) relative to
the partial sums, where the bound allows u(float32) relative to the condition and one
rounding of the result.

An op describes each output with an `OutputModel` (its condition, its reduction length
and lanes, its elementwise steps); `ErrorModel.bounds(case, mode, tier)` turns them into
one `Bound` per output, which is what the engine applies and the report prints.

An output with no rounding in it (a mask, an index, a count: `exact`) is held to
equality with the oracle, element for element, in whatever dtype it comes (bool and
integers included, which no rounding bound describes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.dtypes import SMALLEST_NORMAL, TRUNCATED_OPERANDS, UNIT_ROUNDOFF, operand_error

if TYPE_CHECKING:
    from harness.op import Case

LAMBDA = 8.0
"""Confidence of the probabilistic growth: a bound exceeded with probability below
2 exp(-LAMBDA**2 / 2) = 2.5e-14 per element (Higham and Mary 2019, Theorem 3.1)."""

STAGNATION_DEPTH = 2**18
"""Roundings of one sequential sum up to which `growth` is probabilistic. A float32 sum
of n same-sign terms grows to about n times a term, which then spans 1 / (n u) units of
its last place: 32 or more up to n = 2**18. Measured (`benchmarks/stagnation_probe.py`,
NumPy's float32 cumsum, which adds in order, one seed): iid |normal|, exponential and
products of uniform values stay within 0.07 LAMBDA sqrt(n) up to 2**18 and leave it by
2**22 (1.22, 1.54 and 1.94 times it), 1000 + N(0, 1) leaves it 11 times at 2**19; with
this growth, 0.25 at most. An H100's matmul on float32 operands with precision "ieee"
(fused multiply-adds, K in order: the kernel before 317c53b, which sums spans) erred as
the cumsum does on a sum of 3 x 2**20 products of uniform values: 24,000 u against
LAMBDA sqrt(n) = 14,200 (benchmarks/results/2026-12-07c-h100). A constant term (0.1,
not representable) errs in one direction from the start, 2.5 times LAMBDA sqrt(n) at
2**14: no probabilistic growth holds for it at any depth, and no value profile draws
one."""

TENSOR_CORE_STEP = 4.0
"""Roundings (u(float32) relative to the terms' magnitudes, sum |a b|) one tensor-core
step may err by, all toward zero: its products are aligned to the accumulator and
truncated. Measured on an H100 (benchmarks/dot_accumulation_probe.py, uniform
non-negative terms, K = 1024 to 262144): at most 1.63 a step for 16-bit operands (16
products a step), 0.95 for float32 ones held in tf32 (8 a step; Triton lowers that
probe's multiply-and-sum to tf32 HGMMA). There the partial sums average half of sum |a b|;
terms that come early (partial sums near the whole all along) would err up to twice as
much a step, hence 4."""

MMA_PRODUCTS = {"float16": 16, "bfloat16": 16, "tf32": 8}
"""Products one tensor-core step (an sm_80/sm_90 MMA instruction) sums, by operand type."""

TIGHTNESS = 64.0
"""float32: on some pinned example, PyTorch's worst element uses at least 1/TIGHTNESS of
its bound (`harness.testing.tightness`)."""
TIGHTNESS_16BIT = 8.0
"""float16/bfloat16: on the median pinned example, PyTorch's worst element uses at least
1/TIGHTNESS_16BIT of its bound: the final rounding dominates there."""


@dataclass(frozen=True)
class Values:
    """What a condition is computed from: the oracle's float64 inputs and outputs."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    oracle: tuple[np.ndarray, ...]
    cache: dict[Any, Any] = field(default_factory=dict, compare=False)
    """For conditions that share work (a 64M-element case costs seconds per pass)."""


@dataclass(frozen=True)
class Spans:
    """A kernel's sum in spans: each span of `length` consecutive terms summed in order
    apart, then the spans' sums added in order to a running total (matmul's float32 ieee
    K loop, `kernels.matmul.spanned`). A term goes through at most length - 1 roundings
    in its span and ceil(n / length) - 1 in the total, so no running sum is longer than
    the longer of the two (below STAGNATION_DEPTH up to length x 2**18 terms). `lengths`:
    each span length the kernel may use (its configs' K steps differ); the deepest
    counts."""

    lengths: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.lengths or min(self.lengths) < 1:
            raise ValueError(f"Spans needs span lengths >= 1, got {self.lengths!r}")

    def depth(self, n: int) -> int:
        return max(min(n, s) - 1 + math.ceil(n / s) - 1 for s in self.lengths)


Order = int | Spans | None
"""A kernel's summation order, as an op declares it (`OutputModel.lanes`): an int, that
many parallel accumulators each summing its share in order, then a tree over them; a
`Spans`; None, any order at all."""


def sum_depth(n: int, lanes: Order = None) -> int:
    """Roundings one term of a float sum of n terms goes through: a tree over `lanes`
    lanes after each lane summed ceil(n / lanes) terms in order; a `Spans`' depth; any
    order at all (up to n - 1) when lanes is None."""
    if n <= 1:
        return 0
    if lanes is None:
        return n - 1
    if isinstance(lanes, Spans):
        return lanes.depth(n)
    lanes = max(1, min(lanes, n))
    return math.ceil(n / lanes) - 1 + math.ceil(math.log2(lanes))


def growth(depth: int) -> float:
    """The smaller of the worst-case growth of `depth` roundings and the probabilistic
    growth of the first STAGNATION_DEPTH of them plus the worst case of the rest."""
    settled = min(depth, STAGNATION_DEPTH)
    return min(float(depth), LAMBDA * math.sqrt(settled) + (depth - settled))


def tensor_core_growth(n: int, operands: str | None) -> float:
    """The growth of a sum of n products on the tensor cores, `operands` their type
    ("float16", "bfloat16", "tf32"; None: not on the tensor cores, 0): every step of
    MMA_PRODUCTS[operands] products truncates, up to TENSOR_CORE_STEP each, errors of one
    sign that no probabilistic argument shrinks."""
    if operands is None or n <= 1:
        return 0.0
    return TENSOR_CORE_STEP * math.ceil(n / MMA_PRODUCTS[operands])


def _magnitude(v: Values, j: int) -> np.ndarray:
    return np.abs(v.oracle[j])


@dataclass(frozen=True)
class OutputModel:
    """How the rounding error of one output grows; see the module docstring.

    name        what the output is called in reports ("y", "dweight").
    condition   (Values) -> the magnitudes the accumulated error is relative to, of the
                output's shape, finite and >= 0 wherever the oracle is finite.
                None: |oracle| (an elementwise result).
    terms       (case) -> n, the terms of the sum that makes one element (1: none); or a
                tuple of lengths, for sums of sums (their growths add).
    lanes       (case, mode) -> the kernel's order for that sum (`Order`): its parallel
                accumulators, a `Spans`, or None (an order the model does not know,
                depth n - 1); or a tuple, one per length in `terms`. PyTorch's order is
                never known: its tier always gets n - 1.
    steps       float32 roundings per element outside the sum (the elementwise work,
                counting a GPU's approximate exp, rsqrt or division as its error in ulps).
    accumulate  (case, mode) -> the dtype the kernel accumulates in ("float32").
    operands    (case, mode) -> the precision the kernel rounds the operands of each
                product to before multiplying ("tf32" for a float32 tl.dot: on the GPU,
                and in the interpreter, `harness.interpreter_fixes`),
                or None: exact products.
    reference_roundings
                intermediates the PyTorch tier rounds to the output dtype (r).
    tensor_cores
                (case, mode) -> the type of the operands where the sum runs on a GPU's
                tensor cores ("float16", "bfloat16", "tf32"), or None: ordinary
                arithmetic. There each step truncates (`tensor_core_growth`): the growth
                is the larger of that and the rounding-to-nearest one. For the PyTorch
                tier too (cuBLAS and cuDNN use the same units).
    operand_args
                the inputs (positions in the oracle's args) whose elements are the
                products' operands. Where `operands` names a type read by truncating
                float32 (`harness.dtypes.TRUNCATED_OPERANDS`: tf32), a
                subnormal operand loses its low bits absolutely, past any relative bound
                (one below 2**-136 reads as zero: an inf times it is NaN): each element
                may instead be, within the same bound, what the oracle makes of these
                inputs as the tensor cores read them (`truncated_operands`).
    exact       no rounding to allow: every element must equal the oracle's (NaN where it
                is NaN), in any dtype: a mask, an index, a count, a copy (`exact`).
    """

    name: str
    condition: Callable[[Values], np.ndarray] | None = None
    terms: Callable[[Case], int | tuple[int, ...]] = lambda case: 1
    lanes: Callable[[Case, str], Order | tuple[Order, ...]] = lambda case, mode: None
    steps: float = 1.0
    accumulate: Callable[[Case, str], str] = lambda case, mode: "float32"
    reference_roundings: float = 0.0
    operands: Callable[[Case, str], str | None] = lambda case, mode: None
    tensor_cores: Callable[[Case, str], str | None] = lambda case, mode: None
    operand_args: tuple[int, ...] = ()
    exact: bool = False


def truncated_operands(model: OutputModel, case: Case, mode: str) -> str | None:
    """The type `model`'s operands (`operand_args`) are read as in `mode`, where that
    truncates them (TRUNCATED_OPERANDS: "tf32", on the GPU and in the interpreter as
    `harness.interpreter_fixes` reads a tf32 dot); None where they are read as they are."""
    operands = model.operands(case, mode)
    return operands if model.operand_args and operands in TRUNCATED_OPERANDS else None


@dataclass(frozen=True)
class Override:
    """A declared widening of the bound for one dtype, with the reason it is needed."""

    factor: float
    reason: str


@dataclass(frozen=True)
class Bound:
    """The bound one tier's output is held to in one case (see the module docstring)."""

    output: str
    tier: str
    out_dtype: str
    roundings: float
    growth: float
    accumulate: str
    reference_roundings: float
    factor: float = 1.0
    depth: int = 0
    """The reduction's depth, for the report."""
    operands: str | None = None
    """The precision products' operands are converted to (p = 2 conversions), if any."""
    tensor_core_steps: int = 0
    """Truncating tensor-core steps of the sum, for the report (0: none)."""
    exact: bool = False
    """Every element must equal the oracle's (`OutputModel.exact`): nothing is allowed."""

    @property
    def relative(self) -> float:
        """The allowance relative to |o| (the final rounding)."""
        if self.exact:
            return 0.0
        return self.factor * self.roundings * UNIT_ROUNDOFF[self.out_dtype]

    @property
    def conditioned(self) -> float:
        """The allowance relative to the condition (accumulated and reference roundings)."""
        if self.exact:
            return 0.0
        operands = 2 * operand_error(self.operands) if self.operands else 0.0
        return self.factor * (
            self.growth * UNIT_ROUNDOFF[self.accumulate]
            + operands
            + self.reference_roundings * UNIT_ROUNDOFF[self.out_dtype]
        )

    @property
    def floor(self) -> float:
        # Each rounding into the output dtype is absolute below its smallest normal: the
        # final one (a) and a reference's intermediate ones (r).
        if self.exact:
            return 0.0
        out_roundings = self.roundings + self.reference_roundings
        return self.factor * (
            out_roundings * UNIT_ROUNDOFF[self.out_dtype] * SMALLEST_NORMAL[self.out_dtype]
            + self.growth * SMALLEST_NORMAL[_storage(self.accumulate)]
        )

    def allowed(self, oracle: Any, condition: Any) -> Any:
        """The largest error allowed at each element (NumPy arrays or torch tensors)."""
        return self.relative * abs(oracle) + self.conditioned * condition + self.floor

    def describe(self) -> str:
        if self.exact:
            return f"exact: every element equal to the oracle's ({self.out_dtype})"
        text = f"{self.roundings:g}u({self.out_dtype})|o| + {self.growth:.3g}u({self.accumulate})"
        if self.operands:
            text += f" + 2e({self.operands})"
        if self.reference_roundings:
            text += f" + {self.reference_roundings:g}u({self.out_dtype})"
        text += " x cond"
        if self.depth:
            plural = "s" if self.tensor_core_steps != 1 else ""
            steps = f", {self.tensor_core_steps} truncating tensor-core step{plural}"
            text += f" [reduction depth {self.depth}{steps if self.tensor_core_steps else ''}]"
        if self.factor != 1.0:
            text += f" x {self.factor:g} (override)"
        return text


def _storage(dtype: str) -> str:
    """The dtype whose range a (possibly reduced-precision) accumulation type has."""
    return "float32" if dtype == "tf32" else dtype


def final_roundings(tier: str, mode: str, out_dtype: str) -> float:
    """a: 2 for a kernel's bfloat16 output in the interpreter (it truncates), else 1."""
    return 2.0 if tier == "kernel" and mode == "interpret" and out_dtype == "bfloat16" else 1.0


@dataclass(frozen=True)
class ErrorModel:
    """The error models of an op's outputs, and any declared widening.

    outputs     one OutputModel per output, or (case) -> them when which outputs exist
                depends on the case. Default: every output elementwise (one step).
    overrides   dtype -> Override: a widening with its reason (none of our ops needs one).
    """

    outputs: Sequence[OutputModel] | Callable[[Case], Sequence[OutputModel]] = ()
    overrides: Mapping[str, Override] = field(default_factory=dict)

    def models(self, case: Case, n_outputs: int) -> tuple[OutputModel, ...]:
        models = tuple(self.outputs(case) if callable(self.outputs) else self.outputs)
        if not models:
            return tuple(OutputModel(f"output {j}") for j in range(n_outputs))
        return models

    def bounds(
        self, case: Case, mode: str, tier: str, out_dtypes: Sequence[str]
    ) -> tuple[Bound, ...]:
        """One Bound per output of `tier` in `mode`, given the dtypes it returned."""
        override = self.overrides.get(case.dtype)
        bounds = []
        for model, out_dtype in zip(self.models(case, len(out_dtypes)), out_dtypes, strict=True):
            if model.exact:
                bounds.append(Bound(model.name, tier, out_dtype, 0.0, 0.0, "float32", 0.0,
                                    exact=True))  # fmt: skip
                continue
            lengths = model.terms(case)
            lengths = lengths if isinstance(lengths, tuple) else (lengths,)
            lanes = model.lanes(case, mode) if tier == "kernel" else None
            lanes = lanes if isinstance(lanes, tuple) else (lanes,) * len(lengths)
            depths = [sum_depth(n, k) for n, k in zip(lengths, lanes, strict=True)]
            depth = sum(depths)
            mma = model.tensor_cores(case, mode)
            growths = [max(growth(d), tensor_core_growth(n, mma)) for n, d in
                       zip(lengths, depths, strict=True)]  # fmt: skip
            mma_steps = sum(math.ceil(n / MMA_PRODUCTS[mma]) for n in lengths if mma and n > 1)
            bounds.append(
                Bound(
                    output=model.name,
                    tier=tier,
                    out_dtype=out_dtype,
                    roundings=final_roundings(tier, mode, out_dtype),
                    growth=model.steps + sum(growths),
                    accumulate=model.accumulate(case, mode) if tier == "kernel" else "float32",
                    reference_roundings=model.reference_roundings if tier == "torch" else 0.0,
                    factor=override.factor if override else 1.0,
                    depth=depth,
                    operands=model.operands(case, mode) if tier == "kernel" else None,
                    tensor_core_steps=mma_steps,
                )
            )
        return tuple(bounds)

    def conditions(self, case: Case, values: Values) -> tuple[np.ndarray, ...]:
        models = self.models(case, len(values.oracle))
        return tuple(
            _magnitude(values, j) if m.condition is None else m.condition(values)
            for j, m in enumerate(models)
        )


# The simplest ready-made model; harness.error_models has the others.


def elementwise(name: str, steps: float = 1.0) -> OutputModel:
    """An elementwise result: `steps` float32 roundings relative to |result|."""
    return OutputModel(name, steps=steps)


def exact(name: str) -> OutputModel:
    """A result with no rounding in it (a mask, an index, a count): equal to the oracle's,
    element for element."""
    return OutputModel(name, exact=True)
