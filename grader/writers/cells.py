"""One cell of the inputs × checks table, shared by the terminal, feedback and notebook views."""

from __future__ import annotations

from grader.results import Row


def cell(rows: list[Row]) -> str:
    """``✓`` when every case passed, else the first failing case's diagnosis (and how many of the cases failed)."""
    if not rows:
        return ""
    failed = [r for r in rows if not r.passed]
    if not failed:
        return "✓"
    return failed[0].diagnosis + (f" ({len(failed)}/{len(rows)})" if len(failed) < len(rows) else "")
