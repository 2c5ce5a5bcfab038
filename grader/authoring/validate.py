"""``grade validate``: proof, before release, that an exercise's checks catch wrong backward passes.

For each exercise:

1. the solution scores full marks on public and hidden cases for several seeds (a failure is a *flaky*
   check: tolerances or input domains too tight);
2. the stub scores 0, with ``not_implemented`` on every gradient row;
3. every automatic mutant (:mod:`grader.authoring.mutants`) and every instructor-defined mutant is caught by at
   least one row, and we record whether the diagnosis on the mutated input is the expected one;
4. every entry of a target's ``catalogue:`` (:mod:`grader.catalogue`) is evaluated on every case; it must
   run on at least one (with the input's shape), differ from the solution on some case, and differ from
   each other entry of its input on every case where it differs from the solution (else a student with it
   could be named by the other); and the mutant built from it (:func:`grader.authoring.mutants.catalogue_mutant`) must
   be named by it on every failed ``autograd`` row of its input, on the cases where the formula runs. The
   coverage is the entries named by their mutant.

A mutant whose change leaves the solution's gradients unchanged on every case (swapping two equal
gradients, as in ``Add``) is *equivalent*: it is reported, and not counted as a survivor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from grader.authoring.mutants import Mutant, automatic, catalogue_mutant
from grader.cases import Case, build_cases
from grader.catalogue import FormulaError, evaluate
from grader.compare import all_close
from grader.grading import grade_module
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import CatalogueEntry, CourseSpec, ExerciseSpec, TargetSpec, load_exercise
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
    entries: int = 0
    named: int = 0
    catalogue_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.flaky and not self.stub_problems and not self.survivors and not self.catalogue_problems


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
    check_catalogue(course, exercise, solution, server, result, progress)
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


def check_catalogue(course: CourseSpec, exercise: ExerciseSpec, solution: Module, server: SandboxServer,
                    result: ExerciseValidation, progress: Callable[[str], None] | None = None) -> None:
    """Step 4: every catalogue entry is distinguishable on the cases and named by its own mutant."""
    for index, target in enumerate(exercise.targets):
        if not target.catalogue:
            continue
        cases = build_cases(exercise, index, course.seed, course.grad_outputs)
        values = {entry.id: _values(entry, target, cases) for entry in target.catalogue}
        for entry in target.catalogue:
            if progress:
                progress(f"{target.name}: catalogue {entry.id}")
            result.entries += 1
            problems = _indistinct(entry, target, cases, values)
            if not problems:
                ran = {c.spec.name for c, v in zip(cases, values[entry.id], strict=True) if not isinstance(v, str)}
                problems = _unnamed(course, exercise, solution, target, entry, server, ran)
            if problems:
                result.catalogue_problems += [f"{target.name} {entry.id}: {p}" for p in problems]
            else:
                result.named += 1


def _values(entry: CatalogueEntry, target: TargetSpec, cases: list[Case]) -> list[tuple[np.ndarray, ...] | str]:
    """The entry's gradient per case under each random grad_output, or why the formula failed there."""
    out: list[tuple[np.ndarray, ...] | str] = []
    for case in cases:
        try:
            out.append(tuple(evaluate(entry, target, case, u) for u in case.upstream[: case.random_calls]))
        except FormulaError as exc:
            out.append(f"the formula fails on case {case.spec.name}: {exc}")
    return out


def _indistinct(entry: CatalogueEntry, target: TargetSpec, cases: list[Case],
                values: dict[str, list[tuple[np.ndarray, ...] | str]]) -> list[str]:
    """Why the entry cannot be told apart on the cases (none: it can). A formula may fail on some cases (a
    mistake that only has the input's shape when two sizes are equal, say), but not on all of them."""
    mine = values[entry.id]
    if all(isinstance(v, str) for v in mine):
        return [v for v in mine if isinstance(v, str)]
    ai = [a.name for a in target.args].index(entry.input)
    tol = target.tolerance
    differs = [not isinstance(v, str) and not all_close(list(v), _expected(c, ai, len(v)), tol)
               for v, c in zip(mine, cases, strict=True)]
    if not any(differs):
        return ["it equals the solution's gradient on every case where it runs, so no case can tell them apart"]
    problems = []
    for other in target.catalogue:
        if other.id == entry.id or other.input != entry.input:
            continue
        same = [case.spec.name for v, w, case, d in zip(mine, values[other.id], cases, differs, strict=True)
                if d and not isinstance(w, str) and all_close(list(v), list(w), tol)]  # type: ignore[arg-type]
        if same:
            problems.append(f"it cannot be told apart from {other.id} on case {', '.join(same)}")
    return problems


def _expected(case: Case, ai: int, calls: int) -> list[np.ndarray]:
    found = [case.expected[k][ai] for k in range(calls)]
    return [g for g in found if g is not None]


def _unnamed(course: CourseSpec, exercise: ExerciseSpec, solution: Module, target: TargetSpec,
             entry: CatalogueEntry, server: SandboxServer, ran: set[str]) -> list[str]:
    """Why the entry's mutant is not named by it on every failed autograd row of its input, on the cases where
    the formula runs (``ran``); none: it is."""
    return unnamed(course, exercise, solution, target, {entry.id: (entry, ran)}, server)[entry.id]


def unnamed(course: CourseSpec, exercise: ExerciseSpec, solution: Module, target: TargetSpec,
            entries: dict[str, tuple[CatalogueEntry, set[str]]], server: SandboxServer) -> dict[str, list[str]]:
    """Grade one mutant with every entry of ``entries`` (one per input, each with the cases where its formula
    runs) and say, per entry id, why its input's failed autograd rows are not all named by it."""
    mutant = catalogue_mutant(solution.source, target, *(entry for entry, _ in entries.values()))
    files = dict(solution.files)
    files[exercise.module] = mutant.source.encode("utf-8")
    module = Module(files=files, source=mutant.source, origin=f"mutant {mutant.name}")
    report = grade_module(course, _autograd_only(exercise, target), module, server, course.seed)
    everywhere = set.intersection(*(ran for _, ran in entries.values()))
    out: dict[str, list[str]] = {}
    for entry, _ in entries.values():
        failed = [r for r in report.checks if r.check == "autograd" and r.input == entry.input and not r.passed
                  and r.case in everywhere]
        if not failed:
            others = sorted({f"{r.check} {r.diagnosis}" for r in report.checks if not r.passed}) or ["nothing"]
            out[entry.id] = [f"its mutant fails no autograd row of {entry.input} (failed: {', '.join(others)})"]
            continue
        out[entry.id] = [f"its mutant is {r.diagnosis}" + (f" · {r.pattern}" if r.pattern else "") + f" on case {r.case}"
                         for r in failed if r.pattern != entry.id]
    return out


def _autograd_only(exercise: ExerciseSpec, target: TargetSpec) -> ExerciseSpec:
    """The exercise with ``target`` alone, without finite differences or training: only its autograd rows matter
    here. The inputs and upstream gradients are drawn before the directions, so they are the same."""
    light = replace(target, training=None, fd=replace(target.fd, directions=0, coordinates=0))
    return replace(exercise, targets=(light,))


def summary_line(v: ExerciseValidation) -> str:
    accuracy = f"{v.accurate}/{v.killed}" if v.killed else "-"
    return (f"{v.exercise}: {v.killed}/{v.total} mutants killed, diagnosis accuracy {accuracy}, "
            f"catalogue {v.named}/{v.entries} entries named by their mutant")


__all__ = ["ExerciseValidation", "summary_line", "validate_exercise", "Report"]
