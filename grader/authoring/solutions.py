"""Solution blocks: turning an instructor's solution module into the student's stub.

In a solution module, each answer sits between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines. The
nearest ``# TODO:`` comment above the block is the task as students read it. The stub replaces the block
with ``raise NotImplementedError("<the TODO text>")`` at the block's indentation, and keeps everything else,
so stubs never drift from solutions.
"""

from __future__ import annotations

import re

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
_TODO = re.compile(r"^\s*#\s*TODO:?\s*(.*)$")


class SolutionMarkerError(ValueError):
    """Unbalanced or nested solution markers; the message gives the line number."""


def strip_solutions(source: str) -> str:
    """Replace every solution block of ``source`` by a ``NotImplementedError`` carrying its TODO text."""
    out: list[str] = []
    inside_since: int | None = None
    todo = "fill in this backward"
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside_since is not None:
                raise SolutionMarkerError(f"line {number}: {BEGIN} inside the block opened at line {inside_since}")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError({todo!r})\n")
            continue
        if stripped.startswith(END):
            if inside_since is None:
                raise SolutionMarkerError(f"line {number}: {END} without {BEGIN}")
            inside_since = None
            continue
        if inside_since is None:
            match = _TODO.match(line)
            if match and match.group(1):
                todo = "TODO: " + match.group(1).strip()
            out.append(line)
    if inside_since is not None:
        raise SolutionMarkerError(f"line {inside_since}: {BEGIN} is never closed by {END}")
    return "".join(out)


def has_solution_blocks(source: str) -> bool:
    return any(line.strip().startswith(BEGIN) for line in source.splitlines())
