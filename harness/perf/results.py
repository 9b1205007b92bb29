"""What a benchmark run measured, as plain data: per case, per tier, per repeat.

No torch and no GPU here, so the gate, the table and the plots can be exercised on any
machine from a saved run.

The statistics, and why:
  * One *measurement* of a tier is R independent *repeats*; a repeat is many timed calls
    (each after an L2 flush), summarised by their median, as `triton.testing.do_bench`
    does. The reported time is the median of the R repeat medians.
  * The *spread* of a measurement is the range of the repeat medians relative to their
    median, once the highest and the lowest are set aside when there are 5 or more:
    the range of what repeating the same measurement gave. It is what the gate compares
    its thresholds with: a change smaller than the spread cannot be told apart from
    noise. One disturbed repeat is set aside because the reported median already
    ignores it: on the H100, 3 of 93 cases once had one repeat of five at 1.5x to 2x the
    others (spread 27% to 123% over all five), while the same cases changed by under 5%
    from run to run.
  * The *speedup* is PyTorch time / Triton time per repeat (the two tiers are measured
    interleaved, repeat by repeat, so both see the same clocks and neighbours), then the
    median over repeats; its spread is defined the same way.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.perf.timeline import Timeline

FORMAT = "harness-bench/1"

TORCH_REF = "torch_ref"
"""The PyTorch column timed the op's `torch_ref` (every run before `Op.torch_bench`)."""

Key = tuple[str, str, tuple[int, ...], str]
"""(op, dtype, shape, params as sorted JSON): how a case is matched across runs."""


def spread(values: Sequence[float]) -> float:
    """(max - min) / median, without the extremes when there are 5 or more values; 0 for
    fewer than two values, inf for a zero median."""
    if len(values) < 2:
        return 0.0
    mid = statistics.median(values)
    if mid <= 0:
        return math.inf
    kept = sorted(values)[1:-1] if len(values) >= 5 else list(values)
    return (max(kept) - min(kept)) / mid


def params_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=str)


def case_id(op: str, dtype: str, shape: Sequence[int], params: Mapping[str, Any]) -> str:
    """A short readable id: `vector_add-float32-4096x4096-layout=strided`."""
    dims = "x".join(str(d) for d in shape) or "scalar"
    extra = "".join(f"-{k}={v}" for k, v in sorted(params.items()))
    return f"{op}-{dtype}-{dims}{extra}"


