"""kernels._launch.fast: Triton's dispatch skipped for a specialization already compiled.

On the CPU: the key it caches on is at least as fine as Triton's specialization (equal
keys never hide different compiled kernels), and every launch it cannot vouch for goes
through Triton. On a GPU: a cached launch computes what Triton's launch computes, and a
new specialization compiles anew instead of reusing a wrong kernel.
"""

from __future__ import annotations

import pytest
import torch
import triton
import triton.language as tl
from triton import knobs
from triton._C.libtriton import native_specialize_impl
from triton.backends.compiler import BaseBackend
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction
from triton.tools.tensor_descriptor import TensorDescriptor

from harness.modes import device_for
from kernels import _launch
from kernels._launch import _arg_key, _launch_key, fast


def _scaled_copy(x_ptr, out_ptr, n, factor, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, (x.to(tl.float32) * factor).to(out_ptr.dtype.element_ty), mask=mask)


scaled_copy = triton.jit(_scaled_copy)  # an InterpretedFunction in interpret mode
compiled_only = JITFunction(_scaled_copy)  # a JITFunction in either mode, for its keys


def _triton_spec(value: object) -> tuple:
    return native_specialize_impl(BaseBackend, value, False, True, True)


def test_equal_keys_mean_equal_triton_specializations() -> None:
    storage = torch.empty(4096, dtype=torch.float32)
    values: list[object] = [None, True, False, 0.5, 3.0]
    for base in (0, 1, 15, 16, 17, -1, -16, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1):
        values += [base, base + 16, base + 32]
    values += [2**63 - 1, 2**63, 2**64 - 16]
    values += [storage[i:] for i in range(8)] + [storage.half()[i:] for i in range(9)]
    values += [storage.view(torch.int32)[i:] for i in range(4)]
    for x in (storage, storage.half(), storage.view(torch.int32)[4:]):  # tensor descriptors
        rows = x.numel() // 64
        for shape, block in [([rows, 64], [16, 64]), ([rows - 1, 60], [16, 64])]:
            values.append(TensorDescriptor(x, shape, [64, 1], block))
        values.append(TensorDescriptor(x, [rows, 64], [64, 1], [8, 32]))
    seen: dict[tuple, tuple] = {}
    for value in values:
        key = (type(value), _arg_key(value))
        spec = _triton_spec(value)
        assert seen.setdefault(key, spec) == spec, (value, key, spec, seen[key])
    assert len(set(seen.values())) >= 18  # the cases above do reach distinct specializations


def test_arguments_it_does_not_model_are_left_to_triton() -> None:
    for value in (2**64, -(2**63) - 1, (1, 2), "text"):
        with pytest.raises(_launch._Unrecognized):
            _arg_key(value)


@pytest.fixture
def on_device_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # _launch_key asks the current CUDA device; a CPU build of torch has none.
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def _key(*args: object, **meta: object) -> tuple | None:
    launch = _launch_key(compiled_only, args, {"BLOCK": 128, **meta})
    return launch and launch[1]


@pytest.mark.usefixtures("on_device_zero")
def test_the_key_changes_with_whatever_triton_specializes_on() -> None:
    x, out = torch.empty(256), torch.empty(256)
    key = _key(x, out, 208, 2.0)
    assert key is not None and key == _key(torch.empty(256), torch.empty(256), 224, 3.5)
    others = {
        "x misaligned": _key(x[1:], out, 208, 2.0),
        "x float16": _key(x.half(), out, 208, 2.0),
        "n == 1": _key(x, out, 1, 2.0),
        "n not a multiple of 16": _key(x, out, 201, 2.0),
        "n past int32": _key(x, out, 2**31, 2.0),
        "a constexpr": _key(x, out, 208, 2.0, BLOCK=256),
        "num_warps": _key(x, out, 208, 2.0, num_warps=8),
    }
    for what, other in others.items():
        assert other is not None and other != key, what
    assert len(set(others.values())) == len(others)


@pytest.mark.usefixtures("on_device_zero")
def test_the_generated_key_is_each_arguments_key_in_order() -> None:
    """The key function generated per call pattern says what `_arg_key` says of each
    argument, (type, value) of each constexpr, then the launch options in their order;
    the values it hands the launcher are the arguments, a tensor as its address."""
    storage = torch.empty(64)
    for x in (storage, storage[1:], storage.half(), torch.nn.Parameter(storage)):
        for n in (1, 16, 17, -5, 2**31, 2**63, 2**64 - 16):
            for factor in (2.0, 3, None, True):
                args = (x, storage, n, factor)
                for meta in ({"BLOCK": 128, "num_warps": 4}, {"num_stages": 2, "BLOCK": 64}):
                    values, key = _launch_key(compiled_only, args, meta)
                    given = (*args, meta["BLOCK"])
                    # a tensor goes to the launcher as its address, anything else as it is
                    assert all(
                        v == a.data_ptr() if isinstance(a, torch.Tensor) else v is a
                        for v, a in zip(values, given, strict=True)
                    )
                    assert key[2] == (*map(_arg_key, args), (int, meta["BLOCK"]))
                    assert key[3] == tuple((k, v) for k, v in meta.items() if k != "BLOCK")
    positional = _launch_key(compiled_only, (storage, storage, 16, 2.0, 128), {})
    assert positional is not None and positional[1][2] == _key(storage, storage, 16, 2.0)[2]


