"""The comparison engine: run the three tiers on one case and judge them.

The float64 NumPy tier is the oracle. The PyTorch tier and the Triton kernel are each
judged against it by the same policy (`harness.tolerance`): one `Bound` per output, per
tier and mode. Beyond the bound, a tier fails when:
  - an output has the wrong shape (no broadcasting), or the kernel's dtype differs from
    PyTorch's;
  - NaN or +-Inf appear anywhere the oracle (rounded to the output dtype) has none, or
    are missing where it has them; outputs are allocated full of NaN, so an element
    the kernel never wrote is caught here;
  - the output is constant while the oracle, rounded to the output dtype, spans more
    than one ulp and more than the bound allows (no rounding can make it constant);
  - any input tensor comes back with different bits.

A GPU's tensor cores read a float32 operand truncated to tf32, and a subnormal one
loses its low bits absolutely, past any relative bound (`OutputModel.operand_args`):
where an operand is subnormal an element may instead match, within the same bound, the
oracle of the operands as the tensor cores read them (`truncated_oracles`); the report
counts such elements.

The PyTorch tier is a second opinion, not the test's subject. When its values miss the
bound while the kernel meets its own, the case passes with a *warning*: PyTorch reduces
in an order the model cannot know, or uses a formula less accurate than the model on
some inputs (its CPU LayerNorm backward forms x * rstd**3 products that cancel). A
PyTorch tier that breaks (wrong shape or count, modified inputs) fails the case; one
that misses the bound on the op's pinned examples fails `OpTests.test_tolerance_policy`,
so a wrong reference is caught rather than trusted.

A benchmark-size case can be judged on a `Part` (`run_case(..., part=)`): the oracle and
the bounds are the part's (some rows of a GEMM, some heads of attention), and the rest
of each output only has to be written: a NaN or Inf where PyTorch's output is finite
fails the case, as does a whole shape that differs from PyTorch's.

The op entry itself is checked too: every condition must have its output's shape and be
finite and >= 0 wherever the oracle is finite, or the case raises `OpEntryError`.
"""

from __future__ import annotations

import contextlib
import math
import shlex
import time
import traceback
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness import crashes, stack
from harness.dtypes import SMALLEST_NORMAL, UNIT_ROUNDOFF, name_of, read_by_tensor_cores
from harness.modes import TIER_MODES, current_device
from harness.op import Case, Inputs, Op, Part
from harness.tensors import (
    VALUE_PROFILES,
    changed,
    poisoned_allocations,
    snapshot,
    to_numpy64,
)
from harness.tolerance import Bound, Values, truncated_operands


class OpEntryError(ValueError):
    """The op's table entry is inconsistent (a condition of the wrong shape, negative or
    NaN where the oracle is finite): a bug in the entry, never a pass."""


