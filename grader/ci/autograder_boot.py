#!/usr/bin/env python3
"""Classroom 50 autograder, written by ``grade release --classroom50``: commit it, do not edit it.

Classroom 50 runs this file as ``python autograder.py``, with no arguments, in the student's checkout, and
reads back ``./result.json`` and ``./release-body.md``. Everything it needs travels inside it (``PAYLOAD``, a
zip: the course's specs, this grader's source unless a requirement was named, and ``config.json``), because a
classroom's default autograder is fetched as this one file. It uses only the standard library until the
grader is importable:

1. it unpacks the payload under ``$RUNNER_TEMP`` (or the temporary folder), once per payload;
2. it writes a ``result.json`` worth 0 of the full maximum at once, so a grader that cannot start (no torch
   wheel, no network) still leaves a valid result that keeps every exercise's maximum;
3. if torch and the grader's dependencies are importable here, it grades in this interpreter; otherwise it
   makes a virtual environment beside the unpacked payload, installs the pinned CPU torch and the grader
   into it, and runs itself again with that Python;
4. the grader (:mod:`grader.ci.classroom50`) grades ``exercises/`` of the checkout and overwrites the results.

It exits 0 whatever happens, as the runner requires; the log says what went wrong.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path
from typing import Any

PAYLOAD = ""
"""The bundle as base64 of a zip; ``grade release --classroom50`` fills it in."""

REEXEC = "GRADER_AUTOGRADER_VENV"
"""Set when this file runs again inside the virtual environment it made (so it never loops)."""


def unpack() -> Path:
    """Extract the payload once per content; return the folder."""
    data = base64.b64decode(PAYLOAD)
    base = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
    folder = base / f"grader-autograder-{hashlib.sha256(data).hexdigest()[:16]}"
    done = folder / ".unpacked"
    if not done.exists():
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                target = (folder / member.filename).resolve()
                if folder.resolve() not in target.parents:
                    raise ValueError(f"payload member {member.filename!r} leaves its folder")
                archive.extract(member, folder)
        done.write_text("ok\n", encoding="utf-8")
    return folder


def identity() -> dict[str, Any]:
    """The result's identity fields, from the runner's environment (the runner re-stamps owner and type)."""
    env = os.environ
    commit = env.get("COMMIT_URL") or env.get("GITHUB_SHA") or "unknown"
    return {"schema": "classroom50/result/v1", "classroom": env.get("CLASSROOM", ""),
            "assignment": env.get("ASSIGNMENT", ""), "assignment_type": env.get("ASSIGNMENT_TYPE") or "individual",
            "owner": env.get("OWNER") or env.get("USERNAME") or env.get("GITHUB_ACTOR") or "unknown",
            "submission": env.get("SUBMISSION_TAG") or "submit/unknown", "commit": commit,
            "release": env.get("RELEASE_URL") or commit, "review": env.get("REVIEW_URL") or commit}


def not_graded(config: dict[str, Any], reason: str, final: bool = True) -> None:
    """Write the result of a run that could not grade: every exercise fails with its full maximum kept.

    Not ``final`` (the placeholder written before grading starts), it leaves ``$GITHUB_OUTPUT`` alone.
    """
    tests = [{"test-name": f"{ex['id']}: not graded", "passed": False, "score": 0, "max-score": ex["max_units"],
              "message": reason} for ex in config["exercises"]]
    result = {**identity(), "score": 0, "max-score": sum(t["max-score"] for t in tests), "tests": tests}
    Path("result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    body = (f"### {config['title']}: not graded\n\nThe autograder could not grade this submission: {reason}\n\n"
            "Your instructor can see why in the workflow's log; your work is kept and will be graded.\n")
    Path("release-body.md").write_text(body, encoding="utf-8")
    output = os.environ.get("GITHUB_OUTPUT")
    if output and final:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"status=error\nsummary={config['title']}: not graded ({reason[:200]})\n")


def grader_ready(folder: Path) -> bool:
    """Whether torch and this grader import here (the bundled source comes first on the path)."""
    source = folder / "grader-src"
    if source.is_dir() and str(source) not in sys.path:
        sys.path.insert(0, str(source))
    try:
        from grader.ci import classroom50

        classroom50.check_dependencies()
    except ImportError as exc:
        print(f"autograder: the grader is not importable here ({exc}); installing it", file=sys.stderr)
        return False
    return True


def install(folder: Path, config: dict[str, Any]) -> Path:
    """Make ``folder/venv`` with the pinned CPU torch and the grader; return its Python."""
    home = folder / "venv"
    python = home / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not (home / ".installed").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        grader = config["grader_requirement"] or str(folder / "grader-src")
        for args in (["--upgrade", "pip"], [config["torch"], "--index-url", config["torch_index"]], [grader]):
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], check=True)
        (home / ".installed").write_text("ok\n", encoding="utf-8")
    return python


def main() -> int:
    folder = unpack()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    not_graded(config, "the grader did not finish", final=False)
    try:
        if not grader_ready(folder):
            if os.environ.get(REEXEC):
                not_graded(config, "the grader does not import even after installing it")
                return 0
            python = install(folder, config)
            done = subprocess.run([str(python), "-I", str(Path(__file__).resolve())],
                                  env={**os.environ, REEXEC: "1"}, check=False)
            if done.returncode != 0:
                not_graded(config, f"the grader exited with status {done.returncode}")
            return 0
        from grader.ci import classroom50

        classroom50.autograde(folder, config, identity(), Path.cwd())
    except Exception as exc:  # noqa: BLE001 - the runner needs exit 0 and a result, whatever happened
        print(f"autograder: {type(exc).__name__}: {exc}", file=sys.stderr)
        not_graded(config, f"{type(exc).__name__}: {exc}"[:500])
    return 0


if __name__ == "__main__":
    sys.exit(main())
