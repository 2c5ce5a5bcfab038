"""Moodle grade import: ``moodle.csv``, one identity column, then a grade and a feedback column per exercise.

Moodle maps the columns during import, and matches students on one identity column. The first one every
student has is used: ``Email address``, then ``Username``, then ``ID number``; failing all three,
``Username`` with the student's id where the username is unknown (fix it with ``--roster``; :func:`unmatched`
lists those students). A student the grader could not grade gets empty cells.
"""

from __future__ import annotations

from pathlib import Path

from grader.batch.record import ClassRecords, Identity
from grader.batch.state import write_atomic
from grader.writers.feedback import brief
from grader.writers.gradebook import cell, score_cells, table_text

IDENTITY_COLUMNS = (("Email address", "email"), ("Username", "username"), ("ID number", "sis_id"))
NEEDS = "Moodle email address, username or ID number"


def identity_column(identities: list[Identity]) -> tuple[str, str]:
    """The column name and :class:`Identity` field Moodle should match on."""
    for column, name in IDENTITY_COLUMNS:
        if identities and all(getattr(i, name) for i in identities):
            return column, name
    return "Username", "username"


def unmatched(records: ClassRecords) -> list[str]:
    """The ids of the students without the identity column's value, whose row carries their student id instead."""
    _, name = identity_column([r.identity for r in records])
    return [r.student_id for r in records if not getattr(r.identity, name)]


def write(records: ClassRecords, destination: Path) -> Path:
    column, field = identity_column([r.identity for r in records])
    exercises = [a.id for a in records.assignments]
    header = [column]
    for a in records.assignments:
        header += [cell(f"{a.id} {a.title}"), cell(f"{a.id} feedback")]
    rows = [header]
    for record in records:
        row = [cell(getattr(record.identity, field) or record.student_id)]
        for ex, score in zip(exercises, score_cells(record, exercises), strict=True):
            report = record.report(ex)
            row += [score, cell(brief(report, record.problems.get(ex, ""))) if score and report is not None else ""]
        rows.append(row)
    path = destination / "moodle.csv"
    write_atomic(path, table_text(rows))
    return path
