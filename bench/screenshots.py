#!/usr/bin/env python
"""Headless-Chromium screenshots of ``summary.html`` and one student's feedback page, to look at by eye.

Run with the project's interpreter, from anywhere::

    .venv/bin/python bench/screenshots.py /tmp/shots            # writes summary.png, feedback.png
    .venv/bin/python bench/screenshots.py /tmp/shots --keep     # and keeps the graded class in /tmp/shots/class-out

It builds a small, realistic class of nine in a temporary folder (student repositories made from
``solutions/`` and ``exercises/``, with one-mistake modules from ``tests/submissions/`` swapped in, an
untouched stub, a syntax error and two students who handed in ``linear.py`` alone), grades it with
``grade batch`` on four exercises, then runs Chromium headless on the two pages. It needs the ``chromium``
(or ``chromium-browser``, ``google-chrome``) command, e.g. ``apt-get install -y chromium``, and says so when
it is missing. Nothing is written outside the temporary folder and the output folder; no picture is
meant to be committed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "tests" / "submissions"
EXERCISES = ("ex01", "ex04", "ex05", "ex07")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = "1280,2000"
FEEDBACK_OF = "bob"

MISTAKES = {
    "bob": {"ex04_linear": "linear_bias_not_summed", "ex01_chain_rule": "forgot_grad_output"},
    "carol": {"ex04_linear": "linear_weight_transposed"},
    "erin": {"ex04_linear": "linear_syntax_error"},
    "heidi": {"ex04_linear": "linear_bias_not_summed"},
}
"""Student to (exercise folder to the test submission whose module replaces the solution's)."""


def repository(folder: Path, swaps: dict[str, str], stubs: tuple[str, ...] = ()) -> None:
    """A student's repository: ``exercises/<ex>/<module>.py`` from ``solutions/``, from ``exercises/`` (the
    untouched stub) for the exercise folders in ``stubs``, or from ``tests/submissions/<swaps[ex]>``."""
    for exercise in sorted(p for p in (ROOT / "solutions").iterdir() if p.is_dir()):
        target = folder / "exercises" / exercise.name
        target.mkdir(parents=True)
        module = next(exercise.glob("*.py")).name
        source = ROOT / "exercises" / exercise.name if exercise.name in stubs else exercise
        if exercise.name in swaps:
            source = SUBMISSIONS / swaps[exercise.name]
        shutil.copy(source / module, target / module)


def build_class(folder: Path) -> Path:
    """Nine students: correct, one or two mistakes, a syntax error, an untouched stub, a stub left in ex07,
    and two who handed in ``linear.py`` alone (as a file, and in a folder)."""
    folder.mkdir(parents=True)
    for student in ("alice", "bob", "carol", "erin", "heidi"):
        repository(folder / student, MISTAKES.get(student, {}))
    everything = tuple(p.name for p in (ROOT / "exercises").iterdir())
    repository(folder / "dave", {}, stubs=everything)
    repository(folder / "grace", {}, stubs=("ex07_mlp",))
    shutil.copy(ROOT / "solutions" / "ex04_linear" / "linear.py", folder / "frank.py")
    shutil.copytree(SUBMISSIONS / "linear_bias_not_summed", folder / "ivan")  # a folder: the other modules are missing
    return folder


def browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        sys.exit("screenshots.py: no Chromium found (looked for " + ", ".join(BROWSERS) + "); install it, "
                 "e.g. `apt-get install -y chromium`")
    return found


def screenshot(chromium: str, page: Path, picture: Path) -> None:
    """One headless screenshot of ``page``, with a throw-away profile and no network chatter."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", f"--window-size={WINDOW}", f"--screenshot={picture}",
                        page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    print(f"wrote {picture}", file=sys.stderr)


def grade(submissions: Path, out: Path, cache: Path) -> None:
    """``grade batch`` on :data:`EXERCISES`, with its own case cache; exit 1 (some students unusable) is expected."""
    command = [sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out), "--jobs", "2",
               "--course", str(ROOT)]
    for exercise in EXERCISES:
        command += ["--exercise", exercise]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "GRADER_CACHE": str(cache)})
    if result.returncode not in (0, 1):
        sys.exit(f"grade batch failed ({result.returncode}):\n{result.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where the screenshots go (created)")
    parser.add_argument("--keep", action="store_true", help="keep the graded class in FOLDER/class-out")
    options = parser.parse_args()
    chromium = browser()
    options.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grade-screenshots-") as work:
        out = Path(work) / "out"
        grade(build_class(Path(work) / "class"), out, Path(work) / "cache")
        screenshot(chromium, out / "summary.html", options.folder / "summary.png")
        screenshot(chromium, out / "feedback" / f"{FEEDBACK_OF}.html", options.folder / "feedback.png")
        if options.keep:
            shutil.rmtree(options.folder / "class-out", ignore_errors=True)
            shutil.copytree(out, options.folder / "class-out")


if __name__ == "__main__":
    main()
