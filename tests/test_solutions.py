"""End to end: every solution scores full marks (public and hidden cases, several seeds), every stub zero.

The exercises come from course.yaml, so an exercise added to the course is covered without touching this file.
"""

from __future__ import annotations

import pytest
from helpers import GRADIENT_CHECKS, ROOT, rows

from grader.authoring.solutions import has_solution_blocks, strip_solutions
from grader.spec import load_course, load_exercise

EXERCISES = load_course(ROOT).exercises
SEEDS = (None, 1, 7, 2024, 31337)  # None: the course's own seed
# The capstone is the slowest to grade (its training check runs the whole block 200 times), and its ops are
# checked at every seed in their own exercises: two seeds of it are enough here.
SLOW = {"ex12_transformer": (None, 31337)}
RUNS = [pytest.param(slug, seed, id=f"{slug}-seed-{seed}") for slug in EXERCISES for seed in SLOW.get(slug, SEEDS)]


@pytest.mark.parametrize(("slug", "seed"), RUNS)
def test_solution_gets_full_marks_on_public_and_hidden_cases(grade, course, slug, seed):
    report = grade(ROOT / "solutions", slug, hidden=True, seed=seed)
    failed = [(r.target, r.check, r.case, r.input, r.diagnosis, r.message) for r in report.checks if not r.passed]
    assert failed == []
    assert report.max_score > 0
    assert report.score == pytest.approx(report.max_score)
    assert report.seed == (course.seed if seed is None else seed)
    exercise = load_exercise(course, slug, hidden=True)
    for target in exercise.targets:
        graded_cases = {r.case for r in rows(report, target.name) if r.check != "training"}
        assert graded_cases == {c.name for c in target.cases}
        assert len(rows(report, target.name, "training")) == (1 if target.training else 0)
    if (ROOT / "solutions" / slug / "hidden.yaml").is_file():
        assert any(r.hidden for r in report.checks) and any(not r.hidden for r in report.checks)


@pytest.mark.parametrize("slug", EXERCISES)
def test_stub_scores_zero_with_not_implemented_on_every_gradient_row(grade, course, slug):
    report = grade(ROOT / "exercises", slug)
    assert report.score == 0
    assert report.max_score > 0
    gradient_rows = rows(report, check=GRADIENT_CHECKS)
    exercise = load_exercise(course, slug)
    expected = sum(len(t.cases) * (len(t.args) + 2 * len(t.grad_args)) for t in exercise.targets)
    assert len(gradient_rows) == expected
    assert {r.diagnosis for r in gradient_rows} == {"not_implemented"}
    assert all("NotImplementedError" in r.message and r.hint for r in gradient_rows)
    # the given forward is right, and no autograd is used: only the backward is missing
    assert {r.diagnosis for r in rows(report, check=("forward", "policy"))} == {"ok"}


@pytest.mark.parametrize("slug", EXERCISES)
def test_stub_is_the_solution_with_its_blocks_replaced(course, slug):
    """Stubs never drift from solutions: stripping the solution blocks gives the committed stub."""
    module = load_exercise(course, slug).module
    solution = (ROOT / "solutions" / slug / module).read_text()
    assert has_solution_blocks(solution)
    stub = strip_solutions(solution)
    assert stub == (ROOT / "exercises" / slug / module).read_text()
    assert "NotImplementedError" in stub and "BEGIN SOLUTION" not in stub
