"""The workflows release writes, read as GitHub reads them, and replayed step by step.

- ``classroom.yml`` (legacy): the retired Classroom reporter adds up each runner's ``tests[].score``; the replay
  sums them the reporter's way and gets whole points, with an exercise the grader failed on keeping its maximum.
- ``grade.yml`` (plain Actions): one cached install and one ``grade all`` step.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

from grader.authoring.release import release
from grader.ci.install import CPU_INDEX, VENDORED, torch_requirement
from grader.ci.legacy import REPORTER
from grader.spec import CourseSpec

RESULT_REF = re.compile(r"^\$\{\{ steps\.(\w+)\.outputs\.(\w+) \}\}$")


@pytest.fixture(scope="module")
def released(course: CourseSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classroom") / "student-repo"
    release(course, out, workflow="legacy")
    return out


def _steps(out: Path, name: str = "classroom.yml") -> list[dict]:
    data = yaml.safe_load((out / ".github" / "workflows" / name).read_text())
    [job] = data["jobs"].values()
    return job["steps"]


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def reporter_points(runners: str, env: dict[str, str]) -> tuple[float, float, dict[str, str]]:
    """What autograding-grading-reporter@v1 computes: per runner, decode ``<RUNNER>_RESULTS``; over the runners
    whose ``max_score`` is not 0, add up ``tests[].score`` (a float running sum, as in JavaScript) and
    ``max_score``. Also each runner's status."""
    total = maximum = 0.0
    statuses = {}
    for runner in runners.split(","):
        results = json.loads(base64.b64decode(env[f"{runner.strip().upper()}_RESULTS"]))
        statuses[runner] = results["status"]
        if not results["max_score"]:
            continue
        maximum += results["max_score"]
        for test in results["tests"]:
            total += test["score"]
    return total, maximum, statuses


def _replay(repo: Path, steps: list[dict], output: Path) -> tuple[float, float, dict[str, str]]:
    """Run the Grade step's own ``run:`` line in ``repo``, then hand the outputs to the reporter as Actions would."""
    grade = next(s for s in steps if s.get("id") == "grade")
    done = subprocess.run(["bash", "-c", grade["run"]], cwd=repo, env={**_env(), "GITHUB_OUTPUT": str(output)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    outputs = {"grade": _outputs(output)}
    reporter = steps[-1]
    env = {}
    for name, ref in reporter["env"].items():
        match = RESULT_REF.match(ref)
        assert match, ref
        env[name] = outputs[match.group(1)][match.group(2)]
    return reporter_points(reporter["with"]["runners"], env)


def test_the_legacy_workflow_is_what_classroom_expects(released: Path, course: CourseSpec) -> None:
    data = yaml.safe_load((released / ".github" / "workflows" / "classroom.yml").read_text())
    ids = [slug.split("_", 1)[0] for slug in course.exercises]
    assert data["on"] == ["push", "repository_dispatch"]
    assert data["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    [(_, job)] = data["jobs"].items()
    assert job["if"] == "github.actor != 'github-classroom[bot]'" and job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    assert steps[0]["uses"] == "actions/checkout@v4"
    assert steps[1]["uses"] == "actions/setup-python@v5" and steps[1]["with"]["cache"] == "pip"
    assert steps[1]["with"]["cache-dependency-path"] == ".github/workflows/classroom.yml"
    [grade] = [s for s in steps if s.get("id")]  # one grading step: one torch import, not eleven
    assert grade["id"] == "grade" and grade["run"].startswith("grade all --classroom || python -m grader.ci.legacy --error ")
    assert grade["run"].split("--error ")[1].split() == [
        "ex01=8", "ex02=28", "ex03=20", "ex04=9", "ex05=16", "ex06=12", "ex07=6", "ex08=8", "ex09=8", "ex10=4", "ex11=8",
        "ex12=7"]
    reporter = steps[-1]
    assert reporter["uses"] == REPORTER and reporter["with"]["runners"] == ",".join(ids)
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{ steps.grade.outputs.{i} }}}}" for i in ids}


