"""A notebook submission becomes one module (CONTRACT section 6).

Code cells are joined in order. Cells tagged ``grader:skip`` are left out, and so are lines starting with
``%`` or ``!`` (IPython magics and shell escapes), which are not Python.
"""

from __future__ import annotations

import json
import warnings

import nbformat

SKIP_TAG = "grader:skip"


class NotebookError(ValueError):
    """The file is not a readable notebook; the message says why."""


def notebook_to_source(raw: bytes, name: str = "notebook.ipynb") -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{name} is not UTF-8 text (byte {exc.start})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        raise NotebookError(f"{name} is not valid notebook JSON: {str(exc).splitlines()[0][:200]}") from None
    except Exception as exc:
        raise NotebookError(f"{name} could not be read as a notebook: {type(exc).__name__}: {exc}") from None
    chunks = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if SKIP_TAG in tags:
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        lines = [line for line in str(source).splitlines() if not line.lstrip().startswith(("%", "!"))]
        chunks.append(f"# cell {index + 1}\n" + "\n".join(lines))
    return "\n\n".join(chunks) + "\n"
