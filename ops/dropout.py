"""dropout: x kept with probability 1 - p and scaled by 1 / (1 - p), or zeroed, by Triton's
Philox words for (seed, element index); the gradient is the same mask applied to dy.

The three tiers draw the same random words (harness.philox is Triton's generator, bit for
bit), so the mask is compared exactly: an element the kernel keeps where the oracle drops
it is off by all of x / (1 - p). PyTorch's own dropout draws from its generator and is
not a tier (benchmarks/dropout_probe.py times the kernel against it)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st

from harness import Backward, BadInput, Case, ErrorModel, Inputs, Op, OutputModel, strategies
from harness.tolerance import elementwise, exact
from kernels.dropout import BLOCK_SIZE, DropoutFunction, dropout
from ops._one_tensor import bad_tensor_inputs, make_x, read_once_write_once
from references.dropout import dropout_numpy, dropout_torch

# Probabilities: the ends (keep all, drop all), ones exact in binary and in neither, and
# any in between; p just under 1 keeps few elements, each scaled by a large factor.
PROBABILITIES = st.one_of(
    st.sampled_from((0.0, 1.0, 0.5, 0.1, 0.25, 0.9, 1.0 - 2.0**-20)),
    st.floats(0.0, 1.0),
)
# Seeds of every width Triton passes an int in (i32, i64, u64), negative ones included.
SEEDS = st.one_of(st.integers(0, 2**31 - 1), st.integers(-(2**63), 2**64 - 1))


def _cases(budget):
    lengths = strategies.sizes(budget.numel, (BLOCK_SIZE,), allow_empty=True)
    shape = strategies.shapes(budget.numel, lengths, allow_empty=True, max_rows=budget.rows)
    return strategies.with_params(
        shape, p=PROBABILITIES, seed=SEEDS, mask=st.booleans(), specials=st.booleans()
    )


def _inputs(case: Case, device, gen) -> Inputs:
    """x, p, seed and return_mask (the case's "mask", default True)."""
    p, seed = case.params.get("p", 0.5), case.params.get("seed", 0)
    return Inputs((make_x(case, device, gen), p, seed, case.params.get("mask", True)))


def _outputs(case: Case) -> list[OutputModel]:
    # A kept element is x times the float32 factor: the factor's rounding and the
    # product's. The mask has no rounding in it.
    y = elementwise("y", steps=2)
    return [y, exact("mask")] if case.params.get("mask", True) else [y]


def _bytes(case: Case) -> float:
    """x read, y written, and the mask's booleans where it is returned."""
    return read_once_write_once(case) + case.params.get("mask", True) * math.prod(case.shape)


def _bad_inputs(device) -> list[BadInput]:
    x = torch.ones(4, 8, device=device)
    return [
        *bad_tensor_inputs(device, lambda t: Inputs((t, 0.5, 0))),
        BadInput("return_mask 1", Inputs((x, 0.5, 0, 1)), TypeError, r"\breturn_mask\b"),
        BadInput("p a tensor", Inputs((x, torch.tensor(0.5), 0)), TypeError, r"\bp\b"),
        BadInput("p a string", Inputs((x, "0.5", 0)), TypeError, r"\bp\b"),
        BadInput("p NaN", Inputs((x, float("nan"), 0)), ValueError, r"\bp\b.*finite"),
        BadInput("p negative", Inputs((x, -0.1, 0)), ValueError, r"\bp\b.*\[0, 1\]"),
        BadInput("p past 1", Inputs((x, 1.5, 0)), ValueError, r"\bp\b.*\[0, 1\]"),
        BadInput("seed a float", Inputs((x, 0.5, 3.0)), TypeError, r"\bseed\b.*int"),
        BadInput("seed a bool", Inputs((x, 0.5, True)), TypeError, r"\bseed\b.*int"),
        BadInput("seed a tensor", Inputs((x, 0.5, torch.tensor(3))), TypeError, r"\bseed\b"),
        BadInput("seed past 64 bits", Inputs((x, 0.5, 2**64)), ValueError, r"\bseed\b"),
        BadInput("seed under -2**63", Inputs((x, 0.5, -(2**63) - 1)), ValueError, r"\bseed\b"),
    ]


def _dropout_grad_numpy(
    x: np.ndarray, p: float, seed: int, return_mask: bool, dy: np.ndarray
) -> tuple[np.ndarray]:
    """dx = dy where x was kept, scaled by 1 / (1 - p); 0 where it was dropped."""
    return (dropout_numpy(dy, p, seed),)


def _through_function(x: torch.Tensor, p: float, seed: int, return_mask: bool) -> torch.Tensor:
    """The training path: DropoutFunction (y alone; the mask is never stored)."""
    return DropoutFunction.apply(x, p, seed)


DROPOUT = Op(
    name="dropout",
    numpy_ref=dropout_numpy,
    torch_ref=dropout_torch,
    kernel=dropout,
    make_inputs=_inputs,
    cases=_cases,
    examples=[
        ((0,), {}),
        ((1,), {"p": 0.5, "seed": 3, "mask": False}),
        ((3,), {"p": 0.5, "seed": 2**63 + 1}),  # a partial counter, a u64 seed
        ((BLOCK_SIZE - 1,), {"p": 0.1}),
        ((BLOCK_SIZE,), {"p": 0.0}),
        ((BLOCK_SIZE + 1,), {"p": 0.9, "layout": "strided", "seed": -(2**40)}),
        ((3, 2 * BLOCK_SIZE + 1), {"layout": "transposed", "p": 0.25, "seed": 2**35}),
        ((5, 7), {"specials": True, "p": 0.5}),  # NaN and inf dropped become 0
        ((5, 7), {"specials": True, "p": 1.0}),
        ((6, 9), {"layout": "padded", "p": 1.0 - 2.0**-20}),
    ],
    bad_inputs=_bad_inputs,
    flops=lambda case: math.prod(case.shape),
    bytes=_bytes,
    error_model=ErrorModel(outputs=_outputs),
    values=("normal", "offset", "large", "wide", "positive", "ties", "tiny"),
    backward=Backward(
        kernel=_through_function,
        numpy_grad=_dropout_grad_numpy,
        wrt=(0,),
        error_model=ErrorModel(outputs=[elementwise("dx", steps=2)]),
        examples=[((4, 33), {"upstream": "sum", "p": 0.5, "seed": 11})],
    ),
)
