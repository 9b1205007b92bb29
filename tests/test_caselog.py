"""The case log (`harness.caselog`, HARNESS_CASE_LOG): a line per case, summed by test."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness import caselog, cli
from harness.op import Budget, Case, load_registry
from harness.runner import CaseFailure, check_op
from tests.buggy_ops import BUGGY

EXAMPLES = 4


def _lines(path) -> list[dict]:
    return caselog.read(path.read_text().splitlines())


def test_every_case_of_a_run_is_a_line_with_its_phases(tmp_path, monkeypatch, harness_state):
    log = tmp_path / "cases.jsonl"
    monkeypatch.setenv(caselog.ENV, str(log))
    op = load_registry("ops")["vector_add"]
    budget = Budget(harness_state.mode, 1 / 16)
    summary = check_op(op, "float32", harness_state.mode, "ops", budget, EXAMPLES, shard=(1, 3))
    lines = _lines(log)
    assert len(lines) == summary.cases > 0
    for line in lines:
        assert (line["op"], line["dtype"], line["mode"]) == (op.name, "float32", summary.mode)
        assert line["shard"] == "2/3" and line["ok"] is True and "error" not in line
        case = Case.from_json(json.dumps(line["case"]))  # the reproducer's case
        assert case.op == op.name and case.dtype == "float32"
        assert {"inputs", "oracle", "torch", "kernel", "judging"} <= set(line["seconds"])
        assert all(s >= 0 for s in line["seconds"].values())


def test_a_failing_case_is_logged_before_its_failure_is_raised(tmp_path, monkeypatch):
    log = tmp_path / "cases.jsonl"
    monkeypatch.setenv(caselog.ENV, str(log))
    with pytest.raises(CaseFailure):
        check_op(BUGGY["off_by_one"], "float32", "interpret", BUGGY.module, Budget("interpret"))
    lines = _lines(log)
    assert any(not line["ok"] for line in lines)
    assert all(line["op"] == "off_by_one" and line["shard"] is None for line in lines)


def test_a_case_that_raises_is_logged_with_the_exception_and_its_time(tmp_path, monkeypatch):
    def broken(x, y):
        raise RuntimeError("launch failed")

    log = tmp_path / "cases.jsonl"
    monkeypatch.setenv(caselog.ENV, str(log))
    op = dataclasses.replace(BUGGY["off_by_one"], name="raises", kernel=broken)
    with pytest.raises(RuntimeError, match="launch failed"):
        check_op(op, "float32", "interpret", BUGGY.module, Budget("interpret"), 1)
    first = _lines(log)[0]
    assert first["ok"] is False and first["error"] == "RuntimeError"
    assert set(first["seconds"]) == {"raised"} and first["seconds"]["raised"] >= 0


def test_without_the_variable_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(caselog.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    check_op(load_registry("ops")["vector_add"], "float32", "interpret", "ops",
             Budget("interpret", 1 / 16), 2)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def _record(op, dtype, ok, seed, **seconds) -> dict:
    case = Case(op, dtype, (seed + 1, 8), {}, seed)
    return {"op": op, "dtype": dtype, "mode": "gpu", "shard": "1/2", "worker": "gw0",
            "case": json.loads(case.to_json()), "ok": ok, "seconds": seconds}  # fmt: skip


def test_the_summary_sums_each_test_and_ranks_the_slowest_cases():
    records = [
        _record("matmul.grad", "float16", True, 0, inputs=1.0, oracle=6.0, kernel=3.0),
        _record("matmul.grad", "float16", False, 1, inputs=1.0, oracle=2.0, kernel=7.0),
        _record("softmax", "float32", True, 2, inputs=0.5, oracle=0.5, kernel=1.0),
    ]
    text = caselog.summarize(records, slowest=2)
    header, grad, softmax = text.splitlines()[:3]
    assert header.split()[5:] == ["inputs", "oracle", "kernel"]  # the phases the log has
    total = sum(sum(r["seconds"].values()) for r in records[:2])
    oracle = 100 * (6.0 + 2.0) / total
    assert grad.split()[4:11] == [  # after "matmul.grad[float16] gpu shard 1/2"
        "2", "1", f"{total:.1f}", "10.0", f"{100 * 2.0 / total:.0f}%", f"{oracle:.0f}%",
        f"{100 * 10.0 / total:.0f}%",
    ]  # fmt: skip
    assert softmax.split()[4:7] == ["1", "0", "2.0"]
    slowest = text.split("slowest 2 cases:\n")[1].splitlines()
    assert len(slowest) == 2 and all("matmul.grad[float16]" in line for line in slowest)


def test_reading_skips_a_line_cut_short():
    whole = json.dumps(_record("softmax", "float32", True, 0, kernel=1.0))
    assert len(caselog.read([whole, whole[:20]])) == 1


def test_the_cases_command_prints_the_summary_or_refuses_a_missing_log(tmp_path, capsys):
    log = tmp_path / "cases.jsonl"
    log.write_text(json.dumps(_record("softmax", "float32", True, 0, kernel=1.5)) + "\n")
    assert cli.main(["cases", str(log)]) == 0
    assert "softmax[float32] gpu shard 1/2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["cases", str(tmp_path / "missing.jsonl")])
    assert exit_.value.code == 2
    assert "cannot read the case log" in capsys.readouterr().err
