"""The exercise.yaml students may read: the instructor's, without its misconception catalogues.

A catalogue entry's ``formula`` is a wrong gradient written next to the right one's pieces (``grad_output.mean(0)``
for ``grad_output.sum(0)``), and its hint may name the fix; handed out, it gives the answer away. So the copies
that reach students (the released repository, the public Classroom 50 autograder) leave every ``catalogue:``
block out, and grading there names mistakes with the generic patterns only. The instructor's course, batch
runs and the (private) Gradescope bundle keep the catalogues.

The block is cut from the text, not by re-dumping the YAML, so the file keeps its comments and layout: a
``catalogue:`` key and every following line indented deeper than it (or a list item at its own indent).
"""

from __future__ import annotations

import re

_KEY = re.compile(r"^(?P<indent>[ ]*)catalogue:\s*(#.*)?$")


def without_catalogues(text: str) -> str:
    """``text`` (an exercise.yaml) with every ``catalogue:`` block removed."""
    out: list[str] = []
    cutting: int | None = None
    for line in text.splitlines(keepends=True):
        if cutting is not None:
            stripped = line.strip()
            indent = len(line) - len(line.lstrip(" "))
            if not stripped or indent > cutting or (indent == cutting and stripped.startswith("- ")):
                continue
            cutting = None
        match = _KEY.match(line.rstrip("\n"))
        if match:
            cutting = len(match.group("indent"))
            continue
        out.append(line)
    return "".join(out)
