"""``grade validate``: proof, before release, that an exercise's checks catch wrong backward passes.

For each exercise:

1. the solution scores full marks on public and hidden cases for several seeds (a failure is a *flaky*
   check: tolerances or input domains too tight);
2. the stub scores 0, with ``not_implemented`` on every gradient row;
3. every automatic mutant (:mod:`grader.mutants`) and every instructor-defined mutant is caught by at
   least one row, and we record whether the diagnosis on the mutated input is the expected one.

A mutant whose change leaves the solution's gradients unchanged on every case (swapping two equal
gradients, as in ``Add``) is *equivalent*: it is reported, and not counted as a survivor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from grader.cases import Case, build_cases
from grader.grading import grade_module
from grader.mutants import Mutant, automatic
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec, ExerciseSpec, load_exercise
from grader.submission import Module, load_submission


@dataclass
class ExerciseValidation:
    """What ``grade validate`` found for one exercise."""

    exercise: str
    flaky: list[str] = field(default_factory=list)
    stub_problems: list[str] = field(default_factory=list)
    killed: int = 0
    total: int = 0
    accurate: int = 0
    equivalent: list[str] = field(default_factory=list)
    survivors: list[str] = field(default_factory=list)
    misdiagnosed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.flaky and not self.stub_problems and not self.survivors


def validate_exercise(course: CourseSpec, slug: str, server: SandboxServer, seeds: int = 10,
                      progress: Callable[[str], None] | None = None) -> ExerciseValidation:
    exercise = load_exercise(course, slug, hidden=True)
    result = ExerciseValidation(exercise=exercise.id)
    solution_path = course.root / "solutions" / slug / exercise.module
    solution = load_submission(solution_path).module(slug, exercise.module)
    if isinstance(solution, str):
        result.flaky.append(f"the solution cannot be graded: {solution}")
        return result
    for offset in range(seeds):
        seed = course.seed + offset
        report = grade_module(course, exercise, solution, server, seed)
        for row in report.checks:
            if not row.passed:
                result.flaky.append(f"seed {seed}: {row.target} {row.check} {row.case} {row.input}: {row.diagnosis}")
    stub = load_submission(exercise.folder / exercise.module).module(slug, exercise.module)
    stub_report = grade_module(course, load_exercise(course, slug), stub, server, course.seed)
    _check_stub(stub_report, result)
    for mutant in automatic(solution.source, exercise) + _instructor_mutants(exercise, solution.source):
        if progress:
            progress(mutant.name)
        _run_mutant(course, exercise, solution, mutant, server, result)
    return result


def _check_stub(report: Report, result: ExerciseValidation) -> None:
    if report.score != 0:
        result.stub_problems.append(f"the stub scores {report.score:g}, not 0")
    for row in report.checks:
        if row.check in ("contract", "autograd", "gradcheck") and row.diagnosis != "not_implemented" \
                and row.input is not None and row.diagnosis != "ok":
            result.stub_problems.append(f"{row.target} {row.check} {row.input}: {row.diagnosis}, not not_implemented")
            break


def _instructor_mutants(exercise: ExerciseSpec, source: str) -> list[Mutant]:
    out = []
    for m in exercise.mutants:
        out.append(Mutant(name=f"{m.target}: {m.name}", target=m.target, input=m.input, expected=m.expect,
                          source=source.replace(m.find, m.replace)))
    return out


def _run_mutant(course: CourseSpec, exercise: ExerciseSpec, solution: Module, mutant: Mutant,
                server: SandboxServer, result: ExerciseValidation) -> None:
    files = dict(solution.files)
    files[exercise.module] = mutant.source.encode("utf-8")
    module = Module(files=files, source=mutant.source, origin=f"mutant {mutant.name}")
    report = grade_module(course, exercise, module, server, course.seed, only=mutant.target)
    failed = [r for r in report.checks if not r.passed]
    if not failed:
        if _equivalent(course, exercise, mutant):
            result.equivalent.append(mutant.name)
        else:
            result.total += 1
            result.survivors.append(mutant.name)
        return
    result.total += 1
    result.killed += 1
    on_input = [r for r in failed if r.check == "autograd" and (mutant.input is None or r.input == mutant.input)]
    codes = {r.diagnosis for r in on_input} or {failed[0].diagnosis}
    if mutant.expected in codes:
        result.accurate += 1
    else:
        result.misdiagnosed.append(f"{mutant.name}: expected {mutant.expected}, got {', '.join(sorted(codes))}")


def _equivalent(course: CourseSpec, exercise: ExerciseSpec, mutant: Mutant) -> bool:
    """Whether the mutation cannot change the reference gradients on any case (so no check could catch it)."""
    index = [t.name for t in exercise.targets].index(mutant.target)
    target = exercise.targets[index]
    cases: list[Case] = build_cases(exercise, index, course.seed, course.grad_outputs)
    names = [a.name for a in target.args]
    label = mutant.name.split(": ", 1)[1]
    for case in cases:
        for grads in case.expected:
            if label.startswith("swap"):
                a, b = (names.index(part.removeprefix("grad_")) for part in label[5:].split(" and "))
                ga, gb = grads[a], grads[b]
                if ga is None or gb is None or ga.shape != gb.shape or not np.allclose(ga, gb):
                    return False
            elif mutant.input is not None:
                g = grads[names.index(mutant.input)]
                if g is None or np.any(np.abs(g) > 1e-12):
                    return False
            else:
                return False
    return True


def summary_line(v: ExerciseValidation) -> str:
    accuracy = f"{v.accurate}/{v.killed}" if v.killed else "-"
    return f"{v.exercise}: {v.killed}/{v.total} mutants killed, diagnosis accuracy {accuracy}"


__all__ = ["ExerciseValidation", "summary_line", "validate_exercise", "Report"]
