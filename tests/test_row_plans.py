"""kernels._rows.plan_rows: plans remembered per shape, without going stale when a constant
or a forced config changes."""

from __future__ import annotations

import pytest

from kernels import _plans, _rows
from kernels._launch import cdiv


def test_a_remembered_plan_follows_the_constants_and_the_forced_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _plans.forcing("rows/whole/interpret"):
        assert _rows.plan_rows(4, 600).whole_row
    with _plans.forcing("rows/looped/interpret"):
        looped = _rows.plan_rows(4, 600)
        assert not looped.whole_row and looped.block_cols == _rows.INTERPRET_LOOP_BLOCK
    monkeypatch.setattr(_rows, "INTERPRET_WHOLE_ROW_MAX", 512)  # as a tuning script does
    with _plans.forcing("rows/whole/interpret"):
        assert not _rows.plan_rows(4, 600).whole_row  # 600 columns: too long for a block now
    monkeypatch.setattr(_rows, "INTERPRET_LOOP_BLOCK", 128)
    with _plans.forcing("rows/looped/interpret"):
        assert _rows.plan_rows(4, 600).block_cols == 128


TUNABLE_MODULES = [
    "kernels._rows",
    "kernels.layer_norm_tuned",
    "kernels.softmax",
    "kernels.add_row_sum",
    "kernels.layer_norm",
]


