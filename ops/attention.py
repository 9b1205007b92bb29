"""attention: softmax(Q K^T scale + mask) V, and its gradient (`attention.grad`).

A case's shape is the problem's dims, not a tensor's: (batch, heads, Lq, Lk, D), with
  Q (batch, heads, Lq, D),  K and V (batch, kv_heads, Lk, D),  O like Q.
Params: "kv_heads" (a divisor of heads: grouped-query attention when fewer), "causal"
(PyTorch's top-left is_causal), "scale" (None: 1 / sqrt(D)), "layout" Q's layout and
"kv_layout" K's and V's (`harness.tensors.make_tensor`; "transposed" swaps seq and D in
memory). dO (in attention.grad) takes Q's layout.

Drawn problems keep the score matrix, batch x heads x Lq x Lk, within an eighth of the
budget (what the interpreter's key steps and the oracle cost: 2048 scores, 64 x 32) and
Q, K, V within it.

Error model (derived here, computed by `_magnitudes`). Write s_ij = scale q_i . k_j, m_i
the row max, LSE_i the log-sum-exp, P the probabilities; gD, gK, gQ the growths
(`harness.tolerance.growth`) of a dot over D, a sum over the Lk keys and over the G Lq
query rows of a K/V head, each in any order (tl.dot's is not fixed; the interpreter's is
NumPy's). Every quantity below is an error bound in units of u(float32), first order:

  sigma_ij = scale |q_i| . |k_j|       what the score s_ij is accurate relative to;
  b_ij     = (gD + 2) sigma_ij + 3 (|s_ij - m_i| + LSE_i - m_i) + 3
                                       relative error of P_ij element by element: the
                                       score's dot and two multiplies (scale, log2 e), the
                                       exponent's rounding (the online rescales' exponents
                                       add up to at most m_i - s_ij), exp2 (2 ulps on a
                                       GPU) and the product;
  eps_i    = sum_j P_ij b_ij + gK + 2  relative error of the row's normalizer (the sum l
                                       and the division), common to the whole row. In O
                                       the first part cancels against the numerator's:
                                       P_j (1 + a_j) normalized moves O_i by
                                       sum_j P_ij (a_j - sum_k P_ik a_k) v_j
                                       = sum_j P_ij a_j (v_j - O_i);
  c_i      = eps_i + 3 (|m_i| + LSE_i - m_i)
                                       the backward's P = exp(s - LSE): the LSE's error.

  O   = P V                  sum_j P_ij b_ij |v_j - O_i| + gK P |V| + (gK + 4) |O_i|
      (`_moved_by_scores` keeps |v_j - O_i| for each row's largest P b and bounds the
      rest by |v_j| + |O_i|: one matrix product)
  dV  = P^T dO               (P (b + c) + gQ P)^T |dO|, summed over the group
  dS  = P (dP - delta), dP = dO V^T, delta = rowsum(dO O):
      F_ij = P_ij b_ij |dP_ij - delta_i| + P_ij ((gD + 1) |dO_i| . |v_j|
             + sum_d |dO_id| ((gD + 1) |O_id| + err(O_id))) + 2 |dS_ij|
      (P's error times what it multiplies; dP's dot; delta's sum and the forward's
      error of O, which delta is computed from; the subtraction and the product)
  dQ  = scale dS K           scale (F + gK |dS|) |K| + (c_i + 1) |dQ_i|
  dK  = scale dS^T Q         scale (F + (c_i + gQ) |dS|)^T |Q| + |dK|, summed

The condition of each output is that bound itself, so the model's g is 1 (one step, no
terms). The relative form matters: an output that cancels to nearly 0 (O of zero-mean V
over many keys, dQ = scale sum_j dS_ij k_j with sum_j dS_ij = 0) is judged against what
was summed, never against itself; the row-common errors (eps, c) are judged against the
result, as they scale it.

In a 16-bit dtype the kernel also rounds P and dS to the dtype before their GEMMs (the
tensor cores' operands; the interpreter rounds the same way) and delta is computed from
O rounded to the dtype: one rounding each, relative to |P|, |dS|, |O| (or half the
subnormal spacing, `_rounded`: a float16 P below 6e-5). `_model` splits the condition so
that u(float32) and 2 u(dtype) each apply to their own magnitudes. PyTorch's CPU SDPA
rounds P (and dS) to the dtype as well: its reference roundings, r = 2. The kernel's
float32 dots are exact on the GPU as in the interpreter (no tf32).

A GPU flushes float32 results below the smallest normal, 2**-126, to 0 (exp2 and the
multiplies are compiled flush-to-zero): a P or a dS that small is lost whole, where the
interpreter keeps it. Each counts its own magnitude as error (`_flushed`), in both modes:
measured on the H200, a bfloat16 dK of 5e-37 (scale 20) came out 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from hypothesis import strategies as st

from harness import (
    Backward,
    BadInput,
    Budget,
    Case,
    Configs,
    ErrorModel,
    Inputs,
    Op,
    OutputModel,
    Part,
    Values,
    strategies,
)
from harness.dtypes import SMALLEST_NORMAL, UNIT_ROUNDOFF, itemsize
from harness.tensors import LAYOUTS, make_tensor
from harness.tolerance import growth, sum_depth, tensor_core_growth
from kernels import _plans
from kernels.attention import (
    CONFIG_NAMES,
    HEAD_DIMS,
    INTERPRET_CONFIGS,
    attention,
    attention_autograd,
)
from references.attention import (
    attention_backward_numpy,
    attention_numpy,
    attention_torch,
    default_scale,
    grouped,
    row_blocks,
    scores_block,
)

SCALES = (None, None, 0.5, 0.05, 20.0, -0.5)
"""None: PyTorch's 1 / sqrt(D); a larger and a small one; a negative one (the largest
scaled score is the smallest score: the kernel's unmasked blocks take the row max from
the unscaled scores); and 20, whose logits pass exp's overflow (88.7 in float32) on
normal inputs, where a kernel that does not subtract the max is NaN. (Not the "large"
value profile: logits of 1e8 make the softmax so ill-conditioned that any output within
|V| would pass.)"""

_BLOCKS = tuple(
    sorted({c.kwargs[b] for c in INTERPRET_CONFIGS for b in ("BLOCK_M", "BLOCK_N")} | {64, 128})
)
"""Sequence lengths are drawn around multiples of the block sizes."""


def dims(case: Case) -> tuple[int, int, int, int, int, int]:
    """(batch, heads, kv_heads, Lq, Lk, D)."""
    batch, heads, q_len, k_len, head_dim = case.shape
    return batch, heads, case.params.get("kv_heads", heads), q_len, k_len, head_dim


@st.composite
def _shapes(draw: st.DrawFn, budget: Budget) -> tuple[int, ...]:
    """(batch, heads, Lq, Lk, D) with batch heads Lq Lk within an eighth of the budget
    and Q, K, V within it: D first, then the lengths (near block boundaries, 1 and
    primes), then batch and heads with the room left."""
    head_dim = draw(st.sampled_from(HEAD_DIMS))
    scores = max(1, budget.numel // 8)
    q_len = draw(strategies.sizes(max(1, min(scores, budget.numel // (3 * head_dim))), _BLOCKS))
    k_len = draw(strategies.sizes(max(1, min(scores // q_len, budget.numel // (3 * head_dim))),
                                  _BLOCKS))  # fmt: skip
    room = min(scores // (q_len * k_len), budget.numel // ((q_len + 2 * k_len) * head_dim))
    batch = draw(st.integers(1, max(1, min(room, 2))))
    heads = draw(st.integers(1, max(1, min(room // batch, 4))))
    return (batch, heads, q_len, k_len, head_dim)


def _params(shape: tuple[int, ...]) -> st.SearchStrategy[dict]:
    heads = shape[1]
    return st.fixed_dictionaries(
        {
            "kv_heads": st.sampled_from([d for d in range(1, heads + 1) if heads % d == 0]),
            "causal": st.booleans(),
            "scale": st.sampled_from(SCALES),
            "kv_layout": st.sampled_from(LAYOUTS),
        }
    )


def _cases(budget: Budget):
    return strategies.with_params(_shapes(budget), _params)


def _inputs(case: Case, device, gen) -> Inputs:
    batch, heads, kv_heads, q_len, k_len, head_dim = dims(case)
    values = case.params.get("values", "normal")
    q = make_tensor((batch, heads, q_len, head_dim), case.dtype, device, gen,
                    layout=case.params.get("layout", "contiguous"), values=values)  # fmt: skip
    kv_layout = case.params.get("kv_layout", "contiguous")
    kv_shape = (batch, kv_heads, k_len, head_dim)
    k = make_tensor(kv_shape, case.dtype, device, gen, layout=kv_layout, values=values)
    k.add_(case.params.get("k_offset", 0.0))
    v = make_tensor(kv_shape, case.dtype, device, gen, layout=kv_layout, values=values)
    return Inputs((q, k, v, bool(case.params.get("causal", False)), case.params.get("scale")))


# ------------------------------------------------------------------------ error model
def _operands(case: Case, mode: str) -> str | None:
    """What the kernel rounds its dot operands to besides the inputs: P and dS to a 16-bit
    dtype (both modes: the interpreter rounds as the GPU does); nothing in float32 (its
    dots are exact on the GPU too: `kernels.attention`, precision)."""
    return case.dtype if case.dtype != "float32" else None


def _reference_roundings(case: Case) -> float:
    """PyTorch's P and dS rounded to a 16-bit dtype before their GEMMs: the 2 u(dtype)
    the kernel's operands get (module docstring)."""
    return 0.0 if case.dtype == "float32" else 2.0