def _copy_with_default(x_ptr, out_ptr, n, factor, BLOCK: tl.constexpr, SHIFT: tl.constexpr = 0):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets) * factor + SHIFT, mask=offsets < n)


@pytest.mark.usefixtures("on_device_zero")
def test_a_parameter_left_to_its_default_is_keyed_as_given() -> None:
    """Triton binds a parameter's default where a launch leaves it out (matmul's TMA
    kernel's C_DESCRIPTOR); the key does too: a launch relying on it is the one passing
    it, and another value is another specialization."""
    kernel = JITFunction(_copy_with_default)
    x, out = torch.empty(256), torch.empty(256)
    left_out = _launch_key(kernel, (x, out, 208, 2.0), {"BLOCK": 128})
    given = _launch_key(kernel, (x, out, 208, 2.0), {"BLOCK": 128, "SHIFT": 0})
    assert left_out is not None and given is not None
    assert left_out[0] == given[0] and left_out[0][-1] == 0  # the default reaches the launcher
    assert left_out[1][2] == given[1][2]
    assert _launch_key(kernel, (x, out, 208, 2.0), {"BLOCK": 128, "SHIFT": 1})[1][2] != given[1][2]


@pytest.mark.usefixtures("on_device_zero")
def test_launches_it_cannot_vouch_for_go_through_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    x, out = torch.empty(256), torch.empty(256)
    assert _key(x, out, 200, 2.0) is not None
    assert _key(x, out, 200) is None  # a parameter left out
    assert _key(x, out, 200, (2.0,)) is None  # an argument of a kind it does not model
    interpreted = InterpretedFunction(_scaled_copy)
    assert _launch_key(interpreted, (x, out, 200, 2.0), {"BLOCK": 128}) is None
    with monkeypatch.context() as patch:  # harness.parity's twins and counters do this
        patch.setattr(JITFunction, "run", lambda *a, **k: None)
        assert _key(x, out, 200, 2.0) is None
    with monkeypatch.context() as patch:  # a profiler's launch hook
        patch.setattr(knobs.runtime, "launch_enter_hook", lambda *a: None)
        assert _key(x, out, 200, 2.0) is None
    with monkeypatch.context() as patch:
        patch.setattr(compiled_only, "pre_run_hooks", [lambda *a, **k: None])
        assert _key(x, out, 200, 2.0) is None
    with monkeypatch.context() as patch:  # a hook added to Triton's own chain
        patch.setattr(knobs.runtime.launch_exit_hook, "calls", [lambda *a: None])
        assert _key(x, out, 200, 2.0) is None


def test_an_interpreted_launch_runs_with_headroom_on_the_frame_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """harness.stack: the interpreter's calls, from wherever the caller stands, never sit
    on a frame chunk's edge; a compiled launch is left as it is."""
    calls = []

    def recorded(fn, *args, **kwargs):
        calls.append(fn)
        return fn(*args, **kwargs)

    monkeypatch.setattr(_launch.stack, "with_headroom", recorded)
    x = torch.randn(200)
    out = torch.full_like(x, float("nan"))
    fast(InterpretedFunction(_scaled_copy))[(2,)](x, out, 200, 2.0, BLOCK=128)
    assert len(calls) == 1 and torch.equal(out, x * 2.0)
    with monkeypatch.context() as patch:  # a compiled kernel's launch, stopped at Triton
        patch.setattr(JITFunction, "run", lambda *a, **k: None)
        fast(compiled_only)[(2,)](x, out, 200, 2.0, BLOCK=128)
    assert len(calls) == 1


def test_a_replay_keys_on_the_instrumentation_triton_keys_on(monkeypatch: pytest.MonkeyPatch):
    """`_state` reads the float sanitizer's knob (Triton 3.9) only under an instrumentation
    mode, where it can change the binary; the mode itself always."""
    plain = _launch._state(compiled_only)
    assert plain is not None
    monkeypatch.setattr(knobs.compilation, "instrumentation_mode", "fpsan")
    sanitized = _launch._state(compiled_only)
    assert sanitized is not None and sanitized != plain
    if hasattr(knobs.compilation, "fpsan_homomorphic_casts"):
        monkeypatch.setattr(knobs.compilation, "fpsan_homomorphic_casts", True)
        casts = _launch._state(compiled_only)
        monkeypatch.setattr(knobs.compilation, "fpsan_homomorphic_casts", False)
        assert casts != _launch._state(compiled_only)


