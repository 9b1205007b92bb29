"""What the differential tests of matmul cannot see: that the forward reads its operands
in place, through their strides, whatever their layout (the harness's strided inputs
prove that the strides are honoured, not that nothing was copied first)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading

import numpy as np
import pytest
import torch
import triton

from harness.dtypes import read_by_tensor_cores
from harness.modes import device_for
from harness.tensors import make_tensor
from kernels import _plans
from kernels._launch import SHARED_MEMORY_BYTES, fitted, fitting_configs, gemm_tile_bytes
from kernels.matmul import CONFIG_NAMES, CONFIGS, TMA_CONFIGS, matmul, matmul_autograd

COPIES = ("contiguous", "clone", "reshape", "copy_")
"""What a launcher would call to copy an operand into a layout of its liking."""


def _refuse(*args, **kwargs):
    raise AssertionError("matmul copied an operand")


@pytest.mark.parametrize("layout", ["transposed", "strided", "padded"])
@pytest.mark.parametrize(("a_shape", "b_shape"), [((5, 7), (7, 3)), ((2, 5, 7), (7, 3))])
def test_operands_are_read_in_place(layout, a_shape, b_shape, harness_state):
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    a = make_tensor(a_shape, "float16", device, gen, layout=layout)
    b = make_tensor(b_shape, "float16", device, gen, layout=layout)
    bias = make_tensor(b_shape[-1:], "float16", device, gen, layout="strided")
    with pytest.MonkeyPatch.context() as patch:
        for name in COPIES:
            patch.setattr(torch.Tensor, name, _refuse)
        out = matmul(a, b, bias, activation="gelu")
    # The same kernel on contiguous copies: the same tiles, sums and roundings.
    same = matmul(a.contiguous(), b.contiguous(), bias.contiguous(), activation="gelu")
    assert torch.equal(out, same)


def _tf32(x: torch.Tensor) -> torch.Tensor:
    """x as the tensor cores read it in tf32 (`harness.dtypes.read_by_tensor_cores`)."""
    return torch.from_numpy(read_by_tensor_cores(x.float().numpy(), "tf32"))


@pytest.mark.parametrize("seed", range(4))
def test_dbias_bound_covers_the_tf32_forward_behind_gelu(seed):
    """On the GPU a float32 matmul's forward runs on tf32 operands, and gelu' reads the Z
    it stored: dbias, a plain float32 sum of dz, moves with it (the H200 found dbias off
    by 21x a bound that had no tf32 in it). The case the H200 failed on, and three more
    seeds, with the GPU's forward simulated: every element must be within the gpu
    mode's bound for the kernel."""
    from harness.compare import build_inputs, oracle_and_conditions
    from harness.op import Case, load_registry
    from kernels.matmul import _gelu_tanh_grad

    op = load_registry("ops")["matmul.grad"]
    params = {"activation": "gelu", "b_layout": "padded", "bias": True, "layout": "strided"}
    case = Case("matmul.grad", "float32", (31, 13, 37), params, seed)
    inputs = build_inputs(op, case, "cpu")
    oracle, conditions = oracle_and_conditions(op, case, inputs)
    a, b, bias, _, _, dy = inputs.args
    z = (_tf32(a).double() @ _tf32(b).double() + bias.double()).float()
    dbias = (dy.float() * _gelu_tanh_grad(z)).sum(dim=0, dtype=torch.float32)
    names = [model.name for model in op.error_model.models(case, len(oracle))]
    j = names.index("dbias")
    bound = op.error_model.bounds(case, "gpu", "kernel", ["float32"] * len(oracle))[j]
    err = np.abs(dbias.double().numpy() - oracle[j])
    assert (err <= bound.allowed(oracle[j], conditions[j])).all(), bound.describe()


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # gelu's, by design
@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_the_gpus_int32_offsets_give_the_same_result(activation, monkeypatch, harness_state):
    """Below 2**31 the GPU indexes its tiles in int32 (INDEX_64 off), which the
    interpreter never picks by itself, nor the GPU the int64 path at test sizes: both
    forced, in either mode, on a batched, strided, padded case with bias and the stored
    pre-activation: the same tiles and sums, so the same bits (and the bounds check
    sees every unmasked lane)."""
    import kernels.matmul as mm

    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(1)
    a = make_tensor((2, 37, 45), "float32", device, gen, layout="strided")
    b = make_tensor((45, 29), "float32", device, gen, layout="padded")
    bias = make_tensor((29,), "float32", device, gen)
    monkeypatch.setattr(mm, "_index_64", lambda *operands: True)
    wide = mm._launch(a, b, bias, activation, "ieee", store_preactivation=True)
    monkeypatch.setattr(mm, "_index_64", lambda *operands: False)
    narrow = mm._launch(a, b, bias, activation, "ieee", store_preactivation=True)
    assert torch.equal(wide[0], narrow[0]) and torch.equal(wide[1], narrow[1])