@dataclass
class Verdict:
    """How one tier did on one output."""

    tier: str
    output: int
    bound: Bound | None
    name: str = ""
    problems: list[str] = field(default_factory=list)
    max_abs: float = 0.0
    max_rel: float = 0.0
    max_err: float = 0.0
    """Worst |tier - oracle| / allowed over the finite elements: <= 1 passes."""
    broken: bool = False
    """Wrong shape, count, type or dtype, or modified its inputs: not a matter of values."""
    n_bad: int = 0
    n_pattern: int = 0
    numel: int = 0
    worst_index: tuple[int, ...] | None = None
    n_truncated: int = 0
    """Elements that only the oracle of the operands as the tensor cores read them
    explains (`truncated_oracles`)."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.n_bad == 0


class Outputs(dict):
    """'oracle' -> the oracle's float64 arrays; 'torch', 'kernel' -> each tier's outputs
    as float64 NumPy arrays, converted when first read (a report needs a few elements, and
    a 64M-element output takes seconds to copy)."""

    def __init__(self, oracle: tuple[np.ndarray, ...], tiers: dict[str, tuple[Any, ...]]):
        super().__init__(oracle=oracle)
        self._tiers = tiers

    def __missing__(self, tier: str) -> tuple[Any, ...]:
        if tier not in self._tiers:
            raise KeyError(tier)
        self[tier] = tuple(to_numpy64(o) for o in self._tiers[tier])
        return self[tier]

    def get(self, tier: str, default: Any = None) -> Any:
        try:
            return self[tier]
        except KeyError:
            return default

    def to_host(self) -> None:
        """Keep the tiers' outputs in host memory from now on (a few copies of the size of
        the outputs, against holding GPU memory for as long as the result is kept)."""
        self._tiers = {
            tier: tuple(o.detach().cpu() if isinstance(o, torch.Tensor) else o for o in outs)
            for tier, outs in self._tiers.items()
        }


@dataclass
class CaseResult:
    case: Case
    mode: str
    ops_module: str
    verdicts: list[Verdict]
    values: dict[str, tuple[np.ndarray, ...]]
    """'oracle', 'torch', 'kernel' -> the outputs as float64 arrays (for the report)."""
    conditions: tuple[np.ndarray, ...] = ()
    device: str = ""
    """Where it ran, for a GPU: "cuda:1 (NVIDIA H200)" (xdist workers spread over GPUs)."""
    part: str = ""
    """The label of the `Part` judged against the oracle, when not the whole case."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time by phase: "inputs", "oracle" (and its conditions), each tier's call (on a
    GPU up to its synchronize: compiling, tuning and the kernels' device time), and
    "judging" (the rest). `harness.caselog` keeps it case by case."""

    @property
    def kernel_ok(self) -> bool:
        return all(v.ok for v in self.verdict("kernel"))

    @property
    def twin_ok(self) -> bool:
        """The interpreted twin meets every bound (true outside parity mode: none ran)."""
        return all(v.ok for v in self.verdict("interpreted"))

    @property
    def ok(self) -> bool:
        """The kernel (and, in parity mode, its interpreted twin) meets every bound, and
        the PyTorch tier is not broken."""
        torch_broken = any(v.broken for v in self.verdict("torch"))
        return self.kernel_ok and self.twin_ok and not torch_broken

    @property
    def divergence(self) -> str | None:
        """Parity mode: what it means that one of the kernel's two runs failed alone."""
        if not self.verdict("interpreted") or self.kernel_ok == self.twin_ok:
            return None
        if self.twin_ok:
            return (
                "DIVERGENCE: the compiled kernel fails where its interpreted twin, on the "
                "same inputs with the same launch config, passes: a compiler bug, a race, a "
                "read of memory nothing wrote, code whose result depends on undefined "
                "behaviour, or a GPU rounding the error model misses (tf32 operands, "
                "fast math: the two are judged by their own mode's model). The "
                "interpreter will not reproduce it: try --memcheck"
            )
        return (
            "DIVERGENCE: the interpreted twin fails where the compiled kernel passes: an "
            "interpreter limit (16-bit arithmetic, subnormals), an out-of-bounds access "
            "the GPU tolerated, or undefined behaviour the compiler happened to hide"
        )

    @property
    def warnings(self) -> list[str]:
        """PyTorch outputs over their bound while the case passes."""
        if not self.ok:
            return []
        return [
            f"{self.case.describe()} mode={self.mode}: the PyTorch tier misses the bound "
            f"of {v.name} ({'; '.join(v.problems) or f'worst err/bound {v.max_err:.3g}'}, "
            f"{v.n_bad} elements); the kernel meets it. PyTorch rounds or reduces "
            f"differently from the op's model. Re-run: {self.reproducer()}"
            for v in self.verdict("torch")
            if not v.ok
        ]

    def verdict(self, tier: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.tier == tier]

    def worst(self, tier: str) -> Verdict:
        """The verdict of `tier` closest to (or furthest past) its bound."""
        return max(self.verdict(tier), key=lambda v: (not v.ok, v.max_err))

    def reproducer(self) -> str:
        return reproducer(self.case, self.mode, self.ops_module)

    def report(self) -> str:
        case = self.case
        on = f" device={self.device}" if self.device.startswith("cuda") else ""
        lines = [f"{'PASSED' if self.ok else 'FAILED'} {case.describe()} mode={self.mode}{on}"]
        if self.part:
            lines.append(f"  judged against the oracle on {self.part}; the rest for being written")
        profile = case.params.get("values")
        if profile in VALUE_PROFILES:
            lines.append(f"  input values: {profile} ({VALUE_PROFILES[profile].description})")
        for v in self.verdicts:
            head = f"  {v.name or f'output {v.output}'} ({v.tier}):"
            if v.ok:
                truncated = (
                    f"; {v.n_truncated} elements as the tensor cores read subnormal operands"
                    if v.n_truncated
                    else ""
                )
                if v.bound is not None and v.bound.exact:
                    lines.append(f"{head} ok, equal to the oracle's")
                    continue
                lines.append(f"{head} ok, worst err/bound {v.max_err:.3g}{truncated}")
                continue
            lines.extend(f"{head} {p}" for p in v.problems)
            if v.n_bad > v.n_pattern and not (v.bound is not None and v.bound.exact):
                lines.append(
                    f"{head} {v.n_bad - v.n_pattern} of {v.numel} finite elements "
                    f"({100 * (v.n_bad - v.n_pattern) / v.numel:.3g}%) out of tolerance; "
                    f"max abs err {v.max_abs:.3g}, max rel err {v.max_rel:.3g}, "
                    f"worst err/bound {v.max_err:.3g}"
                )
            if v.bound is not None:
                lines.append(f"    bound: {v.bound.describe()}")
            if v.worst_index is not None:
                at = ", ".join(
                    f"{tier}={_at(self.values.get(tier), v.output, v.worst_index)}"
                    for tier in ("oracle", *TIER_MODES[self.mode])
                )
                which = "first differing" if v.bound is not None and v.bound.exact else "worst"
                lines.append(f"    {which} element {v.worst_index}: {at}")
        if not self.kernel_ok and not all(v.ok for v in self.verdict("torch")):
            lines.append(
                "  hint: the PyTorch tier misses the bound too: check the op's error model "
                "(or its oracle) before the kernel"
            )
        if self.divergence:
            lines.append(f"  {self.divergence}")
        elif not self.kernel_ok and not self.twin_ok:
            lines.append(
                "  the interpreted twin fails too: debug it on the CPU with --mode interpret "
                "(breakpoints and prints work inside the kernel)"
            )
        lines.append(f"  re-run this case: {self.reproducer()}")
        return "\n".join(lines)


