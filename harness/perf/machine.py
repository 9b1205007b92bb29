"""Which machine a benchmark ran on: GPU model, driver, CUDA, torch and Triton.

Benchmark numbers only compare on the same GPU model, so the model's name (and a file
name made from it, `gpu_slug`) keys the stored baselines; the rest is recorded so a
surprising number can be traced to a driver or library upgrade.
"""

from __future__ import annotations

import ctypes
import platform
import re
import shutil
import subprocess
from typing import Any


def gpu_slug(name: str | None) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (a file name per GPU model)."""
    if not name:
        return "no-gpu"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown-gpu"


def _driver_version() -> str | None:
    """The NVIDIA driver version (e.g. '580.65.06'), from nvidia-smi or NVML."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            if out:
                return out.splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return None


def _cuda_driver_api() -> str | None:
    """The CUDA version the driver supports (cuDriverGetVersion), e.g. '13.0'."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int()
        if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
        return f"{version.value // 1000}.{(version.value % 1000) // 10}"
    except (OSError, AttributeError):
        return None


def software() -> dict[str, Any]:
    import numpy
    import torch
    import triton

    return {
        "torch": torch.__version__,
        "triton": triton.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "cuda_runtime": torch.version.cuda,
    }


def gpu_info() -> dict[str, Any]:
    """The current CUDA device; {'gpu': None} without one."""
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None, "gpu_slug": gpu_slug(None)}
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {
        "gpu": props.name,
        "gpu_slug": gpu_slug(props.name),
        "gpu_capability": f"{props.major}.{props.minor}",
        "gpu_sm_count": props.multi_processor_count,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        "gpu_driver": _driver_version(),
        "cuda_driver_api": _cuda_driver_api(),
    }


def machine_info() -> dict[str, Any]:
    """Everything recorded with a run: GPU, driver, CUDA, library versions, host."""
    return {**gpu_info(), **software(), "host": platform.node()}


def benchmark_machine_info() -> dict[str, Any]:
    """The fields added to pytest-benchmark's machine_info."""
    info = machine_info()
    info.pop("host", None)  # pytest-benchmark records it as 'node'
    info["harness_timer"] = (
        "CUDA events around each call, L2 flushed before it (harness.perf.timing)"
    )
    return info


def gpu_mismatch(current: dict[str, Any], saved: dict[str, Any], where: str = "") -> str | None:
    """Why two runs must not be compared (another GPU model), or None when they may be."""
    if "gpu" not in saved:
        return (
            f"not comparing against the saved benchmarks{where}: they record no GPU model "
            "(saved without the harness plugin), and numbers from another card are "
            "meaningless here; the regression check is skipped"
        )
    if current.get("gpu") != saved.get("gpu"):
        return (
            f"not comparing against the saved benchmarks{where}: they were measured on "
            f"{saved.get('gpu')!r} and this run is on {current.get('gpu')!r}; baselines are "
            "per GPU model, so the regression check is skipped (keep one storage folder per "
            "GPU: --benchmark-storage=.benchmarks/<gpu-slug>)"
        )
    return None
