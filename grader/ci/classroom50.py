"""Classroom 50: the ``autograder.py`` that ``grade release --classroom50 DIR`` writes, and the run it performs.

Classroom 50 (GitHub Classroom's successor) runs, per submission, ``python autograder.py`` with no arguments in
the student's checkout, then reads ``./result.json`` (schema ``classroom50/result/v1``: integer ``score`` and
``max-score``, and ``tests[]`` with ``test-name``, ``passed``, integer ``score`` and ``max-score``) and shows
``./release-body.md`` in the submission's release and the job summary (shared FORMATS.md).

**The bundle.** A classroom's *default* autograder is fetched as a lone ``autograder.py``, so the file carries
everything: :mod:`grader.ci.autograder_boot` (standard library only) with a zip inside it holding

- ``course/``: ``course.yaml`` and every ``exercise.yaml``; with ``hidden``, the hidden cases of the graded
  exercises too. The bundle is published on the organisation's public Pages site, so hidden cases are left
  out unless asked for, and the instructor's ``grade batch`` stays the grade of record;
- ``grader-src/``: this grader's source (:mod:`grader.ci.install`), unless a requirement was named;
- ``config.json``: the exercises, their maxima in units, the torch pin and what to install.

**Points.** Integers are hundredths of the course's points (:mod:`grader.ci.points`): ex04's 9 points are
``max-score`` 900; each test's score adds up to ``score``, which equals ``max-score`` exactly when every test
passed. ``release-body.md`` shows course points.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.ci import points
from grader.ci.install import CPU_INDEX, course_files, source_files, torch_requirement, zip_bytes
from grader.ci.run import Outcome
from grader.errors import UsageError
from grader.spec import CourseSpec, load_exercise

MAX_BYTES = 10 * 1024 * 1024
"""Classroom 50 fetches a bundle with a 10 MB cap."""

SCALE = points.CLASSROOM50_SCALE
BOOT = Path(__file__).with_name("autograder_boot.py")
README = """# Classroom 50 autograder: {title}

`autograder.py` grades {ids} of the course `{course}` in a student's checkout (their `exercises/` folder) and
writes the `result.json` and `release-body.md` that Classroom 50 reads. It is self-contained: the course's
specs{grader} travel inside it, and it installs `{torch}` (CPU) from {index} when torch is not importable.

Use it in the classroom's config repository, either for one assignment

    <classroom>/autograders/<assignment>/autograder.py

or as the classroom's default (fetched as this one file, which is why everything is inside it):

    gh teacher autograder set-default ORG CLASSROOM --from autograder.py

Points are integers: hundredths of the course's points ({max_points:g} points = {max_units}).
{hidden}
"""
HIDDEN_NOTE = {
    False: "Hidden cases are not in it: the bundle is public on the organisation's Pages site. The grade of record "
           "is your `grade batch` run with hidden cases.",
    True: "WARNING: it holds the hidden cases (`--classroom50-hidden`), and the bundle is public on the "
          "organisation's Pages site: students can read them there.",
}


def check_dependencies() -> None:
    """Import what grading needs; an ``ImportError`` means the autograder must install it first."""
    import click  # noqa: F401
    import numpy  # noqa: F401
    import rich  # noqa: F401
    import torch  # noqa: F401
    import yaml  # noqa: F401

    import grader.grading  # noqa: F401


def config(course: CourseSpec, slugs: list[str], grader_requirement: str | None, hidden: bool) -> dict[str, Any]:
    """``config.json`` of the bundle: what the autograder grades and installs, and each exercise's maximum."""
    exercises = []
    for slug in slugs:
        spec = load_exercise(course, slug)
        exercises.append({"slug": slug, "id": spec.id, "title": spec.title,
                          "max_units": points.exercise_units(points.spec_points(spec), SCALE)})
    return {"course": course.id, "title": course.title, "exercises": exercises, "hidden": hidden,
            "scale": SCALE, "torch": torch_requirement(), "torch_index": CPU_INDEX,
            "grader_requirement": grader_requirement}


def payload(course: CourseSpec, slugs: list[str], grader_requirement: str | None, hidden: bool) -> bytes:
    """The zip the autograder carries (sorted members dated 1980-01-01, so a course builds the same bytes)."""
    files = course_files(course, hidden_for=slugs if hidden else (), public=True)
    if grader_requirement is None:
        files.update({f"grader-src/{name}": data for name, data in source_files().items()})
    files["config.json"] = (json.dumps(config(course, slugs, grader_requirement, hidden), indent=2) + "\n").encode()
    return zip_bytes(files)


def autograder_source(data: bytes) -> str:
    """:mod:`grader.ci.autograder_boot` with ``PAYLOAD`` filled in, as lines of 100 base64 characters."""
    text = BOOT.read_text(encoding="utf-8")
    encoded = base64.b64encode(data).decode("ascii")
    chunks = "\n".join(f'    "{encoded[i:i + 100]}"' for i in range(0, len(encoded), 100))
    marker = 'PAYLOAD = ""\n'
    if text.count(marker) != 1:
        raise RuntimeError(f"{BOOT} must assign PAYLOAD exactly once")
    return text.replace(marker, f"PAYLOAD = (\n{chunks}\n)\n")


