"""Whole-number points for CI: maxima that add up, scores that never exceed what was earned, full marks exact."""

from __future__ import annotations

import math
import random

import pytest
from conftest import Grade
from helpers import ROOT

from grader.ci import points
from grader.results import Report, Row
from grader.spec import CourseSpec, load_exercise


def test_apportion_splits_exactly() -> None:
    assert points.apportion(500, [5 / 3] * 3) == [167, 167, 166]
    assert points.apportion(900, [2, 2, 5 / 3, 5 / 3, 5 / 3]) == [200, 200, 167, 167, 166]
    assert points.apportion(7, [0, 1]) == [0, 7] and points.apportion(5, []) == []


@pytest.mark.parametrize("scale", [points.CLASSROOM50_SCALE, points.LEGACY_SCALE])
def test_a_bug_earns_the_points_rounded_down_and_full_marks_are_exact(grade: Grade, scale: int) -> None:
    wrong = grade("linear_bias_not_summed")
    tests = points.tests(wrong, scale)
    assert [t.name for t in tests] == ["ex04 MatMul: grad_a", "ex04 MatMul: grad_b", "ex04 Linear: grad_x",
                                       "ex04 Linear: grad_weight", "ex04 Linear: grad_bias"]
    score, maximum = points.totals(tests)
    assert maximum == 9 * scale and score == math.floor(wrong.score * scale + 1e-9) < maximum
    bias = tests[-1]
    assert not bias.passed and bias.units == 0 and {r.diagnosis for r in bias.failures} == {"broadcast_not_reduced"}
    right = points.tests(grade(ROOT / "solutions"), scale)
    assert points.totals(right) == (9 * scale, 9 * scale) and all(t.passed and t.units == t.max_units for t in right)


def test_a_whole_op_failure_fails_every_test_of_its_target(grade: Grade) -> None:
    tests = points.tests(grade("linear_autograd_grad"), 100)
    linear = [t for t in tests if t.target == "Linear"]
    assert len(linear) == 3 and all(not t.passed and t.units == 0 for t in linear)
    assert all(any(r.check == "policy" for r in t.failures) for t in linear)
    assert all(t.passed for t in tests if t.target == "MatMul")


def test_spec_points_are_what_a_report_says(grade: Grade, course: CourseSpec) -> None:
    for exercise in ("ex01", "ex04", "ex07"):
        [slug] = course.resolve(exercise)
        assert points.spec_points(load_exercise(course, slug)) == grade(ROOT / "solutions", exercise).max_score


def _row(target: str, name: str | None, check: str, earned: float, available: float, passed: bool) -> Row:
    return Row(target=target, check=check, case="c", input=name, passed=passed, diagnosis="ok" if passed else "x",
               message="", score=earned, max_score=available)


@pytest.mark.parametrize("seed", range(40))
def test_random_reports_keep_every_rule(seed: int) -> None:
    """Any mix of passed and failed rows: tests add up to the score, which is the earned units rounded down,
    no test exceeds its maximum, a failed test is never full, and full marks come only with every test."""
    rng = random.Random(seed)
    rows = []
    for t in range(rng.randint(1, 4)):
        for name in [f"x{i}" for i in range(rng.randint(1, 4))]:
            for check in ("contract", "autograd", "gradcheck"):
                available = rng.choice([1 / 3, 0.25, 0.5, 1 / 6, 1.0, 2 / 7])
                passed = rng.random() < 0.7
                earned = available if passed else rng.choice([0.0, available * rng.random()])
                rows.append(_row(f"T{t}", name, check, earned, available, passed))
        if rng.random() < 0.3:
            rows.append(_row(f"T{t}", None, "policy", 0.0, 0.0, rng.random() < 0.5))
    report = Report("ex09", "t", sum(r.score for r in rows), sum(r.max_score for r in rows), 1, tuple(rows))
    for scale in (4, 100):
        tests = points.tests(report, scale)
        score, maximum = points.totals(tests)
        assert maximum == round(report.max_score * scale)
        if not all(t.passed for t in tests):
            earned = min(math.floor(report.score * scale + 1e-9), maximum - 1)
            failed = sum(1 for t in tests if not t.passed)
            assert earned - failed <= score <= earned  # a failed test can keep at most a unit below its maximum
        assert all(0 <= t.units <= t.max_units for t in tests)
        assert all(t.units < t.max_units for t in tests if not t.passed and t.max_units > 0)
        assert (score == maximum) == all(t.passed for t in tests) or maximum == 0
