"""Legacy: the retired GitHub Classroom's reporter (``classroom-resources/autograding-grading-reporter@v1``).

GitHub retired Classroom on 28 August 2026; this path stays for courses whose repositories still run its
reporter. The reporter base64-decodes each runner's result, adds up ``tests[].score`` over the runners whose
``max_score`` is not 0, and prints ``Points X/Y`` (shared FORMATS.md). So:

- scores are quarter points (:data:`grader.ci.points.LEGACY_SCALE`), which add up exactly in JavaScript's
  floats: full marks read ``Points 127/127``;
- rows worth nothing (forward, policy) are not tests (the reporter's own table counts passing tests);
- an exercise the grader could not grade is an ``error`` result that keeps the exercise's maximum, so it
  counts as 0 of its points instead of dropping out of the total.

The workflow (:func:`workflow`) grades every exercise in one step, ``grade all --classroom``, which appends one
output per exercise (``ex04=<base64>``) to ``$GITHUB_OUTPUT``; if ``grade`` fails, ``python -m grader.ci.legacy
--error ex01=5 ...`` (the maxima written in at release) fills in an error result for each exercise still
missing. Students can edit the workflow, so these scores are advisory.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from grader.ci import points
from grader.ci.install import install_lines
from grader.escape import printable
from grader.results import Report
from grader.spec import CourseSpec, load_exercise

SCALE = points.LEGACY_SCALE
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
_OUTPUT = re.compile(r"^([A-Za-z0-9]+)=")


def result(report: Report, error: str = "") -> dict[str, Any]:
    """The runner result of one exercise (``error`` marks a run the grader could not finish)."""
    tests = []
    for test in points.tests(report, SCALE):
        message = "; ".join(dict.fromkeys(f"{r.diagnosis}: {printable(r.message)}" for r in test.failures))[:1000]
        tests.append({"name": test.name, "status": "pass" if test.passed else "fail", "score": test.units / SCALE,
                      "message": message or "ok", "line_no": 0, "execution_time": "0s"})
    status = "error" if error else ("pass" if all(t["status"] == "pass" for t in tests) else "fail")
    return {"version": 1, "status": status, "max_score": points.exercise_units(report.max_score, SCALE) / SCALE,
            "tests": tests}


def error_result(exercise: str, max_score: float) -> dict[str, Any]:
    """The result of an exercise the grader could not grade: 0 of its maximum, status ``error``."""
    message = f"the grader could not grade {exercise}: the log of the Grade step says why"
    return {"version": 1, "status": "error", "max_score": points.exercise_units(max_score, SCALE) / SCALE,
            "tests": [{"name": f"{exercise}: not graded", "status": "error", "score": 0, "message": message,
                       "line_no": 0, "execution_time": "0s"}]}


def encode(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data).encode("utf-8")).decode("ascii")


def write(reports: list[Report], destination: Path | None = None) -> Path | None:
    """Append ``<exercise>=<base64 result>`` per report to ``$GITHUB_OUTPUT`` (or ``destination``); return it."""
    target = destination or (Path(os.environ["GITHUB_OUTPUT"]) if os.environ.get("GITHUB_OUTPUT") else None)
    if target is None:
        return None
    with open(target, "a", encoding="utf-8") as handle:
        handle.writelines(f"{report.exercise}={encode(result(report))}\n" for report in reports)
    return target


def written(path: Path) -> set[str]:
    """The outputs already set in a ``$GITHUB_OUTPUT`` file."""
    if not path.is_file():
        return set()
    return {m.group(1) for line in path.read_text(encoding="utf-8").splitlines() if (m := _OUTPUT.match(line))}


def main(argv: list[str] | None = None) -> int:
    """``--error EXERCISE=MAX ...``: an error result for each exercise without an output yet; exit 0."""
    args = sys.argv[1:] if argv is None else argv
    pairs = [a.partition("=") for a in args[1:]]
    if not args or args[0] != "--error" or not pairs or not os.environ.get("GITHUB_OUTPUT") \
            or any(not sep or not name.isalnum() or not _number(value) for name, sep, value in pairs):
        print("usage: GITHUB_OUTPUT=FILE python -m grader.ci.legacy --error EXERCISE=MAX_POINTS ...", file=sys.stderr)
        return 2
    target = Path(os.environ["GITHUB_OUTPUT"])
    missing = [(name, float(value)) for name, _, value in pairs if name not in written(target)]
    with open(target, "a", encoding="utf-8") as handle:
        handle.writelines(f"{name}={encode(error_result(name, maximum))}\n" for name, maximum in missing)
    for name, _ in missing:
        print(f"{name}: not graded; wrote an error result that keeps its maximum", file=sys.stderr)
    return 0


def _number(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


WORKFLOW = """# Legacy: the retired GitHub Classroom's reporter. Written by `grade release --workflow legacy`.
name: Autograding
"on": [push, repository_dispatch]

permissions:
  checks: write
  actions: read
  contents: read

jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    if: github.actor != 'github-classroom[bot]'
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
{setup}
      - name: Grade
        id: grade
        run: grade all --classroom || python -m grader.ci.legacy --error {maxima}
      - name: Autograding Reporter
        uses: {reporter}
        env:
{env}
        with:
          runners: {runners}
"""

SETUP = """      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
          cache: pip
          cache-dependency-path: {workflow_path}
      - name: Install the grader
        run: |
{install}"""


def setup_steps(workflow_path: str, grader_requirement: str) -> str:
    """The steps that install Python with pip's cache (keyed on the workflow file, which holds the pins), torch
    (CPU) and the grader: shared by every workflow release writes."""
    install = "\n".join(f"          {line}" for line in install_lines("python", grader_requirement))
    return SETUP.format(workflow_path=workflow_path, install=install)


def workflow(course: CourseSpec, grader_requirement: str) -> str:
    """``.github/workflows/classroom.yml``; ``grader_requirement`` is what pip installs as the grader."""
    specs = [load_exercise(course, slug) for slug in course.exercises]
    ids = [spec.id for spec in specs]
    maxima = " ".join(f"{spec.id}={points.spec_points(spec):g}" for spec in specs)
    env = "\n".join(f"          {i.upper()}_RESULTS: \"${{{{ steps.grade.outputs.{i} }}}}\"" for i in ids)
    return WORKFLOW.format(setup=setup_steps(".github/workflows/classroom.yml", grader_requirement), maxima=maxima,
                           reporter=REPORTER, env=env, runners=",".join(ids))


if __name__ == "__main__":
    sys.exit(main())
