"""The kernels planted for the benchmark command (tests/perf_plants.py), checked without a
GPU: they are gated against the real vector_add's baseline, and the capped grid is right
below its limit and caught past it."""

from __future__ import annotations

import dataclasses

import pytest

from harness.op import Case, load_registry
from harness.perf.measure import bench_items, output_checker
from kernels.vector_add import BLOCK_SIZE
from ops import OPS
from tests import perf_plants


@pytest.mark.parametrize("name", ["SLOWED", "RETUNED", "WRONG_AT_LARGE"])
def test_a_plant_is_benchmarked_as_the_real_vector_add(name):
    plant = load_registry(f"tests.perf_plants:{name}")
    assert plant.module == f"tests.perf_plants:{name}"  # what its reproducer names
    real = [it.key for it in bench_items(OPS, ["vector_add"])]
    assert [it.key for it in bench_items(plant)] == real


def test_load_registry_names_a_registry_by_attribute():
    with pytest.raises(LookupError, match=r"perf_plants\.MAX_PROGRAMS is not a harness\.Registry"):
        load_registry("tests.perf_plants:MAX_PROGRAMS")


def test_load_registry_tells_a_missing_module_from_a_missing_dependency(tmp_path, monkeypatch):
    """The module named is not there: a LookupError that says so. It is there but imports
    something that is not: that import's own error, not hidden."""
    (tmp_path / "ops_needing_more.py").write_text("import a_dependency_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(LookupError, match=r"^no module named 'ops_not_there': the ops come"):
        load_registry("ops_not_there")
    with pytest.raises(ModuleNotFoundError, match="a_dependency_not_installed"):
        load_registry("ops_needing_more")


def test_a_capped_grid_passes_below_its_limit_and_is_caught_past_it(harness_state):
    capped = dataclasses.replace(
        OPS["vector_add"], kernel=perf_plants._launcher(BLOCK_SIZE, max_programs=2)
    )
    check = output_checker(harness_state.mode, "cuda" if harness_state.mode == "gpu" else "cpu",
                           __name__)  # fmt: skip
    assert check(capped, Case("vector_add", "float32", (2 * BLOCK_SIZE,), {})) is None
    problem = check(capped, Case("vector_add", "float32", (2 * BLOCK_SIZE + 1,), {}))
    assert problem is not None and "wrong output at the benchmark size" in problem
    assert "at 1 of 2049 elements" in problem
