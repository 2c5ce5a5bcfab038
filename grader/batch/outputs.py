"""The class-level files, rebuilt from ``reports/`` after every run.

Because they depend only on the stored records (plus the roster), a run that was killed and re-run, or a
run that skipped everyone, writes exactly what an uninterrupted run writes. Feedback pages are rebuilt
here too, so a name from the roster reaches them; files whose bytes did not change are left alone.

An LMS file is only as good as the ids in it: :func:`identity_warnings` says which LMS files have rows their
LMS cannot match (no ``--roster``, or students the roster does not name) and which Canvas columns would
create new assignments. A grade is only as trustworthy as the sandbox it was computed in:
:func:`sandbox_gaps` finds the students graded without a layer of it (a cluster worker set up without
Landlock, say). The warnings go to ``ClassRecords.warnings`` for the summary, and back to the
command, which prints them at the end of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Protocol

from grader.batch import LMS_NAMES
from grader.batch.aside import aside
from grader.batch.record import Assignment, ClassRecords, StudentRecord
from grader.batch.roster import Roster
from grader.batch.state import write_atomic
from grader.ci import legacy as classroom
from grader.writers.sinks import Sink, feed, written
from grader.writers.tally import Tally

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
    return partial(written, lms_sink(name))


def lms_sink(name: str) -> Callable[[Sequence[Assignment], Path], Sink]:
    """What starts the :class:`~grader.writers.sinks.Sink` of ``--lms name`` for some assignments and a folder."""
    if name == "classroom":
        return ClassroomWriter
    if name not in LMS_NAMES:
        raise ValueError(f"unknown LMS {name!r}; expected one of {', '.join(LMS_NAMES)}")
    sink: Callable[[Sequence[Assignment], Path], Sink] = import_module(f"grader.writers.{name}").Writer
    return sink


class Progress(Protocol):
    """Where :func:`write_outputs` says how far it got (:class:`grader.batch.progress.ProgressBar`)."""

    def expecting(self, total: int) -> None: ...

    def advance(self, amount: float) -> None: ...


class _Silent:
    def expecting(self, total: int) -> None:
        pass

    def advance(self, amount: float) -> None:
        pass


def write_outputs(out: Path, students: Sequence[str], assignments: list[Assignment], lms: Sequence[str] = (),
                  roster: Roster | None = None, title: str = "", progress: Progress | None = None) -> Outputs:
    """Write feedback, ``gradebook.csv``, the summary and each ``--lms`` format for ``students`` (file keys).

    Every file comes from one read of each report (:mod:`grader.writers.sinks`). The files are in two shares that
    take about as long, measured at 240 students: this process counts the class for the summary and writes the
    tables (gradebook, Canvas, Moodle, Blackboard), Gradescope's results and JUnit; a copy of it on the machine's
    other core (:func:`grader.batch.aside.aside`) writes the feedback pages and the LTI and Classroom files. The
    summary's two pictures are drawn in copies too, once the class is counted. A class small enough to be kept
    in memory is read and counted first, so the pictures start before the tables, and the copies inherit the
    parsed class; a larger one is read by each of the two, and its pictures are drawn at the end.

    ``progress`` is told the number of students, then how far each pass of this process got through them (a
    class kept in memory takes two: each student is half a step in each). A class of thousands takes minutes
    here (~37 ms a student with twelve exercises, on two cores), after the last student was graded.
    """
    from grader.writers import gradebook, summary

    present = [s for s in students if (out / "reports" / f"{s}.json").is_file()]
    records = ClassRecords(out / "reports", present, assignments, roster)
    names = list(dict.fromkeys(lms))
    beside = [name for name in names if name in BESIDE]
    here = [name for name in names if name not in BESIDE]
    found, people = Tally(), _People()

    def the_summary() -> tuple[list[Path], Callable[[], None]]:
        unmatched = []
        if roster is not None:
            rows = roster.unmatched([r.identity for r in people.records])
            unmatched = [", ".join(f"{k}: {v}" for k, v in row.items()) for row in rows]
        records.warnings = people.sandbox_warnings() + identity_warnings(people.records, names, roster is not None,
                                                                         assignments)
        return summary.begin(records, out, title, unmatched, start=aside, found=found)

    early = records.kept
    steps = progress or _Silent()
    steps.expecting(len(records))
    step = 0.5 if early else 1.0
    if early:  # read and counted first: the pictures start now, and the copies made from here inherit the class
        for _ in _counted(records, found, people):
            steps.advance(step)
        pages, pictures = the_summary()
    feedback_written = aside(lambda: _write_beside(records, out, beside))
    sinks = [gradebook.Writer(assignments, out), *(lms_sink(name)(assignments, out) for name in here)]
    written = feed(_advancing(records if early else _counted(records, found, people), steps, step), sinks)
    if not early:
        pages, pictures = the_summary()
    paths = dict(zip(here, written[1:], strict=True))
    paths |= {name: lms_sink(name)(assignments, out).path for name in beside}
    feedback_written()
    pictures()
    return Outputs([out / "feedback", written[0], *pages, *(paths[name] for name in names)], records.warnings)


BESIDE = ("lti", "classroom")
"""The ``--lms`` files written beside the feedback pages, in the copy (:func:`write_outputs`)."""


def _write_beside(records: ClassRecords, out: Path, names: Sequence[str]) -> None:
    from grader.writers import feedback

    feed(records, [feedback.Writer(records.assignments, out), *(lms_sink(n)(records.assignments, out) for n in names)])


def _counted(records: Iterable[StudentRecord], found: Tally, people: _People) -> Iterator[StudentRecord]:
    """The records, each counted for the summary and noted for the warnings as it goes by."""
    for record in records:
        found.add(record)
        people.add(record)
        yield record


def _advancing(records: Iterable[StudentRecord], progress: Progress, step: float) -> Iterator[StudentRecord]:
    for record in records:
        yield record
        progress.advance(step)


class _People:
    """What the warnings need of each student, kept for the class: the record without its reports (ids, errors),
    and the sandbox layers it was graded without."""

    def __init__(self) -> None:
        self.records: list[StudentRecord] = []
        self._lacking: dict[str, set[str]] = {}

    def add(self, record: StudentRecord) -> None:
        self.records.append(replace(record, reports=(), output=""))
        lacking = sandbox_gaps(record)
        if lacking:
            self._lacking[record.student_id] = lacking

    def sandbox_warnings(self) -> list[str]:
        """One line when some students' code ran without an :data:`ISOLATION_LAYERS` layer (a Dask worker on a
        host without Landlock, say), naming the layers and the students; their reports' ``"sandbox"`` says
        which."""
        return _sandbox_text(self._lacking, len(self.records))


def identity_warnings(records: Sequence[StudentRecord] | ClassRecords, lms: Sequence[str], roster_given: bool,
                      assignments: Sequence[Assignment] | None = None) -> list[str]:
    """One line per ``--lms`` file whose LMS cannot match some rows, and one when Canvas columns lack ids
    (``assignments``: the class's, by default those of ``records`` when it is a :class:`ClassRecords`)."""
    if assignments is None:
        assignments = records.assignments if isinstance(records, ClassRecords) else []
    found = []
    for name in dict.fromkeys(lms):
        if name not in MATCHED_LMS:
            continue
        module = import_module(f"grader.writers.{name}")
        missing: list[str] = module.unmatched(records)
        if missing:
            found.append(_unmatched_text(name, module.NEEDS, missing, len(records), roster_given))
    if "canvas" in lms:
        bare = [a.id for a in assignments if not a.canvas_id]
        if bare:
            found.append(f"--lms canvas: no Canvas assignment id for {', '.join(bare)}, so importing canvas.csv "
                         f"creates new assignments; pass --canvas-assignment {bare[0]}=ID (the number in the "
                         "assignment's Canvas address) to fill the existing ones.")
    return found


def sandbox_gaps(record: StudentRecord) -> set[str]:
    """The :data:`ISOLATION_LAYERS` that some of the student's code ran without."""
    lacking: set[str] = set()
    for report in record.reports:
        if not report.sandbox:  # none of the student's code ran: unusable, or not graded
            continue
        layers = report.sandbox.get("layers")
        active = layers if isinstance(layers, dict) else {}
        lacking |= {name for name in ISOLATION_LAYERS if active.get(name) is not True}
    return lacking


def _sandbox_text(lacking: dict[str, set[str]], total: int) -> list[str]:
    if not lacking:
        return []
    students = list(lacking)
    missing = set().union(*lacking.values())
    return [f"{len(students)} of {total} students were graded by a sandbox without "
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


class ClassroomWriter(Sink):
    """``classroom/<student>.env``: ``EX04_RESULTS=<base64 JSON>`` per exercise, the variables the GitHub Classroom
    reporter reads (FORMATS.md), so a student's grade of record can be replayed through the reporter."""

    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "classroom"
        self._assignments = list(assignments)

    def add(self, record: StudentRecord) -> None:
        lines = []
        for a in self._assignments:
            report = record.report(a.id)
            if report is not None:
                data = classroom.result(report, error=record.error)
            else:
                data = {"version": 1, "status": "error", "max_score": a.max_score, "tests": []}
            lines.append(f"{a.id.upper()}_RESULTS={classroom.encode(data)}")
        write_atomic(self.path / f"{record.student}.env", "\n".join(lines) + "\n")


def write_classroom(records: ClassRecords, destination: Path) -> Path:
    """Every student's ``classroom/<student>.env`` (:class:`ClassroomWriter`)."""
    return written(ClassroomWriter, records, destination)
