"""The static scan's node index walks exactly as ``ast.walk`` does, and the scan keeps no student's code."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

from grader.integrity import static
from grader.integrity.nodes import Nodes

SOURCES = sorted((ROOT / "solutions").rglob("*.py")) + sorted((ROOT / "tests" / "submissions").rglob("*.py"))
UNITS = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def _unit_by_search(tree: ast.Module, node: ast.AST) -> str | None:
    """The top-level unit holding ``node``, found the slow way: search each one's subtree."""
    for top in tree.body:
        if isinstance(top, UNITS) and any(sub is node for sub in ast.walk(top)):
            return top.name
    return None


def test_walks_children_and_units_are_those_of_ast() -> None:
    assert len(SOURCES) > 50
    for path in SOURCES:
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except SyntaxError:
            continue  # a submission that does not parse, on purpose
        nodes = Nodes(tree)
        assert nodes.all == list(ast.walk(tree)), path
        for node in nodes.all:
            assert nodes.children(node) == list(ast.iter_child_nodes(node)), path
            if isinstance(node, ast.FunctionDef | ast.Lambda | ast.Assign):
                assert nodes.walk(node) == list(ast.walk(node)), path
                assert nodes.unit_of(node) == _unit_by_search(tree, node), path


def test_a_node_made_after_the_index_is_walked_afresh() -> None:
    tree = ast.parse("x = 1\ndef f(a):\n    return a + 1\n")
    nodes = Nodes(tree)
    loose = ast.Module(body=[tree.body[0]], type_ignores=[])
    assert nodes.walk(loose) == list(ast.walk(loose))
    assert nodes.unit_of(loose) is None and nodes.unit_of(tree.body[1]) == "f"


def test_forget_drops_every_kept_scan_and_parse() -> None:
    """The trusted server forgets after each student, because each later sandbox child is a copy of its memory."""
    source = "import torch\nclass Linear(torch.autograd.Function):\n    pass\n"
    static.findings_for(source, "Linear")
    assert static.scan.cache_info().currsize > 0 and static._parsed.cache_info().currsize > 0
    static.forget()
    assert static.scan.cache_info().currsize == 0 and static._parsed.cache_info().currsize == 0
