"""softmax over the last dim (rows of any length; NaN, +-inf and -inf rows as in PyTorch)."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from harness import Case, ErrorModel, Inputs, Op, strategies
from harness.dtypes import to_torch
from harness.error_models import softmax as softmax_model
from kernels import _rows
from kernels.softmax import softmax
from ops._one_tensor import bad_x_inputs, make_x, read_once_write_once
from ops._rowwise import (
    ROW_BENCH_CASES,
    ROW_EXAMPLES,
    row_configs,
    row_lanes,
    row_shapes,
)
from references.softmax import softmax_numpy, softmax_torch

# How -inf enters the rows, as an attention mask would put it there:
#   rows      some rows entirely -inf (the first row always): PyTorch gives NaN there;
#   prefixes  each row's first k elements -inf, k uniform in [0, n]: the looped kernel's
#             first blocks then hold nothing but -inf.
NEG_INF = ("none", "rows", "prefixes")
# Added to every logit: softmax ignores it, but exp(x) without the max subtracted
# overflows float32 from x = 89 on.
OFFSETS = (0.0, 100.0, -1000.0)


def _cases(budget):
    return strategies.with_params(
        row_shapes(budget),
        specials=st.booleans(),
        neg_inf=st.sampled_from(NEG_INF),
        offset=st.sampled_from(OFFSETS),
    )


def _inputs(case: Case, device, gen) -> Inputs:
    # x - max must not overflow float32: float32 inputs of the wide profile stay under
    # half its max (16-bit ones are far below it).
    limit = min(torch.finfo(to_torch(case.dtype)).max, torch.finfo(torch.float32).max / 2)
    x = make_x(case, device, gen, limit).add_(case.params.get("offset", 0.0))
    neg_inf = case.params.get("neg_inf", "none")
    if x.numel() == 0 or neg_inf == "none":
        return Inputs((x,))
    leading, n = x.shape[:-1], x.shape[-1]
    if neg_inf == "rows":
        masked_rows = torch.rand(leading, generator=gen) < 0.5
        masked_rows.view(-1)[0] = True
        mask = masked_rows[..., None].expand(x.shape)
    else:
        prefix = torch.randint(0, n + 1, leading, generator=gen)
        mask = torch.arange(n) < prefix[..., None]
    x.masked_fill_(mask.to(x.device), float("-inf"))
    return Inputs((x,))


# The bound of harness.error_models.softmax; its 6 steps are this kernel's: the
# subtraction and the multiply by log2(e) before exp2, the GPU's approximate exp2 and
# reciprocal (2 ulps each) and the final multiply.
SOFTMAX_MODEL = ErrorModel(outputs=[softmax_model("y", lanes=row_lanes, steps=6.0)])


_WHOLE, _LOOP = _rows.INTERPRET_WHOLE_ROW_MAX, _rows.INTERPRET_LOOP_BLOCK

SOFTMAX = Op(
    name="softmax",
    numpy_ref=softmax_numpy,
    torch_ref=softmax_torch,
    kernel=softmax,
    make_inputs=_inputs,
    cases=_cases,
    examples=[
        *ROW_EXAMPLES,
        ((7, 33), {"specials": True, "offset": 100.0}),
        ((6, 40), {"neg_inf": "rows"}),
        ((3, _WHOLE + 1), {"offset": -1000.0}),
        ((9, 70), {"neg_inf": "prefixes", "layout": "transposed"}),
        ((3, _WHOLE + 2 * _LOOP + 3), {"neg_inf": "prefixes"}),
        ((2, _WHOLE + 1), {"neg_inf": "rows", "specials": True}),
        ((4, 100), {"values": "large"}),
        ((2, _WHOLE + _LOOP + 3), {"values": "large"}),
    ],
    error_model=SOFTMAX_MODEL,
    bad_inputs=bad_x_inputs,
    # Per element: a compare for the max, a subtraction, an exp, an add into the sum and
    # a multiply by 1 / sum.
    flops=lambda case: 5 * math.prod(case.shape),
    bytes=read_once_write_once,
    bench_cases=ROW_BENCH_CASES,
    values=("normal", "offset", "large", "wide", "positive", "ties", "tiny"),
    configs=row_configs(designs=_rows.SPLIT_ROW_DESIGNS),
)
