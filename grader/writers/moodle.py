"""Moodle grade import: ``moodle.csv``, one identity column, then a grade and a feedback column per exercise.

Moodle maps the columns during import, and matches students on one identity column. The first one every
student has is used: ``Email address``, then ``Username``, then ``ID number``; failing all three,
``Username`` with the student's id where the username is unknown (fix it with ``--roster``; :func:`unmatched`
lists those students). A student the grader could not grade gets empty cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.batch.record import Assignment, ClassRecords, Identity, StudentRecord
from grader.batch.state import write_atomic
from grader.writers.feedback import brief
from grader.writers.gradebook import cell, score_cells, table_text
from grader.writers.sinks import Sink, written

IDENTITY_COLUMNS = (("Email address", "email"), ("Username", "username"), ("ID number", "sis_id"))
NEEDS = "Moodle email address, username or ID number"


def identity_column(identities: list[Identity]) -> tuple[str, str]:
    """The column name and :class:`Identity` field Moodle should match on."""
    for column, name in IDENTITY_COLUMNS:
        if identities and all(getattr(i, name) for i in identities):
            return column, name
    return "Username", "username"


def unmatched(records: Iterable[StudentRecord]) -> list[str]:
    """The ids of the students without the identity column's value, whose row carries their student id instead."""
    people = list(records)
    _, name = identity_column([r.identity for r in people])
    return [r.student_id for r in people if not getattr(r.identity, name)]


class Writer(Sink):
    """The identity column depends on every student's identity, so the rows wait for the class, without it."""

    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "moodle.csv"
        self._assignments = list(assignments)
        self._exercises = [a.id for a in assignments]
        self._rows: list[tuple[Identity, list[str]]] = []

    def add(self, record: StudentRecord) -> None:
        row = []
        for ex, score in zip(self._exercises, score_cells(record, self._exercises), strict=True):
            report = record.report(ex)
            row += [score, cell(brief(report, record.problems.get(ex, ""))) if score and report is not None else ""]
        self._rows.append((record.identity, row))

    def finish(self) -> Path:
        column, field = identity_column([who for who, _ in self._rows])
        header = [column]
        for a in self._assignments:
            header += [cell(f"{a.id} {a.title}"), cell(f"{a.id} feedback")]
        rows = [header] + [[cell(getattr(who, field) or who.student_id), *row] for who, row in self._rows]
        write_atomic(self.path, table_text(rows))
        return self.path


def write(records: ClassRecords, destination: Path) -> Path:
    return written(Writer, records, destination)
