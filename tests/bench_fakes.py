"""Fakes for testing the benchmark machinery on a CPU: a timer that invents device times
from the work done, a tiny op that counts its calls, and hand-made results."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from harness import Inputs, Op, Registry
from harness.perf.results import BenchResult, BenchRun, TierTiming
from harness.perf.timeline import Launch
from harness.tensors import make_tensor

WORK: Counter[str] = Counter()
"""Elements processed per tier since the start: what FakeTimer turns into time."""

NS_PER_ELEMENT = {"kernel": 1.0, "torch": 1.2, "torch_bench": 0.8}
JITTER = (1.0, 1.01, 0.99, 1.005, 0.995)
HOST_MS = 0.025
"""What FakeTimer reports as any call's host cost."""


class FakeTimer:
    """Times a call as (elements the fake op's tiers processed) x a fixed cost, with a
    small deterministic jitter, instead of reading a GPU clock."""

    device = "cpu"

    def __init__(self) -> None:
        self.calls = 0

    def time_calls(self, fn: Callable[[], Any], n: int) -> list[float]:
        before = WORK.copy()
        fn()  # once: the work of a call is the same every time
        self.calls += 1
        ns = sum((WORK[t] - before[t]) * NS_PER_ELEMENT[t] for t in NS_PER_ELEMENT)
        return [ns * 1e-6 * JITTER[i % len(JITTER)] for i in range(n)]

    def call_overhead_ms(self) -> float:
        return 0.0

    def host_ms_per_call(self, fn: Callable[[], Any]) -> float:
        fn()
        return HOST_MS

    def launches(self, fn: Callable[[], Any], n: int) -> list[list[Launch]]:
        """Each call as two launches, a zeroing then the op's kernel (its time as
        `time_calls` gives it), 1 us apart; a call 1 ms after the one before it."""
        kernel_us = 1e3 * self.time_calls(fn, 1)[0]
        return [
            [
                Launch("zero", 1e3 * i, 1e3 * i + 0.5),
                Launch("add", 1e3 * i + 1.5, 1e3 * i + 1.5 + kernel_us),
            ]
            for i in range(n)
        ]

    def synchronize(self) -> None:
        pass


def _kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    WORK["kernel"] += x.numel()
    return x + y


def _torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    WORK["torch"] += x.numel()
    return x + y


def torch_bench(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A faster PyTorch call than `_torch` for the same sum (an op's `torch_bench`)."""
    WORK["torch_bench"] += x.numel()
    return torch.add(x, y)


def _inputs(case, device, gen) -> Inputs:
    return Inputs(tuple(make_tensor(case.shape, case.dtype, device, gen) for _ in "xy"))


def _broken(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("launch failed: too many resources requested")


WRONG_FROM = 1 << 12
"""fake_wrong_large leaves its output unwritten from this element on."""


def _wrong_at_large_sizes(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Right on every size a correctness run draws (a few elements), wrong on the larger
    benchmark sizes: as a launcher that caps its grid without looping over the rest."""
    WORK["kernel"] += x.numel()
    out = torch.empty_like(x)
    out.view(-1)[:WRONG_FROM] = (x + y).view(-1)[:WRONG_FROM]
    return out


def fake_op(name: str = "fake_add", **kw: Any) -> Op:
    fields: dict[str, Any] = dict(
        name=name,
        numpy_ref=lambda x, y: np.add(x, y),
        torch_ref=_torch,
        kernel=_kernel,
        make_inputs=_inputs,
        cases=lambda budget: st.just(((4,), {})),
        bytes=lambda case: 3 * math.prod(case.shape) * 4,
        flops=lambda case: math.prod(case.shape),
        bench_cases=[((1 << 10,), {}), ((1 << 12,), {}), ((1 << 14,), {})],
        bench_dtypes=("float32", "float16"),
    )
    fields.update(kw)
    return Op(**fields)


FAKE_OPS = Registry(
    [
        fake_op(),
        fake_op("fake_broken", kernel=_broken, bench_dtypes=("float32",)),
        fake_op("fake_nocases", bench_cases=()),
        fake_op("fake_wrong_large", kernel=_wrong_at_large_sizes, bench_dtypes=("float32",)),
    ],
    module=__name__,
)
OPS = FAKE_OPS


def timing(ms: Sequence[float]) -> TierTiming:
    return TierTiming(tuple(ms), calls_per_repeat=100, min_ms=min(ms), max_ms=max(ms))


def result(
    kernel: Sequence[float] = (1.0,) * 5,
    torch_ms: Sequence[float] = (1.2,) * 5,
    op: str = "vector_add",
    dtype: str = "float32",
    n: int = 1 << 20,
    **kw: Any,
) -> BenchResult:
    return BenchResult(
        op=op,
        dtype=dtype,
        shape=(n,),
        kernel=timing(kernel),
        torch=timing(torch_ms),
        nbytes=3 * n * 4,
        nflops=n,
        copy_gbps=3000.0,
        mm_tflops=700.0,
        **kw,
    )


def run_of(results: list[BenchResult], gpu: str | None = "NVIDIA H100 80GB HBM3") -> BenchRun:
    return BenchRun(
        machine={"gpu": gpu, "torch": "2.11.0", "triton": "3.6.0", "gpu_driver": "580.65"},
        results=results,
        ceilings={"copy_gbps": 3000.0, "matmul_tflops": {"float32": 50.0, "bfloat16": 700.0}},
        config={"repeats": 5, "rep_ms": 100.0, "method": "fake"},
        created="2026-01-01T00:00:00+00:00",
    )
