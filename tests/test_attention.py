"""What the differential tests of attention cannot see: the log-sum-exp the backward is
built on, that key blocks the causal mask hides are never read, that no (Lq, Lk) matrix
is ever allocated, the documented behaviour without keys, and the backward under every
launch config."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.compare import run_case
from harness.dtypes import UNIT_ROUNDOFF
from harness.modes import device_for
from harness.op import Case
from harness.tensors import make_tensor
from harness.tolerance import growth, sum_depth
from kernels import _plans
from kernels.attention import CONFIG_NAMES, attention, attention_autograd, attention_forward
from ops import OPS
from ops.attention import _moved_by_scores
from references.attention import attention_torch, grouped


def _qkv(shape, kv_heads, k_len, dtype, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    batch, _, _, head_dim = shape
    q = make_tensor(shape, dtype, device, gen)
    k = make_tensor((batch, kv_heads, k_len, head_dim), dtype, device, gen)
    v = make_tensor((batch, kv_heads, k_len, head_dim), dtype, device, gen)
    return q, k, v


def _lse_and_bound(q, k, causal, scale):
    """The float64 log-sum-exp of each row's scores, and the float32 error allowed: the
    scores' dot (relative to scale |q| . |k|, growth of D terms), the exponent's and the
    log's roundings (relative to |m| + log Lk), the sum of Lk terms (`ops.attention`).
    On the H200 a float32 dot in tf32 was 200 times past it: the kernel's are exact."""
    q64, k64 = q.double().cpu().numpy(), k.double().cpu().numpy()
    q5 = grouped(q64, k64.shape[1])
    kt = np.swapaxes(k64, -1, -2)[:, :, None]
    s = scale * np.matmul(q5, kt)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True)))[..., 0]
    sigma = (scale * np.matmul(np.abs(q5), np.abs(kt))).max(axis=-1)
    d, k_len = q.shape[-1], k.shape[-2]
    roundings = (growth(sum_depth(d)) + 2) * sigma + 3 * (np.abs(m[..., 0]) + math.log(k_len))
    bound = UNIT_ROUNDOFF["float32"] * (roundings + growth(sum_depth(k_len)) + 5)
    return lse.reshape(q.shape[:-1]), bound.reshape(q.shape[:-1])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize(
    ("shape", "kv_heads", "k_len", "causal"),
    [((1, 2, 37, 16), 2, 70, False), ((2, 4, 50, 32), 2, 21, True), ((1, 1, 9, 64), 1, 9, True)],
)
def test_lse_is_the_log_sum_exp(shape, kv_heads, k_len, causal, dtype, harness_state):
    """The saved LSE is log sum_j exp(s_ij) of the scaled, masked scores, in natural
    units, within its float32 bound; an LSE off by the bound's width fails."""
    device = device_for(harness_state.mode)
    q, k, v = _qkv(shape, kv_heads, k_len, dtype, device)
    scale = 0.3
    _, lse = attention_forward(q, k, v, causal, scale)
    assert lse.dtype == torch.float32 and lse.shape == shape[:-1]
    expected, bound = _lse_and_bound(q, k, causal, scale)
    error = np.abs(lse.double().cpu().numpy() - expected)
    assert (error <= bound).all(), f"worst LSE error / bound {float((error / bound).max()):.3g}"
    assert bound.max() < 1e-3  # the check means something: log 2 (a base-2 LSE) fails it


