"""The Classroom 50 autograder, run exactly as Classroom 50's runner runs it, and the bundle it is."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

import classroom50_runner as runner
import pytest
from click.testing import CliRunner
from helpers import ROOT, SUBMISSIONS, solution_lines

from grader.ci import classroom50
from grader.cli import cli
from grader.spec import CourseSpec

NAMES = ["ex01 ShiftedSquare: grad_x", "ex01 SinComposite: grad_x", "ex04 MatMul: grad_a", "ex04 MatMul: grad_b",
         "ex04 Linear: grad_x", "ex04 Linear: grad_weight", "ex04 Linear: grad_bias"]


@pytest.fixture(scope="module")
def autograder(course: CourseSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("c50") / "autograders" / "backprop"
    written = classroom50.build(course, folder, ["ex01", "ex04"])
    assert written == [folder / "autograder.py", folder / "README.md"]
    return written[0]


def _payload(autograder: Path) -> zipfile.ZipFile:
    text = autograder.read_text()
    encoded = "".join(re.findall(r'^    "([A-Za-z0-9+/=]+)"$', text, flags=re.M))
    return zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded)))


def _checkout(tmp_path: Path, modules: dict[str, Path]) -> Path:
    """A student's checkout: the released stubs, with ``modules`` (exercise folder -> file) in place."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "exercises", checkout / "exercises")
    for folder, module in modules.items():
        shutil.copyfile(module, checkout / "exercises" / folder / module.name)
    return checkout


def _run(autograder: Path, tmp_path: Path, modules: dict[str, Path]) -> tuple[dict, str, str]:
    checkout = _checkout(tmp_path, modules)
    output = tmp_path / "github_output"
    result, body, done = runner.run(autograder, checkout, runner.environment("backprop", tmp_path, output))
    assert result["score"] == sum(t["score"] for t in result["tests"])
    assert result["max-score"] == sum(t["max-score"] for t in result["tests"]) == 1700  # (8 + 9 points) × 100
    assert [t["test-name"] for t in result["tests"]] == NAMES
    return result, body, output.read_text() + done.stdout


def test_solutions_score_exactly_the_maximum(autograder: Path, tmp_path: Path) -> None:
    result, body, log = _run(autograder, tmp_path, {
        "ex01_chain_rule": ROOT / "solutions" / "ex01_chain_rule" / "chain_rule.py",
        "ex04_linear": ROOT / "solutions" / "ex04_linear" / "linear.py"})
    assert result["score"] == result["max-score"] == 1700
    assert all(t["passed"] and t["score"] == t["max-score"] for t in result["tests"])
    assert [t["max-score"] for t in result["tests"]] == [400, 400, 200, 200, 167, 167, 166]
    assert result["submission"] == "submit/20261201T120000Z-abc1234" and result["classroom"] == "dl"
    assert result["commit"].endswith("/commit/abc1234") and "/releases/tag/" in result["release"]
    assert body.startswith("### Backpropagation by hand: 17 / 17 points")
    assert "status=success\nsummary=17 / 17 points (7/7 tests passed)" in log


def test_a_single_bug_loses_only_its_test(autograder: Path, tmp_path: Path) -> None:
    result, body, log = _run(autograder, tmp_path, {
        "ex01_chain_rule": ROOT / "solutions" / "ex01_chain_rule" / "chain_rule.py",
        "ex04_linear": SUBMISSIONS / "linear_bias_not_summed" / "linear.py"})
    failed = [t for t in result["tests"] if not t["passed"]]
    assert [t["test-name"] for t in failed] == ["ex04 Linear: grad_bias"]
    assert failed[0]["score"] == 0 and failed[0]["diagnosis"] == "broadcast_not_reduced"
    assert result["score"] == 1533  # 15 1/3 points, in hundredths, rounded down
    assert "broadcast\\_not\\_reduced" in body and "*Hint:*" in body
    assert "cases you cannot see" in body and "status=failure" in log


def test_stubs_score_zero_of_the_same_maximum(autograder: Path, tmp_path: Path) -> None:
    result, body, _ = _run(autograder, tmp_path, {})
    assert result["score"] == 0 and not any(t["passed"] for t in result["tests"])
    assert {t["diagnosis"] for t in result["tests"]} == {"not_implemented"}


def test_without_a_grader_it_still_leaves_a_valid_result_with_every_maximum(autograder: Path, tmp_path: Path) -> None:
    """An interpreter without torch, and no package index: the install fails, the result says so, exit 0."""
    checkout = _checkout(tmp_path, {})
    env = {**runner.environment("backprop", tmp_path, tmp_path / "out"), "PIP_CONFIG_FILE": os.devnull,
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}
    result, body, done = runner.run(autograder, checkout, env, python=[sys.executable, "-S"], timeout=300)
    assert result["score"] == 0 and result["max-score"] == 1700
    assert [(t["test-name"], t["max-score"]) for t in result["tests"]] == [("ex01: not graded", 800),
                                                                        ("ex04: not graded", 900)]
    assert "not graded" in body and "status=error" in (tmp_path / "out").read_text()
    assert "installing it" in done.stderr


def test_the_bundle_is_public_so_it_holds_no_solution_and_no_hidden_case(autograder: Path) -> None:
    with _payload(autograder) as archive:
        names = archive.namelist()
        texts = [archive.read(n).decode() for n in names]
    assert "config.json" in names and "grader-src/grader/ci/classroom50.py" in names
    assert not any("hidden" in n for n in names)
    assert not any(n.endswith(".py") and not n.startswith("grader-src/") for n in names)
    secret = solution_lines()
    assert secret and not any(line in text for text in texts for line in secret)
    assert autograder.stat().st_size < classroom50.MAX_BYTES


def test_release_writes_it_and_warns_about_hidden_cases(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["release", "--course", str(ROOT), "--classroom50", str(tmp_path / "a"),
                                    "--exercise", "ex04", "--classroom50-hidden"])
    assert done.exit_code == 0, done.output
    assert "students can read them" in done.output and "of the 10 MB cap" in done.output
    with _payload(tmp_path / "a" / "autograder.py") as archive:
        assert "course/solutions/ex04_linear/hidden.yaml" in archive.namelist()
    assert "WARNING" in (tmp_path / "a" / "README.md").read_text()
    plain = CliRunner().invoke(cli, ["release", str(tmp_path / "repo"), "--course", str(ROOT),
                                     "--classroom50", str(tmp_path / "b")])
    assert plain.exit_code == 0, plain.output
    assert not (tmp_path / "repo" / ".github").exists()  # Classroom 50 adds its own workflow
