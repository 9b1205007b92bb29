"""Switchable patches of Triton's interpreter (`harness.bounds`, `harness.reductions`,
`harness.interpreter_speed`, `harness.interpreter_fixes`): each installed once a process,
unless its environment variable is "0"."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from types import ModuleType


def interpreter_patch(env: str) -> Callable[[Callable[[ModuleType], bool]], Callable[[], bool]]:
    """Decorator: `patch(interpreter) -> bool`, which patches `triton.runtime.interpreter`
    and says whether it found what it patches, becomes `install() -> bool`: the patch
    applied once a process unless the environment variable `env` is "0", and whether it
    is in place (False too where Triton has no interpreter)."""

    def wrap(patch: Callable[[ModuleType], bool]) -> Callable[[], bool]:
        installed = False

        @functools.wraps(patch)
        def install() -> bool:
            nonlocal installed
            if installed or os.environ.get(env, "1") == "0":
                return installed
            try:
                from triton.runtime import interpreter
            except ImportError:
                return False
            installed = bool(patch(interpreter))
            return installed

        return install

    return wrap


def install_all() -> list[tuple[str, str, bool]]:
    """Every patch of the interpreter the harness has, installed (each its `install()`):
    (what it does, its environment variable, whether it is in place), for the report
    header. Interpret and parity modes install them (`harness.modes.activate`), and so
    does `harness.parity.interpreted` for its twins."""
    from harness import bounds, interpreter_fixes, interpreter_speed, reductions

    return [
        ("bounds check", bounds.ENV, bounds.install()),
        ("reductions and scans as trees", reductions.ENV, reductions.install()),
        ("helpers called without patching the language again, dtypes looked up once",
         interpreter_speed.ENV, interpreter_speed.install()),
        ("comparisons typed int1, fma rounded once, float arguments float32", interpreter_fixes.ENV,
         interpreter_fixes.install()),
    ]  # fmt: skip
