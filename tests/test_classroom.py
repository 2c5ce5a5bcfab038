"""The legacy GitHub Classroom reporter's results: whole points that add up, and no 0-point tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from conftest import Grade
from helpers import ROOT

from grader.ci import legacy


def _decode(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key] = json.loads(base64.b64decode(value))
    return out


def test_partial_credit_reaches_the_reporter_in_quarter_points(grade: Grade, tmp_path: Path) -> None:
    report = grade("linear_bias_not_summed")
    out = tmp_path / "github_output"
    assert legacy.write([report], out) == out
    data = _decode(out)["ex04"]
    assert data["version"] == 1 and data["status"] == "fail" and data["max_score"] == report.max_score == 9
    scores = [t["score"] for t in data["tests"]]
    assert all((4 * s).is_integer() for s in scores)  # quarter points: exact in floating point
    assert 0 < sum(scores) < 9 and sum(scores) == 7.25 <= report.score  # 7 1/3, rounded down to a quarter
    bias = next(t for t in data["tests"] if t["name"] == "ex04 Linear: grad_bias")
    assert bias["status"] == "fail" and bias["score"] == 0 and "broadcast_not_reduced" in bias["message"]
    assert {"name", "status", "score", "message", "line_no", "execution_time"} <= set(bias)
    assert [t["name"] for t in data["tests"]] == [
        "ex04 MatMul: grad_a", "ex04 MatMul: grad_b", "ex04 Linear: grad_x", "ex04 Linear: grad_weight",
        "ex04 Linear: grad_bias"]  # no 0-point forward or policy tests


def test_full_marks_add_up_to_whole_points(grade: Grade, tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    legacy.write([grade(ROOT / "solutions", "ex04"), grade(ROOT / "solutions", "ex03")], out)
    data = _decode(out)
    assert list(data) == ["ex04", "ex03"]
    total = 0.0
    for result in data.values():
        assert result["status"] == "pass" and all(t["status"] == "pass" for t in result["tests"])
        for test in result["tests"]:
            total += test["score"]  # the reporter's running float sum
    assert total == 29.0 == sum(r["max_score"] for r in data.values())


def test_a_forbidden_call_fails_every_test_of_its_target(grade: Grade) -> None:
    data = legacy.result(grade("linear_autograd_grad"))
    linear = [t for t in data["tests"] if " Linear: " in t["name"]]
    assert len(linear) == 3 and all(t["status"] == "fail" and t["score"] == 0 for t in linear)
    assert all("forbidden_api" in t["message"] for t in linear)


def test_error_results_keep_the_maximum_and_fill_only_what_is_missing(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "github_output"
    out.write_text(f"ex01={legacy.encode({'version': 1, 'status': 'pass', 'max_score': 8, 'tests': []})}\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert legacy.main(["--error", "ex01=8", "ex02=28", "ex10=4.5"]) == 0
    data = _decode(out)
    assert list(data) == ["ex01", "ex02", "ex10"] and data["ex01"]["status"] == "pass"
    assert data["ex02"] == legacy.error_result("ex02", 28) and data["ex02"]["max_score"] == 28
    assert data["ex10"]["status"] == "error" and data["ex10"]["max_score"] == 4.5
    assert legacy.main(["--error", "ex01"]) == 2 and legacy.main(["--error"]) == 2 and legacy.main([]) == 2
