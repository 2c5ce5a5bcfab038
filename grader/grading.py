"""Grading one exercise: spec, submission, cases, sandbox, checks, scoring, as data flowing through.

This is the API the CLI, the batch runner and the notebook helper call. Keyword arguments match the CLI's
options.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from grader.cases import Case, build_cases, training_data
from grader.checks import CHECKS, Context
from grader.checks.training import training_row
from grader.diagnose import UNUSABLE_HINT, Verdict
from grader.probe import Failure, Observation, build_job, observe, observe_training
from grader.results import Report, Row, Substitution
from grader.returns import returns_list
from grader.sandbox.client import ChildRun, SandboxServer
from grader.scoring import score_rows, totals
from grader.spec import CourseSpec, ExerciseSpec, TargetSpec, load_exercise
from grader.submission import Module, Submission
from grader.together import run_together
from grader.uses import allowed_imports, alone, gather, judge, stand_ins


def grade_exercise(course: CourseSpec, slug: str, submission: Submission, server: SandboxServer,
                   hidden: bool = False, seed: int | None = None) -> Report:
    exercise = load_exercise(course, slug, hidden=hidden)
    seed = course.seed if seed is None else seed
    module = gather(exercise, submission, submission.module(slug, exercise.module))
    return grade_module(course, exercise, module, server, seed)


def grade_module(course: CourseSpec, exercise: ExerciseSpec, module: Module | str | Failure, server: SandboxServer,
                 seed: int, only: str | None = None) -> Report:
    """Grade one module against every target (or ``only`` one). Given a message (an unusable submission) or a
    :class:`Failure` (a batch whose worker died grading it), every row says so and no code runs."""
    rows: list[Row] = []
    printed: list[str] = []
    hint = UNUSABLE_HINT.format(slug=exercise.slug, module=exercise.module)
    source: Module | Failure = Failure("exception", module, hint) if isinstance(module, str) else module
    replaced = _substitutions(course, exercise, source, server, seed) if isinstance(source, Module) else ()
    planned = []
    for index, target in enumerate(exercise.targets):
        if only is not None and target.name != only:
            continue
        cases = build_cases(exercise, index, seed, course.grad_outputs)
        training = training_data(exercise, index, seed) if target.training else None
        job = build_job(exercise.module, target, cases, training)
        if replaced:
            job[0]["substitutes"] = stand_ins(exercise, replaced)
        planned.append((target, cases, training, job))
    runs: list[ChildRun | None] = [None] * len(planned)
    scanned = static_findings(course, exercise, source, [p[0].name for p in planned], server) \
        if isinstance(source, Module) else [()] * len(planned)
    if isinstance(source, Module) and len(planned) > 1:
        server.ping(course.limits)
        runs = list(run_together([p[3] for p in planned], source, server, course.limits) or runs)
    for (target, cases, training, job), run, static in zip(planned, runs, scanned, strict=True):
        observations, losses, hung = _observe(course, exercise, target, cases, source, server, printed, training,
                                              job, run)
        if hung:
            source = Failure("timeout", f"importing your module took longer than the time limit of "
                                        f"{course.limits.wall_seconds:g} s (a loop at module level?), so no target "
                                        "could be graded")
        listed = isinstance(source, Module) and returns_list(source.source, target.name)
        target_rows = _rows(target, cases, observations, static, course.policy.slowdown, listed)
        if target.training is not None:
            policy = next((r for r in target_rows if r.check == "policy" and not r.passed), None)
            blocked = Verdict(policy.diagnosis, policy.message) if policy else None
            target_rows.append(training_row(target, losses, blocked))
        rows.extend(score_rows(target, target_rows))
    score, max_score = totals(rows)
    sandbox = {"server": "fork", **server.info} if isinstance(module, Module) else {}
    sandbox.pop("pid", None)
    return Report(exercise=exercise.id, title=exercise.title, score=score, max_score=max_score, seed=seed,
                  checks=tuple(rows), output="".join(printed), sandbox=sandbox, substitutions=replaced)


_JUDGED: dict[tuple[Any, ...], Substitution | None] = {}


def _substitutions(course: CourseSpec, exercise: ExerciseSpec, module: Module, server: SandboxServer, seed: int
                   ) -> tuple[Substitution, ...]:
    """The used ops of earlier exercises (``uses:``) that the capstone must run as the reference's: each is graded
    on its own exercise's public cases, once per source and seed (:mod:`grader.uses`)."""
    found = []
    for use in exercise.uses:
        data = module.files.get(use.module)
        if data is None:
            verdict = judge(use, None)
        else:
            key = (course, use.name, hashlib.sha256(data).hexdigest(), seed)
            if key not in _JUDGED:
                if len(_JUDGED) > 4096:
                    _JUDGED.clear()
                earlier = Module(files={use.module: data}, source=data.decode("utf-8", "replace"),
                                 origin=f"{module.origin} ({use.module})")
                own = alone(load_exercise(course, use.slug), use)
                _JUDGED[key] = judge(use, grade_module(course, own, earlier, server, seed))
            verdict = _JUDGED[key]
        if verdict is not None:
            found.append(verdict)
    return tuple(found)


def static_findings(course: CourseSpec, exercise: ExerciseSpec, module: Module, targets: list[str],
                    server: SandboxServer) -> list[tuple[str, ...]]:
    """The static scan's findings for each of ``targets`` (:func:`grader.integrity.static.findings_for`).

    The sandbox server makes them: it has torch loaded, which the scan judges names against, so the grading
    process needs none. Where the server cannot, the scan runs here, with the same result.
    """
    siblings = {name: data for name, data in module.files.items() if name != exercise.module}
    imports = (*course.policy.allow_imports, *allowed_imports(exercise))
    own = allowed_imports(exercise)
    server.ping(course.limits)
    found = server.scan(module.source, targets, imports, exercise.forbid, siblings, own)
    if found is not None:
        return found
    from grader.integrity.static import findings_for

    return [findings_for(module.source, target, imports, exercise.forbid, siblings, own=own) for target in targets]


def _observe(course: CourseSpec, exercise: ExerciseSpec, target: TargetSpec, cases: list[Case],
             module: Module | Failure, server: SandboxServer, printed: list[str], training: dict[str, np.ndarray] | None,
             job: tuple[dict[str, Any], dict[str, np.ndarray]], run: ChildRun | None = None
             ) -> tuple[list[Observation], np.ndarray | Failure, bool]:
    """The child's observations of one target (``run``: already made, in a child shared by every target of the
    exercise, :mod:`grader.together`); the last item says the module hung while being imported."""
    if isinstance(module, Failure):
        return [Observation(failure=module) for _ in cases], module, False
    if run is None:
        server.ping(course.limits)
        run = server.run(job[0], job[1], module.files, course.limits)
    if run.output:
        cut = " [output truncated]" if run.output_truncated else ""
        printed.append(f"--- {target.name} ---\n{run.output}{cut}\n")
    losses = observe_training(run, course.limits) if training is not None else Failure("crashed", "no training")
    return observe(run, target, cases, course.limits), losses, run.timed_out and not run.loaded


def _rows(target: TargetSpec, cases: list[Case], observations: list[Observation], static: tuple[str, ...],
          slowdown: float, returns_list: bool = False) -> list[Row]:
    rows: list[Row] = []
    for case, obs in zip(cases, observations, strict=True):
        ctx = Context(target=target, case=case, obs=obs, static_forbidden=static, slowdown=slowdown,
                      returns_list=returns_list)
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
