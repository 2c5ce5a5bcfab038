"""GitHub Classroom: the ``result`` step output read by ``autograding-grading-reporter``.

The reporter base64-decodes ``result`` and sums ``tests[].score`` (see shared FORMATS.md), so partial credit
lives in the per-test scores. One test per target and input (plus one per target for the whole-op rows), so
a student sees "Linear: grad_bias" as its own line.

``python -m grader.writers.classroom --error ex03`` is the workflow's fallback when ``grade ex03 --classroom``
fails before writing (a broken course file, a grader bug): it writes an ``error`` result, because the reporter
stops at the first runner without one and would then report no points at all.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

from grader.escape import printable
from grader.results import Report, Row


def result(report: Report, error: str = "") -> dict[str, Any]:
    groups = OrderedDict[str, list[Row]]()
    for row in report.checks:
        name = f"{report.exercise} {row.target}: " + (f"grad_{row.input}" if row.input else "forward and policy")
        groups.setdefault(name, []).append(row)
    tests = []
    for name, rows in groups.items():
        failed = [r for r in rows if not r.passed]
        message = "; ".join(dict.fromkeys(f"{r.diagnosis}: {printable(r.message)}" for r in failed))[:1000]
        tests.append({"name": name, "status": "fail" if failed else "pass",
                      "score": round(sum(r.score for r in rows), 10), "message": message or "ok",
                      "line_no": 0, "execution_time": "0s"})
    status = "error" if error else ("pass" if report.passed else "fail")
    return {"version": 1, "status": status, "max_score": round(report.max_score, 10), "tests": tests}


def error_result(exercise: str) -> dict[str, Any]:
    """The result of a step whose grading failed: no points, and status ``error`` so the job fails."""
    message = f"the grader could not grade {exercise}: the log of step {exercise} says why"
    return {"version": 1, "status": "error", "max_score": 0,
            "tests": [{"name": exercise, "status": "error", "score": 0, "message": message, "line_no": 0,
                       "execution_time": "0s"}]}


def encode(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data).encode("utf-8")).decode("ascii")


def write(reports: list[Report], destination: Path | None = None) -> Path | None:
    """Append ``result=<base64>`` to ``$GITHUB_OUTPUT`` (or ``destination``); return the file, if any."""
    target = destination or (Path(os.environ["GITHUB_OUTPUT"]) if os.environ.get("GITHUB_OUTPUT") else None)
    if target is None:
        return None
    merged = Report(exercise=reports[0].exercise, title=reports[0].title, score=sum(r.score for r in reports),
                    max_score=sum(r.max_score for r in reports), seed=reports[0].seed,
                    checks=tuple(row for r in reports for row in r.checks))
    return _append(target, result(merged))


def _append(target: Path, data: dict[str, Any]) -> Path:
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(f"result={encode(data)}\n")
    return target


def main(argv: list[str] | None = None) -> int:
    """``--error EXERCISE``: append an error result to ``$GITHUB_OUTPUT`` and exit 0, so later steps still run."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "--error" or not os.environ.get("GITHUB_OUTPUT"):
        print("usage: GITHUB_OUTPUT=FILE python -m grader.writers.classroom --error EXERCISE", file=sys.stderr)
        return 2
    _append(Path(os.environ["GITHUB_OUTPUT"]), error_result(args[1]))
    print(f"{args[1]}: grading failed; wrote an error result, so the reporter still runs and fails", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
