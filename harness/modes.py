"""Where kernels run: `interpret` (Triton's interpreter on CPU tensors), `gpu` (compiled,
CUDA), or `parity` (on a GPU machine, both: each case runs compiled and as an interpreted
twin on the same CUDA inputs, see `harness.parity`).

`TRITON_INTERPRET` is read when `@triton.jit` decorates a function, not at launch, so
`activate` must run before any kernel module is imported.
"""

from __future__ import annotations

import os

MODE_CHOICES: tuple[str, ...] = ("auto", "interpret", "gpu", "parity")

TIER_MODES: dict[str, dict[str, str]] = {
    "interpret": {"torch": "interpret", "kernel": "interpret"},
    "gpu": {"torch": "gpu", "kernel": "gpu"},
    "parity": {"torch": "gpu", "kernel": "gpu", "interpreted": "interpret"},
}
"""Per mode, the tiers a case runs besides the oracle, each with the mode its error model
is asked for (an interpreted twin's `tl.dot` sums in NumPy's order, not on the tensor
cores)."""


AUTOTUNE_ENV = "HARNESS_AUTOTUNE"
AUTOTUNE_CHOICES: tuple[str, ...] = ("time", "first")
"""How `harness.autotune` picks a config on a GPU (--triton-autotune): `time` every config
for each new key, as triton.autotune does, or take the `first` its pruning keeps. Read
when a kernel is decorated, like TRITON_INTERPRET."""


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
    if mode in ("gpu", "parity") and not _cuda_available():
        raise ModeError(
            f"--triton-mode={mode} needs an NVIDIA GPU, but torch.cuda.is_available() is "
            "False on this machine; use --triton-mode=interpret to run the kernels on the CPU"
        )
    if mode == "parity":
        from harness.parity import interpreter_problem

        problem = interpreter_problem()
        if problem:
            raise ModeError(f"--triton-mode=parity interprets every kernel, but {problem}")
    return mode


def restore(previous: str | None) -> None:
    """Put TRITON_INTERPRET back as it was before `activate` (pytest_unconfigure)."""
    if previous is None:
        os.environ.pop("TRITON_INTERPRET", None)
    else:
        os.environ["TRITON_INTERPRET"] = previous


def activate(mode: str) -> str:
    """Resolve `mode` and set TRITON_INTERPRET to match; returns the resolved mode. Every
    interpreted load and store is bounds-checked (`harness.bounds`), parity's twins too,
    interpreted reductions with a kernel's own combine function run as a tree of numpy
    calls (`harness.reductions`), and comparisons and float arguments are typed as
    compiled Triton types them (`harness.interpreter_fixes`)."""
    resolved = resolve(mode)
    if resolved == "interpret":
        os.environ["TRITON_INTERPRET"] = "1"
    else:
        os.environ.pop("TRITON_INTERPRET", None)
    if resolved in ("interpret", "parity"):
        from harness import patches

        patches.install_all()
    return resolved


def interpreter_aids() -> str:
    """What the harness adds to Triton's interpreter in this process, for the report
    header: the bounds check (`harness.bounds`), the reductions and scans as trees
    (`harness.reductions`), helpers called without patching the language again
    (`harness.interpreter_speed`) and the comparisons typed int1, fma rounded once and
    float arguments float32 (`harness.interpreter_fixes`), each on, or off with the
    reason."""
    from harness import patches

    return "; ".join(
        f"{what} " + ("on" if on else f"off ({env}=0 or no entry point)")
        for what, env, on in patches.install_all()
    )


UNFAITHFUL_PROFILES: dict[tuple[str, str], dict[str, str]] = {
    ("interpret", "bfloat16"): {
        "tiny": "Triton's interpreter converts subnormal bfloat16 wrongly (loads flush them "
        "to 0; float32 -> bfloat16 garbles subnormal float32), so tiny bfloat16 inputs "
        "are not drawn there (tests/test_harness.py checks the interpreter still does so)"
    }
}
"""(mode, dtype) -> {value profile: why the mode cannot run it faithfully}."""


def admitted_profiles(profiles: tuple[str, ...], mode: str, dtype: str) -> tuple[str, ...]:
    """The value profiles of an op that `mode` runs faithfully in `dtype` (parity: that
    both of its modes do)."""
    excluded = {}
    for tier_mode in set(TIER_MODES.get(mode, {mode: mode}).values()):
        excluded.update(UNFAITHFUL_PROFILES.get((tier_mode, dtype), {}))
    return tuple(p for p in profiles if p not in excluded) or ("normal",)


def device_for(mode: str) -> str:
    return "cpu" if mode == "interpret" else "cuda"


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
    if mode == "interpret":
        return "cpu (Triton interpreter)"
    import torch

    count = torch.cuda.device_count()
    names = [torch.cuda.get_device_name(i) for i in range(count)]
    name = names[0] if len(set(names)) == 1 else " + ".join(names)
    name = f"{count} x {name}" if count > 1 else name
    return f"{name} (compiled, and interpreted twins)" if mode == "parity" else name


def current_device(device: str) -> str:
    """The device a case runs on, as a failure names it: "cuda:1 (NVIDIA H200)", "cpu"."""
    if device != "cuda":
        return device
    import torch

    index = torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
