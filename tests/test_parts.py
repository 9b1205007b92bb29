"""Parts: a benchmark-size case judged against the oracle on a slice that a slice of its
inputs determines, and checked elsewhere for having been written (`harness.op.Part`)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from harness import Part
from harness.compare import run_case
from harness.modes import device_for
from harness.op import Case
from harness.perf.measure import _check, check_part
from ops import OPS
from tests import test_ops


@pytest.mark.parametrize("n, count", [(8192, 64), (4000, 64), (197, 64), (100, 64), (16, 2)])
def test_spread_keeps_the_ends_and_steps_oddly(n, count):
    rows = Part.spread(n, count)
    assert rows[0] == 0 and rows[-1] == n - 1
    assert rows == sorted(set(rows)) and all(0 <= r < n for r in rows)
    steps = {b - a for a, b in itertools.pairwise(rows[:-1])}  # the last may be shorter
    assert len(steps) <= 1 and all(s % 2 == 1 for s in steps)
    assert len(rows) == n or count <= len(rows) <= 2 * count + 1
    if n >= 64 * (count + 1):  # a 64-row tile is met at count different offsets
        assert len({r % 64 for r in rows}) >= min(count, 64) // 2


def test_spread_of_nothing_is_nothing():
    assert Part.spread(0, 8) == []


def test_benchmark_sizes_are_judged_on_a_part_holding_the_last_slice():
    big = Case("attention", "float16", (1, 16, 16384, 16384, 128), {"causal": False})
    part = check_part(OPS["attention"], big)
    assert part is not None and part.case.shape == (1, 2, 65, 16384, 128)
    assert "heads 0, 15 (2 of 16) x queries 0, 259, ..., 16383 (65 of 16384)" in part.label
    # A causal row's mask depends on its position: every row of those heads.
    causal = check_part(OPS["attention"], dataclasses.replace(big, params={"causal": True}))
    assert causal is not None and causal.case.shape == (1, 2, 16384, 16384, 128)
    assert "queries" not in causal.label
    gemm = check_part(OPS["matmul"], Case("matmul", "float16", (8192, 8192, 8192)))
    assert gemm is not None and 64 <= gemm.case.shape[0] <= 129 and "8191 (" in gemm.label
    depthwise = Case("conv2d", "float16", (32, 256, 56, 56), {"filters": 256, "kernel": [7, 7],
                     "padding": 3, "groups": 256, "channels_last": True})  # fmt: skip
    images = check_part(OPS["conv2d"], depthwise)
    assert images is not None and images.case.shape == (2, 256, 56, 56)
    assert images.label == "images 0, 31 (2 of 32)"
    assert check_part(OPS["softmax"], Case("softmax", "float16", (4096, 16384))) is None


def _matmul_case() -> Case:
    return Case("matmul", "float32", (197, 3, 4), {"bias": True, "activation": "gelu"})


def _wrong_at(row: int, fill: float):
    """matmul with row `row` of its output replaced by `fill`."""

    def kernel(*args, **kwargs):
        out = OPS["matmul"].kernel(*args, **kwargs).clone()
        out[..., row, :] = fill
        return out

    return dataclasses.replace(OPS["matmul"], kernel=kernel)


def test_a_wrong_row_in_the_part_fails(harness_state):
    case, mode = _matmul_case(), harness_state.mode
    part = OPS["matmul"].part(case)
    assert part is not None and 3 in Part.spread(197, 64)
    result = run_case(_wrong_at(3, 1e3), case, mode, device_for(mode), "ops", part=part)
    assert not result.kernel_ok
    assert "judged against the oracle on rows of C 0, 3, ..., 196" in result.report()


def test_an_unwritten_row_outside_the_part_fails(harness_state):
    case, mode = _matmul_case(), harness_state.mode
    part = OPS["matmul"].part(case)
    assert 1 not in Part.spread(197, 64)
    honest = run_case(OPS["matmul"], case, mode, device_for(mode), "ops", part=part)
    assert honest.kernel_ok, honest.report()
    result = run_case(_wrong_at(1, float("nan")), case, mode, device_for(mode), "ops", part=part)
    assert not result.kernel_ok
    assert "4 of 788 elements of the whole output are NaN or Inf" in result.report()


def test_a_whole_shape_unlike_pytorchs_fails_though_the_part_fits(harness_state):
    case, mode = _matmul_case(), harness_state.mode

    def padded(*args, **kwargs):
        out = OPS["matmul"].kernel(*args, **kwargs)
        return torch.cat([out, out[:5]])

    op = dataclasses.replace(OPS["matmul"], kernel=padded)
    result = run_case(op, case, mode, device_for(mode), "ops", part=op.part(case))
    assert not result.kernel_ok
    assert "whole shape (202, 4), PyTorch gives (197, 4)" in result.report()


def test_the_benchmark_check_names_its_part(harness_state):
    mode = harness_state.mode
    problem = _check(_wrong_at(3, 1e3), _matmul_case(), mode, device_for(mode), "ops")
    assert problem is not None
    assert problem.startswith("wrong output at the benchmark size (judged on rows of C 0, 3")


def test_a_part_that_is_not_independent_fails_the_generic_test(harness_state):
    """A part whose outputs are another slice than the one its inputs determine (the
    whole output's rows from 1 on, where the inputs hold rows 0, 3, 6, ...)."""
    op = OPS["matmul"]

    def shifted(case: Case) -> Part | None:
        part = op.part(case)
        if part is None:
            return None
        return dataclasses.replace(
            part,
            outputs=lambda outs: tuple(o[..., 1:, :][..., : part.case.shape[-3], :] for o in outs),
        )

    with pytest.raises(AssertionError, match="the oracle of output 0 on rows of C"):
        test_ops.TestOps().test_part(dataclasses.replace(op, part=shifted), harness_state)
