"""conv2d: out = conv(x, weight) + bias, as torch.nn.functional.conv2d, with its gradient
(`conv2d.grad`).

A case's shape is x's: (N, C, H, W), or (C, H, W) unbatched. Its params:

  filters        K, the weight's first dim (a multiple of groups)
  kernel         [R, S]
  stride, padding, dilation, groups
                 as F.conv2d takes them (padding also "same" or "valid")
  bias           whether there is one (K,)
  layout         x's layout as `harness.tensors.make_tensor` makes it (of its storage)
  channels_last  x stored NHWC (then permuted to NCHW: the layout applies to the NHWC
                 storage, so "transposed" swaps W and C in memory)
  w_layout       "contiguous" or "channels_last" (weight stored (K, R, S, C / groups))
  specials       NaN and +-inf on the images' borders (`_poison_edges`)

The error model (`_models`): each output element is a dot of Cg R S products (Cg = C /
groups) summed in float32, so its error is relative to the convolution of the
magnitudes, conv(|x|, |w|) + |bias| (what was summed, not the result, which may cancel),
and grows with Cg R S terms in an order the model does not know (tl.dot's). One rounding
of each product (exact for 16-bit operands), one for the bias add, and the final rounding
into the dtype. A float32 tl.dot truncates both operands to tf32, on the GPU and in the
interpreter (`harness.interpreter_fixes`), declared as `operands` exactly as ops/matmul.py
does. The gradients: dx is a dot of at most Kg R S
products relative to the transposed convolution of |dy| and |w|; dweight a dot of N P Q
products relative to the correlation of |dy| with |x|; dbias a sum of N P Q terms,
relative to sum |dy|.

Drawn problems are kept to 16 tile-steps of the interpreter's GEMM blocks over the
forward and both backward GEMMs (`_steps`): an interpreted step costs about 15 ms here
(its index arithmetic is a few dozen Triton operations, each a Python call, twice that
with the harness's bounds checks), so a drawn gradient is a few tenths of a second.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from hypothesis import strategies as st

from harness import (
    Backward,
    BadInput,
    Budget,
    Case,
    Configs,
    ErrorModel,
    Inputs,
    Op,
    Part,
    Values,
)
from harness.dtypes import itemsize, to_torch
from harness.error_models import exact_products, tensor_core_sums
from harness.tensors import LAYOUTS, add_specials, make_tensor
from harness.tolerance import OutputModel
from kernels import _plans
from kernels._launch import cdiv
from kernels.conv2d import (
    CONFIG_NAMES,
    GEMM_INTERPRET_CONFIGS,
    conv2d,
    conv2d_autograd,
)
from references.conv2d import (
    conv2d_backward_numpy,
    conv2d_numpy,
    conv2d_torch,
    conv2d_torch_bench,
    output_size,
    paddings,
    pair,
)


# ------------------------------------------------------------------------------ problems
@dataclasses.dataclass(frozen=True)
class Problem:
    """A case's convolution: sizes, output size and reduction lengths."""

    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    groups: int
    p: int
    q: int

    @property
    def cg(self) -> int:
        return self.c // self.groups

    @property
    def kg(self) -> int:
        return self.k // self.groups


def problem(case: Case) -> Problem:
    shape = case.shape if len(case.shape) == 4 else (1, *case.shape)
    n, c, h, w = shape
    params = case.params
    r, s = params["kernel"]
    dilation = pair(params.get("dilation", 1))
    stride = pair(params.get("stride", 1))
    pad_h, pad_w = paddings(params.get("padding", 0), (r, s), dilation)
    p = output_size(h, pad_h, r, stride[0], dilation[0])
    q = output_size(w, pad_w, s, stride[1], dilation[1])
    return Problem(n, c, h, w, params["filters"], r, s, params.get("groups", 1), p, q)


_BM, _BN, _BK = (GEMM_INTERPRET_CONFIGS[0].kwargs[b] for b in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))


