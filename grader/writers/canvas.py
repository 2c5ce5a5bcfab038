"""Canvas gradebook import: ``canvas.csv``.

The header is ``Student,ID,SIS User ID,SIS Login ID,Section`` and then one column per exercise. Canvas matches
rows by ``ID`` (the Canvas user id, which the file names of a Canvas download carry) or ``SIS User ID``
(from ``--roster``); :func:`unmatched` lists the students with neither. An exercise column is named
``<id> <title> (<assignment id>)`` when ``--canvas-assignment`` gave the id: the form of Canvas's own export,
which fills that existing assignment. Without an id it is ``<id> <title>``, and Canvas creates an assignment
for it, whose maximum the ``Points Possible`` row gives. A student the grader could not grade gets empty
cells, which Canvas leaves unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.batch.record import Assignment, ClassRecords, StudentRecord, points
from grader.batch.state import write_atomic
from grader.writers.gradebook import cell, score_cells, table_text
from grader.writers.sinks import Sink, written

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"
NEEDS = "Canvas ID or SIS User ID"


def column(assignment: Assignment) -> str:
    """The header of an exercise's column: ``ex04 Matrix multiply and Linear (12345)`` with a Canvas assignment id."""
    name = f"{assignment.id} {assignment.title}"
    return cell(f"{name} ({assignment.canvas_id})" if assignment.canvas_id else name)


def unmatched(records: Iterable[StudentRecord]) -> list[str]:
    """The ids of the students whose row Canvas cannot match: no Canvas ID and no SIS User ID."""
    return [r.student_id for r in records if not (r.identity.lms_id or r.identity.sis_id)]


class Writer(Sink):
    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "canvas.csv"
        self._exercises = [a.id for a in assignments]
        self._rows = [IDENTITY + [column(a) for a in assignments],
                      [POINTS_POSSIBLE, "", "", "", ""] + [points(a.max_score) for a in assignments]]

    def add(self, record: StudentRecord) -> None:
        who = record.identity
        self._rows.append([cell(who.display), cell(who.lms_id), cell(who.sis_id), cell(who.username),
                           cell(who.section), *score_cells(record, self._exercises)])

    def finish(self) -> Path:
        write_atomic(self.path, table_text(self._rows))
        return self.path


def write(records: ClassRecords, destination: Path) -> Path:
    return written(Writer, records, destination)
