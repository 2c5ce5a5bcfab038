"""A backward that returns a list: the engine rejects it, so the contract rows say ``wrong_type`` (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ROOT, rows

from grader.returns import returns_list

SOURCE = '''
import torch
class Listed(torch.autograd.Function):
    @staticmethod
    def backward(ctx, g):
        def helper():
            return (g,)
        return [g, -g]
class Built(torch.autograd.Function):
    @staticmethod
    def backward(ctx, g):
        grads = []
        grads.append(g)
        grads += [-g]
        return grads
class Tupled(torch.autograd.Function):
    @staticmethod
    def backward(ctx, g):
        grads = [g, -g]
        return tuple(grads)
class Rebound(torch.autograd.Function):
    @staticmethod
    def backward(ctx, g):
        grads = [g, -g]
        grads = (g, -g)
        return grads
class Helper(torch.autograd.Function):
    @staticmethod
    def backward(ctx, g):
        def helper():
            return [g]
        return helper()[0]
'''


@pytest.mark.parametrize(("target", "expected"), [("Listed", True), ("Built", True), ("Tupled", False),
                                                  ("Rebound", False), ("Helper", False), ("Missing", False)])
def test_a_list_is_read_from_the_source(target: str, expected: bool) -> None:
    assert returns_list(SOURCE, target) is expected


def test_unparsable_source_is_no_list() -> None:
    assert returns_list("def (", "Listed") is False


def _variant(tmp_path: Path, slug: str, module: str, find: str, replace: str) -> Path:
    source = (ROOT / "solutions" / slug / module).read_text()
    assert find in source
    path = tmp_path / module
    path.write_text(source.replace(find, replace, 1))
    return path


@pytest.mark.parametrize(("find", "replace", "target", "engine"), [
    ("return grad_a, grad_b", "return [grad_a, grad_b]", "Add",
     "function AddBackward returned an incorrect number of gradients (expected 2, got 1)"),
    ("return grad_x, None", "return [grad_x, None]", "Pow",
     "function PowBackward returned an incorrect number of gradients (expected 2, got 1)"),
])
def test_a_list_fails_the_contract_with_the_engines_words(grade, tmp_path, find, replace, target, engine) -> None:
    report = grade(_variant(tmp_path, "ex02_elementwise", "elementwise.py", find, replace), "ex02")
    contract = rows(report, target, "contract")
    assert contract and all(r.diagnosis == "wrong_type" and not r.passed for r in contract)
    assert all(engine in r.message and "a list" in r.message and r.hint.startswith("Return a tuple") for r in contract)
    assert all(r.passed for r in rows(report, target, ("autograd", "gradcheck")))  # the values are right
    assert all(r.passed for r in report.checks if r.target != target)
    assert 0 < report.score < report.max_score


def test_a_one_element_list_fails_too(grade, tmp_path) -> None:
    report = grade(_variant(tmp_path, "ex01_chain_rule", "chain_rule.py", "return grad_x\n",
                            "return [grad_x]\n"), "ex01")
    contract = rows(report, "ShiftedSquare", "contract")
    assert [r.diagnosis for r in contract] == ["wrong_type"] * len(contract)
    assert "expected Variable or None (got list)" in contract[0].message
    assert contract[0].hint == "Return a tuple, not a list: return grad_x,"


def test_a_list_built_in_a_helper_is_caught_by_what_backward_returned(grade, tmp_path) -> None:
    """The source scan cannot see through a helper; the child reports the returned sequence's type."""
    path = _variant(tmp_path, "ex02_elementwise", "elementwise.py", "return grad_a, grad_b", "return _pack(grad_a, grad_b)")
    path.write_text(path.read_text() + "\n\ndef _pack(*grads):\n    return list(grads)\n")
    report = grade(path, "ex02")
    contract = rows(report, "Add", "contract")
    assert contract and all(r.diagnosis == "wrong_type" and not r.passed for r in contract)
    assert "incorrect number of gradients (expected 2, got 1)" in contract[0].message
