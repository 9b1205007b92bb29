"""Our matmul, attention and conv2d against the vendor libraries, in one process on one GPU.

The targets of the kernel issues are ratios to what PyTorch calls on the same card in the
same run: cuBLAS (`torch.matmul`), SDPA's flash and cuDNN backends (forward and backward),
cuDNN convolutions (NCHW and channels-last, `cudnn.benchmark` on), and for the
memory-bound depthwise convolution the bandwidth of a device-to-device copy. Every row
first checks that ours and the vendor's agree (max |diff| over max |vendor|, printed;
the suite is what proves correctness, this only guards the timing against a broken
launch: a row past `DISAGREES` is marked, and the script exits 1), then times each
with `triton.testing.do_bench(return_mode="median")`.

    PYTHONPATH=. python benchmarks/vendor.py [matmul matmul-probe matmul-tma attention
                                              attention-tma conv2d conv2d-pointwise
                                              depthwise]
    PYTHONPATH=. python benchmarks/vendor.py --sweep [matmul attention conv2d depthwise ...]

`--sweep` times candidate launch configs (`CANDIDATES`) on the same shapes instead: an
autotuned kernel is given the candidates as its configs and its own timings are printed
(`Autotuner.configs_timings`); a kernel launched with one fixed config (the attention
backward, the depthwise convolution) is timed once per candidate. The first call of an
autotuned launcher (compiling and timing its configs) is reported as `first call s`.
`--set MODULE.NAME=VALUE` (repeatable) sets a launch constant before anything runs, so
that a candidate default is timed against the vendors in the same process:
`--set kernels.matmul.TMA_MIN_WORK=2**33` is how the TMA threshold was chosen.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

import kernels.attention as attn
import kernels.conv2d as conv
import kernels.conv2d_depthwise as depth
import kernels.matmul as mm
from harness.autotune import forget_tuning
from kernels import _plans
from kernels._plans import config_name

ROWS: list[dict[str, Any]] = []
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def ms(fn: Callable[[], Any]) -> float:
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def first_call_s(fn: Callable[[], Any]) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def disagreement(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    ours, theirs = ours.float(), theirs.float()
    return ((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-30)).item()


DISAGREES = 0.05
"""A row's agreement past this is a wrong answer, not rounding (16-bit rows agree to a
few 1e-3, tf32 ones to about 1e-3; a kernel that left its output unwritten, about 1)."""


def _wrong(fields: dict[str, Any]) -> list[str]:
    return [k for k, v in fields.items() if "agree" in k and not v <= DISAGREES]


def row(**fields: Any) -> None:
    ROWS.append(fields)
    if _wrong(fields):
        print(f"DISAGREES ({', '.join(_wrong(fields))} > {DISAGREES}):", end="  ")
    print(
        "  ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
        ),
        flush=True,
    )


# ------------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [  # (batch or None, M, N, K)
    (None, 1024, 1024, 1024),
    (None, 2048, 2048, 2048),
    (None, 4096, 4096, 4096),
    (None, 8192, 8192, 8192),
    (None, 4000, 4000, 4000),
    (None, 8192, 8192, 1024),
    (32, 1024, 1024, 1024),
]


def _matmul_operands(batch, m, n, k, dtype):
    lead = () if batch is None else (batch,)
    a = torch.randn(*lead, m, k, device="cuda", dtype=dtype)
    b = torch.randn(*lead, k, n, device="cuda", dtype=dtype)
    return a, b


def bench_matmul(dtypes: list[str]) -> None:
    for name in dtypes:
        precisions = ("tf32", "ieee") if name == "float32" else ("tf32",)
        for precision in precisions:
            for batch, m, n, k in MATMUL_SHAPES:
                a, b = _matmul_operands(batch, m, n, k, DTYPES[name])
                torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
                ours = functools.partial(mm.matmul, a, b, precision=precision)
                blas = functools.partial(torch.matmul, a, b)
                tuning = first_call_s(ours)
                with _plans.recording() as launched:
                    ours()
                flop = 2.0 * (batch or 1) * m * n * k
                t_ours, t_blas = ms(ours), ms(blas)
                row(
                    op="matmul",
                    dtype=name,
                    precision=precision if name == "float32" else "-",  # 16-bit: exact
                    shape=(batch, m, n, k),
                    ours_tflops=flop / t_ours / 1e9,
                    cublas_tflops=flop / t_blas / 1e9,
                    ratio=t_blas / t_ours,
                    graph_ratio=graph_ms(blas) / graph_ms(ours),  # device time, no host
                    first_call_s=tuning,
                    config=launched[-1].split("/")[1],
                    agree=disagreement(ours(), blas()),
                )
    torch.backends.cuda.matmul.allow_tf32 = False


def graph_ms(fn: Callable[[], Any]) -> float:
    """Device time of one call with no host cost in it: calls replayed from a CUDA graph."""
    return triton.testing.do_bench_cudagraph(fn, rep=100, return_mode="median")


PROBE_SHAPES = [(None, 1024, 1024, 1024), (None, 2048, 2048, 2048), (32, 1024, 1024, 1024)]


def bench_matmul_probe(dtypes: list[str]) -> None:
    """Two questions the matmul table raises. (1) Small shapes: is a call's time the
    kernel's, or the host's launch cost (a 1024^3 GEMM is ~10 us of tensor-core work)?
    Each is timed as `bench_matmul` does and replayed from a CUDA graph. (2) float32 in
    tf32: does B's layout decide it (Hopper's tf32 wgmma reads both operands K-major;
    a row-major B is N-major)? Timed with B row-major and as a K-major view. The eager
    ratio is the median of three rounds, the two alternating: a small GEMM's eager time
    moves with the host's load."""
    for name in [d for d in dtypes if d != "float32"]:
        for batch, m, n, k in PROBE_SHAPES:
            a, b = _matmul_operands(batch, m, n, k, DTYPES[name])
            ours = functools.partial(mm.matmul, a, b)
            blas = functools.partial(torch.matmul, a, b)
            first_call_s(ours)
            flop = 2.0 * (batch or 1) * m * n * k
            graphed_ours = graph_ms(ours)
            row(
                op="matmul-host",
                dtype=name,
                shape=(batch, m, n, k),
                ratio_eager=statistics.median(ms(blas) / ms(ours) for _ in range(3)),
                ratio_graphed=graph_ms(blas) / graphed_ours,
                ours_graphed_tflops=flop / graphed_ours / 1e9,
            )
    torch.backends.cuda.matmul.allow_tf32 = True
    for size in (4096, 8192):
        a = torch.randn(size, size, device="cuda")
        for layout in ("row-major", "k-major"):
            b = torch.randn(size, size, device="cuda")
            b = b if layout == "row-major" else b.t().contiguous().t()  # same values, K-major
            ours = functools.partial(mm.matmul, a, b, precision="tf32")
            blas = functools.partial(torch.matmul, a, b)
            first_call_s(ours)
            flop = 2.0 * size**3
            t_ours, t_blas = ms(ours), ms(blas)
            row(op="matmul-tf32-layout", b_layout=layout, size=size,
                ours_tflops=flop / t_ours / 1e9, cublas_tflops=flop / t_blas / 1e9,
                ratio=t_blas / t_ours, config=config_name(mm.matmul_kernel.best_config),
                agree=disagreement(ours(), blas()))  # fmt: skip
    torch.backends.cuda.matmul.allow_tf32 = False