def _steps(pb: Problem) -> int:
    """Tile-steps of the interpreter's GEMM blocks over the forward, dx and dweight
    GEMMs (programs x reduction steps, each program counted as a step more)."""
    taps = pb.r * pb.s
    forward = cdiv(pb.n * pb.p * pb.q, _BM) * cdiv(pb.kg, _BN) * (taps * cdiv(pb.cg, _BK) + 1)
    dx = cdiv(pb.n * pb.h * pb.w, _BM) * cdiv(pb.cg, _BN) * (taps * cdiv(pb.kg, _BK) + 1)
    dw = cdiv(pb.kg, _BM) * cdiv(pb.cg * pb.r * pb.s, _BN) * (cdiv(pb.n * pb.p * pb.q, _BK) + 1)
    return pb.groups * (forward + dx + dw)


@st.composite
def _problems(draw: st.DrawFn, budget: Budget) -> tuple[tuple[int, ...], dict]:
    """A problem within the budget: the kernel, stride, dilation, padding and groups drawn
    first (depthwise a quarter of the time), then the sizes, halved (the largest first)
    until the three GEMMs fit `budget.numel / 1024` tile-steps (16 in the interpreter)."""
    scale = budget.numel / Budget("interpret").numel
    big = max(1, round(math.sqrt(scale)))
    most_taps = 7 if scale >= 1 else 3
    r, s = draw(st.integers(1, most_taps)), draw(st.integers(1, most_taps))
    stride = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 2))))
    dilation = draw(
        st.one_of(st.just(1), st.integers(1, 2), st.tuples(st.just(1), st.integers(1, 2)))
    )
    pads = [st.just("valid"), st.integers(0, 3), st.tuples(st.integers(0, 2), st.integers(0, 3))]
    if pair(stride) == (1, 1):
        pads.append(st.just("same"))
    padding = draw(st.one_of(*pads))
    if draw(st.integers(0, 3)) == 0:  # depthwise, with a channel multiplier of 1 or 2
        groups, cg, kg = draw(st.integers(2, 6 * big)), 1, draw(st.sampled_from((1, 1, 2)))
    else:
        groups = draw(st.sampled_from((1, 1, 1, 2, 3)))
        cg, kg = draw(st.integers(1, 9 * big)), draw(st.integers(1, 20 * big))
    dh, dw = pair(dilation)
    (top, bottom), (left, right) = paddings(padding, (r, s), (dh, dw))
    least_h = max(1, dh * (r - 1) + 1 - top - bottom)
    least_w = max(1, dw * (s - 1) + 1 - left - right)
    sizes = {
        "n": draw(st.integers(1, 3 * big)),
        "h": draw(st.integers(0, 12 * big)),
        "w": draw(st.integers(0, 12 * big)),
        "cg": cg,
        "kg": kg,
    }

    def shape_params() -> tuple[tuple[int, ...], dict]:
        shape = (sizes["n"], groups * sizes["cg"], least_h + sizes["h"], least_w + sizes["w"])
        params = {
            "filters": groups * sizes["kg"],
            "kernel": [r, s],
            "stride": list(stride) if isinstance(stride, tuple) else stride,
            "padding": list(padding) if isinstance(padding, tuple) else padding,
            "dilation": list(dilation) if isinstance(dilation, tuple) else dilation,
            "groups": groups,
        }
        return shape, params

    least = {"n": 1, "h": 0, "w": 0, "cg": 1, "kg": 1}
    if cg == 1 and groups > 1:  # keep a depthwise problem depthwise
        least["cg"] = 1
    while True:
        shape, params = shape_params()
        case = Case("conv2d", "float32", shape, params)
        if _steps(problem(case)) <= max(budget.numel // 1024, 8):
            break
        shrinkable = [name for name in sizes if sizes[name] > least[name]]
        if not shrinkable:
            break
        largest = max(shrinkable, key=lambda name: sizes[name])
        sizes[largest] = max(least[largest], sizes[largest] // 2)
    return shape, params


def _params(shape: tuple[int, ...]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "layout": st.sampled_from(LAYOUTS),
            "channels_last": st.booleans(),
            "w_layout": st.sampled_from(("contiguous", "channels_last")),
            "bias": st.booleans(),
            "specials": st.sampled_from((False, False, False, True)),
        }
    )


def _cases(budget: Budget):
    return _problems(budget).flatmap(
        lambda sp: st.tuples(st.just(sp[0]), _params(sp[0]).map(lambda d: {**sp[1], **d}))
    )


# -------------------------------------------------------------------------------- inputs
def value_limit(case: Case) -> float:
    """The wide profile's largest magnitude: every dot the op and its gradient form (Cg R
    S, Kg R S or N P Q products, plus a bias) stays below a quarter of what float32
    holds, as ops/matmul.py's `value_limit` (where its reasons are)."""
    pb = problem(case)
    longest = max(pb.cg * pb.r * pb.s, pb.kg * pb.r * pb.s, pb.n * pb.p * pb.q)
    dtype_max = torch.finfo(to_torch(case.dtype)).max
    return min(dtype_max, math.sqrt(min(dtype_max, 1e18) / (4 * (longest + 1))))


def _nchw(shape, dtype, device, gen, channels_last: bool, **drawn) -> torch.Tensor:
    """A (N, C, H, W) tensor, stored NHWC when `channels_last` (drawn in that storage)."""
    if not channels_last:
        return make_tensor(shape, dtype, device, gen, **drawn)
    n, c, h, w = shape
    return make_tensor((n, h, w, c), dtype, device, gen, **drawn).permute(0, 3, 1, 2)


def _poison_edges(x: torch.Tensor, gen: torch.Generator) -> None:
    """NaN and +-inf at about a quarter of the positions on each image's border (first and
    last rows and columns, in place): where padding is and where a kernel that shifts
    rows of pixels reads a neighbouring row's pixels instead of zeros."""
    for edge in (x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]):
        add_specials(edge, gen, fraction=0.25)


