"""Gradients as outputs: an op's `Backward` becomes an op of its own, `<name>.grad`.

Its three tiers take the op's arguments plus an upstream gradient dy (the last
argument) and return the gradients with respect to the arguments in `wrt` that exist:

  oracle   `Backward.numpy_grad`, the analytic gradient in float64;
  PyTorch  autograd through the differentiable PyTorch reference;
  kernel   autograd through the kernel's `torch.autograd.Function` (forward and
           backward kernels, as a training step runs them).

dy is drawn like the op's output (its shape and dtype; the case's layout and value
profile, its magnitudes capped by `Backward.dy_limit`),
so the generic tests (differential, tolerance, configs, bad inputs) check gradients with
no test of their own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from harness.op import Backward, Case, Inputs, Op
from harness.tensors import layouts_for, make_tensor


def through_autograd(fn: Callable[..., Any], backward: Backward) -> Callable[..., Any]:
    """(*args, dy) -> the gradients of fn's output `backward.output`, contracted with dy,
    w.r.t. the arguments in `backward.wrt` that are floating-point tensors (an argument that
    is a float tensor in some cases and an integer one in others, as a loss's target may
    be, has a gradient only in the first)."""

    def run(*args: Any) -> tuple[torch.Tensor, ...]:
        *args, dy = args
        leaves = []
        for i in backward.wrt:
            if isinstance(args[i], torch.Tensor) and args[i].is_floating_point():
                args[i] = args[i].detach().requires_grad_(True)  # a new leaf, same storage
                leaves.append(args[i])
        out = fn(*args)
        if isinstance(out, (tuple, list)):
            out = out[backward.output]
        return torch.autograd.grad(out, leaves, grad_outputs=dy)

    return run


def _upstream(
    op: Op, limit: Callable[[Case], float] | None
) -> Callable[[Case, torch.device, torch.Generator], Inputs]:
    def make_inputs(case: Case, device: torch.device, gen: torch.Generator) -> Inputs:
        inputs = op.make_inputs(case, device, gen)
        forward = op.torch_ref(*inputs.args, **inputs.kwargs)
        like = forward[op.backward.output] if isinstance(forward, (tuple, list)) else forward
        layout = case.params.get("layout", "contiguous")
        if layout not in layouts_for(like.shape):  # an output of fewer dims (a loss a row)
            layout = "contiguous"
        values = case.params.get("values", "normal")
        bound = limit(case) if limit is not None else math.inf
        dy = make_tensor(
            like.shape, like.dtype, device, gen, layout=layout, values=values, limit=bound
        )
        if case.params.get("upstream") == "sum":  # what y.sum().backward() passes
            dy = torch.ones((), dtype=like.dtype, device=device).expand(like.shape)
        return Inputs((*inputs.args, dy), inputs.kwargs)

    return make_inputs


def gradient_op(op: Op) -> Op:
    """The op `<op.name>.grad` that checks `op.backward` (see the module docstring)."""
    backward = op.backward
    assert backward is not None
    torch_fn = backward.torch or op.torch_ref
    return dataclasses.replace(
        op,
        name=f"{op.name}.grad",
        numpy_ref=backward.numpy_grad,
        torch_ref=through_autograd(torch_fn, backward),
        kernel=through_autograd(backward.kernel, backward),
        make_inputs=_upstream(op, backward.dy_limit),
        error_model=backward.error_model,
        examples=(*op.examples, *backward.examples),
        configs=None,  # the forward's and the backward's configs are the ops' own to test
        bad_inputs=lambda device: (),  # the forward's launcher refuses them first
        flops=lambda case: 0.0,
        bytes=lambda case: 0.0,
        bench_cases=(),
        torch_bench=None,
        backward=None,
        part=None,  # the forward's slices say nothing of which gradients they determine
    )
