"""The report for people: per target, a table of inputs × checks, then what is wrong and what to try.

The table shows ``✓`` or ``✗`` per check (every case summed up) and, in its last column, the diagnoses of
the input; below it, each distinct mistake is explained once (inputs with the very same mistake together),
with the checks and cases it appeared in, the message with its numbers, and the hint.

**Width.** The report follows the terminal it is shown in (any of stdin, stdout or stderr being one, so
``grade ex04 | less`` still fits the window), or ``$COLUMNS``; with no terminal at all (a pipe in CI, a log
file) it is :data:`FIXED_WIDTH` columns. The glyph columns stay a few characters wide and only the
diagnosis column and the messages wrap, so it reads well at 80 columns and stays usable at 60; below
:data:`BORDERLESS_BELOW` the panel drops its border to give the text those columns back.
"""

from __future__ import annotations

import io
import os
import sys
from collections import OrderedDict
from typing import IO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.escape import log_line
from grader.results import Report, Row
from grader.writers.cells import cell
from grader.writers.feedback import GRADIENT, WHOLE_OP, problems, substitution_notes

FIXED_WIDTH = 100
"""Columns for output that no terminal shows (CI logs keep long messages on one line)."""

BORDERLESS_BELOW = 72
MIN_WIDTH = 40


def width(destination: IO[str]) -> int:
    """The columns to render for: the terminal's, else ``$COLUMNS``, else :data:`FIXED_WIDTH`."""
    for stream in (destination, sys.stdout, sys.stderr, sys.stdin):
        try:
            return max(MIN_WIDTH, os.get_terminal_size(stream.fileno()).columns)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            continue
    columns = os.environ.get("COLUMNS", "")
    return max(MIN_WIDTH, int(columns)) if columns.isdigit() else FIXED_WIDTH


def write(reports: list[Report], destination: IO[str], color: bool | None = None, show_output: bool = True,
          columns: int | None = None) -> None:
    """Print the reports to ``destination`` (``columns`` overrides the width found by :func:`width`)."""
    columns = columns or width(destination)
    console = Console(file=destination, force_terminal=color, no_color=color is False, highlight=False, width=columns)
    for index, report in enumerate(reports):
        if index and columns < BORDERLESS_BELOW:
            console.print()  # without borders, a blank line keeps the exercises apart
        console.print(render(report, show_output=show_output, columns=columns))
    if len(reports) > 1:
        score = sum(r.score for r in reports)
        max_score = sum(r.max_score for r in reports)
        console.print(Text(f"Total: {score:g} / {max_score:g}", style="bold"))


def render(report: Report, show_output: bool = True, columns: int = FIXED_WIDTH) -> Panel:
    parts: list[RenderableType] = []
    targets = OrderedDict[str, list[Row]]()
    for row in report.checks:
        targets.setdefault(row.target, []).append(row)
    for note in substitution_notes(report):
        parts.append(Text(f"Note: {log_line(note)}", style="yellow"))
    for target, rows in targets.items():
        parts.append(_table(target, rows))
        parts.extend(_problems(rows))
    if show_output and report.output:
        parts.append(Text("Your code printed:", style="bold yellow"))
        parts.append(Text(log_line(report.output[:4000]), style="dim"))
    style = "green" if report.passed else "red"
    parts.append(Text(f"Score: {report.score:g} / {report.max_score:g}", style=f"bold {style}"))
    title = Text(f"{report.exercise} · {report.title}", style="bold")
    border = box.ROUNDED if columns >= BORDERLESS_BELOW else box.MINIMAL
    return Panel(Group(*parts), title=title, subtitle=f"seed {report.seed}", border_style=style,
                 title_align="left", box=border, padding=(0, 1) if columns >= BORDERLESS_BELOW else (0, 0))


def _table(target: str, rows: list[Row]) -> Table:
    """Inputs × gradient checks as glyphs, then the input's diagnoses; whole-op checks go in the title line."""
    title = Text(target, style="bold cyan")
    for check in WHOLE_OP:
        group = [r for r in rows if r.check == check]
        if group:
            title.append(f"   {check} ")
            title.append_text(_cell(group))
    checks = [c for c in GRADIENT if any(r.check == c for r in rows)]
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("input", no_wrap=True)
    for check in checks:
        table.add_column(check, no_wrap=True, justify="center")
    table.add_column("diagnosis", overflow="fold", ratio=1)
    for name in OrderedDict.fromkeys(r.input for r in rows if r.input is not None):
        mine = [r for r in rows if r.input == name]
        glyphs = [_glyph([r for r in mine if r.check == check]) for check in checks]
        codes = ", ".join(_named(mine))
        table.add_row(name, *glyphs, Text(codes, style="red"))
    return table


def _named(rows: list[Row]) -> list[str]:
    """Each failed diagnosis once, followed by the first pattern its rows carry: ``wrong_values · bias_not_summed``."""
    found: dict[str, str | None] = {}
    for row in rows:
        if not row.passed and found.get(row.diagnosis) is None:
            found[row.diagnosis] = row.pattern
    return [code + (f" · {pattern}" if pattern else "") for code, pattern in found.items()]


def _glyph(group: list[Row]) -> Text:
    """``✓`` when every case passed, ``✗`` when one failed, nothing when the check has no rows for the input."""
    if not group:
        return Text("")
    return Text("✓", style="green") if all(r.passed for r in group) else Text("✗", style="bold red")


def _cell(group: list[Row]) -> Text:
    text = cell(group)
    return Text(text, style="green" if text == "✓" else "red")


def _problems(rows: list[Row]) -> list[RenderableType]:
    """One block per distinct mistake: the inputs and code, where it showed, the message and the hint."""
    out: list[RenderableType] = []
    for problem in problems(rows, merge=True):
        head = Text()
        head.append(f"✗ {problem.subject}: ", style="bold red")
        head.append(problem.diagnosis, style="bold")
        if problem.pattern:
            head.append(f" · {problem.pattern}", style="bold magenta")
        head.append(f"  [{problem.checks}; {problem.cases}]", style="dim")
        body = Text(log_line(problem.message))
        if problem.hint:
            body.append("\nhint: ", style="yellow")
            body.append(problem.hint)
        out.extend([head, Padding(body, (0, 0, 0, 2))])
    return out