def _inputs(case: Case, device, gen) -> Inputs:
    params = case.params
    pb = problem(case)
    drawn = {"values": params.get("values", "normal"), "limit": value_limit(case)}
    layout = params.get("layout", "contiguous")
    x = _nchw((pb.n, pb.c, pb.h, pb.w), case.dtype, device, gen,
              params.get("channels_last", False), layout=layout, **drawn)  # fmt: skip
    if params.get("specials"):
        _poison_edges(x, gen)
    if len(case.shape) == 3:
        x = x[0]
    w_last = params.get("w_layout", "contiguous") == "channels_last"
    weight = _nchw((pb.k, pb.cg, pb.r, pb.s), case.dtype, device, gen, w_last, **drawn)
    bias = None
    if params.get("bias"):
        bias_layout = "strided" if layout == "strided" else "contiguous"
        bias = make_tensor((pb.k,), case.dtype, device, gen, layout=bias_layout, **drawn)
    stride, padding, dilation = (params.get(name, d) for name, d in
                                 (("stride", 1), ("padding", 0), ("dilation", 1)))  # fmt: skip
    return Inputs((x, weight, bias, stride, padding, dilation, pb.groups))


# --------------------------------------------------------------------------- error model
def _operands(case: Case, mode: str) -> str | None:
    """tf32 where a float32 tl.dot reads its operands so: on the GPU and in the
    interpreter (`harness.interpreter_fixes` reads them as the GPU does; the depthwise
    kernel's exact float32 products are within that too). 16-bit products are exact in
    float32."""
    return "tf32" if case.dtype == "float32" else None


def _forward_condition(v: Values) -> np.ndarray:
    x, weight, bias, stride, padding, dilation, groups = v.args
    magnitude_bias = np.abs(bias) if bias is not None else None
    return conv2d_numpy(np.abs(x), np.abs(weight), magnitude_bias, stride, padding, dilation,
                        groups)  # fmt: skip


