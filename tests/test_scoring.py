"""Scoring: a target's points for a check are split evenly over that check's rows (cases × inputs)."""

from __future__ import annotations

import pytest

from grader.results import Row
from grader.scoring import score_rows, totals
from grader.spec import load_exercise


def _rows(cases: tuple[str, ...]) -> list[Row]:
    rows = []
    for case in cases:
        for check in ("forward", "policy", "contract", "autograd", "gradcheck"):
            for name in ((None,) if check in ("forward", "policy") else ("x", "weight", "bias")):
                passed = name != "bias"
                rows.append(Row(target="Linear", check=check, case=case, input=name, passed=passed,
                                diagnosis="ok" if passed else "wrong_values", message=""))
    return rows


@pytest.fixture
def linear(course):
    target = load_exercise(course, "ex04_linear").targets[1]
    assert target.points == {"contract": 1.0, "autograd": 3.0, "gradcheck": 1.0}
    return target


def test_points_are_split_over_cases_and_inputs(linear):
    scored = score_rows(linear, _rows(("public-1", "public-2")))
    assert all(r.max_score == pytest.approx(0.5) for r in scored if r.check == "autograd")
    assert all(r.max_score == pytest.approx(1 / 6) for r in scored if r.check in ("contract", "gradcheck"))
    assert all(r.max_score == 0 for r in scored if r.check in ("forward", "policy"))
    assert all(r.score == (r.max_score if r.passed else 0.0) for r in scored)
    assert totals(scored) == (pytest.approx(10 / 3), pytest.approx(5.0))


def test_more_cases_do_not_change_the_maximum(linear):
    two, four = (totals(score_rows(linear, _rows(cases)))
                 for cases in (("public-1", "public-2"), ("public-1", "public-2", "hidden-1", "hidden-2")))
    assert two == four
