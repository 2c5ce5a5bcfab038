"""GitHub Classroom: the ``result`` step output read by ``autograding-grading-reporter``.

The reporter base64-decodes ``result`` and sums ``tests[].score`` (see shared FORMATS.md), so partial credit
lives in the per-test scores. One test per target and input (plus one per target for the whole-op rows), so
a student sees "Linear: grad_bias" as its own line.
"""

from __future__ import annotations

import base64
import json
import os
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
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(f"result={encode(result(merged))}\n")
    return target
