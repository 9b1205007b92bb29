"""Pieces shared by the entries of ops on one input tensor `x` (scale, add_row_sum, softmax):
how x is drawn, the inputs they must all refuse, the bytes they move."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from harness import BadInput, Case, Inputs
from harness.dtypes import itemsize
from harness.tensors import add_specials, make_tensor


def make_x(
    case: Case, device: torch.device, gen: torch.Generator, limit: float = math.inf
) -> torch.Tensor:
    """The input x of `case`: values from the case's profile (params["values"], normal by
    default; `limit` caps the magnitudes of the wide profile) in the case's layout; with
    the param `specials`, some NaN and +-inf."""
    x = make_tensor(
        case.shape,
        case.dtype,
        device,
        gen,
        layout=case.params.get("layout", "contiguous"),
        values=case.params.get("values", "normal"),
        limit=limit,
    )
    if case.params.get("specials"):
        add_specials(x, gen)
    return x


def read_once_write_once(case: Case) -> float:
    """Bytes moved by an op that reads x once and writes an output of its shape once."""
    return 2 * math.prod(case.shape) * itemsize(case.dtype)


def bad_tensor_inputs(device: torch.device, wrap: Callable[[object], Inputs]) -> list[BadInput]:
    """What a launcher must refuse as its tensor argument `x`; `wrap(x)` builds the call."""

    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    dtype_error = r"\bx\b.*dtype"
    return [
        BadInput("integer dtype", wrap(t(4, 8, dtype=torch.int32)), TypeError, dtype_error),
        BadInput("float64", wrap(t(4, 8, dtype=torch.float64)), TypeError, dtype_error),
        BadInput("bool dtype", wrap(t(4, 8, dtype=torch.bool)), TypeError, dtype_error),
        BadInput("wrong device", wrap(t(4, 8, dev=other)), ValueError, r"\bx\b.*(device|CUDA)"),
        BadInput("not a tensor", wrap([[1.0, 2.0]]), TypeError, r"\bx\b.*torch.Tensor"),
        BadInput("sparse", wrap(t(4, 8).to_sparse()), TypeError, r"\bx\b.*dense"),
    ]


def bad_x_inputs(device: torch.device) -> list[BadInput]:
    """What an op whose only argument is x must refuse."""
    return bad_tensor_inputs(device, lambda x: Inputs((x,)))
