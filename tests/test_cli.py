"""The ``grade`` command through click's CliRunner, and the ``main`` wrapper where exit statuses 2 and 3 matter.

Most tests lend the CLI the session's sandbox server (starting one imports torch, about 1.5 s);
``test_solutions_exit_0_with_a_server_of_its_own`` lets the CLI start and close its own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import REPORT_FIELDS, ROOT, ROW_FIELDS, SUBMISSIONS

import grader.grading
import grader.sandbox.client
from grader.cli import cli, main


def grade(*args: str | Path):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run_main(capsys, *args: str | Path) -> tuple[int, str, str]:
    """``main(argv)`` as the console script runs it: its exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_unsummed_bias_exits_1_and_says_broadcast_not_reduced_on_bias(shared):
    result = grade("ex04", "--submission", SUBMISSIONS / "linear_bias_not_summed", "--course", ROOT)
    assert result.exit_code == 1
    assert "✗ bias: broadcast_not_reduced" in result.stdout
    assert "add up its copies' gradients" in result.stdout
    assert "Score: 7.33333 / 9" in result.stdout


def test_json_writes_exactly_one_report_object_to_stdout(shared):
    result = grade("ex04", "--submission", SUBMISSIONS / "linear_bias_not_summed", "--course", ROOT, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert REPORT_FIELDS <= set(report) and report["schema"] == "grader-report/1"
    assert (report["exercise"], report["seed"], report["max_score"]) == ("ex04", 1234, 9.0)
    assert all(ROW_FIELDS <= set(row) for row in report["checks"])
    bias = [r for r in report["checks"] if r["target"] == "Linear" and r["input"] == "bias"]
    assert bias and {r["diagnosis"] for r in bias} == {"broadcast_not_reduced"}
    assert result.stderr.strip() == "7.33333 / 9"


def test_solutions_exit_0_with_a_server_of_its_own():
    result = grade("ex04", "--submission", ROOT / "solutions", "--course", ROOT, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["score"] == report["max_score"] == 9.0
    assert all(r["passed"] for r in report["checks"])


def test_stubs_are_graded_by_default_from_inside_the_course(shared, monkeypatch):
    monkeypatch.chdir(ROOT / "exercises" / "ex04_linear")
    result = grade("4", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["score"] == 0
    assert {r["diagnosis"] for r in report["checks"] if r["check"] == "autograd"} == {"not_implemented"}


@pytest.mark.parametrize("name", ["ex03", "3", "ex03_activations"])
def test_exercise_names(shared, name):
    result = grade(name, "--submission", ROOT / "solutions", "--course", ROOT, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["exercise"] == "ex03"


def test_all_writes_one_combined_report(shared, course):
    result = grade("all", "--submission", ROOT / "solutions", "--course", ROOT, "--json")
    assert result.exit_code == 0
    combined = json.loads(result.stdout)
    assert set(combined) == {"schema", "exercises", "score", "max_score"}
    assert combined["schema"] == "grader-report/1"
    assert [r["exercise"] for r in combined["exercises"]] == [s.split("_")[0] for s in course.exercises]
    assert combined["score"] == pytest.approx(sum(r["score"] for r in combined["exercises"]))
    assert combined["score"] == combined["max_score"] > 0


def test_list(course):
    result = grade("list", "--course", ROOT)
    assert result.exit_code == 0
    assert result.stdout.startswith("Backpropagation by hand (backprop-101)")
    assert "ex04  Matrix multiply and Linear" in result.stdout and "MatMul, Linear" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1 + len(course.exercises)


def test_seed_reproduces_the_report_and_is_reported(shared):
    args = ("ex03", "--submission", SUBMISSIONS / "gelu_tanh_approximation", "--course", ROOT, "--json")
    first, again = (json.loads(grade(*args, "--seed", "5").stdout) for _ in range(2))
    other = json.loads(grade(*args, "--seed", "6").stdout)
    assert first == again and first["seed"] == 5 and other["seed"] == 6
    assert [r["message"] for r in first["checks"]] != [r["message"] for r in other["checks"]]


def test_hidden_rows_are_marked_hidden(shared):
    args = ("ex04", "--submission", ROOT / "solutions", "--course", ROOT, "--json")
    public = json.loads(grade(*args).stdout)
    hidden = json.loads(grade(*args, "--hidden").stdout)
    assert not any(r["hidden"] for r in public["checks"])
    assert {r["case"] for r in hidden["checks"] if r["hidden"]} == {"hidden-1", "hidden-2"}
    assert all(r["hidden"] == r["case"].startswith("hidden-") for r in hidden["checks"])
    assert hidden["max_score"] == public["max_score"]


def test_student_output_never_reaches_json_stdout(shared):
    result = grade("ex04", "--submission", SUBMISSIONS / "linear_prints", "--course", ROOT, "--json")
    assert result.exit_code == 0
    assert "::notice::" not in result.stdout and "::notice::" not in result.stderr
    report = json.loads(result.stdout)
    assert report["score"] == 9.0 and report["checks"]
    human = grade("ex04", "--submission", SUBMISSIONS / "linear_prints", "--course", ROOT)
    assert "Your code printed:" in human.stdout and "::notice::Points 10/10" in human.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("ex99",), "unknown exercise 'ex99'"),
    (("ex04", "--submission", "/no/such/submission"), "submission /no/such/submission does not exist"),
])
def test_usage_errors_exit_2(shared, capsys, args, message):
    code, out, err = run_main(capsys, *args, "--course", ROOT)
    assert code == 2 and out == ""
    assert err.startswith(f"grade: error: {message}") and len(err.strip().splitlines()) == 1


def _copy_course(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "course.yaml", tmp_path / "course.yaml")
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    return tmp_path


def _set(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(("breakage", "file", "key"), [
    ("yaml", "course.yaml", "invalid YAML at line"),
    ("missing_key", "exercises/ex04_linear/exercise.yaml", "module: missing"),
    ("wrong_type", "course.yaml", "defaults.seed: expected an integer, got str 'lucky'"),
])
def test_broken_spec_exits_2_naming_file_and_key(shared, capsys, tmp_path, breakage, file, key):
    root = _copy_course(tmp_path)
    if breakage == "yaml":
        (root / file).write_text("id: x\nexercises: [ex04_linear\n")
    elif breakage == "missing_key":
        _set(root / file, lambda d: d.pop("module"))
    else:
        _set(root / file, lambda d: d["defaults"].update(seed="lucky"))
    code, out, err = run_main(capsys, "ex04", "--submission", ROOT / "solutions", "--course", root)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"grade: error: {root / file}: {key}")


def test_main_exit_statuses_0_and_1(shared, capsys):
    assert run_main(capsys, "ex04", "--submission", ROOT / "solutions", "--course", ROOT, "--json")[0] == 0
    assert run_main(capsys, "ex04", "--submission", SUBMISSIONS / "linear_syntax_error", "--course", ROOT)[0] == 1


def test_a_grader_bug_exits_3(shared, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(grader.grading, "grade_exercise", broken)
    code, out, err = run_main(capsys, "ex04", "--submission", ROOT / "solutions", "--course", ROOT)
    assert code == 3 and out == ""
    assert err.startswith("grade: internal error: KeyError: 'oops'")
