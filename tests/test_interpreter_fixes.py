"""harness.interpreter_fixes: the interpreter's comparisons typed int1, so that a mask made
of a block's and a scalar's comparisons is what compiled Triton makes of it; its fma
rounded once; a tf32 dot's float32 operands read as the tensor cores read them; float
arguments rounded to float32 as the launcher rounds them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import triton
import triton.language as tl

from harness import interpreter_fixes
from tests.interpreter_patches import require_patch


@pytest.fixture(autouse=True)
def interpret_only(harness_state):
    require_patch(harness_state, interpreter_fixes, "a fix to Triton's interpreter")


@triton.jit
def _copy_pairs_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """Copies x two blocks an iteration, the second masked by a scalar condition too (as
    a looped kernel whose block count may be odd)."""
    cols = tl.arange(0, BLOCK)
    n_blocks = tl.cdiv(n, BLOCK)
    for i in range(0, n_blocks, 2):
        first = i * BLOCK + cols
        tl.store(out_ptr + first, tl.load(x_ptr + first, mask=first < n), mask=first < n)
        second = first + BLOCK
        mask = (second < n) & (i + 1 < n_blocks)  # a block's comparison and a scalar's
        tl.store(out_ptr + second, tl.load(x_ptr + second, mask=mask), mask=mask)


@pytest.mark.parametrize("n", [5, 8, 13, 24])
def test_a_mask_of_a_blocks_and_a_scalars_comparisons_loads_and_stores(n):
    x = torch.arange(n, dtype=torch.float32)
    out = torch.full((n,), float("nan"))
    _copy_pairs_kernel[(1,)](x, out, n, BLOCK=4)
    assert torch.equal(out, x)


def test_every_comparison_is_int1_and_splats_to_booleans():
    from triton.runtime.interpreter import InterpreterBuilder, TensorHandle

    builder = InterpreterBuilder()
    five, one = (TensorHandle(np.array([v], dtype=np.int32), tl.int32) for v in (5, 1))
    halves = (TensorHandle(np.array([v], dtype=np.float32), tl.float32) for v in (0.5, 2.0))
    compared = [builder.create_icmpSGT(five, one), builder.create_fcmpOLT(*halves)]
    for result in compared:
        assert result.dtype == tl.int1 and result.data.dtype == np.bool_
        splat = builder.create_splat(tl.block_type(tl.int1, [4]), result)
        assert splat.data.dtype == np.bool_ and splat.data.all()


@triton.jit
def _fma_kernel(x_ptr, y_ptr, z_ptr, out_ptr, N: tl.constexpr):
    offsets = tl.arange(0, N)
    x, y, z = (tl.load(p + offsets) for p in (x_ptr, y_ptr, z_ptr))
    tl.store(out_ptr + offsets, tl.fma(x, y, z))


def test_fma_rounds_once_as_the_gpus_does():
    """(1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 is a float32 tie: plus -(1 + 2^-11) it is 2^-24
    (rounded twice: 0), plus +-2^-80 it rounds up or down (in float64 first: the tie)."""
    x = torch.full((4,), 1 + 2**-12)
    z = torch.tensor([-(1 + 2**-11), 2**-80, -(2**-80), 0.0])
    want = torch.tensor([2**-24, 1 + 2**-11 + 2**-23, 1 + 2**-11, 1 + 2**-11])
    out = torch.full((4,), float("nan"))
    _fma_kernel[(1,)](x, x, z, out, 4)
    assert torch.equal(out, want)


def test_fma_rounded_once_rounds_what_float64_makes_a_tie_the_right_way():
    x = np.full(3, 1 + 2**-12, dtype=np.float32)
    z = np.array([2**-80, -(2**-80), 2**-60], dtype=np.float32)
    want = np.array([1 + 2**-11 + 2**-23, 1 + 2**-11, 1 + 2**-11 + 2**-23], dtype=np.float32)
    assert np.array_equal(interpreter_fixes.fma_rounded_once(x, x, z), want)


def test_fma_rounded_once_agrees_with_a_fused_fma_on_random_triples():
    fused = getattr(pytest.importorskip("triton._C.libtriton").interpreter, "fma_fp32", None)
    if fused is None:
        pytest.skip("this Triton's interpreter has no fused float32 fma to compare with")
    gen = np.random.default_rng(7)
    x, y = (gen.standard_normal(100_000).astype(np.float32) for _ in "xy")
    z = -(x * y) * (1 + gen.standard_normal(100_000).astype(np.float32) * 2**-20)
    assert np.array_equal(interpreter_fixes.fma_rounded_once(x, y, z), fused(x, y, z))


@triton.jit
def _dot_kernel(a_ptr, b_ptr, out_ptr, N: tl.constexpr, PRECISION: tl.constexpr):
    r = tl.arange(0, N)
    a = tl.load(a_ptr + r[:, None] * N + r[None, :])
    b = tl.load(b_ptr + r[:, None] * N + r[None, :])
    tl.store(out_ptr + r[:, None] * N + r[None, :], tl.dot(a, b, input_precision=PRECISION))


@pytest.mark.parametrize("precision", ["tf32", "ieee"])
def test_a_tf32_dot_reads_its_float32_operands_as_the_tensor_cores_do(precision):
    """A diagonal a times b: each product alone in its sum, so the result is the product
    of the operands as read. tf32 drops 1 + 2**-11's last bit and reads 1e-41 (below
    2**-136) as zero, which meets -inf as NaN; "ieee" reads both exactly, as the oracle."""
    n = 16
    a = torch.diag(torch.full((n,), 1 + 2**-11))
    a[0, 0] = -float("inf")
    b = torch.ones(n, n)
    b[0, 1] = 1e-41
    out = torch.full((n, n), 7.0)
    _dot_kernel[(1,)](a, b, out, n, precision)
    tf32 = precision == "tf32"
    assert torch.equal(out[1:], torch.full((n - 1, n), 1.0 if tf32 else 1 + 2**-11))
    assert out[0, 1].isnan() if tf32 else out[0, 1] == -float("inf")
    assert torch.equal(out[0, 2:], torch.full((n - 2,), -float("inf")))


@triton.jit
def _shifted_kernel(x_ptr, out_ptr, shift, n, N: tl.constexpr):
    offsets = tl.arange(0, N)
    x = tl.load(x_ptr + offsets).to(tl.float32)
    tl.store(out_ptr + offsets, (x + shift / n).to(out_ptr.dtype.element_ty))


@pytest.mark.parametrize(
    ("shift", "dtype"),
    [(5.9e-211, torch.bfloat16), (0.375, torch.bfloat16), (1e39, torch.float32),
     (1e39, torch.bfloat16)],
)  # fmt: skip
def test_a_float_argument_is_rounded_to_float32_as_the_launcher_rounds_it(shift, dtype):
    """1e39 is inf and 5.9e-211 is 0 in float32, as a compiled kernel receives them, and
    shift / n is float32 arithmetic, stored in x's dtype. Before the fix both were
    float64 (divided by the int n): 1e39 / 4 stayed finite, and float64 stored into
    bfloat16 was garbage (zeros, NaN, subnormals)."""
    x = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=dtype)
    out = torch.full_like(x, float("nan"))
    _shifted_kernel[(1,)](x, out, shift, 4, N=4)
    expected = (x.float() + torch.tensor(shift, dtype=torch.float32) / 4).to(dtype)
    assert torch.equal(out, expected)
