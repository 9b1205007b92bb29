"""kernels/cross_entropy.py beyond the op table: targets out of range, ignored rows that
hold NaN, what the autograd Function keeps, the module, class weights and channels-last
logits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.compare import run_case
from harness.modes import device_for
from harness.op import Case
from kernels import _plans
from kernels import _rows as rows_module
from kernels import cross_entropy as kernel_module
from kernels._rows import as_rows, row_limits
from kernels.cross_entropy import (
    CrossEntropyFunction,
    TritonCrossEntropyLoss,
    classes_last,
    cross_entropy,
)
from ops import OPS


@pytest.fixture
def device(harness_state) -> torch.device:
    return torch.device(device_for(harness_state.mode))


def _logits(*shape: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(device)


def _loss_and_grad(x, target, *args) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    loss = cross_entropy(x, target, *args)
    loss.backward(torch.ones_like(loss))
    return loss.detach(), x.grad


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_rows_are_read_from_the_16_byte_boundary_before_them(dtype, harness_state, monkeypatch):
    """The streamed forward, and the backward where it takes one row a program, count a
    row's blocks from the 16-byte boundary at or before it, so that blocks inside the row
    are read (and dx written) with unmasked vector loads: 9 rows of an odd length start
    at every offset from one, and each row, however its blocks fall (all in the first,
    ending on a block's end, over several), meets the op's bound against float64, with
    label smoothing's sum of the row, and so does its gradient. (Tiles of one row in the
    interpreter too: its tile target cut to a block.)"""
    mode = harness_state.mode
    constants = "interpret" if mode == "interpret" else "gpu"
    monkeypatch.setattr(rows_module, "INTERPRET_TILE_TARGET", rows_module.INTERPRET_LOOP_BLOCK)
    block = min(row_limits(constants).loop_block, kernel_module.LOOP_BLOCK)
    with _plans.forcing(f"rows/looped/{constants}"), _plans.recording() as launched:
        for n_cols in (3, block - 5, block, block + 3, 2 * block + 1, 3 * block - 1):
            for name in ("cross_entropy", "cross_entropy.grad"):
                params = {"reduction": "none", "smoothing": 0.1, "offset": 100.0}
                case = Case(name, dtype, (9, n_cols), params)
                result = run_case(OPS[name], case, mode, device_for(mode), "ops")
                assert result.ok, result.report()
    assert launched == [f"rows/looped/{constants}"] * len(launched) and launched


def test_a_target_out_of_range_gives_its_row_nan_and_no_other(device):
    """PyTorch raises IndexError; the kernel cannot raise, so the row's loss and gradient
    are NaN, and the other rows are what they are without it."""
    x = _logits(4, 10, device=device)
    target = torch.tensor([3, 10, -1, -100], device=device)
    loss, grad = _loss_and_grad(x, target, -100, 0.0, "none")
    assert torch.isnan(loss[1:3]).all() and torch.isnan(grad[1:3]).all()
    assert loss[3] == 0 and (grad[3] == 0).all()
    alone, alone_grad = _loss_and_grad(x[:1], target[:1], -100, 0.0, "none")
    assert torch.equal(loss[:1], alone) and torch.equal(grad[:1], alone_grad)
    assert torch.isnan(cross_entropy(x, target, -100, 0.0, "mean"))


def test_an_ignored_row_has_no_loss_and_no_gradient_whatever_it_holds(device):
    """A NaN or inf logit of an ignored row (padding, in a language model's batch) reaches
    neither the loss nor the gradient. PyTorch's backward passes it on as NaN (0 x NaN)."""
    x = _logits(3, 17, device=device)
    x[1, 2], x[1, 5] = float("nan"), float("inf")
    target = torch.tensor([4, -100, 16], device=device)
    for smoothing in (0.0, 0.3):
        loss, grad = _loss_and_grad(x, target, -100, smoothing, "mean")
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        assert (grad[1] == 0).all()
        kept = torch.tensor([0, 2], device=device)
        without, without_grad = _loss_and_grad(x[kept], target[kept], -100, smoothing, "mean")
        assert torch.equal(loss, without) and torch.equal(grad[kept], without_grad)
    reference = x.detach().clone().requires_grad_(True)
    F.cross_entropy(reference, target).backward()
    assert torch.isnan(reference.grad[1]).any()


def test_the_function_keeps_two_floats_a_row_beside_its_inputs(device):
    """The backward recomputes the probabilities from each row's max and sum (and divides
    a mean's gradient by the forward's count of rows): nothing of (N, C) is saved but x
    itself (PyTorch's log_softmax keeps its (N, C) output)."""
    x = _logits(6, 300, device=device).requires_grad_(True)
    target = torch.arange(6, device=device)
    saved: list[torch.Tensor] = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        loss = CrossEntropyFunction.apply(x, target, -100, 0.1, "mean")
    loss.backward()
    others = [t for t in saved if t is not x and t is not target]
    assert any(t is x for t in saved)
    assert sum(t.numel() for t in others) == 2 * x.shape[0] + 1  # and "mean"'s count


def test_cross_entropy_records_its_gradient_where_x_requires_one(device):
    x = _logits(5, 40, device=device).requires_grad_(True)
    target = torch.tensor([0, 39, 7, -100, 20], device=device)
    loss = cross_entropy(x, target, -100, 0.2, "sum")
    assert loss.grad_fn is not None
    (grad,) = torch.autograd.grad(loss, x)
    again = x.detach().clone().requires_grad_(True)
    CrossEntropyFunction.apply(again, target, -100, 0.2, "sum").backward()
    assert torch.equal(grad, again.grad)
    with torch.no_grad():
        assert cross_entropy(x, target, -100, 0.2, "sum").grad_fn is None


def test_the_module_is_cross_entropy_loss_with_its_arguments(device):
    x = _logits(7, 33, device=device)
    target = torch.tensor([1, 0, 32, 0, 5, 6, 0], device=device)
    module = TritonCrossEntropyLoss(ignore_index=0, reduction="sum", label_smoothing=0.25)
    assert torch.equal(module(x, target), cross_entropy(x, target, 0, 0.25, "sum"))
    assert repr(module) == (
        "TritonCrossEntropyLoss(ignore_index=0, reduction='sum', label_smoothing=0.25)"
    )
    with pytest.raises(ValueError, match=r"\breduction\b"):
        TritonCrossEntropyLoss(reduction="average")
    with pytest.raises(TypeError, match=r"\blabel_smoothing\b"):
        TritonCrossEntropyLoss(label_smoothing="0.1")
    with pytest.raises(ValueError, match=r"\blabel_smoothing\b"):
        TritonCrossEntropyLoss(label_smoothing=1.5)


def test_the_module_loads_a_cross_entropy_losss_class_weights(device):
    n_classes = 33
    weight = torch.rand(n_classes, generator=torch.Generator().manual_seed(1)).to(device)
    theirs = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)
    ours = TritonCrossEntropyLoss(weight=torch.zeros(n_classes, device=device),
                                  label_smoothing=0.1)  # fmt: skip
    ours.load_state_dict(theirs.state_dict())
    assert torch.equal(ours.weight, weight)
    x = _logits(7, n_classes, device=device)
    target = torch.tensor([1, 0, 32, -100, 5, 6, 0], device=device)
    assert torch.equal(ours(x, target), cross_entropy(x, target, -100, 0.1, "mean", weight))
    assert "weight" not in TritonCrossEntropyLoss().state_dict()  # none: as theirs


