"""Hypothesis profiles: how many cases each run draws.

  dev       the default locally: a quick look at every op and dtype.
  ci        loaded when `CI` is set (as Hypothesis itself does): derandomized, so a CI
            run is reproducible, with no example database and the reproduction blob.
  thorough  for a night run or before a release.

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

for _name, _kwargs in PROFILES.items():
    settings.register_profile(_name, **_kwargs)


def default_profile() -> str:
    return "ci" if os.environ.get("CI") else "dev"


def load(name: str | None = None) -> str:
    """Load `name` (or the default for this environment); returns the name loaded."""
    name = name or default_profile()
    settings.load_profile(name)
    return name