def reproducer(case: Case, mode: str, ops_module: str) -> str:
    return f"python -m harness repro --ops {ops_module} --mode {mode} {shlex.quote(case.to_json())}"


def _at(outputs: tuple[np.ndarray, ...] | None, j: int, index: tuple[int, ...]) -> str:
    if outputs is None or j >= len(outputs):
        return "?"
    try:
        return f"{float(outputs[j][index]):.8g}"
    except (IndexError, TypeError):
        return "?"


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def build_inputs(op: Op, case: Case, device: Any) -> Inputs:
    generator = torch.Generator().manual_seed(case.seed)
    return op.make_inputs(case, torch.device(device), generator)


def oracle_and_conditions(
    op: Op, case: Case, inputs: Inputs
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The oracle's outputs and each output's condition, checked for consistency."""
    values = _oracle_values(op, inputs)
    return values.oracle, _conditions(op, case, values)


def _oracle(op: Op, np_args: tuple[Any, ...], np_kwargs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    with np.errstate(all="ignore"):  # inf - inf is NaN on purpose: that is what is checked
        return tuple(
            np.asarray(o, dtype=np.float64) for o in _as_tuple(op.numpy_ref(*np_args, **np_kwargs))
        )


def _oracle_values(op: Op, inputs: Inputs) -> Values:
    """The inputs in float64 and the oracle's outputs."""
    np_args = tuple(to_numpy64(a) for a in inputs.args)
    np_kwargs = {k: to_numpy64(v) for k, v in inputs.kwargs.items()}
    return Values(np_args, np_kwargs, _oracle(op, np_args, np_kwargs))


def _conditions(op: Op, case: Case, values: Values) -> tuple[np.ndarray, ...]:
    """Each output's condition, checked against the oracle's outputs."""
    oracle = values.oracle
    with np.errstate(all="ignore"):
        conditions = op.error_model.conditions(case, values)
    conditions = tuple(np.asarray(c, dtype=np.float64) for c in conditions)
    models = op.error_model.models(case, len(oracle))
    if not (len(conditions) == len(oracle) == len(models)):
        raise OpEntryError(
            f"{op.name}: the oracle returned {len(oracle)} outputs, the error model describes "
            f"{len(models)} and gives {len(conditions)} conditions, for {case.describe()}"
        )
    for model, ref, cond in zip(models, oracle, conditions, strict=True):
        if cond.shape != ref.shape:
            raise OpEntryError(
                f"{op.name}: the condition of {model.name} has shape {cond.shape}, its output "
                f"{ref.shape}, for {case.describe()}"
            )
        where = np.isfinite(ref)
        bad = where & ~(np.isfinite(cond) & (cond >= 0))
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise OpEntryError(
                f"{op.name}: the condition of {model.name} is {cond[index]!r} at {index}, where "
                f"the oracle is finite ({ref[index]!r}): it must be finite and >= 0 there; "
                f"case {case.describe()}"
            )
    return conditions


def truncated_oracles(
    op: Op, case: Case, values: Values, modes: Iterable[str]
) -> dict[int, np.ndarray]:
    """Output j -> what the oracle makes of output j's operands as the tensor cores read
    them (`harness.dtypes.read_by_tensor_cores`), for each output whose model says they
    are truncated in one of `modes` (`harness.tolerance.truncated_operands`) and whose
    operands hold a subnormal (a normal one's truncation is within the bound): one more
    run of the oracle per set of operands, none for most cases."""
    models = op.error_model.models(case, len(values.oracle))
    modes = tuple(modes)
    by_operands: dict[tuple[str, tuple[int, ...]], tuple[np.ndarray, ...] | None] = {}
    truncated = {}
    for j, model in enumerate(models):
        operands = next(filter(None, (truncated_operands(model, case, m) for m in modes)), None)
        if operands is None:
            continue
        key = (operands, model.operand_args)
        if key not in by_operands:
            arrays = [values.args[i] for i in model.operand_args]
            subnormal = any(
                bool(((a != 0) & (np.abs(a) < SMALLEST_NORMAL["float32"])).any())
                for a in arrays
                if isinstance(a, np.ndarray)
            )
            args = list(values.args)
            for i in model.operand_args:
                if isinstance(args[i], np.ndarray):
                    args[i] = read_by_tensor_cores(args[i], operands)
            by_operands[key] = _oracle(op, tuple(args), values.kwargs) if subnormal else None
        if by_operands[key] is not None:
            truncated[j] = by_operands[key][j]
    return truncated


def run_case(
    op: Op, case: Case, mode: str, device: Any, ops_module: str, part: Part | None = None
) -> CaseResult:
    """Run the oracle, the PyTorch tier and the kernel on `case`; judge both tiers (on
    `part` of it against the oracle, when given: see the module docstring). On a
    GPU the case's memory is given back to the driver when it ends (its outputs are kept
    on the host): the caching allocator would otherwise hold each process's largest case,
    and a night run's 15 xdist workers ran the H200's 140 GB out of memory that way."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        crashes.refuse_if_poisoned()
    try:
        return _run_case(op, case, mode, device, ops_module, part)
    except Exception as exc:
        if cuda:
            crashes.after_cuda_crash(
                device, f"{case.describe()} mode={mode}\n  re-run: "
                + reproducer(case, mode, ops_module), exc,
            )  # fmt: skip
        raise
    finally:
        if cuda and not crashes.poisoned():
            torch.cuda.empty_cache()


def _run_case(
    op: Op, case: Case, mode: str, device: Any, ops_module: str, part: Part | None
) -> CaseResult:
    note = f"while running {case.describe()} mode={mode}\n  re-run: " + reproducer(
        case, mode, ops_module
    )
    laps = _Laps()
    inputs = build_inputs(op, case, device)
    laps.lap("inputs")
    judged = part.case if part else case
    inputs64 = _oracle_values(op, part.inputs(inputs) if part else inputs)
    oracle, conditions = inputs64.oracle, _conditions(op, judged, inputs64)
    laps.lap("oracle")

    outputs: dict[str, tuple[torch.Tensor, ...]] = {}
    input_changes: dict[str, list[str]] = {}
    launches: dict[str, int] = {}
    raised: dict[str, str] = {}
    tier_modes = TIER_MODES[mode]
    for tier in tier_modes:
        fn = op.torch_ref if tier == "torch" else op.kernel
        tier_inputs = build_inputs(op, case, device) if tier != "torch" else inputs
        snap = snapshot((tier_inputs.args, tier_inputs.kwargs))
        laps.lap("inputs")
        try:
            # errstate: interpreted kernels compute inf - inf in masked lanes on purpose;
            # headroom: the interpreter's calls never sit on a frame chunk's edge (stack.py)
            with _launches(tier, mode) as count, poisoned_allocations(), np.errstate(all="ignore"):
                got = stack.with_headroom(fn, *tier_inputs.args, **tier_inputs.kwargs)
                outputs[tier] = _as_tuple(got)
            launches[tier] = count[0]
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            laps.lap(tier)
        except Exception as exc:  # keep the traceback, add what re-runs it
            if tier == "interpreted":  # the compiled run got through: a divergence
                raised[tier] = f"raised {_cause(exc)}"
                laps.lap(tier)
                continue
            exc.add_note(f"[{tier} tier] {note}")
            raise
        input_changes[tier] = changed(snap)

    whole = outputs
    if part is not None:
        outputs = {tier: _part_of(part, got, len(oracle)) for tier, got in whole.items()}
    truncated = truncated_oracles(op, judged, inputs64, tier_modes.values())
    del inputs64  # a large case's float64 inputs take gigabytes
    values = Outputs(oracle, outputs)
    models = op.error_model.models(judged, len(oracle))
    names = [m.name for m in models]
    verdicts: list[Verdict] = []
    for tier, tier_mode in tier_modes.items():
        if tier in raised:
            verdicts.append(Verdict(tier, 0, None, names[0], [raised[tier]], broken=True))
            continue
        got = outputs[tier]
        if len(got) != len(oracle):
            problem = f"returned {len(got)} outputs, the oracle {len(oracle)}"
            verdicts.append(Verdict(tier, 0, None, names[0], [problem], broken=True))
            continue
        if not all(isinstance(o, torch.Tensor) for o in got):
            kinds = ", ".join(type(o).__name__ for o in got)
            problem = f"returned {kinds}, not tensors"
            verdicts.append(Verdict(tier, 0, None, names[0], [problem], broken=True))
            continue
        out_dtypes = [name_of(o.dtype) for o in got]
        bounds = op.error_model.bounds(judged, tier_mode, _model_tier(tier), out_dtypes)
        for j, (out, ref, cond, bound) in enumerate(
            zip(got, oracle, conditions, bounds, strict=True)
        ):
            expected_dtype = outputs["torch"][j].dtype if tier != "torch" else None
            read = truncated_operands(models[j], judged, tier_mode)
            alternative = truncated.get(j) if read else None
            verdicts.append(_judge(tier, j, out, ref, cond, bound, expected_dtype, alternative))
            if part is not None and tier != "torch":
                _judge_unjudged(verdicts[-1], whole[tier][j], whole["torch"][j])
        if input_changes[tier]:
            verdicts[-1].broken = True
            verdicts[-1].problems.append(
                "modified its inputs: " + ", ".join(f"args{p}" for p in input_changes[tier])
            )
        if tier == "interpreted" and launches["kernel"] and not launches[tier]:
            verdicts[-1].broken = True
            verdicts[-1].problems.append(
                f"launched no kernel in the interpreter, where the compiled run launched "
                f"{launches['kernel']}: its twin never ran"
            )
    where = ""
    if torch.device(device).type == "cuda":
        values.to_host()
        where = current_device("cuda")
    label = part.label if part else ""
    laps.lap("judging")
    return CaseResult(case, mode, ops_module, verdicts, values, conditions, where, label, laps)


class _Laps(dict):
    """Seconds by phase, each `lap(name)` adding the time since the last lap to `name`."""

    def __init__(self) -> None:
        super().__init__()
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self[name] = self.get(name, 0.0) + now - self._last
        self._last = now


def _part_of(part: Part, got: tuple[Any, ...], n_outputs: int) -> tuple[Any, ...]:
    """The part of a tier's outputs, or the outputs as they came where they are not the
    tensors the part slices (the verdict says what is wrong with them)."""
    if len(got) != n_outputs or not all(isinstance(o, torch.Tensor) for o in got):
        return got
    return part.outputs(got)


def _judge_unjudged(v: Verdict, out: torch.Tensor, torch_out: torch.Tensor) -> None:
    """What a part's verdict adds about the whole output: its shape is PyTorch's, and no
    element is NaN or Inf where PyTorch's is finite (outputs start as NaN: one the kernel
    never wrote is caught here, inside the part or out)."""
    if out.shape != torch_out.shape:
        v.problems.append(f"whole shape {tuple(out.shape)}, PyTorch gives {tuple(torch_out.shape)}")
        v.broken = True
        return
    unwritten = int((~torch.isfinite(out) & torch.isfinite(torch_out)).sum())
    if unwritten:
        v.problems.append(
            f"{unwritten} of {out.numel()} elements of the whole output are NaN or Inf where "
            f"PyTorch's are finite (unwritten, or computed wrong)"
        )


def _launches(tier: str, mode: str) -> AbstractContextManager[list[int]]:
    """Where `tier` runs, counting its kernel launches (parity mode: compiled for the
    kernel tier, interpreted twins for the interpreted tier; elsewhere not counted)."""
    if mode != "parity" or tier == "torch":
        return contextlib.nullcontext([0])
    from harness import parity

    return parity.counting_interpreted() if tier == "interpreted" else parity.counting_compiled()


def _cause(exc: BaseException) -> str:
    """The innermost exception's type and message (the interpreter wraps what a kernel
    raises in an InterpreterError)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"


