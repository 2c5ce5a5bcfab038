"""``grade release --notebooks``: one Jupyter notebook per exercise, for students who work in notebooks.

A notebook is the exercise's README as markdown cells (one per ``##`` section), a short note on working in the
notebook, the stub module as code cells (its header with the imports, then one cell per class or function),
and a last cell that calls ``check("exNN")``. That cell is tagged ``grader:skip`` (CONTRACT section 6), so the
saved notebook, graded as a submission, is exactly the stub module: the grader's own call never reaches the
sandbox.

Cell ids are derived from the exercise, not random, so releasing twice writes the same files.
"""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.notebook import SKIP_TAG

FOLDER = "notebooks"

WORKING = """## Working in this notebook

The code cells below are `{module}`. Fill in each `backward` in place of its `raise NotImplementedError(...)`
line; the `forward`s are given. Run a cell after you change it, then run the last cell: it grades the classes
you ran (in a separate sandbox, not in this kernel) and shows, for each input, whether your gradient is right
and, if not, what is wrong with it.

Stuck? Change the last cell to `check("{ex_id}", hint=True)`: under the report, each class that is not right
yet gets a hint, a further one each time you run it (the idea, then the local derivatives, then the shapes).
`check("{ex_id}", hint=2)` shows the second one again.

To hand in, submit this `.ipynb` file. Code cells are graded in order. Cells tagged `grader:skip` are left
out, and so are lines that start with `%` or `!`, so keep experiments in cells tagged `grader:skip`."""

CHECK = 'from grader import check\n\ncheck("{ex_id}")'


def code_cells(source: str) -> list[str]:
    """Split a module into cells: the header (docstring, imports), then one cell per top-level class or function.

    A definition's cell starts at its decorators and the comment lines right above it; any other top-level
    statement stays in the cell before it, so the cells joined in order are the module again.
    """
    lines = source.splitlines()
    starts = {0}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1
            starts.add(start)
    bounds = [*sorted(starts), len(lines)]
    cells = ["\n".join(lines[a:b]).strip("\n") for a, b in pairwise(bounds)]
    return [cell for cell in cells if cell.strip()]


def markdown_cells(readme: str) -> list[str]:
    """The README split before each ``## `` heading (headings inside fenced code blocks do not count)."""
    cells: list[list[str]] = [[]]
    fenced = False
    for line in readme.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if line.startswith("## ") and not fenced and any(s.strip() for s in cells[-1]):
            cells.append([])
        cells[-1].append(line)
    return ["\n".join(cell).strip("\n") for cell in cells if any(s.strip() for s in cell)]


def exercise_notebook(ex_id: str, module: str, readme: str, stub: str) -> nbformat.NotebookNode:
    """The student notebook of one exercise (nbformat 4, validated)."""
    nb = new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    texts = [*markdown_cells(readme), WORKING.format(module=module, ex_id=ex_id)]
    nb.cells = [new_markdown_cell(text, id=f"{ex_id}-text-{i}") for i, text in enumerate(texts, start=1)]
    nb.cells += [new_code_cell(code, id=f"{ex_id}-code-{i}") for i, code in enumerate(code_cells(stub), start=1)]
    nb.cells.append(new_code_cell(CHECK.format(ex_id=ex_id), id=f"{ex_id}-check", metadata={"tags": [SKIP_TAG]}))
    nbformat.validate(nb)
    return nb


def notebook_path(out: Path, slug: str) -> Path:
    return out / FOLDER / f"{slug}.ipynb"


def write_notebook(path: Path, nb: nbformat.NotebookNode) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path
