"""The capstone (ex12): a transformer block wired from the student's own ops of ex04, ex07, ex08 and ex10.

Its used ops are graded first; a wrong or missing one is replaced by the reference for the capstone's run, and
the report says so, but a wrong capstone never looks right, and a cheat in an earlier module is still a cheat.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from helpers import ROOT, rows

from grader.errors import SpecError
from grader.integrity.static import scan
from grader.sandbox.watch import IntegrityWatch
from grader.spec import load_course, load_exercise
from grader.writers.feedback import report_markdown, tables

USED = {"ex04_linear": "linear.py", "ex07_mlp": "mlp.py", "ex08_normalization": "normalization.py",
        "ex10_attention": "attention.py", "ex12_transformer": "block.py"}


def _repository(root: Path, changes: dict[str, tuple[str, str]] | None = None, leave_out: tuple[str, ...] = ()
                ) -> Path:
    """A student's repository with the solutions' modules, each ``changes[slug]`` (find, replace) applied."""
    for slug, module in USED.items():
        if slug in leave_out:
            continue
        text = (ROOT / "solutions" / slug / module).read_text()
        find, replace = (changes or {}).get(slug, ("", ""))
        if find:
            assert text.count(find) == 1, find
            text = text.replace(find, replace)
        (root / "exercises" / slug).mkdir(parents=True)
        (root / "exercises" / slug / module).write_text(text)
    return root


def test_the_solution_wired_from_the_solution_ops_gets_full_marks(grade):
    report = grade(ROOT / "solutions", "ex12", hidden=True)  # as tests/test_solutions.py grades it: memoised
    assert report.score == pytest.approx(report.max_score) and report.substitutions == ()
    assert "substitutions" not in report.to_dict()
    assert rows(report, "TransformerBlock", "training")[0].passed


def test_a_wrong_earlier_op_is_replaced_and_said_and_a_missing_one_too(grade, tmp_path):
    """A wrong LayerNorm (ex08) and no attention.py (ex10), with a right composition: full capstone marks."""
    repo = _repository(tmp_path, {"ex08_normalization": ("grad_bias = g.reshape(-1, d).sum(0)",
                                                         "grad_bias = g.reshape(-1, d).mean(0)")},
                       leave_out=("ex10_attention",))
    report = grade(repo, "ex12")
    assert report.score == pytest.approx(report.max_score)
    replaced = {(s.exercise, s.target): s for s in report.substitutions}
    assert set(replaced) == {("ex08", "LayerNorm"), ("ex10", "ScaledDotProductAttention")}
    assert replaced["ex08", "LayerNorm"].reason == "scaled"
    assert "your ex08 LayerNorm has a wrong gradient (grad_bias: scaled)" in replaced["ex08", "LayerNorm"].message
    assert "used the reference LayerNorm" in replaced["ex08", "LayerNorm"].message
    assert replaced["ex10", "ScaledDotProductAttention"].reason == "missing"
    assert "no attention.py of ex10" in replaced["ex10", "ScaledDotProductAttention"].message
    data = json.loads(json.dumps(report.to_dict()))
    assert [s["target"] for s in data["substitutions"]] == ["LayerNorm", "ScaledDotProductAttention"]
    markdown = "\n".join(report_markdown(report))
    assert "used the reference LayerNorm" in markdown and "used the reference ScaledDotProductAttention" in markdown
    assert [n[:20] for n in tables(report)[0].notes] == ["Your ex08 LayerNorm ", "No attention.py of e"]


def test_a_dropped_residual_fails_the_capstone_with_right_earlier_ops(grade, tmp_path):
    repo = _repository(tmp_path, {"ex12_transformer": ("g_y = grad_output + g_y_norm", "g_y = g_y_norm")})
    report = grade(repo, "ex12")
    assert report.substitutions == ()
    assert report.score < report.max_score
    failed = {r.input for r in rows(report, "TransformerBlock", "autograd") if not r.passed}
    assert {"x", "w_o", "w_q", "ln1_weight"} <= failed and "w2" not in failed


def test_autograd_in_an_earlier_module_is_forbidden_in_the_capstone(grade, tmp_path):
    repo = _repository(tmp_path, {"ex04_linear": ("grad_a = grad_output @ b.T",
                                                  "grad_a = torch.autograd.grad(a @ b, a, grad_output)[0]")})
    report = grade(repo, "ex12")
    assert report.score == 0
    [policy] = rows(report, "TransformerBlock", "policy", input=None)[:1]
    assert policy.diagnosis == "forbidden_api" and "linear.py" in policy.message
    assert [(s.exercise, s.reason) for s in report.substitutions] == [("ex04", "forbidden_api")]


def test_monkeypatching_torch_from_student_code_is_flagged():
    source = ("import torch\nimport torch.nn.functional as F\n"
              "F.linear = lambda *a: None\ntorch.nn.functional.layer_norm = lambda *a: None\n")
    found = scan(source)
    assert [f.line for f in found] == [3, 4]
    assert all("changes torch" in f.why for f in found)


def test_the_watch_pauses_only_for_its_own_key():
    key = object()
    watch = IntegrityWatch(key)
    with pytest.raises(PermissionError):
        with watch.paused(object()):
            pass
    with pytest.raises(PermissionError):
        with IntegrityWatch().paused(None):
            pass
    with watch.active(), watch.phase("backward"), watch.paused(key), torch.enable_grad():
        x = torch.ones(3, requires_grad=True)
        torch.autograd.grad((x * x).sum(), x)
    assert watch.findings == set()


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "course.yaml", tmp_path / "course.yaml")
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    return tmp_path


@pytest.mark.parametrize(("uses", "problem"), [
    (["ex13.Block"], "ex13 is not an exercise listed before ex12_transformer"),
    (["ex04.Conv"], "ex04 has no target Conv (it has MatMul, Linear)"),
    (["ex04.MatMul", "ex04.MatMul"], "ex04.MatMul is listed twice"),
    (["MatMul"], "expected an exercise id and a target like ex08.LayerNorm"),
])
def test_a_bad_uses_entry_is_a_spec_error_naming_file_and_key(course_copy, uses, problem):
    path = course_copy / "exercises/ex12_transformer/exercise.yaml"
    data = yaml.safe_load(path.read_text())
    data["uses"] = uses
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError) as info:
        load_exercise(load_course(course_copy), "ex12_transformer")
    assert info.value.path == str(path) and info.value.key == f"uses[{len(uses) - 1}]"
    assert problem in info.value.problem
