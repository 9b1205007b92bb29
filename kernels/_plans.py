"""Launch configs by name: which one a launcher picks, and a way to force and observe it.

A launcher plans its launch from the shape (a design and a set of block-size constants,
the GPU's or the interpreter's) and names what it chose, `family/design/constants`
(for example ``rows/looped/gpu``). Tests use the two context managers below:

  forcing(name)   inside it, a launcher of that family launches `name` wherever the
                  design applies to the shape (the GPU's tiling in the interpreter, or
                  the interpreter's small blocks compiled on the GPU);
  recording()     yields the list of names launched inside it.

Outside them a launcher costs one context-variable read per call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from kernels._checks import interpreting

_FORCED: ContextVar[str | None] = ContextVar("forced_config", default=None)
_RECORDERS: ContextVar[tuple[list[str], ...]] = ContextVar("config_recorders", default=())


def default_constants() -> str:
    """The constants of this mode: "interpret" in Triton's interpreter, else "gpu"."""
    return "interpret" if interpreting() else "gpu"


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


def names(family: str, designs: tuple[str, ...], constants: tuple[str, ...]) -> tuple[str, ...]:
    """Every family/design/constants name, for an op's declared configs."""
    return tuple(f"{family}/{d}/{c}" for d in designs for c in constants)
