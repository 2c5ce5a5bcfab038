"""Automatic mutants of the solutions, and grade validate's verdicts on them."""

from __future__ import annotations

import ast

from helpers import ROOT

from grader.authoring.mutants import automatic
from grader.authoring.validate import summary_line, validate_exercise
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec, load_exercise


def _mutants(course: CourseSpec, slug: str) -> list:
    exercise = load_exercise(course, slug)
    return automatic((ROOT / "solutions" / slug / exercise.module).read_text(), exercise)


def test_every_kind_of_mutant_is_generated_for_linear(course: CourseSpec) -> None:
    names = {m.name for m in _mutants(course, "ex04_linear")}
    for expected in ("Linear: negate grad_weight", "Linear: scale grad_bias by 2", "Linear: scale grad_x by 1/2",
                     "Linear: transpose grad_weight", "Linear: zero grad_x", "Linear: drop grad_output",
                     "Linear: swap grad_x and grad_weight", "Linear: skip reduction #1"):
        assert expected in names
    for mutant in _mutants(course, "ex04_linear"):
        ast.parse(mutant.source)


def test_swapping_two_identical_gradients_is_not_a_mutant(course: CourseSpec) -> None:
    exercise = load_exercise(course, "ex02_elementwise")
    source = "import torch\nclass Add(torch.autograd.Function):\n    @staticmethod\n    def backward(ctx, g):\n" \
             "        return g, g\n"
    names = {m.name for m in automatic(source, exercise)}
    assert "Add: negate grad_a" in names and "Add: swap grad_a and grad_b" not in names


def test_validate_kills_every_mutant_of_linear_with_the_expected_diagnosis(course: CourseSpec,
                                                                          server: SandboxServer) -> None:
    result = validate_exercise(course, "ex04_linear", server, seeds=2)
    assert result.ok, (result.flaky, result.stub_problems, result.survivors)
    assert result.total == result.killed >= 25
    assert result.accurate == result.killed, result.misdiagnosed
    assert summary_line(result).startswith(f"ex04: {result.killed}/{result.total} mutants killed")


def test_validate_reports_a_survivor_when_the_cases_cannot_see_the_bug(course: CourseSpec, server: SandboxServer,
                                                                       tmp_path) -> None:
    """An instructor mutant that changes nothing observable must be reported, and fail validation."""
    import shutil
    from dataclasses import replace

    from grader.spec import load_course

    root = tmp_path / "course"
    shutil.copytree(ROOT / "exercises", root / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "solutions", root / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "course.yaml").write_text((ROOT / "course.yaml").read_text())
    spec = root / "exercises" / "ex01_chain_rule" / "exercise.yaml"
    spec.write_text(spec.read_text() + "mutants:\n  - name: a comment edit\n    target: ShiftedSquare\n"
                    "    find: '# END SOLUTION'\n    replace: '# END SOLUTION  # harmless'\n    expect: wrong_values\n")
    small = replace(load_course(root), exercises=("ex01_chain_rule",))
    result = validate_exercise(small, "ex01_chain_rule", server, seeds=1)
    assert result.survivors == ["ShiftedSquare: a comment edit"]
    assert not result.ok
