"""Grading end to end through :func:`grader.grading.grade_exercise`: submission formats, broken submissions,
partial credit and points, alternative correct formulas, reproducibility, and what the report holds."""

from __future__ import annotations

import codecs
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers import GRADIENT_CHECKS, REPORT_FIELDS, ROOT, ROW_FIELDS, SUBMISSIONS, failures, rows

from grader.grading import grade_path
from grader.results import SCHEMA
from grader.spec import load_exercise
from grader.submission import load_submission


def _zip(folder: Path, destination: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(destination, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return destination


def _full_marks(report) -> None:
    assert failures(report) == []
    assert report.max_score > 0 and report.score == pytest.approx(report.max_score)


# ---------------------------------------------------------------- correct work, in any form, gets full marks


@pytest.mark.parametrize(("submission", "exercise"), [
    ("linear_alternative", "ex04"),       # einsum, ones @ grad_output, tuples built from lists
    ("linear_with_helper", "ex04"),       # the maths in a sibling module
    ("elementwise_alternative", "ex02"),  # 1-tuples, tuples built from lists, reciprocals, grad_output returned as is
    ("activations_alternative", "ex03"),  # e^-x/(1+e^-x)², 1 - tanh², torch.where, ndtr
    ("chain_rule_tuples", "ex01"),        # a 1-tuple and a tuple built from a 1-element list
])
@pytest.mark.parametrize("seed", [None, 99])
def test_other_correct_formulas_get_full_marks(grade, submission, exercise, seed):
    _full_marks(grade(submission, exercise, hidden=True, seed=seed))


def test_module_file_as_submission(grade):
    _full_marks(grade(SUBMISSIONS / "linear_alternative" / "linear.py"))


def test_single_file_with_any_name_is_the_module(grade, tmp_path):
    path = tmp_path / "my_homework.py"
    shutil.copy(SUBMISSIONS / "linear_alternative" / "linear.py", path)
    _full_marks(grade(path))


def test_whole_repository_layout(grade, course):
    """exercises/ex04_linear/linear.py is found, and the student's own exercise.yaml changes nothing."""
    report = grade("student_repo")
    _full_marks(report)
    solution = grade(ROOT / "solutions")
    assert report.max_score == solution.max_score
    assert [(r.target, r.check, r.case, r.input) for r in report.checks] == \
        [(r.target, r.check, r.case, r.input) for r in solution.checks]
    assert report.title == load_exercise(course, "ex04_linear").title


def test_notebook_drops_skipped_cells_and_magics(grade):
    _full_marks(grade("notebook/linear.ipynb"))


def test_notebook_inside_a_folder(grade):
    _full_marks(grade("notebook"))


@pytest.mark.parametrize("folder", ["linear_with_helper", "student_repo", "notebook"])
def test_zip_of_a_folder(grade, tmp_path, folder):
    archive = _zip(SUBMISSIONS / folder, tmp_path / "submission.zip", prefix=f"{folder}/")
    _full_marks(grade(archive))


def test_utf8_with_byte_order_mark(grade, tmp_path):
    """Windows editors save UTF-8 with a BOM; Python reads it fine, so must the grader."""
    (tmp_path / "linear.py").write_bytes(codecs.BOM_UTF8 + (ROOT / "solutions/ex04_linear/linear.py").read_bytes())
    _full_marks(grade(tmp_path))


def test_grade_path_resolves_the_name_and_reuses_a_server(server):
    reports = grade_path(ROOT, "3", load_submission(ROOT / "solutions"), server=server)
    assert [r.exercise for r in reports] == ["ex03"]
    _full_marks(reports[0])
    assert server.process is not None and server.process.poll() is None


# ---------------------------------------------------------------- unusable submissions: zero, and every row says why


def _broken(tmp_path: Path, kind: str) -> Path:
    if kind == "syntax_error":
        return SUBMISSIONS / "linear_syntax_error"
    if kind == "missing_class":
        return SUBMISSIONS / "linear_class_typos"
    if kind == "missing_module":
        (tmp_path / "notes.py").write_text("print('my notes')\n")
        (tmp_path / "other.py").write_text("x = 1\n")
        return tmp_path
    if kind == "non_utf8":
        source = (ROOT / "solutions/ex04_linear/linear.py").read_text()
        (tmp_path / "linear.py").write_bytes(("# Größe der Matrizen\n" + source).encode("latin-1", "replace"))
        return tmp_path / "linear.py"
    if kind == "corrupt_zip":
        good = _zip(SUBMISSIONS / "linear_alternative", tmp_path / "good.zip").read_bytes()
        (tmp_path / "linear.zip").write_bytes(good[: len(good) // 2])
        return tmp_path / "linear.zip"
    if kind == "not_a_zip":
        (tmp_path / "linear.zip").write_bytes(b"PK\x03\x04 this is not really a zip file")
        return tmp_path / "linear.zip"
    if kind == "invalid_notebook":
        (tmp_path / "linear.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "import torch"')
        return tmp_path / "linear.ipynb"
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "reason"), [
    ("syntax_error", "syntax error in linear.py line 33: '(' was never closed"),
    ("missing_class", "has no class"),
    ("missing_module", "no linear.py found"),
    ("non_utf8", "not UTF-8 text (byte 0xf6"),
    ("corrupt_zip", "not a readable zip file"),
    ("not_a_zip", "not a readable zip file"),
    ("invalid_notebook", "not valid notebook JSON"),
])
def test_unusable_submission_scores_zero_and_every_row_says_why(grade, tmp_path, kind, reason):
    report = grade(_broken(tmp_path, kind))
    assert report.score == 0 and report.max_score > 0
    assert report.checks and all(not r.passed for r in report.checks)
    assert {r.diagnosis for r in report.checks} == {"exception"}
    for row in report.checks:
        assert reason in row.message, (row.target, row.check, row.message)
    assert {r.target for r in report.checks} == {"MatMul", "Linear"}


def test_zip_member_with_bad_crc_is_reported(grade, tmp_path):
    good = _zip(SUBMISSIONS / "linear_alternative", tmp_path / "good.zip").read_bytes()
    marker = b"class Linear"
    corrupt = good.replace(marker, b"class LINEAR", 1)
    (tmp_path / "linear.zip").write_bytes(corrupt)
    report = grade(tmp_path / "linear.zip")
    assert report.score == 0
    assert all("corrupt zip file" in r.message for r in report.checks)


# ---------------------------------------------------------------- points and partial credit


def test_points_follow_the_spec_and_forward_rows_carry_none(grade, course):
    report = grade(ROOT / "solutions")
    for target in load_exercise(course, "ex04_linear").targets:
        for check, points in target.points.items():
            assert sum(r.max_score for r in rows(report, target.name, check)) == pytest.approx(points)
        assert all(r.max_score == 0 for r in rows(report, target.name, ("forward", "policy")))
    assert report.max_score == pytest.approx(sum(sum(t.points.values())
                                                 for t in load_exercise(course, "ex04_linear").targets))


def test_partial_credit_is_per_input(grade):
    """Linear with an unsummed bias: grad_x and grad_weight earn their share, grad_bias nothing."""
    report = grade("linear_bias_not_summed")
    bias_rows = rows(report, "Linear", GRADIENT_CHECKS, "bias")
    assert bias_rows and all(r.score == 0 for r in bias_rows)
    for name in ("x", "weight"):
        assert all(r.passed and r.score == r.max_score > 0 for r in rows(report, "Linear", GRADIENT_CHECKS, name))
    lost = sum(r.max_score for r in bias_rows)
    assert lost == pytest.approx(5 / 3)  # a third of Linear's 1 + 3 + 1 points
    assert report.score == pytest.approx(report.max_score - lost)


def test_hidden_cases_do_not_change_the_maximum(grade):
    public, hidden = grade("linear_bias_mean"), grade("linear_bias_mean", hidden=True)
    assert public.max_score == hidden.max_score
    assert public.score == pytest.approx(hidden.score)
    assert not any(r.hidden for r in public.checks)
    hidden_rows = [r for r in hidden.checks if r.hidden]
    assert hidden_rows and all(r.case.startswith("hidden-") for r in hidden_rows)
    assert all(not r.case.startswith("hidden-") for r in hidden.checks if not r.hidden)


# ---------------------------------------------------------------- reproducibility and the report


def test_the_seed_reproduces_the_report(grade, course, server):
    from grader.grading import grade_exercise

    submission = load_submission(SUBMISSIONS / "gelu_tanh_approximation")
    first = grade_exercise(course, "ex03_activations", submission, server, seed=42).to_dict()
    again = grade_exercise(course, "ex03_activations", submission, server, seed=42).to_dict()
    other = grade_exercise(course, "ex03_activations", submission, server, seed=43).to_dict()
    assert first == again
    assert first["seed"] == 42 and other["seed"] == 43
    messages = [r["message"] for r in first["checks"] if not r["passed"]]
    assert messages and messages != [r["message"] for r in other["checks"] if not r["passed"]]


def test_report_dict_has_the_contract_fields(grade):
    report = grade("linear_weight_transposed")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert REPORT_FIELDS <= set(data)
    assert data["schema"] == SCHEMA == "grader-report/1"
    assert (data["exercise"], data["title"]) == ("ex04", "Matrix multiply and Linear")
    assert data["score"] == pytest.approx(sum(r["score"] for r in data["checks"]))
    for row in data["checks"]:
        assert ROW_FIELDS <= set(row)
        assert row["check"] in ("forward", "policy", "contract", "autograd", "gradcheck", "training")
        assert (row["input"] is None) == (row["check"] in ("forward", "policy", "training"))
        assert row["passed"] == (row["diagnosis"] == "ok")
    row = next(r for r in data["checks"] if r["check"] == "autograd" and r["input"] == "weight")
    assert (row["target"], row["diagnosis"], row["passed"], row["score"]) == ("Linear", "transposed", False, 0.0)


def test_printed_output_is_kept_apart_from_the_report(grade):
    report = grade("linear_prints")
    _full_marks(report)
    assert "::notice::Points 10/10" in report.output
    assert '"schema": "grader-report/1"' in report.output
    assert "output" not in report.to_dict()
    assert "::notice::" not in json.dumps(report.to_dict())


def test_a_module_that_hangs_at_import_costs_one_time_limit_not_one_per_target(fast_course, server, tmp_path):
    from grader.grading import grade_exercise
    from grader.submission import load_submission

    (tmp_path / "elementwise.py").write_text("import torch\n\nwhile True:\n    pass\n")
    report = grade_exercise(fast_course, "ex02_elementwise", load_submission(tmp_path), server)
    targets = list(dict.fromkeys(r.target for r in report.checks))
    assert len(targets) == 7 and report.score == 0
    assert all(r.diagnosis == "timeout" for r in report.checks)
    first, *others = targets
    assert all("importing your module took longer" in r.message for r in report.checks if r.target in others)
    assert not any("importing your module" in r.message for r in report.checks if r.target == first)


# ---------------------------------------------------------------- large cases: the same verdicts at 10⁶ elements


def _million(course):
    """ex04 with one Linear case whose x has 10⁶ elements (its arrays cross the sandbox in shared memory)."""
    from dataclasses import replace

    exercise = load_exercise(course, "ex04_linear")
    linear = next(t for t in exercise.targets if t.name == "Linear")
    case = replace(linear.cases[0], name="million", shapes={"x": (5000, 200), "weight": (7, 200), "bias": (7,)})
    return replace(exercise, targets=(replace(linear, cases=(case,)),))


@pytest.mark.parametrize(("submission", "bias"), [
    (ROOT / "solutions" / "ex04_linear", "ok"),
    (SUBMISSIONS / "linear_bias_not_summed", "broadcast_not_reduced"),
])
def test_a_million_element_case_grades_like_a_small_one(course, server, submission, bias):
    from grader.grading import grade_module

    exercise = _million(course)
    module = load_submission(submission).module(exercise.slug, exercise.module)
    report = grade_module(course, exercise, module, server, course.seed)
    gradients = [r for r in report.checks if r.check in GRADIENT_CHECKS]
    assert {r.case for r in report.checks} == {"million"} and gradients
    assert {r.diagnosis for r in gradients if r.input in ("x", "weight")} == {"ok"}
    assert {r.diagnosis for r in gradients if r.input == "bias" and r.check != "contract"} == {bias}


@pytest.mark.parametrize(("mutation", "passing"), [
    ("bias.add_(1.0)", {"x", "weight", "bias"}),  # a constant: the differences stay exact
    ("bias.zero_()", {"x", "weight"}),             # bias no longer matters: its slope is 0
    ("weight.mul_(1.5)", {"bias"}),                # x and weight act 1.5 times as strongly
])
def test_a_forward_that_changes_an_input_only_when_probed_gets_the_fresh_copy_outcome(grade, tmp_path, mutation,
                                                                                       passing):
    """The finite-difference forwards share the inputs that do not move; one that changes them in place (here
    only when no gradient is asked, so only there) is probed again on fresh copies, as every forward once was.
    Shared, each change would pile up on the last (1.5ⁿ, n + 1) and every row would fail."""
    source = (ROOT / "solutions" / "ex04_linear" / "linear.py").read_text()
    forward = "        return x @ weight.T + bias\n"
    assert source.count(forward) == 1
    changed = source.replace(forward, f"        if not bias.requires_grad:\n            {mutation}\n" + forward)
    (tmp_path / "linear.py").write_text(changed)
    rows = [r for r in grade(tmp_path).checks if r.target == "Linear" and r.check == "gradcheck"]
    assert {r.input for r in rows} == {"x", "weight", "bias"}
    assert {r.input for r in rows if r.passed} == passing, [(r.input, r.message) for r in rows if not r.passed]
