"""Catalogues: every entry of every exercise is named on a mutant built from it, and told apart on the cases.

A mutant is the solution whose backward returns an entry's formula for its input
(:func:`grader.authoring.mutants.catalogue_mutant`), graded in the sandbox like a submission: the machinery ``grade
validate`` uses, here on the public cases. To keep the suite fast, one mutant carries one entry per input of
its target (``grade validate`` builds one per entry), and each input's rows must be named by its own entry.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import ROOT

from grader.authoring.validate import ExerciseValidation, _indistinct, _values, check_catalogue, summary_line, unnamed
from grader.cases import build_cases
from grader.catalogue import FormulaError, candidates, evaluate
from grader.sandbox.client import SandboxServer
from grader.spec import CatalogueEntry, CourseSpec, TargetSpec, load_course, load_exercise
from grader.submission import load_submission

EXERCISES = load_course(ROOT).exercises


def _rounds(target: TargetSpec) -> list[list[CatalogueEntry]]:
    """The entries in groups with one entry per input: the first entry of each input, then the second, ..."""
    per_input: dict[str, list[CatalogueEntry]] = {}
    for entry in target.catalogue:
        per_input.setdefault(entry.input, []).append(entry)
    return [[entries[r] for entries in per_input.values() if r < len(entries)]
            for r in range(max((len(e) for e in per_input.values()), default=0))]


@pytest.mark.parametrize("slug", EXERCISES)
def test_every_entry_is_named_on_a_mutant(slug: str, course: CourseSpec, server: SandboxServer) -> None:
    exercise = load_exercise(course, slug)
    solution = load_submission(ROOT / "solutions" / slug / exercise.module).module(slug, exercise.module)
    assert not isinstance(solution, str)
    named = 0
    for index, target in enumerate(exercise.targets):
        cases = build_cases(exercise, index, course.seed, course.grad_outputs)
        values = {e.id: _values(e, target, cases) for e in target.catalogue}
        for group in _rounds(target):
            assert all(_indistinct(e, target, cases, values) == [] for e in group)
            ran = {e.id: (e, {c.spec.name for c, v in zip(cases, values[e.id], strict=True) if not isinstance(v, str)})
                   for e in group}
            problems = unnamed(course, exercise, solution, target, ran, server)
            assert problems == {e.id: [] for e in group}
            named += len(group)
    assert named == sum(len(t.catalogue) for t in exercise.targets) > 0


def test_validate_reports_the_coverage(course: CourseSpec, server: SandboxServer) -> None:
    """``grade validate``'s own step, one mutant per entry, on the exercise with the fewest entries."""
    exercise = load_exercise(course, "ex04_linear")
    solution = load_submission(ROOT / "solutions" / "ex04_linear" / "linear.py").module("ex04_linear", "linear.py")
    assert not isinstance(solution, str)
    result = ExerciseValidation(exercise.id)
    check_catalogue(course, exercise, solution, server, result)
    assert (result.named, result.entries, result.catalogue_problems) == (4, 4, [])
    assert summary_line(result).endswith("catalogue 4/4 entries named by their mutant")


def test_every_target_has_three_entries_where_the_maths_has_them(course: CourseSpec) -> None:
    """MatMul's mistakes all change a shape (the codes name them); Sum and Mean have two same-shape ones."""
    few = {"MatMul": 0, "Sum": 2, "Mean": 2}
    for slug in course.exercises:
        for target in load_exercise(course, slug).targets:
            assert len(target.catalogue) >= few.get(target.name, 3), target.name


def _linear(course: CourseSpec):
    exercise = load_exercise(course, "ex04_linear")
    target = exercise.targets[1]
    return exercise, target, build_cases(exercise, 1, course.seed, course.grad_outputs)


def test_a_formula_that_gives_the_wrong_shape_or_raises_is_reported(course: CourseSpec) -> None:
    _, target, cases = _linear(course)
    shape = CatalogueEntry("bias_rows", "bias", "grad_output", "kept every row", "Sum.")
    with pytest.raises(FormulaError, match=r"gave shape \[5, 4\], but bias has shape \[4\]"):
        evaluate(shape, target, cases[0], cases[0].upstream[0])
    raises = CatalogueEntry("bias_boom", "bias", "grad_output.sum(7)", "raised", "Sum.")
    assert candidates(raises, target, cases[0]) is None
    assert _values(raises, target, cases)[0].startswith("the formula fails on case public-1: IndexError")
    values = {"bias_boom": _values(raises, target, cases)}
    assert len(_indistinct(raises, target, cases, values)) == len(cases)  # it runs on no case


def test_an_entry_equal_to_the_solution_or_to_another_entry_is_a_problem(course: CourseSpec) -> None:
    _, target, cases = _linear(course)
    right = CatalogueEntry("bias_right", "bias", "grad_output.sum(0)", "summed", "Sum.")
    twice = CatalogueEntry("bias_twice", "bias", "grad_output.mean(0) * 1", "averaged", "Sum.")
    target = replace(target, catalogue=(*target.catalogue, right, twice))
    values = {e.id: _values(e, target, cases) for e in target.catalogue}
    assert _indistinct(right, target, cases, values) == [
        "it equals the solution's gradient on every case where it runs, so no case can tell them apart"]
    assert _indistinct(twice, target, cases, values) == [
        "it cannot be told apart from bias_averaged on case public-1, public-2"]
    assert _indistinct(target.catalogue[0], target, cases, values) == [
        "it cannot be told apart from bias_twice on case public-1, public-2"]


def test_a_named_row_keeps_its_code_and_the_worst_element(grade, tmp_path) -> None:
    """A mean where the sum belongs is still ``scaled`` (with its factor known), now named by the catalogue."""
    source = (ROOT / "solutions" / "ex04_linear" / "linear.py").read_text()
    path = tmp_path / "linear.py"
    path.write_text(source.replace("grad_bias = g.sum(0)", "grad_bias = g.mean(0)"))
    report = grade(path, "ex04")
    rows = [r for r in report.checks if r.check == "autograd" and r.input == "bias"]
    assert rows and all((r.diagnosis, r.pattern) == ("scaled", "bias_averaged") for r in rows)
    assert rows[0].message.startswith("grad_bias: averaged grad_output over the batch instead of summing it — off by "
                                      "a factor of 1/N = 0.2 (N = 5: a mean instead of a sum?); worst element at [")
    assert rows[0].hint.startswith("The bias is added to every row")
    gradcheck = [r for r in report.checks if r.check == "gradcheck" and r.input == "bias"]
    assert all(r.diagnosis == "scaled" and r.pattern is None for r in gradcheck)


def test_values_are_kept_with_the_case(course: CourseSpec) -> None:
    _, target, cases = _linear(course)
    entry = target.catalogue[0]
    first = candidates(entry, target, cases[0])
    assert first is not None and candidates(entry, target, cases[0]) is first
    assert np.allclose(first[0], cases[0].upstream[0].mean(0))
