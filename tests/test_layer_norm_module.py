"""TritonLayerNorm as a drop-in for torch.nn.LayerNorm, and LayerNormFunction's gradients.

Tolerances come from the layer_norm entries' error models (ops/layer_norm.py): the same
bound per output element, relative to the same condition, as the differential tests.
"""

from __future__ import annotations

import math

import pytest
import torch

from harness import Case
from harness.dtypes import FLOAT_DTYPES
from harness.modes import device_for
from kernels import _plans
from kernels._rows import ROW_DESIGNS
from kernels.layer_norm import LayerNormFunction, TritonLayerNorm, layer_norm
from ops.layer_norm import LAYER_NORM_BACKWARD
from references.layer_norm import normalized_then_biased

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
    round_trip(torch.nn.LayerNorm, TritonLayerNorm, shape, kwargs, device)


def round_trip(torch_module, triton_module, shape, kwargs, device) -> None:
    """`triton_module` has `torch_module`'s state-dict keys and repr, loads its state
    dict and gives back the same values, and resets its parameters as it does."""
    gen = torch.Generator().manual_seed(0)
    ref = _randomized(torch_module(shape, **kwargs), gen).to(device)
    ours = triton_module(shape, device=device, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    name = torch_module.__name__
    assert repr(ours) == repr(ref).replace(name, triton_module.__name__, 1)
    ours.load_state_dict(ref.state_dict())
    back = torch_module(shape, device=device, **kwargs)
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
def test_training_steps_match_nn_layer_norm(shape, kwargs, optimizer, device, harness_state):
    """A few optimizer steps of a small model with either LayerNorm end at the same
    parameters and losses."""
    ref, ours, gen = models_alike(torch.nn.LayerNorm, TritonLayerNorm, shape, kwargs, device)
    features = math.prod(ours[2].normalized_shape)
    # Adam divides each gradient element by its own running magnitude, which makes the
    # step of an element whose gradient is near zero (and mostly rounding error) a coin
    # toss between the two models. A large eps keeps the step a smooth function of the
    # gradient (its derivative is at most 1 / eps), so the same bound holds as for SGD.
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adam": lambda p: torch.optim.Adam(p, lr=1e-2, eps=1.0)}[optimizer]  # fmt: skip
    train_alike(ref, ours, make, LAYER_NORM_BACKWARD, features, gen, harness_state.mode)


def models_alike(torch_module, triton_module, shape, kwargs, device):
    """`_model` around each normalization, from the same parameters (the torch one's,
    randomized, loaded into ours), and the generator the training data is to come from."""
    gen = torch.Generator().manual_seed(1)
    with torch.random.fork_rng(devices=[]):  # the Linear layers draw from the global RNG
        torch.manual_seed(1)
        ref = _model(_randomized(torch_module(shape, **kwargs), gen)).to(device)
    ours = _model(triton_module(shape, **kwargs)).to(device)
    ours.load_state_dict(ref.state_dict())
    return ref, ours, gen


def train_alike(ref, ours, make, backward_op, features, gen, mode, batch=64, steps=3) -> None:
    """`steps` optimizer steps (`make(parameters)`) of two models with one normalization
    each, from the same parameters, end at the same losses and parameters. Each step's
    gradients meet the backward entry's bound (relative to their condition, here the
    largest magnitude of each tensor); both models round, and the differences of each
    step carry over into the next: twice the bound, once per step."""
    device = next(ref.parameters()).device
    opt_ref, opt_ours = make(ref.parameters()), make(ours.parameters())
    inputs = torch.randn(steps, batch, 16, generator=gen).to(device)
    targets = torch.randn(steps, batch, 8, generator=gen).to(device)
    case = Case(backward_op.name, "float32", (batch, features))
    n_outputs = len(backward_op.error_model.outputs(case))
    bounds = backward_op.error_model.bounds(case, mode, "kernel", ["float32"] * n_outputs)
    rtol = 2 * steps * max(b.relative + b.conditioned for b in bounds)
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


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_function_flattens_a_multi_dim_normalized_shape(dtype, device):
    """normalized_shape (5, 8) is one row of 40: the same bits as (40,), forward and
    backward. (The gradients themselves are checked against float64 by the generic tests,
    through the op `layer_norm.grad`.)"""
    gen = torch.Generator().manual_seed(3)
    dt = getattr(torch, dtype)
    x, dy = (torch.randn(3, 7, 40, generator=gen).to(dt).to(device) for _ in "xd")
    w, b = (torch.randn(40, generator=gen).to(dt).to(device) for _ in "wb")
    grads = []
    for shape in ((40,), (5, 8)):
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        x_nd = leaves[0].reshape(3, 7, *shape)
        y = LayerNormFunction.apply(x_nd, shape, *(t.reshape(shape) for t in leaves[1:]), 1e-5)
        y.backward(dy.reshape(y.shape))
        grads.append([y.detach().reshape(x.shape), *(t.grad for t in leaves)])
    for flat, nested in zip(*grads, strict=True):
        assert torch.equal(flat, nested)


def test_function_refuses_a_shape_that_does_not_end_x(device):
    x = torch.ones(4, 8, device=device)
    with pytest.raises(ValueError, match="normalized_shape"):
        LayerNormFunction.apply(x, (7,), None, None, 1e-5)
    with pytest.raises(ValueError, match=r"\bweight\b"):
        LayerNormFunction.apply(x, (8,), torch.ones(2, 4, device=device), None, 1e-5)
    with pytest.raises(ValueError, match="normalized_shape"):
        TritonLayerNorm((2, 8), device=device)(x)


@pytest.mark.parametrize("design", ROW_DESIGNS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_a_row_of_equal_values_normalizes_to_exactly_the_bias(dtype, design, device):
    """mean(v, ..., v) = v exactly, so the row's centered values and variance are 0 and
    y = bias, as in PyTorch, at any magnitude. On the H200, Triton's approximate float32
    division put the mean of 181 values -61440 an ulp off: var ~ 1e-5 outweighed eps =
    1e-6, the row normalized to +-1 and layer_norm.grad's dx overflowed float16. The other
    rows hold random float16 values, whose sums of 181 float32 adds exactly too."""
    gen = torch.Generator().manual_seed(5)
    dt = getattr(torch, dtype)
    value = -61440.0  # 15 * 2**12: every dtype holds it
    values = torch.cat([torch.tensor([value]), 6e4 * (2 * torch.rand(63, generator=gen) - 1)])
    values = values.to(torch.float16).to(dt)
    x = values[:, None].expand(64, 181).contiguous().to(device)
    w, b = (torch.randn(181, generator=gen).to(dt).to(device) for _ in "wb")
    with _plans.forcing(f"layer_norm/{design}/{_plans.default_constants()}"):
        y, mean, _ = layer_norm(x, w, b, 1e-6)
    assert torch.equal(mean.cpu(), values.float())
    assert torch.equal(y, b.expand_as(y))


@pytest.mark.parametrize("design", ROW_DESIGNS)
@pytest.mark.parametrize(("dtype", "n_cols"), [("float32", 1000), ("float16", 65535)])
def test_rows_of_equal_values_whose_float32_sums_round_normalize_to_the_bias(
    dtype, n_cols, design, device
):
    """As above, on rows whose float32 sums round (random float32 values, or 65535 float16
    ones): the sum's mean is then off by ulps of v on most such rows (on this CPU, before
    the correction, 44-48 of 64 float32 rows of 1000 and 15-23 of 64 float16 rows of
    65535: benchmarks/equal_rows_probe.py), and the correction by the mean deviation
    (`_corrected_mean`) lands on v. A GPU night run's float16 rows of 65535 (eps 1e-5)
    normalized to +-1 that way, and
    layer_norm.grad's dweight overflowed to inf where float64 gives -709
    (benchmarks/results/2026-12-06e-h100 call 6)."""
    gen = torch.Generator().manual_seed(8)
    dt = getattr(torch, dtype)
    values = (1e4 * torch.randn(8, generator=gen)).to(dt)
    x = values[:, None].expand(8, n_cols).contiguous().to(device)
    w, b = (torch.randn(n_cols, generator=gen).to(dt).to(device) for _ in "wb")
    with _plans.forcing(f"layer_norm/{design}/{_plans.default_constants()}"):
        y, mean, _ = layer_norm(x, w, b, 1e-6)
    assert torch.equal(mean.cpu(), values.float())
    assert torch.equal(y, b.expand_as(y))


@pytest.mark.parametrize("design", ROW_DESIGNS)
def test_a_row_holding_an_infinity_has_that_infinity_as_its_mean(design, device):
    """The mean of a row holding +inf (and no -inf, no NaN) is +inf, as in float64; its
    rstd and y are NaN (inf - inf). A Newton step on the first mean (inf - inf in its
    residual) had made it NaN until e4e1b35; `_corrected_mean` keeps an infinite first
    mean as it is."""
    x = torch.randn(4, 300)
    x[0, 5], x[1, 7], x[2, 9], x[3, 1:3] = float("inf"), -float("inf"), float("nan"), float("inf")
    x[3, 2] = -float("inf")
    with _plans.forcing(f"layer_norm/{design}/{_plans.default_constants()}"):
        y, mean, rstd = layer_norm(x.to(device), None, None, 1e-5)
    expected = torch.tensor([float("inf"), -float("inf"), float("nan"), float("nan")])
    assert torch.equal(mean.cpu().isnan(), expected.isnan())
    assert torch.equal(mean.cpu()[:2], expected[:2])
    assert rstd.isnan().all() and y.isnan().all(dim=-1).all()


def test_the_torch_tiers_way_around_cuda_bias_alone_is_f_layer_norm():
    """On CUDA the PyTorch tier of layer_norm.grad adds a lone bias after F.layer_norm
    (PyTorch 2.11's fused backward returned an empty dbias there): the same values and
    gradients as the fused F.layer_norm, checked here on the CPU."""
    gen = torch.Generator().manual_seed(6)
    x, dy = (torch.randn(5, 3, 17, generator=gen) for _ in "xd")
    bias = torch.randn(17, generator=gen)
    results = []
    for fn in (
        lambda x, b: torch.nn.functional.layer_norm(x, (17,), None, b, 1e-5),
        lambda x, b: normalized_then_biased(x, b, 1e-5),
    ):
        leaves = [t.clone().requires_grad_() for t in (x, bias)]
        y = fn(*leaves)
        results.append([y.detach(), *torch.autograd.grad(y, leaves, dy)])
    for fused, apart in zip(*results, strict=True):
        torch.testing.assert_close(apart, fused)  # float32's default closeness: a rounding
