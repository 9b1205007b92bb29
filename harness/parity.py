"""Interpreted twins of compiled kernels, for parity mode (`--triton-mode=parity`).

In parity mode each case runs the kernel twice on the GPU machine, in one process, on the
same inputs: compiled (as `gpu` mode runs it) and in Triton's interpreter, with the same
launch plan and config. Both are judged against the oracle; a case where one passes and
the other fails is a *divergence*: a compiler bug, a race, a read of memory nothing wrote,
or code whose result depends on undefined behaviour (`harness.compare` says which side).

Why a twin has to be built: `triton.jit` reads TRITON_INTERPRET when it decorates, so in
a GPU process every kernel, every `@triton.jit` helper it calls and the `@triton.jit`
functions of `triton.language` itself (`tl.sum`, `tl.max`, `x.to(...)`'s relatives, ...)
are `JITFunction`s, which only the compiler can call. `interpreted()` is a context inside
which each of them is replaced by an `InterpretedFunction` of the same Python function
(what `triton.jit` returns under TRITON_INTERPRET=1), wherever a kernel can reach it by
name: the module attributes of every loaded module (a kernel's globals are its module's
attributes, read at call time), the `fn` of an autotuner or heuristics wrapper, and the
methods of `tl.tensor`. On exit all is put back, together with whatever Triton's
interpreter patched into `triton.language` and left patched (a nested `@triton.jit`
helper's call patches the language again and never restores it).

A kernel reached some other way (a tuple of kernels, a closure) would silently run
compiled in its twin's place; instead, any launch of a compiled kernel inside the context
raises `TwinEscaped`, naming the kernel. An autotuned kernel's twin launches the config the
compiled run picked (the compiled run comes first, so the tuner's cache holds the key).

Known limits of the interpreter, declared rather than hidden: it computes bfloat16
arithmetic and `tl.dot` on 16-bit operands wrongly (kernels that keep 16-bit operands for
the GPU's tensor cores upcast them where `in_interpreter()` says so); its `tl.dot` is
exact float32 where the GPU's float32 dot defaults to tf32 (`harness.interpreter_fixes`
reads a tf32 dot's operands as the GPU does); Triton 3.6's interpreter needs NumPy < 2.4.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

_state = types.SimpleNamespace(depth=0)
"""How many `interpreted()` are open, process-wide as the swap itself is: PyTorch runs a
CUDA tensor's backward on a thread of its own, and a thread-local count told the twin of
attention's bfloat16 backward there that it was compiled (no upcast: garbage dots)."""


class TwinEscaped(RuntimeError):
    """A compiled kernel was launched inside `interpreted()`: the twin did not replace it."""


def in_interpreter() -> bool:
    """True when kernels launched now run in Triton's interpreter: TRITON_INTERPRET=1 when
    they were decorated, or inside `interpreted()`. Kernels ask it at launch to work
    around the interpreter's numerics (16-bit `tl.dot`), and harness.autotune when it
    decorates."""
    return os.environ.get("TRITON_INTERPRET") == "1" or _state.depth > 0


def interpreter_problem() -> str | None:
    """Why Triton's interpreter cannot run here, if it cannot: Triton 3.6's fails on
    NumPy >= 2.4 (any `range` with a runtime bound)."""
    import numpy
    import triton

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())

    if version(triton.__version__) < (3, 7) and version(numpy.__version__) >= (2, 4):
        return (
            f"Triton {triton.__version__}'s interpreter fails on NumPy {numpy.__version__} "
            "(a `range` with a runtime bound): install NumPy < 2.4 to interpret kernels"
        )
    return None


def _language_objects() -> list[Any]:
    """What Triton's interpreter patches in `triton.language`, and where its jit functions
    live."""
    import triton.language as tl

    objects = [tl, tl.core, tl.math, tl.standard, tl.tensor, tl.dtype]
    objects += [
        getattr(tl.core, n) for n in ("tensor_descriptor_base", "condition") if hasattr(tl.core, n)
    ]
    return objects


def _kernel_modules() -> list[Any]:
    """Loaded modules (outside triton and torch) that hold a jit function or a wrapper."""
    from triton.runtime.jit import JITFunction, KernelInterface

    found = []
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] in ("triton", "torch", "numpy", "harness"):
            continue
        try:
            values = list(vars(module).values())
        except TypeError:
            continue
        if any(isinstance(v, (JITFunction, KernelInterface)) for v in values):
            found.append(module)
    return found


