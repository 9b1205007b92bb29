"""The pytest plugin: options, mode set-up, report header, parametrization.

Only hooks live here; the work is done by `harness.modes`, `harness.runner` and
`harness.testing`. Registered through the `pytest11` entry point and by the repo's
conftest.py, under the same name so it is never loaded twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness import modes, profiles
from harness.op import Budget

STATE = pytest.StashKey["HarnessState"]()


@dataclass(frozen=True)
class HarnessState:
    mode: str
    budget: Budget
    profile: str


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
        "--triton-budget",
        type=float,
        default=1.0,
        help="scale the size of drawn cases (2 = twice the elements). Default: 1.0",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        mode = modes.activate(config.getoption("--triton-mode"))
    except modes.ModeError as exc:
        raise pytest.UsageError(str(exc)) from None
    budget_scale = config.getoption("--triton-budget")
    if not budget_scale > 0:
        raise pytest.UsageError(f"--triton-budget must be > 0, got {budget_scale}")
    # Hypothesis' own plugin has loaded --hypothesis-profile if given; else pick ours.
    chosen = config.getoption("--hypothesis-profile", default=None)
    profile = chosen or profiles.load()
    config.stash[STATE] = HarnessState(mode, Budget(mode, budget_scale), profile)
    config.addinivalue_line("markers", "gpu_only: needs a CUDA GPU (skipped in interpret mode)")


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    v = modes.versions()
    return [
        f"triton-harness: mode={state.mode} device={modes.device_name(state.mode)} "
        f"hypothesis-profile={state.profile} budget={state.budget.scale:g}",
        "triton-harness: " + " ".join(f"{k}={val}" for k, val in v.items()),
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[STATE].mode == "gpu":
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

    parametrize(metafunc, registry, metafunc.config.stash[STATE].mode)


@pytest.fixture
def harness_state(request: pytest.FixtureRequest) -> HarnessState:
    """The session's mode, case budget and hypothesis profile."""
    return request.config.stash[STATE]
