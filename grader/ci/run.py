"""Grading every exercise of a CI run so that one exercise the grader fails on costs only that exercise.

A CI run grades several exercises in one process (one torch import, one sandbox server). A broken spec or a
grader bug in one of them must not take the others' points down with it: each becomes an :class:`Outcome`
that says why it was not graded, and the CI outputs keep its maximum.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass

from grader.errors import GraderError
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec
from grader.submission import Submission


@dataclass(frozen=True)
class Outcome:
    """One exercise of a CI run: its report, or why the grader could not grade it."""

    slug: str
    report: Report | None = None
    error: str = ""

    @property
    def exercise(self) -> str:
        return self.report.exercise if self.report else self.slug.split("_", 1)[0]


def grade_each(course: CourseSpec, slugs: list[str], submission: Submission, server: SandboxServer,
               hidden: bool = False, seed: int | None = None) -> list[Outcome]:
    """Grade ``slugs`` one by one; a failure of the grader on one is logged to stderr and recorded, not raised."""
    from grader.grading import grade_exercise

    out = []
    for slug in slugs:
        try:
            out.append(Outcome(slug, grade_exercise(course, slug, submission, server, hidden=hidden, seed=seed)))
        except GraderError as exc:
            print(f"grade: {slug}: {exc}", file=sys.stderr)
            out.append(Outcome(slug, error=str(exc)))
        except Exception as exc:  # noqa: BLE001 - a grader bug in one exercise must not lose the others
            print(f"grade: {slug}: internal error\n{''.join(traceback.format_exception(exc)[-6:])}", file=sys.stderr)
            out.append(Outcome(slug, error=f"internal error: {type(exc).__name__}: {exc}"))
    return out
