"""The GitHub Classroom workflow that ``grade release`` writes (see shared FORMATS.md).

One step per exercise, with the step id ``exNN`` running ``grade exNN --classroom``; a final step hands the
steps' ``result`` outputs to ``classroom-resources/autograding-grading-reporter@v1``, which sums
``tests[].score`` for partial credit. Scores there are advisory: students can edit this file.
"""

from __future__ import annotations

from grader.spec import CourseSpec

HEADER = """name: Autograding
on: [push, repository_dispatch]

permissions:
  checks: write
  actions: read
  contents: read

jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
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
          python -m pip install --upgrade pip
          python -m pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
          python -m pip install {grader}
"""

STEP = """      - name: {ex_id}
        id: {ex_id}
        run: grade {ex_id} --classroom
"""

REPORTER = """      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}
        with:
          runners: {runners}
"""


def classroom_workflow(course: CourseSpec, grader_requirement: str = "grader") -> str:
    ids = [slug.split("_", 1)[0] for slug in course.exercises]
    steps = "".join(STEP.format(ex_id=i) for i in ids)
    env = "\n".join(f"          {i.upper()}_RESULTS: \"${{{{ steps.{i}.outputs.result }}}}\"" for i in ids)
    return HEADER.format(grader=grader_requirement) + steps + REPORTER.format(env=env, runners=",".join(ids))
