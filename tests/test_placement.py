"""Placing xdist workers on GPUs and sharing the cores (harness.placement), tested here."""

from __future__ import annotations

import os

import pytest

from harness.placement import PlacementError, layout, place, worker_index


def test_worker_ids() -> None:
    assert worker_index("gw0") == 0 and worker_index("gw12") == 12
    assert worker_index(None) is None and worker_index("master") is None


@pytest.mark.parametrize(("workers", "devices"), [(1, 1), (2, 2), (8, 2), (5, 3), (16, 8)])
def test_one_worker_per_gpu_then_round_robin(workers: int, devices: int) -> None:
    placed = [place(w, workers, devices) for w in range(workers)]
    assert placed[: min(workers, devices)] == list(range(min(workers, devices)))
    counts = [placed.count(d) for d in range(devices)]
    assert max(counts) - min(counts) <= 1  # balanced
    assert layout(workers, devices) == {
        d: [w for w in range(workers) if placed[w] == d] for d in range(devices)
    }


def test_nothing_to_place_without_a_worker_or_a_gpu() -> None:
    assert place(None, 4, 2) is None
    assert place(3, 4, 0) is None  # a CPU machine: workers stay on the CPU


def test_the_cap_per_gpu_is_a_usage_error_before_anything_runs() -> None:
    assert place(3, 4, 2, per_gpu=2) == 1
    with pytest.raises(PlacementError, match=r"more than 2 per GPU.*-n 4 or fewer"):
        place(0, 5, 2, per_gpu=2)
    with pytest.raises(PlacementError, match="must be >= 1"):
        place(0, 1, 1, per_gpu=0)
    with pytest.raises(PlacementError, match="not one of"):
        place(4, 4, 2)


def test_share_cores_sets_the_blas_threads_for_processes_started_inside(monkeypatch):
    from harness.placement import BLAS_THREADS, cores_each, share_cores

    for name in BLAS_THREADS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # the user's: kept
    with share_cores(2):
        assert os.environ["OPENBLAS_NUM_THREADS"] == str(cores_each(2))
        assert os.environ["MKL_NUM_THREADS"] == "3"
    assert "OPENBLAS_NUM_THREADS" not in os.environ and os.environ["MKL_NUM_THREADS"] == "3"
    assert cores_each(10**6) == 1