@pytest.mark.parametrize("module", TUNABLE_MODULES)
def test_setting_any_launch_constant_renews_the_key_of_plans_and_replays(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each UPPER_CASE name of a module that launch plans read (a tuning script may set
    any) counts in `_plans.tunings()`, the key under which plans are remembered and calls
    replayed (`kernels._launch.replayed`), even set to the value it had: one not counted
    would leave a remembered plan or a replay stale after a script changed it."""
    import importlib

    owner = importlib.import_module(module)
    constants = [name for name in vars(owner) if name.isupper() and not name.startswith("_")]
    for name in constants:
        before = _plans.tunings()
        monkeypatch.setattr(owner, name, getattr(owner, name))
        assert _plans.tunings() > before, f"{module}.{name} does not count as set"
    assert constants


def test_a_call_after_a_constant_is_set_plans_again(
    monkeypatch: pytest.MonkeyPatch, harness_state
) -> None:
    """A second call of a signature reuses its plan (a remembered one here, the whole
    launch replayed on a GPU); once a script sets INTERPRET_LOOP_BLOCK, the next call
    plans with the new blocks, and the one after that reuses those."""
    import torch

    from harness.modes import device_for
    from kernels.softmax import softmax

    planned = []
    plan = _rows._plan

    def counted(*args):
        made = plan(*args)
        planned.append(made.block_cols)
        return made

    monkeypatch.setattr(_rows, "_plan", counted)
    x = torch.randn(2, 1793, device=device_for(harness_state.mode))
    want = torch.softmax(x.double(), -1)
    with _plans.forcing("rows/looped/interpret"):
        for block in (256, 128):
            monkeypatch.setattr(_rows, "INTERPRET_LOOP_BLOCK", block)
            for _ in range(2):
                torch.testing.assert_close(softmax(x).double(), want)
    assert planned == [256, 128]


def test_a_remembered_plan_is_still_recorded_as_launched() -> None:
    with _plans.forcing("rows/whole/interpret"):
        _rows.plan_rows(4, 600)
        with _plans.recording() as launched:
            _rows.plan_rows(4, 600)
    assert launched == ["rows/whole/interpret"]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["softmax", "add_row_sum"])
def test_looped_kernels_are_right_with_pass_two_either_way(
    name: str, dtype: str, monkeypatch: pytest.MonkeyPatch, harness_state
) -> None:
    """The tuning knob PASS_TWO_FROM_THE_END turned off (the default walks from the end,
    which the op tests run): the looped kernel, forced with the
    interpreter's 256-column blocks (rows of several blocks and a ragged last one), passes
    the config test's cases: every block of pass 2 written once, the ragged one masked."""
    from tests.test_ops import TestOps

    monkeypatch.setattr(_rows, "PASS_TWO_FROM_THE_END", False)
    TestOps().test_configs(TestOps.ops[name], dtype, "rows/looped/interpret", harness_state)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("loads", [1, 2])
def test_softmaxs_looped_kernel_is_right_with_one_or_two_loads_an_iteration(
    loads: int, dtype: str, monkeypatch: pytest.MonkeyPatch, harness_state
) -> None:
    """kernels.softmax.LOOP_LOADS either way: the looped kernel forced with the
    interpreter's 256-column blocks passes the config test's cases, whose rows end on a
    whole iteration, a block into one, or a ragged block past it (pass 1's unmasked
    iterations, then its masked blocks), and hold -inf, +inf and NaN."""
    import kernels.softmax
    from tests.test_ops import TestOps

    monkeypatch.setattr(kernels.softmax, "LOOP_LOADS", loads)
    with _plans.forcing("rows/looped/interpret"):  # (on a GPU 1793 columns are one block)
        assert _rows.plan_rows(2, 1793, loop_loads=loads).loads == loads
    TestOps().test_configs(TestOps.ops["softmax"], dtype, "rows/looped/interpret", harness_state)


def test_softmaxs_looped_kernel_refuses_loads_it_does_not_make(
    monkeypatch: pytest.MonkeyPatch, harness_state
) -> None:
    """LOOP_LOADS = 3 would step three blocks an iteration and load two: refused when the
    kernel compiles, not a wrong answer."""
    import torch

    import kernels.softmax
    from harness.modes import device_for

    monkeypatch.setattr(kernels.softmax, "LOOP_LOADS", 3)
    x = torch.randn(2, 1000, device=device_for(harness_state.mode))
    looped = f"rows/looped/{_plans.default_constants()}"
    with _plans.forcing(looped), pytest.raises(Exception, match="1 or 2"):
        kernels.softmax.softmax(x)


def test_a_looped_plan_splits_a_threads_values_among_its_loads() -> None:
    """Two loads an iteration: each of ELEMENTS_PER_THREAD's values a thread takes an
    iteration still lands in one thread, so the same block takes twice the warps."""
    with _plans.forcing("rows/looped/gpu"):
        one, two = (_rows.plan_rows(4, 1 << 16, loop_loads=n) for n in (1, 2))
    assert (one.loads, two.loads) == (1, 2)
    assert one.block_cols == two.block_cols == _rows.LOOP_BLOCK
    assert two.num_warps == min(2 * one.num_warps, _rows.MAX_WARPS)


@pytest.mark.parametrize("walks", [False, True])
def test_rows_are_split_only_for_an_op_with_a_split_kernel_and_within_its_slices(
    walks: bool,
) -> None:
    """Unforced: whole rows up to whole_row_max; past it, split in slices of split_slice
    (at least two, at most MAX_SLICES) for an op with a split kernel and elements of
    SPLIT_MIN_ELEMENT_BYTES or more; else, for such an op that `walks`, walked up to
    walker_max_row_bytes; else looped; past MAX_SLICES slices, looped. Forced split,
    whatever the elements: at least two slices of SPLIT_MIN_SLICE columns or more where
    the row has them, never more than MAX_SLICES, every column in one."""
    limits = _rows.row_limits(_plans.default_constants())  # this mode's, as unforced plans
    longest = limits.split_slice * _rows.MAX_SLICES

    def walked(n_cols: int, element_bytes: int, design: str) -> str:
        fits = n_cols * element_bytes <= limits.walker_max_row_bytes
        return "walker" if walks and design == "looped" and fits else design

    for n_cols, plain, with_split in [
        (limits.whole_row_max, "whole", "whole"),
        (limits.whole_row_max + 1, "looped", "split"),
        (limits.walker_max_row_bytes // 2, "looped", "split"),
        (limits.walker_max_row_bytes // 2 + 1, "looped", "split"),
        (longest, "looped", "split"),
        (longest + 1, "looped", "looped"),
    ]:
        assert _rows.plan_rows(3, n_cols, walks=walks).design == plain, n_cols
        narrow = _rows.plan_rows(3, n_cols, splits=True, element_bytes=2, walks=walks)
        assert narrow.design == walked(n_cols, 2, plain), n_cols
        plan = _rows.plan_rows(3, n_cols, splits=True, walks=walks)
        assert plan.design == walked(n_cols, 4, with_split), n_cols
        if plan.slices:
            assert plan.block_cols == limits.split_slice and plan.grid == (3 * plan.slices,)
    for constants in ("interpret", "gpu"):
        with _plans.forcing(f"rows/split/{constants}"):
            for n_cols in (1, 3, 129, 300, 5000, 70000, 10**6):
                plan = _rows.plan_rows(2, n_cols, splits=True, element_bytes=2)
                assert plan.design == "split" and 1 <= plan.slices <= _rows.MAX_SLICES
                assert (plan.slices - 1) * plan.block_cols < n_cols <= plan.slices * plan.block_cols
                assert plan.block_cols >= _rows.SPLIT_MIN_SLICE
                assert plan.slices >= 2 or n_cols <= _rows.SPLIT_MIN_SLICE, n_cols
            assert _rows.plan_rows(2, 5000).design == "looped"  # no split kernel: its default


@pytest.mark.parametrize("name", ["softmax", "add_row_sum"])
def test_split_rows_exchange_under_many_waves_of_programs(name: str, harness_state) -> None:
    """On a GPU the programs of a split row wait for each other (`kernels._rows.row_slice`):
    20000 rows of 12 slices (240000 programs, many waves of them, and rows straddling
    the waves) finish, and every row is right by the op's error model, special values
    included. In the interpreter the same launch publishes, then reads (no waiting)."""
    from harness.compare import run_case
    from harness.modes import device_for
    from harness.op import Case, load_registry

    rows = 20000 if harness_state.mode == "gpu" else 6
    case = Case(name, "float32", (rows, 12 * 256 - 7), {"specials": True}, seed=0)
    with _plans.forcing("rows/split/interpret"), _plans.recording() as launched:
        result = run_case(load_registry("ops")[name], case, harness_state.mode,
                          device_for(harness_state.mode), "ops")  # fmt: skip
    assert set(launched) == {"rows/split/interpret"}
    assert result.kernel_ok, [v for v in result.verdict("kernel") if not v.ok]


@pytest.mark.parametrize("constants", ["interpret", "gpu"])
def test_walkers_hold_whole_rows_and_take_turns(constants: str) -> None:
    """Walked rows (`kernels._rows.WALKER_MAX_ROW_BYTES`): whole rows in one block on at
    most WALKER_MAX_WARPS warps, as many walkers as there are tiles at most
    (multiprocessors x WALKERS_PER_SM on a GPU, INTERPRET_WALKERS in the interpreter),
    each loading ahead by WALKER_STAGES - 1; past walker_max_row_bytes, a forced walker
    falls back to the looped design."""
    longest = _rows.row_limits(constants).walker_max_row_bytes
    walkers = 132 * _rows.WALKERS_PER_SM if constants == "gpu" else _rows.INTERPRET_WALKERS
    with _plans.forcing(f"rows/walker/{constants}"):
        for n_rows, n_cols, element_bytes in [
            (5000, longest // 2, 2), (1000, longest // 4, 4), (2, longest // 16, 4),
            (7, 3, 2), (10000, 300, 4),
        ]:  # fmt: skip
            plan = _rows.plan_rows(n_rows, n_cols, splits=True, element_bytes=element_bytes,
                                   multiprocessors=132)  # fmt: skip
            assert plan.design == "walker" and plan.whole_row, (n_rows, n_cols)
            assert n_cols <= plan.block_cols and plan.stages == _rows.WALKER_STAGES
            assert plan.num_warps <= _rows.WALKER_MAX_WARPS
            tiles = cdiv(n_rows, plan.rows_per_program)
            assert plan.grid == (min(tiles, walkers),)
        too_long = _rows.plan_rows(4, longest // 2 + 1, splits=True, element_bytes=2)
        assert too_long.design == "looped"


@pytest.mark.parametrize(("name", "design"), [("add_row_sum", "walker"), ("softmax", "looped")])
def test_only_an_op_that_walks_walks_its_long_16_bit_rows(
    name: str, design: str, harness_state
) -> None:
    """Unforced, 16-bit rows past whole_row_max (up to walker_max_row_bytes) are walked by
    add_row_sum (WALK_LONG_ROWS) and looped by softmax, and either is right by the op's
    error model, special values included."""
    from harness.compare import run_case
    from harness.modes import device_for
    from harness.op import Case, load_registry

    constants = _plans.default_constants()
    n_cols = _rows.row_limits(constants).walker_max_row_bytes // 2 - 5
    case = Case(name, "float16", (3, n_cols), {"specials": True}, seed=0)
    with _plans.recording() as launched:
        result = run_case(load_registry("ops")[name], case, harness_state.mode,
                          device_for(harness_state.mode), "ops")  # fmt: skip
    assert set(launched) == {f"rows/{design}/{constants}"}
    assert result.kernel_ok, [v for v in result.verdict("kernel") if not v.ok]
