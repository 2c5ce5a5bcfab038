"""The GitHub Classroom workflow that release writes, read as GitHub reads it, and the points its reporter sums."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Grade
from helpers import ROOT

from grader.install import CPU_INDEX, VENDORED, torch_requirement
from grader.release import release
from grader.spec import CourseSpec
from grader.writers import classroom

REPORTER = "classroom-resources/autograding-grading-reporter@v1"
RESULT_REF = re.compile(r"^\$\{\{ steps\.(\w+)\.outputs\.result \}\}$")


@pytest.fixture(scope="module")
def released(course: CourseSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classroom") / "student-repo"
    release(course, out)
    return out


def _workflow(out: Path) -> dict:
    return yaml.safe_load((out / ".github" / "workflows" / "classroom.yml").read_text())


def _decode(text: str) -> list[dict]:
    return [json.loads(base64.b64decode(line.partition("=")[2])) for line in text.splitlines() if line.startswith("result=")]


def _step_of(reference: str) -> str:
    """``steps.ex03`` in ``${{ steps.ex03.outputs.result }}``, as Actions resolves it."""
    match = RESULT_REF.match(reference)
    assert match, reference
    return match.group(1)


def reporter_points(runners: str, env: dict[str, str]) -> tuple[float, float]:
    """What autograding-grading-reporter@v1 computes: per runner, decode ``<RUNNER>_RESULTS``, and over the
    runners whose ``max_score`` is not 0, add up ``tests[].score`` and ``max_score``."""
    total = maximum = 0.0
    for runner in runners.split(","):
        results = json.loads(base64.b64decode(env[f"{runner.strip().upper()}_RESULTS"]))
        if not results["max_score"]:
            continue
        maximum += results["max_score"]
        total += sum(test["score"] for test in results["tests"])
    return total, maximum


def test_workflow_matches_what_classroom_expects(released: Path, course: CourseSpec) -> None:
    data = _workflow(released)
    ids = [slug.split("_", 1)[0] for slug in course.exercises]
    assert data["on"] == ["push", "repository_dispatch"]
    assert data["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    [(_, job)] = data["jobs"].items()
    assert job["if"] == "github.actor != 'github-classroom[bot]'" and job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    assert steps[0]["uses"] == "actions/checkout@v4"
    graders = [s for s in steps if s.get("id")]
    assert [s["id"] for s in graders] == ids and all(re.fullmatch(r"[A-Za-z0-9]+", i) for i in ids)
    for step in graders:
        assert step["run"] == f"grade {step['id']} --classroom || python -m grader.writers.classroom --error {step['id']}"
    reporter = steps[-1]
    assert reporter["uses"] == REPORTER and reporter["with"]["runners"] == ",".join(ids)
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{ steps.{i}.outputs.result }}}}" for i in ids}


def test_workflow_installs_cpu_torch_and_the_copied_grader(released: Path) -> None:
    steps = _workflow(released)["jobs"]["run-autograding-tests"]["steps"]
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    lines = install["run"].splitlines()
    assert f"python -m pip install {torch_requirement()} --index-url {CPU_INDEX}" in lines
    assert lines[-1] == f"python -m pip install ./{VENDORED}"
    copy = released / VENDORED
    assert (copy / "grader" / "cli.py").read_bytes() == (ROOT / "grader" / "cli.py").read_bytes()
    assert 'grade = "grader.launch:main"' in (copy / "pyproject.toml").read_text()
    assert f"./{VENDORED}" in (released / "README.md").read_text()


def test_a_grader_requirement_is_installed_verbatim_and_nothing_is_copied(course: CourseSpec, tmp_path: Path) -> None:
    spec = "grader @ git+https://example.org/course/grader.git@v1"
    release(course, tmp_path / "out", grader_requirement=spec)
    text = (tmp_path / "out" / ".github" / "workflows" / "classroom.yml").read_text()
    assert f"python -m pip install '{spec}'" in yaml.safe_load(text)["jobs"]["run-autograding-tests"]["steps"][2]["run"]
    assert not (tmp_path / "out" / VENDORED).exists()
    assert spec in (tmp_path / "out" / "README.md").read_text()


def test_reporter_points_are_the_reports_points(released: Path, grade: Grade, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step writes its own $GITHUB_OUTPUT; the reporter's env maps runners to those outputs."""
    reports = {"ex01": grade(ROOT / "exercises", "ex01"), "ex03": grade(ROOT / "solutions", "ex03"),
               "ex04": grade("linear_bias_not_summed", "ex04")}
    reporter = _workflow(released)["jobs"]["run-autograding-tests"]["steps"][-1]
    outputs: dict[str, str] = {}
    for runner in reporter["with"]["runners"].split(","):
        out = tmp_path / f"{runner}.out"
        if runner in reports:
            classroom.write([reports[runner]], out)
        else:  # the workflow's fallback for a step whose grading failed
            monkeypatch.setenv("GITHUB_OUTPUT", str(out))
            assert classroom.main(["--error", runner]) == 0
        [outputs[runner]] = [line.partition("=")[2] for line in out.read_text().splitlines()]
    env = {name: outputs[_step_of(ref)] for name, ref in reporter["env"].items()}
    points, maximum = reporter_points(reporter["with"]["runners"], env)
    assert points == pytest.approx(sum(r.score for r in reports.values()), abs=1e-6)
    assert maximum == pytest.approx(sum(r.max_score for r in reports.values()))
    assert 0 < points < maximum
    statuses = {r: json.loads(base64.b64decode(v))["status"] for r, v in outputs.items()}
    assert statuses["ex01"] == "fail" and statuses["ex03"] == "pass" and statuses["ex02"] == "error"


def test_the_step_command_runs_in_the_released_repository(released: Path, tmp_path: Path) -> None:
    """The exact ``run:`` line of step ex04 in the student repository: stubs score 0, exit 0, result written;
    with a broken spec, ``grade`` fails and the fallback still writes an ``error`` result."""
    step = next(s for s in _workflow(released)["jobs"]["run-autograding-tests"]["steps"] if s.get("id") == "ex04")
    output = tmp_path / "github_output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", step["run"]], cwd=released, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "not_implemented" in done.stdout and "Score: 0 / 9" in done.stdout
    [result] = _decode(output.read_text())
    assert result["status"] == "fail" and result["max_score"] == 9 and sum(t["score"] for t in result["tests"]) == 0

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "course.yaml").write_text((released / "course.yaml").read_text())
    (broken / "exercises" / "ex04_linear").mkdir(parents=True)
    (broken / "exercises" / "ex04_linear" / "exercise.yaml").write_text("id: ex04\ntitle: [\n")
    for slug in yaml.safe_load((released / "course.yaml").read_text())["exercises"]:
        (broken / "exercises" / slug).mkdir(exist_ok=True)
    output.unlink()
    done = subprocess.run(["bash", "-c", step["run"]], cwd=broken, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "exercise.yaml" in done.stderr
    [result] = _decode(output.read_text())
    assert result["status"] == "error" and result["max_score"] == 0 and result["tests"][0]["status"] == "error"


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
