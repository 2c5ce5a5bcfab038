"""Canvas gradebook import: ``canvas.csv``.

The header is ``Student,ID,SIS User ID,SIS Login ID,Section`` and then one column per exercise. Canvas matches
rows by ``ID`` (the Canvas user id, which the file names of a Canvas download carry) or ``SIS User ID``
(from ``--roster``). An exercise column is named ``<id> <title>``; Canvas creates an assignment for a column
whose name matches none, and the ``Points Possible`` row gives it its maximum. Rename a column to
``<Assignment name> (<assignment id>)`` to fill an existing assignment instead. A student the grader could
not grade gets empty cells, which Canvas leaves unchanged.
"""

from __future__ import annotations

from pathlib import Path

from grader.batch.record import ClassRecords, points
from grader.batch.state import write_atomic
from grader.writers.gradebook import cell, score_cells, table_text

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"


def write(records: ClassRecords, destination: Path) -> Path:
    exercises = [a.id for a in records.assignments]
    rows = [IDENTITY + [cell(f"{a.id} {a.title}") for a in records.assignments],
            [POINTS_POSSIBLE, "", "", "", ""] + [points(a.max_score) for a in records.assignments]]
    for record in records:
        who = record.identity
        rows.append([cell(who.display), cell(who.lms_id), cell(who.sis_id), cell(who.username), cell(who.section),
                     *score_cells(record, exercises)])
    path = destination / "canvas.csv"
    write_atomic(path, table_text(rows))
    return path
