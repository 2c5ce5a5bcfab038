"""Notebook submissions become one module: code cells in order, minus ``grader:skip`` cells and magics."""

from __future__ import annotations

import codecs

import nbformat
import pytest
from helpers import SUBMISSIONS
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.notebook import NotebookError, notebook_to_source


def _raw(*cells) -> bytes:
    nb = new_notebook()
    nb.cells = list(cells)
    return nbformat.writes(nb).encode()


def test_code_cells_are_joined_in_order():
    source = notebook_to_source(_raw(new_code_cell("a = 1"), new_markdown_cell("# not code"), new_code_cell("b = a")))
    assert source.index("a = 1") < source.index("b = a")
    assert "# not code" not in source
    scope: dict = {}
    exec(compile(source, "nb", "exec"), scope)
    assert scope["b"] == 1


def test_skip_tag_drops_the_whole_cell():
    source = notebook_to_source(_raw(new_code_cell("kept = True"),
                                     new_code_cell("raise SystemExit", metadata={"tags": ["grader:skip"]}),
                                     new_code_cell("also = True", metadata={"tags": ["other"]})))
    assert "kept = True" in source and "also = True" in source
    assert "SystemExit" not in source


def test_magics_and_shell_escapes_are_dropped():
    source = notebook_to_source(_raw(new_code_cell("%matplotlib inline\n!pip install torch\n  %time x = 1\ny = 2"),
                                     new_code_cell("%%time\nz = 3")))
    assert "%" not in source and "!" not in source
    assert "y = 2" in source and "z = 3" in source
    compile(source, "nb", "exec")


def test_the_fixture_notebook_becomes_valid_python():
    source = notebook_to_source((SUBMISSIONS / "notebook" / "linear.ipynb").read_bytes())
    compile(source, "linear.py", "exec")
    assert "class MatMul" in source and "class Linear" in source
    assert "scratch" not in source and "gradcheck" not in source and "pip" not in source


def test_byte_order_mark_is_accepted():
    source = notebook_to_source(codecs.BOM_UTF8 + _raw(new_code_cell("a = 1")))
    assert "a = 1" in source


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"cells": [', "not valid notebook JSON"),
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "cells": "nope", "metadata": {}}', "could not be read"),
])
def test_unreadable_notebooks_raise_a_notebook_error(raw, reason):
    with pytest.raises(NotebookError, match=reason) as info:
        notebook_to_source(raw, "homework.ipynb")
    assert "homework.ipynb" in str(info.value)
