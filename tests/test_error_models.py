"""The named error models (harness.error_models): each condition is what its docstring
says, in the shape of its output, and the bound's terms follow from the arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness import Case, ErrorModel, Values
from harness.dtypes import UNIT_ROUNDOFF, operand_error
from harness.error_models import (
    GELU_LIPSCHITZ,
    dot_product,
    exact_products,
    normalization,
    normalization_errors,
    row_sum,
    softmax,
    tensor_core_sums,
)
from harness.tolerance import (
    LAMBDA,
    STAGNATION_DEPTH,
    TENSOR_CORE_STEP,
    Spans,
    growth,
    sum_depth,
    tensor_core_growth,
)

RNG = np.random.default_rng(0)


def _values(args, oracle) -> Values:
    return Values(tuple(args), {}, tuple(np.asarray(o, dtype=np.float64) for o in oracle))


def test_row_sum_condition_for_a_row_sum_and_for_an_elementwise_combination():
    x = RNG.standard_normal((3, 5))
    total = np.abs(x).sum(axis=-1)
    only_sums = row_sum("s").condition(_values([x], [x.sum(axis=-1)]))
    assert only_sums.shape == (3,) and np.allclose(only_sums, total)
    combined = row_sum("out").condition(_values([x], [x + x.sum(axis=-1, keepdims=True)]))
    assert combined.shape == (3, 5) and np.allclose(combined, np.abs(x) + total[:, None])
    assert row_sum().terms(Case("op", "float32", (3, 5), {})) == 5


@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
def test_dot_product_is_relative_to_the_sum_of_absolute_products(activation):
    a, b, bias = RNG.standard_normal((2, 4, 7)), RNG.standard_normal((7, 3)), RNG.standard_normal(3)
    model = dot_product("c", 0, 1, k=lambda case: 7, bias=2, activation=activation)
    cond = model.condition(_values([a, b, bias], [a @ b + bias]))
    slope = GELU_LIPSCHITZ if activation == "gelu" else 1.0
    assert cond.shape == (2, 4, 3)
    assert np.allclose(cond, slope * (np.abs(a) @ np.abs(b) + np.abs(bias)))
    # a dot that cancels is judged against what was summed, not its tiny result
    cancel = dot_product(k=lambda case: 2).condition(
        _values([np.array([[1.0, -1.0]]), np.array([[1.0], [1.0]])], [[[0.0]]])
    )
    assert cancel.item() == 2.0
    with pytest.raises(ValueError, match="activation"):
        dot_product(k=lambda case: 1, activation="tanh")


def test_tf32_operands_add_two_roundings_of_tf32_to_the_kernel_alone():
    case = Case("mm", "float32", (8, 64, 8), {})
    model = dot_product(
        k=lambda case: 64, operands=lambda case, mode: "tf32" if mode == "gpu" else None
    )
    errors = ErrorModel(outputs=[model])
    gpu, interp, torch_ = (
        errors.bounds(case, mode, tier, ["float32"])[0]
        for mode, tier in (("gpu", "kernel"), ("interpret", "kernel"), ("gpu", "torch"))
    )
    assert gpu.conditioned - interp.conditioned == pytest.approx(2 * operand_error("tf32"))
    assert torch_.operands is None and "2e(tf32)" in gpu.describe()


def test_softmax_condition():
    x = np.array([[0.0, 1.0, -np.inf], [3.0, 3.0, 3.0]])
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    y = z / z.sum(axis=-1, keepdims=True)
    cond = softmax().condition(_values([x], [y]))
    absz = np.abs(x - x.max(axis=-1, keepdims=True))
    with np.errstate(invalid="ignore"):
        spread = np.nansum(np.where(y > 0, y * absz, 0.0), axis=-1, keepdims=True)
    expected = np.where(y > 0, y * (1 + np.where(y > 0, absz, 0.0) + spread), 0.0)
    assert np.allclose(cond, expected) and cond[0, 2] == 0.0


def test_normalization_computes_its_statistics_or_takes_the_oracles():
    x, w, b = RNG.standard_normal((4, 9)) + 3.0, RNG.standard_normal(9), RNG.standard_normal(9)
    mean, var = x.mean(axis=-1), x.var(axis=-1)
    rstd = 1 / np.sqrt(var + 1e-5)
    y = (x - mean[:, None]) * rstd[:, None] * w + b
    alone = normalization("y").condition(_values([x, w, b, 1e-5], [y]))
    given = normalization("y", statistics=(1, 2)).condition(
        _values([x, w, b, 1e-5], [y, mean, rstd])
    )
    assert alone.shape == (4, 9) and np.allclose(alone, given)
    # at least |xhat| |w| + |b|; the rest is the statistics' errors per unit roundoff
    assert np.all(alone >= np.abs((x - mean[:, None]) * rstd[:, None] * w) + np.abs(b) - 1e-12)
    v = _values([x, None, None, 1e-5], [y])
    abs_xhat, kappa, _ = normalization_errors(v)
    assert kappa.shape == (4, 1) and np.all(kappa >= 1.0)  # mean(|x - m| |x|) / var >= 1
    no_affine = normalization("y", weight=1, bias=2).condition(v)
    assert np.allclose(no_affine, abs_xhat * (1 + kappa) + normalization_errors(v)[2])


def test_a_references_intermediate_roundings_count_in_the_floor_too():
    from harness.dtypes import SMALLEST_NORMAL
    from harness.tolerance import OutputModel

    case = Case("op", "float16", (4,), {})
    model = ErrorModel(outputs=[OutputModel("y", reference_roundings=2.0)])
    kernel, torch_ = (
        model.bounds(case, "gpu", tier, ["float16"])[0] for tier in ("kernel", "torch")
    )
    extra = 2.0 * UNIT_ROUNDOFF["float16"] * SMALLEST_NORMAL["float16"]
    assert torch_.floor - kernel.floor == pytest.approx(extra)


def test_relu_clamping_an_infinite_product_is_exact():
    a, b = np.array([[-np.inf, 1.0]]), np.array([[1.0], [2.0]])
    out = np.maximum(a @ b, 0.0)  # relu(-inf) = 0, finite
    cond = dot_product(k=lambda case: 2, activation="relu").condition(_values([a, b], [out]))
    assert cond.item() == 0.0
    unclamped = dot_product(k=lambda case: 2).condition(_values([a, b], [a @ b]))
    assert np.isinf(unclamped.item())


def _truncating_dot(a: np.ndarray, b: np.ndarray, per_step: int) -> np.ndarray:
    """a @ b as a tensor core sums it: `per_step` exact products at a time added to a
    float32 accumulator, each step's result rounded toward zero to float32."""
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k0 in range(0, a.shape[1], per_step):
        exact = acc.astype(np.float64) + a[:, k0 : k0 + per_step] @ b[k0 : k0 + per_step]
        nearest = exact.astype(np.float32)
        past = np.abs(nearest.astype(np.float64)) > np.abs(exact)
        acc = np.where(past, np.nextafter(nearest, np.float32(0)), nearest)
    return acc


