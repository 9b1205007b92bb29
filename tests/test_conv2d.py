"""What the generic tests of conv2d cannot see: the output's memory format, TritonConv2d
as a drop-in nn.Conv2d, and the backward kernels under every GEMM config (the generic
config test forces configs on the forward op only)."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from harness import Case
from harness.compare import run_case
from harness.modes import device_for
from harness.runner import check_op
from harness.tensors import make_tensor
from harness.testing import CONFIG_BUDGET
from kernels import _plans
from kernels.conv2d import GEMM_CONFIGS, TritonConv2d, conv2d, conv2d_autograd
from ops import OPS
from ops.conv2d import CONV2D


@pytest.mark.parametrize("groups", [1, 4])  # the implicit GEMM and the depthwise kernel
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_output_in_the_inputs_memory_format(memory_format, groups, harness_state):
    """out and dx come back in x's memory format, as PyTorch's (a channels-last network
    stays channels-last)."""
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    x = make_tensor((2, 4, 5, 6), "float32", device, gen).to(memory_format=memory_format)
    weight = make_tensor((4, 4 // groups, 3, 3), "float32", device, gen)
    x.requires_grad_(True)
    out = conv2d_autograd(x, weight, None, 1, 1, 1, groups)
    expected = torch.nn.functional.conv2d(x.detach(), weight, None, 1, 1, 1, groups)
    assert out.is_contiguous(memory_format=memory_format)
    assert out.stride() == expected.stride()
    (dx,) = torch.autograd.grad(out, [x], torch.ones_like(out))
    assert dx.is_contiguous(memory_format=memory_format)


def test_module_state_dict_round_trip():
    """TritonConv2d takes an nn.Conv2d's state dict and gives back one nn.Conv2d loads."""
    for bias in (True, False):
        conv = torch.nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), groups=2, bias=bias)
        module = TritonConv2d.from_torch(conv)
        assert module.state_dict().keys() == conv.state_dict().keys()
        for name, value in conv.state_dict().items():
            assert torch.equal(module.state_dict()[name], value)
        again = torch.nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), groups=2, bias=bias)
        again.load_state_dict(module.state_dict())
        assert all(
            torch.equal(a, b) for a, b in zip(again.parameters(), conv.parameters(), strict=True)
        )
        assert (module.stride, module.padding, module.groups) == ((2, 2), (1, 0), 2)
    with pytest.raises(ValueError, match="padding_mode"):
        TritonConv2d(4, 6, 3, padding_mode="reflect")


def _module_kernel(x, weight, bias, stride, padding, dilation, groups):
    """The op's kernel tier as a user runs it: an nn.Conv2d holding these weights, its
    state dict loaded into a TritonConv2d, called on x."""
    conv = torch.nn.Conv2d(
        x.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride,
        tuple(padding) if isinstance(padding, list) else padding, dilation, groups,
        bias is not None, device=x.device, dtype=x.dtype,
    )  # fmt: skip
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    module = TritonConv2d.from_torch(conv)
    with torch.no_grad():
        return module(x)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_module_forward_within_the_error_model(dtype, harness_state):
    """TritonConv2d's forward meets conv2d's bound against the float64 oracle, as
    nn.Conv2d (the PyTorch tier) does, on a grouped, strided, channels-last case and on
    a depthwise one."""
    op = dataclasses.replace(CONV2D, kernel=_module_kernel)
    cases = [
        ((2, 4, 7, 6), {"filters": 6, "kernel": [3, 2], "stride": 2, "padding": [1, 0],
                        "groups": 2, "bias": True, "channels_last": True}),
        ((1, 3, 6, 6), {"filters": 6, "kernel": [3, 3], "padding": "same", "groups": 3}),
    ]  # fmt: skip
    for shape, params in cases:
        case = Case("conv2d", dtype, shape, params, seed=1)
        result = run_case(op, case, harness_state.mode, device_for(harness_state.mode), "ops")
        assert result.ok, result.report()


# Small gradient cases: grouped and strided, the transposed GEMM's exact-division masks;
# a depthwise one (its backward runs on the GEMM kernels too).
_GRAD_CASES = [
    ((2, 4, 5, 5), {"filters": 4, "kernel": [3, 2], "stride": [2, 1], "padding": 1,
                    "groups": 2, "bias": True}),
    ((1, 3, 6, 5), {"filters": 6, "kernel": [3, 3], "groups": 3, "dilation": 2,
                    "padding": "same", "channels_last": True}),
]  # fmt: skip


