"""TritonRMSNorm as a drop-in for torch.nn.RMSNorm, and RMSNormFunction.

Tolerances come from the rms_norm_backward entry's error model (ops/rms_norm.py), as for
TritonLayerNorm (tests/test_layer_norm_module.py, whose small model this reuses)."""

from __future__ import annotations

import math

import pytest
import torch

from harness.dtypes import FLOAT_DTYPES
from kernels.rms_norm import RMSNormFunction, TritonRMSNorm, rms_norm
from ops.rms_norm import RMS_NORM_BACKWARD
from tests.test_layer_norm_module import (  # noqa: F401 (device: a fixture)
    device,
    models_alike,
    round_trip,
    train_alike,
)

# normalized_shape and nn.RMSNorm's other arguments, as a user would pass them.
SETTINGS = [
    (8, {}),
    ((4, 8), {}),
    (8, {"elementwise_affine": False}),
    (8, {"eps": 1e-3}),
]


@pytest.mark.parametrize(("shape", "kwargs"), SETTINGS)
def test_state_dict_round_trip(shape, kwargs, device):  # noqa: F811 (the fixture)
    round_trip(torch.nn.RMSNorm, TritonRMSNorm, shape, kwargs, device)


@pytest.mark.parametrize(("shape", "kwargs"), SETTINGS)
def test_training_steps_match_nn_rms_norm(shape, kwargs, device, harness_state):  # noqa: F811
    """A few SGD steps of a small model with either RMSNorm end at the same parameters
    and losses, within twice the backward entry's bound a step (both models round, and
    each step's differences carry into the next)."""
    ref, ours, gen = models_alike(torch.nn.RMSNorm, TritonRMSNorm, shape, kwargs, device)
    features = math.prod(ours[2].normalized_shape)
    sgd = lambda parameters: torch.optim.SGD(parameters, lr=0.1, momentum=0.9)
    train_alike(ref, ours, sgd, RMS_NORM_BACKWARD, features, gen, harness_state.mode)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_function_flattens_shapes_and_takes_pytorchs_default_eps(dtype, device):  # noqa: F811
    """normalized_shape (5, 8) is one row of 40: the same bits as (40,), forward and
    backward; eps None is torch.finfo(dtype).eps, as nn.RMSNorm's. (The values are
    checked against float64 by the generic tests, through the op `rms_norm.grad`.)"""
    gen = torch.Generator().manual_seed(3)
    dt = getattr(torch, dtype)
    x, dy = (torch.randn(3, 7, 40, generator=gen).to(dt).to(device) for _ in "xd")
    w = torch.randn(40, generator=gen).to(dt).to(device)
    grads = []
    for shape in ((40,), (5, 8)):
        leaves = [t.clone().requires_grad_() for t in (x, w)]
        y = RMSNormFunction.apply(leaves[0].reshape(3, 7, *shape), shape, leaves[1].reshape(shape),
                                  None)  # fmt: skip
        y.backward(dy.reshape(y.shape))
        grads.append([y.detach().reshape(x.shape), *(t.grad for t in leaves)])
    for flat, nested in zip(*grads, strict=True):
        assert torch.equal(flat, nested)
    assert torch.equal(grads[0][0], rms_norm(x, w, torch.finfo(dt).eps)[0])


def test_function_refuses_a_shape_that_does_not_end_x(device):  # noqa: F811
    x = torch.ones(4, 8, device=device)
    with pytest.raises(ValueError, match="normalized_shape"):
        RMSNormFunction.apply(x, (7,), None, 1e-5)
    with pytest.raises(ValueError, match=r"\bweight\b"):
        RMSNormFunction.apply(x, (8,), torch.ones(2, 4, device=device), 1e-5)