def test_a_fast_launch_computes_what_a_triton_launch_does(harness_state) -> None:
    """In the interpreter this is Triton's own path (the twin is never cached); compiled,
    the first launch goes through Triton and the later ones straight to the launcher."""
    device = device_for(harness_state.mode)
    n, block = 1000, 128
    x = torch.randn(n, device=device)
    expected = torch.empty_like(x)
    scaled_copy[(triton.cdiv(n, block),)](x, expected, n, 1.5, BLOCK=block)
    cached_before = len(_launch._COMPILED)
    for factor in (1.5, 1.5, 1.5):
        out = torch.full_like(x, float("nan"))
        fast(scaled_copy)[(triton.cdiv(n, block),)](x, out, n, factor, BLOCK=block)
        assert torch.equal(out, expected)
    if harness_state.mode == "interpret":
        assert len(_launch._COMPILED) == cached_before
        return
    assert len(_launch._COMPILED) == cached_before + 1
    # A misaligned view is another specialization: Triton compiles it, not the cache.
    misaligned = torch.full((n,), float("nan"), device=device)[1:]
    fast(scaled_copy)[(triton.cdiv(n - 1, block),)](x[1:], misaligned, n - 1, 1.5, BLOCK=block)
    assert torch.equal(misaligned, expected[1:])
    assert len(_launch._COMPILED) == cached_before + 2


def _cuda_launcher(**fields: object) -> object:
    """A CudaLauncher of the installed Triton whose C function records its arguments:
    what a kernel without scratch has, but no compiled module behind it."""
    from triton.backends.nvidia.driver import CudaLauncher

    launcher = object.__new__(CudaLauncher)
    calls: list[tuple] = []
    launcher.__dict__.update(
        num_ctas=1, launch=lambda *args: calls.append(args), global_scratch_size=0,
        global_scratch_align=1, profile_scratch_size=0, profile_scratch_align=1,
        launch_cooperative_grid=False, launch_pdl=True, gsan_enabled=False,
        arg_annotations=("annotations",), kernel_signature=b"signature",
    )  # fmt: skip
    launcher.__dict__.update(fields)
    launcher.calls = calls
    return launcher


def test_a_direct_launch_makes_the_c_call_the_launcher_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`direct_launcher` against the installed Triton's own CudaLauncher.__call__: the same
    arguments reach the C launcher. Triton 3.9's launcher has argument annotations and
    takes the values as one tuple; 3.6's has none and takes them spread (the suite runs
    on 3.6 too: make test-triton36). A replay's sender makes that call too."""
    from triton.backends.nvidia.driver import CudaLauncher
    from triton.runtime import driver

    launcher = _cuda_launcher()
    if "kernel_metadata" not in CudaLauncher.__call__.__code__.co_varnames:  # Triton 3.6
        del launcher.arg_annotations, launcher.kernel_signature
    args = (3, 2, 1, 77, 88, (4, 1, 0), None, None, None, 11, 2.5, 1000)
    direct = _launch.direct_launcher(launcher)
    assert direct is not launcher
    direct(*args)
    # 3.9's __call__ asks for the active driver (and none is, without a GPU)
    monkeypatch.setattr(driver, "_active", _StandInDriver())
    CudaLauncher.__call__(launcher, *args)
    # A replay's generated function makes the same C call inline (`direct.call`)
    launch = _launch._ReplayedLaunch(None, args[:3], (), args[9:], (), (), direct, 88, (4, 1, 0))
    monkeypatch.setattr(torch._C, "_cuda_getCurrentRawStream", lambda device: 77, raising=False)
    _launch._replayer([launch], 0, (), 0, ())(())
    assert len(launcher.calls) == 3
    assert launcher.calls[0] == launcher.calls[1] == launcher.calls[2]


def test_a_launcher_with_scratch_or_a_sanitizer_is_called_as_it_is() -> None:
    for fields in (dict(global_scratch_size=128), dict(profile_scratch_size=64),
                   dict(gsan_enabled=True)):  # fmt: skip
        launcher = _cuda_launcher(**fields)
        assert _launch.direct_launcher(launcher) is launcher
    other = object()  # another backend's launcher
    assert _launch.direct_launcher(other) is other


class _StandInDriver:
    def get_current_device(self) -> int:
        return 0

    def allocate_default_profile_scratch(self, *args: object) -> None:
        raise AssertionError("no profile scratch was asked for")


def test_a_resolved_launch_reads_its_grid_from_the_meta_or_leaves_it_to_triton(
    harness_state,
) -> None:
    """launch_resolved (an autotuned kernel's launch with its chosen config): a grid
    callable that reads the config's blocks is called with them; one that reads an
    argument goes through Triton, which binds every argument for it."""
    device = device_for(harness_state.mode)
    n = 1000
    x = torch.randn(n, device=device)
    expected = torch.empty_like(x)
    scaled_copy[(triton.cdiv(n, 128),)](x, expected, n, 1.5, BLOCK=128)
    for grid in (
        lambda meta: (triton.cdiv(n, meta["BLOCK"]),),
        lambda meta: (triton.cdiv(meta["n"], meta["BLOCK"]),),
    ):
        out = torch.full_like(x, float("nan"))
        _launch.launch_resolved(scaled_copy, grid, (x, out, n, 1.5), {"BLOCK": 128})
        assert torch.equal(out, expected)


