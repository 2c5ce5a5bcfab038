"""The Gradescope autograder bundle: what it holds, and its run_autograder against a fake /autograder tree."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT, SUBMISSIONS, solution_lines

from grader.ci import gradescope as gradescope_bundle
from grader.ci.install import CPU_INDEX, torch_requirement
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec

TEST_FIELDS = {"name", "number", "score", "max_score", "status", "output", "visibility"}


@pytest.fixture(scope="module")
def bundle(course: CourseSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    gradescope_bundle.build(course, path, ["ex04"])
    return path


def test_bundle_holds_specs_and_hidden_cases_but_no_solution(bundle: Path, course: CourseSpec) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        texts = [archive.read(n).decode() for n in names]
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "gradescope.json", "course/course.yaml"} <= set(names)
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    course_files = {n for n in names if n.startswith("course/")}
    assert course_files == {"course/course.yaml", "course/solutions/ex04_linear/hidden.yaml",
                            *(f"course/exercises/{s}/exercise.yaml" for s in course.exercises)}
    assert not any(n.endswith(".py") and not n.startswith("grader-src/grader/") for n in names)
    secret = solution_lines()
    assert secret and not any(line in text for text in texts for line in secret)
    assert json.loads(texts[names.index("gradescope.json")]) == {"exercises": ["ex04_linear"], "hidden": True}


def test_setup_installs_the_pinned_environment(bundle: Path, course: CourseSpec, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        setup = archive.read("setup.sh").decode()
        assert "grader-src/pyproject.toml" in archive.namelist()
    assert f"pip install {torch_requirement()} --index-url {CPU_INDEX}" in setup
    assert setup.rstrip().endswith(".venv/bin/python -m pip install ./grader-src")
    again = tmp_path / "again.zip"
    gradescope_bundle.build(course, again, ["4"])
    assert again.read_bytes() == bundle.read_bytes()  # reproducible
    gradescope_bundle.build(course, tmp_path / "pinned.zip", grader_requirement="grader==0.1.0")
    with zipfile.ZipFile(tmp_path / "pinned.zip") as archive:
        assert "pip install grader==0.1.0" in archive.read("setup.sh").decode()
        assert not any(n.startswith("grader-src/") for n in archive.namelist())
        assert len([n for n in archive.namelist() if n.endswith("hidden.yaml")]) == len(course.exercises)


def _tree(bundle: Path, root: Path, submission: Path | None) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    if submission is not None:
        shutil.copy(submission, root / "submission" / "linear.py")
    return root


def test_run_autograder_writes_results_json(bundle: Path, server: SandboxServer, tmp_path: Path) -> None:
    """The real run_autograder grades the solution in a fake /autograder; while it runs, the same run is done
    in this process (with the session's sandbox server) for a wrong and an empty submission."""
    root = _tree(bundle, tmp_path / "right", ROOT / "solutions" / "ex04_linear" / "linear.py")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
    script = subprocess.Popen(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wrong = gradescope_bundle.run(_tree(bundle, tmp_path / "wrong", SUBMISSIONS / "linear_bias_not_summed" / "linear.py"),
                                  server)
    empty = gradescope_bundle.run(_tree(bundle, tmp_path / "empty", None), server)
    out, err = script.communicate(timeout=120)
    assert script.returncode == 0, err
    assert "Score: 9 / 9" in out  # the human report goes to run_autograder's stdout, which students don't see
    right = json.loads((root / "results" / "results.json").read_text())

    assert right["score"] == 9 and all(t["status"] == "passed" for t in right["tests"])
    for data in (right, wrong, empty):
        assert isinstance(data["execution_time"], float) and data["output"].startswith("ex04 ")
        assert all(TEST_FIELDS <= set(t) for t in data["tests"])
        hidden = [t for t in data["tests"] if t["name"].endswith("(hidden cases)")]
        assert hidden and all(t["visibility"] == "after_published" for t in hidden)
        assert all(t["visibility"] == "visible" for t in data["tests"] if t not in hidden)
    assert 0 < wrong["score"] < 9
    assert json.loads((tmp_path / "wrong" / "results" / "results.json").read_text()) == wrong
    bias = {t["visibility"]: t for t in wrong["tests"] if "Linear: grad_bias" in t["name"]}
    assert bias["visible"]["status"] == "failed" and "broadcast_not_reduced" in bias["visible"]["output"]
    assert bias["after_published"]["status"] == "failed" and "hidden cases" in wrong["output"]
    assert empty["score"] == 0 and "no linear.py found" in json.dumps(empty["tests"])


def test_a_broken_bundle_still_writes_results(tmp_path: Path) -> None:
    (tmp_path / "source").mkdir()
    data = gradescope_bundle.run(tmp_path)
    assert data["score"] == 0 and "could not grade" in data["output"]
    assert json.loads((tmp_path / "results" / "results.json").read_text())["score"] == 0


def test_release_command_builds_the_bundle_without_out(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from grader.cli import cli

    bundle = tmp_path / "week2.zip"
    args = ["release", "--course", str(ROOT), "--gradescope", str(bundle), "--gradescope-exercise", "ex03",
            "--gradescope-exercise", "4"]
    done = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert done.exit_code == 0 and "Gradescope autograder" in done.output
    with zipfile.ZipFile(bundle) as archive:
        config = json.loads(archive.read("gradescope.json"))
    assert config["exercises"] == ["ex03_activations", "ex04_linear"]
    missing = CliRunner().invoke(cli, ["release", "--course", str(ROOT)])
    assert missing.exit_code == 2 and "OUT is required" in missing.output
