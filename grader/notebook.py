"""A notebook submission becomes one module (CONTRACT section 6).

Code cells are joined in order, each under a ``# cell N`` line. What the kernel would not run as Python is left
out, so that one IPython-only line cannot turn the whole notebook into a syntax error:

- cells tagged ``grader:skip``;
- cells whose cell magic runs something else (``%%bash``, ``%%writefile``, ``%%html``, ``%%javascript``, ...);
  the body of a Python cell magic (``%%time``, ``%%timeit``, ``%%capture``, ``%%prun``, ...) is kept;
- lines in IPython's own syntax: magics (``%``), shell escapes (``!``), ``x = !cmd`` and ``x = %magic``
  assignments, help requests (``torch.matmul?``, ``??x``).

Notebooks are read by nbformat; older formats (nbformat 3 and before) go through nbformat's conversion to
version 4. A file that is no notebook raises :class:`NotebookError` saying so. :func:`strip_outputs` drops the
outputs (plots can be megabytes) before any limit on the code applies.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import nbformat
from nbformat.reader import NotJSONError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

SKIP_TAG = "grader:skip"
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit"})
"""Cell magics whose body is Python run in the kernel; every other cell magic's cell is left out."""

_HELP = re.compile(r"\?\??\S.*|%{0,2}[A-Za-z_*][\w.*]*\?\??")
_MAGIC_ASSIGNMENT = re.compile(r"[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[%!]")
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


class NotebookError(ValueError):
    """The file is not a readable notebook; the message says why."""


def notebook_to_source(raw: bytes, name: str = "notebook.ipynb") -> str:
    """The module a notebook file stands for (see the module docstring); raises :class:`NotebookError`."""
    return notebook_code(read_notebook(raw, name), name)


def read_notebook(raw: bytes, name: str = "notebook.ipynb") -> nbformat.NotebookNode:
    """The notebook in ``raw`` as nbformat version 4, whatever version it was saved in."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{name} is not a Jupyter notebook: it is not UTF-8 text (byte {exc.start})") from None
    try:
        data = nbformat.reader.parse_json(text)
    except NotJSONError as exc:
        detail = str(exc.__cause__ or exc).splitlines()[0][:200]
        raise NotebookError(f"{name} is not a Jupyter notebook: its text is not valid notebook JSON ({detail})") from None
    except RecursionError:
        raise NotebookError(f"{name} is not a Jupyter notebook: its JSON is nested too deeply") from None
    return _as_version_4(data, name)


def strip_outputs(raw: bytes, name: str = "notebook.ipynb") -> bytes:
    """The notebook with only its cells' kind, text and tags: outputs, pasted images and metadata are dropped.

    A plot can make a notebook megabytes long; what is graded, and limited, is the code. The result is a
    valid version 4 notebook, the same bytes for the same cells (the batch's cache hashes it).
    """
    cells = [_bare_cell(cell, index, name) for index, cell in enumerate(read_notebook(raw, name).cells, start=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.writes(new_notebook(cells=cells)).encode("utf-8")


def notebook_code(nb: nbformat.NotebookNode, name: str = "notebook.ipynb") -> str:
    """The code cells of ``nb`` joined into one module, by the rules of the module docstring."""
    chunks = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code" or SKIP_TAG in _tags(cell):
            continue
        code = cell_code(_source(cell, index, name))
        if code is not None:
            chunks.append(f"# cell {index}\n{code}")
    return "\n\n".join(chunks) + "\n"


def cell_code(text: str) -> str | None:
    """The Python of one cell as the kernel ran it, or ``None`` when the cell magic runs something else."""
    lines = text.splitlines()
    first = next((number for number, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].lstrip()[2:].split(maxsplit=1)
        if not words or words[0] not in PYTHON_CELL_MAGICS:
            return None
        lines = lines[first + 1:]
    return "\n".join(line for line in lines if not is_ipython_line(line))


def is_ipython_line(line: str) -> bool:
    """Whether ``line`` is IPython syntax, not Python: a magic, a shell escape, a help request."""
    text = line.strip()
    return (text.startswith(("%", "!", "?")) or _HELP.fullmatch(text) is not None
            or _MAGIC_ASSIGNMENT.match(text) is not None)


def _as_version_4(data: Any, name: str) -> nbformat.NotebookNode:
    """``data`` (parsed JSON) read and converted by nbformat, after checking it claims to be a notebook."""
    why = _not_a_notebook(data)
    if why:
        raise NotebookError(f"{name} is not a Jupyter notebook: {why}")
    major, minor = nbformat.reader.get_version(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.convert(nbformat.versions[major].to_notebook_json(data, minor=minor), 4)
    except Exception as exc:  # nbformat raises anything from KeyError to ValidationError on malformed input
        detail = next(iter(str(exc).splitlines()), "")[:200]
        raise NotebookError(f"{name} is not a Jupyter notebook: nbformat cannot read it "
                            f"({type(exc).__name__}: {detail})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise NotebookError(f"{name} is not a Jupyter notebook: its cells are not a list of cells")
    return nb


def _not_a_notebook(data: Any) -> str:
    """Why parsed JSON is no notebook, or ``""``: nbformat would read a dict without a version as version 1."""
    if not isinstance(data, dict):
        kind = _JSON_KINDS.get(type(data), "null")
        return f"its JSON is {kind}, not an object with cells"
    if "nbformat" not in data:
        return "it has no nbformat key, which every notebook Jupyter saves has"
    version = data["nbformat"]
    if type(version) is not int or version not in nbformat.versions:
        known = ", ".join(str(v) for v in sorted(nbformat.versions))
        return f"its nbformat is {str(version)[:20]!r}, and nbformat reads versions {known}"
    if version == 4 and not isinstance(data.get("cells"), list):
        return "its cells are not a list of cells"
    return ""


def _source(cell: dict[str, Any], index: int, name: str) -> str:
    source = cell.get("source", "")
    if not isinstance(source, str):
        raise NotebookError(f"{name} is not a Jupyter notebook: cell {index} has no text as its source")
    return source


def _tags(cell: dict[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return list(dict.fromkeys(tag for tag in tags if isinstance(tag, str))) if isinstance(tags, list) else []


def _bare_cell(cell: dict[str, Any], index: int, name: str) -> nbformat.NotebookNode:
    source, cell_id = _source(cell, index, name), f"cell-{index}"
    if cell.get("cell_type") == "code":
        tags = _tags(cell)
        return new_code_cell(source, id=cell_id, metadata={"tags": tags} if tags else {})
    if cell.get("cell_type") == "markdown":
        return new_markdown_cell(source, id=cell_id)
    return new_raw_cell(source, id=cell_id)
