"""Points: pure functions from rows and the spec's points to a report.

A target's points for a check are split evenly over that check's rows (every case, every input), so the
maximum is the same with and without hidden cases, and partial credit is per input: "grad_x right,
grad_weight wrong" earns the grad_x share.

Two rules keep points honest:

- a target with a ``forbidden_api`` row earns 0 on all its rows: a gradient someone else worked out says
  nothing about the student's chain rule;
- ``contract`` rows gate and deduct: a contract row earns its share only where the same case's value rows
  (``autograd`` and ``gradcheck``) for that input all pass; for an argument that gets no gradient (``None``
  for ``stride``), where at least one value row of the case passes. Zeros, a constant or noise have the right
  shape, dtype and even linearity, but they match no value row, so they earn nothing.
"""

from __future__ import annotations

from collections import Counter

from grader.results import Row
from grader.spec import TargetSpec

VALUE_CHECKS = ("autograd", "gradcheck")


def score_rows(target: TargetSpec, rows: list[Row]) -> list[Row]:
    per_check = Counter(row.check for row in rows)
    forbidden = any(row.diagnosis == "forbidden_api" for row in rows)
    values: dict[tuple[str, str | None], list[bool]] = {}
    for row in rows:
        if row.check in VALUE_CHECKS:
            values.setdefault((row.case, row.input), []).append(row.passed)
            values.setdefault((row.case, None), []).append(row.passed)
    differentiable = {arg.name for arg in target.grad_args}
    scored = []
    for row in rows:
        points = target.points.get(row.check, 0.0)
        share = points / per_check[row.check] if per_check[row.check] else 0.0
        earns = row.passed and not forbidden
        if earns and row.check == "contract":
            earns = _contract_earns(row, values, differentiable)
        scored.append(row.with_points(share if earns else 0.0, share))
    return scored


def _contract_earns(row: Row, values: dict[tuple[str, str | None], list[bool]], differentiable: set[str]) -> bool:
    if row.input in differentiable:
        own = values.get((row.case, row.input), [])
        return bool(own) and all(own)
    return any(values.get((row.case, None), []))


def totals(rows: list[Row] | tuple[Row, ...]) -> tuple[float, float]:
    return round(sum(r.score for r in rows), 9), round(sum(r.max_score for r in rows), 9)