@dataclass(frozen=True)
class TierTiming:
    """One tier's measurement of one case: the median of each repeat, in milliseconds."""

    repeat_medians_ms: tuple[float, ...]
    calls_per_repeat: int
    min_ms: float
    max_ms: float
    host_ms: float | None = None
    """Host (CPU) time one call takes to return (`Timer.host_ms_per_call`); None when
    not measured (older runs)."""

    @classmethod
    def from_samples(
        cls, repeats: Sequence[Sequence[float]], host_ms: float | None = None
    ) -> TierTiming:
        """From the raw device times (ms) of each repeat's timed calls."""
        if not repeats or not all(repeats):
            raise ValueError("a timing needs at least one repeat of at least one call")
        flat = [t for rep in repeats for t in rep]
        return cls(
            repeat_medians_ms=tuple(float(statistics.median(rep)) for rep in repeats),
            calls_per_repeat=min(len(rep) for rep in repeats),
            min_ms=float(min(flat)),
            max_ms=float(max(flat)),
            host_ms=host_ms,
        )

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.repeat_medians_ms))

    @property
    def spread(self) -> float:
        return spread(self.repeat_medians_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "spread": self.spread,
            "repeat_medians_ms": list(self.repeat_medians_ms),
            "calls_per_repeat": self.calls_per_repeat,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "host_ms": self.host_ms,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TierTiming:
        medians = d.get("repeat_medians_ms") or [d["median_ms"]]
        return cls(
            repeat_medians_ms=tuple(float(x) for x in medians),
            calls_per_repeat=int(d.get("calls_per_repeat", 0)),
            min_ms=float(d.get("min_ms", min(medians))),
            max_ms=float(d.get("max_ms", max(medians))),
            host_ms=float(d["host_ms"]) if d.get("host_ms") is not None else None,
        )


def roofline(
    nbytes: float, nflops: float, ms: float, copy_gbps: float | None, mm_tflops: float | None
) -> tuple[str | None, float | None]:
    """Which ceiling binds a case, and the fraction of it reached.

    The ideal time is max(bytes / copy bandwidth, FLOPs / matmul rate): whichever the op's
    declared counts make larger binds (a roofline). The fraction is ideal / measured, i.e.
    GB/s over the copy bandwidth for a memory-bound case, TFLOP/s over the matmul rate for
    a compute-bound one. (None, None) when neither count or ceiling is known.
    """
    t_bytes = nbytes / (copy_gbps * 1e9) if nbytes > 0 and copy_gbps else 0.0
    t_flops = nflops / (mm_tflops * 1e12) if nflops > 0 and mm_tflops else 0.0
    if (t_bytes == 0.0 and t_flops == 0.0) or ms <= 0:
        return None, None
    bound = "memory" if t_bytes >= t_flops else "compute"
    return bound, max(t_bytes, t_flops) / (ms * 1e-3)


@dataclass(frozen=True)
class BenchResult:
    """Both tiers of one (op, dtype, case), measured in the same run."""

    op: str
    dtype: str
    shape: tuple[int, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    kernel: TierTiming | None = None
    torch: TierTiming | None = None
    nbytes: float = 0.0
    nflops: float = 0.0
    copy_gbps: float | None = None
    """The copy-bandwidth ceiling this run measured (GB/s)."""
    size_copy_gbps: float | None = None
    """The bandwidth of a copy moving this case's bytes, measured this run (GB/s)."""
    mm_tflops: float | None = None
    """The matmul ceiling in this case's dtype this run measured (TFLOP/s)."""
    torch_tier: str = TORCH_REF
    """Which PyTorch call the torch timing is of (`harness.perf.measure.torch_tier`)."""
    measurements: int = 1
    """How many measurements are pooled here (the gate measures a failing case again,
    see harness.perf.measure.pooled)."""
    error: str | None = None
    kernel_samples_ms: tuple[float, ...] = field(default=(), compare=False, repr=False)
    """Every timed kernel call, for pytest-benchmark; not saved in the run's JSON."""
    torch_samples_ms: tuple[float, ...] = field(default=(), compare=False, repr=False)
    """Every timed PyTorch call, likewise."""
    timeline: Timeline | None = field(default=None, compare=False, repr=False)
    """The Triton tier's launches (`bench --timeline`), if profiled: saved, printed."""

    @property
    def key(self) -> Key:
        return (self.op, self.dtype, tuple(self.shape), params_key(self.params))

    @property
    def id(self) -> str:
        return case_id(self.op, self.dtype, self.shape, self.params)

    @property
    def ok(self) -> bool:
        return self.error is None and self.kernel is not None and self.torch is not None

    @property
    def speedup_repeats(self) -> tuple[float, ...]:
        if not self.ok:
            return ()
        return tuple(
            t / k if k > 0 else math.inf
            for t, k in zip(
                self.torch.repeat_medians_ms, self.kernel.repeat_medians_ms, strict=False
            )
        )

    @property
    def speedup(self) -> float | None:
        """PyTorch time / Triton time (> 1: the Triton kernel is faster)."""
        reps = self.speedup_repeats
        return float(statistics.median(reps)) if reps else None

    @property
    def speedup_spread(self) -> float | None:
        reps = self.speedup_repeats
        return spread(reps) if reps else None

    def _rates(self, timing: TierTiming | None) -> tuple[float | None, float | None]:
        if timing is None or timing.median_ms <= 0:
            return None, None
        s = timing.median_ms * 1e-3
        return (
            self.nbytes / s / 1e9 if self.nbytes > 0 else None,
            self.nflops / s / 1e12 if self.nflops > 0 else None,
        )

    @property
    def gbps(self) -> float | None:
        return self._rates(self.kernel)[0]

    @property
    def tflops(self) -> float | None:
        return self._rates(self.kernel)[1]

    @property
    def torch_gbps(self) -> float | None:
        return self._rates(self.torch)[0]

    @property
    def torch_tflops(self) -> float | None:
        return self._rates(self.torch)[1]

    def roofline(self, tier: str = "kernel") -> tuple[str | None, float | None]:
        timing = self.kernel if tier == "kernel" else self.torch
        if timing is None:
            return None, None
        return roofline(self.nbytes, self.nflops, timing.median_ms, self.copy_gbps, self.mm_tflops)

    @property
    def bound(self) -> str | None:
        return self.roofline()[0]

    @property
    def ceiling_fraction(self) -> float | None:
        return self.roofline()[1]

    @property
    def size_copy_fraction(self) -> float | None:
        """The kernel's GB/s over a same-size copy's, for a memory-bound case (> 1: faster
        than a copy that moves as many bytes)."""
        if self.bound != "memory" or not self.size_copy_gbps or self.gbps is None:
            return None
        return self.gbps / self.size_copy_gbps

    def summary(self) -> dict[str, Any]:
        """The derived figures, flat: what goes into pytest-benchmark's extra_info."""
        return {
            "op": self.op,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "params": dict(self.params),
            "kernel_median_ms": self.kernel.median_ms if self.kernel else None,
            "kernel_spread": self.kernel.spread if self.kernel else None,
            "torch_median_ms": self.torch.median_ms if self.torch else None,
            "torch_spread": self.torch.spread if self.torch else None,
            "torch_tier": self.torch_tier,
            "kernel_host_ms": self.kernel.host_ms if self.kernel else None,
            "torch_host_ms": self.torch.host_ms if self.torch else None,
            "speedup": self.speedup,
            "speedup_spread": self.speedup_spread,
            "gbps": self.gbps,
            "tflops": self.tflops,
            "torch_gbps": self.torch_gbps,
            "torch_tflops": self.torch_tflops,
            "bound": self.bound,
            "ceiling_fraction": self.ceiling_fraction,
            "torch_ceiling_fraction": self.roofline("torch")[1],
            "copy_gbps_ceiling": self.copy_gbps,
            "copy_gbps_same_size": self.size_copy_gbps,
            "size_copy_fraction": self.size_copy_fraction,
            "matmul_tflops_ceiling": self.mm_tflops,
            "bytes": self.nbytes,
            "flops": self.nflops,
            "measurements": self.measurements,
        }

    def to_json(self) -> dict[str, Any]:
        d = self.summary()
        d["kernel"] = self.kernel.to_json() if self.kernel else None
        d["torch"] = self.torch.to_json() if self.torch else None
        d["speedup_repeats"] = list(self.speedup_repeats)
        d["error"] = self.error
        if self.timeline is not None:
            d["timeline"] = self.timeline.to_json()
        for k in (
            "kernel_median_ms",
            "kernel_spread",
            "torch_median_ms",
            "torch_spread",
            "kernel_host_ms",
            "torch_host_ms",
        ):
            del d[k]  # inside "kernel" / "torch"
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BenchResult:
        return cls(
            op=d["op"],
            dtype=d["dtype"],
            shape=tuple(int(x) for x in d["shape"]),
            params=dict(d.get("params") or {}),
            kernel=TierTiming.from_json(d["kernel"]) if d.get("kernel") else None,
            torch=TierTiming.from_json(d["torch"]) if d.get("torch") else None,
            nbytes=float(d.get("bytes") or 0.0),
            nflops=float(d.get("flops") or 0.0),
            copy_gbps=d.get("copy_gbps_ceiling"),
            size_copy_gbps=d.get("copy_gbps_same_size"),
            mm_tflops=d.get("matmul_tflops_ceiling"),
            torch_tier=d.get("torch_tier") or TORCH_REF,
            measurements=int(d.get("measurements", 1)),
            error=d.get("error"),
            timeline=Timeline.from_json(d["timeline"]) if d.get("timeline") else None,
        )


@dataclass
class BenchRun:
    """A whole run: where it ran, the ceilings it measured, how, and every case."""

    machine: dict[str, Any]
    results: list[BenchResult]
    ceilings: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def gpu(self) -> str | None:
        return self.machine.get("gpu")

    def by_key(self) -> dict[Key, BenchResult]:
        return {r.key: r for r in self.results}

    def select(self, ops: Sequence[str] = (), dtypes: Sequence[str] = ()) -> BenchRun:
        """Only the named ops and dtypes (all when empty)."""
        keep = [
            r
            for r in self.results
            if (not ops or r.op in ops) and (not dtypes or r.dtype in dtypes)
        ]
        return BenchRun(self.machine, keep, self.ceilings, self.config, self.created)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created": self.created,
            "machine": self.machine,
            "ceilings": self.ceilings,
            "config": self.config,
            "results": [r.to_json() for r in self.results],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BenchRun:
        fmt = d.get("format")
        if fmt != FORMAT:
            raise ValueError(f"not a harness benchmark run (format {fmt!r}, expected {FORMAT!r})")
        return cls(
            machine=dict(d.get("machine") or {}),
            results=[BenchResult.from_json(r) for r in d.get("results", [])],
            ceilings=dict(d.get("ceilings") or {}),
            config=dict(d.get("config") or {}),
            created=str(d.get("created", "")),
        )

    def save(self, path: str | Path) -> Path:
        """Write the run as JSON at `path`, whole or not at all (through a file beside
        it, renamed over it): a run saved after each case survives being killed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")
        os.replace(part, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> BenchRun:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_json(data)