def test_class_weights_that_require_grad_are_refused_where_autograd_records(device):
    # PyTorch's cross_entropy is not differentiable in weight either: a silent None
    # gradient would be a wrong answer.
    x = _logits(4, 8, device=device)
    target = torch.tensor([0, 1, 2, 3], device=device)
    weight = torch.ones(8, device=device, requires_grad=True)
    with pytest.raises(ValueError, match=r"\bweight\b.*grad"):
        cross_entropy(x, target, -100, 0.0, "mean", weight)
    with torch.no_grad():
        assert torch.equal(cross_entropy(x, target, -100, 0.0, "mean", weight),
                           cross_entropy(x, target))  # fmt: skip


def test_positions_of_channels_last_logits_are_read_in_place(device):
    """x (N, C, H, W) is a row of C logits at each of its N H W positions: channels-last,
    those rows are x's own memory, so nothing is copied; NCHW, the rows are gathered once.
    Both give the same losses bit for bit, and the gradient comes in x's layout."""
    x = _logits(2, 40, 3, 5, device=device)
    target = torch.randint(0, 40, (2, 3, 5), generator=torch.Generator().manual_seed(2))
    target = target.to(device)
    last = x.contiguous(memory_format=torch.channels_last)
    assert as_rows(classes_last(last)).data_ptr() == last.data_ptr()
    assert torch.equal(cross_entropy(last, target, -100, 0.1, "none"),
                       cross_entropy(x, target, -100, 0.1, "none"))  # fmt: skip
    _, grad = _loss_and_grad(last, target, -100, 0.1, "sum")
    assert grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(grad, _loss_and_grad(x, target, -100, 0.1, "sum")[1])


def _probabilities(*shape: int, device: torch.device, seed: int = 3) -> torch.Tensor:
    drawn = torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
    return drawn.softmax(dim=1 if len(shape) > 1 else 0).to(device)


