"""The README's outside-kernel example is a complete, passing test file; the docs the code
cites exist."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_outside_op_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- example: outside-op -->\n```python\n(.*?)```", readme, re.S)
    assert match, "README lost its outside-op example"
    code = match.group(1)
    assert len(code.splitlines()) <= 50
    (tmp_path / "test_relu.py").write_text(code)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--triton-mode=interpret"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # per dtype: the differential test and the tolerance test; and keeps_nothing; bad
    # inputs, configs, the part and the benchmarks' PyTorch call (none declared) skipped
    assert "7 passed, 4 skipped" in proc.stdout, proc.stdout

    # A bug planted in it fails, and the command the failure prints reproduces it, with
    # the registry where the README puts it: inside the test class.
    buggy = code.replace("tl.maximum(x, 0.0)", "tl.maximum(x, 0.5)")
    assert buggy != code
    (tmp_path / "test_relu.py").write_text(buggy)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--triton-mode=interpret",
         "-k", "differential and float32", "-p", "no:randomly"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    command = re.search(r"re-run this case: (python -m harness repro .*)", proc.stdout)
    assert command, proc.stdout
    assert "--ops test_relu " in command.group(1)
    argv = shlex.split(command.group(1))
    repro = subprocess.run(
        [sys.executable, *argv[1:]], cwd=tmp_path, capture_output=True, text=True,
        timeout=300, env=env,
    )  # fmt: skip
    assert repro.returncode == 1, repro.stdout + repro.stderr
    assert "FAILED" in repro.stdout and "relu" in repro.stdout


def _github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lowercased, spaces to '-', other
    punctuation but '-' and '_' dropped."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_measurement_the_code_cites_has_its_section():
    """The kernels cite their measurements in one line, `benchmarks/<file>.md#<anchor>`:
    each file and heading cited exists, so that a renamed section cannot orphan a
    citation."""
    cited = set()
    for path in [*ROOT.glob("kernels/*.py"), *ROOT.glob("benchmarks/*.py")]:
        for name, anchor in re.findall(r"benchmarks/(\w+\.md)#([\w\-]+)", path.read_text()):
            cited.add((path.name, name, anchor))
    assert len(cited) > 50  # the kernels cite their tuning files throughout
    missing = []
    for source, name, anchor in sorted(cited):
        doc = ROOT / "benchmarks" / name
        headings = re.findall(r"^#+ (.+)$", doc.read_text(), re.M) if doc.exists() else []
        if anchor not in {_github_anchor(h) for h in headings}:
            missing.append(f"{source} cites benchmarks/{name}#{anchor}")
    assert not missing, "\n".join(missing)
