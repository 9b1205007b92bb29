"""`triton.autotune` that also runs in Triton's interpreter, and a way around it.

`triton.autotune` picks among its configs by timing each one on the GPU the first time it
sees a new key. Triton's interpreter has no GPU benchmarker, so an autotuned kernel with
more than one config fails there. `autotune` below is a drop-in for the decorator:

    @autotune(GPU_CONFIGS, key=["M", "N", "K"], interpret_config=INTERPRET_CONFIG)
    @triton.jit
    def kernel(...): ...

  on a GPU        it *is* `triton.autotune(configs, key, **kwargs)`: every config is timed
                  once per key (`graph_timed`: short launches from a CUDA graph), the
                  fastest is cached and launched;
  in interpret    (TRITON_INTERPRET=1 when it decorates, which is when Triton itself
  mode            decides to interpret) it is `triton.autotune([chosen], key, **kwargs)`
                  with the one config `interpret_config` names (an index into `configs`,
                  or a `triton.Config` of its own: small blocks suit the interpreter).
                  A single config is launched without timing anything.

  on a GPU, with   (--triton-autotune=first) `triton.autotune(configs, key, **kwargs)`
  HARNESS_AUTOTUNE whose timing times nothing: every config ties, so the first one the
  =first           pruning keeps is launched, and a new key compiles that one config
                   instead of all of them. For test runs: the config test still runs
                   every config, and the benchmarks time the real choice.

Either way the result is a `triton.runtime.Autotuner`: what it launched last is its
`best_config`, in both modes, so a launcher can name the config that ran. Nothing here
knows any op.

`with_config(kernel, config)` launches one given config, bypassing the tuning: the way a
test forces each config of the table (on a GPU, every config must compile and be correct,
not only the ones that happen to win on the test's shapes).

`launch_tuned(kernel, grid, args, constants)` launches through the tuner once per key and
straight to its choice after. Before the tuner times a new key's configs, it compiles
them all at once (`precompile`): Triton's tuner compiles each just before timing it, one
after the other, and a large unrolled kernel (a 7 x 7 depthwise convolution) takes 10-15 s
a config on the H200's host.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import triton
from triton.runtime import _async_compile
from triton.runtime._async_compile import AsyncCompileMode
from triton.runtime.autotuner import Autotuner
from triton.runtime.jit import JITFunction

from harness.modes import AUTOTUNE_CHOICES, AUTOTUNE_ENV
from harness.parity import in_interpreter


def autotune(
    configs: Sequence[triton.Config],
    key: Sequence[str],
    interpret_config: int | triton.Config = 0,
    **kwargs: Any,
) -> Callable[[Any], Autotuner]:
    """`triton.autotune(configs, key, **kwargs)` on a GPU; in Triton's interpreter the same
    decorator over the one config `interpret_config` (an index into `configs`, or a
    config of its own). See the module docstring."""
    configs = list(configs)
    if not configs:
        raise ValueError("autotune needs at least one triton.Config")
    choice = os.environ.get(AUTOTUNE_ENV, "time")
    if choice not in AUTOTUNE_CHOICES:
        raise ValueError(f"{AUTOTUNE_ENV}={choice!r}: expected one of {AUTOTUNE_CHOICES}")
    if in_interpreter():
        if isinstance(interpret_config, triton.Config):
            chosen = interpret_config
        elif -len(configs) <= interpret_config < len(configs):
            chosen = configs[interpret_config]
        else:
            raise ValueError(
                f"interpret_config {interpret_config} is not an index into the "
                f"{len(configs)} configs"
            )
        return triton.autotune([chosen], list(key), **kwargs)
    if choice == "first":
        kwargs = {**kwargs, "do_bench": untimed}
    kwargs.setdefault("do_bench", graph_timed)
    return triton.autotune(configs, list(key), **kwargs)


GRAPH_BELOW_MS = 0.2
"""A config whose launch times under this with the driver's benchmarker (do_bench) is
timed again from a CUDA graph (`graph_timed`)."""


def _benchmarker() -> Callable[..., Any]:
    """The active driver's benchmarker, which a tuner uses by default (do_bench on a GPU;
    benchmarks/compile_offline.py's stand-in driver has its own)."""
    return triton.runtime.driver.active.get_benchmarker()