def _model_tier(tier: str) -> str:
    """The tier an error model knows: an interpreted twin is the kernel."""
    return "torch" if tier == "torch" else "kernel"


JUDGE_CHUNK = 1 << 23
"""Elements judged at a time: each chunk's float64 temporaries (about ten of them) take
0.7 GB, where a whole 2**28-element output at once took over 20 GB of the GPU."""


@dataclass
class _Tally:
    """What the chunks of one output add up to (see `_judge`)."""

    n_bad: int = 0
    n_pattern: int = 0
    n_nan: int = 0
    n_nan_inf: int = 0
    n_truncated: int = 0
    first_pattern: int | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0
    max_err: float = 0.0
    worst: int = 0
    ratio_nan: bool = False
    allowed_max: float = 0.0
    constant: bool = True
    finite_count: int = 0
    finite_min: float = math.inf
    finite_max: float = -math.inf


def _judge(
    tier: str,
    j: int,
    out: torch.Tensor,
    ref: np.ndarray,
    cond: np.ndarray,
    bound: Bound,
    expected_dtype: torch.dtype | None,
    truncated: np.ndarray | None = None,
) -> Verdict:
    """Judge one output against the oracle, in float64 on the output's device (a GPU
    judges a 64M-element output in milliseconds, NumPy in seconds), JUDGE_CHUNK elements
    at a time; each element against `truncated` instead where that explains it better
    (the oracle of the operands as the tensor cores read them, `truncated_oracles`)."""
    out_dtype = name_of(out.dtype)
    v = Verdict(tier, j, bound, bound.output)
    if expected_dtype is not None and out.dtype != expected_dtype:
        v.problems.append(f"dtype {out_dtype}, PyTorch gives {name_of(expected_dtype)}")
        v.broken = True
    if tuple(out.shape) != ref.shape:
        v.problems.append(f"shape {tuple(out.shape)}, the oracle has {ref.shape}")
        v.broken = True
        return v
    if bound.exact:
        return _judge_exact(v, out, ref)
    if not out.is_floating_point() or out_dtype not in UNIT_ROUNDOFF:
        v.problems.append(
            f"dtype {out_dtype} is not a floating dtype the policy knows (an output with no "
            "rounding in it is declared exact: harness.tolerance.exact)"
        )
        v.broken = True
        return v
    v.numel = ref.size
    if ref.size == 0:
        return v

    flat_out = out.detach().reshape(-1)
    flat_ref, flat_cond = ref.reshape(-1), cond.reshape(-1)
    flat_truncated = truncated.reshape(-1) if truncated is not None else None
    first = float(flat_out[0])
    tally = _Tally()
    for start in range(0, ref.size, JUDGE_CHUNK):
        stop = min(start + JUDGE_CHUNK, ref.size)
        _judge_chunk(
            tally, start, flat_out[start:stop], flat_ref[start:stop], flat_cond[start:stop],
            bound, out.dtype, first,
            flat_truncated[start:stop] if flat_truncated is not None else None,
        )  # fmt: skip
    if tally.ratio_nan:  # never a silent pass
        v.problems.append("the comparison produced NaN (an inf - inf in the error)")
    v.n_bad, v.n_pattern, v.n_truncated = tally.n_bad, tally.n_pattern, tally.n_truncated
    v.max_abs, v.max_rel, v.max_err = tally.max_abs, tally.max_rel, tally.max_err
    if v.n_pattern:
        msg = f"NaN/Inf pattern differs from the oracle at {v.n_pattern} of {v.numel} elements"
        if tally.n_nan:
            msg += f" ({tally.n_nan} NaN where the oracle is finite: unwritten, or computed wrong)"
        if tally.n_nan_inf:
            msg += (
                f" ({tally.n_nan_inf} NaN where the oracle is +-inf: an inf met a zero, or an "
                f"inf of the other sign, that exact arithmetic does not have)"
            )
        v.problems.append(msg)
        v.worst_index = _index(tally.first_pattern, ref.shape)
    elif v.n_bad:
        v.worst_index = _index(tally.worst, ref.shape)
    if _constant_but_oracle_varies(tally, out_dtype, out.numel()):
        v.problems.append(
            f"output is constant ({first!r}) but the oracle, in "
            f"{out_dtype}, varies by more than one ulp and more than the bound allows"
        )
    return v


