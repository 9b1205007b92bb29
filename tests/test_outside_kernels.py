"""Kernels from outside, registered as a user would (tests/outside_ops.py): the glue is
short, the honest kernels pass the whole suite, and each planted bug fails with a
printed command that reproduces it."""

from __future__ import annotations

import inspect
import re
import shlex

import pytest

from harness import Budget, profiles
from harness.cli import main as harness_main
from harness.runner import CaseFailure, check_op
from harness.testing import OpTests
from tests.outside_ops import GLUE, OUTSIDE, PLANTED

GLUE_LINES = 30


def _code_lines(fn) -> int:
    """Lines of code: no blank lines, comments or docstrings."""
    lines, in_docstring = 0, False
    for line in inspect.getsource(fn).splitlines():
        text = line.strip()
        if text.startswith(('"""', "'''")):
            in_docstring = not (in_docstring or text.count('"""') == 2)
            continue
        if in_docstring or not text or text.startswith("#"):
            continue
        lines += 1
    return lines


@pytest.mark.parametrize("glue", GLUE, ids=lambda glue: glue.__name__)
def test_the_glue_of_an_outside_kernel_is_short(glue):
    assert _code_lines(glue) <= GLUE_LINES


class TestOutside(OpTests):
    ops = OUTSIDE


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_planted_bug_fails_and_its_printed_command_reproduces_it(name, harness_state, capsys):
    profiles.load(harness_state.profile)
    with pytest.raises(CaseFailure) as failure:
        check_op(PLANTED[name], "float32", harness_state.mode, PLANTED.module,
                 Budget(harness_state.mode), max_examples=5)  # fmt: skip
    command = re.search(r"re-run this case: (python -m harness repro .*)", str(failure.value))
    assert command, str(failure.value)
    argv = shlex.split(command.group(1))
    assert argv[:5] == ["python", "-m", "harness", "repro", "--ops"]
    assert argv[5] == "tests.outside_ops:PLANTED"
    capsys.readouterr()
    assert harness_main(argv[3:]) == 1
    assert f"FAILED {name}[float32]" in capsys.readouterr().out