@contextlib.contextmanager
def _pointer_kernel_only(kernels: Any) -> Iterator[None]:
    """The module's unforced launches take its autotuned pointer kernel, never TMA."""
    saved, kernels.TMA_BY_DEFAULT = kernels.TMA_BY_DEFAULT, False
    try:
        yield
    finally:
        kernels.TMA_BY_DEFAULT = saved


def bench_matmul_tma(dtypes: list[str]) -> None:
    """The TMA design (`matmul_tma_kernel`; the default for large 2-D 16-bit GEMMs)
    against the autotuned pointer kernel and cuBLAS, each TMA config forced in turn, on
    every shape (batched ones through 3-D descriptors)."""
    for name in dtypes:
        for batch, m, n, k in MATMUL_SHAPES:
            a, b = _matmul_operands(batch, m, n, k, DTYPES[name])
            pointer = functools.partial(mm.matmul, a, b)
            flop = 2.0 * m * n * k
            with _pointer_kernel_only(mm):
                first_call_s(pointer)
                t_blas, t_pointer = ms(functools.partial(torch.matmul, a, b)), ms(pointer)
                pointer_c = pointer()
            for design in mm.TMA_CONFIGS["gpu"]:
                with _plans.forcing(f"matmul/{design}/gpu"):
                    tma = functools.partial(mm.matmul, a, b)
                    t_tma, agree = ms(tma), disagreement(tma(), pointer_c)
                row(op="matmul-tma", dtype=name, shape=(batch, m, n, k), design=design,
                    tma_tflops=flop / t_tma / 1e9, vs_cublas=t_blas / t_tma,
                    vs_pointer=t_pointer / t_tma, agree=agree)  # fmt: skip


# ---------------------------------------------------------------------------- attention
ATTENTION_SHAPES = [(4, 1024), (2, 4096), (1, 16384)]  # (batch, seq), 16 heads


def _sdpa(backend: SDPBackend) -> Callable[..., torch.Tensor]:
    def run(q, k, v, causal):
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    return run


def _attention_problems(dtypes: list[str], head_dims=(64, 128)) -> Iterator[tuple]:
    """(dtype name, shape, q, k, v) for each dtype, head_dim and (batch, seq), 16 heads."""
    for name in dtypes:
        for d in head_dims:
            for batch, seq in ATTENTION_SHAPES:
                shape = (batch, 16, seq, d)
                q, k, v = (torch.randn(shape, device="cuda", dtype=DTYPES[name]) for _ in "qkv")
                yield name, shape, q, k, v


def _attention_flop(shape: tuple, causal: bool) -> float:
    batch, heads, seq, d = shape
    return 4.0 * batch * heads * seq * seq * d / (2 if causal else 1)


def bench_attention(dtypes: list[str], head_dims=(64, 128), backward: bool = True) -> None:
    vendors = {
        "flash": _sdpa(SDPBackend.FLASH_ATTENTION),
        "cudnn": _sdpa(SDPBackend.CUDNN_ATTENTION),
    }
    for name, shape, q, k, v in _attention_problems(dtypes, head_dims):
        times = {}
        for causal in (False, True):
            flop = _attention_flop(shape, causal)
            ours = functools.partial(attn.attention, q, k, v, causal)
            tuning = first_call_s(ours)
            fields = {
                "op": "attention",
                "dtype": name,
                "shape": shape,
                "causal": causal,
                "first_call_s": tuning,
            }
            times[causal] = t_ours = ms(ours)
            fields["ours_tflops"] = flop / t_ours / 1e9
            for vendor, fn in vendors.items():
                try:
                    t = ms(functools.partial(fn, q, k, v, causal))
                    fields[f"{vendor}_tflops"] = flop / t / 1e9
                    fields[f"vs_{vendor}"] = t / t_ours
                    fields[f"agree_{vendor}"] = disagreement(ours(), fn(q, k, v, causal))
                except RuntimeError as err:  # a backend that refuses the shape
                    fields[f"vs_{vendor}"] = f"refused: {str(err)[:60]}"
            with _plans.recording() as launched:
                ours()
            fields["config"] = launched[-1].split("/")[1]
            row(**fields)
            if backward:
                _attention_backward(q, k, v, causal, flop, name, shape)
        row(
            op="attention",
            dtype=name,
            shape=shape,
            causal_over_full=times[True] / times[False],
        )


def bench_attention_grad(dtypes: list[str]) -> None:
    """The backward alone against the flash backend's, the shapes of `attention`."""
    for name, shape, q, k, v in _attention_problems(dtypes):
        for causal in (False, True):
            _attention_backward(q, k, v, causal, _attention_flop(shape, causal), name, shape)


def bench_attention_tma(dtypes: list[str]) -> None:
    """The forward through tensor descriptors (`attention/tma-*`), each config forced,
    against the tuned pointer kernel and both SDPA backends, same shapes as `attention`."""
    flash, cudnn = _sdpa(SDPBackend.FLASH_ATTENTION), _sdpa(SDPBackend.CUDNN_ATTENTION)
    designs = [n for n in attn.CONFIGS["gpu"] if n.startswith("tma-")]
    for name, shape, q, k, v in _attention_problems(dtypes):
        for causal in (False, True):
            flop = _attention_flop(shape, causal)
            pointer = functools.partial(attn.attention, q, k, v, causal)
            with _pointer_kernel_only(attn):
                first_call_s(pointer)
                t_pointer, reference = ms(pointer), pointer()
            pointer_config = attn.config_name(attn.attention_forward_kernel.best_config)
            t_flash = ms(functools.partial(flash, q, k, v, causal))
            t_cudnn = ms(functools.partial(cudnn, q, k, v, causal))
            for design in designs:
                with _plans.forcing(f"attention/{design}/gpu"):
                    try:
                        t = ms(pointer)
                    except Exception as err:  # out of resources...
                        row(op="attention-tma", dtype=name, shape=shape, causal=causal,
                                    design=design, error=str(err)[:80])  # fmt: skip
                        continue
                    agree = disagreement(pointer(), reference)
                row(op="attention-tma", dtype=name, shape=shape, causal=causal,
                            design=design, tflops=flop / t / 1e9, vs_pointer=t_pointer / t,
                            vs_flash=t_flash / t, vs_cudnn=t_cudnn / t,
                            pointer=pointer_config, agree=agree)  # fmt: skip


