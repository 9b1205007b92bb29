"""Launch configs by name: which one a launcher picks, and a way to force and observe it.

A launcher plans its launch from the shape (a design and a set of block-size constants,
the GPU's or the interpreter's) and names what it chose, `family/design/constants`
(for example ``rows/looped/gpu``). Tests use the two context managers below:

  forcing(name)   inside it, a launcher of that family launches `name` wherever the
                  design applies to the shape (the GPU's tiling in the interpreter, or
                  the interpreter's small blocks compiled on the GPU);
  recording()     yields the list of names launched inside it.

Outside them a launcher costs one context-variable read per call. Both are context
variables, which a new thread does not inherit; PyTorch runs the backward of CUDA tensors
on a thread of its own, so an autograd Function takes them along (`carried_to_backward`).
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from harness.autotune import launch_tuned, with_config
from kernels._checks import gpu_target_on_cpu, interpreting
from kernels._launch import COMPILE_OPTIONS, launch_resolved, note_dispatched, note_replay

_FORCED: ContextVar[str | None] = ContextVar("forced_config", default=None)
_RECORDERS: ContextVar[tuple[list[str], ...]] = ContextVar("config_recorders", default=())


_tunings = 0


def tunings() -> int:
    """How many times an UPPER_CASE launch constant of a `tunable` module has been set in
    this process: remembered plans and replayed calls are keyed on it, in place of every
    constant's value (reading two dozen globals costs a replayed call ~0.3 us)."""
    return _tunings