def test_workflows_install_cpu_torch_and_the_copied_grader(released: Path) -> None:
    install = next(s for s in _steps(released) if "pip install" in s.get("run", ""))
    lines = install["run"].splitlines()
    assert f"python -m pip install {torch_requirement()} --index-url {CPU_INDEX}" in lines
    assert lines[-1] == f"python -m pip install ./{VENDORED}"
    copy = released / VENDORED
    assert (copy / "grader" / "cli.py").read_bytes() == (ROOT / "grader" / "cli.py").read_bytes()
    assert 'grade = "grader.launch:main"' in (copy / "pyproject.toml").read_text()
    assert f"./{VENDORED}" in (released / "README.md").read_text()


def test_a_grader_requirement_is_installed_verbatim_and_nothing_is_copied(course: CourseSpec, tmp_path: Path) -> None:
    spec = "grader @ git+https://example.org/course/grader.git@v1"
    release(course, tmp_path / "out", grader_requirement=spec, workflow="legacy")
    install = next(s for s in _steps(tmp_path / "out") if "pip install" in s.get("run", ""))
    assert f"python -m pip install '{spec}'" in install["run"]
    assert not (tmp_path / "out" / VENDORED).exists()
    assert spec in (tmp_path / "out" / "README.md").read_text()


def test_replayed_legacy_run_adds_up_to_whole_points_and_an_error_keeps_its_maximum(
        released: Path, tmp_path: Path) -> None:
    """The solutions in the student repository, with ex02's spec broken: ex02 is an ``error`` result worth 0 of
    its 28 points; the eleven others add up, in the reporter's float sum, to exactly 106."""
    repo = tmp_path / "repo"
    shutil.copytree(released, repo)
    for solution in (ROOT / "solutions").glob("*/*.py"):
        shutil.copyfile(solution, repo / "exercises" / solution.parent.name / solution.name)
    (repo / "exercises" / "ex02_elementwise" / "exercise.yaml").write_text("id: ex02\ntitle: [\n")
    points, maximum, statuses = _replay(repo, _steps(repo), tmp_path / "github_output")
    assert (points, maximum) == (106.0, 134.0)
    assert statuses == {**{f"ex{i:02d}": "pass" for i in range(1, 13)}, "ex02": "error"}


def test_replayed_legacy_run_with_a_broken_course_reports_every_maximum(released: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(released, repo)
    (repo / "course.yaml").write_text("id: [\n")
    points, maximum, statuses = _replay(repo, _steps(repo), tmp_path / "github_output")
    assert (points, maximum) == (0.0, 134.0) and set(statuses.values()) == {"error"}


def test_the_actions_workflow_grades_once_and_fails_until_every_check_passes(course: CourseSpec, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    release(course, out)
    data = yaml.safe_load((out / ".github" / "workflows" / "grade.yml").read_text())
    [job] = data["jobs"].values()
    assert data["permissions"] == {"contents": "read"} and job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    assert [s.get("uses") for s in steps[:2]] == ["actions/checkout@v4", "actions/setup-python@v5"]
    assert steps[1]["with"]["cache"] == "pip" and steps[1]["with"]["cache-dependency-path"] == ".github/workflows/grade.yml"
    assert steps[-1]["run"] == "grade all"
    done = subprocess.run(["bash", "-c", "grade ex01"], cwd=out, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "not_implemented" in done.stdout


def test_this_projects_ci_runs_make_test_on_every_supported_python() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    [job] = ci["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["strategy"]["matrix"]["python-version"] == ["3.10", "3.11", "3.12"]
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert uses == ["actions/checkout@v4", "actions/setup-python@v5"]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert f"--index-url {CPU_INDEX}" in runs[0] and "python -m venv .venv" in runs[0]  # before the Makefile's pip
    assert runs[-1] == "make test"