def _forward_models(case: Case) -> list[OutputModel]:
    """One rounding per product and one for the bias add, around a dot of Cg R S."""
    pb = problem(case)
    return [
        OutputModel(
            "out",
            condition=_forward_condition,
            terms=lambda case: max(1, pb.cg * pb.r * pb.s),
            steps=1.0 + bool(case.params.get("bias")),
            operands=_operands,
            # The depthwise kernels multiply-add in float32, but their sums of R S terms
            # are too short for the tensor cores' growth to matter.
            tensor_cores=tensor_core_sums(_operands),
            operand_args=(0, 1),  # x and the weight
        )
    ]


def _gradient_conditions(v: Values) -> tuple[np.ndarray, ...]:
    """(|dx|, |dweight|, |dbias|) conditions: the backward formulas on magnitudes."""
    if "conditions" not in v.cache:
        x, weight, bias, stride, padding, dilation, groups, dy = v.args
        magnitude_bias = np.abs(bias) if bias is not None else None
        v.cache["conditions"] = conv2d_backward_numpy(
            np.abs(x), np.abs(weight), magnitude_bias, stride, padding, dilation, groups,
            np.abs(dy),
        )  # fmt: skip
    return v.cache["conditions"]


def _gradient_models(case: Case) -> list[OutputModel]:
    """dx: a dot of at most Kg R S products; dweight: of N P Q; dbias: a sum of N P Q."""
    pb = problem(case)
    pixels = max(1, pb.n * pb.p * pb.q)
    lengths = {"dx": max(1, pb.kg * pb.r * pb.s), "dweight": pixels, "dbias": pixels}
    names = ["dx", "dweight"] + (["dbias"] if case.params.get("bias") else [])
    operands = {"dx": (7, 1), "dweight": (0, 7), "dbias": ()}  # dy with the weight, with x
    return [
        OutputModel(
            name,
            condition=lambda v, j=j: _gradient_conditions(v)[j],
            terms=lambda case, n=lengths[name]: n,
            steps=1.0,
            # dbias is a plain sum: exact terms, no tensor cores
            operands=_operands if name != "dbias" else exact_products,
            tensor_cores=tensor_core_sums(_operands) if name != "dbias" else exact_products,
            operand_args=operands[name],
        )
        for j, name in enumerate(names)
    ]


# ------------------------------------------------------------------------ cost, bad inputs
def _flops(case: Case) -> float:
    pb = problem(case)
    return 2.0 * pb.n * pb.k * pb.p * pb.q * pb.cg * pb.r * pb.s


def _bytes(case: Case) -> float:
    """x and weight read once, out written once, the bias read."""
    pb = problem(case)
    elements = pb.n * pb.c * pb.h * pb.w + pb.k * pb.cg * pb.r * pb.s + pb.n * pb.k * pb.p * pb.q
    if case.params.get("bias"):
        elements += pb.k
    return elements * itemsize(case.dtype)


