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
from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.batch.record import Assignment, ClassRecords, StudentRecord, points
from grader.batch.state import write_atomic
from grader.escape import html
from grader.writers.feedback import brief
from grader.writers.gradebook import cell, table_text
from grader.writers.sinks import Sink, written

_HEADER_UNSAFE = re.compile(r"[\[\]|]")
NEEDS = "Blackboard Username"


def unmatched(records: Iterable[StudentRecord]) -> list[str]:
    """The ids of the students without a username, whose row carries their student id instead."""
    return [r.student_id for r in records if not r.identity.username]


class Writer(Sink):
    """One table per exercise, filled a student at a time."""

    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "blackboard"
        self._tables: dict[str, list[list[str]]] = {}
        for a in assignments:
            title = _HEADER_UNSAFE.sub(" ", f"{a.id.capitalize()} {a.title}")
            self._tables[a.id] = [["Username", cell(f"{title} [Total Pts: {points(a.max_score)} Score]"),
                                   "Feedback to Learner", "Feedback Format"]]

    def add(self, record: StudentRecord) -> None:
        who = cell(record.identity.username or record.student_id)
        for exercise, rows in self._tables.items():
            report = None if record.error else record.report(exercise)
            score = points(report.score) if report is not None else ""
            feedback = cell(html(brief(report, record.problems.get(exercise, "")))) if report is not None else ""
            rows.append([who, score, feedback, "HTML" if feedback else ""])

    def finish(self) -> Path:
        for exercise, rows in self._tables.items():
            write_atomic(self.path / f"{exercise}.csv", table_text(rows, quote_all=True))
        return self.path


def write(records: ClassRecords, destination: Path) -> Path:
    return written(Writer, records, destination)
