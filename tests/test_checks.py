"""kernels._checks: what every launcher refuses before anything reaches Triton."""

from __future__ import annotations

import warnings

import pytest
import torch

from harness.modes import device_for
from kernels._checks import check_tensor


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
