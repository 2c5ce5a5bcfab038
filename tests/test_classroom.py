"""GitHub Classroom output: what the autograding reporter will decode and sum."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from conftest import Grade

from grader.writers import classroom


def _decode(path: Path) -> dict:
    [line] = path.read_text().splitlines()
    key, _, value = line.partition("=")
    assert key == "result"
    return json.loads(base64.b64decode(value))


def test_partial_credit_reaches_the_reporter(grade: Grade, tmp_path: Path) -> None:
    report = grade("linear_bias_not_summed")
    out = tmp_path / "github_output"
    assert classroom.write([report], out) == out
    data = _decode(out)
    assert data["version"] == 1 and data["status"] == "fail"
    assert data["max_score"] == report.max_score
    points = sum(t["score"] for t in data["tests"])
    assert abs(points - report.score) < 1e-3 and 0 < points < data["max_score"]
    bias = next(t for t in data["tests"] if t["name"] == "ex04 Linear: grad_bias")
    assert bias["status"] == "fail" and bias["score"] == 0 and "broadcast_not_reduced" in bias["message"]
    assert {"name", "status", "score", "message", "line_no", "execution_time"} <= set(bias)


def test_full_marks_pass(grade: Grade, tmp_path: Path) -> None:
    from helpers import ROOT

    report = grade(ROOT / "solutions")
    out = tmp_path / "github_output"
    classroom.write([report], out)
    data = _decode(out)
    assert data["status"] == "pass" and abs(sum(t["score"] for t in data["tests"]) - data["max_score"]) < 1e-6
