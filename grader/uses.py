"""Exercises built from earlier ones (``uses:``): the student's earlier modules, and stand-ins for wrong ops.

A capstone imports the student's own ops of earlier exercises by module name (``from normalization import
LayerNorm``). :func:`gather` puts those modules beside the capstone's in the sandbox, where the integrity
policy reads and watches them like any module of the student's. Before the capstone is graded, each used op is
graded on its own exercise's public cases (:func:`grader.grading.grade_module`); an op that is not fully
right, or missing, is replaced in the capstone's run by the reference op (:func:`stand_in`): its forward
evaluates the target's ``reference:`` from the instructor's spec, and its backward is autograd's VJP of that
expression, computed inside the sandbox by the runner (:mod:`grader.sandbox.runner`). So one mistake is not
paid twice, and the report says which op was replaced and why (:class:`grader.results.Substitution`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from grader.results import Report, Substitution
from grader.spec import ExerciseSpec, UseSpec
from grader.submission import Module, Submission


def gather(exercise: ExerciseSpec, submission: Submission, module: Module | str) -> Module | str:
    """``module`` with the student's modules of the exercises it uses beside it (a lone file has none: its
    used ops are all missing)."""
    if not exercise.uses or not isinstance(module, Module) or submission.single:
        return module
    files = dict(module.files)
    for use in exercise.uses:
        files.pop(use.module, None)
        earlier = submission.module(use.slug, use.module)
        if isinstance(earlier, Module):
            files[use.module] = earlier.source.encode("utf-8")
    return replace(module, files=files)


def alone(exercise: ExerciseSpec, use: UseSpec) -> ExerciseSpec:
    """``use``'s own exercise with only its op, and without a training check: what is graded to judge it."""
    return replace(exercise, targets=tuple(replace(t, training=None) for t in exercise.targets
                                           if t.name == use.target.name), mutants=())


def judge(use: UseSpec, report: Report | None) -> Substitution | None:
    """Nothing when the op's own rows all pass; else why the reference takes its place (``None``: missing)."""
    op = f"{use.exercise} {use.target.name}"
    instead = f"so the capstone used the reference {use.target.name} in its place"
    if report is None:
        return Substitution(use.exercise, use.target.name, "missing",
                            f"no {use.module} of {use.exercise} was found in your submission, {instead}; "
                            f"add your {use.slug}/{use.module}")
    failed = [row for row in report.checks if not row.passed]
    if not failed:
        return None
    first = failed[0]
    if first.diagnosis == "not_implemented":
        what = f"your {op} backward is not written yet"
    elif first.check == "policy" or first.diagnosis == "forbidden_api":
        what = f"your {op} breaks the integrity policy ({first.diagnosis})"
    elif first.check == "forward" and first.diagnosis == "exception" and "has no class" in first.message:
        return Substitution(use.exercise, use.target.name, "missing",
                            f"your {use.module} has no class {use.target.name}, {instead}")
    else:
        where = f"grad_{first.input}" if first.input else first.check
        what = f"your {op} has a wrong {'gradient' if first.input else 'result'} ({where}: {first.diagnosis})"
    return Substitution(use.exercise, use.target.name, first.diagnosis,
                        f"{what}, {instead}; fix {use.exercise} first")


def stand_ins(exercise: ExerciseSpec, replaced: tuple[Substitution, ...]) -> list[dict[str, Any]]:
    """What the sandbox runner needs to build each reference op: its module, class, arguments and reference;
    ``whole`` when every op the capstone uses from that module is replaced (the student's file is not run)."""
    names = {(s.exercise, s.target) for s in replaced}
    out = []
    for use in exercise.uses:
        if (use.exercise, use.target.name) not in names:
            continue
        siblings = [u for u in exercise.uses if u.module == use.module]
        out.append({"module": use.module[:-3], "name": use.target.name, "reference": use.target.reference,
                    "args": [{"name": a.name, "kind": a.kind} for a in use.target.args],
                    "whole": all((u.exercise, u.target.name) in names for u in siblings)})
    return out


def allowed_imports(exercise: ExerciseSpec) -> tuple[str, ...]:
    """The used modules' names: a capstone may import them even where the student has not written them yet."""
    return tuple(use.module[:-3] for use in exercise.uses)
