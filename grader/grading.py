"""Grading one exercise: spec, submission, cases, sandbox, checks, scoring, as data flowing through.

This is the API the CLI, the batch runner and the notebook helper call. Keyword arguments match the CLI's
options.
"""

from __future__ import annotations

from pathlib import Path

from grader.cases import Case, build_cases
from grader.checks import CHECKS, Context
from grader.policy import forbidden_calls
from grader.probe import Failure, Observation, build_job, observe
from grader.results import Report, Row
from grader.sandbox.client import SandboxServer
from grader.scoring import score_rows, totals
from grader.spec import CourseSpec, ExerciseSpec, TargetSpec, load_exercise
from grader.submission import Module, Submission


def grade_exercise(course: CourseSpec, slug: str, submission: Submission, server: SandboxServer,
                   hidden: bool = False, seed: int | None = None) -> Report:
    exercise = load_exercise(course, slug, hidden=hidden)
    seed = course.seed if seed is None else seed
    module = submission.module(slug, exercise.module)
    return grade_module(course, exercise, module, server, seed)


def grade_module(course: CourseSpec, exercise: ExerciseSpec, module: Module | str, server: SandboxServer, seed: int,
                 only: str | None = None) -> Report:
    """Grade one module (or, given a message, an unusable submission) against every target (or ``only`` one)."""
    rows: list[Row] = []
    printed: list[str] = []
    for index, target in enumerate(exercise.targets):
        if only is not None and target.name != only:
            continue
        cases = build_cases(exercise, index, seed, course.grad_outputs)
        observations, static = _observe(course, exercise, target, cases, module, server, printed)
        rows.extend(score_rows(target, _rows(target, cases, observations, static)))
    score, max_score = totals(rows)
    sandbox = {"server": "fork", **server.info} if not isinstance(module, str) else {}
    sandbox.pop("pid", None)
    return Report(exercise=exercise.id, title=exercise.title, score=score, max_score=max_score, seed=seed,
                  checks=tuple(rows), output="".join(printed), sandbox=sandbox)


def _observe(course: CourseSpec, exercise: ExerciseSpec, target: TargetSpec, cases: list[Case],
             module: Module | str, server: SandboxServer, printed: list[str]
             ) -> tuple[list[Observation], tuple[str, ...]]:
    if isinstance(module, str):
        return [Observation(failure=Failure("exception", module)) for _ in cases], ()
    static = tuple(forbidden_calls(module.source, target.name))
    job, arrays = build_job(exercise.module, target, cases)
    server.ping()
    run = server.run(job, arrays, module.files, course.limits)
    if run.output:
        cut = " [output truncated]" if run.output_truncated else ""
        printed.append(f"--- {target.name} ---\n{run.output}{cut}\n")
    return observe(run, target, cases, course.limits), static


def _rows(target: TargetSpec, cases: list[Case], observations: list[Observation], static: tuple[str, ...]
          ) -> list[Row]:
    rows: list[Row] = []
    for case, obs in zip(cases, observations, strict=True):
        ctx = Context(target=target, case=case, obs=obs, static_forbidden=static)
        for check in CHECKS:
            rows.extend(check.rows(ctx))
    return rows


def grade_path(course_root: Path, exercise: str, submission: Submission, hidden: bool = False,
               seed: int | None = None, server: SandboxServer | None = None) -> list[Report]:
    """Grade ``exercise`` (an id, a number, a slug or ``all``) of the course at ``course_root``."""
    from grader.spec import load_course

    course = load_course(course_root)
    slugs = course.resolve(exercise)
    own = server is None
    server = server or SandboxServer().start()
    try:
        return [grade_exercise(course, slug, submission, server, hidden=hidden, seed=seed) for slug in slugs]
    finally:
        if own:
            server.close()