def _judge_exact(v: Verdict, out: torch.Tensor, ref: np.ndarray) -> Verdict:
    """An exact output: each element equal to the oracle's, NaN where it has NaN, compared
    in float64 (exact for every float dtype, and for integers up to 2**53), JUDGE_CHUNK
    elements at a time on the output's device."""
    v.numel = ref.size
    flat_out, flat_ref = out.detach().reshape(-1), ref.reshape(-1)
    first_bad = None
    for start in range(0, ref.size, JUDGE_CHUNK):
        got = flat_out[start : start + JUDGE_CHUNK].to(torch.float64)
        want = torch.from_numpy(np.ascontiguousarray(flat_ref[start : start + JUDGE_CHUNK]))
        want = want.to(got.device)
        bad = (got != want) & ~(got.isnan() & want.isnan())
        n_bad = int(bad.sum())
        if n_bad:
            if first_bad is None:
                first_bad = start + int(bad.nonzero()[0, 0])
            v.max_abs = max(v.max_abs, float(torch.nan_to_num((got - want)[bad], nan=math.inf)
                                              .abs().max()))  # fmt: skip
        v.n_bad += n_bad
    if first_bad is not None:
        v.worst_index = tuple(int(i) for i in np.unravel_index(first_bad, ref.shape))
        v.max_err = math.inf
        v.problems.append(
            f"{v.n_bad} of {v.numel} elements differ from the oracle's (an exact output), "
            f"the first at {v.worst_index}; max abs difference {v.max_abs:.3g}"
        )
    return v


