"""Work Triton's interpreter repeats for nothing, done once.

Helper calls patching the language again. The interpreter swaps `triton.language`'s
builtins (`tl.load`, `tl.sum`, the tensor's operators, ...) for interpreted ones while a
kernel runs (`_patch_lang`), and puts them back when the launch ends. It does so again
at *every call of a helper* from inside the kernel (`InterpretedFunction.__call__`,
Triton 3.6 and 3.9 alike): `inspect.getmembers` over `tl`, `tl.tensor`, `tl.math` and a
tensor descriptor's class, every builtin wrapped anew, though the launch has done all of
it and nothing of it depends on the helper. A kernel that calls a helper per tap, per row
or per loop step pays that each time: in the suite's conv2d, LayerNorm and attention
gradient tests, 12% of the time (3.7 of 31 s under cProfile, 26,000 calls). `install()`
makes `_patch_lang` a no-op where every language module the function sees (`tl`,
`tl.core`: those `_patch_lang` looks for in its globals) is patched already: the state
it would set is the state it finds. Where one is not (a helper whose module imports
`triton.language.core` under a name the kernel's does not), it patches as before. A
launch finds the language unpatched, patches it and restores it at its end, as before.

A NumPy dtype looked up by building a table. `_get_np_dtype`, asked for the NumPy type
of a Triton type at every operation (142,000 times in those tests, 1.8 s), builds a
19-entry dict of dtypes, each hashed in Python, to look one up. `install()` remembers
each answer per scalar type (a block type asks for its element's).

On in interpret and parity modes (`harness.modes.activate` installs it, with the other
patches of `harness.patches.install_all`); HARNESS_INTERPRETER_SPEED=0 turns it off.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import numpy as np

from harness.patches import interpreter_patch

ENV = "HARNESS_INTERPRETER_SPEED"

replaced: dict[str, Any] = {}
"""The interpreter's own `_patch_lang` and `_get_np_dtype`, once replaced."""


@interpreter_patch(ENV)
def install(interpreter: ModuleType) -> bool:
    """Skip `_patch_lang` where the language is patched already, and remember
    `_get_np_dtype`'s answers (once per process). Returns whether both are in place:
    False when turned off or when this Triton's interpreter has neither entry point."""
    import triton.language as tl

    patch_lang = getattr(interpreter, "_patch_lang", None)
    scope_type = getattr(interpreter, "_LangPatchScope", None)
    np_dtype = getattr(interpreter, "_get_np_dtype", None)
    if None in (patch_lang, scope_type, np_dtype) or not tl.core.is_builtin(tl.load):
        return False

    def patch_lang_once(fn: Any) -> Any:
        langs = [v for v in fn.__globals__.values() if inspect.ismodule(v) and v in (tl, tl.core)]
        if langs and all(is_patched(lang) for lang in langs):
            return scope_type()  # nothing set, nothing to restore
        return patch_lang(fn)

    replaced.update(_patch_lang=patch_lang, _get_np_dtype=np_dtype)
    _types.update(block=tl.block_type, pointer=tl.pointer_type)
    interpreter._patch_lang = patch_lang_once
    interpreter._get_np_dtype = remembered_np_dtype
    return True


np_dtypes: dict[Any, np.dtype] = {}
"""The NumPy type of each scalar Triton type asked for so far."""
_types: dict[str, type] = {}
_POINTER = np.dtype(np.uint64)  # what the interpreter stores a pointer as


def remembered_np_dtype(tt_dtype: Any) -> np.dtype:
    """The interpreter's `_get_np_dtype(tt_dtype)`, asked once per scalar type."""
    if isinstance(tt_dtype, _types["block"]):
        tt_dtype = tt_dtype.element_ty
    if isinstance(tt_dtype, _types["pointer"]):
        return _POINTER
    found = np_dtypes.get(tt_dtype)
    if found is None:
        found = np_dtypes[tt_dtype] = replaced["_get_np_dtype"](tt_dtype)
    return found


def is_patched(lang: ModuleType) -> bool:
    """Whether `lang` (`triton.language` or its `core`) has the interpreter's builtins in
    place: `_patch_lang` wraps every builtin, `load` among them, in a plain function."""
    import triton.language as tl

    return not tl.core.is_builtin(getattr(lang, "load", None))
