"""Notebooks as students write them, graded end to end: plots in the outputs, cell magics, help lines, old
formats, and files that only look like notebooks."""

from __future__ import annotations

import base64
import json
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from helpers import ROOT, failures
from nbformat import v3
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.submission import MAX_FILE

SOLUTION = (ROOT / "solutions" / "ex04_linear" / "linear.py").read_text()
MATMUL, LINEAR = SOLUTION.split("class Linear", 1)
LINEAR = "class Linear" + LINEAR


def _full_marks(report) -> None:
    assert failures(report) == []
    assert report.max_score > 0 and report.score == pytest.approx(report.max_score)


def _write(path: Path, *cells) -> Path:
    path.write_text(nbformat.writes(new_notebook(cells=list(cells))))
    return path


def _plot(megabytes: float) -> dict:
    """A display output the size of a photo-like PNG (random bytes, which no zip compresses)."""
    png = base64.b64encode(os.urandom(int(megabytes * 1024 * 1024))).decode()
    return new_output("display_data", data={"image/png": png, "text/plain": "<Figure size 640x480>"})


def test_a_notebook_with_megabytes_of_plots_is_graded_on_its_code(grade, tmp_path):
    """Issue 11: a 6.9 MB notebook (a plot in its outputs) scored 0; the limit is on the code."""
    path = _write(tmp_path / "linear.ipynb", new_markdown_cell("# Exercise 4"),
                  new_code_cell(MATMUL, outputs=[_plot(3.5)], execution_count=1),
                  new_code_cell(LINEAR, outputs=[_plot(3.5)], execution_count=2))
    assert path.stat().st_size > 6_000_000 > MAX_FILE
    _full_marks(grade(path))
    with zipfile.ZipFile(tmp_path / "linear.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, "homework/linear.ipynb")
    assert (tmp_path / "linear.zip").stat().st_size > MAX_FILE
    _full_marks(grade(tmp_path / "linear.zip"))


def test_cell_magics_and_help_lines_leave_the_python_to_grade(grade, tmp_path):
    """Issue 11: %%bash, %%writefile, %%html cells and ``obj?`` lines made the whole notebook a syntax error."""
    path = _write(tmp_path / "linear.ipynb",
                  new_code_cell("%%bash\necho 'setting up'\nls -la"),
                  new_code_cell("%%writefile notes.txt\nThese are notes, (not Python."),
                  new_code_cell("%%html\n<b>MatMul and Linear</b>"),
                  new_code_cell("%%time\n" + MATMUL),
                  new_code_cell("torch.matmul?\n??MatMul\nMatMul.backward?"),
                  new_code_cell("%%capture captured\n" + LINEAR),
                  new_code_cell("%%javascript\nconsole.log('hi');"),
                  new_code_cell("files = !ls\n%timeit torch.ones(3)\n%%latex is no cell magic here"))
    _full_marks(grade(path))


def test_an_nbformat_3_notebook_is_converted_and_graded(grade, tmp_path):
    cells = [v3.new_text_cell("markdown", source="# Exercise 4"), v3.new_code_cell(input=MATMUL),
             v3.new_code_cell(input="%%bash\nls"), v3.new_code_cell(input=LINEAR)]
    path = tmp_path / "linear.ipynb"
    path.write_text(nbformat.writes(v3.new_notebook(worksheets=[v3.new_worksheet(cells=cells)]), version=3))
    assert json.loads(path.read_text())["nbformat"] == 3
    _full_marks(grade(path))


@pytest.mark.parametrize(("content", "reason"), [
    (json.dumps({"cells": [{"cell_type": "code", "source": SOLUTION}]}), "it has no nbformat key"),
    (json.dumps([{"cell_type": "code", "source": SOLUTION}]), "its JSON is an array"),
    (SOLUTION, "its text is not valid notebook JSON"),
])
def test_a_file_that_is_not_a_notebook_says_so(grade, tmp_path, content, reason):
    """Issue 11: a notebook without an nbformat key got "linear.py has no class MatMul"."""
    (tmp_path / "linear.ipynb").write_text(content)
    for submission in (tmp_path / "linear.ipynb", tmp_path):
        report = grade(submission)
        assert report.score == 0 and report.checks
        for row in report.checks:
            assert f"linear.ipynb is not a Jupyter notebook: {reason}" in row.message, row.message
            assert "has no class" not in row.message and str(tmp_path) not in row.message
