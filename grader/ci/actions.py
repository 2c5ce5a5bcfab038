"""Plain GitHub Actions: what ``grade`` adds when it runs in a workflow (``GITHUB_ACTIONS=true``).

- **The step summary.** Markdown appended to ``$GITHUB_STEP_SUMMARY`` shows on the run's page: the points,
  then per exercise and target the table of inputs × checks, each mistake and its hint (the same Markdown as
  the students' feedback, :func:`grader.writers.feedback.report_markdown`).
- **Annotations.** ``::error file=…,line=…,title=…::message`` on stdout puts the message on the student's own
  line of the diff, for rows that point at one: an exception (the innermost frame in the student's module), a
  syntax error, or a forbidden call the static scan found. At most :data:`MAX_ANNOTATIONS`, because GitHub
  shows only the first ten errors of a step.
- **A workflow** (:func:`workflow`): ``.github/workflows/grade.yml`` for courses on neither Classroom 50 nor the
  legacy reporter: one cached install and one ``grade all`` step, which fails the job until every check passes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from grader.batch.record import points
from grader.ci.legacy import setup_steps
from grader.escape import annotation, annotation_property
from grader.results import Report
from grader.submission import Submission
from grader.writers.feedback import report_markdown

MAX_ANNOTATIONS = 10

_FRAME = re.compile(r"(?P<file>[\w.-]+\.py), line (?P<line>\d+)")
_SYNTAX = re.compile(r"syntax error in (?P<file>[\w.-]+\.py) line (?P<line>\d+)")
_STATIC = re.compile(r"your code: line (?P<line>\d+)")


@dataclass(frozen=True)
class Annotation:
    """One ``::error`` workflow command: a path relative to the workspace, a line, a title and the message."""

    path: str
    line: int
    title: str
    message: str

    def command(self) -> str:
        return (f"::error file={annotation_property(self.path)},line={self.line},"
                f"title={annotation_property(self.title)}::{annotation(self.message)}")


def active() -> bool:
    """Whether ``grade`` runs in a GitHub Actions job."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def step_summary(reports: list[Report]) -> str:
    """The Markdown for ``$GITHUB_STEP_SUMMARY``: the total, then each exercise's tables, mistakes and hints."""
    score, maximum = sum(r.score for r in reports), sum(r.max_score for r in reports)
    lines = [f"## grade: {points(score)} / {points(maximum)} points", ""]
    for report in reports:
        lines += report_markdown(report, level=3)
    return "\n".join(lines).rstrip("\n") + "\n\n"


def line_annotations(reports: list[Report], submission: Submission, modules: dict[str, tuple[str, str]],
                workspace: Path) -> list[Annotation]:
    """Annotations for rows that point at a line of the student's module (deduplicated, at most ten).

    ``modules`` maps an exercise id to its ``(slug, module file name)``; a module that is not a file under
    ``workspace`` (a notebook, a zip, elsewhere) gets none, since GitHub could not place it.
    """
    found: dict[tuple[str, int, str], Annotation] = {}
    for report in reports:
        slug, module = modules[report.exercise]
        path = submission.on_disk(slug, module)
        if path is None:
            continue
        try:
            relative = path.resolve().relative_to(workspace.resolve()).as_posix()
        except ValueError:
            continue
        for row in report.checks:
            if row.passed:
                continue
            for line in _lines(row.message, path.name):
                key = (relative, line, row.diagnosis)
                if key not in found:
                    title = f"{report.exercise} {row.target}: {row.diagnosis}"
                    found[key] = Annotation(relative, line, title, row.message + (f"\nHint: {row.hint}" if row.hint else ""))
    return list(found.values())[:MAX_ANNOTATIONS]


def _lines(message: str, module: str) -> Iterator[int]:
    """The lines of ``module`` a message points at: the innermost frame in it, a syntax error, a static finding."""
    frames = [int(m.group("line")) for m in _FRAME.finditer(message) if m.group("file") == module]
    if frames:
        yield frames[-1]
    for match in _SYNTAX.finditer(message):
        if match.group("file") == module:
            yield int(match.group("line"))
    yield from dict.fromkeys(int(m.group("line")) for m in _STATIC.finditer(message))


def report(reports: list[Report], submission: Submission, modules: dict[str, tuple[str, str]],
           stdout: IO[str] | None, workspace: Path | None = None) -> None:
    """Append the step summary (when ``$GITHUB_STEP_SUMMARY`` is set) and print annotations to ``stdout``
    (``None`` when stdout must stay one JSON document)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(step_summary(reports))
    if stdout is not None:
        base = workspace or Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())
        for note in line_annotations(reports, submission, modules, base):
            print(note.command(), file=stdout)


WORKFLOW = """# Written by `grade release`: grades every exercise on each push; the job fails until every check passes.
name: Grade
"on": [push, pull_request, workflow_dispatch]

permissions:
  contents: read

jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
{setup}
      - name: Grade
        run: grade all
"""


def workflow(grader_requirement: str) -> str:
    """``.github/workflows/grade.yml``: one cached install, one ``grade all`` step."""
    return WORKFLOW.format(setup=setup_steps(".github/workflows/grade.yml", grader_requirement))
