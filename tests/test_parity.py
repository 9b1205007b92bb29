"""Parity mode (harness.parity): interpreted twins of compiled kernels.

The twin mechanism needs kernels decorated as compiled (`JITFunction`s), which a process
in interpret mode does not have: on a CPU machine it is exercised in a subprocess
without TRITON_INTERPRET, where a twin runs on CPU tensors as any interpreted kernel
does. On a GPU machine the planted divergences of tests/parity_plants.py run through the
whole engine in parity mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from harness.op import Case
from tests import parity_plants

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TWIN_SCRIPT = textwrap.dedent(
    """
    import threading, torch, triton.language as tl
    from triton.runtime.jit import JITFunction
    from harness import bounds, parity
    from tests import outside_kernels, parity_plants as plants

    assert bounds.install()
    assert isinstance(plants._block_scan_kernel, JITFunction)  # decorated as compiled
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    rows = torch.randn(4, 100, generator=torch.Generator().manual_seed(1))
    assert not parity.in_interpreter()
    for _ in range(2):  # twice: what the first run rewrote must still run
        with parity.interpreted() as twins:
            assert parity.in_interpreter()
            before = twins.launches
            scan = plants.block_scan(x)  # one program per block, run one after another
            soft = outside_kernels.softmax(rows)  # tl.max, tl.sum: triton.language's jit
            launched = twins.launches - before
            elsewhere = []  # PyTorch runs a CUDA tensor's backward on a thread of its own
            thread = threading.Thread(target=lambda: elsewhere.append(parity.in_interpreter()))
            thread.start()
            thread.join()
    print("other_thread", elsewhere)
    print("launched", launched)
    print("scan", float((scan.double() - x.double().cumsum(0)).abs().max()))
    print("softmax", float((soft - torch.softmax(rows, -1)).abs().max()))
    print("restored", type(tl.sum).__name__, type(tl.tensor.sum).__name__,
          tl.core.is_builtin(tl.load), parity.in_interpreter())
    try:
        with parity.interpreted():
            plants.scale(x)
    except Exception as exc:
        print("unmasked", type(exc.__cause__).__name__, exc.__cause__)
    held = (plants._scale_kernel,)
    try:
        with parity.interpreted():
            held[0][(1,)](x, x.clone(), 10, BLOCK=256, MASKED=True)
    except parity.TwinEscaped as exc:
        print("escaped", exc)
    """
)


@pytest.fixture(scope="module")
def twin_run() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", TWIN_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def test_twins_run_compiled_kernels_in_the_interpreter(twin_run) -> None:
    assert twin_run["launched"] == "2"
    assert float(twin_run["scan"]) < 1e-4  # the racy scan is right when run in order
    assert float(twin_run["softmax"]) < 1e-6


def test_a_twin_knows_it_is_interpreted_on_every_thread(twin_run) -> None:
    """A kernel's launcher asks `in_interpreter()` whether to upcast 16-bit dot operands;
    asked on autograd's thread, a thread-local answer said no, and the twin of
    attention's bfloat16 backward computed garbage (H200, parity mode)."""
    assert twin_run["other_thread"] == "[True]"


def test_twins_leave_triton_language_as_it_was(twin_run) -> None:
    assert twin_run["restored"] == "JITFunction JITFunction True False"


def test_twins_are_bounds_checked(twin_run) -> None:
    assert twin_run["unmasked"].startswith("OutOfBounds _scale_kernel: a load of lane")
    assert "1 past its end" in twin_run["unmasked"]


def test_a_kernel_the_twin_cannot_reach_is_named_not_run_compiled(twin_run) -> None:
    assert (
        "compiled kernel _scale_kernel was launched inside the interpreted twin"
        in (twin_run["escaped"])
    )


@pytest.mark.gpu_only
@pytest.mark.parametrize("registry", ["PLANTED", "HONEST"])
def test_parity_mode_names_the_planted_divergences(registry: str) -> None:
    from harness import parity
    from harness.compare import run_case

    if parity.interpreter_problem():
        pytest.skip(parity.interpreter_problem())
    ops = getattr(parity_plants, registry)
    for name, op in ops.items():
        case = Case(name, "float32", (4000,), {}, seed=0)
        result = run_case(op, case, "parity", "cuda", ops.module)
        report = result.report()
        if registry == "HONEST":
            assert result.ok, report
            continue
        assert not result.ok and result.divergence, report
        compiled_fails = name == "block_scan"  # the race; the unmasked load: the twin
        assert result.kernel_ok != compiled_fails, report
        assert result.twin_ok == compiled_fails, report