def test_hidden_key_blocks_are_never_read(harness_state):
    """Causal, Lk > Lq: keys past the last query row are hidden from every row, and the
    loops stop before their blocks. NaN there (past 128, the largest block of any config)
    changes nothing, forward or backward; a kernel that read and masked them would be
    NaN (P = 0 times a NaN of V)."""
    device = device_for(harness_state.mode)
    q, k, v = _qkv((1, 2, 40, 32), 1, 300, "float16", device)
    poisoned_k, poisoned_v = k.clone(), v.clone()
    poisoned_k[:, :, 128:] = float("nan")
    poisoned_v[:, :, 128:] = float("nan")
    do = torch.randn(q.shape, generator=torch.Generator().manual_seed(1)).to(q)

    def run(k, v):
        leaves = [x.detach().requires_grad_(True) for x in (q, k, v)]
        out = attention_autograd(*leaves, causal=True)
        out.backward(do)
        return out, *(x.grad for x in leaves)

    clean = run(k, v)
    poisoned = run(poisoned_k, poisoned_v)
    for name, a, b in zip(("o", "dq", "dk", "dv"), clean, poisoned, strict=True):
        assert torch.equal(a, b), f"{name} changed when hidden keys held NaN"
    assert not clean[2][:, :, 40:].any() and not clean[3][:, :, 40:].any()


def test_no_score_matrix_is_allocated(harness_state, monkeypatch):
    """The forward and backward allocate O, the LSE, delta and the gradients: nothing of
    Lq x Lk elements (here 9216, six times Q's size)."""
    device = device_for(harness_state.mode)
    q, k, v = _qkv((1, 1, 96, 16), 1, 96, "float32", device)
    leaves = [x.detach().requires_grad_(True) for x in (q, k, v)]

    def run():
        attention_autograd(*leaves, causal=False).backward(torch.ones_like(q))

    run()  # on a GPU the autotuner's first call allocates do_bench's 256 MB L2-flush buffer
    sizes: list[int] = []
    for name in ("empty", "empty_strided", "zeros", "full", "empty_like", "zeros_like"):
        real = getattr(torch, name)

        def recording(*args, _real=real, **kwargs):
            out = _real(*args, **kwargs)
            sizes.append(out.numel())
            return out

        monkeypatch.setattr(torch, name, recording)
    run()
    monkeypatch.undo()
    assert sizes, "the launchers allocate through torch.empty: the recording missed them"
    assert max(sizes) < 96 * 96, f"an allocation of {max(sizes)} elements"


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_no_keys_gives_zeros_as_pytorch(dtype, harness_state):
    """Lk = 0: the softmax is over an empty set; O is the empty sum, 0, as PyTorch's SDPA
    gives it (not NaN), the LSE -inf, and every gradient 0."""
    device = device_for(harness_state.mode)
    q, k, v = _qkv((1, 4, 5, 16), 2, 0, dtype, device)
    out, lse = attention_forward(q, k, v, False, None)
    assert torch.equal(out, torch.zeros_like(q))
    assert torch.equal(out, attention_torch(q, k, v))
    assert torch.equal(lse, torch.full_like(lse, -math.inf))
    leaves = [x.detach().requires_grad_(True) for x in (q, k, v)]
    attention_autograd(*leaves).backward(torch.ones_like(q))
    assert all(torch.equal(x.grad, torch.zeros_like(x)) for x in leaves)
    assert torch.equal(attention(q, k, v, causal=True), out)


def test_a_numpy_scale_is_taken_as_a_float(harness_state):
    """scale may be any real number SDPA takes (a NumPy float, an int): the same result as
    the Python float."""
    q, k, v = _qkv((1, 2, 5, 16), 2, 7, "float32", device_for(harness_state.mode))
    expected = attention(q, k, v, scale=0.25)
    assert torch.equal(attention(q, k, v, scale=np.float32(0.25)), expected)
    assert torch.equal(attention(q, k, v, scale=1), attention(q, k, v, scale=1.0))


@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_backward_runs_every_config(config, harness_state):
    """The backward launches with a forced config too (the forward's config axis,
    `test_configs`, covers only the forward): each config's blocks, BLOCK_M and BLOCK_N
    equal or not, meet the gradient's bound on causal, grouped, unequal lengths."""
    mode = harness_state.mode
    op = OPS["attention.grad"]
    with _plans.forcing(config), _plans.recording() as launched:
        for shape, params in [((1, 4, 45, 70, 16), {"kv_heads": 2}), ((1, 2, 70, 33, 32), {})]:
            case = Case(op.name, "float16", shape, {**params, "causal": True})
            result = run_case(op, case, mode, device_for(mode), "ops")
            assert result.ok, result.report()
    assert config in launched