def _judge_chunk(
    tally: _Tally,
    offset: int,
    out: torch.Tensor,
    ref: np.ndarray,
    cond: np.ndarray,
    bound: Bound,
    dtype: torch.dtype,
    first: float,
    truncated: np.ndarray | None = None,
) -> None:
    """Add one chunk of an output (flat, from `offset`) to the tally."""
    got = out.to(torch.float64)
    ref_t = torch.from_numpy(np.ascontiguousarray(ref)).to(got.device)
    cond_t = torch.from_numpy(np.ascontiguousarray(cond)).to(got.device)
    # NaN/Inf must sit exactly where the oracle, rounded to this dtype, has them.
    rounded = ref_t.to(dtype).to(torch.float64)
    pattern_bad, err = _differences(got, ref_t, rounded)
    ref_finite = ref_t.isfinite()
    finite_ref = torch.where(ref_finite, ref_t, 0.0)
    allowed = bound.allowed(finite_ref, torch.where(ref_finite, cond_t, 0.0))
    if truncated is not None:
        # Element by element, whichever oracle explains it better, within the oracle's
        # bound (truncation only shrinks the terms of the condition).
        truncated_t = torch.from_numpy(np.ascontiguousarray(truncated)).to(got.device)
        truncated_rounded = truncated_t.to(dtype).to(torch.float64)
        truncated_bad, truncated_err = _differences(got, truncated_t, truncated_rounded)
        nearer = ~truncated_bad & (pattern_bad | (truncated_err < err))
        explained = nearer & (pattern_bad | (err > allowed)) & (truncated_err <= allowed)
        tally.n_truncated += int(explained.sum())
        pattern_bad &= ~nearer
        err = torch.where(nearer, truncated_err, err)
    both_finite = got.isfinite() & ref_finite
    ratio = err / allowed
    # Overflow is a rounding too: where the exact result is within the bound of the
    # dtype's overflow threshold, either side of it is honest.
    threshold = float(torch.finfo(dtype).max) * (1 + UNIT_ROUNDOFF[name_of(dtype)])
    at_threshold = ref_finite & ((finite_ref.abs() - threshold).abs() <= allowed)
    same_sign = torch.nan_to_num(got, nan=0.0).sign() == finite_ref.sign()
    pattern_bad &= ~(at_threshold & same_sign & ~got.isnan())
    tally.ratio_nan |= bool(ratio.isnan().any())
    tally.n_bad += int((pattern_bad | (ratio > 1.0)).sum())
    n_pattern = int(pattern_bad.sum())
    if n_pattern and tally.first_pattern is None:
        tally.first_pattern = offset + int(pattern_bad.nonzero()[0, 0])
    tally.n_pattern += n_pattern
    nan_for = got.isnan() & pattern_bad
    tally.n_nan += int((nan_for & rounded.isfinite()).sum())
    tally.n_nan_inf += int((nan_for & rounded.isinf()).sum())
    tally.max_abs = max(tally.max_abs, float(err.max()))
    nonzero = both_finite & (ref_t != 0)
    if bool(nonzero.any()):
        tally.max_rel = max(tally.max_rel, float((err[nonzero] / ref_t[nonzero].abs()).max()))
    ratio = torch.nan_to_num(ratio, nan=0.0)
    worst = int(ratio.argmax())
    if float(ratio[worst]) > tally.max_err or offset == 0:
        tally.max_err, tally.worst = float(ratio[worst]), offset + worst
    tally.allowed_max = max(tally.allowed_max, float(allowed.max()))
    tally.constant &= bool((got == first).all())
    finite = rounded[rounded.isfinite()]
    if finite.numel():
        tally.finite_count += finite.numel()
        tally.finite_min = min(tally.finite_min, float(finite.min()))
        tally.finite_max = max(tally.finite_max, float(finite.max()))


