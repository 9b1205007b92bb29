"""A crash that names its case.

A kernel that stores out of bounds in Triton's interpreter writes to wild host memory:
the process dies on a segfault or a glibc abort, with no exception, no case and no
reproducer. So before each case runs, the case and its reproducer are written to a small
file (one per process: `running/<worker>.case` in the session's folder), and removed when
the session ends normally. Then:

  * under xdist, the controller outlives a worker that dies: the plugin's
    `pytest_handlecrashitem` adds the file's text to the crash report of the test;
  * without xdist, the file outlives the process: the next session in the same folder
    reports it in its header ("an earlier run died while running ...") and removes it.

A CUDA error can also leave the process alive with its CUDA context unusable (a
"sticky" error: a misaligned address, an illegal memory access, a device-side assert):
every later CUDA call raises the same error, so every later case would crash, and
hypothesis would shrink the crash down to the smallest case, the wrong one to debug.
`after_cuda_crash` probes the context after a case crashes on a GPU; if it is unusable
it raises `PoisonedContext` naming the case, which hypothesis does not shrink
(a BaseException), and every later case in the process is refused at once, naming it.

The folder is pytest's cache folder when there is one (`.pytest_cache/d/triton-harness`),
else one under the system's temporary folder; `HARNESS_CASE_DIR` carries it to the
workers (set before xdist starts them).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENV = "HARNESS_CASE_DIR"


def worker_name() -> str:
    """This process's name in the session: the xdist worker id, or "main"."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def start_session(base: Path | None) -> tuple[Path, list[str]]:
    """Make this session's folder under `base` (or a temporary one), export it to the
    workers, and collect (and remove) what earlier sessions that died left behind.
    (An xdist worker does not start one: it uses its controller's.)"""
    base = Path(base) if base else Path(tempfile.gettempdir()) / "triton-harness"
    root = base / "running"
    left = []
    if root.is_dir():
        for session in root.iterdir():
            if session.is_dir() and not _alive(session.name.split("-")[0]):
                left += [f.read_text().strip() for f in sorted(session.glob("*.case"))]
                shutil.rmtree(session, ignore_errors=True)
    folder = root / str(os.getpid())
    if os.environ.get(ENV):  # a session inside this process's (an in-process pytest run):
        # a folder of its own, or its end would remove the outer session's
        folder = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(folder)
    return folder, [text for text in left if text]


def end_session(folder: Path, previous: str | None) -> None:
    """Remove the session's folder; give `ENV` back its value from before the session
    (an in-process inner session must not leave the outer one without its folder)."""
    shutil.rmtree(folder, ignore_errors=True)
    if previous is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = previous


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def running(text: str) -> None:
    """Record what this process is about to run (no-op outside a harness session)."""
    folder = os.environ.get(ENV)
    if folder:
        Path(folder, f"{worker_name()}.case").write_text(text + "\n")


def last_case(worker: str) -> str | None:
    """What `worker` recorded last in this session, if anything."""
    folder = os.environ.get(ENV)
    path = Path(folder, f"{worker}.case") if folder else None
    if path is None or not path.exists():
        return None
    return path.read_text().strip() or None


class PoisonedContext(BaseException):
    """This process's CUDA context is unusable after a sticky error. A BaseException, so
    that hypothesis stops instead of shrinking (pytest still reports a failed test)."""


_poisoned_by: str | None = None


def refuse_if_poisoned() -> None:
    """Raise PoisonedContext if an earlier case left this process's CUDA context unusable."""
    if _poisoned_by is not None:
        raise PoisonedContext(
            f"not run: the CUDA context of this process ({worker_name()}) has been unusable "
            f"since a sticky CUDA error while running {_poisoned_by}\nDebug that case; "
            "this one may pass in a fresh process."
        )


_REFUSAL = re.compile(
    r"not run: the CUDA context of this process \((?P<worker>[^)]*)\) has been unusable "
    r"since a sticky CUDA error while running (?P<case>[^\n]+)"
)


def refusals(reports: Iterable[str]) -> list[str]:
    """One line per poisoned process, from the failed tests' report texts: how many tests
    `refuse_if_poisoned` did not run there, and the case to fix first. (Measured on the
    H200: one faulting case in a worker turned 63 later tests of that worker red.)"""
    tally = Counter(
        (match["worker"], match["case"]) for text in reports if (match := _REFUSAL.search(text))
    )
    return [
        f"{count} test(s) in {worker} not run after a sticky CUDA error while running "
        f"{case}: fix that case first (the others may pass in a fresh process)"
        for (worker, case), count in tally.items()
    ]


def after_cuda_crash(device: Any, case_text: str, exc: BaseException) -> None:
    """After `exc` ended the case `case_text` on a CUDA device: if the context no longer
    runs a trivial kernel, remember the case and raise PoisonedContext from `exc`."""
    global _poisoned_by
    import torch

    try:
        torch.cuda.synchronize(device)
        torch.ones(1, device=device).add_(1).item()
        return
    except Exception:  # the probe itself failed: the error is sticky
        pass
    _poisoned_by = case_text
    raise PoisonedContext(
        f"a sticky CUDA error ({_first_line(exc)}) while running {case_text}\nThe CUDA "
        f"context of this process ({worker_name()}) is unusable: its later cases are not "
        "run. (CUDA reports errors asynchronously; --memcheck names the access.)"
    ) from exc


def poisoned() -> bool:
    return _poisoned_by is not None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
