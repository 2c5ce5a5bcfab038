"""The ex07 training check: SGD through the student's raw backward must reduce the loss."""

from __future__ import annotations

from pathlib import Path

from helpers import ROOT

from grader.grading import grade_module
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec, load_exercise
from grader.submission import load_submission


def _training_row(course: CourseSpec, server: SandboxServer, source: str) -> tuple:
    exercise = load_exercise(course, "ex07_mlp")
    module = load_submission(ROOT / "solutions" / "ex07_mlp").module("ex07_mlp", "mlp.py")
    assert not isinstance(module, str)
    files = {**module.files, "mlp.py": source.encode()}
    report = grade_module(course, exercise, type(module)(files=files, source=source, origin="test"), server, course.seed)
    [row] = [r for r in report.checks if r.check == "training"]
    return row


def test_the_solution_trains(course: CourseSpec, server: SandboxServer) -> None:
    source = (ROOT / "solutions" / "ex07_mlp" / "mlp.py").read_text()
    row = _training_row(course, server, source)
    assert row.passed and row.input is None and row.max_score > 0 and row.score == row.max_score
    assert "below the threshold" in row.message


def test_a_backward_with_the_wrong_sign_does_not_train(course: CourseSpec, server: SandboxServer) -> None:
    from grader.authoring.mutants import automatic

    exercise = load_exercise(course, "ex07_mlp")
    source = (ROOT / "solutions" / "ex07_mlp" / "mlp.py").read_text()
    [negated] = [m for m in automatic(source, exercise) if m.name == "TwoLayerMLP: negate grad_w1"]
    row = _training_row(course, server, negated.source)
    assert not row.passed and row.score == 0
    assert row.diagnosis in ("wrong_values", "nan_or_inf")
    assert "loss went from" in row.message or "diverged" in row.message


def test_the_stub_cannot_train(course: CourseSpec, server: SandboxServer) -> None:
    row = _training_row(course, server, Path(ROOT / "exercises" / "ex07_mlp" / "mlp.py").read_text())
    assert row.diagnosis == "not_implemented"
