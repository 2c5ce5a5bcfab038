"""The class counted for its summary, in one pass over the records: scores, mistakes, not attempted, troubles.

- A mistake is a target and the misconception: the pattern where a row names one (a catalogue entry or a
  generic pattern, :mod:`grader.patterns`), else the diagnosis. It is counted once per student however many
  inputs, checks and cases showed it; the inputs it hit are kept beside it, and the words for a pattern.
  The heat map counts diagnoses alone.
- An argument that gets no gradient (``dim``, ``keepdim``, ``stride``) has a ``contract`` row asking for
  ``None`` but no value row (``autograd``, ``gradcheck``); its rows count as the whole op's, never as an input's.
- ``not_implemented`` is "not attempted", not a mistake: it is counted per exercise and target.
- A crash, a timeout or a limit (:data:`TROUBLE_CODES`) lists the student among the troubles, not the mistakes.
- An exercise whose module could not be used (a syntax error, no module) or could not even be loaded (nothing
  ran: the first exception was raised while loading it) is a trouble too, and counts no mistakes.

Only counters are kept, so memory does not grow with the class.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from grader.batch.record import TROUBLE_CODES, StudentRecord
from grader.patterns import summary_text
from grader.results import Report, Row
from grader.scoring import VALUE_CHECKS

NOT_ATTEMPTED = "not_implemented"
LOADING = "(while loading your module)"
LOAD = "load error"

MistakeKey = tuple[str, str, str, str]
"""``(exercise, target, diagnosis, pattern)``; the pattern is ``""`` when the rows name none."""


@dataclass(frozen=True)
class Trouble:
    """One student's exercise that did not run normally: ``kind`` is ``error``, ``unusable``, :data:`LOAD` or a
    :data:`TROUBLE_CODES` code; ``detail`` says why, in the grader's words."""

    student: str
    exercise: str
    kind: str
    detail: str

    @property
    def cause(self) -> str:
        return cause(self.kind, self.detail)


@dataclass
class Tally:
    """What the summary needs, counted over the class.

    Attributes:
        students: every student with a record.
        graded: the students the grader could grade (no grader error).
        percents: each graded student's total as a percentage of the maximum.
        exercise_scores: exercise id to each graded student's score in it.
        graded_per_exercise: exercise id to how many students have a report for it (the share's denominator).
        mistakes: ``(exercise, target, diagnosis, pattern)`` to how many students made that mistake.
        inputs: the same key to the inputs it hit over the class, in the order first seen.
        whole: the keys that some student's mistake covered the whole op (a crash, an exception in forward).
        words: for a key with a pattern, what the summary says (from the first row seen).
        codes: ``(exercise, target, diagnosis)`` to how many students got that diagnosis (the heat map's cells).
        targets: ``(exercise, target)`` in the order first seen.
        not_attempted: exercise id to student to the targets they left as the stub.
        troubles: everything that did not run normally, one entry per student and exercise.
    """

    students: int = 0
    graded: int = 0
    percents: list[float] = field(default_factory=list)
    exercise_scores: dict[str, list[float]] = field(default_factory=dict)
    graded_per_exercise: Counter[str] = field(default_factory=Counter)
    mistakes: Counter[MistakeKey] = field(default_factory=Counter)
    inputs: dict[MistakeKey, dict[str, None]] = field(default_factory=dict)
    whole: set[MistakeKey] = field(default_factory=set)
    words: dict[MistakeKey, str] = field(default_factory=dict)
    codes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    targets: dict[tuple[str, str], None] = field(default_factory=dict)
    not_attempted: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    troubles: list[Trouble] = field(default_factory=list)

    def add(self, record: StudentRecord) -> None:
        """Count one more student."""
        self.students += 1
        self.troubles += [Trouble(record.student_id, t.exercise, t.kind, t.detail) for t in record.troubles()]
        if record.error:
            return
        self.graded += 1
        if record.max_score:
            self.percents.append(100.0 * record.score / record.max_score)
        for report in record.reports:
            _count(self, record, report)

    def share(self, key: MistakeKey) -> int:
        """The percentage of the exercise's students who made this mistake, rounded half up."""
        return self._percent(self.mistakes[key], key[0])

    def code_share(self, key: tuple[str, str, str]) -> int:
        """The percentage of the exercise's students whose rows of ``target`` got this diagnosis."""
        return self._percent(self.codes[key], key[0])

    def _percent(self, count: int, exercise: str) -> int:
        return int(100 * count / (self.graded_per_exercise[exercise] or 1) + 0.5)


def tally(records: Iterable[StudentRecord]) -> Tally:
    found = Tally()
    for record in records:
        found.add(record)
    return found


def _count(found: Tally, record: StudentRecord, report: Report) -> None:
    """Add one student's report of one exercise to ``found``."""
    found.exercise_scores.setdefault(report.exercise, []).append(report.score)
    found.graded_per_exercise[report.exercise] += 1
    found.targets.update(dict.fromkeys((report.exercise, r.target) for r in report.checks))
    if report.exercise in record.problems:
        return
    failure = load_failure(report)
    if failure:
        found.troubles.append(Trouble(record.student_id, report.exercise, LOAD, failure))
        return
    skipped = [target for target in dict.fromkeys(r.target for r in report.checks)
               if any(r.diagnosis == NOT_ATTEMPTED for r in report.checks if r.target == target)]
    if skipped:
        found.not_attempted.setdefault(report.exercise, {})[record.student_id] = tuple(skipped)
    found_codes: set[tuple[str, str, str]] = set()
    for (target, code, pattern), (names, words) in target_mistakes(report).items():
        key = (report.exercise, target, code, pattern)
        found.mistakes[key] += 1
        found.inputs.setdefault(key, {}).update(dict.fromkeys(names))
        if not names:
            found.whole.add(key)
        if words:
            found.words.setdefault(key, words)
        found_codes.add((report.exercise, target, code))
    found.codes.update(found_codes)


