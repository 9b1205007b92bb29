"""The bounds-checked interpreter (harness.bounds): planted out-of-bounds accesses that no
output comparison sees are caught, named, and stopped before they happen."""

from __future__ import annotations

import pytest
import torch

from harness import Case, Inputs, Op, bounds, strategies
from harness.compare import run_case
from harness.tensors import make_tensor
from tests.interpreter_patches import require_patch
from tests.oob_plants import (
    _copy_one_past,
    _row_sums_wrong_stride,
    _scale_unmasked_load,
    launch,
)


@pytest.fixture(autouse=True)
def interpret_only(harness_state):
    require_patch(harness_state, bounds, "the bounds check is the interpreter's (on a GPU: "
                  "compute-sanitizer)")  # fmt: skip


def test_an_unmasked_load_whose_lanes_are_never_stored_is_caught():
    x = torch.arange(10, dtype=torch.float32)
    message = (
        r"_scale_unmasked_load: a load of lane \(10,\) reaches element 10 of 'x_ptr', whose "
        r"storage holds 10 \(1 past its end\)"
    )
    with pytest.raises(Exception, match=message):
        launch(_scale_unmasked_load, x, (10,))


def test_a_store_one_past_the_end_is_caught_before_it_happens():
    x = torch.arange(20, dtype=torch.float32)
    with pytest.raises(Exception, match=r"a store of lane \(4,\) reaches element 20 of 'out_ptr'"):
        launch(_copy_one_past, x, (20,))


def test_a_wrong_row_stride_reading_past_the_tensor_is_caught():
    x = torch.ones(4, 8)
    with pytest.raises(Exception, match=r"a load of lane \((5|6|7),\) reaches element 3[2-4] of "
                       r"'x_ptr', whose storage holds 32"):  # fmt: skip
        launch(_row_sums_wrong_stride, x, (4,))


def test_right_kernels_and_views_into_larger_storages_pass():
    base = torch.arange(40, dtype=torch.float32)
    view = base[5:25]  # its storage is the whole base: the stray lanes stay inside it
    out = torch.empty(20)
    _scale_unmasked_load[(2,)](view, out, 20, BLOCK=16)
    assert torch.equal(out, 2 * view)


def test_the_harness_report_names_the_case_of_an_out_of_bounds_access(harness_state):
    op = Op(
        name="scale_unmasked",
        numpy_ref=lambda x: 2.0 * x,
        torch_ref=lambda x: 2.0 * x,
        kernel=lambda x: launch(_scale_unmasked_load, x.contiguous(), x.shape),
        make_inputs=lambda case, device, gen: Inputs(
            (make_tensor(case.shape, case.dtype, device, gen),)
        ),
        cases=lambda budget: strategies.with_params(strategies.shapes(budget.numel)),
        dtypes=("float32",),
    )
    case = Case("scale_unmasked", "float32", (10,), {})
    with pytest.raises(Exception, match="OutOfBounds") as error:
        run_case(op, case, "interpret", "cpu", __name__)
    notes = "\n".join(getattr(error.value, "__notes__", []))
    assert "scale_unmasked[float32] shape=(10,)" in notes and "python -m harness repro" in notes