def build(course: CourseSpec, folder: Path, exercises: Sequence[str] = ("all",),
          grader_requirement: str | None = None, hidden: bool = False) -> list[Path]:
    """Write ``folder/autograder.py`` and ``folder/README.md``; return them. Refuses a bundle over 10 MB."""
    slugs = list(dict.fromkeys(slug for name in exercises for slug in course.resolve(name)))
    source = autograder_source(payload(course, slugs, grader_requirement, hidden))
    if len(source.encode()) > MAX_BYTES:
        raise UsageError(f"the Classroom 50 autograder would be {len(source.encode()) / 2**20:.1f} MB, over the "
                         "10 MB cap; pass --grader-requirement SPEC so the grader is installed, not carried")
    ids = [load_exercise(course, s).id for s in slugs]
    max_units = sum(c["max_units"] for c in config(course, slugs, grader_requirement, hidden)["exercises"])
    readme = README.format(title=course.title, course=course.id, ids=", ".join(ids), torch=torch_requirement(),
                           index=CPU_INDEX, max_points=max_units / SCALE, max_units=max_units,
                           grader=", this grader's source" if grader_requirement is None else "",
                           hidden=HIDDEN_NOTE[hidden])
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "autograder.py", folder / "README.md"]
    written[0].write_text(source, encoding="utf-8")
    written[1].write_text(readme, encoding="utf-8")
    return written


def autograde(folder: Path, settings: dict[str, Any], identity: dict[str, Any], workspace: Path) -> dict[str, Any]:
    """Grade ``workspace/exercises`` with the bundle unpacked in ``folder``; write and return ``result.json``.

    Also writes ``release-body.md``, ``status=`` and ``summary=`` to ``$GITHUB_OUTPUT``, and the terminal report
    to stdout (the job's log).
    """
    from grader.ci.run import grade_each
    from grader.sandbox.client import SandboxServer
    from grader.spec import load_course
    from grader.submission import load_submission
    from grader.writers import terminal

    course = load_course(folder / "course")
    exercises = workspace / "exercises"
    submission = load_submission(exercises if exercises.is_dir() else workspace)
    slugs = [ex["slug"] for ex in settings["exercises"]]
    with SandboxServer() as server:
        outcomes = grade_each(course, slugs, submission, server, hidden=bool(settings["hidden"]))
    terminal.write([o.report for o in outcomes if o.report], sys.stdout, color=False)
    maxima = {ex["slug"]: int(ex["max_units"]) for ex in settings["exercises"]}
    data = result(outcomes, maxima, identity)
    (workspace / "result.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    body = release_body(outcomes, data, settings)
    (workspace / "release-body.md").write_text(body, encoding="utf-8")
    if os.environ.get("GITHUB_OUTPUT"):
        passed = all(t["passed"] for t in data["tests"])
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.write(f"status={'success' if passed else 'failure'}\nsummary={summary(data)}\n")
    return data


def result(outcomes: list[Outcome], maxima: dict[str, int], identity: dict[str, Any]) -> dict[str, Any]:
    """The ``classroom50/result/v1`` document: identity, then integer points (see :mod:`grader.ci.points`)."""
    tests: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.report is None:
            tests.append({"test-name": f"{outcome.exercise}: not graded", "passed": False, "score": 0,
                          "max-score": maxima[outcome.slug], "message": outcome.error[:500]})
            continue
        for test in points.tests(outcome.report, SCALE):
            first = test.failures[0] if test.failures else None
            tests.append({"test-name": test.name, "passed": test.passed, "score": test.units,
                          "max-score": test.max_units, "diagnosis": first.diagnosis if first else "ok",
                          "message": first.message[:500] if first else ""})
    score, maximum = sum(t["score"] for t in tests), sum(t["max-score"] for t in tests)
    return {**identity, "score": score, "max-score": maximum, "tests": tests}


def summary(data: dict[str, Any]) -> str:
    """One line for the commit status: course points, then how many tests passed."""
    passed = sum(1 for t in data["tests"] if t["passed"])
    return (f"{_points(data['score'])} / {_points(data['max-score'])} points "
            f"({passed}/{len(data['tests'])} tests passed)")


def release_body(outcomes: list[Outcome], data: dict[str, Any], settings: dict[str, Any]) -> str:
    """What the student reads in the submission's release: the points, the tests, then each mistake and hint."""
    from grader.escape import markdown_inline
    from grader.writers.feedback import report_markdown

    lines = [f"### {markdown_inline(settings['title'])}: {_points(data['score'])} / "
             f"{_points(data['max-score'])} points", "",
             f"{summary(data)}. Classroom 50 counts hundredths of a point: {data['score']} / {data['max-score']}.", ""]
    if not settings["hidden"]:
        lines += ["These are the public cases. Your instructor's grade also uses cases you cannot see.", ""]
    lines += ["| Test | Result | Points |", "|---|---|---|"]
    for test in data["tests"]:
        verdict = "pass" if test["passed"] else f"**fail**: {markdown_inline(test.get('diagnosis') or 'not graded')}"
        lines.append(f"| {markdown_inline(test['test-name'])} | {verdict} | "
                     f"{_points(test['score'])} / {_points(test['max-score'])} |")
    lines.append("")
    for outcome in outcomes:
        if outcome.report is None:
            lines += [f"#### {outcome.exercise}: not graded", "",
                      markdown_inline(f"The grader could not grade it ({outcome.error}). Your instructor will see "
                                      "why in the workflow's log."), ""]
        else:
            lines += report_markdown(outcome.report, level=4)
    return "\n".join(lines).rstrip("\n") + "\n"


def _points(units: int) -> str:
    """Units as course points: ``750`` → ``7.5``."""
    text = f"{units / SCALE:.2f}".rstrip("0").rstrip(".")
    return text or "0"