# ------------------------------------------------------------------------------ replays
@pytest.fixture
def launcher_stub(monkeypatch: pytest.MonkeyPatch) -> list:
    """`compiled_only` as if compiled for (x, out, n, factor, BLOCK=128) on device 0: its
    CUDA launcher a stub that notes each launch's grid and values (a CPU build of torch
    has no launcher, no stream)."""
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch._C, "_cuda_getCurrentRawStream", lambda device: 7, raising=False)
    # Through Triton (a specialization not "compiled"): nothing runs. On the instance, so
    # that JITFunction.run stays Triton's and `fast` vouches for the kernel.
    monkeypatch.setattr(compiled_only, "run", lambda *args, **kwargs: None, raising=False)
    launches: list = []

    def run(gx, gy, gz, stream, function, packed, metadata, enter, exit_, *values):
        launches.append(((gx, gy, gz), stream, function, values))

    x, out = torch.empty(256), torch.empty(256)
    for n in (200, 256):
        _, key = _launch_key(compiled_only, (x, out, n, 2.0), {"BLOCK": 128})
        monkeypatch.setitem(_launch._COMPILED, key, (None, run, "function", "metadata"))
    return launches


class _Op:
    """A launcher built as the ops' are: its checks and plan counted, replayed by signature."""

    def __init__(self) -> None:
        self.replays, self.planned = _launch.Replays(), 0

    def __call__(self, x: torch.Tensor, factor: float, scratch: bool = False) -> torch.Tensor:
        signature = (x.shape, x.stride(), x.dtype, x.data_ptr() & 15, factor, scratch)
        replay = self.replays.get(signature)
        if replay is not None:
            out = x.new_empty(replay.extra)
            self.replays.launch(replay, (x, out))
            return out
        with self.replays.capturing(signature) as keep:
            self.planned += 1
            out = torch.empty_like(x)
            target = torch.empty_like(x) if scratch else out  # a tensor the op does not name
            fast(compiled_only)[(2,)](x, target, x.numel(), factor, BLOCK=128)
            keep((x, out), out.shape)
        return out


def test_a_replay_is_the_launch_it_captured_on_the_new_tensors(launcher_stub) -> None:
    op = _Op()
    calls = [torch.empty(256) for _ in range(3)]
    outs = [op(x, 2.0) for x in calls]
    assert op.planned == 1 and len(launcher_stub) == 3  # planned once, launched three times
    for x, out, (grid, stream, function, values) in zip(calls, outs, launcher_stub, strict=True):
        assert grid == (2, 1, 1) and stream == 7 and function == "function"
        assert values == (x.data_ptr(), out.data_ptr(), 256, 2.0, 128)
        assert out.shape == x.shape and out.dtype == x.dtype


def test_a_new_signature_is_planned_anew(launcher_stub) -> None:
    op = _Op()
    op(torch.empty(256), 2.0)
    op(torch.empty(200), 2.0)  # another shape
    op(torch.empty(256), 3.0)  # another option
    op(torch.empty(257)[1:], 2.0)  # misaligned: another specialization (Triton compiles it)
    assert op.planned == 4


def test_a_call_it_cannot_replay_is_planned_each_time(launcher_stub, monkeypatch) -> None:
    op = _Op()
    for _ in range(2):
        op(torch.empty(256), 2.0, scratch=True)  # the launch wrote a tensor it did not name
    assert op.planned == 2
    op(torch.empty(256), 2.0)
    op(torch.empty(256), 2.0)
    assert op.planned == 3  # replayed
    with monkeypatch.context() as patch:  # what `fast` would not vouch for: a launch hook
        patch.setattr(knobs.runtime, "launch_enter_hook", lambda *a: None)
        op(torch.empty(256), 2.0)
    with monkeypatch.context() as patch:  # another current device
        patch.setattr(torch.cuda, "current_device", lambda: 1)
        op(torch.empty(256), 2.0)
    with monkeypatch.context() as patch:  # Triton's debug mode
        patch.setattr(compiled_only, "debug", True)
        op(torch.empty(256), 2.0)
    assert op.planned == 6


def test_a_capture_of_two_tensors_at_one_address_is_not_kept(launcher_stub) -> None:
    replays = _launch.Replays()
    x = torch.empty(256)
    with replays.capturing("aliased") as keep:
        fast(compiled_only)[(2,)](x, x, 256, 2.0, BLOCK=128)
        keep((x, x))
    assert replays.get("aliased") is None
    with replays.capturing("two launches") as keep:
        fast(compiled_only)[(2,)](x, torch.empty(256), 256, 2.0, BLOCK=128)
        fast(compiled_only)[(2,)](x, torch.empty(256), 256, 2.0, BLOCK=128)
        keep((x,))
    assert replays.get("two launches") is None


