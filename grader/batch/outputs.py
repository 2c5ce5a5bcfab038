"""The class-level files, rebuilt from ``reports/`` after every run.

Because they depend only on the stored records (plus the roster), a run that was killed and re-run, or a
run that skipped everyone, writes exactly what an uninterrupted run writes. Feedback pages are rebuilt
here too, so a name from the roster reaches them; files whose bytes did not change are left alone.

An LMS file is only as good as the ids in it: :func:`identity_warnings` says which LMS files have rows their
LMS cannot match (no ``--roster``, or students the roster does not name) and which Canvas columns would
create new assignments. A grade is only as trustworthy as the sandbox it was computed in:
:func:`sandbox_warnings` names the students graded without a layer of it (a cluster worker set up without
Landlock, say). The warnings go to ``ClassRecords.warnings`` for the summary, and back to the
command, which prints them at the end of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

from grader.batch import LMS_NAMES
from grader.batch.aside import aside
from grader.batch.record import Assignment, ClassRecords
from grader.batch.roster import Roster
from grader.batch.state import write_atomic
from grader.ci import legacy as classroom

Writer = Callable[[ClassRecords, Path], Path]
ISOLATION_LAYERS = ("environment", "seccomp", "landlock")
"""The sandbox layers every Linux grading machine should give (README, Isolation); a report without one of them
makes the summary warn. ``netns`` only backs up seccomp's rule on sockets, and ``unprivileged_user`` and
``no_fork`` apply only to root, so their absence is no warning."""
MATCHED_LMS = ("canvas", "moodle", "blackboard", "lti")
"""The writers whose rows an LMS matches to its own users; each has ``NEEDS`` and ``unmatched(records)``."""
NAMES_SHOWN = 8


@dataclass(frozen=True)
class Outputs:
    """What :func:`write_outputs` wrote, and what the instructor should be told about it (one line each)."""

    paths: list[Path]
    warnings: list[str] = field(default_factory=list)


def lms_writer(name: str) -> Writer:
    """The writer for ``--lms name``; imported on demand, so unused formats cost nothing."""
    if name == "classroom":
        return write_classroom
    if name not in LMS_NAMES:
        raise ValueError(f"unknown LMS {name!r}; expected one of {', '.join(LMS_NAMES)}")
    module = import_module(f"grader.writers.{name}")
    writer: Writer = module.write
    return writer


def write_outputs(out: Path, students: Sequence[str], assignments: list[Assignment], lms: Sequence[str] = (),
                  roster: Roster | None = None, title: str = "") -> Outputs:
    """Write feedback, ``gradebook.csv``, the summary and each ``--lms`` format for ``students`` (file keys)."""
    from grader.writers import feedback, gradebook, summary

    present = [s for s in students if (out / "reports" / f"{s}.json").is_file()]
    records = ClassRecords(out / "reports", present, assignments, roster)
    unmatched = []
    if roster is not None:
        rows = roster.unmatched([r.identity for r in records])
        unmatched = [", ".join(f"{k}: {v}" for k, v in row.items()) for row in rows]
    names = list(dict.fromkeys(lms))
    records.warnings = sandbox_warnings(records) + identity_warnings(records, names, roster is not None)
    # The summary's two pictures are a third to a half of this function's time at 24 students, and the feedback
    # pages about a seventh at 240 (~0.7 ms a student): both are made beside the gradebook and the LMS files, in
    # copies of this process on the machine's other core (at 240 students the class files took ~1.7 s after the
    # last student, all but the pictures on one core).
    pages, pictures = summary.begin(records, out, title, unmatched, start=aside)
    folder = out / "feedback"
    folder.mkdir(parents=True, exist_ok=True)

    def each_feedback() -> None:
        for record in records:
            feedback.write(record, folder)

    feedback_written = aside(each_feedback)
    paths = [folder, gradebook.write(records, out), *pages]
    paths += [lms_writer(name)(records, out) for name in names]
    feedback_written()
    pictures()
    return Outputs(paths, records.warnings)


def identity_warnings(records: ClassRecords, lms: Sequence[str], roster_given: bool) -> list[str]:
    """One line per ``--lms`` file whose LMS cannot match some rows, and one when Canvas columns lack ids."""
    found = []
    for name in dict.fromkeys(lms):
        if name not in MATCHED_LMS:
            continue
        module = import_module(f"grader.writers.{name}")
        missing: list[str] = module.unmatched(records)
        if missing:
            found.append(_unmatched_text(name, module.NEEDS, missing, len(records), roster_given))
    if "canvas" in lms:
        bare = [a.id for a in records.assignments if not a.canvas_id]
        if bare:
            found.append(f"--lms canvas: no Canvas assignment id for {', '.join(bare)}, so importing canvas.csv "
                         f"creates new assignments; pass --canvas-assignment {bare[0]}=ID (the number in the "
                         "assignment's Canvas address) to fill the existing ones.")
    return found


def sandbox_warnings(records: ClassRecords) -> list[str]:
    """One line when some students' code ran without an :data:`ISOLATION_LAYERS` layer (a Dask worker on a host
    without Landlock, say), naming the layers and the students; their reports' ``"sandbox"`` says which."""
    missing: set[str] = set()
    students = []
    for record in records:
        lacking = set()
        for report in record.reports:
            if not report.sandbox:  # none of the student's code ran: unusable, or not graded
                continue
            layers = report.sandbox.get("layers")
            active = layers if isinstance(layers, dict) else {}
            lacking |= {name for name in ISOLATION_LAYERS if active.get(name) is not True}
        if lacking:
            students.append(record.student_id)
            missing |= lacking
    if not students:
        return []
    return [f"{len(students)} of {len(records)} students were graded by a sandbox without "
            f"{', '.join(sorted(missing))} ({_names(students)}; \"sandbox\" in their reports says which), so their "
            "code could reach more of the grading machine than it should: grade on Linux hosts with Landlock and "
            "seccomp (README, Isolation)."]


def _names(students: list[str]) -> str:
    return ", ".join(students[:NAMES_SHOWN]) + (f" and {len(students) - NAMES_SHOWN} more"
                                                 if len(students) > NAMES_SHOWN else "")


def _unmatched_text(lms: str, needs: str, students: list[str], total: int, roster_given: bool) -> str:
    why = ("the --roster has no row for them, or their row lacks it" if roster_given
           else "no --roster was given; pass --roster CSV with the students' LMS ids")
    return (f"--lms {lms}: {len(students)} of {total} students have no {needs} ({_names(students)}), so the import "
            f"cannot match their rows: {why}.")


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
