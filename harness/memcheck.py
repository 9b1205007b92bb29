"""GPU memcheck: the suite, or one case, under NVIDIA compute-sanitizer's memcheck tool.

An out-of-bounds load whose lanes are never stored leaves every output right: on the GPU
nothing but a memory checker sees it. `pytest --triton-mode=gpu --memcheck` (or
`python -m harness repro --memcheck ...`) runs the same command again under

    compute-sanitizer --tool memcheck --target-processes all --log-file DIR/memcheck.%p.log

with PyTorch's caching allocator off (PYTORCH_NO_CUDA_MEMORY_CACHING=1: inside one cached
block an access past a tensor's end lands in memory the allocator owns, and memcheck
cannot tell). Each process (xdist workers included) writes its own log; after every test
the plugin reads what its process's log gained, and a test during which memcheck found
an invalid access fails with the findings attached (the kernel, the access, the
source line), whatever its outputs. After such a finding CUDA's context is unusable, so
the session stops there.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

ENV = "HARNESS_MEMCHECK_LOGS"
"""Set (to the logs' folder) in a process running under compute-sanitizer."""

FINDING = re.compile(r"Invalid|Misaligned|out of bounds|Out-of-range|Uninitialized", re.I)
"""The first line of a report block that is an access error (not an API return code)."""


class MemcheckError(RuntimeError):
    """compute-sanitizer cannot be run here."""


def sanitizer() -> str:
    """The compute-sanitizer executable: on PATH, in $CUDA_HOME/bin or /usr/local/cuda."""
    found = shutil.which("compute-sanitizer")
    for folder in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if found is None and folder:
            candidate = Path(folder) / "bin" / "compute-sanitizer"
            found = str(candidate) if candidate.exists() else None
    if found is None:
        raise MemcheckError(
            "--memcheck needs NVIDIA's compute-sanitizer (CUDA toolkit) on PATH, in "
            "$CUDA_HOME/bin or /usr/local/cuda/bin; none found"
        )
    return found


def active() -> bool:
    return ENV in os.environ


def wrap(argv: list[str], logs: Path | None = None) -> tuple[list[str], dict[str, str], Path]:
    """`argv` run under memcheck: (command, environment, folder of the logs)."""
    logs = logs or Path(tempfile.mkdtemp(prefix="harness-memcheck-"))
    command = [
        sanitizer(),
        "--tool",
        "memcheck",
        "--target-processes",
        "all",
        "--log-file",
        str(logs / "memcheck.%p.log"),
        "--print-limit",
        "20",
        *argv,
    ]
    env = {**os.environ, ENV: str(logs), "PYTORCH_NO_CUDA_MEMORY_CACHING": "1"}
    return command, env, logs


def findings(text: str) -> list[str]:
    """The access errors in a stretch of memcheck's log, one block each. Its lines start
    with "=========": a message flush after it, its details indented, a bare one between
    reports."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("========="):
            continue
        rest = line.removeprefix("=========")
        if not rest.strip():
            blocks.append([])
        elif rest.startswith("  ") and blocks:
            blocks[-1].append(rest.strip())
        else:
            blocks.append([rest.strip()])
    return ["\n".join(b) for b in blocks if b and FINDING.search(b[0])]


class ProcessLog:
    """This process's memcheck log, read from where the last call left off."""

    def __init__(self, logs: str | Path) -> None:
        self.path = Path(logs) / f"memcheck.{os.getpid()}.log"
        self.offset = 0

    def new_findings(self) -> list[str]:
        try:
            with open(self.path, errors="replace") as log:
                log.seek(self.offset)
                text = log.read()
                self.offset = log.tell()
        except FileNotFoundError:
            return []
        return findings(text)