def test_launches_through_a_temporary_are_replayed_on_a_temporary_of_their_own(
    launcher_stub,
) -> None:
    """Two launches, the first writing a temporary that the second reads (the launcher
    names it: `note_temporary`): a replay sends both in order, with the call's tensors in
    their slots and a new tensor of the temporary's layout between them."""
    replays = _launch.Replays()

    def call(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = torch.empty(256)
        replay = replays.get("two steps")
        if replay is not None:
            replays.launch(replay, (x, out))
            return out, None
        with replays.capturing("two steps") as keep:
            temporary = _launch.note_temporary(torch.empty(256))
            fast(compiled_only)[(2,)](x, temporary, 256, 2.0, BLOCK=128)
            fast(compiled_only)[(2,)](temporary, out, 256, 2.0, BLOCK=128)
            keep((x, out))
        return out, temporary

    x = torch.empty(256)
    out, temporary = call(x)
    assert replays.get("two steps") is not None
    del launcher_stub[:]
    y = torch.empty(256)
    replayed, _ = call(y)
    (_, _, _, first), (_, _, _, second) = launcher_stub
    assert first[0] == y.data_ptr() and second[1] == replayed.data_ptr()
    assert first[1] == second[0]  # the replay's temporary: written, then read
    assert first[1] not in {t.data_ptr() for t in (x, y, out, replayed, temporary)}


def test_a_call_with_a_launch_through_triton_is_not_kept(launcher_stub) -> None:
    """A launch that went through Triton's dispatch (a specialization not compiled yet,
    here an int factor) is one a replay could not send: the call is not kept, even where
    its other launch could be."""
    replays = _launch.Replays()
    x, out = torch.empty(256), torch.empty(256)
    with replays.capturing("half") as keep:
        fast(compiled_only)[(2,)](x, out, 256, 2.0, BLOCK=128)
        fast(compiled_only)[(2,)](x, out, 256, 2, BLOCK=128)
        keep((x, out))
    assert len(launcher_stub) == 1  # the first launch went straight to the launcher
    assert replays.get("half") is None


def test_a_call_that_tunes_is_not_kept_and_the_next_is(launcher_stub, monkeypatch) -> None:
    """A tuned launch of a key the tuner has not seen goes through Triton's autotuner
    (every config timed, then the chosen one launched, none `fast`): a replay of that
    call would send its other launches only (on the H200, a conv2d's copy of its filters
    to channels-last, and never the convolution). It is not kept; the next call, its
    tuned launch `fast` with the config chosen, is, and a replay sends both launches."""
    from kernels import _plans

    config = triton.Config({"BLOCK": 128})
    tuner = triton.autotune([config], key=["n"])(compiled_only)
    meta = _launch.COMPILE_OPTIONS | config.all_kwargs()  # as `_plans.tuned` launches it
    x, out = torch.empty(256), torch.empty(256)
    _, key = _launch_key(compiled_only, (x, out, 256, 2.0), meta)
    run = _launch._COMPILED[_launch_key(compiled_only, (x, out, 256, 2.0), {"BLOCK": 128})[1]]
    monkeypatch.setitem(_launch._COMPILED, key, run)  # the tuned launch's own specialization
    planned = []

    @_launch.replayed()
    def two_steps(x: torch.Tensor) -> torch.Tensor:
        planned.append(x)
        temporary = _launch.note_temporary(torch.empty(256))
        fast(compiled_only)[(2,)](x, temporary, 256, 2.0, BLOCK=128)
        out = torch.empty(256)
        _plans.tuned(tuner, (2,), (temporary, out, 256, 2.0), {})
        return out

    two_steps(torch.empty(256))
    assert len(launcher_stub) == 1  # the copy; the tuner's launch went through Triton
    two_steps(torch.empty(256))
    assert len(launcher_stub) == 3 and len(planned) == 2  # planned again, both launches fast
    y = torch.empty(256)
    replayed = two_steps(y)
    assert len(planned) == 2 and len(launcher_stub) == 5  # replayed: both launches sent
    (_, _, _, first), (_, _, _, second) = launcher_stub[3:]
    assert first[0] == y.data_ptr() and second[0] == first[1]
    assert second[1] == replayed.data_ptr()


def test_a_call_where_pytorch_writes_in_place_is_not_kept(launcher_stub) -> None:
    """A replay sends the launches only: a call in which PyTorch wrote one of its tensors
    in place (an output filled, an input changed, a temporary copied into) would lose that
    write. Such a call is not kept (the tensor's version moved); the same launcher with
    its launches alone is."""
    planned = []

    @_launch.replayed()
    def call(x: torch.Tensor, write: str) -> torch.Tensor:
        planned.append(write)
        out = torch.empty(256)
        temporary = _launch.note_temporary(torch.empty(256))
        {"out": out, "x": x, "temporary": temporary}.get(write, torch.empty(1)).fill_(1.0)
        fast(compiled_only)[(2,)](x, temporary, 256, 2.0, BLOCK=128)
        fast(compiled_only)[(2,)](temporary, out, 256, 2.0, BLOCK=128)
        return out

    for write in ("out", "x", "temporary", "nothing"):
        for _ in range(2):
            call(torch.empty(256), write)
    assert planned == ["out", "out", "x", "x", "temporary", "temporary", "nothing"]
    # Under inference mode tensors keep no version: calls are kept (and replayed) all the
    # same, the launchers' contract checked by the tests outside it.
    call.replays._by_signature.clear()
    with torch.inference_mode():
        for _ in range(2):
            call(torch.empty(256), "nothing")
    assert planned[-2:] == ["nothing", "nothing"] and len(planned) == 8


def test_a_layer_above_can_void_a_replay_and_is_told_of_each(launcher_stub) -> None:
    replays, valid, told = _launch.Replays(), [True], []
    x, out = torch.empty(256), torch.empty(256)
    with replays.capturing("noted") as keep:
        fast(compiled_only)[(2,)](x, out, 256, 2.0, BLOCK=128)
        _launch.note_replay(lambda: valid[0], lambda: told.append("replayed"))
        keep((x, out))
    _launch.note_replay(lambda: False, lambda: None)  # outside a capture: nothing happens
    replay = replays.get("noted")
    assert replay is not None
    replays.launch(replay, (x, out))
    assert told == ["replayed"]
    valid[0] = False  # say, the tuner forgot the config it had chosen
    assert replays.get("noted") is None


def test_a_replayed_launcher_asks_and_tells_the_layer_above(launcher_stub) -> None:
    """`replayed` through its generated call: a note of the layer above (a tuner's) is
    asked before each replay and told after its launch; once void, the call is planned
    in full again."""
    valid, told, planned = [True], [], []

    @_launch.replayed()
    def noted(x: torch.Tensor) -> torch.Tensor:
        planned.append(x)
        out = torch.empty(256)
        fast(compiled_only)[(2,)](x, out, 256, 2.0, BLOCK=128)
        _launch.note_replay(lambda: valid[0], lambda: told.append(len(launcher_stub)))
        return out

    noted(torch.empty(256))
    out = noted(torch.empty(256))
    assert len(planned) == 1 and told == [2]  # told after the replay's launch
    assert launcher_stub[-1][3][1] == out.data_ptr()
    valid[0] = False  # say, the tuner forgot the config it had chosen
    noted(torch.empty(256))
    assert len(planned) == 2 and told == [2]


def test_a_replayed_launcher_allocates_its_outputs_as_the_captured_call_did(launcher_stub):
    """`replayed`: outputs as the full call made them (shape, strides, dtype; None kept),
    arguments told apart by type too (True == 1.0, and a check may refuse one), and an
    argument it cannot sign (unhashable) leaves every call to the launcher."""
    calls = []

    @_launch.replayed()
    def scaled(x: torch.Tensor, factor: object) -> tuple:
        calls.append(factor)
        out = torch.empty(16, 16).t()  # not contiguous: its strides must come back
        fast(compiled_only)[(2,)](x, out, 256, 2.0, BLOCK=128)
        return out, None

    x = torch.empty(256)
    first = scaled(x, 2.0)
    for _ in range(2):
        out, nothing = scaled(torch.empty(256), 2.0)
        assert nothing is None and out.stride() == first[0].stride() == (1, 16)
        assert out.shape == (16, 16) and out.dtype == torch.float32
    assert calls == [2.0]  # replayed twice
    assert launcher_stub[-1][3][1] == out.data_ptr()  # the launch wrote the new output
    scaled(torch.empty(256), True)
    scaled(torch.empty(256), [2.0])
    scaled(torch.empty(256), [2.0])
    assert calls == [2.0, True, [2.0], [2.0]]


def test_outputs_made_as_views_of_one_allocation_are_not_kept(launcher_stub) -> None:
    """Two outputs made as the rows of one tensor: a replay would allocate each on its own,
    and the launch that wrote both through the first's address would write past it. Such a
    call is planned each time; made apart, or as a view of the whole of its allocation,
    an output is replayed."""
    planned = []

    @_launch.replayed()
    def halves(x: torch.Tensor, apart: bool) -> tuple:
        planned.append(apart)
        both = torch.empty(256)
        first, second = (torch.empty(128), torch.empty(128)) if apart else both.view(2, 128)
        fast(compiled_only)[(2,)](x, first if apart else both, 256, 2.0, BLOCK=128)
        if apart:
            fast(compiled_only)[(2,)](x, second, 256, 2.0, BLOCK=128)
        return first, second

    for apart in (False, False, True, True):
        halves(torch.empty(256), apart)
    assert planned == [False, False, True]
    (replay,) = halves.replays._by_signature.values()
    assert len(replay.launches) == 2

    @_launch.replayed()
    def whole(x: torch.Tensor) -> torch.Tensor:
        planned.append(x)
        out = torch.empty(256)
        fast(compiled_only)[(2,)](x, out, 256, 2.0, BLOCK=128)
        return out.view(16, 16).t()  # a view of all of its allocation, from its start

    for _ in range(2):
        assert whole(torch.empty(256)).stride() == (1, 16)
    assert len(planned) == 4


def test_an_output_laid_out_as_an_input_is_allocated_like_it(launcher_stub) -> None:
    """An output with an input's shape, strides, dtype and device is allocated by
    `torch.empty_like` of that input in a replay (cheaper than `empty_strided`): a
    channels-last output stays channels-last, and an output whose layout no input has
    (a dense output of a strided view) keeps its own."""
    planned = []

    @_launch.replayed()
    def copy(x: torch.Tensor, dense: bool) -> torch.Tensor:
        planned.append(x)
        out = torch.empty(x.shape) if dense else torch.empty_like(x)
        fast(compiled_only)[(2,)](x, out, 256, 2.0, BLOCK=128)
        return out

    def images() -> torch.Tensor:
        return torch.empty(2, 8, 4, 4).contiguous(memory_format=torch.channels_last)

    for _ in range(2):
        out = copy(images(), False)
    assert len(planned) == 1 and out.is_contiguous(memory_format=torch.channels_last)
    ((_, replay),) = copy.replays._by_signature.items()
    assert replay.extra[1] == (0,)  # allocated like input 0
    for _ in range(2):
        out = copy(torch.empty(2, 8, 4, 8)[..., ::2], True)
    assert len(planned) == 2 and out.is_contiguous() and out.shape == (2, 8, 4, 4)


def test_a_parameter_is_replayed_as_a_tensor(launcher_stub) -> None:
    """An nn.Parameter (a module's weight) reaches the launcher as its address too, so a
    call with one is kept and replayed like any other."""
    op = _Op()
    weights = [torch.nn.Parameter(torch.empty(256)) for _ in range(3)]
    outs = [op(w, 2.0) for w in weights]
    assert op.planned == 1
    assert launcher_stub[-1][3][:2] == (weights[-1].data_ptr(), outs[-1].data_ptr())


def test_a_descriptor_is_replayed_over_the_new_tensor(launcher_stub, monkeypatch) -> None:
    """A launch given a tensor descriptor (a TMA kernel's) is replayed with a copy of it
    over the call's tensor at that address; the replay keeps none of the captured call's
    tensors alive. A descriptor over a tensor the call did not name is not kept."""
    replays = _launch.Replays()

    def call(x: torch.Tensor, over: torch.Tensor | None = None) -> torch.Tensor:
        replay = replays.get(over is None)
        if replay is not None:
            out = torch.empty(256)
            replays.launch(replay, (x, out))
            return out
        with replays.capturing(over is None) as keep:
            out = torch.empty(256)
            descriptor = TensorDescriptor(x if over is None else over, [4, 64], [64, 1], [2, 64])
            args = (descriptor, out, 256, 2.0)
            _, key = _launch_key(compiled_only, args, {"BLOCK": 128})
            monkeypatch.setitem(_launch._COMPILED, key, (None, launcher_stub_run, "f", "m"))
            fast(compiled_only)[(2,)](*args, BLOCK=128)
            keep((x, out))
        return out

    def launcher_stub_run(gx, gy, gz, stream, function, packed, metadata, enter, exit_, *values):
        launcher_stub.append(values)

    first = torch.empty(256)
    call(first)
    for _ in range(2):
        x = torch.empty(256)
        out = call(x)
        descriptor = launcher_stub[-1][0]
        assert type(descriptor) is TensorDescriptor and descriptor.base is x
        assert (descriptor.shape, descriptor.strides, descriptor.block_shape) == (
            [4, 64],
            [64, 1],
            [2, 64],
        )
        assert launcher_stub[-1][1:] == (out.data_ptr(), 256, 2.0, 128)
    assert replays.get(True).launches[0].values[0].base is None
    assert launcher_stub[0][0].base is first  # the captured launch was left as it was
    call(torch.empty(256), over=torch.empty(256))
    assert replays.get(False) is None


def test_a_kernel_argument_is_signed_by_identity_and_kept_while_replayed(launcher_stub):
    """A launcher given kernels (the row-wise ops' `launch_rowwise`) signs each by identity,
    not by Triton's hash of its source, and its replay holds the kernel, so that no other
    kernel can take its id while the replay names it."""
    planned = []

    @_launch.replayed()
    def launch_with(kernel: JITFunction, x: torch.Tensor) -> torch.Tensor:
        planned.append(kernel)
        out = torch.empty(256)
        fast(compiled_only)[(2,)](x, out, 256, 2.0, BLOCK=128)
        return out

    first, second = JITFunction(_scaled_copy), JITFunction(_scaled_copy)
    for kernel in (first, first, second, second):
        launch_with(kernel, torch.empty(256))
    assert planned == [first, second]
    kept = [replay.extra[2] for replay in launch_with.replays._by_signature.values()]
    assert kept == [(first,), (second,)]


def test_descriptor_checks_a_signature_once_and_points_at_each_tensor():
    """`descriptor` runs Triton's checks for a new (shape, strides, dtype, block) and
    copies the checked descriptor for later tensors of that signature: each copy over
    its own tensor, with the signature's shape, strides and block."""
    from kernels._launch import descriptor

    x = torch.zeros(4, 16, dtype=torch.float16)
    y = torch.ones(4, 16, dtype=torch.float16)
    a, b = descriptor(x, (2, 8)), descriptor(y, (2, 8))
    assert a.base is x and b.base is y and a is not b
    assert (b.shape, b.strides, b.block_shape) == ([4, 16], [16, 1], [2, 8])
    assert descriptor(x, (4, 8)).block_shape == [4, 8]
    with pytest.raises(AssertionError, match=r"stride|contiguous"):  # Triton's check
        descriptor(x.t(), (2, 2))


def _public_launchers() -> dict[str, tuple]:
    """The replayed launchers of the elementwise, row-wise, matmul, attention and conv2d
    ops, each with the shapes of its tensor arguments (a shape and "float32": a tensor of
    that dtype whatever the test's) and the extra arguments after them."""
    from kernels.add_row_sum import add_row_sum
    from kernels.attention import attention_forward
    from kernels.conv2d import _forward as conv2d_forward
    from kernels.layer_norm import layer_norm, layer_norm_backward
    from kernels.matmul import _launch as matmul_launch
    from kernels.scale import scale
    from kernels.softmax import softmax
    from kernels.vector_add import vector_add

    rows = (37, 300)
    return {
        "vector_add": (vector_add, (rows, rows), ()),
        "scale": (scale, (rows,), (0.75,)),
        "softmax": (softmax, (rows,), ()),
        "add_row_sum": (add_row_sum, (rows,), ()),
        # float32 rows past WHOLE_ROW_MAX are split: counters zeroed by a launch each call
        "softmax_split": (softmax, (((4, 40000), "float32"),), ()),
        "add_row_sum_split": (add_row_sum, (((4, 40000), "float32"),), ()),
        "layer_norm": (layer_norm, (rows,), ()),
        "layer_norm_backward": (  # dy, x, mean, rstd, weight, bias
            layer_norm_backward,
            (rows, rows, ((37,), "float32"), ((37,), "float32"), (300,), (300,)),
            (),
        ),
        "matmul": (matmul_launch, ((40, 72), (72, 24)), (None, None, "ieee")),
        "attention_forward": (attention_forward, ((2, 2, 37, 64),) * 3, (True,)),
        "conv2d": (conv2d_forward, ((2, 16, 8, 8), (16, 16, 3, 3)), (None, 1, 1, 1, 1)),
    }


def _forget_every_tuning() -> None:
    """Every autotuned kernel of `kernels` forgets its choices: its next call tunes."""
    import sys

    from triton.runtime.autotuner import Autotuner

    from harness.autotune import forget_tuning

    for name, module in list(sys.modules.items()):
        if name.startswith("kernels."):
            for value in list(vars(module).values()):
                if isinstance(value, Autotuner):
                    forget_tuning(value)


@pytest.mark.parametrize("name", list(_public_launchers()))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_replayed_op_computes_what_a_planned_call_does(name: str, dtype: str, harness_state):
    """On a GPU, an op's call of a signature it launched before is replayed at its public
    function (checks, plan and launch skipped; the direct C launch): on new tensors it
    writes exactly what the same call planned in full writes. So does every call before
    it, the first of which tunes while the op's other kernels are compiled already (a
    call that tuned was once kept, and its replays skipped the tuned launch: f355ebb)."""
    from harness.tensors import make_tensor

    if harness_state.mode == "interpret":
        pytest.skip("replays are a GPU launch path (`kernels._launch.Replays`)")
    launcher, shapes, extra = _public_launchers()[name]
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(12)

    def as_tuple(result: object) -> tuple:
        return result if type(result) is tuple else (result,)

    def tensors() -> list[torch.Tensor]:
        return [
            make_tensor(*(shape if type(shape[-1]) is str else (shape, dtype)), device, gen)
            for shape in shapes
        ]

    launcher(*tensors(), *extra)  # every kernel compiled and seen by `fast`
    _forget_every_tuning()
    launcher.replays._by_signature.clear()
    for _ in range(4):
        given = tensors()
        got = as_tuple(launcher(*given, *extra))
        planned = as_tuple(launcher.__wrapped__(*given, *extra))  # in full, not captured
        for replayed_or_not, want in zip(got, planned, strict=True):
            assert (replayed_or_not is None and want is None) or torch.equal(replayed_or_not, want)
    assert len(launcher.replays._by_signature) == 1


@pytest.mark.parametrize("name", list(_public_launchers()))
def test_an_op_captured_in_a_cuda_graph_computes_what_it_computes_eagerly(
    name: str, harness_state
) -> None:
    """On a GPU, a call captured in a CUDA graph (as torch.compile's cudagraphs and a
    training step's capture make it: static inputs, copied into before each replay) writes
    what the same call makes eagerly on those values, every launch of it: the replays'
    direct C launches, the temporaries a call allocates, and layer_norm_backward's stage
    two launched before stage one ends (`kernels._launch.early_launch`), which a graph
    keeps as a programmatic edge."""
    from harness.tensors import make_tensor

    if harness_state.mode == "interpret":
        pytest.skip("CUDA graphs capture GPU launches")
    launcher, shapes, extra = _public_launchers()[name]
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(5)

    def tensors() -> list[torch.Tensor]:
        return [
            make_tensor(*(shape if type(shape[-1]) is str else (shape, "bfloat16")), device, gen)
            for shape in shapes
        ]

    def as_tuple(result: object) -> tuple:
        return result if type(result) is tuple else (result,)

    static = tensors()
    for _ in range(2):  # compiled, tuned and replayed before the capture
        launcher(*static, *extra)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = as_tuple(launcher(*static, *extra))
    for _ in range(3):
        fresh = tensors()
        for into, values in zip(static, fresh, strict=True):
            into.copy_(values)
        graph.replay()
        eager = as_tuple(launcher(*fresh, *extra))
        for from_graph, want in zip(captured, eager, strict=True):
            assert (from_graph is None and want is None) or torch.equal(from_graph, want)
