"""layer_norm's backward walkers in halves: the partner's half read at once or streamed
(kernels/layer_norm_tuned.py, BWD_WALKER_PARTNER_STREAM)."""

from __future__ import annotations

import pytest
import torch

from harness.modes import device_for
from kernels import _plans, layer_norm_tuned

HALVES = "layer_norm_backward/walker_halves/interpret"


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("stream", [0, 256, layer_norm_tuned.INTERPRET_BWD_WALKER_BLOCK])
def test_walker_halves_are_right_with_the_partner_read_at_once_or_streamed(
    stream: int, dtype: str, monkeypatch: pytest.MonkeyPatch, harness_state
) -> None:
    """The interpreter's default streams the partner's half, which the op tests run; here
    it is read at once (0, the GPU's default), in steps of 256 (up to 16, the last one
    partial), and in one step of the whole half. The walker in halves, forced with the
    interpreter's blocks, passes the config test's cases, and its plan carries the stream
    (capped at the half; none for a whole-row walker)."""
    from tests.test_ops import TestOps

    monkeypatch.setattr(layer_norm_tuned, "INTERPRET_BWD_WALKER_PARTNER_STREAM", stream)
    device = torch.device(device_for(harness_state.mode))
    block = layer_norm_tuned.INTERPRET_BWD_WALKER_BLOCK
    for n_cols, design, expected in [
        (block + 5, "walker_halves", min(stream, block)),
        (9, "walker_halves", min(stream, 8)),  # halves of 8 columns (forced)
        (block, "walker", 0),
    ]:
        with _plans.forcing(f"layer_norm_backward/{design}/interpret"):
            plan = layer_norm_tuned.backward_plan(3, n_cols, device, 4, True)
        assert isinstance(plan, layer_norm_tuned.WalkerPlan), (n_cols, plan)
        assert plan.partner_stream == expected, (n_cols, plan)
    TestOps().test_configs(TestOps.ops["layer_norm_backward"], dtype, HALVES, harness_state)
