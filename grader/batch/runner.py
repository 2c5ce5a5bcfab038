"""Grading a class: a pool of worker threads, each owning one torch-preloaded sandbox server.

Why threads: the student's code runs in the sandbox server's forked children, which are separate processes
and run in parallel; what the grading process does per student (load the cached cases, compare arrays,
write a JSON file) is small next to that, so threads give the parallelism without a second copy of the
grader per worker. Nothing is started per submission: each server imported torch once.

Order of work, so that nothing finished is ever lost and nothing unchanged is redone:

1. every submission is read and hashed in the main thread (cheap: bytes only) to find who needs grading;
2. the servers start (their torch import overlaps with computing the reference cases here, once);
3. workers take students from a queue; each finished student's record is written atomically at once;
4. the main thread collects outcomes for the progress display. On Ctrl-C it stops handing out students,
   lets the in-flight ones finish (each within its time limit; a second Ctrl-C abandons them), and closes
   the servers. A ``kill -9`` loses only the in-flight ones.

Grading a student (:func:`grade_record`: submission in, record out, nothing written) is apart from writing
the record, so a Dask cluster (:mod:`grader.batch.cluster`) grades on its workers with the same function
while this process writes every file, exactly as the threads do.

Nothing is left behind: the next batch first removes the work folders (student code) of sandbox servers that
a ``kill -9`` ended (:mod:`grader.sandbox.workdirs`), and every batch removes ``OUT/.unpacked`` when it ends
(:mod:`grader.batch.unpack`).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from grader.batch.interrupts import sigint_ignored
from grader.batch.layouts import Entry
from grader.batch.record import Assignment, StudentRecord
from grader.batch.state import spec_key, stored_key, student_key, write_atomic
from grader.batch.unpack import clean, explain
from grader.probe import Failure
from grader.results import Report
from grader.sandbox import workdirs
from grader.sandbox.client import SandboxServer
from grader.sandbox.spawn import ready_for_batch
from grader.spec import CourseSpec, ExerciseSpec, load_exercise
from grader.submission import Submission


@dataclass(frozen=True)
class Plan:
    """What every student is graded on: the course, the exercises (with hidden cases or not) and the seed."""

    course: CourseSpec
    exercises: tuple[ExerciseSpec, ...]
    hidden: bool
    seed: int
    key: str

    @property
    def assignments(self) -> list[Assignment]:
        """Gradebook columns; a target's points are split over its rows, so its maximum is the sum of its points."""
        return [Assignment(ex.id, ex.title, round(sum(sum(t.points.values()) for t in ex.targets), 6))
                for ex in self.exercises]


def make_plan(course: CourseSpec, exercises: Sequence[str] = ("all",), hidden: bool = True,
              seed: int | None = None) -> Plan:
    """Resolve exercise names (``ex04``, ``4``, a slug or ``all``) in course order and load their specs."""
    wanted = {slug for name in exercises for slug in course.resolve(name)}
    specs = tuple(load_exercise(course, slug, hidden=hidden) for slug in course.exercises if slug in wanted)
    seed = course.seed if seed is None else seed
    return Plan(course, specs, hidden, seed, spec_key(course, specs, hidden, seed))


def warm_cases(plan: Plan) -> None:
    """Compute (or load) every target's reference cases once, before the workers need them all at the same time.

    The grading modules are imported here too (torch, for the static scan), while the sandbox servers start:
    importing this module stays light, so a Dask client that grades nothing itself never imports torch.
    """
    import grader.grading  # noqa: F401
    from grader.cases import build_cases, training_data

    for exercise in plan.exercises:
        for index, target in enumerate(exercise.targets):
            build_cases(exercise, index, plan.seed, plan.course.grad_outputs)
            if target.training is not None:
                training_data(exercise, index, plan.seed)


@dataclass(frozen=True)
class Outcome:
    """How one student went, for the progress display and the benchmark (not stored anywhere).

    Attributes:
        student: the student key.
        status: ``graded``; ``failed`` (crashed, timed out, unusable or not gradable: see the summary);
            or ``unchanged`` (skipped: the stored result is still valid).
        score: total points.
        max_score: total maximum.
        seconds: wall time for this student in the worker, from reading the submission to the written file.
        check_seconds: of which grading proper (:func:`grader.grading.grade_module`).
        error: why the grader could not grade the student at all (a grader bug), or ``""``.
    """

    student: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    check_seconds: float = 0.0
    error: str = ""

    @classmethod
    def of(cls, record: StudentRecord, seconds: float, check_seconds: float) -> Outcome:
        """How the student whose ``record`` was just written went."""
        status = "failed" if record.troubles() else "graded"
        return cls(record.student, status, record.score, record.max_score, seconds, check_seconds, record.error)


