"""The comparison engine: run the three tiers on one case and judge them.

The float64 NumPy tier is the oracle. The PyTorch tier and the Triton kernel are each
judged against it by the same policy (`harness.tolerance`), so a wrong reference is
caught rather than trusted. Beyond the error bound, a tier fails when:
  - an output has the wrong shape, or the kernel's dtype differs from PyTorch's;
  - NaN or +-Inf appear anywhere the oracle (rounded to the output dtype) has none, or
    are missing where it has them; outputs are allocated full of NaN, so an element
    the kernel never wrote is caught here;
  - the output is constant while the oracle is not;
  - any input tensor comes back with different bits.
"""

from __future__ import annotations

import shlex
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness.dtypes import name_of
from harness.op import Case, Inputs, Op
from harness.tensors import changed, poisoned_allocations, snapshot, to_numpy64

TIERS = ("torch", "kernel")


@dataclass
class Verdict:
    """How one tier did on one output."""

    tier: str
    output: int
    rtol: float
    problems: list[str] = field(default_factory=list)
    max_abs: float = 0.0
    max_rel: float = 0.0
    max_err: float = 0.0
    """Worst |tier - oracle| / (condition + floor): the quantity held to rtol."""
    n_bad: int = 0
    numel: int = 0
    worst_index: tuple[int, ...] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.n_bad == 0


@dataclass
class CaseResult:
    case: Case
    mode: str
    ops_module: str
    verdicts: list[Verdict]
    values: dict[str, tuple[np.ndarray, ...]]
    """'oracle', 'torch', 'kernel' -> the outputs as float64 arrays (for the report)."""

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    def verdict(self, tier: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.tier == tier]

    def worst(self, tier: str) -> Verdict:
        """The verdict of `tier` closest to (or furthest past) its tolerance."""
        return max(self.verdict(tier), key=lambda v: (not v.ok, v.max_err / v.rtol))

    def reproducer(self) -> str:
        return reproducer(self.case, self.mode, self.ops_module)

    def report(self) -> str:
        case = self.case
        lines = [f"{'PASSED' if self.ok else 'FAILED'} {case.describe()} mode={self.mode}"]
        for v in self.verdicts:
            head = f"  output {v.output} ({v.tier}):"
            if v.ok:
                lines.append(f"{head} ok, worst err {v.max_err:.3g} <= rtol {v.rtol:.3g}")
                continue
            lines.extend(f"{head} {p}" for p in v.problems)
            if v.numel:
                lines.append(
                    f"{head} {v.n_bad} of {v.numel} elements ({100 * v.n_bad / v.numel:.3g}%) "
                    f"out of tolerance; max abs err {v.max_abs:.3g}, max rel err "
                    f"{v.max_rel:.3g}, worst err/condition {v.max_err:.3g} vs rtol {v.rtol:.3g}"
                )
            if v.worst_index is not None:
                at = ", ".join(
                    f"{tier}={_at(self.values.get(tier), v.output, v.worst_index)}"
                    for tier in ("oracle", *TIERS)
                )
                lines.append(f"    worst element {v.worst_index}: {at}")
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


