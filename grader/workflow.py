"""The GitHub Classroom workflow that ``grade release`` writes (see shared FORMATS.md).

One step per exercise, with the step id ``exNN`` running ``grade exNN --classroom``; a final step hands the
steps' ``result`` outputs to ``classroom-resources/autograding-grading-reporter@v1``, which sums
``tests[].score`` for partial credit. If ``grade`` itself fails (a broken course file, a grader bug), the step
still writes a ``result`` with status ``error``, so the reporter runs and shows the other exercises' points.
Scores there are advisory: students can edit this file.
"""

from __future__ import annotations

from grader.install import install_lines
from grader.spec import CourseSpec

HEADER = """name: Autograding
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
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the grader
        run: |
{install}
"""

STEP = """      - name: {ex_id}
        id: {ex_id}
        run: grade {ex_id} --classroom || python -m grader.writers.classroom --error {ex_id}
"""

REPORTER = """      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}
        with:
          runners: {runners}
"""


def step_ids(course: CourseSpec) -> list[str]:
    """The step ids, one per exercise: ``ex01``, ``ex02``... (letters and digits only, as the reporter needs)."""
    return [slug.split("_", 1)[0] for slug in course.exercises]


def classroom_workflow(course: CourseSpec, grader_requirement: str) -> str:
    """The workflow text; ``grader_requirement`` is what ``pip install`` gets for the grader (a path or a URL)."""
    ids = step_ids(course)
    install = "\n".join(f"          {line}" for line in install_lines("python", grader_requirement))
    steps = "".join(STEP.format(ex_id=i) for i in ids)
    env = "\n".join(f"          {i.upper()}_RESULTS: \"${{{{ steps.{i}.outputs.result }}}}\"" for i in ids)
    return HEADER.format(install=install) + steps + REPORTER.format(env=env, runners=",".join(ids))
