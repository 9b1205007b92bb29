"""kernels/dropout.py beyond the op table: the threshold's edge, the mask's independence
of the launch config, its statistics, and the module and its gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kernels.dropout as dropout_module
from harness.modes import device_for
from kernels.dropout import DropoutFunction, TritonDropout, dropout
from references.dropout import kept_numpy, top_bits_numpy


@pytest.fixture
def device(harness_state) -> torch.device:
    return torch.device(device_for(harness_state.mode))


@pytest.mark.parametrize("seed", [5, 2**40 + 1])
def test_an_element_whose_bits_equal_the_threshold_is_kept(seed, device):
    """keep iff r >= p * 2**31: at p = r / 2**31 element j is kept, one step up dropped."""
    n, j = 4099, 4097  # the last, partial counter
    r = int(top_bits_numpy(n, seed)[j])
    x = torch.ones(n, device=device)
    assert dropout(x, r / 2**31, seed)[j] != 0
    assert dropout(x, (r + 1) / 2**31, seed)[j] == 0


def test_the_mask_does_not_depend_on_the_block_size(device, monkeypatch):
    x = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0)).to(device)
    expected = dropout(x, 0.3, 77)
    monkeypatch.setattr(dropout_module, "BLOCK_SIZE", 128)
    assert torch.equal(dropout(x, 0.3, 77), expected)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.875])
def test_elements_and_their_neighbours_are_kept_independently(p, device):
    """Over 2**16 elements: the kept fraction is 1 - p, and so is it among the neighbours
    (same counter, other word; next counter) of kept elements, within 6 standard errors."""
    n = 2**16
    kept = (dropout(torch.ones(n, device=device), p, 2024) != 0).cpu().numpy()
    assert np.array_equal(kept, kept_numpy((n,), p, 2024))
    for sample in (kept, kept[1:][kept[:-1]], kept[4:][kept[:-4]]):
        error = 6 * math.sqrt(p * (1 - p) / sample.size)
        assert abs(sample.mean() - (1 - p)) < error


def test_the_backward_drops_what_the_forward_dropped(device):
    x = torch.randn(8, 33, generator=torch.Generator().manual_seed(1)).to(device)
    x.requires_grad_(True)
    y = DropoutFunction.apply(x, 0.4, 9)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad != 0, y != 0)
    assert torch.equal(x.grad[y != 0], torch.full_like(x.grad[y != 0], 1 / 0.6))


def test_the_module_is_nn_dropouts_drop_in(device):
    module = TritonDropout(0.25)
    assert repr(module) == repr(torch.nn.Dropout(0.25)).replace("Dropout", "TritonDropout")
    assert module.state_dict() == {}
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(2)).to(device)
    torch.manual_seed(3)
    first = module(x)
    torch.manual_seed(3)
    assert torch.equal(module(x), first)  # the seed comes from PyTorch's generator
    assert not torch.equal(module(x), first)  # and a fresh one each call
    assert torch.equal(module.eval()(x), x)
    with pytest.raises(ValueError, match=r"\binplace\b"):
        TritonDropout(0.5, inplace=True)
    with pytest.raises(ValueError, match=r"\bp\b"):
        TritonDropout(1.5)