def _grads(forward: Callable[..., torch.Tensor], q, k, v, do) -> Callable[[], Any]:
    """A call of the backward alone: the gradients of forward(q, k, v) against do."""
    q, k, v = (x.detach().requires_grad_() for x in (q, k, v))
    out = forward(q, k, v)
    return lambda: torch.autograd.grad(out, (q, k, v), do, retain_graph=True)


def _graph_grad_ms(forward: Callable[..., torch.Tensor], q, k, v, do) -> float:
    """The device's time of the backward: CUDA-graph replays of forward and backward
    less those of the forward. (A backward captured alone would run on the stream its
    forward ran on, outside the capture.)"""
    q, k, v = (x.detach().requires_grad_() for x in (q, k, v))
    both = graph_ms(lambda: torch.autograd.grad(forward(q, k, v), (q, k, v), do))
    return both - graph_ms(lambda: forward(q, k, v))


def _ours_causal(q, k, v, causal):
    return attn.attention_autograd(q, k, v, causal)


def _backward_name(pair: tuple[triton.Config, triton.Config]) -> str:
    return "kv" + attn.config_name(pair[0]) + "+q" + attn.config_name(pair[1])


def _attention_backward(q, k, v, causal, flop, name, shape) -> None:
    """Our backward against the flash backend's: do_bench's time of a call (which holds
    the host's launches where they take longer than the kernels) and the device's time
    (CUDA-graph replays)."""
    do = torch.randn_like(q)
    ours = lambda *x: attn.attention_autograd(*x, causal)
    flash = lambda *x: _sdpa(SDPBackend.FLASH_ATTENTION)(*x, causal)
    ours_fn, flash_fn = _grads(ours, q, k, v, do), _grads(flash, q, k, v, do)
    t_ours, t_flash = ms(ours_fn), ms(flash_fn)
    g_ours, g_flash = _graph_grad_ms(ours, q, k, v, do), _graph_grad_ms(flash, q, k, v, do)
    row(
        op="attention.grad",
        dtype=name,
        shape=shape,
        causal=causal,
        ours_tflops=2.5 * flop / t_ours / 1e9,
        flash_tflops=2.5 * flop / t_flash / 1e9,
        vs_flash=t_flash / t_ours,
        graph_tflops=2.5 * flop / g_ours / 1e9,
        graph_vs_flash=g_flash / g_ours,
        config=_backward_name(attn.BACKWARD_CONFIGS[attn.backward_table("gpu", q)]),
        agree=max(disagreement(a, b) for a, b in zip(ours_fn(), flash_fn(), strict=True)),
    )


# ------------------------------------------------------------------------------- conv2d
CONV_SHAPES = [  # (N, C, H=W, K, R, stride, padding, groups)
    (32, 64, 56, 64, 3, 1, 1, 1),
    (32, 128, 28, 128, 3, 1, 1, 1),
    (32, 256, 14, 256, 3, 1, 1, 1),
    (32, 256, 56, 64, 1, 1, 0, 1),
    (32, 64, 56, 256, 1, 1, 0, 1),
]
DEPTHWISE_SHAPES = [  # (N, C, H=W, R, stride)
    (32, 256, 56, 3, 1),
    (32, 256, 56, 3, 2),
    (32, 256, 56, 7, 1),
    (32, 256, 56, 7, 2),
    (32, 512, 28, 3, 1),
    (32, 96, 56, 7, 1),
]


def copy_gbps(moved: int = 1 << 31) -> float:
    """GB/s of a device-to-device copy moving `moved` bytes (half read, half written), as
    `ms` times it: 2 GiB by default, the card's figure; a row's own bytes for a copy of
    the same size, which pays the same launch, ramp-up and last wave as the row
    (harness.perf.ceilings)."""
    src = torch.empty(max(moved // 8, 1), device="cuda", dtype=torch.float32)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / ms(lambda: dst.copy_(src)) / 1e6


def _conv_pair(x, w, stride, padding, groups, layout):
    x = x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x
    ours = lambda: conv.conv2d(x, w, None, stride, padding, 1, groups)
    cudnn = lambda: F.conv2d(x, w, None, stride, padding, 1, groups)
    return ours, cudnn


def bench_conv2d(dtypes: list[str]) -> None:
    torch.backends.cudnn.benchmark = True
    for name in dtypes:
        for n, c, hw, k, r, stride, padding, groups in CONV_SHAPES:
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=DTYPES[name])
            w = torch.randn(k, c // groups, r, r, device="cuda", dtype=DTYPES[name]) / math.sqrt(
                c * r * r
            )
            p = (hw + 2 * padding - r) // stride + 1
            flop = 2.0 * n * k * p * p * c // groups * r * r
            cudnn_ms = {}
            for layout in ("nchw", "channels_last"):
                ours, cudnn = _conv_pair(x, w, stride, padding, groups, layout)
                tuning = first_call_s(ours)
                t_ours, cudnn_ms[layout] = ms(ours), ms(cudnn)
                row(
                    op="conv2d",
                    dtype=name,
                    shape=(n, c, hw, k, r, stride, padding),
                    layout=layout,
                    ours_tflops=flop / t_ours / 1e9,
                    cudnn_tflops=flop / cudnn_ms[layout] / 1e9,
                    vs_cudnn_same_layout=cudnn_ms[layout] / t_ours,
                    vs_cudnn_channels_last=(cudnn_ms.get("channels_last") or cudnn_ms["nchw"])
                    / t_ours,
                    first_call_s=tuning,
                    agree=disagreement(ours(), cudnn()),
                )


def bench_conv2d_pointwise(dtypes: list[str]) -> None:
    """1 x 1 convolutions as one matmul (`conv2d/pointwise`, forced) against the implicit
    GEMM and cuDNN, both memory formats, same process."""
    torch.backends.cudnn.benchmark = True
    for name in dtypes:
        for n, c, hw, k, r, stride, padding, groups in CONV_SHAPES:
            if (r, stride, padding, groups) != (1, 1, 0, 1):
                continue
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=DTYPES[name])
            w = torch.randn(k, c, 1, 1, device="cuda", dtype=DTYPES[name]) / math.sqrt(c)
            flop = 2.0 * n * k * hw * hw * c
            for layout in ("nchw", "channels_last"):
                ours, cudnn = _conv_pair(x, w, stride, padding, groups, layout)
                first_call_s(ours)
                t_gemm, t_cudnn = ms(ours), ms(cudnn)
                with _plans.forcing("conv2d/pointwise/gpu"):
                    first_call_s(ours)
                    t_pointwise, agree = ms(ours), disagreement(ours(), cudnn())
                row(op="conv2d-pointwise", dtype=name, shape=(n, c, hw, k), layout=layout,
                    pointwise_tflops=flop / t_pointwise / 1e9,
                    vs_implicit_gemm=t_gemm / t_pointwise, vs_cudnn=t_cudnn / t_pointwise,
                    agree=agree)  # fmt: skip


