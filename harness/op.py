"""The declarative description of one operation: its three tiers, its cases, its limits.

An `Op` is data, in the spirit of PyTorch's OpInfo but small. The generic tests
(`harness.testing`), the comparison engine (`harness.compare`) and the command line
(`python -m harness`) read nothing but these fields, so registering an outside kernel
means writing one `Op`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
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
        """The case a failure prints (`to_json`). ValueError, saying what is wrong, for
        anything else."""
        try:
            d = json.loads(text)
            if not isinstance(d, dict):
                raise TypeError(f"a JSON object, got {type(d).__name__}")
            op, dtype, shape, params = d["op"], d["dtype"], d["shape"], d.get("params", {})
            if not isinstance(params, dict):
                raise TypeError(f"params as an object, got {params!r}")
            if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
                raise TypeError(f"shape as a list of sizes >= 0, got {shape!r}")
            if dtype not in FLOAT_DTYPES:
                raise TypeError(f"dtype one of {', '.join(FLOAT_DTYPES)}, got {dtype!r}")
            return cls(op, dtype, tuple(shape), params, int(d.get("seed", 0)))
        except (ValueError, TypeError, KeyError) as exc:
            problem = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(
                "a case is the JSON a failure prints, "
                '{"op": ..., "dtype": ..., "shape": [...], "params": {...}, "seed": ...}: '
                f"{problem}"
            ) from None

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
class Part:
    """A slice of a case that a slice of its inputs determines alone (some rows of a
    GEMM, some heads of attention): what a benchmark-size check judges against the
    oracle, where the whole case would cost the float64 oracle minutes (`Op.part`).

    case     the slice as a case of its own (same dtype and params, a smaller shape): its
             error model's conditions and bounds are the part's.
    inputs   the whole case's Inputs -> the part's (NumPy or torch alike).
    outputs  the whole case's outputs (a tuple) -> the part's, the same slice.
    label    what the part is, for the report: "rows of C 0, 129, ..., 8191 (65 of 8192)".
    """

    case: Case
    inputs: Callable[[Inputs], Inputs]
    outputs: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    label: str

    @staticmethod
    def spread(n: int, count: int) -> list[int]:
        """About `count` indices of range(n), the first and the last among them, at an odd
        step: consecutive samples fall at different offsets of a power-of-two tile (up to
        `count` of them), not all at a tile's start."""
        if n <= 0:
            return []
        step = max(1, (n - 1) // max(count - 1, 1))
        step -= 1 - step % 2  # odd
        return sorted({*range(0, n, step), n - 1})

    @staticmethod
    def ends(n: int) -> list[int]:
        """The first and the last index of range(n) (one index for n = 1)."""
        return sorted({0, n - 1}) if n > 0 else []

    @staticmethod
    def describe(indices: Sequence[int], n: int, what: str) -> str:
        """'rows 0, 63, ..., 8191 (132 of 8192)', for a label."""
        shown = [*indices[:2], "...", indices[-1]] if len(indices) > 3 else indices
        return f"{what} {', '.join(map(str, shown))} ({len(indices)} of {n})"


@dataclass(frozen=True)
class Budget:
    """How large drawn cases may be. Interpreted kernels run ~1 ms per program, so the
    interpret budget is small; `scale` (--triton-budget) grows or shrinks both."""

    mode: str
    scale: float = 1.0
    rows: int | None = None
    """At most this many rows (the product of the leading dims), if set: per-row programs
    are what the interpreter pays for."""

    @property
    def numel(self) -> int:
        base = 1 << 22 if self.mode == "gpu" else 1 << 14  # parity interprets every case
        return max(16, int(base * self.scale))


@dataclass(frozen=True)
class Configs:
    """The launch configs of an op's kernel (launch plans, autotune configs), declared so
    that the suite runs every one of them in both modes and proves it ran.

    names   every config the kernel can launch with.
    force   name -> a context inside which the kernel launches that config wherever it
            applies to the case (and its default elsewhere).
    record  () -> a context yielding the list of config names launched inside it.
    excluded (name, dtype) -> why that config never runs on that dtype (a declared
            capability: the config axis skips the pair with the reason), or None.
    """

    names: tuple[str, ...]
    force: Callable[[str], AbstractContextManager[Any]]
    record: Callable[[], AbstractContextManager[list[str]]]
    excluded: Callable[[str, str], str | None] = lambda name, dtype: None


@dataclass(frozen=True)
class Backward:
    """An op's gradient, checked by the generic tests as an op of its own (`<name>.grad`):
    the kernel's autograd Function against PyTorch autograd and an analytic float64
    gradient, each given the same upstream gradient dy.

    kernel      differentiable: the op's arguments in, the op's output(s) out, built on
                the kernel's torch.autograd.Function.
    numpy_grad  (*float64 args, dy) -> the gradients w.r.t. `wrt` that exist (an
                argument passed as None, or an integer tensor, has none).
    wrt         positions of the arguments to differentiate.
    torch       differentiable PyTorch reference (default: the op's torch_ref).
    output      which output dy flows into, when the op returns several.
    error_model one model per gradient.
    examples    pinned cases of the gradient op, after the op's own (params["upstream"] =
                "sum" makes dy what y.sum().backward() passes: ones, every stride 0).
    """

    kernel: Callable[..., Any]
    numpy_grad: Callable[..., Any]
    wrt: tuple[int, ...]
    error_model: ErrorModel
    torch: Callable[..., Any] | None = None
    output: int = 0
    examples: Sequence[ShapeAndParams] = ()
    dy_limit: Callable[[Case], float] | None = None
    """The largest |dy| the wide value profile may draw (default: the dtype's max)."""


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
    dtypes: tuple[str, ...] | Mapping[str, tuple[str, ...]] = FLOAT_DTYPES
    """The dtypes the op runs in, in every mode; or mode -> its dtypes."""
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
    torch_bench: Callable[..., Any] | None = None
    """The PyTorch call the benchmarks time beside the kernel: what a PyTorch user runs
    for the op, at the kernel's precision (same signature as `kernel`). Default: the
    `torch_ref`, which is about values and may not be it (it may upcast 16-bit inputs,
    turn tf32 off or build the op from several calls). `OpTests.test_torch_bench` checks
    that it computes the op, judged as the kernel is, on the pinned float32 examples."""
    values: tuple[str, ...] = ("normal",)
    """The input value profiles the op admits (`harness.tensors.VALUE_PROFILES`);
    hypothesis draws among them and puts the choice in the case's params["values"]."""
    configs: Configs | None = None
    backward: Backward | None = None
    deterministic: bool = True
    """Whether the kernel's outputs are the same bits on every call with the same inputs
    (no float atomics): the benchmarks then check that the calls they time compute what
    the first call did (`harness.perf.measure.measure_case`)."""
    part: Callable[[Case], Part | None] | None = None
    """case -> the slice of it a benchmark-size check judges against the oracle
    (`harness.perf.measure.check_part`), the rest only for having been written; None where
    nothing smaller is independent. Include the last slice of the dimension cut (where
    offsets are largest). The generic tests prove the part's oracle is the oracle's part."""

    def supports(self, mode: str, dtype: str) -> bool:
        """Whether the op runs in `dtype` in `mode` (parity: in both of its modes)."""
        if mode == "parity":
            return all(self.supports(m, dtype) for m in MODES)
        if isinstance(self.dtypes, Mapping):
            return dtype in self.dtypes.get(mode, ())
        return dtype in self.dtypes

    def limitation(self, mode: str, dtype: str) -> Limitation | None:
        """The declared limitation of `mode` in `dtype`; parity has its own, or those of
        the interpreter, then of the GPU."""
        for m in (mode, *MODES) if mode == "parity" else (mode,):
            for lim in self.limitations:
                if lim.mode == m and dtype in lim.dtypes:
                    return lim
        return None


class Registry(Mapping[str, Op]):
    """The table of operations, by name. `module` is where it can be imported from,
    so that a printed reproducer can find it again. An op with a `backward` brings its
    gradient op along, named `<name>.grad` (see `harness.autograd`)."""

    def __init__(self, ops: Sequence[Op], module: str):
        from harness.autograd import gradient_op

        self.module = module
        self._ops: dict[str, Op] = {}
        for op in ops:
            for entry in (op, gradient_op(op)) if op.backward else (op,):
                if entry.name in self._ops:
                    raise ValueError(f"two ops are named {entry.name!r}")
                self._ops[entry.name] = entry

    def __getitem__(self, name: str) -> Op:
        try:
            return self._ops[name]
        except KeyError:
            raise KeyError(f"no op named {name!r}; registered: {', '.join(self._ops)}") from None

    def __iter__(self):
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)