def _rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    """What rounding x to `dtype` errs by, per u(dtype): |x|, or the subnormal spacing's
    half (a float16 P below 6e-5 is subnormal: its error is absolute)."""
    return np.maximum(np.abs(x), SMALLEST_NORMAL[dtype])


def _flushed(x: np.ndarray) -> np.ndarray:
    """|x| where a GPU's flush-to-zero may drop it (below float32's smallest normal), per
    u(float32); else 0."""
    small = np.abs(x) < SMALLEST_NORMAL["float32"]
    return np.where(small, np.abs(x), 0.0) / UNIT_ROUNDOFF["float32"]


def _growths(case: Case) -> tuple[float, float, float]:
    """(gD, gK, gQ): the growth of a dot over D, of a sum over the Lk keys and over the
    G Lq query rows a K/V head sees, in any order (tl.dot's, in the interpreter NumPy's,
    is not fixed: depth n - 1, `harness.tolerance.growth`)."""
    _, heads, kv_heads, q_len, k_len, head_dim = dims(case)
    rows = heads // kv_heads * q_len
    # 16-bit dots run on a GPU's tensor cores, whose steps truncate (`tensor_core_growth`).
    # The conditions do not know the mode: the interpreter gets the larger growth too,
    # which differs only for sums past 4096 terms, longer than its budget draws.
    mma = case.dtype if case.dtype != "float32" else None
    return tuple(
        max(growth(sum_depth(n)), tensor_core_growth(n, mma)) for n in (head_dim, k_len, rows)
    )