class Listener(Protocol):
    """Told about progress from the main thread (the progress bar, the benchmark)."""

    def started(self, total: int, unchanged: int) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...

    def stopping(self, in_flight: int) -> None:
        """Ctrl-C: no new student starts; the ``in_flight`` ones are finished and kept (a Dask cluster cancels
        them instead, and says 0)."""


def now() -> str:
    """The grading time, ISO 8601 UTC with microseconds; ``$SOURCE_DATE_EPOCH`` pins it (reproducible outputs)."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    moment = datetime.fromtimestamp(int(pinned), timezone.utc) if pinned.isdigit() else datetime.now(timezone.utc)
    return moment.isoformat(timespec="microseconds")


def grade_class(entries: Sequence[Entry], out: Path, plan: Plan, jobs: int = 1, force: bool = False,
                servers: Sequence[SandboxServer] | None = None, listener: Listener | None = None,
                clock: Callable[[], str] = now) -> list[Outcome]:
    """Grade every entry whose stored result is out of date into ``out/reports/<student>.json``.

    ``servers``, when given, are used as they are (one worker each) and left running; otherwise ``jobs``
    servers are started and closed here. First the work folders of a killed run's sandbox servers are removed
    (:func:`grader.sandbox.workdirs.sweep`); at the end, however it ends, ``out/.unpacked`` is (a class zip is
    unpacked again by the next run: :mod:`grader.batch.unpack`).
    """
    workdirs.sweep()
    try:
        return _grade_class(entries, out, plan, jobs, force, servers, listener, clock)
    finally:
        clean(out)


def prepare(entries: Sequence[Entry], out: Path, plan: Plan, force: bool, listener: Listener | None
            ) -> tuple[Path, list[Entry], list[Outcome]]:
    """The ``reports`` folder (created, torn writes removed), the entries to grade, and the outcomes of the others.

    The listener is told the totals and every unchanged student, so a pool of threads and a Dask cluster
    resume and report progress the same way.
    """
    folder = out / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    for torn in folder.glob(".*.tmp"):  # left by a kill in the middle of a write: never a valid record
        torn.unlink(missing_ok=True)
    todo = [e for e in entries if force or _out_of_date(plan, e, folder)]
    waiting = {e.student for e in todo}
    outcomes = [Outcome(e.student, "unchanged") for e in entries if e.student not in waiting]
    if listener:
        listener.started(len(entries), len(outcomes))
        for outcome in outcomes:
            listener.finished(outcome)
    return folder, todo, outcomes


HUGE_PAGES_FROM = 20
"""Students from which a batch has the zygote collapse its memory into huge pages before forking its servers:
~45 ms once against a few ms of CPU saved on each student's fork, run and exit (:mod:`grader.sandbox.hugepages`;
at 24 students the two about cancel, at 96 the batch took 0.96× the time)."""


def _grade_class(entries: Sequence[Entry], out: Path, plan: Plan, jobs: int, force: bool,
                 servers: Sequence[SandboxServer] | None, listener: Listener | None, clock: Callable[[], str]
                 ) -> list[Outcome]:
    folder, todo, outcomes = prepare(entries, out, plan, force, listener)
    if not todo:
        return outcomes
    own = servers is None
    if own and len(todo) >= HUGE_PAGES_FROM:
        ready_for_batch()
    pool = list(servers) if servers is not None else [SandboxServer() for _ in range(max(1, min(jobs, len(todo))))]
    if own:
        with sigint_ignored():
            for server in pool:
                server.start()
    tasks: queue.SimpleQueue[Entry] = queue.SimpleQueue()
    for entry in todo:
        tasks.put(entry)
    results: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
    stop = threading.Event()
    threads = [threading.Thread(target=_work, args=(server, tasks, results, stop, plan, folder, clock),
                                name=f"grade-worker-{i}", daemon=True) for i, server in enumerate(pool)]
    try:
        warm_cases(plan)
        for thread in threads:
            thread.start()
        for outcome in _collect(results, threads, len(todo)):
            outcomes.append(outcome)
            if listener:
                listener.finished(outcome)
    except KeyboardInterrupt:
        stop.set()
        if listener:
            listener.stopping(sum(t.is_alive() for t in threads))
        raise
    finally:
        stop.set()
        for thread in threads:
            if thread.ident is not None:
                thread.join()
        if own:
            for server in pool:
                server.close()
    return outcomes


def _collect(results: queue.SimpleQueue[Outcome], threads: list[threading.Thread], expected: int) -> Iterator[Outcome]:
    """Outcomes as they arrive; the short timeout keeps the main thread responsive to Ctrl-C."""
    received = 0
    while received < expected:
        try:
            outcome = results.get(timeout=0.1)
        except queue.Empty:
            if not any(t.is_alive() for t in threads) and results.empty():
                return
            continue
        received += 1
        yield outcome


def load(entry: Entry) -> Submission:
    """The entry's submission, with the reason for each member of a class zip that was left out (never a
    "dangling link" for a file that was too large or damaged: :func:`grader.batch.unpack.explain`)."""
    return explain(entry.load(), entry.paths)


def _out_of_date(plan: Plan, entry: Entry, folder: Path) -> bool:
    """Whether the stored record is missing, was not graded (empty key), or was graded from other inputs."""
    try:
        key = student_key(plan.key, load(entry))
    except Exception:  # noqa: BLE001 - an unreadable entry is graded (and reported) by a worker
        return True
    return stored_key(folder / f"{entry.student}.json") != key


def _work(server: SandboxServer, tasks: queue.SimpleQueue[Entry], results: queue.SimpleQueue[Outcome],
          stop: threading.Event, plan: Plan, folder: Path, clock: Callable[[], str]) -> None:
    while not stop.is_set():
        try:
            entry = tasks.get_nowait()
        except queue.Empty:
            return
        results.put(grade_entry(entry, plan, server, folder, clock))


def read(entry: Entry) -> Submission | str:
    """The entry's submission (bytes in memory, never executed), or why the grader could not read it at all."""
    try:
        return load(entry)
    except Exception as exc:  # noqa: BLE001 - one student's failure must never stop the class
        return describe(exc)


