"""The pytest plugin: options, mode set-up, report header, parametrization.

Only hooks live here; the work is done by `harness.modes`, `harness.runner` and
`harness.testing`. Registered through the `pytest11` entry point and by the repo's
conftest.py, under the same name so it is never loaded twice.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import crashes, memcheck, modes, placement, profiles, stack
from harness.op import Budget

STATE = pytest.StashKey["HarnessState"]()


@dataclass(frozen=True)
class HarnessState:
    mode: str
    budget: Budget
    profile: str
    previous_interpret: str | None = None
    crash_folder: Path | None = None
    """This session's folder for harness.crashes (None in an xdist worker)."""
    previous_crash_folder: str | None = None
    crashed_before: tuple[str, ...] = ()
    """Cases an earlier session was running when it died."""
    shards: int = 1
    """Each differential test's drawn cases, split over this many tests (--triton-shards)."""
    previous_autotune: str | None = None
    """HARNESS_AUTOTUNE before this session set it (put back at the end, as TRITON_INTERPRET)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("triton-harness", "Triton differential tests")
    group.addoption(
        "--triton-mode",
        choices=modes.MODE_CHOICES,
        default="auto",
        help="where kernels run: interpret (CPU, TRITON_INTERPRET=1), gpu (CUDA), or auto "
        "(gpu when CUDA is available). Default: auto",
    )
    group.addoption(
        "--memcheck",
        action="store_true",
        help="run the session under compute-sanitizer memcheck (gpu or parity mode; "
        "harness.memcheck): a test during which it finds an invalid access fails with the "
        "findings",
    )
    group.addoption(
        "--triton-workers-per-gpu",
        type=int,
        default=None,
        metavar="N",
        help="with xdist on GPUs: at most N workers per GPU (workers are placed one per GPU, "
        "round-robin past that; harness.placement). Default: no cap",
    )
    group.addoption(
        "--triton-shards",
        type=int,
        default=1,
        metavar="N",
        help="split each differential test's drawn cases over N tests (ids ...-shardKofN), "
        "which xdist runs side by side: a night run lasts as long as its slowest test, and "
        "one test is drawn serially. Pinned examples are dealt out among them too. Default: 1",
    )
    group.addoption(
        "--triton-autotune",
        choices=modes.AUTOTUNE_CHOICES,
        default="time",
        help="on a GPU, how an autotuned kernel picks its config for a new key: time (as "
        "triton.autotune: every config compiled and timed) or first (the first config "
        "its pruning keeps, untimed: one compile, not all; the config test still runs "
        "every config). Default: time",
    )
    group.addoption(
        "--triton-budget",
        type=float,
        default=1.0,
        help="scale the size of drawn cases (2 = twice the elements). Default: 1.0",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    previous = os.environ.get("TRITON_INTERPRET")
    # Read when a kernel is decorated, as TRITON_INTERPRET is: before the ops are imported.
    previous_autotune = os.environ.get(modes.AUTOTUNE_ENV)
    os.environ[modes.AUTOTUNE_ENV] = config.getoption("--triton-autotune")
    try:
        mode = modes.activate(config.getoption("--triton-mode"))
    except modes.ModeError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("--memcheck"):
        _memcheck(config, mode)
    _share_cores(config)
    if mode != "interpret":
        _place_on_a_gpu(config)
    budget_scale = config.getoption("--triton-budget")
    if not budget_scale > 0:
        raise pytest.UsageError(f"--triton-budget must be > 0, got {budget_scale}")
    shards = config.getoption("--triton-shards")
    if shards < 1:
        raise pytest.UsageError(f"--triton-shards must be >= 1, got {shards}")
    # Hypothesis' own plugin has loaded --hypothesis-profile if given; else pick ours.
    chosen = config.getoption("--hypothesis-profile", default=None)
    profile = profiles.load(chosen)  # (again, if hypothesis loaded it: our shrink budget)
    folder, previous_folder, left = None, os.environ.get(crashes.ENV), []
    if not hasattr(config, "workerinput"):  # xdist's workers use their controller's
        cache = getattr(config, "cache", None)
        base = cache.mkdir("triton-harness") if cache is not None else None
        folder, left = crashes.start_session(base)
    config.stash[STATE] = HarnessState(
        mode, Budget(mode, budget_scale), profile, previous, folder, previous_folder,
        tuple(left), shards, previous_autotune,
    )  # fmt: skip
    config.addinivalue_line("markers", "gpu_only: needs a CUDA GPU (skipped in interpret mode)")


def _share_cores(config: pytest.Config) -> None:
    """An xdist worker gets its share of the cores for PyTorch's CPU threads and for
    NumPy's BLAS: by default each of N workers would start one thread per core (15
    workers x 16 threads on the GPU machine's 16 cores), and the oracles' float64
    matmuls (matmul.grad's conditions took 27 s for the largest of 60 cases drawn at
    budget 16, on 2 cores), inputs and conversions contend for them. BLAS reads its
    thread count when NumPy imports it, before a worker could set it: the controller
    exports it to the workers it is about to start (unless the user set it)."""
    worker = getattr(config, "workerinput", None)
    if worker is None:
        workers = len(getattr(config.option, "tx", None) or ())  # xdist's, once resolved
        if workers > 0:  # the workers start after this hook
            placement.export_share_of_cores(workers)
        return
    import torch

    torch.set_num_threads(placement.cores_each(int(worker.get("workercount", 1))))


def _place_on_a_gpu(config: pytest.Config) -> None:
    """An xdist worker runs on its own GPU (harness.placement); the controller checks the
    cap before any worker starts, where it knows the worker count."""
    import torch

    per_gpu = config.getoption("--triton-workers-per-gpu")
    worker = getattr(config, "workerinput", None)
    if worker is None:
        workers = getattr(config.option, "numprocesses", None)
        if isinstance(workers, int) and workers > 0:
            try:
                placement.place(0, workers, torch.cuda.device_count(), per_gpu)
            except placement.PlacementError as exc:
                raise pytest.UsageError(str(exc)) from None
        return
    index = placement.place(
        placement.worker_index(worker.get("workerid")),
        int(worker.get("workercount", 1)),
        torch.cuda.device_count(),
        per_gpu,
    )
    if index is not None:
        torch.cuda.set_device(index)


MEMCHECK_LOG = pytest.StashKey["memcheck.ProcessLog"]()


def _memcheck(config: pytest.Config, mode: str) -> None:
    """Under the sanitizer: read this process's log after each test. Not yet: run this
    very command again under it (the process is replaced)."""
    if mode == "interpret":
        raise pytest.UsageError("--memcheck checks GPU kernels: use --triton-mode=gpu or parity")
    if memcheck.active():
        config.stash[MEMCHECK_LOG] = memcheck.ProcessLog(os.environ[memcheck.ENV])
        return
    args = list(config.invocation_params.args)
    if args != sys.argv[1:]:
        raise pytest.UsageError("--memcheck re-runs the command line: start pytest from a shell")
    try:
        command, env, logs = memcheck.wrap([sys.executable, "-m", "pytest", *args])
    except memcheck.MemcheckError as exc:
        raise pytest.UsageError(str(exc)) from None
    print(
        f"triton-harness: re-running under compute-sanitizer memcheck, logs in {logs}", flush=True
    )
    sys.stderr.flush()
    os.execvpe(command[0], command, env)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """The test function called with headroom on CPython's frame stack
    (`harness.stack`: in a pytest-xdist worker, Triton's interpreter could otherwise map
    and unmap a chunk of it each time its calls crossed a chunk's edge, 3x slower).
    Whoever calls the test function (pytest, or another plugin's hook) calls it through
    `with_headroom`; a coroutine or async generator is left as it is, for the plugin that
    runs it."""
    test = pyfuncitem.obj
    if inspect.iscoroutinefunction(test) or inspect.isasyncgenfunction(test):
        return (yield)

    @functools.wraps(test)
    def with_headroom(*args, **kwargs):
        return stack.with_headroom(test, *args, **kwargs)

    pyfuncitem.obj = with_headroom
    try:
        return (yield)
    finally:
        pyfuncitem.obj = test


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    log = item.config.stash.get(MEMCHECK_LOG, None)
    if log is None or call.when != "call":
        return report
    found = log.new_findings()
    if found:
        text = "\n\n".join(found)
        report.outcome = "failed"
        report.longrepr = f"{report.longrepr or ''}\n\ncompute-sanitizer memcheck:\n{text}"
        item.session.shouldstop = (
            f"memcheck found an invalid access in {item.nodeid}; CUDA's context is unusable "
            f"after it (log: {log.path})"
        )
    return report


def pytest_unconfigure(config: pytest.Config) -> None:
    # An in-process inner run (pytester) must not leave its mode to the outer one.
    state = config.stash.get(STATE, None)
    if state is not None:
        modes.restore(state.previous_interpret)
        if state.previous_autotune is None:
            os.environ.pop(modes.AUTOTUNE_ENV, None)
        else:
            os.environ[modes.AUTOTUNE_ENV] = state.previous_autotune
        if state.crash_folder is not None:
            crashes.end_session(state.crash_folder, state.previous_crash_folder)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    v = modes.versions()
    lines = [
        f"triton-harness: mode={state.mode} device={modes.device_name(state.mode)} "
        f"hypothesis-profile={state.profile} budget={state.budget.scale:g}",
        "triton-harness: " + " ".join(f"{k}={val}" for k, val in v.items()),
    ]
    if state.mode in ("interpret", "parity"):
        lines.append(f"triton-harness: interpreter: {modes.interpreter_aids()}")
    if state.mode != "interpret":
        import torch

        if torch.cuda.device_count() > 1:
            lines.append(
                f"triton-harness: {torch.cuda.device_count()} GPUs: xdist workers placed one "
                "per GPU, round-robin (harness.placement); a failure names its device"
            )
    for case in state.crashed_before:
        lines.append(f"triton-harness: an earlier run died while running {case}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[STATE].mode != "interpret":
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (running in interpret mode)")
    for item in items:
        if "gpu_only" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    registry = getattr(metafunc.cls, "ops", None)
    if registry is None or "op" not in metafunc.fixturenames:
        return
    from harness.testing import parametrize

    state = metafunc.config.stash[STATE]
    parametrize(metafunc, registry, state.mode, state.shards)


@pytest.fixture
def harness_state(request: pytest.FixtureRequest) -> HarnessState:
    """The session's mode, case budget and hypothesis profile."""
    return request.config.stash[STATE]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Said at the end too, where -q shows it: a case an earlier session died running,
    and each sticky CUDA error's count of tests it left unrun."""
    state = config.stash.get(STATE, None)
    for case in state.crashed_before if state else ():
        terminalreporter.write_line(f"triton-harness: an earlier run died while running {case}")
    failed = terminalreporter.stats.get("failed", [])
    for line in crashes.refusals(getattr(report, "longreprtext", "") for report in failed):
        terminalreporter.write_line(f"triton-harness: {line}")


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched) -> None:
    """An xdist worker died (a segfault in the interpreter, say): name the case it was
    running, and how to run it again, in the test's report."""
    worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", None)
    case = crashes.last_case(worker) if worker else None
    if case:
        report.longrepr = f"{report.longrepr}\nit was running the case {case}"


# pytest-benchmark hooks (harness.perf.pytest_bench has the benchmarks). `optionalhook` keeps
# the plugin loadable when pytest-benchmark is not installed.


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record the GPU model, driver, CUDA, torch and Triton with the saved benchmarks."""
    from harness.perf.machine import benchmark_machine_info

    machine_info.update(benchmark_machine_info())


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_compare_machine_info(
    config: pytest.Config, benchmarksession, machine_info: dict, compared_benchmark: dict
) -> None:
    """Never compare against another GPU model's numbers: say so, and compare nothing.

    pytest-benchmark (5.2, 5.3) reads `compared_benchmark["benchmarks"]` after this hook,
    so emptying it skips the comparison and any --benchmark-compare-fail check on it.
    """
    from harness.perf.machine import gpu_mismatch

    reason = gpu_mismatch(machine_info, compared_benchmark.get("machine_info") or {})
    if reason:
        benchmarksession.logger.info(f"triton-harness: {reason}", red=True)
        benchmarksession.logger.warning(reason)
        compared_benchmark["benchmarks"] = []


if importlib.util.find_spec("pytest_benchmark") is None:

    @pytest.fixture
    def benchmark() -> None:
        """Stands in for pytest-benchmark's fixture when it is not installed."""
        pytest.skip("pytest-benchmark is not installed (pip install pytest-benchmark)")
