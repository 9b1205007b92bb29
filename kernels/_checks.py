"""Input validation shared by every launcher.

A launcher must refuse bad input with an error that names the argument and says what
was expected, before anything reaches Triton (whose own errors come from deep inside
the compiler, or not at all: an interpreted kernel happily reads a wrong pointer).
"""

from __future__ import annotations

import math
import numbers
import os

import torch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


# Read once, at import, as Triton does when it decorates the kernels imported with this
# module: a later change of the variable does not change how they run.
_INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"


_GPU_TARGET_ON_CPU = False


def interpreting() -> bool:
    """True when the kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1 at import)."""
    return _INTERPRETING


def compile_for_gpu_on_cpu() -> None:
    """For the tools that compile kernels for a GPU target on a machine without one
    (benchmarks/compile_offline.py, benchmarks/sass_loop.py): from now on CPU tensors pass
    the launchers' device checks, as in the interpreter, but launch plans are made with
    the GPU's constants (`kernels._plans.default_constants`), so what compiles is what a
    GPU would launch. (Until 2026-12-07 they were the interpreter's: the gradients'
    lines of `make compile-check` compiled attention's interpreter tiles.)"""
    global _INTERPRETING, _GPU_TARGET_ON_CPU
    _INTERPRETING = _GPU_TARGET_ON_CPU = True


def gpu_target_on_cpu() -> bool:
    return _GPU_TARGET_ON_CPU


def _dtype_names(dtypes: tuple[torch.dtype, ...]) -> str:
    names = [str(d).replace("torch.", "") for d in dtypes]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def check_tensor(
    name: str, value: object, dtypes: tuple[torch.dtype, ...] = FLOAT_DTYPES
) -> torch.Tensor:
    """`value` is a tensor of a supported dtype on the device kernels run on."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype {_dtype_names(dtypes)}, got {value.dtype}")
    if value.layout is not torch.strided or value.is_nested:  # a kernel reads through strides
        kind = "a nested tensor" if value.is_nested else f"layout {value.layout}"
        raise TypeError(f"{name} must be a dense tensor (torch.strided layout), got {kind}")
    # is_cpu and is_cuda: what device.type says, without making a torch.device (a sixth
    # of the cost): every launch checks each of its tensors.
    if _INTERPRETING:
        if not value.is_cpu:
            raise ValueError(
                f"{name} is on device {value.device}, but TRITON_INTERPRET=1 runs kernels "
                "on CPU tensors"
            )
    elif not value.is_cuda:
        raise ValueError(
            f"{name} must be a CUDA tensor, got device {value.device} "
            "(set TRITON_INTERPRET=1 to run kernels on CPU tensors)"
        )
    return value


def check_like(name: str, value: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    """`value` has the same device and dtype as `ref` (both already `check_tensor`ed)."""
    if value.device != ref.device:
        raise ValueError(f"{name} is on {value.device} but {ref_name} is on {ref.device}")
    if value.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {value.dtype} but {ref_name} has {ref.dtype}")


def check_shape(name: str, value: torch.Tensor, shape: tuple[int, ...], what: str) -> None:
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have shape {tuple(shape)} ({what}), got {tuple(value.shape)}"
        )


def check_real(name: str, value: object) -> float:
    """`value` as a finite float, where it is a real number as PyTorch takes one (an int,
    a float, a NumPy scalar, but not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (float or int), got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number
