"""The declarative description of one operation: its three tiers, its cases, its limits.

An `Op` is data, in the spirit of PyTorch's OpInfo but small. The generic tests
(`harness.testing`), the comparison engine (`harness.compare`) and the command line
(`python -m harness`) read nothing but these fields, so registering an outside kernel
means writing one `Op`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from harness.dtypes import FLOAT_DTYPES
from harness.tolerance import ErrorModel

MODES: tuple[str, ...] = ("interpret", "gpu")


@dataclass(frozen=True)
class Case:
    """One concrete test case: everything needed to rebuild the inputs bit for bit."""

    op: str
    dtype: str
    shape: tuple[int, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "op": self.op,
                "dtype": self.dtype,
                "shape": list(self.shape),
                "params": dict(self.params),
                "seed": self.seed,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Case:
        d = json.loads(text)
        return cls(d["op"], d["dtype"], tuple(d["shape"]), d.get("params", {}), d.get("seed", 0))

    def describe(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{self.op}[{self.dtype}] shape={self.shape}{extra} seed={self.seed}"


@dataclass(frozen=True)
class Inputs:
    """Positional and keyword arguments passed alike to all three tiers.

    Tensors are converted to float64 NumPy arrays for the oracle; anything else
    (floats, flags, None) is passed to every tier unchanged.
    """

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BadInput:
    """An input the launcher must refuse, and the error it must raise.

    `match` is a regular expression the message must contain: name the argument.
    """

    label: str
    inputs: Inputs
    error: type[Exception]
    match: str


@dataclass(frozen=True)
class Limitation:
    """Something a mode cannot run, declared instead of passing silently.

    `xfail=True` runs the case and requires it to fail (strict), so the declaration
    is dropped the day the limitation goes away; `xfail=False` skips it.
    """

    mode: str
    dtypes: tuple[str, ...]
    reason: str
    xfail: bool = True


ShapeAndParams = tuple[tuple[int, ...], Mapping[str, Any]]


@dataclass(frozen=True)
class Budget:
    """How large drawn cases may be. Interpreted kernels run ~1 ms per program, so the
    interpret budget is small; `scale` (--triton-budget) grows or shrinks both."""

    mode: str
    scale: float = 1.0

    @property
    def numel(self) -> int:
        base = 1 << 14 if self.mode == "interpret" else 1 << 22
        return max(16, int(base * self.scale))


@dataclass(frozen=True)
class Op:
    """One operation, its three tiers and how to test it."""

    name: str
    numpy_ref: Callable[..., Any]
    """The oracle: float64 NumPy in, float64 NumPy out (an array or a tuple of them)."""
    torch_ref: Callable[..., Any]
    """PyTorch in the case's dtype and device; same signature as `kernel`."""
    kernel: Callable[..., Any]
    """The Triton launcher under test."""
    make_inputs: Callable[..., Inputs]
    """(case, device, generator) -> Inputs; draw all randomness from the generator."""
    cases: Callable[[Budget], st.SearchStrategy[ShapeAndParams]]
    """A hypothesis strategy of (shape, params) within a budget."""
    examples: Sequence[ShapeAndParams] = ()
    """Cases always run first (block boundaries, length 1, empty ...)."""
    dtypes: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {m: FLOAT_DTYPES for m in MODES}
    )
    limitations: tuple[Limitation, ...] = ()
    error_model: ErrorModel = field(default_factory=ErrorModel)
    bad_inputs: Callable[[Any], Sequence[BadInput]] = lambda device: ()
    """device -> the inputs the launcher must refuse."""
    flops: Callable[[Case], float] = lambda case: 0.0
    bytes: Callable[[Case], float] = lambda case: 0.0
    """Bytes moved once: each input read once, each output written once."""
    bench_cases: Sequence[ShapeAndParams] = ()
    """(shape, params) timed on the GPU by the benchmarks, smallest first."""
    bench_dtypes: tuple[str, ...] = FLOAT_DTYPES

    def supports(self, mode: str, dtype: str) -> bool:
        return dtype in self.dtypes.get(mode, ())

    def limitation(self, mode: str, dtype: str) -> Limitation | None:
        for lim in self.limitations:
            if lim.mode == mode and dtype in lim.dtypes:
                return lim
        return None


class Registry(Mapping[str, Op]):
    """The table of operations, by name. `module` is where it can be imported from,
    so that a printed reproducer can find it again."""

    def __init__(self, ops: Sequence[Op], module: str):
        self.module = module
        self._ops: dict[str, Op] = {}
        for op in ops:
            if op.name in self._ops:
                raise ValueError(f"two ops are named {op.name!r}")
            self._ops[op.name] = op

    def __getitem__(self, name: str) -> Op:
        try:
            return self._ops[name]
        except KeyError:
            raise KeyError(f"no op named {name!r}; registered: {', '.join(self._ops)}") from None

    def __iter__(self):
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)