@pytest.mark.parametrize("blocks", [((16, 32), (32, 16)), ((32, 16), (16, 32))])
def test_the_backward_kernels_run_blocks_of_their_own(blocks, harness_state, monkeypatch):
    """Unforced, the dK/dV and dQ kernels launch with a config each (`BACKWARD_CONFIGS`,
    as on a GPU at D = 128): with blocks that differ between the two kernels, and
    BLOCK_M != BLOCK_N in each, the gradients meet their bound on causal, grouped,
    unequal lengths (the delta kernel takes the dQ kernel's rows)."""
    import kernels.attention as kernels_attention

    mode = harness_state.mode
    like_q = torch.empty(1, 1, 1, 16, dtype=torch.float16, device="meta")
    table = kernels_attention.backward_table(_plans.default_constants(), like_q)
    pair = tuple(kernels_attention._config(m, n, 4, 1) for m, n in blocks)
    monkeypatch.setitem(kernels_attention.BACKWARD_CONFIGS, table, pair)
    op = OPS["attention.grad"]
    for shape, params in [((1, 4, 45, 70, 16), {"kv_heads": 2}), ((1, 2, 70, 33, 32), {})]:
        case = Case(op.name, "float16", shape, {**params, "causal": True})
        result = run_case(op, case, mode, device_for(mode), "ops")
        assert result.ok, result.report()


def test_the_backward_configs_follow_mode_dtype_and_head_dim():
    """A GPU's backward takes its configs by dtype and head_dim (timed apart on the H200:
    `BACKWARD_CONFIGS`); the interpreter's are its own whatever the inputs."""
    from kernels.attention import BACKWARD_CONFIGS, backward_table

    q = lambda dtype, d: torch.empty(1, 1, 8, d, dtype=dtype, device="meta")
    assert backward_table("gpu", q(torch.bfloat16, 64)) == "gpu"
    assert backward_table("gpu", q(torch.float16, 32)) == "gpu"
    assert backward_table("gpu", q(torch.float16, 128)) == "gpu-d128"
    assert backward_table("gpu", q(torch.float32, 128)) == "gpu-float32"
    assert backward_table("interpret", q(torch.bfloat16, 128)) == "interpret"
    assert all(len(pair) == 2 for pair in BACKWARD_CONFIGS.values())


TMA_NAMES = [name for name in CONFIG_NAMES if "/tma-" in name]


def _table_of(mode: str) -> str:
    return "/interpret" if mode == "interpret" else "/gpu"


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("config", TMA_NAMES)
def test_the_tma_forward_reads_ragged_grouped_heads(config, causal, harness_state):
    """The forward through tensor descriptors (each block one head's rows, the copy
    engine's zeros past Lq and Lk): query and key lengths of no block multiple, grouped
    K/V heads, causal or not, within the op's own bounds, and it is what ran."""
    mode = harness_state.mode
    if not config.endswith(_table_of(mode)):
        pytest.skip("a config of the other mode")
    op = OPS["attention"]
    with _plans.forcing(config), _plans.recording() as launched:
        for shape, params in [((2, 4, 45, 70, 16), {"kv_heads": 2}), ((1, 2, 70, 33, 32), {})]:
            case = Case(op.name, "bfloat16", shape, {**params, "causal": causal})
            result = run_case(op, case, mode, device_for(mode), "ops")
            assert result.ok, result.report()
    assert set(launched) == {config}  # a set: parity mode launches twice a case


