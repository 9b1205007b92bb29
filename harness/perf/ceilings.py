"""The card's measured ceilings: copy bandwidth and matmul rate.

An op's throughput is reported as a fraction of what this very card reaches in this
run, not of a datasheet figure (clocks, power limits and drivers move both):

  * memory: a device-to-device copy of a 1 GiB buffer, counting the bytes read and the
    bytes written (2 GiB moved per call). On an H100 SXM this is about 3.0 TB/s.
  * memory at a case's size: a copy that moves the case's own bytes (half read, half
    written). Small and medium transfers do not reach the 1 GiB figure (launch, ramp-up
    and the tail of the last wave are fixed costs): on an H100, a 67 MB copy runs at about
    81% of it. Kernels are reported against both: the first says how far the op is from
    the card's limit, the second how far it is from a copy of the same size.
  * compute: a cuBLAS matmul of 8192 x 8192 x 8192 in the case's dtype (2 * 8192^3
    FLOPs): bf16 and fp16 on the tensor cores (about 700 TFLOP/s on an H100), fp32 on
    them too, in TF32 (the fastest a float32 GEMM runs on the card). Measured as torch
    runs it by default (full float32, 51 TFLOP/s on an H100), a TF32 kernel read 512-618%
    of its ceiling (benchmarks/results/2026-12-06d-h100, call 2): no ceiling at all. A
    kernel in full float32 reads a small fraction of this one, which is what it is.

Each is timed with the same `harness.perf.timing` method as the kernels, when first
asked for, and remembered by its `MeasuredCeilings`: the command line makes one per run,
the pytest benchmarks one per session, so each ceiling is measured once.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.perf.timing import Timer, TimingConfig, measure

COPY_BYTES = 1 << 30
MATMUL_N = 8192

# A ceiling needs no repeats: one do_bench-style median is plenty at these sizes.
_CEILING_TIMING = TimingConfig(repeats=1, warmup_ms=25.0, rep_ms=100.0, min_calls=3)


class Ceilings(Protocol):
    def copy_gbps(self) -> float | None: ...

    def copy_gbps_at(self, nbytes: float) -> float | None: ...

    def matmul_tflops(self, dtype: str) -> float | None: ...

    def to_json(self) -> dict[str, Any]: ...


def _median_ms(fn: Any, timer: Timer) -> float:
    samples = measure({"f": fn}, timer, _CEILING_TIMING)["f"]
    return float(statistics.median(t for rep in samples for t in rep))


@dataclass
class MeasuredCeilings:
    """Ceilings measured lazily on the GPU with `timer`, then remembered."""

    timer: Timer
    _copy: float | None = None
    _copy_at: dict[int, float] = field(default_factory=dict)
    _matmul: dict[str, float] = field(default_factory=dict)

    def _measure_copy(self, copied_bytes: int) -> float:
        """GB/s of a device-to-device copy of `copied_bytes`, counting read + write."""
        import torch

        src = torch.ones(max(copied_bytes // 4, 1), dtype=torch.float32, device=self.timer.device)
        dst = torch.empty_like(src)
        ms = _median_ms(lambda: dst.copy_(src), self.timer)
        return 2 * copied_bytes / (ms * 1e-3) / 1e9

    def copy_gbps(self) -> float:
        if self._copy is None:
            self._copy = self._measure_copy(COPY_BYTES)
        return self._copy

    def copy_gbps_at(self, nbytes: float) -> float | None:
        """The copy bandwidth of a copy moving `nbytes` in all (nbytes / 2 copied, rounded
        to 4 bytes); measured once per size."""
        copied = int(nbytes // 8) * 4
        if copied <= 0:
            return None
        if copied not in self._copy_at:
            self._copy_at[copied] = self._measure_copy(copied)
        return self._copy_at[copied]

    def matmul_tflops(self, dtype: str) -> float:
        if dtype not in self._matmul:
            import torch

            from harness.dtypes import to_torch

            n = MATMUL_N
            gen = torch.Generator(device=self.timer.device).manual_seed(0)
            a, b = (
                torch.randn(n, n, device=self.timer.device, generator=gen).to(to_torch(dtype))
                for _ in "ab"
            )
            allowed = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = True  # float32's fastest: TF32
            try:
                ms = _median_ms(lambda: a @ b, self.timer)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = allowed
            self._matmul[dtype] = 2 * n**3 / (ms * 1e-3) / 1e12
            del a, b
        return self._matmul[dtype]

    def to_json(self) -> dict[str, Any]:
        return {
            "copy_gbps": self._copy,
            "copy": f"device-to-device copy of {COPY_BYTES >> 30} GiB, read + write",
            "matmul_tflops": dict(self._matmul),
            "matmul": f"cuBLAS {MATMUL_N}^3 matmul per dtype (torch.matmul; float32 in TF32)",
        }


@dataclass
class FixedCeilings:
    """Given ceilings (tests, or re-reporting a saved run)."""

    copy: float | None = None
    matmul: dict[str, float] = field(default_factory=dict)
    copy_at: dict[float, float] = field(default_factory=dict)
    """The copy bandwidth at a case's byte count (none given: unknown)."""

    def copy_gbps(self) -> float | None:
        return self.copy

    def copy_gbps_at(self, nbytes: float) -> float | None:
        return self.copy_at.get(nbytes)

    def matmul_tflops(self, dtype: str) -> float | None:
        return self.matmul.get(dtype)

    def to_json(self) -> dict[str, Any]:
        return {"copy_gbps": self.copy, "matmul_tflops": dict(self.matmul)}
