"""The harness itself: it must catch real bugs, report them usefully, and reproduce them."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shlex
import subprocess
import sys

import pytest
import torch

from harness import Case, ErrorModel, OutputModel, Override, Registry
from harness.compare import run_case
from harness.dtypes import UNIT_ROUNDOFF
from harness.modes import device_for
from harness.runner import CaseFailure, check_case
from harness.tensors import make_tensor, poisoned_allocations
from harness.testing import OpTests
from harness.tolerance import LAMBDA
from ops.vector_add import VECTOR_ADD
from tests.buggy_ops import BUGGY, wrong_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(name: str, shape, params=None, dtype="float32", mode="interpret"):
    op = BUGGY[name]
    case = Case(name, dtype, tuple(shape), params or {}, seed=1)
    return run_case(op, case, mode, device_for(mode), BUGGY.module)


@pytest.fixture
def mode(harness_state) -> str:
    return harness_state.mode


def test_off_by_one_mask_is_caught_and_reported(mode):
    n = 1000
    with pytest.raises(CaseFailure) as failure:
        check_case(
            BUGGY["off_by_one"], Case("off_by_one", "float32", (n,), {}, 3), mode, BUGGY.module
        )
    report = str(failure.value)
    assert "FAILED off_by_one[float32] shape=(1000,)" in report
    assert "NaN where the oracle is finite" in report
    assert f"worst element ({n - 1},)" in report  # the one element never written
    assert "1 of 1000 elements" in report
    assert re.search(r"re-run this case: python -m harness repro --ops tests.buggy_ops", report)
    if mode != "interpret":  # on a GPU the failure names the device (workers spread over GPUs)
        assert re.search(r"mode=\w+ device=cuda:\d+ \(", report)


def test_a_torch_bench_that_computes_another_function_fails(harness_state):
    """The benchmarks' PyTorch call is checked to compute the op: one that computes x - y
    for vector_add fails `test_torch_bench`, the op's own torch_ref passes it."""
    if harness_state.mode == "parity":
        pytest.skip("test_torch_bench skips parity mode")

    class Tests(OpTests):
        ops = BUGGY

    wrong = dataclasses.replace(VECTOR_ADD, torch_bench=wrong_reference)
    with pytest.raises(AssertionError, match="vector_add's torch_bench"):
        Tests().test_torch_bench(wrong, harness_state)
    right = dataclasses.replace(VECTOR_ADD, torch_bench=VECTOR_ADD.torch_ref)
    Tests().test_torch_bench(right, harness_state)