def test_the_tma_design_runs_the_backward_on_descriptors_too(harness_state, monkeypatch):
    """Forced, the TMA design reads the backward's blocks through descriptors as well: Q
    and dO in blocks of the dK/dV kernel's BLOCK_M rows, K and V of the dQ kernel's
    BLOCK_N (the gradients themselves are judged by `test_backward_runs_every_config`)."""
    import kernels.attention as kernels_attention

    mode = harness_state.mode
    config = next(n for n in TMA_NAMES if n.endswith(_table_of(mode)))
    built: list[list[int]] = []
    real = kernels_attention._descriptors

    def recording(*blocks):
        built.append([rows for _, rows in blocks])
        return real(*blocks)

    monkeypatch.setattr(kernels_attention, "_descriptors", recording)
    q, k, v = (
        x.requires_grad_(True) for x in _qkv((1, 2, 40, 32), 1, 50, "float16", device_for(mode))
    )
    with _plans.forcing(config):
        attention_autograd(q, k, v, causal=True).backward(torch.ones_like(q))
    table = "interpret" if mode == "interpret" else "gpu"
    dkdv, dq = (config.kwargs for config in kernels_attention.BACKWARD_CONFIGS[table])
    m, n = dkdv["BLOCK_M"], dq["BLOCK_N"]
    assert built[-2:] == [[m, m], [n, n]], built


def test_the_tma_forward_leaves_unreadable_views_to_the_pointer_kernel(harness_state):
    """Q with a strided head_dim (a transposed view) cannot be read by the copy engine:
    the TMA design forced, the pointer kernel runs, says so, and gives the unforced
    launch's result."""
    mode = harness_state.mode
    config = next(n for n in TMA_NAMES if n.endswith(_table_of(mode)))
    q, k, v = _qkv((1, 2, 40, 32), 2, 40, "float16", device_for(mode))
    q_strided = q.transpose(-1, -2).contiguous().transpose(-1, -2)
    with _plans.forcing(config), _plans.recording() as launched:
        out = attention(q_strided, k, v)
    assert launched and "tma" not in launched[0], launched
    assert torch.equal(out, attention(q, k, v))


