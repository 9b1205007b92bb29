"""kernels._rows.plan_rows: the persistent looped grid, and plans remembered per shape
without going stale when a constant or a forced config changes."""

from __future__ import annotations

import pytest
import torch

from kernels import _plans, _rows


def _rows_of(n_rows: int, n_cols: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty((n_rows, n_cols), dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_looped_programs_keep_the_rows_in_flight_within_their_share_of_l2(dtype) -> None:
    sms, l2_bytes = _rows.NOMINAL_GPU
    x = _rows_of(1024, 65536, dtype)
    with _plans.forcing("rows/looped/gpu"):
        plan = _rows.plan_rows(x)
    (programs,) = plan.grid
    row_bytes = 65536 * x.element_size()
    assert not plan.whole_row
    assert programs == max(sms, int(_rows.LOOP_L2_SHARE * l2_bytes) // row_bytes) < 1024
    # Never more programs than rows: each walks at least one.
    with _plans.forcing("rows/looped/gpu"):
        assert _rows.plan_rows(_rows_of(7, 65536, dtype)).grid == (7,)


def test_a_remembered_plan_follows_the_constants_and_the_forced_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = _rows_of(4, 600)
    with _plans.forcing("rows/whole/interpret"):
        assert _rows.plan_rows(x).whole_row
    with _plans.forcing("rows/looped/interpret"):
        looped = _rows.plan_rows(x)
        assert not looped.whole_row and looped.grid == (_rows.INTERPRET_LOOP_PROGRAMS,)
    monkeypatch.setattr(_rows, "INTERPRET_WHOLE_ROW_MAX", 512)  # as a tuning script does
    with _plans.forcing("rows/whole/interpret"):
        assert not _rows.plan_rows(x).whole_row  # 600 columns are now too long for a block
    monkeypatch.setattr(_rows, "INTERPRET_LOOP_PROGRAMS", 3)
    with _plans.forcing("rows/looped/interpret"):
        assert _rows.plan_rows(x).grid == (3,)


def test_a_remembered_plan_is_still_recorded_as_launched() -> None:
    x = _rows_of(4, 600)
    with _plans.forcing("rows/whole/interpret"):
        _rows.plan_rows(x)
        with _plans.recording() as launched:
            _rows.plan_rows(x)
    assert launched == ["rows/whole/interpret"]