def load_failure(report: Report) -> str:
    """Why nothing of ``report`` ran, when the student's module raised while being loaded; else ``""``."""
    if not report.checks or any(r.passed for r in report.checks):
        return ""
    first = next((r.message for r in report.checks if r.diagnosis == "exception"), "")
    return first.split(LOADING)[0].strip() if LOADING in first else ""


def target_mistakes(report: Report) -> dict[tuple[str, str, str], tuple[tuple[str, ...], str]]:
    """``(target, diagnosis, pattern)`` to the inputs the mistake hit (``()`` for the whole op) and, for a pattern,
    the summary's words for it, for each mistake of ``report``.

    An input's pattern is the first one its failed rows with that diagnosis carry (``""`` for none), so the
    ``gradcheck`` row that cannot name a pattern does not count as a second mistake beside the ``autograd`` row
    that does. ``not_implemented`` and the :data:`TROUBLE_CODES` are left out (they are counted elsewhere), and
    an input without value rows (a python number such as ``dim``: it gets no gradient) counts as the whole op.
    """
    tensors = {(r.target, r.input) for r in report.checks if r.check in VALUE_CHECKS}
    per_input: dict[tuple[str, str, str], Row | None] = {}
    whole: set[tuple[str, str]] = set()
    for row in report.checks:
        if row.passed or row.diagnosis == NOT_ATTEMPTED or row.diagnosis in TROUBLE_CODES:
            continue
        if row.input is not None and (row.target, row.input) in tensors:
            key = (row.target, row.diagnosis, row.input)
            if per_input.get(key) is None:
                per_input[key] = row if row.pattern else None
        else:
            whole.add((row.target, row.diagnosis))
    found: dict[tuple[str, str, str], tuple[dict[str, None], str]] = {}
    for (target, code, name), first in per_input.items():
        if (target, code) in whole:
            continue
        key = (target, code, (first.pattern or "") if first else "")
        names, words = found.setdefault(key, ({}, summary_text(first) if first else ""))
        names[name] = None
    for target, code in whole:
        found[(target, code, "")] = ({}, "")
    return {key: (tuple(names), words) for key, (names, words) in found.items()}


_CAUSES = (
    ("no module found", re.compile(r"^no \S+ found|holds no \.py or \.ipynb|is not a \.py, \.ipynb or \.zip")),
    ("syntax error", re.compile(r"^syntax error|could not be parsed")),
    ("not UTF-8 text", re.compile(r"not UTF-8")),
    ("not a readable notebook", re.compile(r"notebook")),
    ("not a readable zip file", re.compile(r"zip file")),
    ("a symbolic link", re.compile(r"symbolic link")),
    ("class missing", re.compile(r"has no class")),
)
_KINDS = {"error": "the grader failed", "timeout": "timed out", "crashed": "crashed",
          "resource_limit": "hit a resource limit", LOAD: "raised while loading", "unusable": "could not be used"}
TERSE = ("no module found",)
"""Causes whose details all say the same thing, so the summary names the students and exercises only."""


def cause(kind: str, detail: str) -> str:
    """A short name for why a submission did not run, shared by every student it happened to."""
    if kind in ("unusable", LOAD):
        found = next((label for label, pattern in _CAUSES if pattern.search(detail)), None)
        if found:
            return found
    return _KINDS.get(kind, kind)


@dataclass(frozen=True)
class Hit:
    """One student's share of a cause: what happened (a :class:`Trouble` kind), in which exercises, the first detail."""

    student: str
    kind: str
    exercises: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class CauseGroup:
    """The students one cause happened to, in name order."""

    cause: str
    hits: tuple[Hit, ...]


def by_cause(troubles: list[Trouble]) -> list[CauseGroup]:
    """The troubles grouped by cause, the cause that hit the most students first (ties by name).

    A student's exercises with the same cause and kind are one :class:`Hit`, so a student who handed in one
    module of eleven is one line, not ten.
    """
    groups: dict[str, dict[tuple[str, str], tuple[list[str], str]]] = {}
    for t in troubles:
        exercises, _ = groups.setdefault(t.cause, {}).setdefault((t.student, t.kind), ([], t.detail))
        if t.exercise and t.exercise not in exercises:
            exercises.append(t.exercise)
    found = [CauseGroup(name, tuple(Hit(student, kind, tuple(ex), detail)
                                    for (student, kind), (ex, detail) in sorted(hits.items())))
             for name, hits in groups.items()]
    return sorted(found, key=lambda g: (-len({h.student for h in g.hits}), g.cause))


def not_attempted_lines(found: Tally, order: list[str]) -> list[tuple[str, int, str, list[str]]]:
    """``(exercise, students, what, names)`` per exercise and set of targets left as the stub, most students first.

    ``what`` is the targets, or ``""`` when the students left every target of an exercise that has several.
    """
    lines = []
    for exercise in order:
        everything = tuple(t for ex, t in found.targets if ex == exercise)
        groups: dict[tuple[str, ...], list[str]] = {}
        for student, targets in sorted(found.not_attempted.get(exercise, {}).items()):
            groups.setdefault(targets, []).append(student)
        lines += sorted(((exercise, len(names), "" if targets == everything and len(targets) > 1 else ", ".join(targets), names)
                         for targets, names in groups.items()), key=lambda line: -line[1])
    return lines