def test_offsets_fit_int32_counts_the_lanes_past_the_end():
    from kernels._launch import TILE_SLACK, offsets_fit_int32

    assert offsets_fit_int32(((1000, 1000), (1000, 1)))
    assert not offsets_fit_int32(((2**31 // 8 - TILE_SLACK, 4), (8, 1)))
    assert offsets_fit_int32(((2**31 // 8 - TILE_SLACK - 64, 1), (8, 1)))
    assert not offsets_fit_int32(((4, 4), (1, 1)), ((3, 2**30), (2**30, 1)))


def test_backward_on_another_thread_runs_the_forced_config(harness_state):
    """PyTorch runs the backward of CUDA tensors on a thread of its own, which inherits
    no context variable: the forward's forcing and recording go with the autograd
    Function (`kernels._plans.carried_to_backward`). Here the backward is run on a fresh
    thread; without the carry only the forward's launch would be recorded."""
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    a, b = (make_tensor(s, "float32", device, gen).requires_grad_() for s in ((20, 24), (24, 18)))
    name = next(n for n in CONFIG_NAMES if n.endswith(f"/{_plans.default_constants()}"))
    with _plans.forcing(name), _plans.recording() as launched:
        out = matmul_autograd(a, b, precision="ieee")
    worker = threading.Thread(target=out.backward, args=(torch.ones_like(out),))
    worker.start()
    worker.join()
    assert launched == [name] * 3  # the forward, dA and dB
    grads_on_a_worker = a.grad.clone(), b.grad.clone()
    a.grad = b.grad = None
    with _plans.forcing(name):
        matmul_autograd(a, b, precision="ieee").backward(torch.ones_like(out))
    # The same kernel, config and order on this thread: the very same gradients.
    assert torch.equal(a.grad, grads_on_a_worker[0]) and torch.equal(b.grad, grads_on_a_worker[1])


def test_a_16_bit_config_is_fitted_to_float32_operands():
    """128 x 256 tiles with K steps of 64 and 3 stages fit shared memory in 16 bits (144
    KiB), not in float32 (288 KiB): forced, the K step halves and the rest stays; tuned,
    the config is pruned for float32 only."""
    big = triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8}, 8, 3)
    small = triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8}, 4, 4)
    assert gemm_tile_bytes(big, 2) == 3 * (128 + 256) * 64 * 2 <= SHARED_MEMORY_BYTES
    assert fitted(big, 2) is big
    fit = fitted(big, 4)
    assert fit.kwargs == {**big.kwargs, "BLOCK_K": 32}
    assert (fit.num_warps, fit.num_stages) == (8, 3)
    assert gemm_tile_bytes(fit, 4) <= SHARED_MEMORY_BYTES < gemm_tile_bytes(big, 4)
    prune = fitting_configs("a_ptr")
    for dtype, kept in ((torch.float32, [small]), (torch.float16, [big, small])):
        assert prune([big, small], {"a_ptr": torch.empty(1, dtype=dtype)}) == kept


def _forced_run(name: str, *operands, **kwargs) -> tuple[torch.Tensor, list[str]]:
    with _plans.forcing(name), _plans.recording() as launched:
        return matmul(*operands, **kwargs), launched


def _judged_forced(
    name: str | None, shape: tuple[int, ...], dtype: str, params: dict, harness_state
):
    """The registry's matmul case run with config `name` forced (None: unforced), both
    tiers judged by the op's own error model; the configs it launched."""
    from harness.compare import run_case
    from harness.op import Case, load_registry

    case = Case("matmul", dtype, shape, params, seed=0)
    device = device_for(harness_state.mode)
    forcing = _plans.forcing(name) if name else contextlib.nullcontext()
    with forcing, _plans.recording() as launched:
        result = run_case(load_registry("ops")["matmul"], case, harness_state.mode, device, "ops")
    assert result.kernel_ok, [v for v in result.verdict("kernel") if not v.ok]
    return launched


def _pointer_twin(table: str, tma) -> str:
    """The pointer kernel's config with a TMA config's tiles."""
    tma_only = ("PROGRAMS_PER_SM", "C_DESCRIPTOR")
    blocks = {k: v for k, v in tma.kwargs.items() if k not in tma_only}
    return next(n for n, c in CONFIGS[table].items() if c.kwargs == blocks)


def _tma_designs(harness_state) -> list[tuple[str, str, object]]:
    """(table, design name, config) of every TMA config of this mode."""
    table = "interpret" if harness_state.mode == "interpret" else "gpu"
    return [(table, name, config) for name, config in TMA_CONFIGS[table].items()]


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # gelu's, by design
@pytest.mark.parametrize("design", range(len(TMA_CONFIGS["gpu"])))
@pytest.mark.parametrize("b_layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("shape", [(2, 8, 8), (70, 40, 24)])
def test_the_tma_design_computes_what_the_pointer_kernel_does(
    shape, b_layout, design, harness_state
):
    """The TMA design (descriptor loads, the copy engine's zero fill past the edges instead
    of masks), a program per tile or persistent programs looping over tiles, on several
    tiles, a ragged last one and a K step hanging past K, B read as it is or as B^T (a
    transposed view): within the op's bounds, and in the interpreter equal to the pointer
    kernel at the same tiles (the same block products and sums)."""
    designs = _tma_designs(harness_state)
    if design >= len(designs):
        pytest.skip(f"this mode has {len(designs)} TMA configs")
    table, tma_name, tma = designs[design]
    name = f"matmul/{tma_name}/{table}"
    params = {"b_layout": b_layout, "bias": True, "activation": "gelu"}
    # set: parity mode launches each config twice, compiled and in the interpreter
    assert set(_judged_forced(name, shape, "bfloat16", params, harness_state)) == {name}
    if harness_state.mode == "interpret":
        pointer = _pointer_twin(table, tma)
        gen = torch.Generator().manual_seed(0)
        m, k, n = shape
        a = make_tensor((m, k), "bfloat16", "cpu", gen)
        b = make_tensor((k, n), "bfloat16", "cpu", gen, layout=b_layout)
        out, launched = _forced_run(name, a, b, activation="gelu")
        same, _ = _forced_run(f"matmul/{pointer}/{table}", a, b, activation="gelu")
        assert launched == [name] and torch.equal(out, same)


@pytest.mark.parametrize("b_layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("batch", ["both", "a", "b1"])
def test_the_tma_design_runs_batched_gemms(batch, b_layout, harness_state):
    """Batched operands through 3-D descriptors, a block of one batch (an operand without
    a batch dim, or with one of 1, broadcast): every TMA config forced, K steps hanging
    past K (a block must read zeros there, not the next batch's rows), NaN and inf in A,
    judged by the op's bounds; in the interpreter equal to the pointer kernel at the same
    tiles."""
    shape = batches, m, k, n = (3, 40, 24, 40)  # rows of 48 and 80 bytes: TMA reads them
    params = {"batch": batch, "b_layout": b_layout, "bias": True, "activation": "relu"}
    gen = torch.Generator().manual_seed(0)
    a = make_tensor((batches, m, k), "bfloat16", "cpu", gen)
    b_shape = {"both": (batches, k, n), "a": (k, n), "b1": (1, k, n)}[batch]
    b = make_tensor(b_shape, "bfloat16", "cpu", gen, layout=b_layout)
    for table, tma_name, tma in _tma_designs(harness_state):
        name = f"matmul/{tma_name}/{table}"
        launched = _judged_forced(name, shape, "bfloat16", {**params, "specials": True},
                                  harness_state)  # fmt: skip
        assert set(launched) == {name}
        if harness_state.mode == "interpret":
            out, launched = _forced_run(name, a, b, activation="relu")
            same, _ = _forced_run(f"matmul/{_pointer_twin(table, tma)}/{table}", a, b,
                                  activation="relu")  # fmt: skip
            assert launched == [name] and torch.equal(out, same)


def test_the_tma_design_leaves_what_it_cannot_read_to_the_pointer_kernel(harness_state):
    """K = 0 and rows not 16-byte aligned (of A or B, or of C for a config that stores C
    through a descriptor): the TMA design forced, the pointer kernel runs (its tuner's
    choice), says so, and is right by the op's bounds."""
    table = "interpret" if harness_state.mode == "interpret" else "gpu"
    name = f"matmul/{next(iter(TMA_CONFIGS[table]))}/{table}"
    cases = [
        ((8, 6, 8), "float32"),  # rows of 24 bytes
        ((8, 0, 8), "float16"),  # K = 0
        ((8, 12, 8), "float16"),  # rows of 24 bytes
    ]
    for shape, dtype in cases:
        launched = _judged_forced(name, shape, dtype, {}, harness_state)
        assert launched and not any("tma" in c for c in launched), (shape, dtype, launched)
    # A and B^T readable, C's rows of 24 bytes: no descriptor for C, so no C_DESCRIPTOR.
    c_store = next(n for n, c in TMA_CONFIGS[table].items() if c.kwargs.get("C_DESCRIPTOR"))
    params = {"b_layout": "transposed"}
    launched = _judged_forced(f"matmul/{c_store}/{table}", (8, 16, 12), "float16", params,
                              harness_state)  # fmt: skip
    assert launched and not any("tma" in c for c in launched), launched


def test_tma_runs_unforced_only_where_it_was_timed_faster(monkeypatch):
    """Unforced, the TMA design takes 16-bit GEMMs of at least TMA_MIN_WORK multiply-adds
    on a GPU with the copy engine (where the H200 timed it faster than the pointer
    kernel), nothing else: not float32 (not timed), not smaller GEMMs (1024^3: 32 tiles of
    128 x 256 for 132 SMs), not a GPU before Hopper, never the interpreter."""
    from kernels import matmul as mm

    for dtype, work, table, hopper, expected in [
        (torch.bfloat16, mm.TMA_MIN_WORK, "gpu", True, True),
        (torch.float16, 8192**3, "gpu", True, True),
        (torch.float16, 8192**3, "gpu", False, False),
        (torch.bfloat16, mm.TMA_MIN_WORK - 1, "gpu", True, False),
        (torch.float32, 8192**3, "gpu", True, False),
        (torch.bfloat16, 8192**3, "interpret", True, False),
    ]:
        monkeypatch.setattr(mm, "copy_engine", lambda device, hopper=hopper: hopper)
        a = torch.empty(2, 2, dtype=dtype)
        assert mm._tma_by_default(a, work, table) is expected, (dtype, work, table, hopper)


def test_unforced_tma_weighs_a_batched_gemm_by_its_whole_work(harness_state, monkeypatch):
    """The size rule sees a batched GEMM's multiply-adds over all its batches (32 x 1024^3
    is 2048^3's work; on the H200 its persistent TMA configs ran 1.00-1.04x cuBLAS where
    the pointer kernel ran 0.83-0.84x, benchmarks/results/2026-12-03d-h200/
    batched-tma.txt), and a batched GEMM it says yes to runs TMA unforced, an operand
    broadcast or not; one it says no to runs the pointer kernel."""
    from kernels import matmul as mm

    seen: list[int] = []
    shape = batches, m, k, n = (3, 40, 24, 40)
    for batch, answer in [("both", True), ("a", True), ("both", False)]:

        def size_rule(a, work: int, table: str, answer: bool = answer) -> bool:
            seen.append(work)
            return answer

        monkeypatch.setattr(mm, "_tma_by_default", size_rule)
        launched = _judged_forced(None, shape, "bfloat16", {"batch": batch}, harness_state)
        assert launched and all(("/tma-" in c) is answer for c in launched), (batch, launched)
    assert set(seen) == {batches * m * k * n}


_TMA_BY_C_STORE = {bool(c.kwargs.get("C_DESCRIPTOR")): n for n, c in TMA_CONFIGS["gpu"].items()}
_REPLAYED = {
    "tuned": None,
    "tma": _TMA_BY_C_STORE[False],
    "tma-c-descriptor": _TMA_BY_C_STORE[True],
}


@pytest.mark.parametrize("launch", list(_REPLAYED))
def test_a_replayed_call_computes_and_names_what_a_planned_one_does(
    harness_state, monkeypatch, launch
):
    """A GEMM of a signature launched before is replayed (kernels._launch.Replays): on new
    operands it computes exactly what the planned launch computes on them (the same
    kernel and config: equal bits) and records the config that ran; once the tuner
    forgets its choice, the next call is planned in full. A strided B and a bias: a
    replay fills every tensor's slot. The TMA design, forced, reads its operands (and
    writes C) through tensor descriptors: a replay makes each over the call's tensor."""
    if harness_state.mode == "interpret":
        pytest.skip("replays need Triton's compiled launcher: the interpreter has none")
    from harness.autotune import forget_tuning
    from kernels import matmul as mm

    design = _REPLAYED[launch]
    forcing = lambda: _plans.forcing(f"matmul/{design}/gpu") if design else contextlib.nullcontext()

    planned = []
    checked = mm._check_inputs
    monkeypatch.setattr(mm, "_check_inputs", lambda *args: planned.append(1) or checked(*args))
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(0)
    operands = [
        (
            make_tensor((96, 80), "float16", device, gen),
            make_tensor((80, 72), "float16", device, gen, layout="transposed"),
            make_tensor((72,), "float16", device, gen),
        )
        for _ in range(2)
    ]

    def call(which: int) -> tuple[torch.Tensor, list[str]]:
        a, b, bias = (x.clone() for x in operands[which])  # new addresses each call
        with _plans.recording() as launched, forcing():
            out = matmul(a, b, bias, "relu")
        return out, launched

    # The tuner's first call, Triton's first launch of the kernel, then the one captured.
    first = [call(0), call(1), call(0)]
    before = len(planned)
    replayed = [call(1), call(0)]
    assert len(planned) == before  # replayed: not checked nor planned again
    assert not torch.equal(first[0][0], first[1][0])  # two products a replay could confuse
    assert torch.equal(replayed[0][0], first[1][0]) and torch.equal(replayed[1][0], first[0][0])
    names = [launched for _, launched in first + replayed]
    assert all(n == names[0] and len(n) == 1 for n in names)
    assert design is None or names[0] == [f"matmul/{design}/gpu"]
    if design is None:
        forget_tuning(mm.matmul_kernel)
        call(0)
        assert len(planned) == before + 1


@pytest.mark.parametrize(
    ("dtype", "precision", "steps"),
    [("bfloat16", "ieee", 8313), ("float16", "tf32", 8313), ("float32", "tf32", 16626),
     ("float32", "ieee", 0)],
)  # fmt: skip
def test_the_gpu_error_model_counts_the_tensor_cores_truncating_steps(dtype, precision, steps):
    """On the GPU a 16-bit or tf32 tl.dot sums on the tensor cores, 16 or 8 products a
    truncating step (harness.tolerance.tensor_core_growth), both tiers: the bound of a
    night run's K = 133003 matmul grows by those steps. An "ieee" float32 dot, and every
    dot in the interpreter, rounds to nearest as before."""
    from harness import Case
    from harness.tolerance import TENSOR_CORE_STEP
    from ops import OPS

    case = Case("matmul", dtype, (2, 242, 133003, 1), {"precision": precision, "batch": "a"})
    model = OPS["matmul"].error_model
    gpu, torch_gpu, interpret = (
        model.bounds(case, mode, tier, [dtype])[0]
        for mode, tier in (("gpu", "kernel"), ("gpu", "torch"), ("interpret", "kernel"))
    )
    assert gpu.tensor_core_steps == torch_gpu.tensor_core_steps == steps
    assert interpret.tensor_core_steps == 0
    if steps:
        assert gpu.growth == pytest.approx(1.0 + TENSOR_CORE_STEP * steps)
    else:
        assert gpu.growth == interpret.growth


def test_the_night_runs_bfloat16_failure_is_within_the_gpu_bound_and_was_not_before():
    """What an H100 returned in a night run (benchmarks/results/2026-12-06f-h100, call 2):
    matmul bfloat16 (2, 242, 133003, 1) on non-negative values, an element where float64
    gives 33176.3 (so sum |a b| is that too) came out 33024 from the kernel and 33280 from
    PyTorch. Both are within the GPU bound that counts the tensor cores' truncating steps;
    the kernel's was not within the rounding-to-nearest bound it had before."""
    from harness import Case
    from harness.error_models import exact_products
    from ops import OPS

    exact, kernel, pytorch = 33176.3, 33024.0, 33280.0
    params = {"precision": "ieee", "batch": "a", "activation": None, "bias": False}
    case = Case("matmul", "bfloat16", (2, 242, 133003, 1), params)
    model = OPS["matmul"].error_model
    for tier, value in (("kernel", kernel), ("torch", pytorch)):
        bound = model.bounds(case, "gpu", tier, ["bfloat16"])[0]
        assert abs(value - exact) <= bound.allowed(exact, exact), (tier, bound.describe())
    # The same model without the tensor cores: the bound before fe7dcd7.
    plain = [dataclasses.replace(m, tensor_cores=exact_products) for m in model.models(case, 1)]
    before = dataclasses.replace(model, outputs=plain).bounds(case, "gpu", "kernel", ["bfloat16"])
    assert before[0].tensor_core_steps == 0
    assert abs(kernel - exact) > before[0].allowed(exact, exact)


def test_the_ieee_kernels_spans_let_its_bound_catch_one_running_sum():
    """float32 ieee matmul declares its K loop's spans (ops.matmul's order for the kernel
    tier): on a dot of 2**22 products of uniform values, summed in float32 as the kernel
    would in each span length it may use, the kernel's bound holds; one running sum of
    them (NumPy's cumsum adds in order, as the FMAs of one accumulator do) errs past it,
    stagnating (benchmarks/results/2026-12-07d-h100: 26,000 u on an H100 at 3 x 2**20).
    The PyTorch tier's bound, for any order, holds both."""
    from harness import Case
    from kernels.matmul import ieee_span_lengths
    from ops import OPS

    n = 2**22
    rng = np.random.default_rng(5)
    terms = (rng.random(n) * rng.random(n)).astype(np.float32)
    exact = math.fsum(terms.astype(np.float64))  # = sum |a b|, the condition
    case = Case("matmul", "float32", (1, n, 1), {"precision": "ieee"})
    model = OPS["matmul"].error_model
    kernel, pytorch = (model.bounds(case, "gpu", t, ["float32"])[0] for t in ("kernel", "torch"))
    one_sum = abs(float(np.cumsum(terms, dtype=np.float32)[-1]) - exact)
    assert kernel.allowed(exact, exact) < one_sum <= pytorch.allowed(exact, exact)
    for span in ieee_span_lengths():
        partials = np.cumsum(terms.reshape(-1, span), axis=1, dtype=np.float32)[:, -1]
        in_spans = abs(float(np.cumsum(partials, dtype=np.float32)[-1]) - exact)
        assert in_spans <= kernel.allowed(exact, exact), (span, kernel.describe())
