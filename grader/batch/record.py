"""One student's graded result, as stored in ``reports/<student>.json``, and the class read back from them.

The file is the CONTRACT section 4 report for all graded exercises, plus one key, ``batch``: who the
student is (as the LMS download says), the resume key, the grading time, and what went wrong if the
submission could not be used or graded. Every class-level file is rebuilt from these files alone, so a
run that was killed and re-run writes the same bytes as one that never stopped.

Records are read lazily (:class:`ClassRecords` streams a large class from the folder on each pass), so
writing the outputs for a thousand students holds one student's reports in memory at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.results import SCHEMA, Report, Row, Substitution

if TYPE_CHECKING:
    from grader.batch.roster import Roster

TROUBLE_CODES = ("crashed", "timeout", "resource_limit")
"""Diagnoses that mean the student's process died or ran out of a limit, rather than computed a wrong answer."""

MAX_OUTPUT = 4000


@dataclass(frozen=True)
class Identity:
    """Who a student is, in each system's own terms; empty strings are unknown.

    Two names tell a student apart in a batch: :attr:`student_id`, the student as the download names them
    (``zoë_müller``, ``José``: what the gradebook, the LMS files and a roster's ``student`` column use), and
    :attr:`student`, the ASCII key derived from it for file names (``reports/<student>.json``) and the
    resume state (``zoe_muller-1c9e2f``). For a name that is already a safe file name the two are the same.

    Attributes:
        student: the file-name key: unique in the batch (also ignoring case), ASCII and file-name safe.
        name: a display name, ``"Doe, Jane"``.
        email: the student's email.
        username: the LMS login (Blackboard ``Username``, Canvas ``SIS Login ID``, Moodle ``username``).
        sis_id: the institution's student number (Canvas ``SIS User ID``, Moodle ``ID number``).
        lms_id: the LMS's own user id (Canvas ``ID``; a Canvas download's file names carry it).
        section: the course section.
        lti_id: the LTI 1.3 ``userId`` (the platform's ``sub``).
        github: the GitHub username (a GitHub Classroom folder name carries it).
        id: the student's id as the download names them, NFC-normalised Unicode, when it differs from ``student``
            (``""`` when they are the same); read it through :attr:`student_id`.
    """

    student: str
    name: str = ""
    email: str = ""
    username: str = ""
    sis_id: str = ""
    lms_id: str = ""
    section: str = ""
    lti_id: str = ""
    github: str = ""
    id: str = ""

    @property
    def student_id(self) -> str:
        """The student's real id (``zoë_müller``): what people and rosters call them, unlike the file key."""
        return self.id or self.student

    @property
    def display(self) -> str:
        """The name to show: the roster's name, else the real id."""
        return self.name or self.student_id

    def known(self) -> dict[str, str]:
        """The fields that are set, without ``student``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "student" and getattr(self, f.name)}

    def updated(self, values: dict[str, str]) -> Identity:
        """These fields replaced by the non-empty ``values`` (unknown keys and ``student`` are ignored)."""
        names = {f.name for f in fields(self)} - {"student"}
        return replace(self, **{k: v for k, v in values.items() if k in names and v})

    def keyed(self, student: str, student_id: str) -> Identity:
        """This identity under the file key ``student`` and the real id ``student_id`` (kept only if they differ)."""
        return replace(self, student=student, id="" if student_id == student else student_id)


@dataclass(frozen=True)
class Assignment:
    """One exercise as a gradebook column."""

    id: str
    title: str
    max_score: float
    canvas_id: str = ""
    """The Canvas assignment id (``--canvas-assignment ex04=12345``), so a Canvas import fills that assignment."""


@dataclass(frozen=True)
class StudentRecord:
    """Everything the batch knows about one student after grading.

    Attributes:
        identity: who the student is.
        reports: one report per graded exercise, in course order.
        graded_at: when grading finished, ISO 8601 UTC with microseconds (the LTI score's timestamp).
        key: the resume key: a hash of the submission's bytes, the specs, the options and the grader version.
        layout: which download layout the student was found in.
        source: the submission path(s), as given.
        problems: exercise id to why the submission had no usable module for it (syntax error, corrupt zip...).
        error: why the grader could not grade the submission at all (a grader bug), or ``""``.
        output: what the student's code printed (capped), shown escaped in the feedback.
    """

    identity: Identity
    reports: tuple[Report, ...]
    graded_at: str
    key: str = ""
    layout: str = "plain"
    source: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    error: str = ""
    output: str = ""

    @property
    def student(self) -> str:
        """The file-name key (``reports/<student>.json``)."""
        return self.identity.student

    @property
    def student_id(self) -> str:
        """The real id, for the gradebook, the LMS files and anything a person reads."""
        return self.identity.student_id

    @property
    def score(self) -> float:
        return round(sum(r.score for r in self.reports), 6)

    @property
    def max_score(self) -> float:
        return round(sum(r.max_score for r in self.reports), 6)

    def report(self, exercise: str) -> Report | None:
        return next((r for r in self.reports if r.exercise == exercise), None)

    def troubles(self) -> list[Trouble]:
        """Why this student belongs on the instructor's "crashed, timed out or could not be graded" list."""
        found = [Trouble("", "error", self.error)] if self.error else []
        found += [Trouble(ex, "unusable", why) for ex, why in sorted(self.problems.items())]
        if self.error:
            return found
        for report in self.reports:
            if report.exercise in self.problems:
                continue
            seen: dict[tuple[str, str], Row] = {}
            for row in report.checks:
                if row.diagnosis in TROUBLE_CODES:
                    seen.setdefault((row.target, row.diagnosis), row)
            found += [Trouble(report.exercise, code, f"{target}: {row.message}") for (target, code), row in seen.items()]
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "exercises": [r.to_dict() for r in self.reports],
            "score": self.score,
            "max_score": self.max_score,
            "batch": {
                "student": self.student, "identity": self.identity.known(), "layout": self.layout,
                "source": self.source, "key": self.key, "graded_at": self.graded_at, "error": self.error,
                "problems": dict(sorted(self.problems.items())), "output": self.output[:MAX_OUTPUT],
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudentRecord:
        batch = data["batch"]
        identity = Identity(student=str(batch["student"])).updated({k: str(v) for k, v in batch["identity"].items()})
        return cls(identity=identity, reports=tuple(report_from_dict(r) for r in data["exercises"]),
                   graded_at=str(batch["graded_at"]), key=str(batch.get("key", "")),
                   layout=str(batch.get("layout", "plain")), source=str(batch.get("source", "")),
                   problems={str(k): str(v) for k, v in batch.get("problems", {}).items()},
                   error=str(batch.get("error", "")), output=str(batch.get("output", "")))


@dataclass(frozen=True)
class Trouble:
    """One reason a submission did not run normally: ``error``, ``unusable``, or a :data:`TROUBLE_CODES` code."""

    exercise: str
    kind: str
    detail: str


_ROW_FIELDS = tuple(f.name for f in fields(Row))


_ROW_NAMES = frozenset(_ROW_FIELDS)


def report_from_dict(data: dict[str, Any]) -> Report:
    """The inverse of :meth:`Report.to_dict` (the printed output is not part of the JSON report)."""
    rows = tuple(_row(row) for row in data["checks"])
    return Report(exercise=data["exercise"], title=data["title"], score=float(data["score"]),
                  max_score=float(data["max_score"]), seed=int(data["seed"]), checks=rows,
                  sandbox=dict(data.get("sandbox", {})),
                  substitutions=tuple(Substitution(**s) for s in data.get("substitutions", ())))


def _row(data: dict[str, Any]) -> Row:
    """A :class:`Row` from its stored dict.

    A frozen dataclass sets each field through ``object.__setattr__``: ~7 µs a row, most of reading a report back
    (a student with every exercise has ~1,150 rows). A stored row has exactly the row's fields
    (:meth:`Report.to_dict`), so it becomes the instance's attributes as it is, in a quarter of the time; a row
    with other keys (a report written by another version) goes through the constructor, which drops unknown keys
    and fills the defaults."""
    if data.keys() == _ROW_NAMES:
        row = object.__new__(Row)
        row.__dict__.update(data)
        return row
    return Row(**{k: data[k] for k in _ROW_FIELDS if k in data})


def read_record(path: Path) -> StudentRecord:
    return StudentRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Group:
    """The rows of one target about one input (``input`` is ``None`` for forward, policy and training)."""

    exercise: str
    target: str
    input: str | None
    hidden: bool
    rows: tuple[Row, ...]

    @property
    def name(self) -> str:
        return f"{self.exercise} {self.target}: " + (f"grad_{self.input}" if self.input else "forward and policy")

    @property
    def failed(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if not r.passed)

    @property
    def score(self) -> float:
        return round(sum(r.score for r in self.rows), 6)

    @property
    def max_score(self) -> float:
        return round(sum(r.max_score for r in self.rows), 6)


def groups(report: Report, split_hidden: bool = False) -> list[Group]:
    """Rows grouped per target and input, in spec order: the unit of an LMS "test" and of a feedback line.

    With ``split_hidden``, hidden cases form their own groups, so a writer can show them later than the public ones.
    """
    found: dict[tuple[str, str | None, bool], list[Row]] = {}
    for row in report.checks:
        found.setdefault((row.target, row.input, row.hidden and split_hidden), []).append(row)
    return [Group(report.exercise, target, name, hidden, tuple(rows)) for (target, name, hidden), rows in found.items()]


def points(value: float) -> str:
    """Points as text for a file: at most 4 decimals, no trailing zeros (``7.3333``, ``9``)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


KEEP_IN_MEMORY = 256
"""Up to this many students, records read once are kept in memory; beyond it, each pass reads them as it goes
(the class files take one pass per process: :mod:`grader.writers.sinks`)."""


class ClassRecords:
    """The class, read back from ``reports/``: every writer iterates it.

    A small class is kept in memory after the first pass; a large one is streamed, one student in memory at a
    time, so memory does not grow with the class. Either way the class files read it once per process, every
    writer being fed in the same pass (:mod:`grader.writers.sinks`).

    Attributes:
        folder: the ``reports`` folder.
        students: the student keys to include, sorted.
        assignments: the graded exercises, as gradebook columns.
        roster: LMS ids to add to each student's identity, if a roster was given.
        warnings: one-line, plain-text warnings for the instructor about these outputs (an LMS file whose rows
            its LMS cannot match, say); :func:`grader.batch.outputs.write_outputs` fills it before the summary
            is written, so the summary can show them.
    """

    def __init__(self, folder: Path, students: list[str] | None = None, assignments: list[Assignment] | None = None,
                 roster: Roster | None = None) -> None:
        self.folder = folder
        self.students = sorted(students) if students is not None else sorted(p.stem for p in folder.glob("*.json"))
        self.roster = roster
        self.warnings: list[str] = []
        self._kept: dict[str, StudentRecord] | None = {} if len(self.students) <= KEEP_IN_MEMORY else None
        self.assignments = assignments if assignments is not None else self._assignments()

    def __iter__(self) -> Iterator[StudentRecord]:
        for student in self.students:
            record = self._kept.get(student) if self._kept is not None else None
            if record is None:
                record = read_record(self.folder / f"{student}.json")
                if self.roster is not None:
                    record = replace(record, identity=self.roster.identify(record.identity))
                if self._kept is not None:
                    self._kept[student] = record
            yield record

    def __len__(self) -> int:
        return len(self.students)

    @property
    def kept(self) -> bool:
        """Whether the class is kept in memory once read (a class of at most :data:`KEEP_IN_MEMORY` students)."""
        return self._kept is not None

    def _assignments(self) -> list[Assignment]:
        found: dict[str, Assignment] = {}
        for record in self:
            for report in record.reports:
                found.setdefault(report.exercise, Assignment(report.exercise, report.title, report.max_score))
        return [found[k] for k in sorted(found)]
