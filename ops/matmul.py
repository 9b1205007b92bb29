"""matmul: C = act(A @ B + bias), 2-D and batched, with its gradient (`matmul.grad`).

A case's shape is the problem's dims, not a tensor's:

  (M, K, N)      A (M, K) @ B (K, N) -> C (M, N)
  (B, M, K, N)   batched, the operands' shapes as params["batch"] says:
                   "both"  A (B, M, K),  B (B, K, N)
                   "a"     A (B, M, K),  B (K, N)      (3-D x 2-D)
                   "b"     A (M, K),     B (B, K, N)   (2-D x 3-D)
                   "a1"    A (1, M, K),  B (B, K, N)   (a batch dim of 1 broadcast)
                   "b1"    A (B, M, K),  B (1, K, N)
                 and C is (B, M, N).

Other params: "layout" is A's layout (and, in matmul.grad, the upstream gradient's),
"b_layout" B's (see `harness.tensors.make_tensor`); "bias" adds a bias of shape (N,);
"activation" None, "relu" or "gelu"; "precision" the kernel's for float32 ("tf32" or
"ieee"); "specials" puts a few NaN and +-inf into A.

Drawn problems keep A, B and C within the budget together (B (M K + K N + M N)
elements), and B times each dim within a sixteenth of it: in the interpreter a program
costs about 7 ms and a K step 1 ms (measured here), and its 32 x 32 x 32 blocks then make
at most a few dozen programs a GEMM. Values of the wide profile stop where the tiers'
intermediates would overflow (`value_limit`).

PyTorch's tier misses its bound, as a warning, on drawn cases of gelu on tiny float16
values: PyTorch rounds A @ B to a float16 subnormal before gelu, and the bound's floor
(`harness.tolerance`) allows a subnormal rounding for the final rounding only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

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
    Spans,
    Values,
    strategies,
)
from harness.dtypes import SMALLEST_NORMAL, UNIT_ROUNDOFF, itemsize, operand_error, to_torch
from harness.error_models import dot_product, tensor_core_sums
from harness.tensors import LAYOUTS, add_specials, layouts_for, make_tensor
from harness.tolerance import OutputModel, growth, sum_depth
from kernels import _plans
from kernels.matmul import (
    ACTIVATIONS,
    CONFIG_NAMES,
    GPU_CONFIGS,
    INTERPRET_CONFIGS,
    PRECISIONS,
    excluded_config,
    ieee_span_lengths,
    matmul,
    matmul_autograd,
)
from references.matmul import (
    GELU_C,
    GELU_CUBIC,
    gelu_tanh_parts,
    matmul_backward_numpy,
    matmul_numpy,
    matmul_torch,
    matmul_torch_bench,
    sum_to,
)

BATCHES = ("both", "a", "b", "a1", "b1")
"""Which operands carry the batch dim of a (B, M, K, N) case (module docstring)."""

_BLOCKS = tuple(
    sorted(
        {
            config.kwargs[block]
            for config in (*GPU_CONFIGS, *INTERPRET_CONFIGS)
            for block in ("BLOCK_M", "BLOCK_N", "BLOCK_K")
        }
    )
)
"""The block sizes of every config: dims are drawn around their multiples."""


def dims(case: Case) -> tuple[int | None, int, int, int]:
    """(batch, M, K, N) of a case; batch None for a 2-D problem."""
    if len(case.shape) == 4:
        batch, m, k, n = case.shape
        return batch, m, k, n
    m, k, n = case.shape
    return None, m, k, n


def operand_shapes(case: Case) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes of A and B (module docstring)."""
    batch, m, k, n = dims(case)
    a, b = (m, k), (k, n)
    if batch is None:
        return a, b
    which = case.params.get("batch", "both")
    a_batch = {"both": (batch,), "a": (batch,), "b": (), "a1": (1,), "b1": (batch,)}[which]
    b_batch = {"both": (batch,), "a": (), "b": (batch,), "a1": (batch,), "b1": (1,)}[which]
    return (*a_batch, *a), (*b_batch, *b)


