"""Result types: one row per check, and the report that collects them (CONTRACT section 4).

Rows are plain frozen dataclasses so that they serialise to the JSON report without custom encoders and
can be built by pure functions (checks, diagnosis, scoring) that never see student code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

SCHEMA = "grader-report/1"

CHECK_KINDS = ("forward", "policy", "contract", "autograd", "gradcheck", "training")


@dataclass(frozen=True)
class Row:
    """One check of one target on one case, for one forward input (or ``None`` for whole-op checks).

    Attributes:
        target: the ``autograd.Function`` class name, e.g. ``"Linear"``.
        check: one of :data:`CHECK_KINDS`.
        case: the case name from the spec, e.g. ``"public-1"``.
        input: the forward argument the gradient belongs to, or ``None``.
        passed: whether the check passed.
        score: points earned (set by :mod:`grader.scoring`).
        max_score: points available for this row (set by :mod:`grader.scoring`).
        diagnosis: a CONTRACT section 5 code; ``"ok"`` when passed.
        message: what went wrong, with the numbers, in words a student understands.
        hint: one line on what to try next (empty when passed).
        hidden: whether the case came from hidden.yaml.
        pattern: on a failed row, the misconception it matched beyond its code: the id of an entry of the
            exercise's catalogue or a generic id (:data:`grader.patterns.GENERIC`); ``None`` when nothing more
            specific than the code is known.
    """

    target: str
    check: str
    case: str
    input: str | None
    passed: bool
    diagnosis: str
    message: str
    hint: str = ""
    score: float = 0.0
    max_score: float = 0.0
    hidden: bool = False
    pattern: str | None = None

    def with_points(self, earned: float, available: float) -> Row:
        return replace(self, score=earned, max_score=available)


@dataclass(frozen=True)
class Substitution:
    """An op of an earlier exercise that a capstone ran in the reference's version instead of the student's.

    Attributes:
        exercise: the earlier exercise, e.g. ``"ex08"``.
        target: the op, e.g. ``"LayerNorm"``.
        reason: ``"missing"`` (no module, or no such class in it) or the diagnosis of the op's first failed
            row on its own exercise's public cases (``"wrong_values"``, ``"not_implemented"``, ...).
        message: the same in words, for the student: what was wrong and that the reference took its place.
    """

    exercise: str
    target: str
    reason: str
    message: str


@dataclass(frozen=True)
class Report:
    """The graded result of one exercise.

    Attributes:
        exercise: the exercise id, e.g. ``"ex04"``.
        title: the exercise title from its spec.
        score: the sum of row scores.
        max_score: the sum of row maxima.
        seed: the seed that generated every input; ``--seed`` reproduces the run.
        checks: the rows, in the order targets and cases appear in the spec.
        output: what the student's code printed (capped), for display only, never in ``--json`` stdout.
        sandbox: the isolation layers that were active.
        substitutions: the earlier ops a capstone ran as the reference's, because the student's were wrong or
            missing (so one mistake is not paid twice); in the JSON only when there are any.
    """

    exercise: str
    title: str
    score: float
    max_score: float
    seed: int
    checks: tuple[Row, ...]
    output: str = ""
    sandbox: dict[str, Any] = field(default_factory=dict)
    substitutions: tuple[Substitution, ...] = ()

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT section 4 report as plain data (the ``hint`` and ``substitutions`` fields are additions)."""
        data = {
            "schema": SCHEMA,
            "exercise": self.exercise,
            "title": self.title,
            "score": round(self.score, 6),
            "max_score": round(self.max_score, 6),
            "seed": self.seed,
            "sandbox": dict(self.sandbox),
            "checks": [{name: getattr(row, name) for name in _ROW_FIELDS} for row in self.checks],
        }
        if self.substitutions:
            data["substitutions"] = [asdict(s) for s in self.substitutions]
        return data


_ROW_FIELDS = tuple(f.name for f in fields(Row))
"""A row's fields, in order: every value is a str, number, bool or None, so the row as a dict is these, as they
are (what :func:`dataclasses.asdict` gives, which deep-copies each: a tenth of a batch's time on a Dask worker)."""


def combined_dict(reports: list[Report]) -> dict[str, Any]:
    """The report for ``grade all``: every exercise's report plus the totals."""
    return {
        "schema": SCHEMA,
        "exercises": [report.to_dict() for report in reports],
        "score": round(sum(r.score for r in reports), 6),
        "max_score": round(sum(r.max_score for r in reports), 6),
    }