def graph_timed(
    fn: Callable[[], Any], quantiles: Sequence[float] | None = None, **kwargs: Any
) -> float | list[float]:
    """An autotuner's `do_bench`: the driver's (Triton's do_bench), and for a short launch
    the launches replayed from a CUDA graph instead. do_bench times each launch between
    two events after a cache flush; where the host takes longer to launch through the tuner than
    the flush takes to run, the GPU waits for it and the host's time is what is timed.
    On the H200 the tuner's order of 19 GEMM configs at 1024^3 (about 10 us each) moved
    by up to 1.7x between bfloat16 and float16, and in a later run its float16 choice ran
    0.70x cuBLAS where bfloat16's ran 0.91x (benchmarks/results/2026-12-03b-h200/
    sweep-small.txt, call4-matmul-16c.txt). Replayed from a graph, the
    launches follow each other on the GPU with no host between them (with L2 warm: the
    same for every config). On the H200 (benchmarks/results/2026-12-03c-h200/) the tuner
    then picked 64x128x64-s4 for float16 at 1024^3 as for bfloat16, within 2% of the best
    config in the graph-timed sweep (`vendor.py --sweep matmul-small`)."""
    times = _benchmarker()(fn, quantiles=quantiles, **kwargs)
    median = times[0] if quantiles else times
    if median >= GRAPH_BELOW_MS:
        return times
    try:  # Triton's own tuner does the same with use_cuda_graph=True
        return triton.testing.do_bench_cudagraph(fn, quantiles=quantiles)
    except RuntimeError:  # a launch a graph cannot capture: do_bench's figure, as before
        return times


def untimed(
    fn: Callable[[], Any], quantiles: Sequence[float] | None = None, **_: Any
) -> float | list[float]:
    """An autotuner's `do_bench` that runs nothing and reports 0 ms (a list, one per
    quantile, where asked for quantiles, as triton.testing.do_bench does): every config
    ties, and the autotuner keeps the first (HARNESS_AUTOTUNE=first)."""
    return 0.0 if quantiles is None else [0.0] * len(quantiles)