def _differences(
    got: torch.Tensor, ref: torch.Tensor, rounded: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(where got's NaN/Inf pattern differs from `rounded`, ref rounded to the output
    dtype; |got - ref| where both are finite, 0 elsewhere), of ref's shape."""
    pattern_bad = (
        (got.isnan() != rounded.isnan())
        | (got.isposinf() != rounded.isposinf())
        | (got.isneginf() != rounded.isneginf())
    )
    err = torch.where(got.isfinite() & ref.isfinite(), (got - ref).abs(), 0.0)
    return pattern_bad, err


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _constant_but_oracle_varies(tally: _Tally, out_dtype: str, numel: int) -> bool:
    """A constant output, where the oracle rounded to the output dtype spans more than one
    ulp of its largest value and more than twice the largest error the bound allows: no
    honest rounding makes such an output constant. (A correct PyTorch x + sum in bfloat16
    can be constant where the exact values straddle a rounding boundary: one ulp; an
    ill-conditioned output can be constant within its bound.)"""
    if numel < 2 or tally.finite_count < 2 or not tally.constant:
        return False
    largest = max(abs(tally.finite_min), abs(tally.finite_max))
    if largest == 0.0:
        return False
    exponent = max(math.floor(math.log2(largest)), math.log2(SMALLEST_NORMAL[out_dtype]))
    ulp = 2 * UNIT_ROUNDOFF[out_dtype] * 2.0**exponent
    spread = tally.finite_max - tally.finite_min
    return spread > ulp and spread > 2 * tally.allowed_max


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
