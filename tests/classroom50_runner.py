"""Our replay of the Classroom 50 runner's handling of a custom ``autograder.py`` (shared FORMATS.md).

The runner clears ``result.json`` and ``release-body.md`` in the student's checkout, runs ``python autograder.py``
there with no arguments and its environment, treats a non-zero exit as an error, stamps the fields it owns
(``owner``, ``assignment_type``, ``datetime``, ``graded_at``) and validates the rest: the result is published
only if it is valid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCHEMA = "classroom50/result/v1"


def environment(assignment: str, workdir: Path, output: Path) -> dict[str, str]:
    """What the runner hands an autograder (plus what a GitHub runner always has)."""
    tag = "submit/20261201T120000Z-abc1234"
    repo = f"https://github.com/dl-org/dl-{assignment}-erin"
    return {**os.environ, "CLASSROOM": "dl", "ASSIGNMENT": assignment, "SUBMISSION_TAG": tag, "USERNAME": "erin",
            "OWNER": "erin", "ASSIGNMENT_TYPE": "individual", "COMMIT_URL": f"{repo}/commit/abc1234",
            "RELEASE_URL": f"{repo}/releases/tag/submit%2F20261201T120000Z-abc1234",
            "REVIEW_URL": f"{repo}/compare/0000000...abc1234", "PAGES_BASE_URL": "https://dl-org.github.io/classroom",
            "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(workdir)}


def run(autograder: Path, checkout: Path, env: dict[str, str], python: list[str] | None = None,
        timeout: float = 600) -> tuple[dict[str, Any], str, subprocess.CompletedProcess[str]]:
    """Run the autograder as the runner does; return the stamped result, the release body and the process."""
    for name in ("result.json", "release-body.md"):
        (checkout / name).unlink(missing_ok=True)
    done = subprocess.run([*(python or [sys.executable]), str(autograder)], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"autograder exited {done.returncode}: {done.stderr[-2000:]}"
    result = json.loads((checkout / "result.json").read_text())
    result.update(owner=env["USERNAME"], assignment_type=env["ASSIGNMENT_TYPE"], datetime="2026-12-01T12:00:00Z",
                  graded_at="2026-12-01T12:01:00Z")
    problem = invalid(result, env)
    assert problem is None, problem
    return result, (checkout / "release-body.md").read_text(), done


def invalid(data: Any, env: dict[str, str]) -> str | None:
    """Why the runner would refuse ``data`` (None when it would publish it)."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return "schema"
    for key, want in (("classroom", env["CLASSROOM"]), ("assignment", env["ASSIGNMENT"]), ("owner", env["OWNER"])):
        if data.get(key) != want:
            return f"{key} is {data.get(key)!r}, want {want!r}"
    if not str(data.get("submission", "")).startswith("submit/"):
        return "submission"
    for key in ("commit", "release", "review", "datetime"):
        if not isinstance(data.get(key), str) or not data[key]:
            return f"{key} must be a non-empty string"
    for key in ("score", "max-score"):
        if not _count(data.get(key)):
            return f"{key} must be a non-negative integer"
    if data["score"] > data["max-score"]:
        return "score > max-score"
    if not isinstance(data.get("tests"), list):
        return "tests"
    for i, test in enumerate(data["tests"]):
        if not isinstance(test, dict) or not isinstance(test.get("test-name"), str) or not test["test-name"]:
            return f"tests[{i}].test-name"
        if not isinstance(test.get("passed"), bool):
            return f"tests[{i}].passed"
        if not _count(test.get("score")) or not _count(test.get("max-score")) or test["score"] > test["max-score"]:
            return f"tests[{i}] score or max-score"
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