def _stride_1_problems(dtypes: list[str]) -> Iterator[tuple]:
    """(dtype, (N, C, H=W, K, R), padding, x NCHW, weight, FLOPs) for each stride-1,
    one-group shape of CONV_SHAPES; and conv.TMA_BY_DEFAULT restored after."""
    torch.backends.cudnn.benchmark = True
    default = conv.TMA_BY_DEFAULT
    try:
        for name in dtypes:
            for n, c, hw, k, r, stride, padding, groups in CONV_SHAPES:
                if (stride, groups) != (1, 1):
                    continue
                x = torch.randn(n, c, hw, hw, device="cuda", dtype=DTYPES[name])
                w = torch.randn(k, c, r, r, device="cuda", dtype=DTYPES[name])
                flop = 2.0 * n * k * hw * hw * c * r * r
                yield name, (n, c, hw, k, r), padding, x, w / math.sqrt(c * r * r), flop
    finally:
        conv.TMA_BY_DEFAULT = default


def _designs(ours: Callable[[], Any], cudnn: Callable[[], Any], flop: float) -> dict:
    """`ours` on the implicit GEMM and on the TMA designs against `cudnn`: device time
    (CUDA-graph replays) and do_bench's time of a call, which holds the host's where the
    host is the slower side."""
    t_cudnn, g_cudnn = ms(cudnn), graph_ms(cudnn)
    fields = {"cudnn_tflops": flop / t_cudnn / 1e9, "cudnn_graph_tflops": flop / g_cudnn / 1e9}
    for design, on in (("gemm", False), ("tma", True)):
        conv.TMA_BY_DEFAULT = on
        first_call_s(ours)
        t, g = ms(ours), graph_ms(ours)
        fields[f"{design}_tflops"] = flop / t / 1e9
        fields[f"{design}_graph_tflops"] = flop / g / 1e9
        fields[f"{design}_vs_cudnn"] = t_cudnn / t
        fields[f"{design}_graph_vs_cudnn"] = g_cudnn / g
        fields[f"{design}_agree"] = disagreement(ours(), cudnn())
    return fields


def bench_conv2d_tma(dtypes: list[str]) -> None:
    """The stride-1, one-group shapes on the implicit GEMM and on the TMA designs (boxes,
    or rows for 1 x 1; `conv.TMA_BY_DEFAULT`), against cuDNN in the same layout, same
    process (`_designs`); the TMA tuner's timings per config after each shape."""
    for name, shape, padding, x, w, flop in _stride_1_problems(dtypes):
        for layout in ("nchw", "channels_last"):
            ours, cudnn = _conv_pair(x, w, 1, padding, 1, layout)
            fields = _designs(ours, cudnn, flop)
            tuner = conv.conv2d_rows_kernel if shape[-1] == 1 else conv.conv2d_boxes_kernel
            report_timings(f"conv2d-tma {name} {shape} {layout}", tuner, config_name)
            row(op="conv2d-tma", dtype=name, shape=shape, layout=layout, **fields)


def clean_cold_ms(fn: Callable[[], Any], reps: int = 100) -> float:
    """Median device time of `fn` (CUDA events) after 256 MB are *read* each time: L2
    holds none of fn's data, as after do_bench's flush, but no dirty lines either (do_bench
    zeroes its buffer, and the GPU must write 60 MB of L2 back while fn runs)."""
    flush = torch.ones(1 << 26, device="cuda")
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(reps)]  # fmt: skip
    fn()
    for start, end in events:
        flush.sum()
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return statistics.median(start.elapsed_time(end) for start, end in events)


def bench_conv2d_cold(dtypes: list[str]) -> None:
    """Where does a whole call lose to cuDNN? The stride-1, one-group shapes, ours (as
    shipped) and cuDNN timed three ways in both layouts: do_bench (L2 flushed by a memset,
    left dirty), after a read of 256 MB (`clean_cold_ms`: cold and clean), and replayed
    from a CUDA graph (warm)."""
    for name, shape, padding, x, w, _ in _stride_1_problems(dtypes):
        for layout in ("nchw", "channels_last"):
            ours, cudnn = _conv_pair(x, w, 1, padding, 1, layout)
            fields = {}
            for tier, fn in (("ours", ours), ("cudnn", cudnn)):
                first_call_s(fn)
                for how, timing in (("dirty", ms), ("clean", clean_cold_ms), ("warm", graph_ms)):
                    fields[f"{tier}_{how}_us"] = 1e3 * timing(fn)
            for how in ("dirty", "clean", "warm"):
                fields[f"{how}_vs_cudnn"] = fields[f"cudnn_{how}_us"] / fields[f"ours_{how}_us"]
            fields["agree"] = disagreement(ours(), cudnn())
            row(op="conv2d-cold", dtype=name, shape=shape, layout=layout, **fields)


TRANSPOSE_CANDIDATES = [  # channels_last_kernel's (BLOCK_C, BLOCK_P, warps)
    (64, 64, 4), (64, 64, 2), (32, 128, 4), (64, 128, 4), (128, 64, 4), (64, 128, 8),
    (128, 128, 8), (64, 256, 8), (32, 256, 8),
]  # fmt: skip
FEW_PIXELS_CANDIDATES = [(64, 64, 4), (64, 16, 4), (128, 16, 4), (256, 16, 4), (256, 16, 8)]
"""The same for the filters' copy (`conv.FEW_PIXELS_BLOCK`: 9 pixels each)."""


