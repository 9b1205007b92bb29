"""The interpreter's repeated work done once (harness.interpreter_speed): a kernel calling
a helper in a loop patches `triton.language` once, at its launch, gives what it gave
before, and leaves the language as it found it; a helper whose module sees a language
module the launch did not patch still gets it patched; every Triton type's NumPy type is
the interpreter's own, asked of it once."""

from __future__ import annotations

import pytest
import torch
import triton
import triton.language as tl

from harness import interpreter_speed
from tests.interpreter_patches import require_patch
from tests.interpreter_speed_core import doubled_through_core

CALLS = 8


@pytest.fixture(autouse=True)
def interpret_only(harness_state):
    require_patch(harness_state, interpreter_speed, "a compiled kernel repeats none of it")


@pytest.fixture
def patched_modules(monkeypatch):
    """The modules the interpreter patches builtins of, one entry per module patched."""
    from triton.runtime import interpreter

    seen: list[str] = []
    patch_builtin = interpreter._patch_builtin

    def counted(pkg, builder, scope):
        seen.append(getattr(pkg, "__name__", repr(pkg)))
        return patch_builtin(pkg, builder, scope)

    monkeypatch.setattr(interpreter, "_patch_builtin", counted)
    return seen


@triton.jit
def _scaled(x, step):
    return x * step


@triton.jit
def _helper_loop_kernel(x_ptr, out_ptr, CALLS: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), tl.float32)
    for step in tl.static_range(CALLS):
        acc += _scaled(tl.load(x_ptr + offsets), step + 1)
    tl.store(out_ptr + offsets, acc)


@triton.jit
def _core_helper_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offsets = tl.arange(0, BLOCK)
    tl.store(out_ptr + offsets, doubled_through_core(x_ptr, offsets))


def test_a_kernel_calling_helpers_patches_the_language_once(patched_modules):
    x = torch.randn(16)
    out = torch.full_like(x, float("nan"))
    _helper_loop_kernel[(1,)](x, out, CALLS=CALLS, BLOCK=16)
    # 1 + 2 + ... + CALLS times x, the helper called CALLS times
    torch.testing.assert_close(out, x * (CALLS * (CALLS + 1) // 2))
    launches = patched_modules.count("triton.language")
    assert launches == 1, f"triton.language patched {launches} times for one launch"
    assert tl.core.is_builtin(tl.load) and not interpreter_speed.is_patched(tl)  # put back


def test_a_helper_seeing_a_language_module_the_launch_did_not_patch_gets_it_patched(
    patched_modules, monkeypatch
):
    # Triton's interpreter never puts back what it patched at a helper's call: once a
    # jit function of `triton.language.standard` (whose module sees `core`) has run in
    # this process, `core` stays patched. Unpatched here, as in a fresh process.
    monkeypatch.setattr(tl.core, "load", tl.load)
    assert not interpreter_speed.is_patched(tl.core)
    x = torch.randn(16)
    out = torch.full_like(x, float("nan"))
    _core_helper_kernel[(1,)](x, out, BLOCK=16)
    torch.testing.assert_close(out, 2 * x)
    assert patched_modules.count("triton.language.core") >= 1


SCALARS = ["int1", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
           "float16", "bfloat16", "float32", "float64", "float8e5", "float8e4nv"]  # fmt: skip


def test_every_types_numpy_type_is_the_interpreters_own_asked_once(monkeypatch):
    from triton.runtime import interpreter

    own = interpreter_speed.replaced["_get_np_dtype"]
    asked: list[object] = []

    def counted(tt_dtype):
        asked.append(tt_dtype)
        return own(tt_dtype)

    monkeypatch.setitem(interpreter_speed.replaced, "_get_np_dtype", counted)
    monkeypatch.setattr(interpreter_speed, "np_dtypes", {})  # none remembered yet
    scalars = [getattr(tl, name) for name in SCALARS]
    pointers = [tl.pointer_type(tl.float32), tl.pointer_type(tl.bfloat16)]
    types = [*scalars, *pointers]
    types += [tl.block_type(t, [4, 8]) for t in types]
    for _ in range(3):
        for t in types:
            assert interpreter._get_np_dtype(t) == own(t), t
    assert asked == scalars  # each scalar type asked once, pointers never