def test_printed_reproducer_reruns_the_same_failure(mode):
    result = _run("off_by_one", (257,), mode=mode)
    assert not result.ok
    command = result.reproducer()
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "harness"]
    proc = subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert proc.returncode == 1, proc.stderr
    assert result.report() == proc.stdout.strip()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["check", "nope"], r"^error: no op named 'nope'; registered: off_by_one, "),
        (["check", "--ops", "tests.no_such_module"],
         r"^error: no module named 'tests.no_such_module': the ops come from"),
        (["repro", "{}"], r'^error: a case is the JSON a failure prints, \{"op": .*: no \'op\'$'),
        (["repro", "not json"], r"^error: a case is the JSON a failure prints, .*: Expecting"),
        (["repro", '{"op": "nope", "dtype": "float32", "shape": [2]}'],
         r"^error: no op named 'nope'"),
        (["repro", '{"op": "off_by_one", "dtype": "float32", "shape": [2, -3]}'],
         r"^error: a case is .*: shape as a list of sizes >= 0, got \[2, -3\]$"),
        (["repro", '{"op": "off_by_one", "dtype": "float64", "shape": [2]}'],
         r"^error: a case is .*: dtype one of float32, float16, bfloat16, got 'float64'$"),
    ],
)  # fmt: skip
def test_the_command_refuses_what_it_cannot_run_and_says_why(argv, says, harness_state, capsys):
    """An unknown op, a module that is not there, a case that is not a failure's JSON: one
    line naming the problem, exit status 2 (a usage error; 1 is a failed check), no
    traceback."""
    from harness.cli import main

    argv = [*argv, "--mode", harness_state.mode]
    if "--ops" not in argv:
        argv += ["--ops", "tests.buggy_ops"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert re.search(says, err) and err.count("\n") == 1, err


@pytest.mark.parametrize("option", ["--budget", "--examples"])
def test_budget_and_examples_must_be_positive(option, capsys):
    from harness.cli import main

    for value in ("0", "-3"):
        with pytest.raises(SystemExit) as stop:
            main(["check", "off_by_one", "--ops", "tests.buggy_ops", option, value])
        assert stop.value.code == 2  # argparse's usage error
        assert f"argument {option}: must be > 0, got {value}" in capsys.readouterr().err


def test_kernel_ignoring_strides_reads_poisoned_gaps(mode):
    assert _run("ignores_strides", (300,), {"layout": "contiguous"}, mode=mode).ok
    result = _run("ignores_strides", (300,), {"layout": "strided"}, mode=mode)
    assert not result.ok
    assert not result.worst("kernel").ok


def test_modified_inputs_are_caught(mode):
    result = _run("in_place", (64,), mode=mode)
    assert any("modified its inputs: args[0][0]" in p for v in result.verdicts for p in v.problems)


def test_wrong_reference_is_caught_not_trusted(mode, harness_state):
    """A drawn case only warns (PyTorch may round differently); the pinned examples of the
    tolerance test fail."""
    from harness.testing import OpTests

    result = _run("wrong_reference", (64,), mode=mode)
    assert not all(v.ok for v in result.verdict("torch"))
    assert all(v.ok for v in result.verdict("kernel"))
    assert result.warnings and "the PyTorch tier misses the bound" in result.warnings[0]

    class Suite(OpTests):
        ops = BUGGY

    with pytest.raises(AssertionError, match="PyTorch tier misses the bound on a pinned"):
        Suite().test_tolerance_policy(BUGGY["wrong_reference"], "float32", harness_state)


def test_nan_and_inf_must_match_the_oracle(mode):
    result = _run("flushes_specials", (40, 50), {"specials": True}, mode=mode)
    problems = [p for v in result.verdict("kernel") for p in v.problems]
    assert any("NaN/Inf pattern differs" in p for p in problems)


def test_case_json_round_trip():
    case = Case("softmax", "bfloat16", (3, 1025), {"layout": "strided", "eps": 1e-5}, 42)
    assert Case.from_json(case.to_json()) == case
    assert json.loads(case.to_json())["shape"] == [3, 1025]


def test_bound_terms_follow_the_error_model():
    case = Case("x", "float16", (1024,), {}, 0)
    flat = ErrorModel()
    (bound,) = flat.bounds(case, "gpu", "kernel", ["float16"])
    # one final rounding relative to |o|, one float32 step relative to the condition
    assert bound.relative == UNIT_ROUNDOFF["float16"]
    assert bound.conditioned == UNIT_ROUNDOFF["float32"]
    # the interpreter truncates float32 -> bfloat16: two units, for the kernel only
    (kernel,) = flat.bounds(case, "interpret", "kernel", ["bfloat16"])
    (reference,) = flat.bounds(case, "interpret", "torch", ["bfloat16"])
    assert kernel.relative == 2 * reference.relative == 2 * UNIT_ROUNDOFF["bfloat16"]
    # a reduction: the kernel's declared lanes give depth ceil(n / lanes) - 1 + log2(lanes);
    # PyTorch's unknown order depth n - 1, with the probabilistic growth LAMBDA sqrt(depth)
    reduce = ErrorModel(
        outputs=[OutputModel("s", terms=lambda c: 1024, lanes=lambda c, m: 128, steps=0.0)],
        overrides={"float16": Override(2.0, "why")},
    )
    (k,) = reduce.bounds(dataclasses.replace(case, dtype="float32"), "gpu", "kernel", ["float32"])
    (t,) = reduce.bounds(dataclasses.replace(case, dtype="float32"), "gpu", "torch", ["float32"])
    assert (k.depth, k.growth) == (7 + 7, 14.0)
    assert t.depth == 1023 and t.growth == pytest.approx(LAMBDA * math.sqrt(1023))
    # an override widens only its dtype
    (widened,) = reduce.bounds(case, "gpu", "kernel", ["float16"])
    assert widened.relative == 2 * UNIT_ROUNDOFF["float16"]


def test_a_loose_bound_fails_the_tightness_test_in_16_bit(harness_state):
    """The old bound, rtol x condition with rtol counting the output's rounding, is tens
    of ulps loose for a 16-bit row sum: the tightness test must say so in float16 and
    bfloat16 (float32 sums are loose by nature: see TIGHTNESS)."""
    from harness.testing import OpTests
    from ops.add_row_sum import ADD_ROW_SUM

    old_style = OutputModel(
        "out",
        condition=ADD_ROW_SUM.error_model.outputs[0].condition,
        steps=2.0,  # 2 u(out dtype) x condition, as the old policy allowed
        accumulate=lambda case, mode: case.dtype,
    )
    loose = dataclasses.replace(ADD_ROW_SUM, error_model=ErrorModel(outputs=[old_style]))

    class Loose(OpTests):
        ops = Registry([loose], module=__name__)

    for dtype in ("float16", "bfloat16"):
        with pytest.raises(AssertionError, match=r"the model is loose|a mean kernel passed"):
            Loose().test_tolerance_policy(loose, dtype, harness_state)


def test_poisoned_allocations_fill_and_restore():
    before = torch.are_deterministic_algorithms_enabled()
    with poisoned_allocations():
        assert torch.isnan(torch.empty(16)).all()
        assert (torch.empty(4, dtype=torch.int32) == torch.iinfo(torch.int32).max).all()
    assert torch.are_deterministic_algorithms_enabled() == before


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_make_tensor_layouts_share_values_and_shape(layout):
    t = make_tensor((3, 5), "float16", "cpu", torch.Generator().manual_seed(0), layout=layout)
    assert t.shape == (3, 5) and t.dtype == torch.float16
    assert torch.isfinite(t).all()
    assert t.is_contiguous() == (layout == "contiguous")


def _pytest(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


LIMITED_OP = """
import dataclasses
from harness import Limitation, Registry
from harness.testing import OpTests
from ops.vector_add import VECTOR_ADD
from references.vector_add import vector_add_torch

def {kernel}(x, y):
    out = vector_add_torch(x, y)
    return {result}

class TestLimited(OpTests):
    ops = Registry([dataclasses.replace(VECTOR_ADD, name="limited", kernel={kernel},
        limitations=(Limitation("interpret", ("bfloat16",), "demo limitation"),
                     Limitation("gpu", ("bfloat16",), "demo limitation")))], module=__name__)
"""


def test_declared_limitation_is_a_strict_xfail(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    (tmp_path / "test_broken.py").write_text(
        LIMITED_OP.format(
            kernel="broken", result="out * 2 if out.dtype == torch.bfloat16 else out"
        ).replace("import dataclasses", "import dataclasses\nimport torch")
    )
    (tmp_path / "test_fixed.py").write_text(LIMITED_OP.format(kernel="fixed", result="out"))
    proc = _pytest(tmp_path, "-k", "differential", "--triton-mode=interpret")
    out = proc.stdout
    # broken: bf16 really fails -> xfailed; fixed: bf16 passes -> strict XPASS fails the run
    assert (
        re.search(r"test_broken.py::TestLimited::test_differential\[limited-bfloat16\] XFAIL", out)
        or "1 xfailed" in out
    ), out
    assert "test_fixed.py::TestLimited::test_differential[limited-bfloat16]" in out, out
    assert "[XPASS(strict)] demo limitation" in out, out
    assert proc.returncode == 1


def test_gpu_mode_without_a_gpu_is_a_clear_usage_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    (tmp_path / "test_nothing.py").write_text("def test_x():\n    pass\n")
    proc = _pytest(tmp_path, "--triton-mode=gpu")
    assert proc.returncode == 4
    assert "--triton-mode=gpu needs an NVIDIA GPU" in proc.stderr


def test_the_interpreter_still_flushes_subnormal_bfloat16(harness_state):
    """Why `tiny` bfloat16 inputs are not drawn in interpret mode (harness.modes): Triton's
    interpreter loads a subnormal bfloat16 as 0. When this fails, the interpreter got it
    right: drop the exclusion in UNFAITHFUL_PROFILES."""
    if harness_state.mode != "interpret":
        pytest.skip("about Triton's interpreter")
    import triton
    import triton.language as tl

    from harness.modes import UNFAITHFUL_PROFILES

    @triton.jit
    def upcast(x_ptr, y_ptr, N: tl.constexpr):
        offsets = tl.arange(0, N)
        tl.store(y_ptr + offsets, tl.load(x_ptr + offsets).to(tl.float32))

    x = torch.tensor([1.5e-39, 1e-40, 5e-38, 1.0]).to(torch.bfloat16)  # two subnormal
    y = torch.empty(4)
    upcast[(1,)](x, y, N=4)
    assert y[2:].tolist() == x[2:].float().tolist()  # normal values are right
    assert y[:2].tolist() == [0.0, 0.0] != x[:2].float().tolist()
    assert "tiny" in UNFAITHFUL_PROFILES[("interpret", "bfloat16")]


def test_shrinking_has_a_budget_in_dev_and_ci_and_not_in_thorough(harness_state):
    from hypothesis.internal.conjecture import engine

    from harness import profiles

    try:
        for name, seconds in (("dev", 60.0), ("ci", 60.0), ("thorough", 300)):
            profiles.load(name)
            assert engine.MAX_SHRINKING_SECONDS == seconds
    finally:
        profiles.load(harness_state.profile)


def _verdicts_chunked(monkeypatch, chunk: int, out, ref, cond):
    from harness import compare
    from harness.tolerance import Bound

    bound = Bound("y", "kernel", "float16", 1, 4, "float32", 0)
    monkeypatch.setattr(compare, "JUDGE_CHUNK", chunk)
    v = compare._judge("kernel", 0, out, ref, cond, bound, None)
    return (v.problems, v.n_bad, v.n_pattern, v.max_abs, v.max_rel, v.max_err, v.worst_index)


def test_judging_in_chunks_sees_what_judging_at_once_sees(monkeypatch):
    """The judge works JUDGE_CHUNK elements at a time (GPU memory): same verdict, same
    worst element, same first NaN, whatever the chunk."""
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(5, 37, generator=gen, dtype=torch.float64)
    out = ref.to(torch.float16).clone()
    out[1, 3] += 0.5  # out of tolerance
    out[3, 30] += 1.0  # the worst
    out[4, 2] = float("nan")  # a NaN where the oracle is finite
    out[4, 9] = float("nan")
    cond = ref.abs().numpy()
    whole = _verdicts_chunked(monkeypatch, 1 << 23, out, ref.numpy(), cond)
    assert whole[1] == 4 and whole[2] == 2 and whole[6] == (4, 2)
    for chunk in (1, 7, 37, 64):
        assert _verdicts_chunked(monkeypatch, chunk, out, ref.numpy(), cond) == whole
    out[4, 2], out[4, 9] = ref[4, 2].half(), ref[4, 9].half()
    finite = _verdicts_chunked(monkeypatch, 1 << 23, out, ref.numpy(), cond)
    assert finite[1] == 2 and finite[6] in ((1, 3), (3, 30))
    assert _verdicts_chunked(monkeypatch, 10, out, ref.numpy(), cond) == finite
    constant = torch.full_like(out, 0.25)
    whole = _verdicts_chunked(monkeypatch, 1 << 23, constant, ref.numpy(), cond)
    assert any("constant" in p for p in whole[0])
    assert _verdicts_chunked(monkeypatch, 9, constant, ref.numpy(), cond) == whole


@pytest.mark.parametrize("derandomize", [False, True])
def test_shards_split_the_drawn_cases_and_the_pinned_examples(
    monkeypatch, harness_state, derandomize
):
    """--triton-shards: part k of n draws ceil(max_examples / n) cases of its own (also
    where the profile is derandomized, as CI's is), and runs every n-th pinned example from
    the k-th: each pinned example once in all."""
    from hypothesis import settings

    from harness import profiles, runner
    from harness.op import Budget, load_registry

    op = load_registry("ops")["vector_add"]
    seen: dict[int, list] = {0: [], 1: []}
    shard = [0]

    def record(op, case, *args):
        seen[shard[0]].append(case)
        return run_case(op, case, *args)

    monkeypatch.setattr(runner, "run_case", record)
    settings.register_profile(
        "shard-test", settings.default, max_examples=6, derandomize=derandomize, database=None
    )
    settings.load_profile("shard-test")
    try:
        for k in (0, 1):
            shard[0] = k
            runner.check_op(
                op, "float32", harness_state.mode, "ops", Budget(harness_state.mode, 1 / 16),
                shard=(k, 2),
            )  # fmt: skip
    finally:
        profiles.load(harness_state.profile)
    pinned = [
        Case("vector_add", "float32", tuple(shape), dict(params)) for shape, params in op.examples
    ]
    assert len(pinned) >= 2
    mine = [pinned[0::2], pinned[1::2]]
    for k in (0, 1):
        assert seen[k][: len(mine[k])] == mine[k]
    drawn = [seen[k][len(mine[k]) :] for k in (0, 1)]
    assert all(0 < len(cases) <= 3 for cases in drawn), drawn
    assert not any(case in pinned for cases in drawn for case in cases)
    assert drawn[0] != drawn[1]


def test_xdist_workers_get_their_share_of_blas_threads(tmp_path):
    """NumPy's BLAS reads its thread count once, when it loads: the controller exports
    each worker's share of the cores before it starts them."""
    from harness.placement import BLAS_THREADS

    (tmp_path / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    (tmp_path / "test_env.py").write_text(
        "import os\n"
        "def test_env():\n"
        f"    assert os.environ['OPENBLAS_NUM_THREADS'] == '{max(1, (os.cpu_count() or 1) // 2)}'\n"
        "    assert 'PYTEST_XDIST_WORKER' in os.environ\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREADS}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2",
         "--triton-mode=interpret"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**env, "PYTHONPATH": ROOT},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_config_excluded_for_a_dtype_is_skipped_with_its_reason():
    """`Configs.excluded` declares a config that never runs on a dtype: the config axis
    skips that pair, saying why, and runs every other pair as the op's marks say."""
    import contextlib
    import types

    from harness.op import Configs
    from harness.testing import _config_marks

    configs = Configs(
        ("f/big/gpu", "f/small/gpu"),
        lambda name: contextlib.nullcontext(),
        lambda: contextlib.nullcontext([]),
        lambda name, dtype: "too big" if name == "f/big/gpu" and dtype == "float32" else None,
    )
    op = types.SimpleNamespace(
        name="f", configs=configs, supports=lambda mode, dtype: True,
        limitation=lambda mode, dtype: None,
    )  # fmt: skip
    (skip,) = _config_marks(op, "gpu", "float32", "f/big/gpu")
    assert skip.name == "skip" and "too big" in skip.kwargs["reason"]
    assert _config_marks(op, "gpu", "float16", "f/big/gpu") == []
    assert _config_marks(op, "gpu", "float32", "f/small/gpu") == []


def test_a_tuned_config_is_named_by_the_table_it_is_looked_up_in():
    """`kernels._plans.design_name` caches a config's name per table: a config looked up
    first in a table that lacks it (named by its constants) keeps its design name in its
    own. Cached per config alone, the first answer stuck: a forced GPU design of another
    kernel, run in the interpreter, renamed the tuner's later choices (seen as a
    depthwise launch recorded as `conv2d/4x8-w1-s1`)."""
    import triton

    from kernels._plans import config_name, design_name

    config = triton.Config({"BLOCK_P": 4, "BLOCK_Q": 8}, num_warps=1, num_stages=1)
    assert design_name({}, config) == config_name(config)
    assert design_name({"plane-4x8-w1-s1": config}, config) == "plane-4x8-w1-s1"


def test_a_gradient_is_taken_in_the_float_tensors_of_wrt_only():
    """An argument in `wrt` that is an integer tensor in some cases (a loss's class indices)
    and a float one in others (its probabilities) has a gradient only where it is float."""
    from harness.autograd import through_autograd
    from harness.op import Backward

    backward = Backward(kernel=None, numpy_grad=None, wrt=(0, 1), error_model=ErrorModel())
    run = through_autograd(lambda x, t: x * t, backward)
    x = torch.tensor([1.0, 2.0])
    (dx,) = run(x, torch.tensor([3, 4]), torch.ones(2))
    assert torch.equal(dx, torch.tensor([3.0, 4.0]))
    dx, dt = run(x, torch.tensor([3.0, 4.0]), torch.ones(2))
    assert torch.equal(dx, torch.tensor([3.0, 4.0])) and torch.equal(dt, x)