@pytest.mark.parametrize("config", sorted(n for t in GEMM_CONFIGS.values() for n in t))
def test_backward_runs_every_gemm_config(config, harness_state):
    """dx (the transposed implicit GEMM) and dweight, forced to each GEMM config of this
    mode's table and of the other's, meet their bounds; and the config really ran."""
    table = next(t for t, names in GEMM_CONFIGS.items() if config in names)
    grad = dataclasses.replace(OPS["conv2d.grad"], examples=_GRAD_CASES)
    with _plans.forcing(f"conv2d/{config}/{table}"), _plans.recording() as launched:
        check_op(grad, "float16", harness_state.mode, "ops", CONFIG_BUDGET, max_examples=1)
    assert launched.count(f"conv2d/{config}/{table}") >= 3  # forward, dx and dweight


def test_unbatched_input(harness_state):
    """A (C, H, W) x is a batch of one, as F.conv2d takes it."""
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    x = make_tensor((3, 5, 5), "float32", device, gen)
    weight = make_tensor((2, 3, 3, 3), "float32", device, gen)
    out = conv2d(x, weight, padding=1)
    assert out.shape == (2, 5, 5)
    assert torch.allclose(out, conv2d(x[None], weight, padding=1)[0])


def test_numpy_integers_are_taken_as_ints(harness_state):
    """stride, padding, dilation and groups may be NumPy integers, as F.conv2d takes them
    (a shape read from an array); a bool is refused, as a NumPy one is."""
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    x = make_tensor((1, 4, 7, 6), "float32", device, gen)
    weight = make_tensor((4, 2, 3, 3), "float32", device, gen)
    ints = {"stride": (1, 2), "padding": 1, "dilation": 2, "groups": 2}
    as_numpy = {"stride": tuple(np.int32(v) for v in ints["stride"]), "padding": np.int64(1),
                "dilation": np.int16(2), "groups": np.int64(2)}  # fmt: skip
    assert torch.equal(conv2d(x, weight, **as_numpy), conv2d(x, weight, **ints))
    for name, flag in (("groups", True), ("stride", np.bool_(True))):
        with pytest.raises(TypeError, match=rf"\b{name}\b.*an int"):
            conv2d(x, weight, **{**ints, name: flag})