def test_the_tma_forward_runs_unforced_only_where_it_was_timed_faster(monkeypatch):
    """Unforced, the descriptor forward takes 16-bit attention of more than TMA_MIN_WORK
    visible scores on a GPU with the copy engine (where the H200 timed it faster than the
    pointer kernel): not float32, not fewer scores (a causal mask halves them), not a GPU
    before Hopper, never the interpreter."""
    from kernels import attention as at

    q = lambda dtype, seq: torch.empty(2, 16, seq, 64, dtype=dtype, device="meta")
    big = math.isqrt(at.TMA_MIN_WORK // 32) * 2  # 2 x 16 heads x seq^2 = 4 x TMA_MIN_WORK
    for dtype, seq, causal, table, hopper, expected in [
        (torch.bfloat16, big, False, "gpu", True, True),
        (torch.float16, big, True, "gpu", True, True),
        (torch.float16, big, True, "gpu", False, False),
        (torch.bfloat16, big // 2, True, "gpu", True, False),
        (torch.float32, big, False, "gpu", True, False),
        (torch.bfloat16, big, False, "interpret", True, False),
    ]:
        monkeypatch.setattr(at, "copy_engine", lambda device, hopper=hopper: hopper)
        got = at._tma_by_default(q(dtype, seq), seq, causal, table)
        assert got is expected, (dtype, seq, causal, table, hopper)


@pytest.mark.parametrize("peaked", [False, True])
def test_the_o_bound_holds_the_worst_perturbation_of_p(peaked):
    """`_moved_by_scores` against the perturbation it bounds: each unnormalized P_j off by
    a relative a_j with |a_j| <= b_j, signed to push O_d furthest (sign(v_jd - O_d): the
    first-order worst case), renormalized. The bound holds it to first order, and on a row
    whose weight sits on one key it is far below the P b (|V| + |O|) it replaced."""
    gen = np.random.default_rng(7)
    rows, keys, dim = 6, 9, 5
    s = gen.normal(size=(1, 1, 1, rows, keys)) * (12.0 if peaked else 1.0)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    v = gen.normal(size=(1, 1, keys, dim))
    o = p @ v[:, :, None]
    b = gen.uniform(0.5, 1.0, size=p.shape) * 2.0**-24  # a float32 roundoff or so
    bound = _moved_by_scores(p * b, v, o)
    a = b[..., None] * np.sign(v[:, :, None, None] - o[..., None, :])  # (..., rows, keys, dim)
    moved = p[..., None] * (1 + a)
    o_moved = (moved * v[:, :, None, None]).sum(axis=-2) / moved.sum(axis=-2)
    # Beyond first order: a relative 2 max(b) of the bound; float64's own rounding of the
    # sums: a few ulps of what they sum.
    second_order = 2 * b.max() * bound
    rounding = 8 * keys * np.spacing(np.abs(v).max())
    assert np.all(np.abs(o_moved - o) <= bound + second_order + rounding)
    # And without those allowances, where the move is well above float64's rounding.
    big = bound > 1e3 * rounding
    assert big.any() and np.all(np.abs(o_moved - o)[big] <= (bound + second_order)[big])
    replaced = (p * b) @ np.abs(v[:, :, None]) + (p * b).sum(axis=-1, keepdims=True) * np.abs(o)
    assert np.all(bound <= replaced + 4 * np.spacing(replaced))  # equal where signs differ
    if peaked:
        assert np.median(bound / replaced) < 0.5


def test_a_repeated_call_is_replayed_and_computes_what_a_full_call_does(harness_state):
    """On a GPU, attention's forward and backward of a signature launched before are
    replayed (`kernels._launch.Replays`; the backward's three launches on a delta of the
    replay's own): on new tensors they compute exactly what calls planned in full do."""
    import kernels.attention as kernels_attention

    if harness_state.mode == "interpret":
        pytest.skip("replays are a GPU launch path (`kernels._launch.Replays`)")
    device = device_for(harness_state.mode)
    gen = torch.Generator().manual_seed(13)
    forward, backward = kernels_attention.attention_forward, kernels_attention.attention_backward

    def calls(q, k, v, do):
        o, lse = forward(q, k, v, True, None)
        return (o, lse, *backward(do, q, k, v, o, lse, True, 1 / math.sqrt(q.shape[-1])))

    def inputs():
        return [make_tensor((2, 2, 70, 64), "float16", device, gen) for _ in "qkvo"]

    for launcher in (forward, backward):
        launcher.replays._by_signature.clear()
    for _ in range(3):  # a first launch may tune, or go through Triton's dispatch
        calls(*inputs())
    assert [len(f.replays._by_signature) for f in (forward, backward)] == [1, 1]
    tensors = inputs()
    replayed = calls(*tensors)
    for launcher in (forward, backward):
        launcher.replays._by_signature.clear()
    full = calls(*tensors)
    for got, want in zip(replayed, full, strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("name", ["attention", "attention.grad"])
def test_the_pytorch_tier_meets_its_bound_at_a_negative_scale(name, harness_state):
    """The night run's case (2026-12-06h, H100): SDPA's flash kernel gave NaN in every
    element at scale -0.5; the PyTorch tier now hands it -Q and |scale|, the same
    function, on every device. Its verdicts, as the kernel's, meet the bound in either
    mode (on the CPU, a workaround that lost the scale's sign would fail here; compiled
    on an H100, 2026-12-07, both pass: benchmarks/results/2026-12-07-h100)."""
    mode = harness_state.mode
    params = {"causal": False, "kv_heads": 2, "kv_layout": "transposed", "scale": -0.5}
    case = Case(OPS[name].name, "float16", (1, 2, 16, 31, 128), params, seed=7243)
    result = run_case(OPS[name], case, mode, device_for(mode), "ops")
    assert result.verdict("torch") and all(v.ok for v in result.verdict("torch"))
    assert result.kernel_ok
