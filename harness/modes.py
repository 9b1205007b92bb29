"""Where kernels run: `interpret` (Triton's interpreter on CPU tensors) or `gpu` (CUDA).

`TRITON_INTERPRET` is read when `@triton.jit` decorates a function, not at launch, so
`activate` must run before any kernel module is imported.
"""

from __future__ import annotations

import os

MODE_CHOICES: tuple[str, ...] = ("auto", "interpret", "gpu")


class ModeError(RuntimeError):
    """The requested mode cannot run on this machine."""


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve(mode: str) -> str:
    """`auto` is `gpu` when CUDA is available and TRITON_INTERPRET unset, else `interpret`."""
    if mode not in MODE_CHOICES:
        raise ModeError(f"mode must be one of {MODE_CHOICES}, got {mode!r}")
    if mode == "auto":
        if os.environ.get("TRITON_INTERPRET") == "1" or not _cuda_available():
            return "interpret"
        return "gpu"
    if mode == "gpu" and not _cuda_available():
        raise ModeError(
            "--triton-mode=gpu needs an NVIDIA GPU, but torch.cuda.is_available() is False "
            "on this machine; use --triton-mode=interpret to run the kernels on the CPU"
        )
    return mode


def restore(previous: str | None) -> None:
    """Put TRITON_INTERPRET back as it was before `activate` (pytest_unconfigure)."""
    if previous is None:
        os.environ.pop("TRITON_INTERPRET", None)
    else:
        os.environ["TRITON_INTERPRET"] = previous


def activate(mode: str) -> str:
    """Resolve `mode` and set TRITON_INTERPRET to match; returns the resolved mode. In
    interpret mode every load and store is bounds-checked (`harness.bounds`)."""
    resolved = resolve(mode)
    if resolved == "interpret":
        os.environ["TRITON_INTERPRET"] = "1"
        from harness import bounds

        bounds.install()
    else:
        os.environ.pop("TRITON_INTERPRET", None)
    return resolved


UNFAITHFUL_PROFILES: dict[tuple[str, str], dict[str, str]] = {
    ("interpret", "bfloat16"): {
        "tiny": "Triton's interpreter converts subnormal bfloat16 wrongly (loads flush them "
        "to 0; float32 -> bfloat16 garbles subnormal float32), so tiny bfloat16 inputs "
        "are not drawn there (tests/test_harness.py checks the interpreter still does so)"
    }
}
"""(mode, dtype) -> {value profile: why the mode cannot run it faithfully}."""


def admitted_profiles(profiles: tuple[str, ...], mode: str, dtype: str) -> tuple[str, ...]:
    """The value profiles of an op that `mode` runs faithfully in `dtype`."""
    excluded = UNFAITHFUL_PROFILES.get((mode, dtype), {})
    return tuple(p for p in profiles if p not in excluded) or ("normal",)


def device_for(mode: str) -> str:
    return "cuda" if mode == "gpu" else "cpu"


def versions() -> dict[str, str]:
    import hypothesis
    import numpy
    import torch
    import triton

    return {
        "torch": torch.__version__,
        "triton": triton.__version__,
        "numpy": numpy.__version__,
        "hypothesis": hypothesis.__version__,
    }


def device_name(mode: str) -> str:
    if mode == "gpu":
        import torch

        return torch.cuda.get_device_name()
    return "cpu (Triton interpreter)"