def test_a_truncating_tensor_core_sum_outgrows_the_probabilistic_bound_not_the_linear_one():
    """Non-negative products summed 16 at a time, each step's sum truncated into a float32
    accumulator: the mildest form of what a GPU's tensor cores do (an H100 erred 4-5x as
    much, benchmarks/dot_accumulation_probe.py). The error, all of one sign, grows
    linearly and passes LAMBDA sqrt(K) u sum |a b|; tensor_core_growth holds it."""
    k = 1 << 19
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.rand(shape, generator=gen).bfloat16().double().numpy()
            for shape in ((2, k), (k, 2)))  # fmt: skip
    exact = a @ b
    depth = (exact - _truncating_dot(a, b, 16)) / (UNIT_ROUNDOFF["float32"] * exact)
    assert (depth > 0).all()  # one sign: below the exact sums
    assert depth.min() > LAMBDA * math.sqrt(sum_depth(k))  # past the probabilistic bound
    assert depth.max() <= tensor_core_growth(k, "bfloat16")


def test_tensor_cores_grow_the_bound_on_the_gpu_where_their_steps_outgrow_it():
    """A model whose sum runs on the tensor cores on the GPU: there the growth is the
    larger of the rounding-to-nearest one and TENSOR_CORE_STEP ceil(n / 16) (both tiers, said
    in the report); in the interpreter, and for short sums, as before."""
    case = Case("mm", "float16", (4, 4, 4), {})

    def growth_of(n: int, mode: str, tier: str = "kernel") -> tuple[float, str]:
        model = dot_product(
            k=lambda case: n, tensor_cores=lambda case, mode: "float16" if mode == "gpu" else None
        )
        bound = ErrorModel(outputs=[model]).bounds(case, mode, tier, ["float16"])[0]
        return bound.growth, bound.describe()

    long_sum, short_sum = 133003, 256
    gpu, text = growth_of(long_sum, "gpu")
    assert gpu == 1.0 + TENSOR_CORE_STEP * math.ceil(long_sum / 16)  # steps + growth
    assert "8313 truncating tensor-core steps" in text
    assert growth_of(long_sum, "gpu", "torch")[0] == gpu
    assert growth_of(long_sum, "interpret")[0] == 1.0 + growth(sum_depth(long_sum))
    assert growth_of(short_sum, "gpu")[0] == growth_of(short_sum, "interpret")[0]


