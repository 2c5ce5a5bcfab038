"""Blackboard Learn Grade Center upload: ``blackboard/<exercise>.csv``, one file per exercise.

Rows are keyed by ``Username`` (the LMS login from ``--roster``, else the student's id: see
:func:`unmatched`). The grade column is ``<title> [Total Pts: <max> Score]``, which creates a new column;
append ``|<column id>`` to its header to fill an existing one. Feedback columns apply to the single grade
column of a file, hence one file per exercise. The feedback is HTML with the student's text escaped, and
every value is quoted. A student the grader could not grade gets empty cells, which Blackboard leaves
unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.batch.record import ClassRecords, points
from grader.batch.state import write_atomic
from grader.escape import html
from grader.writers.feedback import brief
from grader.writers.gradebook import cell, table_text

_HEADER_UNSAFE = re.compile(r"[\[\]|]")
NEEDS = "Blackboard Username"


def unmatched(records: ClassRecords) -> list[str]:
    """The ids of the students without a username, whose row carries their student id instead."""
    return [r.student_id for r in records if not r.identity.username]


def write(records: ClassRecords, destination: Path) -> Path:
    folder = destination / "blackboard"
    for a in records.assignments:
        title = _HEADER_UNSAFE.sub(" ", f"{a.id.capitalize()} {a.title}")
        rows = [["Username", cell(f"{title} [Total Pts: {points(a.max_score)} Score]"), "Feedback to Learner",
                 "Feedback Format"]]
        for record in records:
            report = None if record.error else record.report(a.id)
            score = points(report.score) if report is not None else ""
            feedback = cell(html(brief(report, record.problems.get(a.id, "")))) if report is not None else ""
            rows.append([cell(record.identity.username or record.student_id), score, feedback, "HTML" if feedback else ""])
        write_atomic(folder / f"{a.id}.csv", table_text(rows, quote_all=True))
    return folder
