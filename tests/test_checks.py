"""kernels._checks: what every launcher refuses before anything reaches Triton."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from harness.modes import device_for
from kernels._checks import check_real, check_tensor


def test_a_tensor_that_a_kernel_cannot_read_through_strides_is_refused(harness_state):
    dense = torch.ones(4, 8, device=device_for(harness_state.mode))
    with warnings.catch_warnings():  # PyTorch warns that CSR and nested are not stable yet
        warnings.simplefilter("ignore", UserWarning)
        refused = [
            (dense.to_sparse(), "layout torch.sparse_coo"),
            (dense.to_sparse_csr(), "layout torch.sparse_csr"),
            (torch.nested.nested_tensor([dense[0], dense[1, :3]]), "a nested tensor"),
        ]
    for tensor, kind in refused:
        with pytest.raises(TypeError, match=rf"^x must be a dense tensor .*, got {kind}$"):
            check_tensor("x", tensor)
    assert check_tensor("x", dense) is dense


def test_a_real_number_is_taken_as_pytorch_takes_it():
    """Ints, floats, NumPy scalars and fractions come back as the same float; a bool, a
    tensor, a string or a NumPy bool is refused by type, a NaN or an infinity by value,
    each error naming the argument."""
    from fractions import Fraction

    for value in (3, -2.5, np.float32(0.25), np.int64(7), np.float64(1e-30), Fraction(1, 4)):
        number = check_real("alpha", value)
        assert type(number) is float and number == float(value), value
    for value in (True, np.bool_(False), torch.tensor(2.0), "2", None, 1j):
        with pytest.raises(TypeError, match=r"^alpha must be a real number"):
            check_real("alpha", value)
    for value in (float("nan"), float("inf"), np.float32("-inf")):
        with pytest.raises(ValueError, match=r"^alpha must be finite"):
            check_real("alpha", value)