def describe(exc: BaseException) -> str:
    """An exception as a record's ``error``: ``RuntimeError: grader bug``."""
    return f"{type(exc).__name__}: {exc}"


def grade_entry(entry: Entry, plan: Plan, server: SandboxServer, folder: Path, clock: Callable[[], str] = now
                ) -> Outcome:
    """Grade one student and write their record; nothing a submission does can make this raise."""
    started = time.perf_counter()
    record, checks = grade_record(entry, read(entry), plan, server, clock)
    write_atomic(folder / f"{entry.student}.json", record.to_json())
    return Outcome.of(record, time.perf_counter() - started, checks)


def grade_record(entry: Entry, submission: Submission | str, plan: Plan, server: SandboxServer,
                 clock: Callable[[], str] = now) -> tuple[StudentRecord, float]:
    """One student's record, and the seconds spent grading proper; nothing is written, and nothing a submission
    does can make this raise. The pool of threads and the Dask workers (:mod:`grader.batch.worker`) both call it.

    ``submission`` is the entry's, as :func:`read` gives it (a string: why it could not be read). A record
    whose grading raised keeps an empty key, so the next run tries that student again.
    """
    checks = 0.0
    key = output = ""
    error = submission if isinstance(submission, str) else ""
    problems: dict[str, str] = {}
    reports: list[Report] = []
    if not isinstance(submission, str):
        try:
            key = student_key(plan.key, submission)
            reports, problems, output, checks = _grade(submission, plan, server)
        except Exception as exc:  # noqa: BLE001 - one student's failure must never stop the class
            key, error = "", describe(exc)
    if error:
        reports, problems = ungraded(plan, f"the grader could not grade this submission: {error}", server), {}
    record = StudentRecord(identity=entry.identity, reports=tuple(reports), graded_at=clock(), key=key,
                           layout=entry.layout, source=entry.source, problems=problems, error=error, output=output)
    return record, checks


def _grade(submission: Submission, plan: Plan, server: SandboxServer
           ) -> tuple[list[Report], dict[str, str], str, float]:
    from grader.grading import grade_module  # torch, for the static scan: see warm_cases
    from grader.uses import gather

    reports, problems, printed, checks = [], {}, [], 0.0
    for exercise in plan.exercises:
        module = gather(exercise, submission, submission.module(exercise.slug, exercise.module))
        if isinstance(module, str):
            problems[exercise.id] = module
        started = time.perf_counter()
        report = grade_module(plan.course, exercise, module, server, plan.seed)
        checks += time.perf_counter() - started
        reports.append(report)
        if report.output:
            printed.append(f"[{exercise.id}]\n{report.output}")
    return reports, problems, "".join(printed), checks


def ungraded(plan: Plan, why: str | Failure, server: SandboxServer | None = None) -> list[Report]:
    """Zero reports whose rows all say ``why`` (a message is an ``exception``; a :class:`Failure` brings its own
    code). No student code runs for them, so ``server`` is never started: the Dask client has none."""
    from grader.grading import grade_module

    try:
        return [grade_module(plan.course, ex, why, server or SandboxServer(), plan.seed) for ex in plan.exercises]
    except Exception:  # noqa: BLE001 - the record still says why, with no rows
        return []
