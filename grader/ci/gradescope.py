"""``grade release --gradescope BUNDLE.zip``: a Gradescope autograder, and the run it performs per submission.

The bundle, which Gradescope unzips into ``/autograder/source``::

    setup.sh          run once while Gradescope builds the image: Python, torch (CPU, pinned) and the grader,
                      in a virtual environment ``.venv`` beside it
    run_autograder    run per submission; ends in ``python -m grader.ci.gradescope run``
    gradescope.json   the exercises this assignment grades, and that hidden cases are used
    course/           course.yaml, exercises/<slug>/exercise.yaml and solutions/<slug>/hidden.yaml: specs only,
                      never a solution module or a stub
    grader-src/       a copy of this grader (:mod:`grader.ci.install`), unless a requirement was given

:func:`run` grades ``/autograder/submission`` with hidden cases and writes ``/autograder/results/results.json``
with :mod:`grader.writers.gradescope`, the same document ``grade batch --lms gradescope`` writes (hidden rows
``after_published``, the rest visible), plus the execution time. Whatever goes wrong, a results.json is written:
Gradescope shows a student nothing useful for an autograder that wrote none.

``$AUTOGRADER_ROOT`` (default ``/autograder``) and ``$GRADER_PYTHON`` (default the bundle's ``.venv``) let a test
run the real ``run_autograder`` against a fake tree in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.ci.install import course_files, install_lines, source_files, zip_bytes
from grader.spec import CourseSpec

if TYPE_CHECKING:
    from grader.results import Report
    from grader.sandbox.client import SandboxServer as Server

CONFIG = "gradescope.json"
SOURCE = "grader-src"

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (Ubuntu, with network access):
# Python, torch (the CPU build: grading needs no GPU) and the grader go into a virtual environment beside it.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -m venv .venv
{install}
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades $ROOT/submission, hidden cases included, and writes
# $ROOT/results/results.json. AUTOGRADER_ROOT and GRADER_PYTHON override the root and the python (for tests).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${GRADER_PYTHON:-$ROOT/source/.venv/bin/python}"
exec "$PYTHON" -I -m grader.ci.gradescope run --root "$ROOT"
"""


def bundle_files(course: CourseSpec, exercises: Sequence[str] = ("all",),
                 grader_requirement: str | None = None) -> dict[str, bytes]:
    """Every file of the bundle, by path in the zip, for the exercises named (ids, numbers, slugs or ``all``)."""
    slugs = list(dict.fromkeys(slug for name in exercises for slug in course.resolve(name)))
    files = course_files(course, hidden_for=slugs)
    if grader_requirement is None:
        files.update({f"{SOURCE}/{name}": data for name, data in source_files().items()})
    install = "\n".join(install_lines(".venv/bin/python", grader_requirement or f"./{SOURCE}"))
    files["setup.sh"] = SETUP.format(install=install).encode("utf-8")
    files["run_autograder"] = RUN.encode("utf-8")
    files[CONFIG] = (json.dumps({"exercises": slugs, "hidden": True}, indent=2) + "\n").encode("utf-8")
    return files


def build(course: CourseSpec, bundle: Path, exercises: Sequence[str] = ("all",),
          grader_requirement: str | None = None) -> list[str]:
    """Write the bundle zip (scripts at its root, as Gradescope wants them); return its member names.

    Members are sorted and dated 1980-01-01, so the same course builds the same bytes.
    """
    files = bundle_files(course, exercises, grader_requirement)
    data = zip_bytes(files, executable=("setup.sh", "run_autograder"))
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(data)
    return sorted(files)


def run(root: Path, server: Server | None = None) -> dict[str, Any]:
    """Grade ``root/submission`` as the bundle in ``root/source`` says; write and return ``results.json``.

    ``server`` is a running sandbox server to reuse; without one, a server is started for this run.
    """
    from grader.batch.record import Identity, StudentRecord
    from grader.writers import gradescope

    started = time.monotonic()
    graded_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    try:
        reports = _grade(root, server)
        record = StudentRecord(identity=Identity("submission"), reports=tuple(reports), graded_at=graded_at)
    except Exception as exc:  # noqa: BLE001 - a crash must still leave a results.json saying why
        record = StudentRecord(identity=Identity("submission"), reports=(), graded_at=graded_at,
                               error=f"{type(exc).__name__}: {exc}")
    data = gradescope.results(record)
    data["execution_time"] = round(time.monotonic() - started, 3)
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


def _grade(root: Path, server: Server | None) -> list[Report]:
    from grader.grading import grade_exercise
    from grader.sandbox.client import SandboxServer
    from grader.spec import load_course
    from grader.submission import load_submission
    from grader.writers import terminal

    source = root / "source"
    config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    course = load_course(source / "course")
    submission = load_submission(root / "submission")
    hidden = bool(config.get("hidden", True))
    running = server or SandboxServer().start()
    try:
        reports = [grade_exercise(course, slug, submission, running, hidden=hidden) for slug in config["exercises"]]
    finally:
        if server is None:
            running.close()
    terminal.write(reports, sys.stdout, color=False)  # run_autograder's stdout: instructors only
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.ci.gradescope",
                                     description="Run the Gradescope autograder of a bundle.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="grade ROOT/submission and write ROOT/results/results.json")
    run_parser.add_argument("--root", type=Path, default=Path("/autograder"))
    args = parser.parse_args(argv)
    data = run(args.root)
    print(f"results.json: score {data['score']:g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
