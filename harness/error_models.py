"""Error models you can name instead of derive: the computations kernels are made of.

Registering an op needs an `ErrorModel`: what each output's rounding error is relative
to (its condition), how long its sums are, how many roundings surround them (see
`harness.tolerance` for the bound). For the usual shapes of computation that work is done
here, each documented with the bound it implements; pick one per output:

    from harness import ErrorModel
    from harness.error_models import dot_product, elementwise, normalization, row_sum, softmax

    ErrorModel(outputs=[softmax("y")])

  elementwise(name, steps)     each element a few float32 operations on its inputs:
                               steps roundings relative to |result|.
  row_sum(name, arg)           built on the sum over each row (the last dim) of the input
                               `arg`: the row sum itself, or each element combined with
                               it; relative to sum |x| (and |x|).
  dot_product(name, a, b, k)   C = A @ B, batched or not: a dot of length K per element,
                               relative to (|A| @ |B|), tf32 operands where the kernel
                               uses them, a bias and an activation in the epilogue, the
                               tensor cores' truncating steps on the GPU.
  softmax(name, arg)           softmax over the last dim, relative to
                               y_i (1 + |z_i| + sum_j y_j |z_j|), z = x - max.
  normalization(name, x, ...)  (x - mean) * rstd * w + b over the last dim (LayerNorm),
                               with the errors of the statistics (the variance's
                               condition number kappa, the rounding of the mean).

Every one of them is what this repo's own ops use, and the planted bugs of
tests/planted_bugs.py are caught through them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.dtypes import UNIT_ROUNDOFF
from harness.op import Case
from harness.tolerance import Order, OutputModel, Spans, Values, elementwise, growth, sum_depth

__all__ = [
    "TL_SUM_LANES",
    "dot_product",
    "elementwise",
    "exact_products",
    "normalization",
    "normalization_errors",
    "row_statistics_errors",
    "row_sum",
    "softmax",
    "tensor_core_sums",
]

Lanes = Callable[[Case, str], Order]

TL_SUM_LANES = 128
"""The parallel accumulators of a `tl.sum` in a program of 4 warps (Triton's default):
each thread adds its elements in order, then the 128 threads combine in a tree. A
kernel that sums a row with tl.sum, or into a vector accumulator of at least that many
lanes, declares `lanes=TL_SUM_LANES` and gets a bound that grows like n / 128 instead of
n: without it the model assumes any order at all, which is sound and loose (the
tolerance test then says so)."""


def _no_lanes(case: Case, mode: str) -> Order:
    return None


def _lanes(lanes: int | Spans | Lanes | None) -> Lanes:
    """A lanes argument: an order (a count of lanes, a `Spans`), (case, mode) -> an
    order, or None (any order)."""
    if lanes is None:
        return _no_lanes
    if isinstance(lanes, int | Spans):
        return lambda case, mode: lanes
    return lanes


def _row_length(case: Case) -> int:
    """n, the row length: the last dim of the case's shape (the shape of the input whose
    rows are reduced)."""
    return case.shape[-1] if case.shape else 1


def row_sum(
    name: str = "out",
    arg: int = 0,
    *,
    output: int = 0,
    steps: float = 1.0,
    lanes: int | Spans | Lanes | None = None,
    reference_roundings: float = 0.0,
) -> OutputModel:
    """An output built on the sum over each row of input `arg` (whose shape is the
    case's): the row sum (output of the leading shape), or each element combined with
    its row's sum (output of the input's shape, as x + x.sum(-1, keepdim=True)).

    Bound: cancellation in the sum is judged against what was summed, sum |x|, plus |x|
    where the output keeps each element; `lanes` is the kernel's parallel accumulators
    (None: any order, depth n - 1). `output` is the output's index among the op's."""

    def condition(v: Values) -> np.ndarray:
        x = np.abs(np.atleast_1d(v.args[arg]))
        total = x.sum(axis=-1, keepdims=True)
        out_shape = np.shape(v.oracle[output])
        if len(out_shape) == x.ndim - 1 or (not out_shape and x.ndim == 1):
            return total[..., 0].reshape(out_shape)
        return (x + total).reshape(out_shape)

    return OutputModel(
        name,
        condition=condition,
        terms=_row_length,
        lanes=_lanes(lanes),
        steps=steps,
        reference_roundings=reference_roundings,
    )


Operands = Callable[[Case, str], "str | None"]


def exact_products(case: Case, mode: str) -> str | None:
    """`Operands` (and `tensor_cores`) for exact products summed in ordinary float32
    multiply-adds: no operand rounding, no tensor cores."""
    return None


def tensor_core_sums(operands: Operands = exact_products) -> Operands:
    """The `tensor_cores` of a GEMM written with tl.dot, and of cuBLAS and cuDNN: on the
    GPU a sum of 16-bit products runs on the tensor cores (the case's dtype), and so does
    a float32 one whose operands `operands(case, mode)` rounds to "tf32"; an "ieee"
    float32 dot is ordinary multiply-adds, and the interpreter's tl.dot is NumPy's."""

    def tensor_cores(case: Case, mode: str) -> str | None:
        if mode != "gpu":
            return None
        if case.dtype in ("float16", "bfloat16"):
            return case.dtype
        return "tf32" if operands(case, mode) == "tf32" else None

    return tensor_cores


GELU_LIPSCHITZ = 1.13
"""The largest slope of gelu (about 1.129, at x = 2.4): how much an error in its input
can grow through it. relu's is 1."""


def dot_product(
    name: str = "out",
    a: int = 0,
    b: int = 1,
    *,
    k: Callable[[Case], int],
    bias: int | None = None,
    activation: str | None = None,
    output: int = 0,
    steps: float = 1.0,
    operands: Operands = exact_products,
    lanes: int | Spans | Lanes | None = None,
    reference_roundings: float = 0.0,
    tensor_cores: Operands | None = None,
) -> OutputModel:
    """C = act(A @ B + bias) for inputs `a` (..., M, K) and `b` (..., K, N), batched by
    broadcasting as torch.matmul does; `k(case)` is K.

    Bound: each element is a dot of K products summed in float32, so the error grows
    with K (in `lanes` parallel accumulators, None: an order the model does not know)
    relative to sum_k |a_ik b_kj| = (|A| @ |B|)_ij, not to |c_ij|: a dot that cancels to
    nearly 0 is judged against what was summed. `operands(case, mode)` names the
    precision the kernel converts A and B to before multiplying ("tf32" for a float32
    tl.dot, which truncates both: `operand_error`), None for exact products. The
    epilogue adds |bias| and `steps` roundings; an activation passes the error on times
    its largest slope ("relu" 1, "gelu" GELU_LIPSCHITZ) and adds its own rounding; where
    relu clamps an infinite product to an exact 0 (the oracle, output `output`, finite
    there) the condition is 0. `reference_roundings`: the PyTorch tier's roundings of
    intermediates to the output dtype (the product before the bias, the sum before the
    activation, as torch.matmul + bias + act does). `tensor_cores(case, mode)`: the
    operands' type where the sum runs on a GPU's tensor cores (truncating steps:
    `harness.tolerance.tensor_core_growth`), None elsewhere; by default
    `tensor_core_sums(operands)`, a tl.dot's and cuBLAS's (a kernel that multiplies and
    adds in float32 without tl.dot passes `exact_products` for a tighter bound
    on its long 16-bit sums)."""
    if activation not in (None, "relu", "gelu"):
        raise ValueError(f"activation must be None, 'relu' or 'gelu', got {activation!r}")
    slope = GELU_LIPSCHITZ if activation == "gelu" else 1.0

    def condition(v: Values) -> np.ndarray:
        magnitude = np.matmul(np.abs(v.args[a]), np.abs(v.args[b]))
        if bias is not None and v.args[bias] is not None:
            magnitude = magnitude + np.abs(v.args[bias])
        if activation == "relu":
            clamped = np.isinf(magnitude) & np.isfinite(v.oracle[output])
            magnitude = np.where(clamped, 0.0, magnitude)
        return slope * magnitude

    return OutputModel(
        name,
        condition=condition,
        terms=k,
        lanes=_lanes(lanes),
        steps=steps + (2.0 if activation == "gelu" else 0.0),
        operands=operands,
        reference_roundings=reference_roundings,
        tensor_cores=tensor_core_sums(operands) if tensor_cores is None else tensor_cores,
        operand_args=(a, b),
    )


def softmax(
    name: str = "y",
    arg: int = 0,
    *,
    output: int = 0,
    steps: float = 6.0,
    lanes: int | Spans | Lanes | None = None,
) -> OutputModel:
    """Softmax of input `arg` over its last dim (the max subtracted first).

    Bound: with z = x - max, rounding z costs u |z_i| relative in exp(z_i), and the sum
    passes on each term's error weighted by its probability, so the error of y_i is
    bounded by u y_i (|z_i| + sum_j y_j |z_j|) plus the roundings of exp, the sum and the
    division (u y_i each, the sum's growing with its depth): the condition is
    y_i (1 + |z_i| + sum_j y_j |z_j|). `steps` 6: the subtraction, the multiply by
    log2(e) before exp2, the GPU's approximate exp2 and reciprocal (2 ulps each) and the
    final multiply."""

    def condition(v: Values) -> np.ndarray:
        y = np.atleast_1d(v.oracle[output])
        if y.size == 0:
            return v.oracle[output]
        x = np.atleast_1d(v.args[arg])
        with np.errstate(invalid="ignore"):  # -inf - -inf, 0 * inf: masked out by where
            z = np.abs(x - x.max(axis=-1, keepdims=True))
            spread = np.where(y > 0, y * z, 0.0).sum(axis=-1, keepdims=True)
            magnitude = np.where(y > 0, y * (1.0 + z + spread), 0.0)
        return magnitude.reshape(np.shape(v.oracle[output]))

    return OutputModel(name, condition=condition, terms=_row_length, lanes=_lanes(lanes),
                       steps=steps)  # fmt: skip


def row_statistics_errors(
    x: np.ndarray, mean: np.ndarray, rstd: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|xhat| and two scales of the error that float32 row statistics (mean, rstd = 1 /
    sqrt(var + eps) over the last dim) carry, per unit roundoff:

    kappa       per row, the relative error of rstd beyond its own roundings. First
                order: mean(|x - mean| |x|) / (var + eps), the condition number of the
                variance: a backward-stable variance (PyTorch's Welford) is off by about
                kappa u relative, large when |mean| >> std; a two-pass variance does
                better, but a correct rstd may be off so far. Second order: the mean's
                own error d (up to G u mean|x|, G the growth of a sum of n) adds d**2 to
                the variance, (G u mean|x| rstd)**2 / 2 relative to rstd: negligible
                unless mean|x| rstd is large (a constant row of large values with a small
                eps, whose variance is all rounding).
    xhat_error  per element, the absolute error of xhat per unit roundoff: through the
                mean's rounding (relative to mean|x|, its condition) and through
                computing xhat as x rstd - mean rstd, as PyTorch's kernels do (relative
                to |x| rstd); with the same second-order factor.

    In place after the first arrays: the night run's rows reach 64M elements, where each
    new array costs more than the arithmetic.
    """
    n = x.shape[-1]
    abs_x = np.abs(x)
    abs_xhat = np.abs(x - mean[..., None])  # |x - mean| here, times rstd below
    rstd = np.abs(rstd)[..., None]
    scale = abs_x.mean(axis=-1, keepdims=True) * rstd  # mean|x| rstd
    second_order = growth(sum_depth(n)) * UNIT_ROUNDOFF["float32"] * scale
    kappa = np.vecdot(abs_xhat, abs_x)[..., None] / n * rstd**2
    kappa = kappa + second_order * scale / 2
    abs_xhat *= rstd
    xhat_error = abs_x
    xhat_error *= rstd
    xhat_error += scale
    xhat_error *= 1 + second_order
    return abs_xhat, kappa, xhat_error


def normalization_errors(
    v: Values, x: int = 0, eps: int | float = 3, statistics: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`row_statistics_errors` of input `x`, computed once per case (in v.cache). The
    statistics are the oracle's outputs `statistics` (mean, rstd indices) when the op
    returns them, else computed in float64 from x and eps (an input's index or a value)."""
    key = ("row statistics", x, eps, statistics)  # one per input normalized
    if key not in v.cache:
        xs = v.args[x]
        with np.errstate(invalid="ignore"):  # rows holding NaN are not judged by value
            if statistics is not None:
                mean, rstd = v.oracle[statistics[0]], v.oracle[statistics[1]]
            else:
                e = eps if isinstance(eps, float) else v.args[eps]
                mean = xs.mean(axis=-1)
                centered = xs - mean[..., None]
                rstd = 1.0 / np.sqrt(np.vecdot(centered, centered) / xs.shape[-1] + e)
            v.cache[key] = row_statistics_errors(xs, mean, rstd)
    return v.cache[key]


def normalization(
    name: str = "y",
    x: int = 0,
    weight: int | None = 1,
    bias: int | None = 2,
    eps: int | float = 3,
    *,
    steps: float = 8.0,
    lanes: int | Spans | Lanes | None = None,
    statistics: tuple[int, int] | None = None,
) -> OutputModel:
    """y = (x - mean) * rstd * weight + bias over the last dim of input `x`, with
    rstd = 1 / sqrt(var + eps): LayerNorm's output. `weight` and `bias` are the inputs'
    indices (their value may be None; None here: the op has none); `eps` an input's
    index, or the value itself when it is a float. `statistics`: the indices of mean and
    rstd among the op's outputs, if it returns them (else they are computed from x).

    Bound: relative to (|xhat| (1 + kappa) + xhat_error) |w| + |b|, with kappa and
    xhat_error the errors the statistics pass on (`row_statistics_errors`); `steps` 8:
    the statistics' own roundings, the subtraction, two multiplies and an add."""

    def condition(v: Values) -> np.ndarray:
        abs_xhat, kappa, xhat_error = normalization_errors(v, x, eps, statistics)
        w = v.args[weight] if weight is not None else None
        b = v.args[bias] if bias is not None else None
        with np.errstate(invalid="ignore"):
            y = abs_xhat * (1 + kappa) + xhat_error
            y = y * np.abs(w) if w is not None else y
            return y + np.abs(b) if b is not None else y

    return OutputModel(name, condition=condition, terms=_row_length, lanes=_lanes(lanes),
                       steps=steps)  # fmt: skip
