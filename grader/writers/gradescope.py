"""Gradescope autograder results: ``gradescope/<student>/results.json``.

One test per exercise, target and input (``ex04 Linear: grad_bias``), numbered ``<exercise>.<n>`` (``4.3``),
tagged with the exercise, the target and its diagnoses. Hidden cases are their own tests with visibility
``after_published``, so their inputs stay out of sight until grades are out; the visible top-level output
still says how many of them failed. ``score`` is given explicitly, and no execution time is written, so a
re-run writes the same bytes. A student the grader could not grade gets score 0 and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.batch.record import Assignment, ClassRecords, Group, StudentRecord, groups, points
from grader.batch.state import write_atomic
from grader.escape import printable
from grader.results import Report
from grader.writers.feedback import problems
from grader.writers.sinks import Sink, written


def results(record: StudentRecord) -> dict[str, Any]:
    if record.error:
        return {"score": 0.0, "output": printable(f"The grader could not grade this submission: {record.error}"),
                "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
    tests: list[dict[str, Any]] = []
    lines = []
    for report in record.reports:
        found = groups(report, split_hidden=True)
        tests += [_test(report, n, group) for n, group in enumerate(found, start=1)]
        hidden = [g for g in found if g.hidden]
        failed = sum(1 for g in hidden if g.failed)
        line = f"{report.exercise} {report.title}: {points(report.score)} / {points(report.max_score)}"
        if hidden:
            line += f"; hidden cases: {failed} of {len(hidden)} tests failed" + (
                " (details appear when grades are published)" if failed else "")
        lines.append(line)
    return {"score": record.score, "output": printable("\n".join(lines)), "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def _test(report: Report, n: int, group: Group) -> dict[str, Any]:
    failed = group.failed
    messages = [f"{p.named} ({p.checks}; {p.cases}): {p.message}" + (f"\nhint: {p.hint}" if p.hint else "")
                for p in problems(failed)]
    number = report.exercise.removeprefix("ex").lstrip("0") or "0"
    return {
        "name": group.name + (" (hidden cases)" if group.hidden else ""),
        "number": f"{number}.{n}",
        "score": group.score,
        "max_score": group.max_score,
        "status": "failed" if failed else "passed",
        "output": printable("\n\n".join(messages) if messages else "passed"),
        "output_format": "text",
        "visibility": "after_published" if group.hidden else "visible",
        "tags": [report.exercise, group.target, *dict.fromkeys(r.diagnosis for r in failed)],
    }


class Writer(Sink):
    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "gradescope"

    def add(self, record: StudentRecord) -> None:
        data = json.dumps(results(record), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        write_atomic(self.path / record.student / "results.json", data)


def write(records: ClassRecords, destination: Path) -> Path:
    return written(Writer, records, destination)