def load_registry(module: str, op: str | None = None) -> Registry:
    """The Registry named by `module`: "package.module:NAME" names one, a plain module
    means its OPS (by convention) or, given an op's name, the registry there (at module
    level, or a test class's `ops`) that holds it, one made in that module first (a test
    module may also import the main table). Raises LookupError when there is none."""
    module, _, attribute = module.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:  # the module named; one it imports keeps its error
        if exc.name is None or not (module + ".").startswith(exc.name + "."):
            raise
        raise LookupError(
            f"no module named {exc.name!r}: the ops come from an importable module holding a "
            "harness.Registry (for example ops, or tests.my_ops)"
        ) from None
    if attribute:
        registry = getattr(mod, attribute, None)
        if not isinstance(registry, Registry):
            raise LookupError(f"{module}.{attribute} is not a harness.Registry")
        return registry
    found = [v for v in vars(mod).values() if isinstance(v, Registry)]
    # ... and those that test classes hold (`class TestRelu(OpTests): ops = Registry(...)`)
    found += [
        v.ops
        for v in vars(mod).values()
        if isinstance(v, type) and isinstance(getattr(v, "ops", None), Registry)
    ]
    if op is not None:
        holding = [r for r in found if op in r]
        holding.sort(key=lambda r: r.module != module)
        if holding:
            return holding[0]
    registry = getattr(mod, "OPS", None)
    if isinstance(registry, Registry):
        return registry
    if not found:
        raise LookupError(f"module {module!r} defines no harness.Registry")
    return found[0]
