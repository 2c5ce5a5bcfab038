"""The class-level files, rebuilt from ``reports/`` after every run.

Because they depend only on the stored records (plus the roster), a run that was killed and re-run, or a
run that skipped everyone, writes exactly what an uninterrupted run writes. Feedback pages are rebuilt
here too, so a name from the roster reaches them; files whose bytes did not change are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from grader.batch import LMS_NAMES
from grader.batch.record import Assignment, ClassRecords
from grader.batch.roster import Roster
from grader.batch.state import write_atomic
from grader.ci import legacy as classroom

Writer = Callable[[ClassRecords, Path], Path]


def lms_writer(name: str) -> Writer:
    """The writer for ``--lms name``; imported on demand, so unused formats cost nothing."""
    if name == "classroom":
        return write_classroom
    from importlib import import_module

    if name not in LMS_NAMES:
        raise ValueError(f"unknown LMS {name!r}; expected one of {', '.join(LMS_NAMES)}")
    module = import_module(f"grader.writers.{name}")
    writer: Writer = module.write
    return writer


def write_outputs(out: Path, students: Sequence[str], assignments: list[Assignment], lms: Sequence[str] = (),
                  roster: Roster | None = None, title: str = "") -> list[Path]:
    """Write feedback, ``gradebook.csv``, the summary and each ``--lms`` format for ``students``; return the paths."""
    from grader.writers import feedback, gradebook, summary

    present = [s for s in students if (out / "reports" / f"{s}.json").is_file()]
    records = ClassRecords(out / "reports", present, assignments, roster)
    folder = out / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        feedback.write(record, folder)
    paths = [folder, gradebook.write(records, out)]
    unmatched = []
    if roster is not None:
        rows = roster.unmatched([r.identity for r in records])
        unmatched = [", ".join(f"{k}: {v}" for k, v in row.items()) for row in rows]
    paths += summary.write(records, out, title, unmatched)
    paths += [lms_writer(name)(records, out) for name in dict.fromkeys(lms)]
    return paths


def write_classroom(records: ClassRecords, destination: Path) -> Path:
    """``classroom/<student>.env``: ``EX04_RESULTS=<base64 JSON>`` per exercise, the variables the GitHub Classroom
    reporter reads (FORMATS.md), so a student's grade of record can be replayed through the reporter."""
    folder = destination / "classroom"
    for record in records:
        lines = []
        for a in records.assignments:
            report = record.report(a.id)
            if report is not None:
                data = classroom.result(report, error=record.error)
            else:
                data = {"version": 1, "status": "error", "max_score": a.max_score, "tests": []}
            lines.append(f"{a.id.upper()}_RESULTS={classroom.encode(data)}")
        write_atomic(folder / f"{record.student}.env", "\n".join(lines) + "\n")
    return folder
