"""Plain GitHub Actions: the step summary and the ``::error`` annotations at the student's own line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Grade
from helpers import ROOT, SUBMISSIONS

from grader.ci import actions
from grader.escape import annotation_property
from grader.submission import load_submission

MODULES = {"ex04": ("ex04_linear", "linear.py")}


def _lines(grade: Grade, name: str) -> list[tuple[str, int, str]]:
    report = grade(name)
    found = actions.line_annotations([report], load_submission(SUBMISSIONS / name), MODULES, ROOT)
    return [(a.path, a.line, a.title) for a in found]


@pytest.mark.parametrize(("name", "expected"), [
    ("linear_index_error", [(36, "ex04 Linear: exception")]),
    ("linear_syntax_error", [(33, "ex04 MatMul: exception")]),  # once per line and problem, not per target
    ("linear_autograd_grad", [(35, "ex04 Linear: forbidden_api"), (37, "ex04 Linear: forbidden_api")]),
])
def test_annotations_point_at_the_students_line(grade: Grade, name: str, expected: list[tuple[int, str]]) -> None:
    found = _lines(grade, name)
    assert {(line, title) for _, line, title in found} == set(expected)
    assert {path for path, _, _ in found} == {f"tests/submissions/{name}/linear.py"}


def test_a_wrong_value_has_no_line_to_point_at(grade: Grade) -> None:
    assert _lines(grade, "linear_bias_not_summed") == []


def test_commands_escape_what_would_end_them() -> None:
    note = actions.Annotation("a,b:c.py", 3, "t: x,y", "100% wrong\n::warning::no")
    assert note.command() == "::error file=a%2Cb%3Ac.py,line=3,title=t%3A x%2Cy::100%25 wrong%0A::warning::no"
    assert annotation_property("50%") == "50%25"


def test_grade_in_a_workflow_writes_the_summary_and_annotations(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "exercises", repo / "exercises")
    shutil.copyfile(ROOT / "course.yaml", repo / "course.yaml")
    shutil.copyfile(SUBMISSIONS / "linear_index_error" / "linear.py", repo / "exercises" / "ex04_linear" / "linear.py")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(repo)}
    grade = [sys.executable, "-m", "grader", "ex04"]
    done = subprocess.run(grade, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    [command] = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert command.startswith("::error file=exercises/ex04_linear/linear.py,line=36,title=ex04 Linear%3A exception::"
                              "IndexError: index 4 is out of bounds")
    text = summary.read_text()
    assert text.startswith("## grade: 4 / 9 points") and "### ex04 · Matrix multiply and Linear: 4 / 9" in text
    assert "**✗ x, weight, bias: exception**" in text and "*Hint:*" in text
    done = subprocess.run([*grade, "--json"], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout)["exercise"] == "ex04"  # stdout stays one JSON document
    assert summary.read_text().count("## grade:") == 2
