"""check("ex03") in a notebook: which code it grades, and a real kernel (started by nbclient) running it."""

from __future__ import annotations

import linecache
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest
from helpers import ROOT
from nbformat.v4 import new_code_cell

from grader.authoring.notebook_release import code_cells, notebook_path
from grader.authoring.release import release
from grader.jupyter import collect, join_cells, strip_grader
from grader.spec import CourseSpec

RELU = "class ReLU:\n    @staticmethod\n    def backward(ctx, g):\n        return {value}\n"
WRONG_RELU = '''class ReLU(ReLU):
    @staticmethod
    def backward(ctx, grad_output):
        print("<b>bold</b>")
        x, = ctx.saved_tensors
        return -grad_output * (x > 0).to(x.dtype)'''


def _shell(cells: list[str]) -> Any:
    """A stand-in for IPython's shell that ran ``cells``: their text is in linecache, as IPython puts it."""
    namespace: dict[str, Any] = {}
    for number, cell in enumerate(cells, start=1):
        filename = f"<ipython-cell-{id(cells)}-{number}>"
        linecache.cache[filename] = (len(cell), None, cell.splitlines(keepends=True), filename)
        exec(compile(cell, filename, "exec"), namespace)  # noqa: S102 - the test's own code
    return SimpleNamespace(user_ns=namespace, history_manager=SimpleNamespace(input_hist_raw=["", *cells]))


def test_history_is_joined_without_magics_or_cells_that_never_ran() -> None:
    text = join_cells(["%matplotlib inline\na = 1", "b = (", "ReLU?", "!ls\nc = a"])
    assert "a = 1" in text and "c = a" in text
    assert "%" not in text and "!ls" not in text and "b = (" not in text and "ReLU?" not in text


def test_history_follows_the_notebook_rules_for_cell_magics() -> None:
    """A ``%%bash`` cell whose body happens to parse (``ls``, ``pwd``) would fail at import: it is left out."""
    text = join_cells(["%%bash\nls", "%%writefile x.py\ny = 2", "%%time\na = 1", "a?\n??a\nb = a", "%%html\npwd"])
    assert "a = 1" in text and "b = a" in text
    assert "ls" not in text and "y = 2" not in text and "pwd" not in text and "?" not in text


def test_a_saved_file_that_is_no_notebook_gives_way_to_what_the_kernel_ran(course: CourseSpec, tmp_path: Path) -> None:
    saved = tmp_path / "saved.ipynb"
    saved.write_text('{"cells": []}')
    shell = _shell([RELU.format(value="g")])
    shell.user_ns["__vsc_ipynb_file__"] = str(saved)
    found = collect(shell, course, "ex03_activations", None)
    assert found.origin == "the cells you ran in this kernel" and "return g" in found.text
    assert found.note.startswith("saved.ipynb is not a Jupyter notebook: it has no nbformat key")


def test_the_graders_own_calls_are_left_out() -> None:
    text, removed = strip_grader(
        "import torch\nfrom grader import check\nr = check('ex03')\nprint(r.score)\nx = 1\n"
        "class A:\n    def f(self):\n        return check(1)\n")
    assert removed == ["from grader import check", "r = check('ex03')", "print(r.score)"]
    assert text == "import torch\nx = 1\nclass A:\n    def f(self):\n        return check(1)\n"
    aliased = strip_grader("import grader as g\ng.check('ex03')\ny = 2\n")
    assert aliased == ("y = 2\n", ["import grader as g", "g.check('ex03')"])
    own = "def check(x):\n    return x\ncheck(1)\n"
    assert strip_grader(own) == (own, [])


def test_a_stale_notebook_file_gives_way_to_what_the_kernel_ran(course: CourseSpec, tmp_path: Path) -> None:
    saved = tmp_path / "saved.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [new_code_cell(RELU.format(value="g"))]
    nbformat.write(nb, saved)
    fresh = _shell([RELU.format(value="g")])
    assert collect(fresh, course, "ex03_activations", saved).origin == "the saved notebook saved.ipynb"
    edited = _shell([RELU.format(value="g"), RELU.format(value="2 * g")])
    explicit = collect(edited, course, "ex03_activations", saved)
    assert explicit.origin == "the saved notebook saved.ipynb" and "differs from the cells you ran (ReLU)" in explicit.note
    edited.user_ns["__vsc_ipynb_file__"] = str(saved)  # found by itself, and stale: the kernel's cells are graded
    found = collect(edited, course, "ex03_activations", None)
    assert found.origin == "the cells you ran in this kernel" and "not saved" in found.note
    assert found.text.index("return g") < found.text.index("return 2 * g")


def test_check_in_a_kernel_started_by_nbclient(course: CourseSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The released ex03 notebook, solved: check() shows full marks as HTML; a wrong ReLU run after it is caught
    (its printed HTML escaped); and check(notebook=...) grades the saved file, warning about untagged calls."""
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    out = tmp_path / "student-repo"
    release(course, out, notebooks=True)  # a course copy with stubs only: no solutions, no hidden cases
    path = notebook_path(out, "ex03_activations")
    nb = nbformat.read(path, as_version=4)
    solution = (ROOT / "solutions" / "ex03_activations" / "activations.py").read_text()
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    nb.cells = [*markdown, *(new_code_cell(c) for c in code_cells(solution)), nb.cells[-1],
                new_code_cell(WRONG_RELU), new_code_cell('r = check("ex03")'),
                new_code_cell(f'saved = check("ex03", notebook="{path.name}")\nprint(saved.score == r.score)')]
    nbformat.write(nb, path)

    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()

    def html(cell: Any) -> str:
        [display] = [o for o in cell.outputs if o.output_type == "display_data"]
        return str(display.data["text/html"])

    right, wrong, saved = html(nb.cells[-4]), html(nb.cells[-2]), html(nb.cells[-1])
    shown = re.search(r"Score: (\S+) / (\S+)</span>", right)
    assert shown is not None
    score, full = shown.groups()
    assert score == full and float(full) > 0 and "the cells you ran in this kernel" in right
    assert "<Report ex03: " in nb.cells[-4].outputs[-1].data["text/plain"]
    assert "sign_flipped" in wrong and f" / {full}</span>" in wrong and f"Score: {full} / " not in wrong
    assert "&lt;b&gt;bold&lt;/b&gt;" in wrong and "<b>bold</b>" not in wrong
    assert "the saved notebook ex03_activations.ipynb" in saved and "grader:skip" in saved
    assert [o.text for o in nb.cells[-1].outputs if o.output_type == "stream"] == ["True\n"]