def _bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    x, w = t(2, 4, 6, 6), t(6, 2, 3, 3)

    def call(**bad):
        args = {"x": x, "weight": w, "bias": None, "stride": 1, "padding": 0, "dilation": 1,
                "groups": 2, **bad}  # fmt: skip
        return Inputs(tuple(args.values()))

    return [
        BadInput("groups divide C", call(x=t(2, 5, 6, 6)), ValueError, r"\bgroups\b.*divide"),
        BadInput("sparse weight", call(weight=w.to_sparse()), TypeError, r"\bweight\b.*dense"),
        BadInput("groups divide K", call(weight=t(5, 2, 3, 3)), ValueError, r"\bgroups\b.*divide"),
        BadInput("weight channels", call(weight=t(6, 3, 3, 3)), ValueError,
                 r"\bweight\b.*channels"),
        BadInput("groups 0", call(groups=0), ValueError, r"\bgroups\b"),
        BadInput("kernel too large", call(weight=t(6, 2, 7, 3)), ValueError,
                 r"\bweight\b.*larger than.*padded"),
        BadInput("negative padding", call(padding=-1), ValueError, r"\bpadding\b"),
        BadInput("negative padding pair", call(padding=(1, -1)), ValueError, r"\bpadding\b"),
        BadInput("zero stride", call(stride=0), ValueError, r"\bstride\b"),
        BadInput("zero stride pair", call(stride=(1, 0)), ValueError, r"\bstride\b"),
        BadInput("zero dilation", call(dilation=0), ValueError, r"\bdilation\b"),
        BadInput("float stride", call(stride=1.5), TypeError, r"\bstride\b"),
        BadInput("padding string", call(padding="full"), ValueError, r"\bpadding\b"),
        BadInput("same with stride", call(padding="same", stride=2), ValueError,
                 r"\bpadding\b.*stride"),
        BadInput("dtype mismatch", call(weight=t(6, 2, 3, 3, dtype=torch.float16)), TypeError,
                 r"\bweight\b.*dtype"),
        BadInput("integer", call(x=t(2, 4, 6, 6, dtype=torch.int32),
                                 weight=t(6, 2, 3, 3, dtype=torch.int32)), TypeError,
                 r"\bx\b.*dtype"),
        BadInput("device mismatch", call(weight=t(6, 2, 3, 3, dev=other)), ValueError,
                 r"\bweight\b.*(device|CUDA)"),
        BadInput("2-D x", call(x=t(6, 6)), ValueError, r"\bx\b.*4-D"),
        BadInput("5-D x", call(x=t(1, 2, 4, 6, 6)), ValueError, r"\bx\b.*4-D"),
        BadInput("3-D weight", call(weight=t(6, 2, 3)), ValueError, r"\bweight\b.*4-D"),
        BadInput("not a tensor", call(x=[[1.0] * 6] * 6), TypeError, r"\bx\b.*torch.Tensor"),
        BadInput("bias shape", call(bias=t(5)), ValueError, r"\bbias\b.*shape"),
        BadInput("bias dtype", call(bias=t(6, dtype=torch.bfloat16)), TypeError,
                 r"\bbias\b.*dtype"),
    ]  # fmt: skip


# ------------------------------------------------------------------------------- the op
def _k(filters: int, r: int, s: int | None = None, **params) -> dict:
    return {"filters": filters, "kernel": [r, r if s is None else s], **params}


# Pinned cases: a 1x1x1 convolution; 3x3 padding 1 with bias (several row tiles); an even
# kernel, stride, pair padding and dilation, grouped, channels-last x and weight; a
# depthwise 3x3 'same' with a channel multiplier of 2 and a depthwise 7x7 of stride 2
# (both through the direct kernel); 'valid' on a strided x and an even 4x4 'same' (the
# extra padding at the bottom and right) with more filters than a column tile, transposed
# storage; a 1x1 over 33 channels (several reduction steps) of positive values; 'same'
# convolutions the shifted design takes; unbatched x; an empty batch.
EXAMPLES: list[tuple[tuple[int, ...], dict]] = [
    ((1, 1, 1, 1), _k(1, 1)),
    ((2, 3, 7, 6), _k(5, 3, padding=1, bias=True)),
    ((1, 4, 9, 8), _k(6, 2, 3, stride=[2, 1], padding=[1, 2], dilation=[1, 2], groups=2,
                      channels_last=True, w_layout="channels_last")),
    ((1, 2, 8, 8), _k(4, 3, groups=2, padding="same", bias=True)),
    ((1, 2, 7, 7), _k(2, 7, groups=2, padding=3, stride=2, channels_last=True)),
    ((1, 3, 5, 7), _k(4, 3, padding="valid", layout="strided", bias=True)),
    ((1, 3, 5, 5), _k(17, 4, padding="same", layout="transposed", bias=True)),
    ((2, 33, 5, 4), _k(3, 1, values="positive")),
    # 'same' at stride 1 with 8 and 16 channels: the TMA designs (16-byte rows), one small
    # enough for the config axis, a dilated one over several tiles of pixels and filters
    # (NCHW x and weight)
    ((1, 8, 2, 7), _k(6, 3, padding=1, bias=True, channels_last=True, w_layout="channels_last",
                      specials=True)),
    ((2, 16, 6, 5), _k(20, 3, padding="same", dilation=2, bias=True, specials=True)),
    ((1, 8, 2, 8), _k(6, 1, bias=True)),  # 1 x 1: a GEMM (pointwise, rows), NCHW
    ((1, 8, 2, 5), _k(6, 1, bias=True, channels_last=True)),  # and channels-last
    ((3, 6, 6), _k(2, 3, padding=1, stride=2)),
    ((3, 2, 5, 5), _k(2, 3, padding=1, bias=True)),  # a part (_part)
    ((0, 3, 5, 5), _k(2, 3, bias=True)),
]  # fmt: skip


