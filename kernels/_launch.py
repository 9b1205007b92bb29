"""Host-side arithmetic for launch plans, in plain Python, and a cheaper launch.

`triton.cdiv` and `triton.next_power_of_2` are usable inside kernels too: in Triton 3.9
they are constexpr functions, and each host call goes through a wrapper that costs
microseconds. A launcher that plans with a dozen of them spends more time there than in
its own checks, on every call. These two do the same in well under a microsecond
(benchmarks/rows_and_launch_tuning.md#cdiv-and-next_power_of_2).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton import knobs
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction
from triton.tools.tensor_descriptor import TensorDescriptor

from harness import stack
from harness.parity import in_interpreter


def cdiv(x: int, y: int) -> int:
    """ceil(x / y) for integers, y > 0."""
    return -(-x // y)


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << (n - 1).bit_length() if n > 1 else 1


MAX_GRID = (2**31 - 1, 65535, 65535)
"""CUDA's limits on a launch grid, per axis: a larger grid fails at launch with a bare
"invalid argument"."""


def checked_grid(grid: tuple[int, ...], what: str) -> tuple[int, ...]:
    """`grid`, after checking that CUDA can launch it; else a ValueError naming `what`
    (the input whose size asked for it), raised before anything reaches Triton."""
    # Every launch asks: zip without its strict= keyword, no enumerate (half this call's
    # cost). Axes past CUDA's three are not checked.
    axis = 0
    for size, limit in zip(grid, MAX_GRID):  # noqa: B905
        if size > limit:
            raise ValueError(
                f"{what} needs {size} programs on grid axis {axis}, over CUDA's {limit}"
            )
        axis += 1
    return grid


TILE_SLACK = 256
"""How far past a dim's end a tile's lanes may index (the largest block of any kernel):
masked lanes still compute their offsets."""


def offsets_fit_int32(*views: tuple[tuple[int, ...], tuple[int, ...]]) -> bool:
    """Whether every element offset a tile can form in each (shape, strides) view,
    TILE_SLACK lanes past every dim's end included, stays below 2**31: then a kernel may
    index its tiles in int32. int64 tiles of offsets cost a GEMM's epilogue enough
    registers to spill (benchmarks/compile_offline.py counts them); a scalar part of an
    offset (a batch's) is formed in int64 apart and needs no room here."""
    for shape, strides in views:  # loops, not generators: this runs on every GEMM launch
        if len(shape) != len(strides):  # zip(strict=True)'s check, at a third of its cost
            raise ValueError(f"shape {tuple(shape)} and strides {tuple(strides)} differ in length")
        reach = 0
        for size, stride in zip(shape, strides):  # noqa: B905 (checked above)
            reach += (size + TILE_SLACK) * abs(stride)
        if reach >= 2**31:
            return False
    return True


SHARED_MEMORY_BYTES = 227 * 1024
"""The shared memory one block of an sm_90 GPU (H100, H200) may use."""


@functools.cache
def copy_engine(device: torch.device) -> bool:
    """Whether `device` has Hopper's tensor memory accelerator (TMA; sm_90 and up), where
    the TMA designs were timed and run unforced. Elsewhere Triton lowers descriptor
    loads to plain loads (they compile for sm_80, benchmarks/compile_offline.py --arch
    80), untimed."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 9


def early_launch(device: torch.device) -> bool:
    """Whether a launch that reads what the launch before it wrote may be made early on
    `device`: a programmatic dependent launch (`launch_pdl`), sm_90 and up, never in
    Triton's interpreter. Its programs are scheduled as the launch before it ends and
    wait in place (`gdc_wait`) for its writes, instead of the GPU starting a launch only
    once the one before it has ended: 1-2 us between two such launches on an H100
    (benchmarks/layer_norm_tuning.md#bwd_early_sums). Asked at each launch: a parity
    twin (`harness.parity.interpreted`) runs the same launcher in the interpreter."""
    return copy_engine(device) and not in_interpreter()


def tma_readable(x: torch.Tensor) -> bool:
    """Whether a tensor descriptor (Hopper's TMA) can read x through its strides as they
    are: the last dim contiguous, every other stride and the start 16-byte aligned. (A
    block's offset in the last dim must be 16-byte aligned too: on the H200 an unaligned
    one is an illegal instruction, commit 79d0367.)"""
    size = x.element_size()
    return (
        x.stride(-1) == 1
        and all(stride * size % 16 == 0 for stride in x.stride()[:-1])
        and x.data_ptr() % 16 == 0
    )


def multiprocessors(device: torch.device) -> int:
    """The GPU's streaming multiprocessors; 1 off CUDA (the interpreter's "machine")."""
    if device.type != "cuda":
        return 1
    return torch.cuda.get_device_properties(device).multi_processor_count


def gemm_tile_bytes(config: triton.Config, element_bytes: int) -> int:
    """Shared memory of a tiled GEMM config's software pipeline: stages x (BLOCK_M x
    BLOCK_K + BLOCK_K x BLOCK_N) operand elements."""
    k = config.kwargs
    return config.num_stages * (k["BLOCK_M"] + k["BLOCK_N"]) * k["BLOCK_K"] * element_bytes


def fitted(config: triton.Config, element_bytes: int) -> triton.Config:
    """`config` with its K step halved until its pipeline fits SHARED_MEMORY_BYTES: a
    config tuned for 16-bit operands (128 x 256 tiles, K steps of 64, 3 stages: 144 KiB)
    keeps its tile and stages on float32 operands (288 KiB at a K step of 64)."""
    while gemm_tile_bytes(config, element_bytes) > SHARED_MEMORY_BYTES and (
        config.kwargs["BLOCK_K"] > 16
    ):
        blocks = {**config.kwargs, "BLOCK_K": config.kwargs["BLOCK_K"] // 2}
        config = triton.Config(
            blocks,
            num_warps=config.num_warps,
            num_stages=config.num_stages,
            pre_hook=config.pre_hook,
        )
    return config


def fitting_configs(operand: str) -> Callable[..., list[triton.Config]]:
    """An autotuner's `early_config_prune`: the configs whose pipeline fits for the
    element size of the kernel argument `operand` (all of them if none does). The tuner
    would time an unfit one as infinitely slow, after compiling it for nothing."""

    def prune(configs: list[triton.Config], named_args: dict[str, Any], **_: Any) -> list:
        size = named_args[operand].element_size()
        fit = [c for c in configs if gemm_tile_bytes(c, size) <= SHARED_MEMORY_BYTES]
        return fit or list(configs)

    return prune


# ----------------------------------------------------------------------------------------
# A launch without Triton's per-call dispatch, for a specialization already compiled.
#
# `kernel[grid](*args)` binds the arguments, specializes each one (dtype, 16-byte
# alignment, ints equal to 1 or divisible by 16, i32 or i64), builds a key, looks the
# compiled kernel up, checks the globals it read, then builds launch metadata for hooks
# nobody set: several microseconds of Python, on every call. `fast(kernel)[grid](*args)`
# does the same launch, but remembers the compiled kernel of each specialization it has
# launched (keyed on the same facts Triton keys on, computed more cheaply: by a key
# function generated for each kernel and call pattern, `_make_keyer`) and hands the next
# launch of that specialization straight to the CUDA launcher. Anything it does not
# recognize goes through Triton: the interpreter, a twin or counter of harness.parity
# (which replace JITFunction.run), launch hooks (profilers), a changed global, an argument
# of another kind. It saves a part of a call's host time; the rest is Triton's C launcher
# and the launchers' own checks and allocations
# (benchmarks/rows_and_launch_tuning.md#fast-launch).
# ----------------------------------------------------------------------------------------

COMPILE_OPTIONS: dict[str, Any] = {"enable_fp_fusion": True}
"""Compile options of every launch of the kernels here, passed where Triton compiles
(its dispatch: a specialization's first launch, a tuner's trials). A multiply and an add
fused into one FMA, one instruction and one rounding, is the default of Triton 3.6 and
3.9; 3.9 warns that 3.10 turns it off unless TRITON_DEFAULT_FP_FUSION says otherwise. The
depthwise convolution is bound by its FMAs (49 an output at 7 x 7): split into a multiply
and an add they would be 98 instructions. So it is asked for, not left to a default."""

_MISSING = object()
_TRITON_RUN = JITFunction.run  # harness.parity replaces it for its twins and counters
_TORCH_CURRENT_DEVICE = torch.cuda.current_device
_GET_DEVICE = getattr(torch._C, "_cuda_getDevice", None)  # absent from CPU builds
_HOOK_CHAIN = getattr(knobs, "HookChain", None)  # Triton 3.6 and 3.9 (a type, or None)


def current_device() -> int:
    """torch.cuda.current_device(), without its Python wrapper where it is torch's own (a
    test may replace it), which every launch and replay would pay
    (benchmarks/rows_and_launch_tuning.md#current_device). Called where a launch has been
    made, so CUDA is initialized."""
    if _GET_DEVICE is not None and torch.cuda.current_device is _TORCH_CURRENT_DEVICE:
        return _GET_DEVICE()
    return torch.cuda.current_device()


class _Unrecognized(Exception):
    """An argument whose specialization `_arg_key` does not model."""


def _arg_key(value: Any) -> Any:
    """What Triton specializes a non-constexpr argument on (native specialize_impl, the same
    in 3.6 and 3.9), as a hashable key at least as fine as Triton's."""
    kind = type(value)
    if kind is int:
        if 1 < value < 2**31:  # most ints a launch passes (sizes, strides): a bool is cheaper
            return value & 15 == 0
        if not -(2**63) <= value < 2**64:
            raise _Unrecognized(value)
        return (value == 1, value & 15 == 0, -(2**31) <= value < 2**31, value < 2**63)
    if kind is float or kind is bool or value is None:
        return kind
    if isinstance(value, torch.Tensor):
        return value.dtype, value.data_ptr() & 15 == 0
    if kind is TensorDescriptor:  # Triton keys on dtype and block; the launcher reads the rest
        base = value.base
        flags = value.padding, getattr(value, "round_f32_to_tf32", False)  # (3.9 has the flag)
        return kind, base.dtype, base.data_ptr() & 15 == 0, tuple(value.block_shape), flags
    raise _Unrecognized(kind)


def _state(kernel: Any) -> tuple | None:
    """None where a launch of `kernel` must go through Triton: not a compiled JITFunction
    run by Triton's own JITFunction.run, a pre-run or launch hook set, or a global it read
    when compiled changed (Triton raises on a changed one: its path will). Else what else
    Triton keys a compiled kernel on: its debug modes and instrumentation. A replay asks
    on every call, so each fact is read the cheapest exact way: a hook chain's list
    directly (Triton 3.6 and 3.9 keep launch hooks in one), the float sanitizer's
    environment knob (3.9) only where it can change the binary, under an instrumentation
    mode (benchmarks/rows_and_launch_tuning.md#_state)."""
    if type(kernel) is not JITFunction or JITFunction.run is not _TRITON_RUN:
        return None
    runtime, compilation = knobs.runtime, knobs.compilation
    if kernel.pre_run_hooks or runtime.add_stages_inspection_hook is not None:
        return None
    enter, leave = runtime.launch_enter_hook, runtime.launch_exit_hook
    if (enter.calls if type(enter) is _HOOK_CHAIN else enter is not None) or (
        leave.calls if type(leave) is _HOOK_CHAIN else leave is not None
    ):
        return None
    for (name, _), (value, scope) in kernel.used_global_vals.items():
        now = scope.get(name, _MISSING)
        if now is value:
            continue
        if type(now) is tl.constexpr and type(value) is tl.constexpr:  # Triton keeps a copy
            now, value = now.value, value.value  # (constexpr's own != costs a microsecond)
        if now != value:
            return None
    mode = compilation.instrumentation_mode
    if not mode:  # no instrumentation, so no float sanitizer for its knob to change
        return kernel.debug, runtime.debug, mode
    return kernel.debug, runtime.debug, mode, getattr(compilation, "fpsan_homomorphic_casts", 0)


_KEYERS: dict[tuple, tuple[Any, Callable[[tuple, dict], tuple[tuple, tuple, tuple]]]] = {}
"""(id(kernel), number of positional args, meta's names in order) -> (the kernel, its keyer);
the kernel is kept so that its id is never reused."""
_COMPILED: dict[tuple, tuple] = {}
"""Specialization key -> (compiled kernel, its launcher, function handle, metadata)."""

# One non-constexpr argument `a` of a launch: its value for the launcher `p` (a tensor's
# address) and its key `k`, `_arg_key` inlined for a tensor and an int in range.
_ARGUMENT = """\
    if isinstance({a}, Tensor):  # nn.Parameter too
        {p} = {a}.data_ptr()
        {k} = ({a}.dtype, {p} & 15 == 0)
    elif type({a}) is int and 1 < {a} < 2147483648:
        {p}, {k} = {a}, {a} & 15 == 0
    elif type({a}) is int and -9223372036854775808 <= {a} < 18446744073709551616:
        {p} = {a}
        {k} = ({a} == 1, {a} & 15 == 0, -2147483648 <= {a} < 2147483648, {a} < 2**63)
    else:
        {p}, {k} = {a}, arg_key({a})
"""


def _make_keyer(kernel: Any, n_args: int, meta_names: tuple[str, ...]) -> Callable | None:
    """A function of (args, meta) for launches of `kernel` with `n_args` positional
    arguments and these meta names: (every parameter's value in order, a tensor's as its
    address, the specialization: `_arg_key` of each argument or (type, value) of a
    constexpr, the launch options). Generated once per call pattern, so that a launch
    pays for no loop or generic dispatch. A parameter given by no one takes its default,
    as Triton binds it; None if it has none (Triton raises).

    A tensor reaches the CUDA launcher as its address, an int: given the tensor, Triton's
    launcher calls its data_ptr() again and asks the driver to translate the address
    (cuPointerGetAttribute), to catch a CPU tensor, which the ops' launchers have
    refused already (`kernels._checks.check_tensor`)."""
    params = kernel.params
    names = [p.name for p in params]
    left = [p for p in params[n_args:] if p.name not in meta_names]
    if n_args > len(names) or any(not p.has_default for p in left):
        return None
    values, spec, body = [], [], []
    for i, param in enumerate(params):
        a = f"a{i}"
        if param.is_constexpr:
            values.append(a)
            spec.append(f"(type({a}), {a})")
            continue
        values.append(f"p{i}")
        spec.append(f"k{i}")
        body.append(_ARGUMENT.format(a=a, p=f"p{i}", k=f"k{i}"))
    given = "".join(
        f"    a{i} = meta[{names[i]!r}]\n"
        if names[i] in meta_names
        else f"    a{i} = defaults[{i}]\n"
        for i in range(n_args, len(names))
    )
    unpack = f"    ({''.join(f'a{i}, ' for i in range(n_args))}) = args\n" if n_args else ""
    as_tuple = lambda items: "(" + "".join(f"{item}, " for item in items) + ")"
    options = [f"({m!r}, meta[{m!r}])" for m in meta_names if m not in names]
    returned = ", ".join(as_tuple(items) for items in (values, spec, options))
    source = "def keyer(args, meta):\n" + unpack + given + "".join(body)
    source += f"    return {returned}\n"
    defaults = {i: p.default for i, p in enumerate(params) if p.has_default}
    scope: dict[str, Any] = {"Tensor": torch.Tensor, "arg_key": _arg_key, "defaults": defaults}
    exec(compile(source, f"<launch key of {kernel.__name__}>", "exec"), scope)
    return scope["keyer"]


def _launch_key(kernel: Any, args: tuple, meta: dict) -> tuple[tuple, tuple] | None:
    """(every parameter's value in order, the key of this launch's specialization), or
    None where a launch of `kernel` must go through Triton."""
    state = _state(kernel)
    if state is None:
        return None
    pattern = (id(kernel), len(args), tuple(meta))
    entry = _KEYERS.get(pattern)
    if entry is None:
        entry = _KEYERS[pattern] = (kernel, _make_keyer(kernel, len(args), pattern[2]))
    keyer = entry[1]
    if keyer is None:  # a parameter left to its default
        return None
    try:
        values, spec, options = keyer(args, meta)
        key = (id(kernel), current_device(), spec, options, *state)
        hash(key)
    except (TypeError, ValueError, _Unrecognized):  # an odd argument
        return None
    return values, key


def direct_launcher(run: Any) -> Callable[..., None]:
    """`run` (a compiled kernel's CUDA launcher, called as `run(grid_x, grid_y, grid_z,
    stream, function, packed_metadata, launch_metadata, enter_hook, exit_hook, *values)`),
    or a function of the same arguments that hands them straight to Triton's C launcher.

    The launcher's Python `__call__` first allocates the kernel's global and profiling
    scratch, then calls its C function with those and the compile-time launch options
    (cooperative grid, programmatic dependent launch). For a kernel that needs no scratch
    (none of ours do), what it passes is fixed per kernel: this function passes it, and
    skips a Python call and two closures a launch
    (benchmarks/rows_and_launch_tuning.md#direct_launcher). The two argument orders are
    Triton 3.6's and 3.9's; anything else (scratch, 3.9's sanitizer, another backend or
    version) keeps `run`. Its `call` attribute is the same C call as source (a template
    and the values it names) for a replay's generated launches (`_replayer`) to make
    inline, one Python frame less. tests/test_fast_launch.py checks that all three make
    the same C call."""
    fixed = [getattr(run, name, None) for name in _DIRECT_FIELDS]
    if type(run).__name__ != "CudaLauncher" or None in fixed or any(fixed[:2]):
        return run
    if getattr(run, "gsan_enabled", False):
        return run
    c_launch, cooperative, pdl = run.launch, run.launch_cooperative_grid, run.launch_pdl
    annotations, kernel_signature = getattr(run, "arg_annotations", None), None
    if annotations is not None:  # Triton 3.9: one C launcher for every kernel, values last
        kernel_signature = run.kernel_signature

        def direct(gx, gy, gz, stream, function, metadata, launch_metadata, enter, exit_,
                   *values):  # fmt: skip
            c_launch(gx, gy, gz, stream, function, cooperative, pdl, metadata,
                     launch_metadata, enter, exit_, None, None, annotations, kernel_signature,
                     values)  # fmt: skip

        direct.call = (  # type: ignore[attr-defined]
            "{c_launch}({grid}, stream, {function}, {cooperative}, {pdl}, {metadata}, None, "
            "None, None, None, None, {annotations}, {kernel_signature}, ({values}))",
            dict(c_launch=c_launch, cooperative=cooperative, pdl=pdl, annotations=annotations,
                 kernel_signature=kernel_signature),
        )  # fmt: skip
        return direct

    def direct_36(gx, gy, gz, stream, function, metadata, launch_metadata, enter, exit_,
                  *values):  # fmt: skip
        c_launch(gx, gy, gz, stream, function, cooperative, pdl, None, None, metadata,
                 launch_metadata, enter, exit_, *values)  # fmt: skip

    direct_36.call = (  # type: ignore[attr-defined]
        "{c_launch}({grid}, stream, {function}, {cooperative}, {pdl}, None, None, {metadata}, "
        "None, None, None, {values})",
        dict(c_launch=c_launch, cooperative=cooperative, pdl=pdl),
    )
    return direct_36


_DIRECT_FIELDS = (
    "global_scratch_size", "profile_scratch_size", "launch", "launch_cooperative_grid",
    "launch_pdl",
)  # fmt: skip
"""What `direct_launcher` reads of a CUDA launcher: the first two must be 0."""


def _through_triton(kernel: Any, grid: Any, args: tuple, meta: dict[str, Any]) -> Any:
    """`kernel[grid](*args, **meta)` through Triton's dispatch, with COMPILE_OPTIONS. An
    interpreted kernel runs with headroom on CPython's frame stack (`harness.stack`): the
    interpreter's calls go up and down by hundreds of frames, and from an unlucky depth
    of the caller's, they map and unmap a frame chunk at every crossing of its edge, 5
    times slower (benchmarks/rows_and_launch_tuning.md#call-depth)."""
    note_dispatched()
    launch = kernel[grid]
    if type(kernel) is InterpretedFunction:
        return stack.with_headroom(launch, *args, **(meta | COMPILE_OPTIONS))
    return launch(*args, **(meta | COMPILE_OPTIONS))


def _launch_fast(kernel: Any, grid: tuple[int, ...], args: tuple, meta: dict[str, Any]) -> None:
    """`kernel[grid](*args, **meta)`, straight to the CUDA launcher where the launch's
    specialization was compiled and launched before (`_COMPILED`)."""
    launch = _launch_key(kernel, args, meta)
    entry = _COMPILED.get(launch[1]) if launch else None
    if entry is None:  # Triton's way: compiles if it must, then launches
        compiled = _through_triton(kernel, grid, args, meta)
        if launch and compiled is not None and not hasattr(compiled, "result"):
            run = direct_launcher(compiled.run)  # its handles were loaded by the launch above
            _COMPILED[launch[1]] = (compiled, run, compiled.function, compiled.packed_metadata)
        return
    values, key = launch
    _, run, function, packed_metadata = entry
    capture = _CAPTURE.get()
    if capture is not None:  # a `Replays.capturing()` is open
        capture.append((kernel, grid, values, key, entry))
    run(
        grid[0], grid[1] if len(grid) > 1 else 1, grid[2] if len(grid) > 2 else 1,
        torch._C._cuda_getCurrentRawStream(key[1]), function, packed_metadata,
        None, None, None,  # launch metadata and hooks: none set (`_state`)
        *values,  # every parameter, constexprs included: the launcher skips those
    )  # fmt: skip


# ----------------------------------------------------------------------------------------
# Replays: a whole launcher call skipped for a signature it has launched before.
#
# A launcher checks its arguments, plans (tiles, the tuned config, int32 or int64
# offsets), allocates its output and launches. For arguments of one signature (shapes,
# strides, dtypes, devices, 16-byte alignment, the options) each of those steps gives the
# same answer, and the launches differ only in the tensors' addresses. `Replays` keeps, per
# signature, the launches as they reached the CUDA launcher (captured in `_launch_fast`),
# and a later call of that signature sends them again with its own tensors' addresses: its
# checks passed for that signature, so they pass again. A launch may read a temporary the
# call made for its later launches (an argument copied to another layout by an earlier
# launch): the launcher names it (`note_temporary`), and a replay allocates its own.
# A replay is refused (the launcher runs in full, and captures again) where `fast` would
# go through Triton, where the current device or Triton's debug options changed, or where
# a note of the layers above says so (the tuner forgot its choice). A call with a launch
# that went through Triton's dispatch is not kept (a tuner's, `note_dispatched`), nor one
# where PyTorch wrote one of its tensors in place (its `_version` moved; a replay would
# skip that write). What it costs in reading: a launcher that uses it names its signature
# and the tensors the launches read, in one place each; and a replay allocates and
# launches through a function generated for it (`_replayer`), as `fast` keys through one
# (`_make_keyer`). Measured: benchmarks/rows_and_launch_tuning.md#replays.
# ----------------------------------------------------------------------------------------

_CAPTURE: contextvars.ContextVar[list | None] = contextvars.ContextVar("capture", default=None)
"""The launches and notes of the launcher call being captured, or None."""


class _Temporary(NamedTuple):
    tensor: torch.Tensor


_UNCAPTURED = object()
"""In a capture: a launch went through Triton's dispatch, so a replay could not send it."""


def note_dispatched() -> None:
    """For a launcher: a launch of this call goes through Triton's dispatch (a tuner's,
    which launches every config, then the chosen one), not `fast`: if the call is being
    captured, it is not kept, since a replay would send the call's other launches only."""
    capture = _CAPTURE.get()
    if capture is not None:
        capture.append(_UNCAPTURED)


def note_temporary(tensor: torch.Tensor) -> torch.Tensor:
    """For a launcher: `tensor` is new, made by this call for its launches, and written
    whole by one of them before any other reads it (an argument's copy in another layout).
    If the call is being captured, a replay allocates one of its layout in its place.
    A tensor made any other way (a PyTorch copy) must not be named: a launch that reads it
    is not replayed. Returns `tensor`."""
    capture = _CAPTURE.get()
    if capture is not None:
        capture.append(_Temporary(tensor))
    return tensor


def note_replay(still_valid: Callable[[], bool], on_replay: Callable[[], None]) -> None:
    """For a layer above the launch (a tuner's, a plan's): if the call is being captured,
    a replay of it first asks `still_valid()`, and calls `on_replay()` after its launch."""
    capture = _CAPTURE.get()
    if capture is not None:
        capture.append((still_valid, on_replay))


class _ReplayedLaunch(NamedTuple):
    kernel: Any
    grid: tuple[int, int, int]
    debug_options: tuple
    values: tuple  # what the launcher was given, every tensor as its address
    slots: tuple[tuple[int, int], ...]  # (position in values, index into the call's tensors)
    descriptors: tuple[tuple[int, int], ...]  # the same, for a descriptor over that tensor
    run: Any
    function: Any
    packed_metadata: Any


class _Replay(NamedTuple):
    launches: tuple[_ReplayedLaunch, ...]  # in the captured call's order
    send: Callable[[Sequence[torch.Tensor | None]], None]  # `_replayer`'s, on given tensors
    call: Callable[[Sequence[torch.Tensor]], Any] | None  # `_replayer`'s, outputs allocated
    kernels: tuple[tuple[Any, tuple], ...]  # each kernel once, with its `_state`
    device: int
    checks: tuple[Callable[[], bool], ...]
    extra: Any  # the launcher's own


def _rebased(descriptor: TensorDescriptor, tensor: torch.Tensor | None) -> TensorDescriptor:
    """`descriptor` over `tensor` (None: over nothing, for a replay to keep without holding
    a tensor): Triton's launcher reads only its base's address, the rest from the
    descriptor. A copy, not a new descriptor: its checks passed for this signature, and
    cost microseconds a descriptor (benchmarks/rows_and_launch_tuning.md#descriptor)."""
    copy = object.__new__(TensorDescriptor)
    copy.__dict__.update(descriptor.__dict__)
    copy.base = tensor
    return copy


_DESCRIPTORS: dict[tuple, TensorDescriptor] = {}
"""One checked descriptor per (shape, strides, dtype, block): `descriptor`'s templates."""


def descriptor(x: torch.Tensor, block: Sequence[int]) -> TensorDescriptor:
    """A tensor descriptor over all of x, through its strides, in blocks of `block`. The
    caller has checked that the copy engine can read x (`tma_readable`): Triton's checks
    of shape, strides and block run once per signature (microseconds a descriptor), and a
    later descriptor of that signature is a copy over x (`_rebased`)."""
    key = (x.shape, x.stride(), x.dtype, tuple(block))
    template = _DESCRIPTORS.get(key)
    if template is None:
        if len(_DESCRIPTORS) >= 1024:  # many shapes: start again rather than grow
            _DESCRIPTORS.clear()
        checked = TensorDescriptor(x, list(x.shape), list(x.stride()), list(block))
        template = _DESCRIPTORS[key] = _rebased(checked, None)
    return _rebased(template, x)


_RUN_CALL = "{run}({grid}, stream, {function}, {metadata}, None, None, None, {values})"
"""A CUDA launcher's call as source, where it has none of its own (`direct_launcher`)."""


_LAYOUT = ("shape", "strides", "dtype", "device")


class _Outputs(NamedTuple):
    """What a replay allocates and returns, for a launcher decorated with `replayed`."""

    n_inputs: int  # the call's tensors past these are its outputs
    layouts: tuple  # per output: None, an input's index (`empty_like`) or (shape, strides,
    # dtype, device)
    as_tuple: bool  # whether the launcher returns a tuple


def _replayer(
    launches: Sequence[_ReplayedLaunch], n_given: int, temporaries: Sequence[tuple],
    device: int, after: Sequence[Callable[[], None]], outputs: _Outputs | None = None,
) -> Callable:  # fmt: skip
    """A function generated for one replay, with no loop over anything: it allocates the
    replay's temporaries, reads the current stream, makes `launches` (each one call of
    its CUDA launcher, or of Triton's C launcher where `direct_launcher` gives the call as
    source), its fixed values bound once, its tensors' addresses (and descriptors'
    copies) read in place, then calls `after`. Without `outputs`, `send(tensors)` takes
    the call's `n_given` tensors, outputs included; with them, `call(inputs)` takes the
    call's input tensors, allocates its outputs and returns them as the launcher does. (A
    launch's tensor index counts the given tensors, then the temporaries.)"""
    scope: dict[str, Any] = {"rebased": _rebased, "torch": torch, "device": device}
    body = []

    def allocated(name: str, layout: tuple) -> str:  # its (shape, strides, dtype, device)
        parts = [f"{part}_{name}" for part in _LAYOUT]
        scope.update(zip(parts, layout, strict=True))
        return "torch.empty_strided({}, {}, dtype={}, device={})".format(*parts)

    if outputs:
        for j, layout in enumerate(outputs.layouts):
            if layout is None or type(layout) is int:
                source = "None" if layout is None else f"torch.empty_like(inputs[{layout}])"
            else:
                source = allocated(f"o{j}", layout)
            body.append(f"o{j} = {source}")
    for m, temporary in enumerate(temporaries):
        body.append(f"t{m} = {allocated(f't{m}', temporary)}")

    def tensor(index: int) -> str:  # the call's tensor `index` in the generated source
        if index >= n_given:
            return f"t{index - n_given}"
        if outputs is None:
            return f"tensors[{index}]"
        n_inputs = outputs.n_inputs
        return f"inputs[{index}]" if index < n_inputs else f"o{index - n_inputs}"

    body.append("stream = torch._C._cuda_getCurrentRawStream(device)")
    for i, launch in enumerate(launches):
        values = [f"v{i}_{p}" for p in range(len(launch.values))]
        scope.update(zip(values, launch.values, strict=True))
        for position, index in launch.slots:
            values[position] = f"{tensor(index)}.data_ptr()"
        for position, index in launch.descriptors:
            values[position] = f"rebased(v{i}_{position}, {tensor(index)})"
        template, fixed = getattr(launch.run, "call", None) or (_RUN_CALL, {"run": launch.run})
        fixed = {**fixed, "function": launch.function, "metadata": launch.packed_metadata}
        names = {name: f"{name}{i}" for name in fixed}
        scope.update({names[name]: value for name, value in fixed.items()})
        grid, spread = ", ".join(map(str, launch.grid)), "".join(f"{v}, " for v in values)
        body.append(template.format(grid=grid, values=spread, **names))
    for a, hook in enumerate(after):
        scope[f"after{a}"] = hook
        body.append(f"after{a}()")
    if outputs is None:
        header = "def send(tensors):"
    else:
        header = "def call(inputs):"
        returned = [f"o{j}" for j in range(len(outputs.layouts))]
        as_tuple = "(" + "".join(f"{o}, " for o in returned) + ")"
        body.append(f"return {as_tuple if outputs.as_tuple else returned[0]}")
    exec(header + "\n" + "".join(f"    {line}\n" for line in body), scope)
    return scope["call" if outputs else "send"]


class Replays:
    """One launcher's captured launches, by signature (see above)."""

    def __init__(self) -> None:
        self._by_signature: dict[Any, _Replay] = {}

    def get(self, signature: Any) -> _Replay | None:
        """The replay kept for `signature`, if it may run now."""
        replay = self._by_signature.get(signature)
        if replay is None:
            return None
        if replay.device != current_device():
            return None
        for kernel, state in replay.kernels:
            if _state(kernel) != state:  # None != a tuple
                return None
        for still_valid in replay.checks:
            if not still_valid():
                return None
        return replay

    @staticmethod
    def launch(replay: _Replay, tensors: Sequence[torch.Tensor | None]) -> None:
        """`replay`'s launches on `tensors` (the call's, in the captured call's order),
        and on temporaries of its own."""
        replay.send(tensors)

    @contextlib.contextmanager
    def capturing(self, signature: Any) -> Iterator[Callable[..., None]]:
        """Around a launcher's call in full: yields `keep(tensors, extra, outputs)`, to call
        once its launches are done with every argument and output they may read or write
        (`outputs`, an `_Outputs`: the last of `tensors` are the call's outputs, which a
        replay's `call` allocates and returns). The call
        is kept if each of its launches went through `_launch_fast`'s direct path (at least
        one, all on one device), and each of their tensors, and each tensor descriptor's
        base, starts where one of `tensors` or of the call's temporaries (`note_temporary`)
        does, at an address no other of them has."""
        captured: list = []
        token = _CAPTURE.set(captured)

        def keep(tensors: tuple, extra: Any = None, outputs: _Outputs | None = None) -> None:
            if any(c is _UNCAPTURED for c in captured):  # a launch a replay could not send
                return
            launches = [c for c in captured if type(c) is tuple and len(c) == 5]
            temporaries = [c.tensor for c in captured if type(c) is _Temporary]
            if not launches or len({key[1] for *_, key, _ in launches}) != 1:
                return
            written = _versions(temporaries)
            if written is not None and any(written):  # by PyTorch, not by a launch
                return
            index_of: dict[int, int] = {}
            for index, tensor in enumerate((*tensors, *temporaries)):
                if tensor is not None:
                    address = tensor.data_ptr()
                    if address in index_of:  # two tensors at one address: ambiguous
                        return
                    index_of[address] = index
            kept = []
            for kernel, grid, values, key, entry in launches:
                slots, descriptors, values = [], [], list(values)
                for position, spec in enumerate(key[2]):
                    value = values[position]
                    if type(value) is TensorDescriptor:  # kept without its tensor (below)
                        address = value.base.data_ptr()
                        if address not in index_of:
                            return
                        descriptors.append((position, index_of[address]))
                        values[position] = _rebased(value, None)
                    elif type(spec) is tuple and len(spec) == 2 and type(spec[0]) is torch.dtype:
                        if value not in index_of:  # a tensor the call did not name
                            return
                        slots.append((position, index_of[value]))
                grid3 = (grid[0], grid[1] if len(grid) > 1 else 1, grid[2] if len(grid) > 2 else 1)
                kept.append(_ReplayedLaunch(
                    kernel, grid3, tuple(key[4:]), tuple(values), tuple(slots),
                    tuple(descriptors), entry[1], entry[2], entry[3],
                ))  # fmt: skip
            layouts = tuple((t.shape, t.stride(), t.dtype, t.device) for t in temporaries)
            notes = [c for c in captured if type(c) is tuple and len(c) == 2]
            kernels = {launch.kernel: launch.debug_options for launch in kept}
            device, checks = launches[0][3][1], tuple(n[0] for n in notes)
            made = (kept, len(tensors), layouts, device, [n[1] for n in notes])
            send = _replayer(*made)
            call = None if outputs is None else _replayer(*made, outputs)
            self._by_signature[signature] = _Replay(
                tuple(kept), send, call, tuple(kernels.items()), device, checks, extra,
            )  # fmt: skip

        try:
            yield keep
        finally:
            _CAPTURE.reset(token)


def _signature(value: Any) -> Any:
    """What a launcher's checks and plan may read of an argument: a tensor's shape,
    strides, dtype, device and 16-byte alignment; anything else with its type (True == 1
    == 1.0, and a check may take one and refuse another), which must hash. A kernel by
    identity: Triton hashes its source key, which costs more
    (benchmarks/rows_and_launch_tuning.md#_signature)."""
    if isinstance(value, torch.Tensor):
        return value.shape, value.stride(), value.dtype, value.get_device(), value.data_ptr() & 15
    kind = type(value)
    if kind is JITFunction:  # by identity, not Triton's hash of its source key
        return kind, id(value)  # (`replayed` keeps it alive while a replay names it)
    return kind, value


def _versions(tensors: Sequence[Any]) -> tuple[int, ...] | None:
    """Each tensor's version (0 for anything else): PyTorch's in-place writes count there, a
    kernel's do not. None under inference mode, whose tensors keep no version (the
    launchers' tests, run outside it, check that no launcher writes in place)."""
    try:
        return tuple([t._version if isinstance(t, Tensor) else 0 for t in tensors])
    except RuntimeError:
        return None


def _whole(output: Any) -> bool:
    """Whether `output` is a tensor that spans its allocation from its start, as a replay
    allocates it (`_allocation`). One view of a larger allocation (two outputs made as
    rows of one tensor) is not: a launch through its address that wrote the rest would
    write past the replay's output."""
    if type(output) is not Tensor or output.storage_offset() != 0:
        return False
    layout = zip(output.shape, output.stride(), strict=True)
    span = 1 + sum((size - 1) * stride for size, stride in layout)
    return output.untyped_storage().nbytes() <= span * output.element_size()


def _allocation(output: Tensor | None, inputs: Sequence[Tensor]) -> Any:
    """How a replay allocates `output`: None; the index of an input that `torch.empty_like`
    copies its layout from (cheaper than `empty_strided`:
    benchmarks/rows_and_launch_tuning.md#_allocation); else its shape, strides, dtype and
    device."""
    if output is None:
        return None
    layout = (output.shape, output.stride(), output.dtype, output.device)
    for index, given in enumerate(inputs):
        if type(given) is not Tensor:  # a subclass (nn.Parameter) may allocate its own kind
            continue
        if (given.shape, given.stride(), given.dtype, given.device) != layout:
            continue
        if torch.empty_like(given, device="meta").stride() == output.stride():  # no memory
            return index
    return layout


def replayed(context: Callable[[], Any] = lambda: None) -> Callable[[Callable], Callable]:
    """Decorator: the launcher `fn(*args) -> tensor, or tuple of tensors and None` replayed
    for a signature it launched before (`Replays`). Its signature: every argument's
    (`_signature`), keywords too, and `context()`, which names whatever else its plan
    reads (a forced config, module constants a tuning script sets). Its outputs are
    new tensors that its launches write whole: a replay allocates them, uninitialized,
    as the captured call did (an output made by torch.zeros for a kernel to add into
    would come back unzeroed: such a launcher must not be decorated). An argument without a
    signature (unhashable, a tensor without storage) is never replayed: the launcher's
    checks get to say what is wrong with it."""

    def wrap(fn: Callable) -> Callable:
        replays = Replays()

        @functools.wraps(fn)
        def launcher(*args: Any, **kwargs: Any) -> Any:
            # Every call of an op runs this: lists and loops, no generators, a tensor's
            # signature inlined, the keywords' share built only when there are any.
            signed, inputs = [], []
            try:
                for a in args:
                    if isinstance(a, Tensor):  # nn.Parameter too
                        signed.append((a.shape, a.stride(), a.dtype, a.get_device(),
                                       a.data_ptr() & 15))  # fmt: skip
                        inputs.append(a)
                    else:
                        signed.append(_signature(a))
                if kwargs:
                    signed += [(k, _signature(v)) for k, v in kwargs.items()]
                    inputs += [v for v in kwargs.values() if isinstance(v, Tensor)]
                signature = (tuple(signed), len(args), context())
                replay = replays.get(signature)  # TypeError: unhashable
            except (RuntimeError, TypeError):
                return fn(*args, **kwargs)
            if replay is not None:
                return replay.call(inputs)
            with replays.capturing(signature) as keep:
                before = _versions(inputs)
                result = fn(*args, **kwargs)
                as_tuple = type(result) is tuple
                outputs = result if as_tuple else (result,)
                # Kept only where the launches alone wrote what the call did: no input
                # written in place, no output written since it was made.
                after = _versions((*inputs, *outputs))
                untouched = (
                    before is None or after is None or after == (*before, *(0 for _ in outputs))
                )
                if untouched and all(o is None or _whole(o) for o in outputs):
                    layouts = tuple([_allocation(o, inputs) for o in outputs])
                    given = (*args, *kwargs.values())
                    kernels = tuple([a for a in given if type(a) is JITFunction])
                    allocated = _Outputs(len(inputs), layouts, as_tuple)
                    keep((*inputs, *outputs), (as_tuple, layouts, kernels), allocated)
            return result

        launcher.replays = replays  # type: ignore[attr-defined]
        return launcher

    return wrap


class _Launch:
    """`fast(kernel)[grid]`: a launch of `kernel` over `grid`, given its arguments."""

    __slots__ = ("grid", "kernel")

    def __init__(self, kernel: Any, grid: tuple[int, ...]) -> None:
        self.kernel, self.grid = kernel, grid

    def __call__(self, *args: Any, **meta: Any) -> None:
        _launch_fast(self.kernel, self.grid, args, meta)


class _Fast:
    __slots__ = ("kernel",)

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def __getitem__(self, grid: tuple[int, ...]) -> _Launch:
        return _Launch(self.kernel, grid)


def launch_resolved(kernel: Any, grid: Any, args: tuple, meta: dict[str, Any]) -> None:
    """`kernel[grid](*args, **meta)` through `fast`, a grid callable first called with
    `meta` (an autotuned launch's grid reads the config's blocks); one that reads
    anything else goes through Triton, which binds every argument for it. `meta` is
    the caller's: it is read, not kept nor changed."""
    if callable(grid):
        try:
            grid = grid(meta)
        except KeyError:
            _through_triton(kernel, grid, args, meta)
            return
    _launch_fast(kernel, grid, args, meta)  # as fast(kernel)[grid], without its two objects


def fast(kernel: Any) -> _Fast:
    """`fast(kernel)[grid](*args, **meta)` launches as `kernel[grid](*args, **meta)` does
    (grid a tuple), skipping Triton's dispatch from the second launch of a specialization
    on (see above)."""
    return _Fast(kernel)
