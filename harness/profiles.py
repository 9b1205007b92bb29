"""Hypothesis profiles: how many cases each run draws.

  dev       the default locally: a quick look at every op and dtype.
  ci        loaded when `CI` is set (as Hypothesis itself does): derandomized, so a CI
            run is reproducible, with no example database and the reproduction blob.
  thorough  for a night run or before a release.

Shrinking is what makes a failure readable, and what makes it slow: on the interpreter
a LayerNorm backward failure once took 4 minutes to shrink. dev and ci give it a budget
of SHRINK_SECONDS, so a failure is reported within about a minute (the best case found
by then; HARNESS_FAILURE_LOG has the first one at once); thorough shrinks for as long as
Hypothesis does by default (5 minutes). The budget is Hypothesis' own
`MAX_SHRINKING_SECONDS`, a module constant of its engine (not public API; left alone if
a version lacks it).

Every profile has `deadline=None`: the first call of a shape compiles (or interprets) a
kernel, which Hypothesis would otherwise report as flaky timing.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROFILES: dict[str, dict] = {
    "dev": dict(max_examples=10, **_COMMON),
    "ci": dict(max_examples=15, derandomize=True, database=None, print_blob=True, **_COMMON),
    "thorough": dict(max_examples=200, **_COMMON),
}

SHRINK_SECONDS: dict[str, float] = {"dev": 60.0, "ci": 60.0}
"""Seconds of shrinking per failure, per profile (others: Hypothesis' default)."""

for _name, _kwargs in PROFILES.items():
    settings.register_profile(_name, **_kwargs)

try:
    from hypothesis.internal.conjecture import engine as _engine

    _DEFAULT_SHRINK_SECONDS = _engine.MAX_SHRINKING_SECONDS
except (ImportError, AttributeError):  # another Hypothesis: no budget, shrinking as it does
    _engine = None


def default_profile() -> str:
    return "ci" if os.environ.get("CI") else "dev"


def load(name: str | None = None) -> str:
    """Load `name` (or the default for this environment); returns the name loaded."""
    name = name or default_profile()
    settings.load_profile(name)
    if _engine is not None:
        _engine.MAX_SHRINKING_SECONDS = SHRINK_SECONDS.get(name, _DEFAULT_SHRINK_SECONDS)
    return name
