"""Notebook submissions become one module: code cells in order, minus ``grader:skip`` cells, IPython-only cells
and lines; older formats are converted, outputs stripped, and a file that is no notebook says so."""

from __future__ import annotations

import base64
import codecs
import os

import nbformat
import pytest
from helpers import SUBMISSIONS
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.notebook import NotebookError, cell_code, is_ipython_line, notebook_to_source, read_notebook, strip_outputs


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
    (b'{"cells": [', "its text is not valid notebook JSON"),
    (b"\xff\xfe not utf-8", "it is not UTF-8"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "cells": "nope", "metadata": {}}', "its cells are not a list"),
    (b'{"cells": [{"cell_type": "code", "source": "class MatMul: pass"}]}', "it has no nbformat key"),
    (b'[{"cell_type": "code", "source": "class MatMul: pass"}]', "its JSON is an array"),
    (b'"class MatMul: pass"', "its JSON is a string"),
    (b"[" * 100_000 + b"]" * 100_000, "its JSON is nested too deeply"),
    (b'{"nbformat": 9, "cells": []}', "its nbformat is '9'"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, '
     b'"source": 7}]}', "cell 1 has no text"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "x = 1"}]}',
     "nbformat cannot read it"),
])
def test_unreadable_notebooks_raise_a_notebook_error(raw, reason):
    """Whatever is wrong, the message starts by saying the file is not a notebook (never "has no class")."""
    with pytest.raises(NotebookError, match=reason) as info:
        notebook_to_source(raw, "homework.ipynb")
    assert str(info.value).startswith("homework.ipynb is not a Jupyter notebook: ")


# ---------------------------------------------------------------- cell magics and IPython-only lines


@pytest.mark.parametrize("magic", ["%%bash", "%%sh", "%%writefile helper.py", "%%html", "%%javascript", "%%js",
                                   "%%latex", "%%markdown", "%%svg", "%%script bash", "%%perl", "%%ruby",
                                   "%%file notes.txt", "%%python3", "%%"])
def test_cells_whose_magic_is_not_python_are_left_out(magic):
    assert cell_code(f"{magic}\nls -la\n<b>not python</b>") is None
    source = notebook_to_source(_raw(new_code_cell("a = 1"), new_code_cell(f"\n  {magic}\nrm -rf /")))
    assert "rm -rf" not in source and "cell 2" not in source
    compile(source, "nb", "exec")


@pytest.mark.parametrize("magic", ["%%time", "%%timeit -n 1 -r 1", "%%capture out", "%%prun -s cumulative",
                                   "%%debug", "%%memit"])
def test_python_cell_magics_keep_their_body(magic):
    assert cell_code(f"{magic}\nclass A:\n    pass") == "class A:\n    pass"


@pytest.mark.parametrize("line", ["torch.matmul?", "torch.matmul??", "??x", "?x", "x?", "MatMul.backward?",
                                  "*int*?", "%timeit?", "  torch.matmul?", "files = !ls", "x = %sx ls",
                                  "a, b = !pwd", "%matplotlib inline", "!pip install torch"])
def test_ipython_lines_are_dropped(line):
    assert is_ipython_line(line)
    assert cell_code(f"a = 1\n{line}\nb = 2") == "a = 1\nb = 2"


@pytest.mark.parametrize("line", ["x = 1", "a != b", "y = 5 % 3", "# is this right?", "s = 'why?'",
                                  "print('?')", "d = {}", "x == y"])
def test_python_lines_are_kept(line):
    assert not is_ipython_line(line)


def test_a_notebook_with_every_kind_of_cell_joins_into_valid_python():
    source = notebook_to_source(_raw(
        new_code_cell("%%bash\necho hi"), new_code_cell("%%writefile x.py\nthis is not python("),
        new_code_cell("%%html\n<b>hi</b>"), new_code_cell("%%time\nkept = 1"), new_code_cell("kept?\n??kept"),
        new_code_cell("%%capture out\nalso = kept + 1"), new_code_cell("files = !ls\nlast = also")))
    scope: dict = {}
    exec(compile(source, "nb", "exec"), scope)
    assert scope["last"] == 2
    assert "echo" not in source and "<b>" not in source and "not python" not in source


# ---------------------------------------------------------------- versions and outputs


def _v3(*inputs: str) -> bytes:
    from nbformat import v3

    cells = [v3.new_text_cell("markdown", source="# Exercise 4")]
    cells += [v3.new_code_cell(input=text, outputs=[v3.new_output("stream", output_text="hi\n")]) for text in inputs]
    return nbformat.writes(v3.new_notebook(worksheets=[v3.new_worksheet(cells=cells)]), version=3).encode()


def test_an_nbformat_3_notebook_is_converted():
    raw = _v3("a = 1\nb = 2", "%%bash\nls", "c = a + b")
    assert b'"nbformat": 3' in raw and b'"input"' in raw
    source = notebook_to_source(raw)
    assert "a = 1\nb = 2" in source and "c = a + b" in source and "ls" not in source
    assert read_notebook(raw).nbformat == 4


def _png_output(size: int) -> dict:
    png = base64.b64encode(os.urandom(size)).decode()
    return new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})


def test_strip_outputs_keeps_the_code_and_drops_the_plots():
    plot = new_code_cell("import math\nplot = math.pi", outputs=[_png_output(3_000_000)], execution_count=4)
    markdown = new_markdown_cell("![x](attachment:x.png)", attachments={"x.png": {"image/png": "A" * 100_000}})
    skipped = new_code_cell("raise SystemExit", metadata={"tags": ["grader:skip"], "collapsed": True})
    raw = _raw(markdown, plot, skipped)
    stripped = strip_outputs(raw, "big.ipynb")
    assert len(raw) > 4_000_000 and len(stripped) < 2_000
    nbformat.validate(nbformat.reads(stripped.decode(), as_version=4))
    assert notebook_to_source(stripped) == notebook_to_source(raw)
    assert "# cell 2\nimport math" in notebook_to_source(stripped)
    assert strip_outputs(raw) == strip_outputs(raw), "the same cells give the same bytes"
