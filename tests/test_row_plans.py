"""kernels._rows.plan_rows: plans remembered per shape, without going stale when a constant
or a forced config changes."""

from __future__ import annotations

import pytest

from kernels import _plans, _rows


def test_a_remembered_plan_follows_the_constants_and_the_forced_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _plans.forcing("rows/whole/interpret"):
        assert _rows.plan_rows(4, 600).whole_row
    with _plans.forcing("rows/looped/interpret"):
        looped = _rows.plan_rows(4, 600)
        assert not looped.whole_row and looped.block_cols == _rows.INTERPRET_LOOP_BLOCK
    monkeypatch.setattr(_rows, "INTERPRET_WHOLE_ROW_MAX", 512)  # as a tuning script does
    with _plans.forcing("rows/whole/interpret"):
        assert not _rows.plan_rows(4, 600).whole_row  # 600 columns: too long for a block now
    monkeypatch.setattr(_rows, "INTERPRET_LOOP_BLOCK", 128)
    with _plans.forcing("rows/looped/interpret"):
        assert _rows.plan_rows(4, 600).block_cols == 128


def test_a_remembered_plan_is_still_recorded_as_launched() -> None:
    with _plans.forcing("rows/whole/interpret"):
        _rows.plan_rows(4, 600)
        with _plans.recording() as launched:
            _rows.plan_rows(4, 600)
    assert launched == ["rows/whole/interpret"]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["softmax", "add_row_sum"])
def test_looped_kernels_are_right_with_pass_two_either_way(
    name: str, dtype: str, monkeypatch: pytest.MonkeyPatch, harness_state
) -> None:
    """The tuning knob PASS_TWO_FROM_THE_END turned off (the default walks from the end,
    which the op tests run): the looped kernel, forced with the
    interpreter's 256-column blocks (rows of several blocks and a ragged last one), passes
    the config test's cases: every block of pass 2 written once, the ragged one masked."""
    from tests.test_ops import TestOps

    monkeypatch.setattr(_rows, "PASS_TWO_FROM_THE_END", False)
    TestOps().test_configs(TestOps.ops[name], dtype, "rows/looped/interpret", harness_state)