@pytest.mark.parametrize(
    ("dtype", "operands", "gpu"),
    [
        ("float16", None, "float16"),
        ("bfloat16", None, "bfloat16"),
        ("float32", "tf32", "tf32"),
        ("float32", None, None),  # an "ieee" float32 dot: multiply-adds
    ],
)
def test_a_dot_product_runs_on_the_tensor_cores_by_default_where_tl_dot_and_cublas_do(
    dtype, operands, gpu
):
    """An outside op's `dot_product` gets the tensor cores' truncating growth on the GPU
    without declaring it (a tl.dot kernel's and cuBLAS's sums), for 16-bit cases and
    tf32 operands; never in the interpreter; a kernel without tl.dot opts out."""
    case = Case("mm", dtype, (4, 133003, 4), {})
    declared = lambda case, mode: operands if mode == "gpu" else None
    assert tensor_core_sums(declared)(case, "gpu") == gpu
    assert tensor_core_sums(declared)(case, "interpret") is None

    def bound(mode: str, **kwargs):
        model = dot_product(k=lambda case: case.shape[1], operands=declared, **kwargs)
        return ErrorModel(outputs=[model]).bounds(case, mode, "torch", [dtype])[0]

    rounding_to_nearest = 1.0 + growth(sum_depth(133003))
    expected = rounding_to_nearest if gpu is None else 1.0 + tensor_core_growth(133003, gpu)
    assert bound("gpu").growth == expected > 0
    assert bound("interpret").growth == rounding_to_nearest
    assert bound("gpu", tensor_cores=exact_products).growth == rounding_to_nearest


def test_growth_is_probabilistic_up_to_the_stagnation_depth_and_whole_past_it():
    for depth in (1, 63, 64, 1000, STAGNATION_DEPTH):
        assert growth(depth) == min(depth, LAMBDA * math.sqrt(depth))
    probabilistic_part = LAMBDA * math.sqrt(STAGNATION_DEPTH)
    for past in (1, 1000, 3 * 2**20):
        assert growth(STAGNATION_DEPTH + past) == probabilistic_part + past


def test_a_long_in_order_sum_of_one_sign_stagnates_past_the_probabilistic_growth():
    """One float32 accumulator adding 2**19 terms of 1000 + N(0, 1) in order (NumPy's
    cumsum): its error leaves LAMBDA sqrt(n) u sum |t| (round-to-nearest drops part of
    each term once the sum is 2**18 of them) and stays within growth(n - 1)."""
    from benchmarks.stagnation_probe import sequential_error

    n = 2**19
    terms = 1000 + np.random.default_rng(0).standard_normal(n)
    error = sequential_error(terms)
    assert LAMBDA * math.sqrt(n - 1) < error <= growth(n - 1)


def _deepest_rounding_in_spans(n: int, span: int) -> int:
    """The most roundings any term goes through where each span of `span` terms is
    summed in order into a partial of its own, each full span's partial added to a
    running total, and the last partial added at the end (kernels.matmul.spanned),
    counted term by term: an addition rounds every term in both operands, except one
    into an empty accumulator (or of nothing)."""
    depths = [0] * n
    total: list[int] = []
    part: list[int] = []

    def add(into: list[int], terms: list[int]) -> None:
        if into and terms:
            for t in into + terms:
                depths[t] += 1
        into.extend(terms)

    for t in range(n):
        add(part, [t])
        if len(part) == span:
            add(total, part)
            part = []
    add(total, part)
    return max(depths)


@pytest.mark.parametrize("spans", [(1,), (4,), (16,), (4, 16), (3, 8, 32)])
def test_a_sum_in_spans_has_the_depth_of_its_deepest_span_length(spans):
    for n in (2, 3, 4, 5, 15, 16, 17, 64, 100, 257):
        counted = max(_deepest_rounding_in_spans(n, s) for s in spans)
        assert sum_depth(n, Spans(spans)) == counted, (n, spans)
    assert sum_depth(1, Spans(spans)) == sum_depth(0, Spans(spans)) == 0


def test_spans_keep_every_running_sum_short():
    """2**22 terms in spans of 256: 255 + 16383 roundings, within the probabilistic
    growth; in one running sum, past STAGNATION_DEPTH."""
    n = 2**22
    assert sum_depth(n, Spans((256,))) == 255 + n // 256 - 1 < STAGNATION_DEPTH < sum_depth(n)
    with pytest.raises(ValueError, match="lengths >= 1"):
        Spans(())