def run_case(op: Op, case: Case, mode: str, device: Any, ops_module: str) -> CaseResult:
    """Run the oracle, the PyTorch tier and the kernel on `case`; judge both tiers."""
    note = f"while running {case.describe()} mode={mode}\n  re-run: " + reproducer(
        case, mode, ops_module
    )
    inputs = build_inputs(op, case, device)
    np_args = [to_numpy64(a) for a in inputs.args]
    np_kwargs = {k: to_numpy64(v) for k, v in inputs.kwargs.items()}
    with np.errstate(all="ignore"):  # inf - inf is NaN on purpose: that is what is checked
        oracle = tuple(
            np.asarray(o, dtype=np.float64) for o in _as_tuple(op.numpy_ref(*np_args, **np_kwargs))
        )
    condition_fn = op.error_model.condition
    conditions = (
        tuple(np.asarray(c, dtype=np.float64) for c in condition_fn(np_args, np_kwargs, oracle))
        if condition_fn
        else tuple(np.abs(o) for o in oracle)
    )

    outputs: dict[str, tuple[torch.Tensor, ...]] = {}
    input_changes: dict[str, list[str]] = {}
    for tier, fn in (("torch", op.torch_ref), ("kernel", op.kernel)):
        tier_inputs = build_inputs(op, case, device) if tier != "torch" else inputs
        snap = snapshot((tier_inputs.args, tier_inputs.kwargs))
        try:
            # errstate: interpreted kernels compute inf - inf in masked lanes on purpose
            with poisoned_allocations(), np.errstate(all="ignore"):
                outputs[tier] = _as_tuple(fn(*tier_inputs.args, **tier_inputs.kwargs))
            if tier_inputs.args and isinstance(tier_inputs.args[0], torch.Tensor):
                if tier_inputs.args[0].is_cuda:
                    torch.cuda.synchronize()
        except Exception as exc:  # keep the traceback, add what re-runs it
            exc.add_note(f"[{tier} tier] {note}")
            raise
        input_changes[tier] = changed(snap)

    values = {"oracle": oracle}
    values.update({t: tuple(to_numpy64(o) for o in outputs[t]) for t in TIERS})
    verdicts: list[Verdict] = []
    for tier in TIERS:
        got = outputs[tier]
        if len(got) != len(oracle):
            v = Verdict(tier, 0, 0.0, [f"returned {len(got)} outputs, the oracle {len(oracle)}"])
            verdicts.append(v)
            continue
        for j, (out, ref, cond) in enumerate(zip(got, oracle, conditions, strict=False)):
            expected_dtype = outputs["torch"][j].dtype if tier == "kernel" else None
            verdicts.append(_judge(tier, j, out, ref, cond, op, case, expected_dtype))
        if input_changes[tier]:
            verdicts[-1].problems.append(
                "modified its inputs: " + ", ".join(f"args{p}" for p in input_changes[tier])
            )
    return CaseResult(case, mode, ops_module, verdicts, values)


def _judge(
    tier: str,
    j: int,
    out: Any,
    ref: np.ndarray,
    cond: np.ndarray,
    op: Op,
    case: Case,
    expected_dtype: torch.dtype | None,
) -> Verdict:
    if not isinstance(out, torch.Tensor):
        return Verdict(tier, j, 0.0, [f"returned {type(out).__name__}, not a tensor"])
    out_dtype = name_of(out.dtype)
    v = Verdict(tier, j, op.error_model.rtol(case, out_dtype) if out.is_floating_point() else 0.0)
    if expected_dtype is not None and out.dtype != expected_dtype:
        v.problems.append(f"dtype {out_dtype}, PyTorch gives {name_of(expected_dtype)}")
    if tuple(out.shape) != ref.shape:
        v.problems.append(f"shape {tuple(out.shape)}, the oracle has {ref.shape}")
        return v
    v.numel = ref.size
    if ref.size == 0:
        return v

    got = to_numpy64(out)
    # NaN/Inf must sit exactly where the oracle, rounded to this dtype, has them.
    rounded = torch.from_numpy(ref).to(out.dtype).to(torch.float64).numpy()
    pattern_bad = (
        (np.isnan(got) != np.isnan(rounded))
        | (np.isposinf(got) != np.isposinf(rounded))
        | (np.isneginf(got) != np.isneginf(rounded))
    )
    both_finite = np.isfinite(got) & np.isfinite(ref)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(both_finite, np.abs(got - ref), 0.0)
    norm = err / (np.where(both_finite, cond, 0.0) + op.error_model.floor(out_dtype))
    value_bad = norm > v.rtol
    bad = pattern_bad | value_bad
    v.n_bad = int(bad.sum())
    v.max_abs = float(err.max())
    nonzero = both_finite & (ref != 0)
    v.max_rel = float((err[nonzero] / np.abs(ref[nonzero])).max()) if nonzero.any() else 0.0
    v.max_err = float(norm.max())
    if pattern_bad.any():
        n_nan = int((np.isnan(got) & ~np.isnan(rounded)).sum())
        msg = f"NaN/Inf pattern differs from the oracle at {int(pattern_bad.sum())} elements"
        if n_nan:
            msg += f" ({n_nan} NaN where the oracle is finite: unwritten, or computed wrong)"
        v.problems.append(msg)
        v.worst_index = tuple(int(i) for i in np.argwhere(pattern_bad)[0])
    elif v.n_bad:
        v.worst_index = tuple(int(i) for i in np.unravel_index(int(norm.argmax()), norm.shape))
    finite_ref = rounded[np.isfinite(rounded)]  # as representable: tiny values may be 0
    if (
        got.size > 1
        and finite_ref.size > 1
        and np.ptp(finite_ref) > 0
        and np.all(got == got.reshape(-1)[0])
    ):
        v.problems.append(f"output is constant ({got.reshape(-1)[0]!r}) but the oracle is not")
    return v


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