def bench_conv2d_parts(dtypes: list[str]) -> None:
    """Where an NCHW call's time goes, on the stride-1 3 x 3 shapes: the whole call in
    NCHW and in channels-last, and the copies of x and of the filters to channels-last
    (`kernels.conv2d._channels_last`) alone, against a copy of x (x.clone(), the same
    bytes read and written), warm (graph replays) and cold (`clean_cold_ms`); then x's
    copy on each tile of `TRANSPOSE_CANDIDATES`, as % of the clone's bandwidth, and the
    filters' copy on each of `FEW_PIXELS_CANDIDATES`, warm."""
    default, few_default = conv.CHANNELS_LAST_BLOCK, conv.FEW_PIXELS_BLOCK
    timings = (("clean", clean_cold_ms), ("warm", graph_ms))
    try:
        for name, shape, padding, x, w, _ in _stride_1_problems(dtypes):
            if shape[-1] == 1:
                continue
            x_last = x.contiguous(memory_format=torch.channels_last)
            call = functools.partial(conv.conv2d, bias=None, stride=1, padding=padding)
            parts = {
                "nchw": functools.partial(call, x, w),
                "cl": functools.partial(call, x_last, w),
                "x_copy": functools.partial(conv._channels_last, x),
                "w_copy": functools.partial(conv._channels_last, w),
                "clone": x.clone,
            }
            fields = {}
            for part, fn in parts.items():
                first_call_s(fn)
                for how, timing in timings:
                    fields[f"{part}_{how}_us"] = 1e3 * timing(fn)
            fields["agree"] = disagreement(parts["x_copy"](), x.permute(0, 2, 3, 1))
            row(op="conv2d-parts", dtype=name, shape=shape, **fields)
            cells = []
            for block in TRANSPOSE_CANDIDATES:
                conv.CHANNELS_LAST_BLOCK = block
                first_call_s(parts["x_copy"])
                ratios = [
                    fields[f"clone_{how}_us"] / (1e3 * t(parts["x_copy"])) for how, t in timings
                ]
                cells.append(f"{block} {100 * ratios[0]:.0f}% / {100 * ratios[1]:.0f}%")
            conv.CHANNELS_LAST_BLOCK = default
            print(f"  sweep x's copy {name} {shape}, % of a clone clean / warm: "
                  + ", ".join(cells), flush=True)  # fmt: skip
            cells = []
            for block in FEW_PIXELS_CANDIDATES:
                conv.FEW_PIXELS_BLOCK = block
                first_call_s(parts["w_copy"])
                cells.append(f"{block} {1e3 * graph_ms(parts['w_copy']):.2f} us")
            conv.FEW_PIXELS_BLOCK = few_default
            print(f"  sweep the filters' copy {name} {shape}, warm: " + ", ".join(cells),
                  flush=True)  # fmt: skip
    finally:
        conv.CHANNELS_LAST_BLOCK, conv.FEW_PIXELS_BLOCK = default, few_default


def bench_conv2d_dx(dtypes: list[str]) -> None:
    """dx of the stride-1, one-group shapes: the implicit GEMM (TRANSPOSED) and the TMA
    designs against cuDNN's data gradient (`torch.nn.grad.conv2d_input`), same process,
    both layouts (`_designs`)."""
    for name, shape, padding, x, w, flop in _stride_1_problems(dtypes):
        n, _, hw, k, _ = shape
        for layout in ("nchw", "channels_last"):
            fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            xs = x.contiguous(memory_format=fmt)
            dy = torch.randn(n, k, hw, hw, device="cuda", dtype=x.dtype).contiguous(
                memory_format=fmt
            )
            geo = conv.Geometry(xs, w, None, 1, padding, 1, 1)
            ours = lambda: conv._input_grad(geo, dy, w, xs)  # noqa: B023
            cudnn = lambda: torch.nn.grad.conv2d_input(xs.shape, w, dy, 1, padding)  # noqa: B023
            row(op="conv2d-dx", dtype=name, shape=shape, layout=layout,
                **_designs(ours, cudnn, flop))  # fmt: skip


