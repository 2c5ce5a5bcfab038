"""The released course teaches the method and leaves the answer to the student.

Every statement inside a solution block, and every right-hand side and returned expression, is an answer.
None of them may stand in the release: not in a stub (docstrings, comments), not in a README, not in a
notebook. Both sides are compared with comments stripped from the solution code and all whitespace removed,
so ``grad_a = grad_output @ b.T`` in a README is found as ``grad_a=grad_output@b.T``.

What counts as an answer fragment (the rule, applied to the solution side only):

- for an assignment ``a = expr`` (also ``a += expr``): the whole statement and ``expr``;
- for ``return expr``: ``expr``; for a bare expression statement (``t.index_add_(...)``): the statement;
- statements nested in ``if``/``for`` blocks count like any other; the ``if``/``for`` headers do not.

A fragment is skipped when

- the code given to the student outside the blocks (the forwards, with docstrings and comments left out)
  already contains it, such as ``weight.reshape(o, -1)`` in Conv2d;
- it is trivially short: fewer than 6 characters once normalised, such as ``x+2`` or ``2*g``;
- it is only names and constants (``g``, ``None``, ``grad_output``, or a tuple of them such as
  ``grad_x, None``): those say what is returned, in the order the TODO comment gives, not how it is
  computed, and would match any text about the exercise.
"""

from __future__ import annotations

import ast
import io
import json
import re
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT

from grader.authoring.release import release
from grader.authoring.solutions import BEGIN, END, strip_solutions
from grader.spec import CourseSpec, load_exercise

MIN_CHARS = 6
_WHITESPACE = re.compile(r"\s+")
_SKIPPED_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                   tokenize.ENDMARKER}


@dataclass(frozen=True)
class Fragment:
    text: str          # normalised: no comments, no whitespace
    source: str        # as written in the solution
    where: str         # solutions/<slug>/<module>:<line>


def normalise_code(source: str) -> str:
    """``source`` without comments and without any whitespace."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    kept = "".join(t.string for t in tokens if t.type not in _SKIPPED_TOKENS)
    return _WHITESPACE.sub("", kept)


def given_code(module: str) -> str:
    """The code of the stub made from ``module``, without comments, string literals (docstrings) or whitespace."""
    tokens = tokenize.generate_tokens(io.StringIO(strip_solutions(module)).readline)
    return _WHITESPACE.sub("", "".join(t.string for t in tokens if t.type not in _SKIPPED_TOKENS | {tokenize.STRING}))


def normalise_text(text: str) -> str:
    return _WHITESPACE.sub("", text)


def solution_blocks(source: str) -> list[tuple[int, str]]:
    """(first line number, dedented text) of every solution block in ``source``."""
    blocks, lines, start = [], source.splitlines(), None
    for number, line in enumerate(lines, start=1):
        if line.strip().startswith(BEGIN):
            start = number
        elif line.strip().startswith(END) and start is not None:
            blocks.append((start + 1, textwrap.dedent("\n".join(lines[start:number - 1]))))
            start = None
    return blocks


def _only_names(node: ast.expr) -> bool:
    if isinstance(node, ast.Name | ast.Constant):
        return True
    return isinstance(node, ast.Tuple) and all(_only_names(e) for e in node.elts)


def fragments(module: str, where: str) -> list[Fragment]:
    """The answer fragments of the solution module ``module`` (see the module docstring for the rule)."""
    found, given = [], given_code(module)
    for first_line, block in solution_blocks(module):
        for node in ast.walk(ast.parse(block)):
            parts: list[ast.AST] = []
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                parts = [node] + ([node.value] if node.value is not None else [])
            elif isinstance(node, ast.Return) and node.value is not None:
                parts = [node.value]
            elif isinstance(node, ast.Expr):
                parts = [node]
            for part in parts:
                if isinstance(part, ast.expr) and _only_names(part):
                    continue
                source = ast.get_source_segment(block, part)
                assert source is not None
                text = normalise_code(source)
                if len(text) >= MIN_CHARS and text not in given:
                    found.append(Fragment(text, source, f"{where}:{first_line + part.lineno - 1}"))
    return found


def released_texts(out: Path) -> dict[str, str]:
    """Every file a student receives under exercises/ and notebooks/, normalised (notebooks: their cells)."""
    texts = {}
    for folder in ("exercises", "notebooks"):
        for path in sorted((out / folder).rglob("*")):
            if not path.is_file():
                continue
            raw = path.read_text(encoding="utf-8")
            if path.suffix == ".ipynb":
                raw = "\n".join("".join(cell["source"]) for cell in json.loads(raw)["cells"])
            texts[path.relative_to(out).as_posix()] = normalise_text(raw)
    return texts


@pytest.fixture(scope="module")
def released(course: CourseSpec, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("teaches") / "student-repo"
    release(course, out, notebooks=True)
    texts = released_texts(out)
    assert any(name.endswith(".ipynb") for name in texts) and any(name.endswith("README.md") for name in texts)
    return texts


EXAMPLE = f'''
def forward(a, b):
    """a.T @ b, given to the student"""
    return a.T @ b


def backward(grad_output, a, b, keepdim):
    # TODO: return (dL/da, None)
    {BEGIN}
    g = grad_output  # an alias
    grad_a = g @ b.T
    w = a.T @ b
    if not keepdim:
        grad_a = grad_a.unsqueeze(0)
    t.index_add_(0, i, g)
    return grad_a, None
    {END}
'''


def test_the_fragment_rule() -> None:
    found = [(f.text, f.where) for f in fragments(EXAMPLE, "example")]
    # not g@b.T (short), a.T@b (given), grad_output, g or (grad_a, None) (names only)
    assert found == [("g=grad_output", "example:10"), ("grad_a=g@b.T", "example:11"), ("w=a.T@b", "example:12"),
                     ("t.index_add_(0,i,g)", "example:15"), ("grad_a=grad_a.unsqueeze(0)", "example:14"),
                     ("grad_a.unsqueeze(0)", "example:14")]


def test_no_solution_statement_stands_in_the_release(course: CourseSpec, released: dict[str, str]) -> None:
    every = []
    for slug in course.exercises:
        path = ROOT / "solutions" / slug / load_exercise(course, slug).module
        every += fragments(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert len(every) > 100  # the rule keeps the real answers, not just a handful
    leaks = {f"{f.where}: {f.source!r}": [name for name, text in released.items() if f.text in text] for f in every}
    leaks = {fragment: names for fragment, names in leaks.items() if names}
    assert not leaks, f"{len(leaks)} solution fragments stand in the release:\n" + "\n".join(
        f"{fragment} in {', '.join(names)}" for fragment, names in leaks.items())


def test_ex01_keeps_the_worked_derivation_of_the_seed(released: dict[str, str]) -> None:
    readme = released["exercises/ex01_chain_rule/README.md"]
    for step in ("y=(x+2)²", "g=x+2|dg/dx=1", "y=g²|dy/dg=2g",
                 r"\frac{dy}{dx}=\frac{dy}{dg}\cdot\frac{dg}{dx}=2g\cdot1=2(x+2)",
                 r"=\texttt{grad\_output}\cdot2(x+2)"):
        assert normalise_text(step) in readme, step