def _magnitudes(v: Values, case: Case) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (C32, H16): the float32 error bound of O (given dO: of dQ, dK, dV) per
    u(float32), each magnitude weighted by the roundings it carries (module docstring),
    and the magnitudes of what is rounded to the 16-bit dtype (P and dS before their
    GEMMs, O before delta), per u(dtype); a block of query rows at a time, cached."""
    if "attention" in v.cache:
        return v.cache["attention"]
    q, k, vv, causal, scale = v.args[:5]
    do = v.args[5] if len(v.args) > 5 else None
    dtype = case.dtype if case.dtype != "float32" else "float16"  # H16 unused in float32
    g_d, g_k, g_q = _growths(case)
    scale = default_scale(q.shape[-1], scale)
    size = abs(scale)  # a negative scale flips the scores, not their errors
    kv_heads = k.shape[1]
    q5 = grouped(q, kv_heads)
    names = ("o",) if do is None else ("dq", "dk", "dv")
    shapes = {"o": q5.shape, "dq": q5.shape, "dk": k.shape, "dv": k.shape}
    out = {name: (np.zeros(shapes[name]), np.zeros(shapes[name])) for name in names}
    if k.shape[-2] > 0:
        abs_k, abs_v = np.abs(k)[:, :, None], np.abs(vv)[:, :, None]
        for rows in row_blocks(q.shape[-2]):
            s, p = scores_block(q5, k, rows, causal, scale)
            visible = p > 0
            m = s.max(axis=-1, keepdims=True)
            lse_excess = np.log(np.exp(s - m).sum(axis=-1, keepdims=True))  # LSE - m
            abs_q = np.abs(q5[..., rows, :])
            sigma = size * np.matmul(abs_q, np.swapaxes(abs_k, -1, -2))
            with np.errstate(invalid="ignore"):  # -inf - m where hidden: P is 0 there
                b = (g_d + 2) * sigma + 3 * (np.abs(s - m) + lse_excess) + 3
                pb = np.where(visible, p * b + _flushed(p), 0.0)
            eps = pb.sum(axis=-1, keepdims=True) + g_k + 2  # the normalizer's error
            o = np.matmul(p, vv[:, :, None])
            p_v = np.matmul(p, abs_v)
            cond_o = _moved_by_scores(pb, vv, o) + g_k * p_v + (g_k + 4) * np.abs(o)
            p16 = np.where(visible, _rounded(p, dtype), 0.0)
            if do is None:
                out["o"][0][..., rows, :] = cond_o
                out["o"][1][..., rows, :] = np.matmul(p16, abs_v)
                continue
            # The backward's P from the LSE: per element b, per row c (the LSE's error).
            c = eps + 3 * (np.abs(m) + lse_excess)
            do_rows = grouped(do, kv_heads)[..., rows, :]
            abs_do = np.abs(do_rows)
            pbc = pb + p * c
            out["dv"][0][...] += np.matmul(np.swapaxes(pbc + g_q * p, -1, -2), abs_do).sum(axis=2)
            out["dv"][1][...] += np.matmul(np.swapaxes(p16, -1, -2), abs_do).sum(axis=2)
            dp = np.matmul(do_rows, np.swapaxes(vv, -1, -2)[:, :, None])
            delta = (do_rows * o).sum(axis=-1, keepdims=True)
            ds = p * (dp - delta)
            dp_error = (g_d + 1) * np.matmul(abs_do, np.swapaxes(abs_v, -1, -2))
            delta_error = (abs_do * ((g_d + 1) * np.abs(o) + cond_o)).sum(axis=-1, keepdims=True)
            f = pb * np.abs(dp - delta) + p * (dp_error + delta_error) + 2 * np.abs(ds)
            f += np.where(visible, _flushed(ds), 0.0)
            # dS rounded, and delta from O rounded to the dtype (times P)
            f16 = np.where(
                visible,
                _rounded(ds, dtype) + p * (abs_do * _rounded(o, dtype)).sum(axis=-1, keepdims=True),
                0.0,
            )
            dq_error = (c + 1) * np.abs(scale * np.matmul(ds, k[:, :, None]))
            out["dq"][0][..., rows, :] = size * np.matmul(f + g_k * np.abs(ds), abs_k) + dq_error
            out["dq"][1][..., rows, :] = size * np.matmul(f16, abs_k)
            dk_terms = np.swapaxes(f + (c + g_q) * np.abs(ds), -1, -2)
            out["dk"][0][...] += size * np.matmul(dk_terms, abs_q).sum(axis=2)
            out["dk"][1][...] += size * np.matmul(np.swapaxes(f16, -1, -2), abs_q).sum(axis=2)
    out = {
        name: tuple(a.reshape(q.shape) if name in ("o", "dq") else a for a in pair)
        for name, pair in out.items()
    }
    if do is not None:  # each gradient's own final multiply by the scale (dK) or store
        out["dk"] = (out["dk"][0] + np.abs(v.oracle[1]), out["dk"][1])
    v.cache["attention"] = out
    return out


def _moved_by_scores(pb: np.ndarray, v: np.ndarray, o: np.ndarray) -> np.ndarray:
    """How far the errors of the unnormalized P (relative, at most b) move O. The
    normalizer sums the same terms, so O moves by sum_j P_j b_j (v_j - O), not by
    sum_j P_j b_j (|v_j| + |O|): each row's largest P b keeps its |v_j - O| (a row whose
    weight sits on one key barely moves), the rest are bounded by |v_j| + |O|, one
    matrix product. pb is P b (B, Hkv, G, rows, Lk), v (B, Hkv, Lk, D), o (..., rows, D)."""
    top = pb.argmax(axis=-1)[..., None]  # (..., rows, 1); any one key per row would do
    pb_top = np.take_along_axis(pb, top, axis=-1)
    rest = pb.copy()
    np.put_along_axis(rest, top, 0.0, axis=-1)
    v_all = np.broadcast_to(v[:, :, None], (*o.shape[:-2], *v.shape[-2:]))  # a view
    v_top = np.take_along_axis(v_all, np.broadcast_to(top, o.shape), axis=-2)
    moved = np.matmul(rest, np.abs(v)[:, :, None]) + rest.sum(axis=-1, keepdims=True) * np.abs(o)
    return moved + pb_top * np.abs(v_top - o)


def _model(case: Case, name: str) -> OutputModel:
    """One output's model: its condition is its float32 error bound itself (`_magnitudes`:
    the growth of each sum is in it, weighted per magnitude), so g = 1 (steps, no terms).
    In a 16-bit dtype the kernel is allowed (u(float32) + 2 u(dtype)) cond: cond =
    w C32 + (1 - w) H16 with w = u(float32) / (u(float32) + 2 u(dtype)) gives exactly
    u(float32) C32 + 2 u(dtype) H16, each rounding relative to what it rounds."""
    sixteen = 2 * UNIT_ROUNDOFF[case.dtype] if case.dtype != "float32" else 0.0
    w = UNIT_ROUNDOFF["float32"] / (UNIT_ROUNDOFF["float32"] + sixteen)

    def condition(v: Values) -> np.ndarray:
        c32, h16 = _magnitudes(v, case)[name]
        return w * c32 + (1 - w) * h16

    return OutputModel(
        name,
        condition=condition,
        steps=1.0,
        operands=_operands,
        reference_roundings=_reference_roundings(case),
    )


def _forward_models(case: Case) -> list[OutputModel]:
    return [_model(case, "o")]


def _gradient_models(case: Case) -> list[OutputModel]:
    return [_model(case, name) for name in ("dq", "dk", "dv")]


# ---------------------------------------------------------------------- cost, bad inputs
def _flops(case: Case) -> float:
    """4 B H Lq Lk D (two GEMMs of 2 flops a multiply-add), halved for causal."""
    batch, heads, _, q_len, k_len, head_dim = dims(case)
    flops = 4.0 * batch * heads * q_len * k_len * head_dim
    return flops / 2 if case.params.get("causal") else flops


def _bytes(case: Case) -> float:
    """Q, K, V read once, O written once (the LSE's 4 bytes a row besides)."""
    batch, heads, kv_heads, q_len, k_len, head_dim = dims(case)
    elements = batch * head_dim * (2 * heads * q_len + 2 * kv_heads * k_len)
    return elements * itemsize(case.dtype) + 4 * batch * heads * q_len


def _bad_inputs(device) -> list[BadInput]:
    def t(*shape, dtype=torch.float32, dev=device):
        return torch.ones(shape, dtype=dtype, device=dev)

    other = "meta" if device.type == "cpu" else "cpu"
    q, k, v = t(1, 4, 8, 16), t(1, 2, 5, 16), t(1, 2, 5, 16)

    def call(**bad):
        args = {"q": q, "k": k, "v": v, "causal": False, "scale": None, **bad}
        return Inputs(tuple(args.values()))

    return [
        BadInput("3-D q", call(q=t(4, 8, 16)), ValueError, r"\bq\b.*4-D"),
        BadInput("sparse v", call(v=v.to_sparse()), TypeError, r"\bv\b.*dense"),
        BadInput("5-D k", call(k=t(1, 1, 2, 5, 16)), ValueError, r"\bk\b.*4-D"),
        BadInput("head_dim 8", call(q=t(1, 4, 8, 8), k=t(1, 2, 5, 8), v=t(1, 2, 5, 8)),
                 ValueError, r"head_dim"),
        BadInput("head_dim 256", call(q=t(1, 4, 8, 256), k=t(1, 2, 5, 256), v=t(1, 2, 5, 256)),
                 ValueError, r"head_dim"),
        BadInput("k head_dim", call(k=t(1, 2, 5, 32)), ValueError, r"\bk\b.*shape"),
        BadInput("k batch", call(k=t(2, 2, 5, 16), v=t(2, 2, 5, 16)), ValueError,
                 r"\bk\b.*shape"),
        BadInput("v length", call(v=t(1, 2, 6, 16)), ValueError, r"\bv\b.*shape"),
        BadInput("heads not a multiple", call(k=t(1, 3, 5, 16), v=t(1, 3, 5, 16)), ValueError,
                 r"\bk\b.*heads"),
        BadInput("dtype mismatch", call(v=t(1, 2, 5, 16, dtype=torch.float16)), TypeError,
                 r"\bv\b.*dtype"),
        BadInput("float64", call(q=t(1, 4, 8, 16, dtype=torch.float64)), TypeError,
                 r"\bq\b.*dtype"),
        BadInput("integer", call(k=t(1, 2, 5, 16, dtype=torch.int32)), TypeError,
                 r"\bk\b.*dtype"),
        BadInput("device mismatch", call(k=t(1, 2, 5, 16, dev=other)), ValueError,
                 r"\bk\b.*(device|CUDA)"),
        BadInput("not a tensor", call(q=[[1.0]]), TypeError, r"\bq\b.*torch.Tensor"),
        BadInput("causal not a bool", call(causal="yes"), TypeError, r"\bcausal\b"),
        BadInput("scale a tensor", call(scale=t(1)), TypeError, r"\bscale\b"),
        BadInput("scale NaN", call(scale=float("nan")), ValueError, r"\bscale\b"),
        BadInput("scale a bool", call(scale=True), TypeError, r"\bscale\b"),
        BadInput("causal a NumPy bool", call(causal=np.bool_(True)), TypeError,
                 r"\bcausal\b"),  # as SDPA's is_causal
    ]  # fmt: skip


# Pinned cases: one query and one key; lengths below, at and past the interpreter's
# blocks, unequal (causal with Lq > Lk and Lq < Lk); grouped queries; every head_dim;
# strided and transposed layouts; a custom scale; logits past exp's overflow;
# no keys (O = 0) and no queries.
_BLOCK = INTERPRET_CONFIGS[0].kwargs["BLOCK_N"]
PART_QUERIES = 64
"""Query rows a benchmark-size check judges where the mask is not causal (`_part`)."""

EXAMPLES: list[tuple[tuple[int, ...], dict]] = [
    ((1, 1, 1, 1, 16), {}),
    ((1, 2, 2 * _BLOCK + 1, _BLOCK - 1, 32), {"causal": True}),
    ((1, 2, _BLOCK + 3, 3 * _BLOCK + 5, 16), {"causal": True, "kv_heads": 1}),
    ((2, 4, 17, 33, 64), {"kv_heads": 2, "layout": "transposed", "kv_layout": "strided"}),
    ((1, 1, 9, 40, 128), {"kv_layout": "padded", "scale": 0.5}),
    ((1, 3, 31, 31, 16), {"causal": True, "kv_heads": 1, "layout": "padded"}),
    ((1, 2, 20, 50, 16), {"scale": 20.0}),
    ((1, 2, 2 * _BLOCK + 3, 3 * _BLOCK + 5, 32), {"scale": -20.0, "causal": True}),
    ((3, 6, 9, 11, 16), {"kv_heads": 3, "causal": True}),  # a part (_part)
    ((1, 2, 3 * PART_QUERIES + 5, 9, 16), {"layout": "transposed"}),  # a part of queries
    ((1, 2, 5, 0, 16), {"kv_heads": 1}),
    ((1, 2, 0, 7, 16), {"causal": True}),
]  # fmt: skip


def _part(case: Case) -> Part | None:
    """The first and the last batch, and in each the Q heads of the first and the last K/V
    head: a head's output depends on its own Q, K and V alone (causal masks and all).
    Without a causal mask, of those about PART_QUERIES query rows, the first and the last
    among them at an odd step (`Part.spread`): a row's output depends on its own row of Q
    and the whole of K and V, and the oracle of a 16384-row case's two heads took 44-58 s
    of a CPU core (`benchmarks/check_costs.py`). A causal mask (top-left aligned) ties a
    row to its position, which a part of fewer rows would move: there every row. None
    where that is the whole case."""
    batch, heads, kv_heads, q_len, k_len, head_dim = dims(case)
    if batch * kv_heads == 0:
        return None
    group = heads // kv_heads
    batches, kv = Part.ends(batch), Part.ends(kv_heads)
    q_heads = [h * group + g for h in kv for g in range(group)]
    causal = bool(case.params.get("causal", False))
    rows = list(range(q_len)) if causal else Part.spread(q_len, PART_QUERIES)
    if len(batches) * len(q_heads) == batch * heads and len(rows) == q_len:
        return None

    def inputs(whole: Inputs) -> Inputs:
        q, k, v, *rest = whole.args
        parts = (q[batches][:, q_heads][:, :, rows], k[batches][:, kv], v[batches][:, kv])
        return Inputs((*parts, *rest), whole.kwargs)

    params = dict(case.params) | ({"kv_heads": len(kv)} if "kv_heads" in case.params else {})
    shape = (len(batches), len(q_heads), len(rows), k_len, head_dim)
    label = f"{Part.describe(batches, batch, 'batches')} x {Part.describe(q_heads, heads, 'heads')}"
    if len(rows) < q_len:
        label += f" x {Part.describe(rows, q_len, 'queries')}"
    return Part(
        dataclasses.replace(case, shape=shape, params=params),
        inputs,
        lambda outputs: tuple(o[batches][:, q_heads][:, :, rows] for o in outputs),
        label,
    )


ATTENTION = Op(
    name="attention",
    numpy_ref=attention_numpy,
    torch_ref=attention_torch,
    kernel=attention,
    make_inputs=_inputs,
    cases=_cases,
    examples=EXAMPLES,
    error_model=ErrorModel(outputs=_forward_models),
    bad_inputs=_bad_inputs,
    flops=_flops,
    bytes=_bytes,
    bench_cases=[
        ((batch, 16, seq, seq, head_dim), {"causal": causal})
        for head_dim in (64, 128)
        for causal in (False, True)
        for batch, seq in ((4, 1024), (2, 4096), (1, 16384))
    ],
    bench_dtypes=("bfloat16", "float16"),
    values=("normal", "positive", "ties", "tiny"),
    configs=Configs(CONFIG_NAMES, _plans.forcing, _plans.recording),
    part=_part,
)

ATTENTION = dataclasses.replace(
    ATTENTION,
    backward=Backward(
        kernel=attention_autograd,
        numpy_grad=attention_backward_numpy,
        torch=attention_torch,
        wrt=(0, 1, 2),
        error_model=ErrorModel(outputs=_gradient_models),
        examples=[((1, 2, 20, 20, 32), {"upstream": "sum", "causal": True, "kv_heads": 1})],
    ),
)
