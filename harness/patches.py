"""Switchable patches of Triton's interpreter (`harness.bounds`, `harness.reductions`,
`harness.interpreter_fixes`): each installed once a process, unless its environment
variable is "0"."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from types import ModuleType


def switched_on(env: str) -> bool:
    """Whether the patch that environment variable `env` switches is wanted (default on)."""
    return os.environ.get(env, "1") != "0"


def interpreter_patch(env: str) -> Callable[[Callable[[ModuleType], bool]], Callable[[], bool]]:
    """Decorator: `patch(interpreter) -> bool`, which patches `triton.runtime.interpreter`
    and says whether it found what it patches, becomes `install() -> bool`: the patch
    applied once a process unless switched off (`switched_on(env)`), and whether it is
    in place (False too where Triton has no interpreter)."""

    def wrap(patch: Callable[[ModuleType], bool]) -> Callable[[], bool]:
        installed = False

        @functools.wraps(patch)
        def install() -> bool:
            nonlocal installed
            if installed or not switched_on(env):
                return installed
            try:
                from triton.runtime import interpreter
            except ImportError:
                return False
            installed = bool(patch(interpreter))
            return installed

        return install

    return wrap