def _part(case: Case) -> Part | None:
    """The first and the last image of the batch: an image's output depends on its own
    input alone (the weights and the bias are used whole). For a (32, 256, 56, 56)
    depthwise 7 x 7 the oracle takes 6.9 s on a core of this repository's CI machine,
    0.27 s for two images (the conditions as much again). None for one image, or two."""
    if len(case.shape) != 4 or case.shape[0] <= 2:
        return None
    n = case.shape[0]
    images = Part.ends(n)

    def inputs(whole: Inputs) -> Inputs:
        x, *rest = whole.args
        return Inputs((x[images], *rest), whole.kwargs)

    return Part(
        dataclasses.replace(case, shape=(len(images), *case.shape[1:])),
        inputs,
        lambda outputs: tuple(o[images] for o in outputs),
        Part.describe(images, n, "images"),
    )


CONV2D = Op(
    name="conv2d",
    numpy_ref=conv2d_numpy,
    torch_ref=conv2d_torch,
    kernel=conv2d,
    make_inputs=_inputs,
    cases=_cases,
    examples=EXAMPLES,
    error_model=ErrorModel(outputs=_forward_models),
    bad_inputs=_bad_inputs,
    flops=_flops,
    bytes=_bytes,
    bench_cases=[
        ((32, 64, 56, 56), _k(64, 3, padding=1, channels_last=True)),
        ((32, 128, 28, 28), _k(128, 3, padding=1, channels_last=True)),
        ((32, 256, 14, 14), _k(256, 3, padding=1, channels_last=True)),
        ((32, 256, 56, 56), _k(64, 1, channels_last=True)),
        ((32, 64, 56, 56), _k(64, 3, padding=1)),
        ((32, 256, 56, 56), _k(256, 3, padding=1, groups=256, channels_last=True)),
        ((32, 256, 56, 56), _k(256, 3, padding=1, stride=2, groups=256, channels_last=True)),
        ((32, 256, 56, 56), _k(256, 7, padding=3, groups=256, channels_last=True)),
        ((32, 256, 56, 56), _k(256, 7, padding=3, stride=2, groups=256, channels_last=True)),
        # NCHW depthwise: the plane kernel
        ((32, 256, 56, 56), _k(256, 3, padding=1, groups=256)),
        ((32, 256, 56, 56), _k(256, 7, padding=3, groups=256)),
    ],
    bench_dtypes=("float16", "bfloat16"),
    torch_bench=conv2d_torch_bench,
    values=("normal", "wide", "positive", "ties", "tiny"),
    configs=Configs(CONFIG_NAMES, _plans.forcing, _plans.recording),
    part=_part,
    backward=Backward(
        kernel=conv2d_autograd,
        numpy_grad=conv2d_backward_numpy,
        wrt=(0, 1, 2),
        error_model=ErrorModel(outputs=_gradient_models),
        examples=[
            ((2, 4, 6, 5), _k(6, 3, padding=1, stride=2, groups=2, bias=True, upstream="sum")),
        ],
        dy_limit=lambda case: value_limit(case),
    ),
)
