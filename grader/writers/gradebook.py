"""``gradebook.csv``: one row per student, one column per exercise, then ``total`` and ``error``.

The ``student`` column is the student's id exactly as the download names them (``zoë_müller``), not the
file key of their report and feedback files.

A student the grader could not grade keeps a row, with empty scores and the reason in ``error``, so nobody
silently gets a zero for a grader bug; a submission that could not be used (no module, a syntax error, a
refused file) scores 0 for that exercise, and ``error`` says why. The LMS writers (Canvas, Moodle,
Blackboard) are dialects of this table and share :func:`cell` and :func:`table_text`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.batch.record import Assignment, ClassRecords, StudentRecord, points
from grader.batch.state import write_atomic
from grader.escape import printable
from grader.writers.sinks import Sink, written

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    """Text for a spreadsheet cell: one line, control characters escaped, and never read as a formula.

    Spreadsheets evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@``; a student's exception message
    could start that way, so such text gets a leading apostrophe (which spreadsheets hide).
    """
    flat = printable(text).replace("\r", " ").replace("\n", " ")
    return "'" + flat if flat.startswith(_FORMULA_START) else flat


def table_text(rows: Iterable[Sequence[str]], quote_all: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return buffer.getvalue()


def score_cells(record: StudentRecord, exercises: Sequence[str]) -> list[str]:
    """Each exercise's points (empty when the student was not graded or the exercise is missing)."""
    if record.error:
        return ["" for _ in exercises]
    reports = [record.report(ex) for ex in exercises]
    return [points(r.score) if r is not None else "" for r in reports]


def reason(record: StudentRecord) -> str:
    """Why the student was not graded, or which exercises could not use their submission and why."""
    return record.error or "; ".join(f"{ex}: {why}" for ex, why in sorted(record.problems.items()))


class Writer(Sink):
    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "gradebook.csv"
        self._exercises = [a.id for a in assignments]
        self._rows: list[list[str]] = [["student", *self._exercises, "total", "error"]]

    def add(self, record: StudentRecord) -> None:
        total = "" if record.error else points(record.score)
        self._rows.append([cell(record.student_id), *score_cells(record, self._exercises), total,
                           cell(reason(record))])

    def finish(self) -> Path:
        write_atomic(self.path, table_text(self._rows))
        return self.path


def write(records: ClassRecords, destination: Path) -> Path:
    return written(Writer, records, destination)