class _Twins:
    """One interpreted twin per jit function, kept for the process (Triton caches each
    function's rewritten source by the function)."""

    def __init__(self) -> None:
        self._twins: dict[int, Any] = {}
        self.launches = 0

    def of(self, jit_fn: Any) -> Any:
        twin = self._twins.get(id(jit_fn))
        if twin is None:
            twin = self._twins[id(jit_fn)] = self._make(jit_fn)
        return twin

    def _make(self, jit_fn: Any) -> Any:
        from triton.runtime.interpreter import InterpretedFunction

        twins = self

        class Twin(InterpretedFunction):
            def run(self, *args: Any, **kwargs: Any) -> Any:
                twins.launches += 1
                return super().run(*args, **kwargs)

        twin = Twin(jit_fn.fn)
        twin.compiled = jit_fn
        return twin


_TWINS = _Twins()


def _method(twin: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return twin(self, *args, **kwargs)

    method.__name__ = twin.__name__
    return method


@contextlib.contextmanager
def interpreted() -> Iterator[_Twins]:
    """Inside, every jit function a kernel can reach by name runs interpreted (module
    docstring). Yields the twins' registry: `.launches` counts interpreted launches."""
    from triton.runtime.jit import JITFunction, KernelInterface

    from harness import patches

    patches.install_all()  # a twin is bounds-checked and fixed as any interpreted kernel
    with contextlib.suppress(ImportError):  # imported lazily by Triton's argument
        import triton.experimental.gluon  # noqa: F401  (checks tl's jit functions are jit)

    # triton.language: everything, since the interpreter patches it and leaves some of it
    # patched; other modules: the swapped names (the interpreter also adds its own
    # globals to a kernel's module, which the kernel's cached rewrite needs again).
    language = _language_objects()
    saved = [(obj, dict(vars(obj))) for obj in language]
    swapped: list[tuple[Any, str, Any]] = []
    wrappers = []
    try:
        for obj in language + _kernel_modules():
            for name, value in list(vars(obj).items()):
                if isinstance(value, JITFunction):
                    twin = _TWINS.of(value)
                    swapped.append((obj, name, value))
                    setattr(obj, name, _method(twin) if isinstance(obj, type) else twin)
                elif isinstance(value, KernelInterface) and isinstance(
                    getattr(value, "fn", None), JITFunction
                ):
                    wrappers.append((value, value.fn))
                    value.fn = _TWINS.of(value.fn)
        run = JITFunction.run

        def escaped(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise TwinEscaped(
                f"the compiled kernel {self.__name__} was launched inside the interpreted "
                "twin: the launcher reaches it in a way harness.parity cannot replace (a "
                "tuple, a closure); name it at module level"
            )

        JITFunction.run = escaped
        _state.depth += 1
        try:
            yield _TWINS
        finally:
            _state.depth -= 1
            JITFunction.run = run
    finally:
        for wrapper, fn in wrappers:
            wrapper.fn = fn
        for obj, name, value in swapped:
            setattr(obj, name, value)
        for obj, before in saved:
            _restore(obj, before)


def _restore(obj: Any, before: dict[str, Any]) -> None:
    """Put back every attribute of `obj` that changed. Names added are left: the
    interpreter adds its own globals to the modules of the functions it rewrites, and
    their cached rewrites need them again."""
    now = vars(obj)
    for name, value in before.items():
        if now.get(name, _MISSING) is not value:
            try:
                setattr(obj, name, value)
            except (AttributeError, TypeError):  # read-only class slots (__dict__, ...)
                pass


_MISSING = object()


@contextlib.contextmanager
def counting_compiled() -> Iterator[list[int]]:
    """Counts launches of compiled kernels inside (autotuning's timing runs included)."""
    from triton.runtime.jit import JITFunction

    count = [0]
    run = JITFunction.run

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return run(self, *args, **kwargs)

    JITFunction.run = counted
    try:
        yield count
    finally:
        JITFunction.run = run


@contextlib.contextmanager
def counting_interpreted() -> Iterator[list[int]]:
    """`interpreted()`, counting the twins' launches inside."""
    count = [0]
    with interpreted() as twins:
        before = twins.launches
        try:
            yield count
        finally:
            count[0] = twins.launches - before
