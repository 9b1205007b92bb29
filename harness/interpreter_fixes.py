"""Where Triton's interpreter runs a valid kernel otherwise than compiled Triton, fixed.

Comparisons typed as their operands. The interpreter builds `a < b` (every
`create_icmp*` and `create_fcmp*`) as its other binary operations: NumPy's booleans,
labelled with the operands' type (int32 for `n > 1`, float32 for `x < y`) where the
language says int1. A block of such comparisons behaves, but a *scalar* one broadcast
against a block (`create_splat` fills with the label's type) becomes int32 zeros and
ones: `mask = (cols < n) & (i + 1 < n_blocks)`, a mask a compiled kernel takes, is int32
in the interpreter, which Triton 3.9's interpreter refuses to load with ("mask has
unsupported dtype") and Triton 3.6's takes. `install()` labels every comparison int1.

On in interpret and parity modes (`harness.modes.activate` installs it, with the bounds
check and the trees of `harness.reductions`); HARNESS_INTERPRETER_FIXES=0 turns it off.
"""

from __future__ import annotations

from types import ModuleType

from harness.patches import interpreter_patch

ENV = "HARNESS_INTERPRETER_FIXES"


@interpreter_patch(ENV)
def install(interpreter: ModuleType) -> bool:
    """Label the interpreter's comparisons int1 (once per process). Returns whether the
    fix is in place: False when turned off or when this Triton's interpreter builds
    comparisons some other way."""
    import triton.language as tl

    builder = interpreter.InterpreterBuilder
    names = [n for n in dir(builder) if n.startswith(("create_icmp", "create_fcmp"))]
    if not names or not hasattr(interpreter, "TensorHandle"):
        return False
    for name in names:
        setattr(builder, name, _typed_int1(getattr(builder, name), interpreter.TensorHandle, tl))
    return True


def _typed_int1(compare, handle_type, tl):
    def typed(self, lhs, rhs):
        result = compare(self, lhs, rhs)
        return handle_type(result.data.astype(bool, copy=False), tl.int1)

    return typed
