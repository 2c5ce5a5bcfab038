"""Points: pure functions from rows and the spec's points to a report.

A target's points for a check are split evenly over that check's rows (every case, every input), so the
maximum is the same with and without hidden cases, and partial credit is per input: "grad_x right,
grad_weight wrong" earns the grad_x share.
"""

from __future__ import annotations

from collections import Counter

from grader.results import Row
from grader.spec import TargetSpec


def score_rows(target: TargetSpec, rows: list[Row]) -> list[Row]:
    per_check = Counter(row.check for row in rows)
    scored = []
    for row in rows:
        points = target.points.get(row.check, 0.0)
        share = points / per_check[row.check] if per_check[row.check] else 0.0
        scored.append(row.with_points(share if row.passed else 0.0, share))
    return scored


def totals(rows: list[Row] | tuple[Row, ...]) -> tuple[float, float]:
    return round(sum(r.score for r in rows), 9), round(sum(r.max_score for r in rows), 9)
