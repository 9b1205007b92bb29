"""TritonLayerNorm as a drop-in for torch.nn.LayerNorm, and LayerNormFunction's gradients.

Tolerances come from the layer_norm entries' error models (ops/layer_norm.py): the same
bound per output element, relative to the same condition, as the differential tests.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import strategies as st

from harness import Case, Inputs, Op, Registry
from harness.dtypes import FLOAT_DTYPES
from harness.modes import device_for
from harness.runner import check_case
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
    with torch.random.fork_rng(devices=[]):  # the Linear layers draw from the global RNG
        torch.manual_seed(1)
        ref = _model(_randomized(torch.nn.LayerNorm(shape, **kwargs), gen)).to(device)
    ours = _model(TritonLayerNorm(shape, **kwargs)).to(device)
    ours.load_state_dict(ref.state_dict())
    features = math.prod(ours[2].normalized_shape)
    # Adam divides each gradient element by its own running magnitude, which makes the
    # step of an element whose gradient is near zero (and mostly rounding error) a coin
    # toss between the two models. A large eps keeps the step a smooth function of the
    # gradient (its derivative is at most 1 / eps), so the same bound holds as for SGD.
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adam": lambda p: torch.optim.Adam(p, lr=1e-2, eps=1.0)}[optimizer]  # fmt: skip
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


# LayerNormFunction through autograd as an op of its own, judged by the harness' engine:
# the kernel tier runs it forward and backward, the PyTorch tier does the same through
# F.layer_norm, the oracle is the float64 forward and analytic backward.
def _through(layer_norm):
    def run(dy, x, weight, bias, *, normalized_shape, eps):
        """y, dx, dweight, dbias of `layer_norm`, each in its flat (case) shape."""
        leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
        x_nd = leaves[0].reshape(*x.shape[:-1], *normalized_shape)
        w_nd, b_nd = (t.reshape(normalized_shape) for t in leaves[1:])
        y = layer_norm(x_nd, normalized_shape, w_nd, b_nd, eps)
        y.backward(dy.reshape(y.shape))
        return (y.detach().reshape(x.shape), *(t.grad for t in leaves))

    return run


def _autograd_numpy(dy, x, weight, bias, *, normalized_shape, eps):
    y, mean, rstd = layer_norm_numpy(x, weight, bias, eps)
    return (y, *layer_norm_backward_numpy(dy, x, mean, rstd, weight, bias))


def _autograd_condition(np_args, np_kwargs, oracle):
    dy, x, weight, bias = np_args
    fwd = layer_norm_numpy(x, weight, bias, np_kwargs["eps"])
    y_condition = LAYER_NORM.error_model.condition((x, weight, bias, None), {}, fwd)[0]
    bwd_args = (dy, x, fwd[1], fwd[2], weight, bias)
    return (y_condition, *LAYER_NORM_BACKWARD.error_model.condition(bwd_args, {}, oracle[1:]))


def _autograd_inputs(case: Case, device, gen) -> Inputs:
    """x, weight, bias and dy as the backward entry draws them; with upstream "sum", dy is
    what y.sum().backward() passes: ones, expanded (every stride 0)."""
    dy, x, _, _, weight, bias = LAYER_NORM_BACKWARD.make_inputs(case, device, gen).args
    if case.params["upstream"] == "sum":
        dy = torch.ones((), dtype=x.dtype, device=device).expand(x.shape)
    kwargs = {"normalized_shape": tuple(case.params["normalized_shape"]), "eps": 1e-5}
    return Inputs((dy, x, weight, bias), kwargs)


LAYER_NORM_AUTOGRAD = Op(
    name="layer_norm_autograd",
    numpy_ref=_autograd_numpy,
    torch_ref=_through(torch.nn.functional.layer_norm),
    kernel=_through(LayerNormFunction.apply),
    make_inputs=_autograd_inputs,
    cases=lambda budget: st.nothing(),  # only the pinned cases of the test below
    # y, then the backward's outputs: growth over max(row length, rows) bounds both.
    error_model=dataclasses.replace(LAYER_NORM_BACKWARD.error_model, condition=_autograd_condition),
)
AUTOGRAD_OPS = Registry([LAYER_NORM_AUTOGRAD], module=__name__)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    ("normalized_shape", "upstream"), [((40,), "random"), ((5, 8), "random"), ((40,), "sum")]
)
def test_function_matches_float64(dtype, normalized_shape, upstream, harness_state):
    """LayerNormFunction's y and the gradients autograd gets from it, within the entries'
    bounds of the float64 oracles; a multi-dim normalized_shape is one flattened row."""
    params = {"normalized_shape": list(normalized_shape), "upstream": upstream}
    case = Case(LAYER_NORM_AUTOGRAD.name, dtype, (3, 7, math.prod(normalized_shape)), params)
    check_case(LAYER_NORM_AUTOGRAD, case, harness_state.mode, AUTOGRAD_OPS.module)


def test_function_refuses_a_shape_that_does_not_end_x(device):
    x = torch.ones(4, 8, device=device)
    with pytest.raises(ValueError, match="normalized_shape"):
        LayerNormFunction.apply(x, (7,), None, None, 1e-5)
    with pytest.raises(ValueError, match=r"\bweight\b"):
        LayerNormFunction.apply(x, (8,), torch.ones(2, 4, device=device), None, 1e-5)
    with pytest.raises(ValueError, match="normalized_shape"):
        TritonLayerNorm((2, 8), device=device)(x)


def test_backward_examples_reach_every_design(harness_state):
    """The op's examples run each backward design in this mode (the one-pass tiles, split
    parts among them in the interpreter; walkers on whole rows and on halves; two passes):
    a change of a threshold must not leave a design untested."""
    import kernels.layer_norm as kernel

    device = torch.device(device_for(harness_state.mode))
    seen = set()
    for dtype in ("float32", "float16"):
        for shape, _params in LAYER_NORM_BACKWARD.examples:
            if math.prod(shape) == 0:
                continue
            n_rows, n_cols = math.prod(shape[:-1]), shape[-1]
            size = torch.empty((), dtype=getattr(torch, dtype)).element_size()
            plan = kernel._backward_plan(n_rows, n_cols, device, size, True)
            seen.add((plan["design"], plan.get("SPLIT", False), plan.get("HALVES", False)))
    expected = {("walker", False, False), ("walker", False, True), ("two_pass", False, False)}
    expected.add(("one_pass", False, False))
    if harness_state.mode == "interpret":
        expected.add(("one_pass", True, False))  # split parts: small blocks there only
    assert expected <= seen, f"designs no example reaches: {expected - seen}"
