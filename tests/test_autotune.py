"""harness.autotune: triton.autotune on a GPU, one chosen config in the interpreter, and
with_config's way around the tuning. The kernel records which config ran by storing its
block size."""

from __future__ import annotations

import pytest
import torch
import triton
import triton.language as tl
from triton.runtime.autotuner import Autotuner

from harness.autotune import autotune, launch_tuned, with_config
from harness.modes import device_for

SMALL = triton.Config({"BLOCK": 16}, num_warps=1)
LARGE = triton.Config({"BLOCK": 32}, num_warps=1)
OWN = triton.Config({"BLOCK": 64}, num_warps=1)


@triton.jit
def _block_kernel(out_ptr, n, BLOCK: tl.constexpr):
    # Every element gets the block size of the program that wrote it.
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offsets, tl.full((BLOCK,), BLOCK, tl.int32), mask=offsets < n)


@pytest.fixture
def device(harness_state) -> torch.device:
    return torch.device(device_for(harness_state.mode))


def _blocks_written(kernel, device) -> set[int]:
    out = torch.zeros(100, dtype=torch.int32, device=device)
    kernel[lambda meta: (triton.cdiv(100, meta["BLOCK"]),)](out, 100)
    return set(out.tolist())


@pytest.mark.parametrize(("chosen", "expected"), [(1, LARGE), (-2, SMALL), (OWN, OWN)])
def test_the_interpreter_launches_the_chosen_config_and_says_so(
    chosen, expected, device, monkeypatch
):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # what autotune looks at when it decorates
    tuned = autotune([SMALL, LARGE], key=["n"], interpret_config=chosen)(_block_kernel)
    assert isinstance(tuned, Autotuner) and tuned.configs == [expected]
    assert _blocks_written(tuned, device) == {expected.kwargs["BLOCK"]}
    assert tuned.best_config is expected