class _WithConfig:
    """`with_config(kernel, config)`: `[grid](*args, **kwargs)` launches `fn` with the
    config's constants through `launch(fn, grid, args, meta)`."""

    __slots__ = ("constants", "fn", "launch", "pre_hook")

    def __init__(
        self,
        fn: Any,
        constants: dict[str, Any],
        launch: Callable[..., Any],
        pre_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.fn, self.constants, self.launch, self.pre_hook = fn, constants, launch, pre_hook

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            meta = {**kwargs, **self.constants}
            if self.pre_hook is not None:
                self.pre_hook(_named(self.fn, args, meta))
            return self.launch(self.fn, grid, args, meta)

        return run


def _named(fn: Any, args: tuple, meta: dict[str, Any]) -> dict[str, Any]:
    """Every argument of a launch of `fn` by name, the config's constants included: what
    Triton's autotuner hands a config's pre-hook (which may adjust an argument in place,
    as a tensor descriptor's block to the config's tile)."""
    return {**dict(zip(fn.arg_names, args, strict=False)), **meta}


def _triton_launch(fn: Any, grid: Any, args: tuple, meta: dict[str, Any]) -> Any:
    return fn[grid](*args, **meta)


def with_config(
    kernel: Any,
    config: triton.Config,
    launch: Callable[[Any, Any, tuple, dict[str, Any]], Any] = _triton_launch,
) -> Any:
    """`kernel` (autotuned or a plain `triton.jit` function) launchable as
    `with_config(kernel, config)[grid](*args, **kwargs)` with `config`'s constants,
    warps and stages: the tuning, if any, is bypassed. `launch(fn, grid, args, meta)` is
    a caller's cheaper launch, as for `launch_tuned` (Triton's by default)."""
    fn = kernel.fn if isinstance(kernel, Autotuner) else kernel
    return _WithConfig(fn, config.all_kwargs(), launch, config.pre_hook)


def launch_tuned(
    kernel: Autotuner,
    grid: Any,
    args: tuple,
    constants: dict[str, Any],
    launch: Callable[[Any, Any, tuple, dict[str, Any]], Any] = _triton_launch,
    tuning: Callable[[], Any] | None = None,
) -> Any:
    """`kernel[grid](*args, **constants)`, returning the config that ran; once the tuner
    has chosen for this key, straight to the JIT function with the chosen config, through
    `launch(fn, grid, args, meta)` (a caller's cheaper launch; Triton's by default).

    Triton's `Autotuner.run` rebuilds dicts of every argument on each call to find its
    key, about half of a small GEMM's launch on the host (`benchmarks/host_cost.py
    --offline matmul`). The key here means the same (the tuner's key arguments and the
    dtype of every tensor argument) and costs a tuple. A key the tuner has not seen goes
    through `Autotuner.run` as before, `tuning()` called first where given: the tuner's
    launches, and the chosen config's, go through Triton's dispatch, not `launch`. A
    config's pre-hook runs before each launch, as there (given every argument by name,
    which costs a dict only where there is a hook)."""
    state = kernel.__dict__
    chosen = state.get("_launch_cache")  # config key -> (config, its all_kwargs())
    if chosen is None:
        chosen = kernel._launch_cache = {}
    positions = state.get("_key_positions")
    if positions is None:
        names = list(kernel.arg_names)
        positions = kernel._key_positions = tuple(
            (names.index(k), k) for k in kernel.keys if k in names
        )
    # A comprehension and a loop, not generator expressions: this runs on every launch.
    n_args = len(args)
    parts = [args[i] if i < n_args else constants.get(name) for i, name in positions]
    for arg in args:
        if type(arg) is not int and hasattr(arg, "dtype"):  # ints are most, and cheap to skip
            parts.append(str(arg.dtype))
    key = tuple(parts)
    entry = chosen.get(key)
    if entry is None:
        if tuning is not None:
            tuning()
        precompile(kernel, grid, args, constants)
        kernel[grid](*args, **constants)
        config = kernel.best_config
        chosen[key] = (config, config.all_kwargs())  # a config is not changed once made
        return config
    config, config_constants = entry
    meta = {**constants, **config_constants}
    if config.pre_hook is not None:
        config.pre_hook(_named(kernel.fn, args, meta))
    launch(kernel.fn, grid, args, meta)
    kernel.best_config = config
    return config


_TRITON_RUN = JITFunction.run  # harness.parity's counters and twins replace it for a while

PRECOMPILE = True
"""Whether `launch_tuned` compiles a new key's configs at once (`precompile`) before the
tuner times them (benchmarks/tuning_time.py times a first call both ways)."""


def compile_threads() -> int:
    """Threads `precompile` may compile in: this process's share of the CPUs (pytest-xdist
    workers share them)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    return max(1, cpus // max(1, workers))


def precompile(kernel: Autotuner, grid: Any, args: tuple, constants: dict[str, Any]) -> int:
    """Compiles every config the tuner keeps (its pruning) for a launch of `kernel[grid](*args,
    **constants)`, in `compile_threads()` threads at once (Triton's AsyncCompileMode: each
    compile's key is worked out here, the compiles run in the pool, and the kernels land
    in the JIT function's cache as if compiled one by one). The tuner then times kernels it
    finds compiled. Each config's pre-hook runs first, as before its launch (a tensor
    descriptor's block is part of what is compiled). Nothing happens where the tuner would
    compile nothing or one config (untimed, or a single config), in the interpreter, or
    where Triton's JITFunction.run is replaced (harness.parity) or another asynchronous
    compile is active; a config that fails to compile here (or to bind its arguments)
    fails again where the tuner compiles it, as without this. Returns the number of
    configs submitted.

    Threads overlap the compiler's passes, LLVM and ptxas, not Triton's Python front end
    (the GIL): about half of an unrolled 7 x 7 depthwise config's compile, so a first
    call there tuned 1.45-1.86x sooner on the H200's 16 threads, not 6x (README)."""
    fn = kernel.fn
    if (
        not PRECOMPILE
        or type(fn) is not JITFunction
        or JITFunction.run is not _TRITON_RUN
        or kernel._do_bench is untimed
        or len(kernel.configs) < 2
        or _async_compile.active_mode.get() is not None
    ):
        return 0
    named = dict(zip(kernel.arg_names, args, strict=False))
    kernel.nargs = named  # what the pruning reads, as during Autotuner.run
    try:
        configs = kernel.prune_configs(constants)
    finally:
        kernel.nargs = None
    threads = min(len(configs), compile_threads())
    if threads < 2:
        return 0
    submitted = 0
    with ThreadPoolExecutor(threads) as pool, AsyncCompileMode(pool, ignore_errors=True):
        for config in configs:
            meta = {**constants, **config.all_kwargs()}
            try:
                if config.pre_hook is not None:
                    config.pre_hook({**named, **meta})
                fn.warmup(*args, grid=grid, **meta)
            except Exception:  # the tuner meets it again, and says what
                continue
            submitted += 1
    return submitted


def forget_tuning(kernel: Autotuner) -> None:
    """Empty the tuner's choices (and `launch_tuned`'s): the next call tunes again."""
    kernel.cache.clear()
    kernel.__dict__.pop("_launch_cache", None)
