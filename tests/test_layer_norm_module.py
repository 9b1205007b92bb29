"""TritonLayerNorm as a drop-in for torch.nn.LayerNorm, and LayerNormFunction's gradients.

Tolerances come from the layer_norm entries' error models (ops/layer_norm.py): the same
bound per output element, relative to the same condition, as the differential tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness import Case
from harness.dtypes import FLOAT_DTYPES, name_of, to_torch
from harness.modes import device_for
from harness.tensors import to_numpy64
from kernels.layer_norm import LayerNormFunction, TritonLayerNorm
from ops.layer_norm import LAYER_NORM, LAYER_NORM_BACKWARD
from references.layer_norm import layer_norm_backward_numpy, layer_norm_numpy

# normalized_shape and nn.LayerNorm's other arguments, as a user would pass them.
SETTINGS = [
    (8, {}),
    ((4, 8), {}),
    (8, {"bias": False}),
    (8, {"elementwise_affine": False}),
    (8, {"eps": 1e-3}),
]


@pytest.fixture
def device(harness_state) -> torch.device:
    return torch.device(device_for(harness_state.mode))


def _randomized(module: torch.nn.Module, gen: torch.Generator) -> torch.nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return module


@pytest.mark.parametrize(("shape", "kwargs"), SETTINGS)
def test_state_dict_round_trip(shape, kwargs, device):
    gen = torch.Generator().manual_seed(0)
    ref = _randomized(torch.nn.LayerNorm(shape, **kwargs), gen).to(device)
    ours = TritonLayerNorm(shape, device=device, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref).replace("LayerNorm", "TritonLayerNorm", 1)
    ours.load_state_dict(ref.state_dict())
    back = torch.nn.LayerNorm(shape, device=device, **kwargs)
    back.load_state_dict(ours.state_dict())
    for name, p in ref.state_dict().items():
        assert torch.equal(back.state_dict()[name], p), name
    ours.reset_parameters()
    back.reset_parameters()
    for name, p in back.state_dict().items():
        assert torch.equal(ours.state_dict()[name], p), name


def _model(norm: torch.nn.Module) -> torch.nn.Module:
    """Linear -> norm -> GELU -> Linear, the features unflattened into norm's shape."""
    shape = norm.normalized_shape
    return torch.nn.Sequential(
        torch.nn.Linear(16, math.prod(shape)),
        torch.nn.Unflatten(-1, shape),
        norm,
        torch.nn.Flatten(-len(shape)),
        torch.nn.GELU(),
        torch.nn.Linear(math.prod(shape), 8),
    )


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize(("shape", "kwargs"), SETTINGS)
def test_training_steps_match_nn_layer_norm(shape, kwargs, optimizer, device):
    """A few optimizer steps of a small model with either LayerNorm end at the same
    parameters and losses."""
    gen = torch.Generator().manual_seed(1)
    ref = _model(_randomized(torch.nn.LayerNorm(shape, **kwargs), gen)).to(device)
    ours = _model(TritonLayerNorm(shape, **kwargs)).to(device)
    ours.load_state_dict(ref.state_dict())
    features = math.prod(ours[2].normalized_shape)
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adam": lambda p: torch.optim.Adam(p, lr=1e-2)}[optimizer]  # fmt: skip
    opt_ref, opt_ours = make(ref.parameters()), make(ours.parameters())
    batch, steps = 64, 3
    inputs = torch.randn(steps, batch, 16, generator=gen).to(device)
    targets = torch.randn(steps, batch, 8, generator=gen).to(device)

    # Each step's gradients meet the backward entry's bound (relative to their condition,
    # here the largest magnitude of each tensor); both models round, and the differences
    # of each step carry over into the next: twice the bound, once per step.
    case = Case(LAYER_NORM_BACKWARD.name, "float32", (batch, features))
    rtol = 2 * steps * LAYER_NORM_BACKWARD.error_model.rtol(case, "float32")
    for step in range(steps):
        losses = []
        for model, opt in ((ref, opt_ref), (ours, opt_ours)):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(inputs[step]), targets[step])
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        torch.testing.assert_close(losses[1], losses[0], rtol=rtol, atol=0.0)
    for (name, p_ours), p_ref in zip(ours.named_parameters(), ref.parameters(), strict=True):
        scale = p_ref.detach().abs().max().item()
        torch.testing.assert_close(p_ours, p_ref, rtol=rtol, atol=rtol * scale, msg=name)


def _within(what: str, got: torch.Tensor, ref: np.ndarray, condition: np.ndarray, op, case):
    """|got - ref| <= rtol * (condition + floor), the differential tests' criterion."""
    dtype = name_of(got.dtype)
    rtol = op.error_model.rtol(case, dtype)
    err = np.abs(to_numpy64(got).reshape(ref.shape) - ref)
    bound = rtol * (condition + op.error_model.floor(dtype))
    worst = float((err / bound).max())
    assert worst <= 1.0, f"{what} [{case.dtype}]: error {worst:.3g} x its bound"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("normalized_shape", [(40,), (5, 8)])
def test_function_gradients_match_float64(dtype, normalized_shape, device):
    """LayerNormFunction's y and the gradients autograd gets from it, against the float64
    oracles, each within its entry's bound."""
    gen = torch.Generator().manual_seed(2)
    shape, eps = (3, 7, *normalized_shape), 1e-5
    n, rows = math.prod(normalized_shape), 21
    x, w, b, dy = (
        torch.randn(s, generator=gen).to(device, to_torch(dtype))
        for s in (shape, normalized_shape, normalized_shape, shape)
    )
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    y = LayerNormFunction.apply(leaves[0], normalized_shape, leaves[1], leaves[2], eps)
    y.backward(dy)
    assert y.dtype == x.dtype and y.shape == x.shape

    x64, dy64 = to_numpy64(x).reshape(rows, n), to_numpy64(dy).reshape(rows, n)
    w64, b64 = to_numpy64(w).reshape(n), to_numpy64(b).reshape(n)
    fwd = layer_norm_numpy(x64, w64, b64, eps)
    fwd_cond = LAYER_NORM.error_model.condition((x64, w64, b64, eps), {}, fwd)
    case = Case(LAYER_NORM.name, dtype, (rows, n))
    _within("y", y.detach(), fwd[0], fwd_cond[0], LAYER_NORM, case)

    bwd_args = (dy64, x64, fwd[1], fwd[2], w64, b64)
    bwd = layer_norm_backward_numpy(*bwd_args)
    bwd_cond = LAYER_NORM_BACKWARD.error_model.condition(bwd_args, {}, bwd)
    case = Case(LAYER_NORM_BACKWARD.name, dtype, (rows, n))
    grads = zip(("dx", "dweight", "dbias"), leaves, bwd, bwd_cond, strict=True)
    for what, leaf, ref, cond in grads:
        assert leaf.grad.shape == leaf.shape and leaf.grad.dtype == leaf.dtype, what
        _within(what, leaf.grad, ref, cond, LAYER_NORM_BACKWARD, case)


def test_function_refuses_a_shape_that_does_not_end_x(device):
    x = torch.ones(4, 8, device=device)
    with pytest.raises(ValueError, match="normalized_shape"):
        LayerNormFunction.apply(x, (7,), None, None, 1e-5)
    with pytest.raises(ValueError, match=r"\bweight\b"):
        LayerNormFunction.apply(x, (8,), torch.ones(2, 4, device=device), None, 1e-5)
    with pytest.raises(ValueError, match="normalized_shape"):
        TritonLayerNorm((2, 8), device=device)(x)
