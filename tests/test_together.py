"""Every target of an exercise in one child (grader.together): the same rows as one child per target, and a
target that hangs, crashes or is missing costs no other target its result."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from helpers import ROOT

from grader.sandbox.protocol import part_mark
from grader.together import _split_output

SOLUTION = (ROOT / "solutions" / "ex04_linear" / "linear.py").read_text()
LINEAR_BODY = "        x, weight = ctx.saved_tensors\n"


def _module(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "linear.py").write_text(text)
    return folder


def _linear_backward_starts_with(code: str) -> str:
    """The solution with ``code`` run first in Linear's backward."""
    assert LINEAR_BODY in SOLUTION
    return SOLUTION.replace(LINEAR_BODY, LINEAR_BODY + "".join(f"        {line}\n" for line in code.splitlines()), 1)


def _by_target(report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in report.checks:
        found.setdefault(row.target, set()).add(row.diagnosis)
    return found


@pytest.mark.parametrize(("code", "diagnosis"), [
    ("while True:\n    pass", "timeout"),
    ("import os\nos.kill(os.getpid(), 9)", None),
])
def test_one_target_that_hangs_or_dies_leaves_the_other_its_full_marks(grade, course, tmp_path: Path, code: str,
                                                                       diagnosis: str | None) -> None:
    quick = replace(course, limits=replace(course.limits, wall_seconds=3))  # the hang costs the limit twice
    report = grade(_module(tmp_path, _linear_backward_starts_with(code)), "ex04", spec=quick)
    matmul = [r for r in report.checks if r.target == "MatMul"]
    linear = [r for r in report.checks if r.target == "Linear" and r.check in ("autograd", "gradcheck")]
    assert matmul and all(r.passed for r in matmul)
    assert linear and not any(r.passed for r in linear)
    if diagnosis:
        assert {r.diagnosis for r in linear} == {diagnosis}


def test_a_missing_class_fails_its_own_target_only(grade, tmp_path: Path) -> None:
    text = SOLUTION.replace("class MatMul(", "class MatMultiply(", 1)
    report = grade(_module(tmp_path, text), "ex04")
    assert all(r.passed for r in report.checks if r.target == "Linear")
    matmul = [r for r in report.checks if r.target == "MatMul"]
    assert matmul and not any(r.passed for r in matmul) and "has no class MatMul" in matmul[0].message


def test_prints_are_shown_under_the_target_that_printed_them(grade, tmp_path: Path) -> None:
    text = _linear_backward_starts_with('print("from Linear")').replace(
        "import torch\n", 'import torch\n\nprint("at import")\n', 1)
    report = grade(_module(tmp_path, text), "ex04")
    assert report.score == report.max_score
    matmul, linear = report.output.split("--- Linear ---")
    assert "at import" in matmul and "from Linear" not in matmul
    assert "from Linear" in linear and "at import" not in linear


def test_the_output_is_split_at_the_marks_and_a_cut_leaves_the_rest_with_the_last_target() -> None:
    marks = [part_mark("n0", i) for i in range(3)]
    text = "import\n" + marks[0] + "a\n" + marks[1] + "b\n" + marks[2] + "c\n"
    assert _split_output(text, "n0", 3) == ["import\na", "b", "c"]
    assert _split_output("import\n" + marks[0] + "a\n" + marks[1] + "b b b [cut", "n0", 3) == ["import\na", "b b b [cut", ""]
    assert _split_output("", "n0", 2) == ["", ""]
