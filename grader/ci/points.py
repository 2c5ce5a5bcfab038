"""Whole-number points for CIs that add up the scores themselves.

A report's rows carry fractions of a point (Linear's 5 points over three inputs are 5/3 each). Classroom 50
accepts only integers, and the retired Classroom reporter adds floats in JavaScript, where 127 thirds and
quarters printed as ``126.99999999980002``. So the CI outputs count in **units**: ``scale`` units per course
point (Classroom 50: 100, hundredths of a point; the legacy reporter: 4, quarter points, which binary floats
hold exactly).

One test per target and input (``ex04 Linear: grad_bias``), plus one per target for rows about the whole op that
carry points (``ex07 TwoLayerMLP: training``). Rows worth nothing (``forward``, ``policy``) are not tests of their
own; a failure there fails every test of its target, since it is why those tests earn nothing.

- **Maxima.** An exercise is worth ``round(scale × points)`` units, shared among its tests by their points
  with the largest-remainder method, so the tests' maxima add up to exactly the exercise's.
- **Scores.** The exercise's score is its points earned in units, rounded down: never more than the student
  earned, and exactly the maximum when every test passed. It is shared among the tests so that they add up to
  it: a test that passed shows its maximum, one that failed its own points rounded down and at most its maximum
  less a unit (so it never looks full). Where rounding the maxima up would make the passed tests add up to more
  than the score, the passed tests whose maxima were rounded up give the unit back; what rounding down left
  over goes to the failed tests closest to their next unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from grader.results import Report, Row
from grader.spec import ExerciseSpec

CLASSROOM50_SCALE = 100
"""Classroom 50 units per course point: its scores are hundredths of the course's points."""

LEGACY_SCALE = 4
"""Legacy reporter units per course point: quarter points add up exactly in floating point."""

_EPS = 1e-9


@dataclass(frozen=True)
class Test:
    """One CI test: a target's input (or its whole-op rows that carry points), in whole units.

    Attributes:
        exercise: the exercise id.
        target: the Function's class name.
        subject: ``grad_<input>`` or the check (``training``).
        passed: every row of the test and every point-less row of its target passed.
        units: units earned.
        max_units: units available.
        failures: the failed rows behind it (its own and its target's point-less ones), for messages.
    """

    exercise: str
    target: str
    subject: str
    passed: bool
    units: int
    max_units: int
    failures: tuple[Row, ...]

    @property
    def name(self) -> str:
        return f"{self.exercise} {self.target}: {self.subject}"


def exercise_units(points: float, scale: int) -> int:
    """An exercise's maximum in units."""
    return round(points * scale)


def spec_points(exercise: ExerciseSpec) -> float:
    """An exercise's maximum in course points, from its spec alone (what a report of it would say)."""
    return float(sum(sum(target.points.values()) for target in exercise.targets))


def tests(report: Report, scale: int) -> list[Test]:
    """The report's tests in units (see the module docstring); empty for a report without points."""
    groups: dict[tuple[str, str], list[Row]] = {}
    pointless: dict[str, list[Row]] = {}
    for row in report.checks:
        if row.max_score > 0:
            groups.setdefault((row.target, f"grad_{row.input}" if row.input else row.check), []).append(row)
        elif not row.passed:
            pointless.setdefault(row.target, []).append(row)
    weights = [sum(r.max_score for r in rows) for rows in groups.values()]
    maxima = apportion(exercise_units(report.max_score, scale), weights)
    failures = [tuple(r for r in rows if not r.passed) + tuple(pointless.get(target, ()))
                for (target, _), rows in groups.items()]
    ideals = [scale * sum(r.score for r in rows) for rows in groups.values()]
    passed = [not failed for failed in failures]
    units = share(maxima, ideals, passed)
    return [Test(report.exercise, target, subject, ok, got, most, failed)
            for (target, subject), ok, got, most, failed in zip(groups, passed, units, maxima, failures, strict=True)]


def share(maxima: list[int], ideals: list[float], passed: list[bool]) -> list[int]:
    """Whole units per test that add up to ``floor(sum(ideals))`` (or the whole maximum when all passed).

    ``ideals`` are the units each test earned, unrounded. See the module docstring for the rule.
    """
    if all(passed):
        return list(maxima)
    caps = [m if ok else max(m - 1, 0) for m, ok in zip(maxima, passed, strict=True)]
    units = [m if ok else min(math.floor(i + _EPS), cap) for m, i, ok, cap in zip(maxima, ideals, passed, caps,
                                                                                  strict=True)]
    left = min(math.floor(sum(ideals) + _EPS), sum(maxima)) - sum(units)
    while left < 0:  # give back units that rounding up lent, from the test furthest above its own points
        i = max(range(len(units)), key=lambda k: (units[k] - ideals[k], -k))
        units[i] -= 1
        left += 1
    while left > 0:  # hand out what rounding down kept, to the test closest to its next unit
        open_ = [k for k in range(len(units)) if units[k] < caps[k]]
        if not open_:
            break
        i = max(open_, key=lambda k: (ideals[k] - units[k], -k))
        units[i] += 1
        left -= 1
    return units


def apportion(total: int, weights: Iterable[float]) -> list[int]:
    """Split ``total`` whole units in proportion to ``weights`` (largest remainders; ties go to the earlier).

    >>> apportion(500, [5 / 3, 5 / 3, 5 / 3])
    [167, 167, 166]
    """
    weights = list(weights)
    whole = sum(weights)
    if not weights or whole <= 0:
        return [0] * len(weights)
    quotas = [total * w / whole for w in weights]
    shares = [math.floor(q + _EPS) for q in quotas]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[:max(left, 0)]:
        shares[i] += 1
    return shares


def totals(found: list[Test]) -> tuple[int, int]:
    """``(units earned, units available)`` of a list of tests."""
    return sum(t.units for t in found), sum(t.max_units for t in found)
