"""What the tests of the harness's patches of Triton's interpreter (harness.bounds,
harness.reductions, harness.interpreter_speed, harness.interpreter_fixes) share."""

from __future__ import annotations

from types import ModuleType

import pytest


def require_patch(harness_state, patch: ModuleType, on_a_gpu: str) -> None:
    """Skips the test outside interpret mode (`on_a_gpu`: what stands for the patch
    there), or where `patch` is not in place (turned off by its environment variable)."""
    if harness_state.mode != "interpret":
        pytest.skip(on_a_gpu)
    if not patch.install():
        pytest.skip(f"{patch.__name__} is turned off ({patch.ENV}=0)")