def test_a_gpu_tunes_over_every_config(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    tuned = autotune([SMALL, LARGE], key=["n"], interpret_config=OWN)(_block_kernel)
    assert isinstance(tuned, Autotuner) and tuned.configs == [SMALL, LARGE]


def test_with_config_bypasses_the_tuning(device, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    tuned = autotune([SMALL, LARGE], key=["n"])(_block_kernel)
    assert _blocks_written(with_config(tuned, LARGE), device) == {32}
    assert _blocks_written(with_config(_block_kernel, OWN), device) == {64}


@pytest.mark.parametrize("bad", [2, -3])
def test_an_interpret_config_out_of_range_is_refused(bad, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(ValueError, match="interpret_config"):
        autotune([SMALL, LARGE], key=["n"], interpret_config=bad)
    with pytest.raises(ValueError, match="at least one"):
        autotune([], key=["n"])


def test_launch_tuned_skips_the_tuner_once_it_has_chosen(device, monkeypatch):
    """The first call of a key goes through the tuner; later ones of that key launch its
    choice directly (Autotuner.run not called) and still run it; a new key (n, or a
    tensor's dtype) goes through the tuner again."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    tuned = autotune([SMALL, LARGE], key=["n"], interpret_config=1)(_block_kernel)
    grid = lambda meta: (triton.cdiv(100, meta["BLOCK"]),)
    out = torch.zeros(100, dtype=torch.int32, device=device)
    assert launch_tuned(tuned, grid, (out, 100), {}) is LARGE
    tuner_calls = []
    run = tuned.run
    monkeypatch.setattr(tuned, "run", lambda *a, **k: tuner_calls.append(a) or run(*a, **k))
    out.zero_()
    assert launch_tuned(tuned, grid, (out, 100), {}) is LARGE
    assert tuner_calls == [] and set(out.tolist()) == {32}
    launch_tuned(tuned, grid, (out, 99), {})
    launch_tuned(tuned, grid, (out.to(torch.int64), 100), {})
    assert len(tuner_calls) == 2
    # A caller's own launch (kernels._launch.launch_resolved) takes the chosen config.
    launches = []
    own = lambda fn, grid_, args, meta: launches.append(meta) or fn[grid_](*args, **meta)
    out.zero_()
    assert launch_tuned(tuned, grid, (out, 100), {}, own) is LARGE
    assert launches[0]["BLOCK"] == 32 and set(out.tolist()) == {32} and len(tuner_calls) == 2


def test_a_configs_pre_hook_runs_before_every_launch(device, monkeypatch):
    """A config's pre-hook (which may set up an argument for the config, as a tensor
    descriptor's block) runs before each launch, with every argument and constant by
    name: through the tuner, on launch_tuned's shortcut past it, and forced
    (with_config), as Triton's autotuner runs it."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    seen = []
    hooked = triton.Config({"BLOCK": 32}, num_warps=1, pre_hook=lambda nargs: seen.append(nargs))
    tuned = autotune([SMALL, hooked], key=["n"], interpret_config=1)(_block_kernel)
    grid = lambda meta: (triton.cdiv(100, meta["BLOCK"]),)
    out = torch.zeros(100, dtype=torch.int32, device=device)
    for _ in range(2):  # the tuner, then the shortcut
        assert launch_tuned(tuned, grid, (out, 100), {}) is hooked
    with_config(tuned, hooked)[grid](out, 100)
    assert len(seen) == 3 and set(out.tolist()) == {32}
    assert all(s["out_ptr"] is out and s["n"] == 100 and s["BLOCK"] == 32 for s in seen)


def test_first_launches_the_first_config_the_pruning_keeps_untimed(device, monkeypatch):
    """HARNESS_AUTOTUNE=first (--triton-autotune=first): triton.autotune's own selection
    runs, over timings that call nothing, so the first config kept wins and only it is
    ever compiled and launched."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # decorate as on a GPU
    monkeypatch.setenv("HARNESS_AUTOTUNE", "first")
    tuned = autotune([SMALL, LARGE], key=["n"])(_block_kernel)
    assert isinstance(tuned, Autotuner) and tuned.configs == [SMALL, LARGE]
    assert _blocks_written(tuned, device) == {16} and tuned.best_config is SMALL

    def keep_large(configs, named_args, **kwargs):
        return [c for c in configs if c.kwargs["BLOCK"] == 32]

    pruned = autotune(
        [SMALL, LARGE], key=["n"], prune_configs_by={"early_config_prune": keep_large}
    )(_block_kernel)
    assert _blocks_written(pruned, device) == {32} and pruned.best_config is LARGE


def test_untimed_runs_nothing_and_ties_every_config():
    from harness.autotune import untimed

    def must_not_run():
        raise AssertionError("untimed ran the kernel")

    assert untimed(must_not_run, quantiles=(0.5, 0.2, 0.8)) == [0.0, 0.0, 0.0]
    assert untimed(must_not_run) == 0.0  # as do_bench: a number without quantiles


def test_an_unknown_autotune_choice_is_refused(monkeypatch):
    monkeypatch.setenv("HARNESS_AUTOTUNE", "fastest")
    with pytest.raises(ValueError, match=r"HARNESS_AUTOTUNE='fastest': expected one of"):
        autotune([SMALL, LARGE], key=["n"])(_block_kernel)


def test_graph_timed_times_a_short_launch_again_from_a_cuda_graph(monkeypatch):
    """The tuner's timing: do_bench's figure for a launch of GRAPH_BELOW_MS or more, the
    CUDA graph's below it (there the host's launch cost can be what do_bench times)."""
    from harness import autotune as tuning

    timed: list[str] = []

    def plain(fn, quantiles=None, **kwargs):
        timed.append("plain")
        return [measured, measured / 2, measured * 2] if quantiles else measured

    def graphed(fn, quantiles=None, **kwargs):
        timed.append("graph")
        return [0.001] * len(quantiles) if quantiles else 0.001

    monkeypatch.setattr(tuning, "_benchmarker", lambda: plain)
    monkeypatch.setattr(tuning.triton.testing, "do_bench_cudagraph", graphed)
    measured = tuning.GRAPH_BELOW_MS * 2
    assert tuning.graph_timed(lambda: None, quantiles=(0.5, 0.2, 0.8))[0] == measured
    assert timed == ["plain"]
    measured = tuning.GRAPH_BELOW_MS / 2
    assert tuning.graph_timed(lambda: None, quantiles=(0.5, 0.2, 0.8)) == [0.001] * 3
    assert tuning.graph_timed(lambda: None) == 0.001
    assert timed == ["plain", "plain", "graph", "plain", "graph"]


def test_graph_timed_keeps_do_benchs_figure_where_a_graph_cannot_be_made(monkeypatch):
    from harness import autotune as tuning

    def no_graph(fn, quantiles=None, **kwargs):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(tuning, "_benchmarker", lambda: lambda fn, quantiles=None: 0.01)
    monkeypatch.setattr(tuning.triton.testing, "do_bench_cudagraph", no_graph)
    assert tuning.graph_timed(lambda: None) == 0.01


def test_graph_timed_times_with_the_active_drivers_benchmarker(monkeypatch):
    """As Triton's tuner does by default: benchmarks/compile_offline.py's stand-in driver,
    which has no device interface, gives its own timing (a launch it only compiles)."""
    from triton.runtime import driver

    from harness.autotune import graph_timed

    class StandIn:
        def get_benchmarker(self):
            return lambda fn, quantiles=None, **kwargs: [1.0] * len(quantiles)

    # as driver.set_active does; monkeypatch restores it (reset_active makes a GPU driver)
    monkeypatch.setattr(driver, "_active", StandIn())
    assert graph_timed(lambda: None, quantiles=(0.5, 0.2, 0.8)) == [1.0, 1.0, 1.0]


def _noop(out_ptr, n, BLOCK: tl.constexpr):
    pass


def test_precompile_leaves_alone_what_would_not_compile_several_configs(monkeypatch):
    """Nothing is compiled ahead (0 configs submitted, no compile) for a tuner that times
    nothing (HARNESS_AUTOTUNE=first: only the first config compiles), a single config, a
    process with one thread to spare, an interpreted function, while Triton's
    JITFunction.run is replaced (harness.parity's counters and twins), or turned off
    (PRECOMPILE); with none of those, every config is submitted."""
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    from harness import autotune as tuning
    from harness.parity import counting_compiled

    submitted = []
    compiled = JITFunction(_noop)
    monkeypatch.setattr(compiled, "warmup", lambda *a, **k: submitted.append(k["BLOCK"]))
    monkeypatch.setattr(tuning, "compile_threads", lambda: 4)
    args, grid = (torch.empty(4), 4), (1,)
    tuner = lambda configs, fn=compiled, bench=tuning.graph_timed: triton.autotune(
        configs, key=["n"], do_bench=bench
    )(fn)
    assert tuning.precompile(tuner([SMALL, LARGE], bench=tuning.untimed), grid, args, {}) == 0
    assert tuning.precompile(tuner([SMALL]), grid, args, {}) == 0
    interpreted = tuner([SMALL, LARGE], fn=InterpretedFunction(_noop))
    assert tuning.precompile(interpreted, grid, args, {}) == 0
    with counting_compiled():
        assert tuning.precompile(tuner([SMALL, LARGE]), grid, args, {}) == 0
    monkeypatch.setattr(tuning, "PRECOMPILE", False)
    assert tuning.precompile(tuner([SMALL, LARGE]), grid, args, {}) == 0
    monkeypatch.setattr(tuning, "PRECOMPILE", True)
    monkeypatch.setattr(tuning, "compile_threads", lambda: 1)
    assert tuning.precompile(tuner([SMALL, LARGE]), grid, args, {}) == 0
    assert submitted == []
    monkeypatch.setattr(tuning, "compile_threads", lambda: 4)
    assert tuning.precompile(tuner([SMALL, LARGE]), grid, args, {}) == 2
    assert submitted == [16, 32]