class _TunableModule(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        global _tunings
        super().__setattr__(name, value)
        if name.isupper():
            _tunings += 1


def tunable(module_name: str) -> None:
    """Count every set of an UPPER_CASE name of module `module_name` (called from its body,
    `tunable(__name__)`) in `tunings()`: tuning scripts and tests set launch constants
    with setattr (`monkeypatch.setattr`), and no plan or replay made before is used
    after. A module's own `global` assignments are not counted: constants are not set so."""
    sys.modules[module_name].__class__ = _TunableModule


def default_constants() -> str:
    """The constants of this mode: "interpret" in Triton's interpreter, else "gpu" (a GPU
    target compiled on a CPU too: `kernels._checks.compile_for_gpu_on_cpu`)."""
    return "interpret" if interpreting() and not gpu_target_on_cpu() else "gpu"


def forced_name() -> str | None:
    """The config name forced now (`forcing`), if any."""
    return _FORCED.get()


def forced(family: str) -> tuple[str | None, str]:
    """(design, constants) forced for `family` now: (None, this mode's) when none is."""
    name = _FORCED.get()
    if name is not None and name.startswith(family + "/"):
        _, design, constants = name.split("/")
        return design, constants
    return None, default_constants()


def launched(family: str, design: str, constants: str) -> None:
    """Note the config a launcher is about to run, for any `recording()` around it."""
    for record in _RECORDERS.get():
        record.append(f"{family}/{design}/{constants}")


@contextlib.contextmanager
def forcing(name: str) -> Iterator[None]:
    if name.count("/") != 2:
        raise ValueError(f"a config name is family/design/constants, got {name!r}")
    token = _FORCED.set(name)
    try:
        yield
    finally:
        _FORCED.reset(token)


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    record: list[str] = []
    token = _RECORDERS.set((*_RECORDERS.get(), record))
    try:
        yield record
    finally:
        _RECORDERS.reset(token)


def carried_to_backward(function: type) -> type:
    """Class decorator for a torch.autograd.Function: its backward runs under the forcing
    and recording its forward ran under. Without it, on a GPU, the backward's launches
    were neither forced nor recorded (benchmarks/rows_and_launch_tuning.md#carried_to_backward),
    and a test of every config tested the tuner's choice."""
    forward, backward = function.forward, function.backward

    def forward_noting_plans(ctx: Any, *args: Any) -> Any:
        ctx.plans = (_FORCED.get(), _RECORDERS.get())
        return forward(ctx, *args)

    def backward_under_plans(ctx: Any, *grads: Any) -> Any:
        forced_name, recorders = ctx.plans
        tokens = _FORCED.set(forced_name), _RECORDERS.set(recorders)
        try:
            return backward(ctx, *grads)
        finally:
            _RECORDERS.reset(tokens[1])
            _FORCED.reset(tokens[0])

    function.forward = staticmethod(forward_noting_plans)
    function.backward = staticmethod(backward_under_plans)
    return function


def names(family: str, designs: tuple[str, ...], constants: tuple[str, ...]) -> tuple[str, ...]:
    """Every family/design/constants name, for an op's declared configs."""
    return tuple(f"{family}/{d}/{c}" for d in designs for c in constants)


def config_name(config: Any) -> str:
    """A triton.Config's name: its BLOCK_* sizes joined by x, then each other constant as
    -<first letter><value> (GROUP_M 8: -g8), warps and stages (`64x64x32-g8-w4-s3`)."""
    kwargs = config.kwargs
    blocks = "x".join(str(v) for k, v in kwargs.items() if k.startswith("BLOCK_"))
    others = "".join(f"-{k[0].lower()}{v}" for k, v in kwargs.items() if not k.startswith("BLOCK_"))
    return f"{blocks}{others}-w{config.num_warps}-s{config.num_stages}"


def by_name(kernel: str, gpu: tuple, interpret: tuple) -> dict[str, dict[str, Any]]:
    """A kernel's configs per constants table, by design name (`<kernel>-<config>`, or the
    config's name alone for kernel "")."""
    prefix = f"{kernel}-" if kernel else ""
    tables = {"gpu": gpu, "interpret": interpret}
    return {t: {f"{prefix}{config_name(c)}": c for c in cs} for t, cs in tables.items()}


_FAMILY_DESIGNS: dict[str, frozenset[str]] = {}
"""Every design name of each family's config tables (`table_names`), for `launch`."""


def table_names(family: str, *tables: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """Every family/design/constants name of a family's config tables: the op's config
    axis. Notes the tables' design names as the family's, for every `launch` of it."""
    pairs = [(name, t) for table in tables for t in table for name in table[t]]
    _FAMILY_DESIGNS[family] = frozenset(name for name, _ in pairs)
    return tuple(f"{family}/{n}/{t}" for n, t in pairs)


_NAMES: dict[tuple[int, int], tuple[Any, Any, str]] = {}
"""(id(configs), id(config)) -> (both, kept so that their ids are never reused; the name)."""


def design_name(configs: Mapping[str, Any], config: Any) -> str:
    """`config`'s name in `configs`, or `config_name` of it (a config the tuner derived),
    worked out once per table and config: a launch asks on every call."""
    key = (id(configs), id(config))
    known = _NAMES.get(key)
    if known is None:
        name = next((name for name, c in configs.items() if c is config), None)
        known = _NAMES[key] = (configs, config, name or config_name(config))
    return known[2]


def always() -> bool:
    """A replay note's validity check for what never goes stale (`kernels._launch.note_replay`)."""
    return True


def _replayed(kernel: Any, config: Any, family: str, design: str, table: str) -> None:
    kernel.best_config = config
    if _RECORDERS.get():
        launched(family, design, table)


def note_named(family: str, design: str, table: str) -> None:
    """After a launch of a config named by the caller (a forced one, a table's): a replay
    of this call (kernels._launch.Replays) names that config too."""
    note_replay(always, lambda: _RECORDERS.get() and launched(family, design, table))


def tuned(kernel: Any, grid: Any, args: tuple, constants: dict[str, Any]) -> Any:
    """`harness.autotune.launch_tuned` launched `fast`, returning the config that ran. A
    call that tunes (its launches through Triton's dispatch) is not kept for replays."""
    constants = constants | COMPILE_OPTIONS  # the tuner compiles its trials itself
    return launch_tuned(kernel, grid, args, constants, launch_resolved, note_dispatched)


def note_tuned(kernel: Any, best: Any, family: str, design: str, table: str) -> None:
    """After a tuned launch: a replay of this call (kernels._launch.Replays) runs the
    config chosen now, so only while the tuner keeps that choice; it names the config as
    this call does."""
    choices = kernel.__dict__.get("_launch_cache")
    note_replay(
        lambda: kernel.__dict__.get("_launch_cache") is choices,
        lambda: _replayed(kernel, best, family, design, table),
    )


def launch(
    family: str,
    kernel: Any,
    configs: Mapping[str, Mapping[str, Any]],
    grid: Any,
    args: tuple,
    constants: Mapping[str, Any],
    fit: Callable[[Any], Any] | None = None,
) -> str:
    """Launch `kernel` (an autotuned kernel, `harness.autotune.autotune`) over `grid`, and
    note the config that ran (`launched`); returns its design name.

    `configs` maps each constants table ("gpu", "interpret") to this kernel's configs by
    design name. A forced design of this family that is one of them is launched as it is
    (`harness.autotune.with_config`: the tuning bypassed, the launch `fast` as a tuned
    one's); one the family's tables have for another of its kernels (`table_names`) leaves
    this one to its tuner; any other is an error. `fit` adapts a forced config to the
    case (a GEMM's K step to float32 operands, `kernels._launch.fitted`), as the tuner's
    pruning does.
    Unforced, the tuner picks, and its `best_config` is named."""
    # Unforced (every call outside a test): one read of the context variable, and the
    # table is this mode's (below).
    design, table = (None, "") if _FORCED.get() is None else forced(family)
    if design is not None and design in configs[table]:
        config = configs[table][design]
        config = fit(config) if fit else config
        with_config(kernel, config, launch_resolved)[grid](*args, **constants)
        note_named(family, design, table)
    elif design is not None and design not in _FAMILY_DESIGNS.get(family, ()):
        raise ValueError(f"no {family} config named {design!r} in {table!r}")
    else:  # the tuner picks among this mode's configs, whatever table a forcing named
        table = default_constants()
        best = tuned(kernel, grid, args, constants)
        design = design_name(configs[table], best)
        note_tuned(kernel, best, family, design, table)
    if _RECORDERS.get():  # a recording() is open
        launched(family, design, table)
    return design