@pytest.mark.parametrize(
    ("groups", "kwargs", "channels_last"),
    [
        (1, {"padding": 2, "dilation": (2, 1), "stride": (1, 2)}, False),  # the implicit GEMM
        (2, {"padding": "same"}, True),
        (6, {"padding": 1, "stride": 2}, True),  # depthwise, channel multiplier 2
        (6, {"padding": (2, 1), "dilation": (1, 2)}, False),  # depthwise on planes (NCHW)
    ],
)
def test_the_gpus_int32_indexing_gives_the_same_result(groups, kwargs, channels_last,
                                                        monkeypatch, harness_state):  # fmt: skip
    """Below 2**31 the GPU's conv2d kernels index in int32 (INDEX_64 off), which the
    interpreter never picks by itself, nor the GPU the int64 path at test sizes: both
    forced, in either mode, with pixels past M and taps past the reduction, forward and
    backward: the same tiles and sums, so the same bits (and the bounds check sees every
    unmasked lane)."""
    import kernels.conv2d as conv

    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(2)
    x = make_tensor((3, 6, 9, 7), "float32", device, gen)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    weight = make_tensor((12, 6 // groups, 3, 3), "float32", device, gen)
    bias = make_tensor((12,), "float32", device, gen)

    def run() -> list[torch.Tensor]:
        leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
        out = conv2d_autograd(*leaves, groups=groups, **kwargs)
        out.backward(torch.ones_like(out))
        return [out.detach(), *(t.grad for t in leaves[:2])]

    monkeypatch.setattr(conv, "_index_64", lambda *args: True)
    wide = run()
    monkeypatch.setattr(conv, "_index_64", lambda *args: False)
    narrow = run()
    assert all(torch.equal(w, n) for w, n in zip(wide, narrow, strict=True))


@pytest.mark.parametrize(
    ("channels_last", "taps", "dtype", "design"),
    [
        (False, 3, "float16", "plane-"),
        (False, 7, "float16", "plane-"),
        (False, 7, "float32", "plane-"),
        (True, 7, "float16", "depthwise-"),
    ],
)
def test_depthwise_tiles_run_along_what_memory_holds_adjacent(channels_last, taps, dtype, design,
                                                             harness_state):  # fmt: skip
    """Unforced, an NCHW depthwise convolution runs on the plane kernel (a row of a plane
    is adjacent in memory), whatever its filters' size and dtype; a channels-last one
    runs on the pixels x filters kernel (the channels are adjacent). Each kernel's
    threads then read neighbouring addresses."""
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(4)
    x = make_tensor((2, 4, 6, 5), dtype, device, gen)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    weight = make_tensor((4, 1, taps, taps), dtype, device, gen)
    with _plans.recording() as launched:
        conv2d(x, weight, padding=taps // 2, groups=4)
    assert [name.split("/")[1].startswith(design) for name in launched] == [True], launched


def test_a_forced_design_the_family_lacks_is_an_error_and_anothers_is_left_to_the_tuner(
    harness_state,
):
    """A forced name no conv2d table has is a ValueError naming it (a typo must not test
    the tuner's choice instead); a design the family has for another kernel (a GEMM's,
    forced on a depthwise problem) leaves this problem to its own kernel's tuner
    (`kernels._plans.table_names` notes each family's designs)."""
    import kernels.conv2d as conv

    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(6)
    x = make_tensor((1, 2, 5, 6), "float32", device, gen)
    weight = make_tensor((2, 1, 3, 3), "float32", device, gen)
    table = "interpret" if harness_state.mode == "interpret" else "gpu"
    with _plans.forcing(f"conv2d/plane-no-such-design/{table}"):
        with pytest.raises(ValueError, match="no conv2d config named 'plane-no-such-design'"):
            conv2d(x, weight, padding=1, groups=2)
    gemm = f"conv2d/{next(iter(conv.GEMM_CONFIGS[table]))}/{table}"
    with _plans.forcing(gemm), _plans.recording() as launched:
        conv2d(x, weight, padding=1, groups=2)
    assert len(launched) == 1 and "/plane-" in launched[0], launched


# Rows of 11 are read one column at a time, of 12 in vectors; 3 x 3 has a halo of one
# column a side, 7 x 7 of three, which rows of 12 read in vectors too.
@pytest.mark.parametrize(
    ("stride", "width", "taps"),
    [(1, 11, 3), (2, 11, 3), (1, 12, 3), (2, 12, 3), (1, 12, 7), (2, 12, 7)],
)
def test_plane_programs_walking_down_a_plane_write_every_row(stride, width, taps, harness_state):
    """Each config of this mode's plane table whose programs walk several tiles down a
    plane (TILES), forced: over several programs' bands (17 output rows, 15 at stride 2),
    the last band and its last tile cut short by the plane's end, every output is written
    (the harness poisons the allocator) and within the op's bounds; with rows of 12
    columns the strips' columns are loaded and stored as aligned vectors, those of the
    strips past the rows' end masked whole (the bounds check sees any that are not), and
    7 x 7's halo of 3 columns a side in vectors too, before the row's start and past its
    end masked whole."""
    import kernels.conv2d_depthwise as dw

    table = "interpret" if harness_state.mode == "interpret" else "gpu"
    walking = [name for name in dw.PLANE_CONFIGS[table] if "-t" in name]
    assert walking, dw.PLANE_CONFIGS[table]
    params = {"filters": 6, "kernel": [taps, taps], "groups": 3, "padding": taps // 2,
              "stride": stride, "bias": True}  # fmt: skip
    case = Case("conv2d", "float32", (2, 3, 17 if stride == 1 else 29, width), params, seed=11)
    for name in walking:
        forced = f"conv2d/{name}/{table}"
        assert _judged(case, harness_state, forced) == [forced]


@pytest.mark.parametrize("taps", [3, 7])
def test_plane_vectors_stay_inside_a_narrowed_row(taps, harness_state):
    """x a view of the first 12 columns of wider rows (24, NaN past the view): its rows
    are aligned, so strips load vectors, and nothing past the view's width (the last
    strip's halo, the strips a wider tile has past it) or before its start (7 x 7's halo
    vectors left of column 0) may reach an output: under every walking config of this
    mode's plane table, the same bits as for a contiguous copy of x (rows of 12: the
    same vectors and sums, with x's next row past each row's end)."""
    import kernels.conv2d_depthwise as dw

    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(12)
    base = make_tensor((2, 3, 9, 24), "float32", device, gen)
    base[..., 12:] = float("nan")
    x = base[..., :12]
    weight = make_tensor((3, 1, taps, taps), "float32", device, gen)
    assert dw._row_alignment(x, 12) == dw._row_alignment(x.contiguous(), 12) == 4
    table = "interpret" if harness_state.mode == "interpret" else "gpu"
    for name in (n for n in dw.PLANE_CONFIGS[table] if "-t" in n):
        with _plans.forcing(f"conv2d/{name}/{table}"):
            out = conv2d(x, weight, padding=taps // 2, groups=3)
            dense = conv2d(x.contiguous(), weight, padding=taps // 2, groups=3)
        assert torch.isfinite(out).all(), name
        assert torch.equal(out, dense), name


def test_row_alignment_counts_what_every_row_starts_on():
    """The plane kernel's vectors need every row of a tensor to start on a multiple of
    their width: the largest power of two (16 bytes at most) dividing its strides, its
    rows' width and its address in elements; 1 where its columns are not adjacent."""
    import kernels.conv2d_depthwise as dw

    x = torch.zeros(2, 3, 5, 16, dtype=torch.float16)
    assert dw._row_alignment(x, 16) == 8
    assert dw._row_alignment(x, 12) == 4  # a row 12 wide ends mid-vector
    assert dw._row_alignment(x[..., 2:], 14) == 2  # starts 2 elements in
    assert dw._row_alignment(x.to(memory_format=torch.channels_last), 16) == 1
    assert dw._row_alignment(torch.zeros(2, 3, 5, 7), 7) == 1


def test_the_depthwise_tuners_tell_filter_sizes_apart():
    """The taps, strides and dilations are compile-time constants, not in the kernels'
    runtime arguments: left out of a tuner's key, a 7 x 7 launch would reuse the config
    timed for a 3 x 3 one of the same output size and filters (a stride 2 one for a
    stride 1 one)."""
    import kernels.conv2d_depthwise as dw

    constants = {"R", "S", "STRIDE_H", "DIL_H", "STRIDE_W", "DIL_W"}
    for tuner in (dw.conv2d_depthwise_kernel, dw.conv2d_depthwise_plane_kernel):
        assert constants <= set(tuner.keys), (tuner.fn.__name__, tuner.keys)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_pointwise_design_keeps_the_memory_format_and_applies_only_to_1x1(
    channels_last, harness_state
):
    """Forced, a 1 x 1 convolution runs as one matmul (`_pointwise`) and comes back in x's
    memory format, as PyTorch's does; a 3 x 3 one, forced the same, runs the implicit
    GEMM. (The config axis judges the pointwise design's values on the pinned 1 x 1
    examples: channels-last with a bias, NCHW without; NCHW with a bias, which the
    design would round twice, takes another design.)"""
    mode = harness_state.mode
    device = device_for(mode)
    gen = torch.Generator().manual_seed(5)
    x = make_tensor((2, 8, 3, 5), "float16", device, gen)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    table = "interpret" if mode == "interpret" else "gpu"
    name = f"conv2d/pointwise/{table}"
    for r, expected in [(1, True), (3, False)]:
        weight = make_tensor((6, 8, r, r), "float16", device, gen)
        with _plans.forcing(name), _plans.recording() as launched:
            out = conv2d(x, weight, padding=r // 2)
        assert (name in launched) is expected, launched
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        assert out.is_contiguous(memory_format=fmt), out.stride()


def _tma_design(mode: str, kind: str) -> str:
    """This mode's first config of the TMA design `kind` ("boxes" or "rows"), forced."""
    import kernels.conv2d as conv

    table = "interpret" if mode == "interpret" else "gpu"
    configs = conv.BOXES_CONFIGS if kind == "boxes" else conv.ROWS_CONFIGS
    return f"conv2d/{next(iter(configs[table]))}/{table}"


def _judged(case: Case, harness_state, forced: str | None = None) -> list[str]:
    """conv2d on `case`, `forced` config forced, judged by the op's error model against
    the oracle; the configs it launched."""
    device = device_for(harness_state.mode)
    forcing = _plans.forcing(forced) if forced else contextlib.nullcontext()
    with forcing, _plans.recording() as launched:
        result = run_case(CONV2D, case, harness_state.mode, device, "ops")
    assert result.kernel_ok, result.report()
    return launched


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(
    "params",
    [
        {"padding": "same", "dilation": 2},
        {"padding": [2, 0], "dilation": [1, 2]},  # the taps reach 2 rows above, none left
        {"padding": 1, "bias": True},
    ],
)
def test_boxes_read_zeros_past_the_image_edges(params, dtype, harness_state):
    """The boxes design's taps read past x's edges (the padding), where the copy engine
    fills zeros: with NaN and +-inf on the images' borders, what the oracle says is
    finite is finite and within the op's bounds, over several boxes and filter tiles."""
    forced = _tma_design(harness_state.mode, "boxes")
    params = {"filters": 20, "kernel": [3, 3], "channels_last": True, "specials": True,
              **params}  # fmt: skip
    case = Case("conv2d", dtype, (2, 8, 5, 7), params, seed=6)
    assert _judged(case, harness_state, forced) == [forced]


_K3 = {"filters": 4, "kernel": [3, 3]}
_K1 = {"filters": 20, "kernel": [1, 1]}


@pytest.mark.parametrize(
    ("shape", "params", "boxes", "rows"),
    [
        ((2, 8, 6, 5), _K3 | {"padding": 1}, True, False),
        ((2, 16, 6, 5), _K3 | {"padding": "same", "dilation": 2}, True, False),
        ((2, 8, 6, 5), _K3 | {"padding": "valid"}, True, False),
        ((3, 8, 6, 5), _K1 | {"bias": True}, True, True),
        ((2, 8, 6, 5), _K1 | {"padding": 1}, True, False),  # the output is larger
        ((2, 8, 6, 5), _K3 | {"padding": 1, "stride": 2}, False, False),
        ((2, 8, 6, 5), _K3 | {"padding": 1, "groups": 2}, False, False),
        ((2, 6, 6, 5), _K3 | {"padding": 1}, False, False),  # 12-byte rows: not for TMA
    ],
)
def test_the_tma_designs_take_stride_1_convolutions(shape, params, boxes, rows, harness_state):
    """Forced, the TMA designs run where a tap is a block of x the copy engine can read
    (stride 1, one group, pixels a multiple of 16 bytes), rows only for a 1 x 1
    convolution without padding; elsewhere the implicit GEMM runs; within the op's
    bounds either way."""
    case = Case("conv2d", "float16", shape, params, seed=7)
    for kind, runs in (("boxes", boxes), ("rows", rows)):
        forced = _tma_design(harness_state.mode, kind)
        assert (forced in _judged(case, harness_state, forced)) is runs, kind


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(2, 70, 9, 13), (1, 3, 1, 130), (3, 64, 8, 8), (5, 70, 3, 3)])
def test_the_channels_last_copy_is_a_transposition(shape, dtype, harness_state):
    """`_channels_last` (the TMA designs' copy of an NCHW x) is x's channels-last copy,
    bit for bit, over partial tiles of channels and pixels (few pixels too, as a 3 x 3
    convolution's filters: `FEW_PIXELS_BLOCK`'s tile); on a channels-last x it is
    x itself (a view); on pixels that are not one run (a sliced width) PyTorch copies."""
    import kernels.conv2d as conv

    device = device_for(harness_state.mode)
    x = make_tensor(shape, dtype, device, torch.Generator().manual_seed(8))
    expected = x.permute(0, 2, 3, 1).contiguous()
    assert torch.equal(conv._channels_last(x), expected)
    last = x.contiguous(memory_format=torch.channels_last)
    assert conv._channels_last(last).data_ptr() == last.data_ptr()
    sliced = x[..., 1:]
    assert torch.equal(conv._channels_last(sliced), sliced.permute(0, 2, 3, 1).contiguous())


@pytest.fixture
def copy_launches(monkeypatch) -> list:
    """The kernels conv2d launches through `launch_resolved` (its copies), in order, with
    PAIRED_COPIES on."""
    import kernels.conv2d as conv

    monkeypatch.setattr(conv, "PAIRED_COPIES", True)
    kernels, launch = [], conv.launch_resolved

    def counted(kernel, *rest):
        kernels.append(kernel)
        return launch(kernel, *rest)

    monkeypatch.setattr(conv, "launch_resolved", counted)
    return kernels


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "launches"),
    [
        ((2, 70, 9, 13), (5, 70, 3, 3), 1),  # partial tiles of both, in one launch
        ((3, 64, 8, 8), (130, 64, 2, 2), 1),  # more filter tiles than x's
        ((2, 70, 9, 13), (5, 70, 3, 3), 2),  # x sliced below: PyTorch copies x
    ],
)
def test_x_and_the_filters_copied_in_one_launch_are_their_channels_last_copies(
    x_shape, w_shape, launches, dtype, copy_launches, harness_state
):
    """With PAIRED_COPIES on, `_channels_last_pair` copies an NCHW x and (K, C, R, S)
    filters to channels-last in one launch of `channels_last_pair_kernel`, bit for bit as
    two copies; where one of them is not the kernel's to copy, each goes its own way."""
    import kernels.conv2d as conv

    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(14)
    x = make_tensor(x_shape, dtype, device, gen)
    if launches == 2:
        x = x[..., 1:]  # its pixels are no longer one run per channel
    w = make_tensor(w_shape, dtype, device, gen)
    x_last, w_last = conv._channels_last_pair(x, w)
    assert torch.equal(x_last, x.permute(0, 2, 3, 1).contiguous())
    assert torch.equal(w_last, w.permute(0, 2, 3, 1).contiguous())
    paired = [k is conv.channels_last_pair_kernel for k in copy_launches]
    assert paired == ([True] if launches == 1 else [False]), copy_launches


def test_a_convolution_on_paired_copies_meets_its_bounds(copy_launches, harness_state):
    """A boxes convolution of an NCHW x with PAIRED_COPIES on (its x and filters copied
    in one launch) is within the op's bounds, NaN and infinities on the borders too."""
    import kernels.conv2d as conv

    forced = _tma_design(harness_state.mode, "boxes")
    params = {"filters": 20, "kernel": [3, 3], "padding": 1, "bias": True, "specials": True}
    case = Case("conv2d", "float16", (2, 8, 5, 7), params, seed=15)
    assert _judged(case, harness_state, forced) == [forced]
    assert conv.channels_last_pair_kernel in copy_launches, copy_launches


def test_the_channels_last_copy_of_an_image_past_int32_is_pytorchs(monkeypatch, harness_state):
    """Where an image's offsets would pass int32 (the kernel's offsets within an image),
    PyTorch copies instead of `channels_last_kernel` (told here that they would)."""
    import kernels.conv2d as conv

    def no_kernel(*args):
        raise AssertionError("channels_last_kernel launched")

    monkeypatch.setattr(conv, "offsets_fit_int32", lambda *views: False)
    monkeypatch.setattr(conv, "launch_resolved", no_kernel)
    x = make_tensor((2, 8, 3, 5), "float16", device_for(harness_state.mode),
                    torch.Generator().manual_seed(12))  # fmt: skip
    assert torch.equal(conv._channels_last(x), x.permute(0, 2, 3, 1).contiguous())


def test_more_images_or_filters_than_a_grid_axis_are_copied_by_pytorch(harness_state):
    """`_channels_last` copies x's images (or the filters) on the third grid axis, at
    most 65535 of them: past that, PyTorch's copy, not an error about the grid."""
    import kernels.conv2d as conv

    x = torch.randn(65536, 2, 1, 2, device=device_for(harness_state.mode))
    assert torch.equal(conv._channels_last(x), x.permute(0, 2, 3, 1).contiguous())


def test_nchw_rows_read_x_in_place(monkeypatch, harness_state):
    """A 1 x 1 convolution of an NCHW x whose images are 16-byte rows runs on rows
    without a channels-last copy of x (each image's (C, H W) matrix is the tile's x^T),
    within the op's bounds; a channels-last x takes its pixel rows as they lie too."""
    import kernels.conv2d as conv

    copy = conv._channels_last

    def no_copy(t):
        if t.shape[-2:] != (1, 1):  # x, not the (K, C, 1, 1) filters
            raise AssertionError("x was copied to channels-last")
        return copy(t)

    monkeypatch.setattr(conv, "_channels_last", no_copy)
    forced = _tma_design(harness_state.mode, "rows")
    for channels_last in (False, True):
        if channels_last:
            monkeypatch.setattr(conv, "_channels_last", lambda x: x.permute(0, 2, 3, 1))
        params = {"filters": 20, "kernel": [1, 1], "bias": True, "channels_last": channels_last}
        case = Case("conv2d", "bfloat16", (2, 16, 4, 10), params, seed=9)
        assert _judged(case, harness_state, forced) == [forced]


@pytest.mark.parametrize("channels_last", [False, True])
def test_row_tiles_can_leave_through_the_copy_engine(channels_last, monkeypatch, harness_state):
    """A rows config with OUT_DESCRIPTOR stores each tile through a descriptor of out, NCHW
    or channels-last, clipped at its edges: rows of 40 pixels an image (1 x 1), 24 filters
    in blocks of 16, with a bias, within the op's bounds (every output written: the
    harness poisons the allocator)."""
    import kernels.conv2d as conv

    table = "interpret" if harness_state.mode == "interpret" else "gpu"
    design = next(name for name in conv.ROWS_CONFIGS[table] if "-o1-" in name)
    forced = f"conv2d/{design}/{table}"
    made = []

    def out_descriptor(out, nchw):
        made.append(real_out_descriptor(out, nchw))
        return made[-1]

    real_out_descriptor = conv._out_descriptor
    monkeypatch.setattr(conv, "_out_descriptor", out_descriptor)
    params = {"filters": 24, "kernel": [1, 1], "bias": True, "channels_last": channels_last}
    case = Case("conv2d", "bfloat16", (3, 16, 4, 10), params, seed=11)
    assert _judged(case, harness_state, forced) == [forced]
    assert made and all(desc is not None for desc in made), made


@pytest.mark.parametrize("kind", ["boxes", "rows"])
def test_dx_of_a_stride_1_convolution_runs_on_the_tma_designs(kind, harness_state):
    """dx of a stride-1, one-group convolution is a convolution of dy (the filters
    flipped, C and K exchanged, the padding dh (R - 1) - ph): forced, the TMA design
    runs the forward and dx, and the gradients meet their bounds (asymmetric padding
    and dilation for boxes, whose dx padding is then 2 rows and 0 columns)."""
    forced = _tma_design(harness_state.mode, kind)
    if kind == "boxes":
        params = {"filters": 16, "kernel": [3, 3], "padding": [0, 2], "dilation": [1, 2],
                  "bias": True, "channels_last": True}  # fmt: skip
        shape = (2, 8, 5, 7)
    else:
        params = {"filters": 8, "kernel": [1, 1], "bias": True}
        shape = (2, 16, 4, 6)
    grad = dataclasses.replace(OPS["conv2d.grad"], examples=[(shape, params)])
    with _plans.forcing(forced), _plans.recording() as launched:
        check_op(grad, "bfloat16", harness_state.mode, "ops", CONFIG_BUDGET, max_examples=1)
    assert launched.count(forced) >= 2, launched  # the forward and dx


@pytest.mark.parametrize("x_last", [True, False])
@pytest.mark.parametrize("w_last", [True, False])
@pytest.mark.parametrize("paired", [False, True])
def test_a_repeated_call_is_replayed_and_computes_what_a_full_call_does(
    x_last, w_last, paired, harness_state, monkeypatch
):
    """On a GPU, a conv2d call of a signature launched before is replayed (its launches
    sent again, no checks or plan), in either memory format of x and of the filters: an
    NCHW x and (K, C, R, S) filters are copied to channels-last by `channels_last_kernel`
    (both in one launch with PAIRED_COPIES) into temporaries of the replay's own. Every
    call, replayed or not, computes on new tensors exactly what a full call does, the
    first of a shape too, which tunes while its copies launch `fast` (the kernels
    compiled by another shape first): on the H200 (2026-12-04) such a call was kept, and
    its replays sent the copies only."""
    import kernels.conv2d as conv

    if harness_state.mode == "interpret":
        pytest.skip("replays are a GPU launch path (`kernels._launch.Replays`)")
    monkeypatch.setattr(conv, "PAIRED_COPIES", paired)
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(10)

    def inputs(hw: int = 8):
        x = make_tensor((2, 16, hw, hw), "float16", device, gen)
        w = make_tensor((16, 16, 3, 3), "float16", device, gen)
        last = lambda t, yes: t.contiguous(memory_format=torch.channels_last) if yes else t
        return last(x, x_last), last(w, w_last)

    for _ in range(2):  # every kernel compiled, each launch seen by `fast`
        conv2d(*inputs(hw=6), padding=1)
    conv._forward.replays._by_signature.clear()
    full_call, planned = conv.run_forward, []

    def counted(*args):
        planned.append(args)
        return full_call(*args)

    monkeypatch.setattr(conv, "run_forward", counted)
    for _ in range(4):
        x, w = inputs()
        got = conv2d(x, w, padding=1)
        assert torch.equal(got, full_call(conv.Geometry(x, w, None, 1, 1, 1, 1), x, w, None))
        assert got.is_contiguous(memory_format=torch.channels_last) is x_last
    assert len(conv._forward.replays._by_signature) == 1
    assert 1 <= len(planned) <= 3  # the last call at least was replayed


def test_the_tma_designs_run_unforced_only_with_the_copy_engine(monkeypatch, harness_state):
    """Unforced, a 16-bit stride-1 convolution takes boxes on a GPU with the copy engine
    (Hopper, where they were timed), the implicit GEMM on one without, and in the
    interpreter."""
    import kernels.conv2d as conv

    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(11)
    x = make_tensor((2, 16, 6, 5), "float16", device, gen)
    w = make_tensor((8, 16, 3, 3), "float16", device, gen)
    for hopper in (True, False):
        monkeypatch.setattr(conv, "copy_engine", lambda device, hopper=hopper: hopper)
        conv._forward.replays._by_signature.clear()  # the call is planned anew
        with _plans.recording() as launched:
            conv2d(x, w, padding=1)
        boxes = harness_state.mode != "interpret" and hopper
        assert [name.split("/")[1].startswith("boxes-") for name in launched] == [boxes]


def test_no_input_channels_leave_the_bias_on_every_filter(harness_state):
    """C = 0: each output sums no products, so it is its filter's bias (the NumPy
    reference's answer), and dbias sums dy. PyTorch returns no filters there at all, shape
    (N, 0, P, Q): a result of K filters is the one a network's next layer expects."""
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    x = make_tensor((2, 0, 5, 5), "float32", device, gen).requires_grad_(True)
    weight = make_tensor((4, 0, 3, 3), "float32", device, gen).requires_grad_(True)
    bias = make_tensor((4,), "float32", device, gen).requires_grad_(True)
    out = conv2d_autograd(x, weight, bias, 1, 0, 1, 1)
    expected = CONV2D.numpy_ref(
        x.detach().numpy(force=True),
        weight.detach().numpy(force=True),
        bias.detach().numpy(force=True),
    )
    assert out.shape == expected.shape == (2, 4, 3, 3)
    assert torch.equal(out.detach().cpu(), torch.from_numpy(expected).float())
    dy = make_tensor(out.shape, "float32", device, gen)
    dx, dweight, dbias = torch.autograd.grad(out, [x, weight, bias], dy)
    assert dx.shape == x.shape and dweight.shape == weight.shape
    assert torch.allclose(dbias, dy.sum((0, 2, 3)))
    assert conv2d(x.detach(), weight.detach()).count_nonzero() == 0


def test_the_gpu_error_model_counts_the_tensor_cores_steps_of_each_gemm():
    """conv2d's GEMMs run on the tensor cores on a GPU (16-bit operands 16 products a step,
    float32 in tf32 8): dx's and dweight's bounds count their truncating steps there, the
    bias's sum none, and nothing in the interpreter."""
    grad = OPS["conv2d.grad"].error_model
    for dtype, per_step in (("float16", 16), ("float32", 8)):
        params = {"kernel": (3, 3), "filters": 8, "bias": True, "padding": 1}
        case = Case("conv2d.grad", dtype, (32, 8, 56, 56), params)
        gpu = grad.bounds(case, "gpu", "kernel", [dtype] * 3)
        interpret = grad.bounds(case, "interpret", "kernel", [dtype] * 3)
        dx, dweight, dbias = (b.tensor_core_steps for b in gpu)
        assert (dx, dbias) == (-(-8 * 3 * 3 // per_step), 0)
        assert dweight == -(-32 * 56 * 56 // per_step)  # N P Q pixels, stride 1, 'same'
        assert all(b.tensor_core_steps == 0 for b in interpret)
