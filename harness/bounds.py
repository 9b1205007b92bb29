"""A bounds-checked interpreter: every lane a kernel loads or stores must lie inside the
storage of one of its tensor arguments.

An unmasked load whose stray lanes are never stored leaves every output right, so no
comparison of outputs catches it; on a GPU it reads another tensor's memory, or faults
on another shape. In Triton's interpreter a stray *store* writes to wild host memory and
kills the process. Both are checked here, per lane, before the access happens.

How: the interpreter runs a launch through `GridExecutor`, whose `_init_args_hst` gives
each tensor argument a host tensor over its storage (the storage itself, for a CPU
tensor); every `tl.load` and `tl.store` reaches `InterpreterBuilder.create_masked_load`
or `create_masked_store` with the lanes' addresses and mask. `install()` wraps those
three (Triton 3.6 and 3.9 name them alike): the first records the launch's storages, the
other two check the addresses of the active lanes against them and raise
`OutOfBounds` (naming the kernel, the argument the address is nearest to, how far past
its end or before its start, and the lane) instead of making the access. Concrete, on
the cases the suite draws: no false alarms by design. Accesses through tensor
descriptors, atomics and scratch memory are not checked.

On by default in interpret mode (the plugin and `python -m harness` install it); the
environment variable HARNESS_BOUNDS_CHECK=0 turns it off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from harness.patches import interpreter_patch

ENV = "HARNESS_BOUNDS_CHECK"


class OutOfBounds(RuntimeError):
    """A kernel touched memory outside every tensor it was given."""


@dataclass(frozen=True)
class _Storage:
    name: str
    start: int
    end: int


_launches: list[tuple[str, tuple[_Storage, ...]]] = []
"""The launches being interpreted (nested: a launcher may launch from a pre-run hook)."""


def _tensors(value: Any, name: str) -> Iterator[tuple[str, Any]]:
    if hasattr(value, "untyped_storage"):
        yield name, value
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{name}[{i}]")
    elif hasattr(value, "base") and hasattr(value.base, "untyped_storage"):  # a descriptor
        yield name, value.base


def _storages(fn: Any, args: tuple, kwargs: dict) -> tuple[_Storage, ...]:
    import inspect

    names = list(inspect.signature(fn).parameters)
    named = [*zip(names, args, strict=False), *kwargs.items()]
    found = []
    for name, value in named:
        for label, tensor in _tensors(value, name):
            storage = tensor.untyped_storage()
            start = storage.data_ptr()
            found.append(_Storage(label, start, start + storage.nbytes()))
    return tuple(found)


def _check(kind: str, ptrs: Any, mask: Any) -> None:
    if not _launches:
        return
    kernel, storages = _launches[-1]
    addresses = np.asarray(ptrs.data).astype(np.uint64, copy=False)
    active = np.broadcast_to(np.asarray(mask.data, dtype=bool), addresses.shape)
    size = _element_size(ptrs)
    inside = np.zeros(addresses.shape, dtype=bool)
    for s in storages:
        inside |= (addresses >= s.start) & (addresses + size <= s.end)
    stray = active & ~inside
    if not stray.any():
        return
    lane = tuple(int(i) for i in np.argwhere(stray)[0])
    address = int(addresses[lane])
    raise OutOfBounds(f"{kernel}: {kind} of lane {lane} " + _where(address, size, storages))


def _where(address: int, size: int, storages: tuple[_Storage, ...]) -> str:
    if not storages:
        return f"at address {address:#x}, and the kernel was given no tensor"

    def distance(s: _Storage) -> int:
        return s.start - address if address < s.start else address + size - s.end

    near = min(storages, key=distance)
    if address < near.start:
        before = -(-(near.start - address) // size)
        return f"is {before} element(s) before the start of {near.name!r}"
    index, held = (address - near.start) // size, (near.end - near.start) // size
    return (f"reaches element {index} of {near.name!r}, whose storage holds {held} "
            f"({index - held + 1} past its end)")  # fmt: skip


def _element_size(ptrs: Any) -> int:
    try:
        return int(ptrs.get_element_ty().primitive_bitwidth) // 8 or 1
    except AttributeError:
        return 1


@interpreter_patch(ENV)
def install(interpreter: ModuleType) -> bool:
    """Wrap the interpreter's argument set-up, loads and stores (once per process).
    Returns whether the check is on: False when turned off, or when this Triton's
    interpreter lacks the entry points (said, not hidden: the report header says it)."""
    executor, builder = interpreter.GridExecutor, interpreter.InterpreterBuilder
    if not all(hasattr(executor, "_init_args_hst") and hasattr(builder, name)
               for name in ("create_masked_load", "create_masked_store")):  # fmt: skip
        return False
    init_args, load, store = (
        executor._init_args_hst,
        builder.create_masked_load,
        builder.create_masked_store,
    )
    call = executor.__call__

    def run(self, *args, **kwargs):
        _launches.append((getattr(self.fn, "__name__", "kernel"), ()))
        try:
            return call(self, *args, **kwargs)
        finally:
            _launches.pop()

    def init_args_hst(self, args_dev, kwargs):
        args_hst, kwargs_hst = init_args(self, args_dev, kwargs)
        _launches[-1] = (_launches[-1][0], _storages(self.fn, args_hst, kwargs_hst))
        return args_hst, kwargs_hst

    def masked_load(self, ptrs, mask, other, *rest, **options):  # options: cache_policy...
        _check("a load", ptrs, mask)
        return load(self, ptrs, mask, other, *rest, **options)

    def masked_store(self, ptrs, value, mask, *rest, **options):
        _check("a store", ptrs, mask)
        return store(self, ptrs, value, mask, *rest, **options)

    executor.__call__ = run
    executor._init_args_hst = init_args_hst
    builder.create_masked_load = masked_load
    builder.create_masked_store = masked_store
    return True