@st.composite
def _shapes(draw: st.DrawFn, budget: Budget) -> tuple[int, ...]:
    """(M, K, N) or (B, M, K, N) with B (M K + K N + M N) within the budget and B times
    each dim within a sixteenth of it: the dims drawn in a random order, each as large as
    the room the ones before it left (those not yet drawn counted as 1), near block
    boundaries, 1 and primes included. The cap keeps the interpreter's programs few:
    1024 rows of one column are 32 programs of 32 rows, a quarter of a second a GEMM."""
    batch = draw(st.one_of(st.none(), st.integers(1, 4)))
    room = budget.numel // (batch or 1)
    sizes: dict[str, int] = {}
    for dim in draw(st.permutations("mkn")):
        first, second = (sizes.get(d, 1) for d in "mkn" if d != dim)
        largest = min((room - first * second) // (first + second), room // 16)
        sizes[dim] = draw(strategies.sizes(max(1, largest), _BLOCKS))
    shape = (sizes["m"], sizes["k"], sizes["n"])
    return shape if batch is None else (batch, *shape)


def _params(shape: tuple[int, ...]) -> st.SearchStrategy[dict]:
    params = {
        "b_layout": st.sampled_from(LAYOUTS),
        "bias": st.booleans(),
        "activation": st.sampled_from(ACTIVATIONS),
        "precision": st.sampled_from(PRECISIONS),
        "specials": st.sampled_from((False, False, False, True)),
    }
    if len(shape) == 4:
        params["batch"] = st.sampled_from(BATCHES)
    return st.fixed_dictionaries(params)


def _cases(budget: Budget):
    return strategies.with_params(_shapes(budget), _params)


def value_limit(case: Case) -> float:
    """The wide profile's largest magnitude: every dot the op and its gradient form (K, N
    or B M products of it, plus a bias) stays below a quarter of what the tiers'
    intermediates hold. A float32 accumulator that overflows is NaN (inf - inf) where the
    exact sum cancels to a finite value; PyTorch rounds A @ B to the dtype before adding
    the bias (inf where the sum is finite), and its float32 gelu' squares Z (NaN past
    1e19). So the magnitudes of the cases are where the tiers are comparable."""
    batch, m, k, n = dims(case)
    longest = max(k, n, (batch or 1) * m)
    dtype_max = torch.finfo(to_torch(case.dtype)).max
    return min(dtype_max, math.sqrt(min(dtype_max, 1e18) / (4 * (longest + 1))))


def _inputs(case: Case, device, gen) -> Inputs:
    a_shape, b_shape = operand_shapes(case)
    drawn = {
        "values": case.params.get("values", "normal"),
        "limit": value_limit(case),
    }
    a_layout = case.params.get("layout", "contiguous")
    a = make_tensor(a_shape, case.dtype, device, gen, layout=a_layout, **drawn)
    b_layout = case.params.get("b_layout", "contiguous")
    b = make_tensor(b_shape, case.dtype, device, gen, layout=b_layout, **drawn)
    if case.params.get("specials"):
        # About two specials in A: each poisons a row of C (a NaN, or an inf that meets
        # a zero of B or an inf of the other sign); more would leave little finite.
        add_specials(a, gen, fraction=min(0.02, 2 / max(a.numel(), 1)))
    bias = None
    if case.params.get("bias"):
        # In B's layout where a vector can have it: read through its stride too.
        bias_layout = b_layout if b_layout in layouts_for(b_shape[-1:]) else "contiguous"
        bias = make_tensor(b_shape[-1:], case.dtype, device, gen, layout=bias_layout, **drawn)
    return Inputs((a, b, bias, case.params.get("activation"), case.params.get("precision", "tf32")))


def _k(case: Case) -> int:
    return dims(case)[2]


def _operands(case: Case, mode: str) -> str | None:
    """tf32 where the kernel's float32 tl.dot reads its operands so: with precision
    "tf32", on the GPU's tensor cores and in the interpreter (`harness.interpreter_fixes`
    reads them as the GPU does). 16-bit products are exact in float32."""
    tf32 = case.params.get("precision", "tf32") == "tf32"
    return "tf32" if case.dtype == "float32" and tf32 else None


def _order(case: Case, mode: str) -> Spans | None:
    """The kernel's order for its dots: float32 ieee FMAs sum K in spans
    (`kernels.matmul.spanned`); a 16-bit or tf32 dot adds K in one running sum."""
    ieee = case.params.get("precision", "tf32") == "ieee"
    return Spans(ieee_span_lengths()) if case.dtype == "float32" and ieee else None


def _forward_models(case: Case) -> list[OutputModel]:
    activation = case.params.get("activation")
    # PyTorch rounds the product to the dtype before adding the bias, and the sum before
    # the activation: one intermediate rounding each (the kernel keeps both in float32).
    rounded = bool(case.params.get("bias")) + (activation is not None)
    return [
        dot_product("out", 0, 1, k=_k, bias=2, activation=activation, operands=_operands,
                    lanes=_order, reference_roundings=float(rounded))
    ]  # fmt: skip


def _flops(case: Case) -> float:
    batch, m, k, n = dims(case)
    return 2.0 * (batch or 1) * m * k * n


def _bytes(case: Case) -> float:
    """A and B read once, C written once, the bias read."""
    batch, m, _, n = dims(case)
    a_shape, b_shape = operand_shapes(case)
    elements = math.prod(a_shape) + math.prod(b_shape) + (batch or 1) * m * n
    if case.params.get("bias"):
        elements += n
    return elements * itemsize(case.dtype)


def _bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    a, b = t(4, 8), t(8, 5)

    def call(**bad):
        args = {"a": a, "b": b, "bias": None, "activation": None, "precision": "tf32", **bad}
        return Inputs(tuple(args.values()))

    return [
        BadInput("inner dims", call(b=t(7, 5)), ValueError, r"\bb\b.*rows.*inner"),
        BadInput("batch dims", call(a=t(3, 4, 8), b=t(2, 8, 5)), ValueError, r"\bb\b.*batch"),
        BadInput("1-D a", call(a=t(8)), ValueError, r"\ba\b.*2-D or 3-D"),
        BadInput("sparse b", call(b=t(8, 5).to_sparse()), TypeError, r"\bb\b.*dense"),
        BadInput("4-D b", call(b=t(1, 2, 8, 5)), ValueError, r"\bb\b.*2-D or 3-D"),
        BadInput("dtype mismatch", call(b=t(8, 5, dtype=torch.float16)), TypeError,
                 r"\bb\b.*dtype"),
        BadInput("integer", call(a=t(4, 8, dtype=torch.int32), b=t(8, 5, dtype=torch.int32)),
                 TypeError, r"\ba\b.*dtype"),
        BadInput("float64", call(a=t(4, 8, dtype=torch.float64), b=t(8, 5, dtype=torch.float64)),
                 TypeError, r"\ba\b.*dtype"),
        BadInput("device mismatch", call(b=t(8, 5, dev=other)), ValueError,
                 r"\bb\b.*(device|CUDA)"),
        BadInput("not a tensor", call(a=[[1.0] * 8] * 4), TypeError, r"\ba\b.*torch.Tensor"),
        BadInput("bias shape", call(bias=t(4)), ValueError, r"\bbias\b.*shape"),
        BadInput("bias 2-D", call(bias=t(1, 5)), ValueError, r"\bbias\b.*shape"),
        BadInput("bias dtype", call(bias=t(5, dtype=torch.bfloat16)), TypeError,
                 r"\bbias\b.*dtype"),
        BadInput("bias device", call(bias=t(5, dev=other)), ValueError,
                 r"\bbias\b.*(device|CUDA)"),
        BadInput("activation", call(activation="tanh"), ValueError, r"\bactivation\b"),
        BadInput("precision", call(precision="fp16"), ValueError, r"\bprecision\b"),
    ]  # fmt: skip


_INTERPRET_BLOCK = INTERPRET_CONFIGS[0].kwargs["BLOCK_K"]

# Pinned cases: a 1 x 1 x 1 dot, a single row and column, K = 1, primes and K below the
# interpreter's block, several tiles with a partial group (GROUP_M 2 over 3 rows of
# tiles) and K past a block, every batch broadcast, every layout, each activation with
# and without bias, a long K, specials, and empty dims.
PART_ROWS = 64
"""Rows of C a benchmark-size check judges against the oracle (`_part`)."""


EXAMPLES: list[tuple[tuple[int, ...], dict]] = [
    ((1, 1, 1), {}),
    ((1, 37, 1), {"layout": "transposed", "b_layout": "strided"}),
    ((5, 1, 3), {"bias": True}),
    ((3, 5, 7), {"layout": "padded", "b_layout": "transposed", "activation": "relu"}),
    ((31, 13, 37), {"layout": "strided", "b_layout": "padded", "bias": True,
                    "activation": "gelu"}),
    ((70, 2 * _INTERPRET_BLOCK + 1, 66), {"b_layout": "transposed", "bias": True}),
    ((2, 9, _INTERPRET_BLOCK + 1, 5), {"batch": "both", "layout": "transposed"}),
    ((3, 4, 5, 6), {"batch": "a", "activation": "relu", "bias": True}),
    ((2, 6, 20, 10), {"batch": "b", "b_layout": "strided"}),
    ((3, 4, 7, 6), {"batch": "a1", "activation": "gelu"}),
    ((2, 5, 9, 3), {"batch": "b1", "layout": "padded", "bias": True}),
    ((8, 300, 8), {"values": "positive"}),
    # ieee FMAs sum K a span of steps at a time (kernels.matmul.spanned): several spans
    ((4, 9 * _INTERPRET_BLOCK + 7, 3), {"precision": "ieee", "values": "positive"}),
    ((16, 40, 16), {"specials": True, "bias": True}),
    ((2, 8, 8), {"bias": True}),  # rows 16-byte aligned in 16 bits: TMA can read it
    ((3 * PART_ROWS + 5, 3, 4), {"bias": True, "activation": "gelu"}),  # a part (_part)
    ((3, 0, 4), {"bias": True}),
    ((0, 5, 3), {}),
]  # fmt: skip


def _part(case: Case) -> Part | None:
    """About PART_ROWS rows of C (in every batch), the first and the last among them, at an
    odd step, so that they fall at different offsets of a tile: A's rows alone determine them
    (B, the bias and the activation are used whole). None where that is every row."""
    batch, m, k, n = dims(case)
    rows = Part.spread(m, PART_ROWS)
    if len(rows) == m:
        return None

    def inputs(whole: Inputs) -> Inputs:
        a, *rest = whole.args
        return Inputs((a[..., rows, :], *rest), whole.kwargs)

    shape = (len(rows), k, n) if batch is None else (batch, len(rows), k, n)
    return Part(
        dataclasses.replace(case, shape=shape),
        inputs,
        lambda outputs: tuple(c[..., rows, :] for c in outputs),
        Part.describe(rows, m, "rows of C"),
    )


MATMUL = Op(
    name="matmul",
    numpy_ref=matmul_numpy,
    torch_ref=matmul_torch,
    kernel=matmul,
    make_inputs=_inputs,
    cases=_cases,
    examples=EXAMPLES,
    error_model=ErrorModel(outputs=_forward_models),
    bad_inputs=_bad_inputs,
    flops=_flops,
    bytes=_bytes,
    bench_cases=[
        ((4000, 4000, 4000), {}),
        ((4096, 4096, 4096), {}),
        ((4096, 4096, 4096), {"bias": True, "activation": "gelu"}),
        ((8192, 1024, 8192), {}),
        ((8192, 8192, 8192), {}),
        ((32, 1024, 1024, 1024), {"batch": "both"}),
    ],
    bench_dtypes=("float16", "bfloat16", "float32"),
    torch_bench=matmul_torch_bench,
    values=("normal", "wide", "positive", "ties", "tiny"),
    configs=Configs(CONFIG_NAMES, _plans.forcing, _plans.recording, excluded_config),
    part=_part,
)


# ----------------------------------------------------------------------------- gradient
# matmul.grad: dA = dz @ B^T, dB = A^T @ dz and dbias = the sum of dz over rows, with
# dz = dy act'(Z), Z = A @ B + bias, each summed over a batch its operand was broadcast
# along. Each is a dot product, relative to what it sums, |dz~| @ |B^T| and so on, where
# |dz~| bounds what dz may be off by, per unit of the GEMM's own allowance:
#
#   |dz~| = |dy| (|act'(Z)| + S),  |act'(Z)| for gelu taken as the terms of the sums
#   that evaluate it, for the roundings there: ours, s + |Z s'|, and PyTorch's,
#   0.5 (1 + tanh y) + 0.5 Z (1 - tanh(y)^2) y': 1, and |Z| y' until tanh y rounds to
#   +-1 (|y| about 9 in float32; 10 here), where that term is exactly 0. Both cancel
#   where tanh y is near -1; PyTorch's gives 0 once it rounds to -1, off by gelu'
#   itself, below u there.
#
# S is the error Z brings in. A tier's Z is off by up to E = e cond_Z (+ the subnormal
# range), cond_Z = |A| @ |B| + |bias|: the forward's float32 accumulation and PyTorch's
# roundings of the product and of the sum to the dtype (`_forward_error`). Through gelu
# that moves gelu'(Z) by up to E max|gelu''| near Z; through relu it may flip relu'(Z)
# (a jump of |dy|) wherever |Z| <= E. The GEMM allows c' x condition, with c' at least
# `_least_coefficient` (c0) in every mode and tier, so S = (that change) / c0. A float32
# tf32 case's Z is off by 2 e(tf32) cond_Z more (truncated operands,
# operand_error), and its backward GEMMs (and dbias, where gelu reads Z) are allowed
# 2 e(tf32) more: with e >= c0 (taken so), c' S covers both.


def _curvature_slope() -> float:
    """sup |gelu'''| (0.78, at |x| = 0.79), from gelu'' on a fine grid: gelu''' vanishes past
    |x| = 12. With 10% to spare for the grid."""
    x = np.linspace(-12.0, 12.0, 240_001)
    return 1.1 * float(np.abs(np.gradient(gelu_second_derivative(x), x)).max())


def gelu_second_derivative(x: np.ndarray) -> np.ndarray:
    """gelu''(x) = 2 s' + x s'' for gelu = x s, s = sigmoid(2 y) (`gelu_tanh_parts`), with
    s' = 2 s t y' and s'' = 2 (s' (t - s) y' + s t y''), t = 1 - s = s exp(-2 y); 0 past
    |x| = 12, where it is below 1e-60."""
    with np.errstate(invalid="ignore", over="ignore"):
        xc = np.clip(x, -12.0, 12.0)
        e = np.exp(-2.0 * GELU_C * (xc + GELU_CUBIC * xc**3))
        s = 1.0 / (1.0 + e)
        t = s * e
        dy, ddy = GELU_C * (1 + 3 * GELU_CUBIC * xc**2), 6 * GELU_C * GELU_CUBIC * xc
        ds = 2 * s * t * dy
        dds = 2 * (ds * (t - s) * dy + s * t * ddy)
        return np.where(np.abs(x) <= 12.0, 2 * ds + xc * dds, 0.0)


GELU_CURVATURE_SLOPE = _curvature_slope()


def _activation(case: Case) -> str | None:
    return case.params.get("activation")


def _forward_error(case: Case) -> float:
    """e: how far a tier's Z may be from the exact one, per unit of cond_Z (module
    comment), in float32 and without tf32: the forward's accumulation (as the forward's
    model, `dot_product`, counts it) and two roundings to the dtype (PyTorch's product,
    and its sum with the bias)."""
    _, _, k, _ = dims(case)
    steps = 1 + (2 if _activation(case) == "gelu" else 0)
    return 2 * UNIT_ROUNDOFF[case.dtype] + (steps + growth(sum_depth(k))) * UNIT_ROUNDOFF["float32"]


def _band(case: Case) -> float:
    """e, widened by the tf32 operands of a float32 forward (the relu flip band)."""
    tf32 = case.dtype == "float32" and case.params.get("precision", "tf32") == "tf32"
    return _forward_error(case) + (2 * operand_error("tf32") if tf32 else 0.0)


def _grad_steps(case: Case) -> float:
    """Roundings of dz besides the GEMM's one: gelu' (an exp, a division and a few
    products) and the multiply by dy."""
    return 8.0 if _activation(case) == "gelu" else 1.0


def _rounds_dz(case: Case) -> bool:
    """dz = dy gelu'(Z) is rounded to a 16-bit dtype before the GEMMs (by both tiers)."""
    return _activation(case) == "gelu" and case.dtype != "float32"


def _least_coefficient(case: Case, terms: int) -> float:
    """c0: the least a GEMM of `terms` terms in the gradient is allowed per unit of its
    condition, in any mode and tier (the kernel adds 2 u(dtype) where dz is rounded,
    PyTorch 1 u(dtype); the GPU's tf32 adds more)."""
    c0 = (_grad_steps(case) + growth(sum_depth(terms))) * UNIT_ROUNDOFF["float32"]
    return c0 + (UNIT_ROUNDOFF[case.dtype] if _rounds_dz(case) else 0.0)


def _dz_condition(case: Case, v: Values, c0: float) -> np.ndarray:
    """|dz~| (module comment) for a GEMM allowed c0 per unit of its condition, from the
    parts that do not depend on c0 (`_dz_parts`, computed once per case)."""
    parts = _dz_parts(case, v)
    activation = v.args[3]
    if activation is None:
        return parts["|dy|"]
    with np.errstate(invalid="ignore", over="ignore"):
        if activation == "relu":
            # A flip: the jump, the final rounding of a result moved by it (relative to
            # where it lands), and the roundings of the term it adds to the GEMM.
            jump = (1.0 + UNIT_ROUNDOFF[case.dtype]) / c0 + 1.0
            return parts["|dy|"] * (parts["slope"] + np.where(parts["near"], jump, 0.0))
        # moved = curvature x error / c0, error = max(e, c0) cond_Z + the smallest normal
        # (0 where Z is not finite: there dz~ is s alone).
        error = max(_forward_error(case), c0)
        moved = (error * parts["curvature x cond_Z"] + parts["curvature x normal"]) / c0
        # dz rounded to the dtype may land among its subnormals, which a GPU's tensor
        # cores may flush and Triton's interpreter loads wrongly (bfloat16): off by up to
        # the smallest normal.
        flushed = SMALLEST_NORMAL[case.dtype] / c0
        return parts["|dy|"] * (parts["terms"] + moved) + flushed


def _dz_parts(case: Case, v: Values) -> dict[str, np.ndarray]:
    """What |dz~| is made of, whatever c0, once per case (`Values.cache`): dA's, dB's and
    dbias's conditions share it, and at 16M elements each pass took seconds (three of
    them 13 of the 17 s of a case's oracle and conditions)."""
    if "matmul dz" in v.cache:
        return v.cache["matmul dz"]
    a, b, bias, activation, _, dy = v.args
    parts = {"|dy|": np.abs(dy)}
    with np.errstate(invalid="ignore", over="ignore"):
        if activation is not None:
            z = np.matmul(a, b) + (bias if bias is not None else 0.0)
            cond_z = np.matmul(np.abs(a), np.abs(b)) + (np.abs(bias) if bias is not None else 0.0)
            # How far a tier's Z may be, in any mode (tf32 included).
            width = _band(case) * cond_z + SMALLEST_NORMAL[case.dtype]
            finite = np.isfinite(z)  # an inf Z (from an inf in A) is inf in every tier
        if activation == "relu":
            parts["slope"] = np.where(z <= 0, 0.0, 1.0)
            parts["near"] = finite & (np.abs(z) <= width)
        elif activation == "gelu":
            s, x_ds = gelu_tanh_parts(z)
            y = GELU_C * (z + GELU_CUBIC * z**3)
            slope_terms = np.abs(z) * GELU_C * (1 + 3 * GELU_CUBIC * z**2)
            terms = s + np.abs(x_ds) + 1 + np.where(np.abs(y) < 10, slope_terms, 0.0)
            curvature = np.abs(gelu_second_derivative(z)) + GELU_CURVATURE_SLOPE * width
            parts["terms"] = np.where(finite, terms, s)
            parts["curvature x cond_Z"] = np.where(finite, curvature * cond_z, 0.0)
            parts["curvature x normal"] = np.where(
                finite, curvature * SMALLEST_NORMAL[case.dtype], 0.0
            )
    v.cache["matmul dz"] = parts
    return parts


def _broadcast_batch(case: Case, operand: str) -> int:
    """How many batches the gradient of `operand` ("a", "b") sums (1: none)."""
    batch = dims(case)[0]
    own = operand_shapes(case)[0 if operand == "a" else 1]
    return batch if batch is not None and (len(own) == 2 or own[0] == 1) else 1


def _grad_condition(case: Case, name: str, terms: int) -> Callable[[Values], np.ndarray]:
    def condition(v: Values) -> np.ndarray:
        a, b = v.args[0], v.args[1]
        dz = _dz_condition(case, v, _least_coefficient(case, terms))
        with np.errstate(invalid="ignore", over="ignore"):
            if name == "dA":
                return sum_to(np.matmul(dz, np.abs(np.swapaxes(b, -1, -2))), a.shape)
            if name == "dB":
                return sum_to(np.matmul(np.abs(np.swapaxes(a, -1, -2)), dz), b.shape)
            return dz.reshape(-1, dz.shape[-1]).sum(axis=0)

    return condition


def _gradient_models(case: Case) -> list[OutputModel]:
    """dA and dB, GEMMs of N and M terms (times the batches summed where the operand was
    broadcast), and dbias, a sum over B M rows, where there is a bias (module comment)."""
    batch, m, _, n = dims(case)
    dz_dtype = case.dtype if _rounds_dz(case) else None
    gemms = {"dA": (n, _broadcast_batch(case, "a")), "dB": (m, _broadcast_batch(case, "b"))}
    # The GEMMs' operands where dz is dy: dy with B, A with dy (an activation's dz is made
    # inside, from Z, which flushing A or B would move: no oracle of flushed inputs there).
    operands = {"dA": (5, 1), "dB": (0, 5)} if _activation(case) is None else {"dA": (), "dB": ()}
    models = []
    for name, (length, batches) in gemms.items():
        models.append(
            OutputModel(
                name,
                condition=_grad_condition(case, name, length * batches),
                terms=lambda case, terms=length * batches: terms,
                lanes=_order,  # a broadcast batch's sum too: one GEMM (_sum_over_batch)
                steps=_grad_steps(case),
                operands=lambda case, mode: dz_dtype or _operands(case, mode),
                tensor_cores=tensor_core_sums(_operands),
                # PyTorch rounds dz (gelu, 16-bit), and each batch's product before
                # summing a broadcast batch.
                reference_roundings=float(_rounds_dz(case)) + float(batches > 1),
                operand_args=operands[name],
            )
        )
    if case.params.get("bias"):
        rows = m * (batch or 1)
        models.append(
            OutputModel(
                "dbias",
                condition=_grad_condition(case, "dbias", rows),
                terms=lambda case: rows,
                steps=_grad_steps(case),
                # Not a GEMM, but gelu' reads the Z of a forward that may have run on
                # tf32 operands: its allowance carries them, as dA's and dB's do, so
                # that c' S covers that Z (module comment).
                operands=lambda case, mode: dz_dtype or _z_operands(case, mode),
                reference_roundings=float(_rounds_dz(case)),
            )
        )
    return models


def _z_operands(case: Case, mode: str) -> str | None:
    """The forward's operand precision where dz depends on its Z (gelu), else None."""
    return _operands(case, mode) if _activation(case) == "gelu" else None


def _dy_limit(case: Case) -> float:
    """|dy| below half the wide profile's limit: dz = dy gelu'(Z) (gelu' < 1.13) stays
    within the dtype, and dz's GEMMs within float32 (`value_limit`)."""
    return value_limit(case) / 2


MATMUL = dataclasses.replace(
    MATMUL,
    backward=Backward(
        kernel=matmul_autograd,
        numpy_grad=matmul_backward_numpy,
        torch=matmul_torch,
        wrt=(0, 1, 2),
        error_model=ErrorModel(outputs=_gradient_models),
        examples=[
            ((3, 20, 5), {"upstream": "sum", "activation": "relu", "bias": True}),
            ((4, 3, 6, 5), {"batch": "a", "activation": "gelu", "bias": True}),
        ],
        dy_limit=_dy_limit,
    ),
)