@pytest.mark.parametrize("design", ["whole", "looped"])
def test_class_probabilities_are_taken_as_given_not_normalized(device, design, harness_state):
    """Soft labels need not sum to 1 (PyTorch does not normalize them either): the loss and
    its gradient are linear in them, so probabilities doubled (exactly, a power of two)
    double both bit for bit, with class weights, in each row design. The module takes
    them too."""
    n_classes = 300
    x = _logits(6, n_classes, device=device)
    p = _probabilities(6, n_classes, device=device)
    weight = torch.rand(n_classes, generator=torch.Generator().manual_seed(4)).to(device)
    constants = "interpret" if harness_state.mode == "interpret" else "gpu"
    with _plans.forcing(f"rows/{design}/{constants}"), _plans.recording() as launched:
        loss, grad = _loss_and_grad(x, p, -100, 0.0, "none", weight)
        twice, twice_grad = _loss_and_grad(x, 2 * p, -100, 0.0, "none", weight)
    assert launched and set(launched) == {f"rows/{design}/{constants}"}
    assert torch.equal(twice, 2 * loss) and torch.equal(twice_grad, 2 * grad)
    assert torch.isfinite(loss).all() and (loss > 0).all()
    module = TritonCrossEntropyLoss(weight=weight, label_smoothing=0.1)
    assert torch.equal(module(x, p), cross_entropy(x, p, -100, 0.1, "mean", weight))


def test_logits_and_probabilities_of_different_layouts_share_one_row_stride(device):
    """The kernels read x and the probabilities at the same offsets: where their row
    strides differ (padded rows, or one channels-last and the other not), both are copied
    contiguous, and where they agree (both channels-last) x is read in place. Every
    layout gives the contiguous pair's loss and gradient bit for bit."""
    x = _logits(4, 50, device=device)
    p = _probabilities(4, 50, device=device)
    loss, grad = _loss_and_grad(x, p, -100, 0.2, "none")
    padded_x = _logits(4, 64, device=device, seed=9)
    padded_x[:, :50] = x
    padded_p = torch.zeros(4, 64, device=device)
    padded_p[:, :50] = p
    for xs, ps in ((padded_x[:, :50], p), (x, padded_p[:, :50]), (x.t().contiguous().t(), p)):
        got, got_grad = _loss_and_grad(xs, ps, -100, 0.2, "none")
        assert torch.equal(got, loss) and torch.equal(got_grad, grad)
    x4 = _logits(2, 40, 3, 5, device=device)
    p4 = _probabilities(2, 40, 3, 5, device=device)
    loss4, grad4 = _loss_and_grad(x4, p4, -100, 0.0, "sum")
    last = x4.contiguous(memory_format=torch.channels_last)
    last_p = p4.contiguous(memory_format=torch.channels_last)
    assert kernel_module.kernel_rows(last, last_p)[0].data_ptr() == last.data_ptr()
    for ps in (p4, last_p):
        got, got_grad = _loss_and_grad(last, ps, -100, 0.0, "sum")
        assert torch.equal(got, loss4) and torch.equal(got_grad, grad4)
        assert got_grad.is_contiguous(memory_format=torch.channels_last)


def test_with_probabilities_the_function_keeps_three_floats_a_row(device):
    """Probabilities that need not sum to 1 add one float a row to what the backward
    needs: their weighted sum."""
    x = _logits(6, 300, device=device).requires_grad_(True)
    p = _probabilities(6, 300, device=device)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        loss = CrossEntropyFunction.apply(x, p, -100, 0.1, "mean")
    loss.backward()
    assert any(t is x for t in saved) and any(t is p for t in saved)
    others = [t for t in saved if t is not x and t is not p]
    assert sum(t.numel() for t in others) == 3 * x.shape[0] + 1  # and "mean"'s count


def test_the_loss_is_differentiable_in_class_probabilities_as_pytorchs(device):
    """A teacher's probabilities that require grad (mutual learning) get their gradient,
    dloss (1 - eps) w_j (lse - x_j), whether x requires one or not (the op's gradient
    tests check its values): never a silent None."""
    x = _logits(5, 40, device=device)
    p = _probabilities(5, 40, device=device).requires_grad_(True)
    loss = cross_entropy(x, p, -100, 0.1, "mean")
    assert loss.grad_fn is not None
    (alone,) = torch.autograd.grad(loss, p)
    leaf = x.clone().requires_grad_(True)
    both = torch.autograd.grad(cross_entropy(leaf, p, -100, 0.1, "mean"), (leaf, p))
    assert torch.equal(alone, both[1]) and torch.isfinite(alone).all() and (alone > 0).any()
    with torch.no_grad():
        assert cross_entropy(x, p, -100, 0.1, "mean").grad_fn is None
