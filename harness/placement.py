"""Which GPU an xdist worker runs on: one worker per GPU, round-robin past that; and
how many CPU threads each of several worker processes may start (`share_cores`).

`pytest -n N --triton-mode=gpu` on a machine with several GPUs puts worker gw<i> on GPU
i mod D (D the visible devices, as CUDA_VISIBLE_DEVICES leaves them), so N workers
spread over the GPUs instead of all sharing device 0. `--triton-workers-per-gpu C` caps
how many share one GPU (memory: each holds its largest case while it runs; at budget 16
fifteen workers ran one H200's 140 GB out); more workers than D x C is a usage error
before any test runs. Benchmarks never run under xdist and are not placed.

`place` is a pure function of the worker's index and the device count, tested on the CPU.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""What NumPy's BLAS reads, once, when it loads."""


def cores_each(workers: int) -> int:
    """The CPU threads each of `workers` processes may use: its share of the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def export_share_of_cores(workers: int) -> dict[str, str | None]:
    """Give processes started from now on their share of the cores for NumPy's BLAS,
    which reads its thread count when NumPy imports it (before a process could set it):
    by default each of 15 workers starts one thread per core, 240 threads on the GPU
    machine's 16, and the oracles' float64 matmuls contend for them. A count the user
    set is kept. Returns what the environment had, for `share_cores` to put back."""
    saved = {name: os.environ.get(name) for name in BLAS_THREADS}
    for name in BLAS_THREADS:
        os.environ.setdefault(name, str(cores_each(workers)))
    return saved


@contextmanager
def share_cores(workers: int) -> Iterator[None]:
    """`export_share_of_cores` for the processes started inside it."""
    saved = export_share_of_cores(workers)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class PlacementError(ValueError):
    """More workers than the GPUs may hold."""


def worker_index(worker_id: str | None) -> int | None:
    """gw3 -> 3; None (not an xdist worker) or another name -> None."""
    match = re.fullmatch(r"gw(\d+)", worker_id or "")
    return int(match.group(1)) if match else None


def place(worker: int | None, workers: int, devices: int, per_gpu: int | None = None) -> int | None:
    """The GPU index of worker `worker` of `workers` among `devices` GPUs, or None when
    there is nothing to place (not a worker, or no GPU). Raises PlacementError when the
    workers need more than `per_gpu` on some GPU."""
    if worker is None or devices <= 0:
        return None
    if not 0 <= worker < max(workers, 1):
        raise PlacementError(f"worker {worker} is not one of {workers} workers")
    if per_gpu is not None:
        if per_gpu < 1:
            raise PlacementError(f"--triton-workers-per-gpu must be >= 1, got {per_gpu}")
        if workers > devices * per_gpu:
            raise PlacementError(
                f"{workers} workers on {devices} GPU(s) is more than {per_gpu} per GPU "
                f"(--triton-workers-per-gpu): use -n {devices * per_gpu} or fewer"
            )
    return worker % devices


def layout(workers: int, devices: int) -> dict[int, list[int]]:
    """GPU index -> the workers `place` puts there (for the session header)."""
    placed: dict[int, list[int]] = {d: [] for d in range(devices)}
    for w in range(workers):
        placed[w % devices].append(w)
    return placed