def bench_depthwise(dtypes: list[str]) -> None:
    """The depthwise table: ours as tuned against cuDNN and a copy, both layouts: the 2 GiB
    copy (`of_copy`) and one moving the row's own bytes (`of_size_copy`)."""
    torch.backends.cudnn.benchmark = True
    copy = copy_gbps()
    row(op="copy", gbps=copy)
    for name in dtypes:
        for n, c, hw, r, stride in DEPTHWISE_SHAPES:
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=DTYPES[name])
            w = torch.randn(c, 1, r, r, device="cuda", dtype=DTYPES[name]) / r
            p = (hw + 2 * (r // 2) - r) // stride + 1
            moved = (x.numel() + n * c * p * p) * x.element_size()
            size_copy = copy_gbps(moved)
            for layout in ("nchw", "channels_last"):
                ours, cudnn = _conv_pair(x, w, stride, r // 2, c, layout)
                t_ours, t_cudnn = ms(ours), ms(cudnn)
                g_ours, g_cudnn = graph_ms(ours), graph_ms(cudnn)  # the device's time
                with _plans.recording() as launched:
                    ours()
                row(
                    op="depthwise",
                    dtype=name,
                    shape=(n, c, hw, r, stride),
                    layout=layout,
                    ours_gbps=moved / t_ours / 1e6,
                    of_copy=moved / t_ours / 1e6 / copy,
                    of_size_copy=moved / t_ours / 1e6 / size_copy,
                    cudnn_gbps=moved / t_cudnn / 1e6,
                    vs_cudnn=t_cudnn / t_ours,
                    graph_of_copy=moved / g_ours / 1e6 / copy,
                    graph_vs_cudnn=g_cudnn / g_ours,
                    config=launched[-1].split("/")[1] if launched else "",
                    agree=disagreement(ours(), cudnn()),
                )


# -------------------------------------------------------------------------------- sweep
# The kernels' own config constructors: a candidate is built as a table entry is.
_mm, _at, _cv = mm._config, attn._config, conv._gemm_config
_dw, _pl, _tm = depth._depthwise_config, depth._plane_config, conv._tma_config


CANDIDATES = {
    "matmul": [
        _mm(128, 256, 64, 8, 8, 3),
        _mm(128, 256, 64, 8, 8, 4),
        _mm(256, 128, 64, 8, 8, 3),
        _mm(256, 128, 64, 8, 8, 4),
        _mm(128, 128, 64, 8, 8, 4),
        _mm(128, 128, 64, 8, 4, 4),
        _mm(128, 128, 128, 8, 8, 3),
        _mm(128, 256, 32, 8, 8, 3),
        _mm(128, 128, 32, 8, 4, 4),
        _mm(64, 256, 64, 8, 4, 4),
        _mm(64, 128, 64, 8, 4, 4),
        _mm(64, 64, 64, 8, 4, 4),
    ],
    "matmul-ieee": [  # float32 FMAs: no tensor cores, each thread's share of the tile
        _mm(64, 64, 32, 8, 4, 4),
        _mm(64, 64, 16, 8, 4, 4),
        _mm(64, 64, 64, 8, 4, 3),
        _mm(64, 64, 32, 8, 2, 4),
        _mm(128, 64, 32, 8, 4, 3),
        _mm(64, 128, 32, 8, 4, 3),
        _mm(128, 64, 16, 8, 4, 4),
        _mm(64, 128, 16, 8, 4, 4),
        _mm(128, 128, 32, 8, 8, 3),
        _mm(128, 128, 16, 8, 8, 4),
        _mm(128, 128, 32, 8, 4, 3),
        _mm(128, 64, 32, 8, 8, 3),
        _mm(32, 64, 32, 8, 2, 4),
        _mm(64, 32, 32, 8, 2, 4),
    ],
    "matmul-small": [  # 1024^3: 64 to 256 tiles for 132 SMs
        *mm.GPU_CONFIGS,
        _mm(64, 64, 64, 8, 4, 3),
        _mm(64, 64, 64, 8, 4, 4),
        _mm(64, 64, 128, 8, 4, 3),
        _mm(128, 64, 64, 8, 4, 4),
        _mm(64, 128, 64, 8, 4, 3),
        _mm(64, 128, 128, 8, 4, 3),
        _mm(128, 128, 64, 8, 4, 3),
        _mm(64, 256, 64, 8, 8, 3),
        _mm(64, 128, 64, 4, 4, 4),
        _mm(64, 128, 64, 16, 4, 4),
        _mm(64, 128, 64, 8, 8, 4),
    ],
    "attention": [
        _at(128, 128, 8, 2),
        _at(128, 128, 8, 3),
        _at(128, 64, 8, 3),
        _at(128, 64, 4, 3),
        _at(128, 64, 8, 2),
        _at(64, 128, 4, 3),
        _at(64, 64, 4, 3),
        _at(128, 32, 4, 3),
        _at(64, 64, 4, 4),
    ],
    "attention.grad": (
        [  # the dK/dV kernel: BLOCK_N keys owned, BLOCK_M queries a step
            _at(64, 64, 4, 2),
            _at(32, 128, 4, 3),
            _at(32, 128, 8, 3),
            _at(64, 128, 8, 2),
            _at(64, 128, 8, 3),
            _at(32, 64, 4, 3),
            _at(64, 64, 4, 3),
        ],
        [  # the dQ kernel: BLOCK_M queries owned, BLOCK_N keys a step
            _at(64, 64, 4, 2),
            _at(128, 32, 4, 3),
            _at(128, 32, 8, 3),
            _at(128, 64, 8, 2),
            _at(128, 64, 8, 3),
            _at(64, 32, 4, 3),
        ],
    ),
    "conv2d": [
        _cv(128, 128, 64, 8, 3),
        _cv(128, 128, 64, 4, 4),
        _cv(128, 256, 64, 8, 3),
        _cv(256, 128, 64, 8, 3),
        _cv(128, 128, 32, 8, 3),
        _cv(128, 64, 64, 4, 4),
        _cv(64, 128, 64, 4, 4),
        _cv(64, 64, 64, 4, 4),
        _cv(64, 32, 32, 4, 4),
    ],
    # conv2d_tma_kernel's rows (1 x 1): (pixels, filters, channels, warps, stages), programs
    # an SM, stored through out's descriptor; shared memory as each fits per_sm an SM
    # (offline, sm_90, float16: 41-165 KB a program)
    "conv2d-rows": [
        *conv.ROWS_GPU_CONFIGS,
        _tm(128, 64, 64, 4, 2, per_sm=3, out=1),
        _tm(128, 128, 64, 8, 2, per_sm=2, out=1),
        _tm(64, 128, 64, 4, 3, per_sm=2, out=1),
        _tm(64, 64, 64, 4, 2, per_sm=4, out=1),
        _tm(128, 256, 64, 8, 2, per_sm=1, out=1),
        _tm(64, 256, 64, 8, 3, per_sm=1, out=1),
        _tm(256, 64, 64, 8, 3, per_sm=1, out=1),
        _tm(256, 128, 64, 8, 2, per_sm=1, out=1),
    ],
    "depthwise": [
        _dw(64, 64, 8),
        _dw(64, 64, 4),
        _dw(32, 64, 4),
        _dw(128, 32, 4),
        _dw(128, 32, 8),
        _dw(16, 128, 4),
        _dw(32, 128, 8),
        _dw(256, 16, 4),
        _dw(128, 64, 8),
        _dw(64, 32, 4),
        _dw(32, 64, 8),
        _dw(64, 32, 8),
        _dw(16, 64, 4),
        _dw(32, 32, 4),
        _dw(8, 128, 4),
        _dw(8, 128, 4, 4, 2),
        _dw(4, 128, 4, 4, 3),
        _dw(8, 64, 4, 8, 2),
    ],
    "plane": [
        *depth.PLANE_GPU_CONFIGS,
        _pl(8, 64, 4),
        _pl(4, 128, 4),
        _pl(2, 128, 2),
        _pl(32, 32, 8),
        _pl(8, 128, 8),
        _pl(16, 64, 4),
        _pl(32, 64, 4),
        _pl(16, 128, 8),
        _pl(8, 128, 4),
        _pl(32, 64, 8),
        _pl(32, 64, 2, 8, 2),
        _pl(32, 64, 2, 8, 4),
        _pl(16, 64, 2, 8, 2),
    ],
    # programs walking tiles down the plane (TILES), strips as vectors where aligned
    "plane-walks": [
        *depth.PLANE_GPU_CONFIGS,
        _pl(16, 64, 2, 8, 2, 4),
        _pl(32, 64, 2, 8, 4, 2),
        _pl(16, 64, 2, 4, 4, 4),
        _pl(16, 32, 1, 2, 8, 4),
        _pl(16, 32, 1, 4, 4, 2),
    ],
}


@contextlib.contextmanager
def tuned_over(kernel: Any, configs: list[triton.Config]) -> Iterator[None]:
    """The autotuned `kernel` choosing among `configs`, its cache emptied (restored after)."""
    old = kernel.configs
    kernel.configs = list(configs)
    forget_tuning(kernel)
    try:
        yield
    finally:
        kernel.configs = old
        forget_tuning(kernel)


def report_timings(what: str, kernel: Any, name_of: Callable[[Any], str]) -> None:
    timings = sorted(kernel.configs_timings.items(), key=lambda kv: kv[1][0])
    best = timings[0][1][0]
    cells = ", ".join(f"{name_of(c)} {t[0] / best:.2f}" for c, t in timings)
    print(f"  sweep {what}: best {best * 1e3:.1f} us; time / best: {cells}", flush=True)


def _sweep_against_cublas(candidates: str, dtypes: tuple, shapes: list, precision: str) -> None:
    """Each candidate config timed by the tuner, the best against cuBLAS in the same run."""
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    with tuned_over(mm.matmul_kernel, CANDIDATES[candidates]), _pointer_kernel_only(mm):
        for dtype in dtypes:
            for batch, m, n, k in shapes:
                a, b = _matmul_operands(batch, m, n, k, DTYPES[dtype])
                mm.matmul(a, b, precision=precision)
                t_blas = ms(functools.partial(torch.matmul, a, b))
                best = min(t[0] for t in mm.matmul_kernel.configs_timings.values())
                what = f"{candidates} {dtype} {(batch, m, n, k)} best/cuBLAS {t_blas / best:.3f}"
                report_timings(what, mm.matmul_kernel, config_name)
    torch.backends.cuda.matmul.allow_tf32 = False


def sweep_matmul() -> None:
    """The pointer kernel's candidates on every shape (TMA off: from TMA_MIN_WORK up the
    launch would take the TMA design, and the pointer kernel's timings would be the last
    shape's)."""
    _sweep_against_cublas("matmul", ("bfloat16", "float16"), MATMUL_SHAPES, "tf32")


def sweep_matmul_ieee() -> None:
    shapes = [(None, 2048, 2048, 2048), (None, 4096, 4096, 4096), (None, 4000, 4000, 4000)]
    _sweep_against_cublas("matmul-ieee", ("float32",), shapes, "ieee")


def sweep_matmul_small() -> None:
    shapes = [(None, 1024, 1024, 1024), (32, 1024, 1024, 1024)]
    _sweep_against_cublas("matmul-small", ("bfloat16", "float16"), shapes, "tf32")


def sweep_attention() -> None:
    with tuned_over(attn.attention_forward_kernel, CANDIDATES["attention"]):
        for d in (64, 128):
            for batch, seq in ATTENTION_SHAPES:
                q, k, v = (
                    torch.randn(batch, 16, seq, d, device="cuda", dtype=torch.bfloat16)
                    for _ in "qkv"
                )
                for causal in (False, True):
                    attn.attention(q, k, v, causal)
                    report_timings(
                        f"attention bf16 {(batch, 16, seq, d)} causal={causal}",
                        attn.attention_forward_kernel,
                        attn.config_name,
                    )


def sweep_attention_grad() -> None:
    """The backward's two kernels' configs, one kernel at a time (the other at its best so
    far), by the device's time of the whole backward (`_graph_grad_ms`)."""
    shipped = dict(attn.BACKWARD_CONFIGS)
    for d in (64, 128):
        for batch, seq in ATTENTION_SHAPES:
            shape = (batch, 16, seq, d)
            q, k, v, do = (torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in "qkvo")
            table = attn.backward_table("gpu", q)
            for causal in (False, True):
                best = list(shipped[table])
                for side, kernel in enumerate(("dK/dV", "dQ")):
                    cells = []
                    for config in CANDIDATES["attention.grad"][side]:
                        pair = list(best)
                        pair[side] = config
                        attn.BACKWARD_CONFIGS[table] = tuple(pair)
                        try:
                            ours = functools.partial(_ours_causal, causal=causal)
                            cells.append((_graph_grad_ms(ours, q, k, v, do), config))
                        except Exception as err:  # out of shared memory...
                            name = attn.config_name(config)
                            print(f"    {kernel} {name}: {type(err).__name__}", str(err)[:80])
                    cells.sort(key=lambda cell: cell[0])
                    best[side] = cells[0][1]
                    print(
                        f"  sweep attention.grad {kernel} bf16 {shape} causal={causal}: best "
                        f"{cells[0][0] * 1e3:.0f} us; "
                        + ", ".join(
                            f"{attn.config_name(c)} {t / cells[0][0]:.2f}" for t, c in cells
                        ),
                        flush=True,
                    )
                attn.BACKWARD_CONFIGS[table] = shipped[table]


def sweep_conv2d() -> None:
    torch.backends.cudnn.benchmark = True
    with tuned_over(conv.conv2d_gemm_kernel, CANDIDATES["conv2d"]):
        for n, c, hw, k, r, stride, padding, groups in CONV_SHAPES:
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.float16)
            w = torch.randn(k, c // groups, r, r, device="cuda", dtype=torch.float16)
            for layout in ("nchw", "channels_last"):
                ours, _ = _conv_pair(x, w, stride, padding, groups, layout)
                ours()
                report_timings(
                    f"conv2d f16 {(n, c, hw, k, r)} {layout}",
                    conv.conv2d_gemm_kernel,
                    config_name,
                )


def sweep_conv2d_rows(dtypes: tuple[str, ...] = ("float16", "bfloat16")) -> None:
    """The 1 x 1 shapes on the rows design's candidates (CANDIDATES["conv2d-rows"]), each
    timed by its tuner (`harness.autotune.graph_timed`), beside cuDNN's time in the same
    layout (do_bench and graph-replayed) and the best as % of a copy moving the same bytes
    (x read once, out written once)."""
    for name, shape, padding, x, w, _flop in _stride_1_problems(list(dtypes)):
        if shape[-1] != 1:
            continue
        conv.TMA_BY_DEFAULT = True
        n, c, hw, k, _ = shape
        moved = n * (c + k) * hw * hw * x.element_size()
        size_copy = copy_gbps(moved)
        for layout in ("nchw", "channels_last"):
            ours, cudnn = _conv_pair(x, w, 1, padding, 1, layout)
            with tuned_over(conv.conv2d_rows_kernel, CANDIDATES["conv2d-rows"]):
                ours()
                timings = conv.conv2d_rows_kernel.configs_timings.values()
                best = min(t[0] for t in timings)  # ms
                t_cudnn, g_cudnn = ms(cudnn), graph_ms(cudnn)
                what = (
                    f"conv2d-rows {name} {shape} {layout}: cuDNN {t_cudnn * 1e3:.1f} us"
                    f" (graph {g_cudnn * 1e3:.1f}), {moved / best / 1e6 / size_copy:.0%}"
                    " of a same-size copy at best"
                )
                report_timings(what, conv.conv2d_rows_kernel, config_name)


def sweep_depthwise(
    layouts: tuple[str, ...] = ("nchw", "channels_last"), planes_from: str = "plane"
) -> None:
    """Each depthwise kernel's candidates, launched through its own launcher (no routing):
    NCHW on the plane kernel (CANDIDATES[planes_from]), channels-last on the pixels x
    filters one."""
    planes, tiles = depth._planes, depth._tiles
    sweeps = {
        "nchw": [(depth.conv2d_depthwise_plane_kernel, CANDIDATES[planes_from], planes)],
        "channels_last": [(depth.conv2d_depthwise_kernel, CANDIDATES["depthwise"], tiles)],
    }
    sweeps = {layout: sweeps[layout] for layout in layouts}
    kernels = [kernel for runs in sweeps.values() for kernel, _, _ in runs]
    defaults = [list(kernel.configs) for kernel in kernels]
    copy = copy_gbps()
    for n, c, hw, r, stride in DEPTHWISE_SHAPES:
        x = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.float16)
        w = torch.randn(c, 1, r, r, device="cuda", dtype=torch.float16)
        for layout, runs in sweeps.items():
            src = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
            geo = conv.Geometry(src, w, None, stride, r // 2, 1, c)
            out = conv._like_input(src, (n, c, geo.p, geo.q), src.dtype)
            moved = (x.numel() + out.numel()) * x.element_size()
            size_copy = copy_gbps(moved)
            for kernel, candidates, launcher in runs:
                cells = []
                for config in candidates:
                    kernel.configs = [config]
                    forget_tuning(kernel)
                    index_64 = conv._index_64(geo, src, w, out)
                    run = functools.partial(launcher, geo, src, w, out, None, index_64)
                    cells.append((ms(run), config_name(config)))
                cells.sort()
                print(
                    f"  sweep depthwise f16 {(n, c, hw, r, stride)} {layout} {kernel.fn.__name__}:",
                    f"best {cells[0][0] * 1e3:.1f} us",
                    f"({moved / cells[0][0] / 1e6 / copy:.0%} of copy,",
                    f"{moved / cells[0][0] / 1e6 / size_copy:.0%} of a same-size one);",
                    ", ".join(f"{nm} {t / cells[0][0]:.2f}" for t, nm in cells),
                    flush=True,
                )
    for kernel, configs in zip(kernels, defaults, strict=True):
        kernel.configs = configs
        forget_tuning(kernel)


BENCHES = {
    "matmul": bench_matmul,
    "matmul-probe": bench_matmul_probe,
    "matmul-tma": bench_matmul_tma,
    "attention": bench_attention,
    "attention-grad": bench_attention_grad,
    "attention-tma": bench_attention_tma,
    "conv2d": bench_conv2d,
    "conv2d-pointwise": bench_conv2d_pointwise,
    "conv2d-tma": bench_conv2d_tma,
    "conv2d-cold": bench_conv2d_cold,
    "conv2d-parts": bench_conv2d_parts,
    "conv2d-dx": bench_conv2d_dx,
    "depthwise": bench_depthwise,
}
SWEEPS = {
    "matmul": sweep_matmul,
    "matmul-ieee": sweep_matmul_ieee,
    "matmul-small": sweep_matmul_small,
    "attention": sweep_attention,
    "attention-grad": sweep_attention_grad,
    "conv2d": sweep_conv2d,
    "conv2d-rows": sweep_conv2d_rows,
    "depthwise": sweep_depthwise,
    "depthwise-nchw": functools.partial(sweep_depthwise, ("nchw",)),
    "depthwise-walks": functools.partial(sweep_depthwise, ("nchw",), "plane-walks"),
}


def set_constant(assignment: str) -> None:
    """`module.NAME=value`: a module constant set before anything is timed (a candidate
    default timed in the same process as the vendors), the value a Python expression."""
    target, _, value = assignment.partition("=")
    module_name, _, name = target.rpartition(".")
    module = importlib.import_module(module_name)
    if not value or not hasattr(module, name):
        raise SystemExit(f"--set {assignment!r}: expected MODULE.NAME=VALUE for an existing NAME")
    setattr(module, name, eval(value, {}))  # a number or a tuple, typed by the user
    print(f"set {target} = {getattr(module, name)!r}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops", nargs="*", help="matmul, attention, conv2d (--sweep: depthwise too)")
    parser.add_argument("--dtype", action="append", choices=sorted(DTYPES), help="repeatable")
    parser.add_argument("--sweep", action="store_true", help="time candidate configs instead")
    parser.add_argument("--json", help="save the rows here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODULE.NAME=VALUE",
        help="set a launch constant first (kernels.matmul.TMA_MIN_WORK=2**33); repeatable",
    )
    args = parser.parse_args()
    for assignment in args.set:
        set_constant(assignment)
    props = torch.cuda.get_device_properties(0)
    print(
        f"{props.name}, torch {torch.__version__}, triton {triton.__version__}, "
        f"cudnn {torch.backends.cudnn.version()}",
        flush=True,
    )
    table = SWEEPS if args.sweep else BENCHES
    for op in args.ops or list(table):
        if args.sweep:
            table[op]()
        else:
            dtypes = args.dtype or (
                ["bfloat16", "float16", "float32"]
                if op.startswith("matmul")
                else ["bfloat16", "float16"]
            )
            table[op](dtypes)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": props.name, "rows": ROWS}, f, indent=1, default=str)
    wrong = [r for r in ROWS if _wrong(r)]
    if wrong:
        sys.exit(f"{len(wrong)} row(s) disagree with the vendor past {DISAGREES}")


if __name__ == "__main__":
    main()
