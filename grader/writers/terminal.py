"""The report for people: per target, a table of inputs × checks, then what is wrong and what to try.

Each cell sums up every case: ``✓`` when all passed, otherwise the diagnosis of the first failing case.
Below the table, each distinct mistake is explained once, with the checks and cases it appeared in, the
message with its numbers, and the hint.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.escape import log_line
from grader.results import CHECK_KINDS, Report, Row
from grader.writers.cells import cell

_OP = "(whole op)"


def write(reports: list[Report], destination: IO[str], color: bool | None = None, show_output: bool = True) -> None:
    console = Console(file=destination, force_terminal=color, no_color=color is False, highlight=False,
                      width=max(100, Console(file=destination).width))
    for report in reports:
        console.print(render(report, show_output=show_output))
    if len(reports) > 1:
        score = sum(r.score for r in reports)
        max_score = sum(r.max_score for r in reports)
        console.print(Text(f"Total: {score:g} / {max_score:g}", style="bold"))


def render(report: Report, show_output: bool = True) -> Panel:
    parts: list[RenderableType] = []
    targets = OrderedDict[str, list[Row]]()
    for row in report.checks:
        targets.setdefault(row.target, []).append(row)
    for target, rows in targets.items():
        parts.append(_table(target, rows))
        parts.extend(_problems(rows))
    if show_output and report.output:
        parts.append(Text("Your code printed:", style="bold yellow"))
        parts.append(Text(log_line(report.output[:4000]), style="dim"))
    style = "green" if report.passed else "red"
    parts.append(Text(f"Score: {report.score:g} / {report.max_score:g}", style=f"bold {style}"))
    title = Text(f"{report.exercise} · {report.title}", style="bold")
    return Panel(Group(*parts), title=title, subtitle=f"seed {report.seed}", border_style=style,
                 title_align="left")


def _table(target: str, rows: list[Row]) -> Table:
    """Inputs × gradient checks; the whole-op checks (forward, policy) go in the title line."""
    title = Text(target, style="bold cyan")
    for check in ("forward", "policy", "training"):
        group = [r for r in rows if r.check == check]
        if group:
            title.append(f"   {check} ")
            title.append_text(_cell(group))
    checks = [c for c in CHECK_KINDS if c not in ("forward", "policy", "training") and any(r.check == c for r in rows)]
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("input", no_wrap=True)
    for check in checks:
        table.add_column(check, no_wrap=True)
    inputs = list(OrderedDict.fromkeys(r.input for r in rows if r.input is not None))
    for name in inputs:
        cells = [_cell([r for r in rows if r.input == name and r.check == check]) for check in checks]
        table.add_row(name, *cells)
    return table


def _cell(group: list[Row]) -> Text:
    text = cell(group)
    return Text(text, style="green" if text == "✓" else "red")


def _problems(rows: list[Row]) -> list[RenderableType]:
    """One block per distinct mistake: the input and code, where it showed, the message and the hint."""
    groups = OrderedDict[tuple[str, str], list[Row]]()
    for row in rows:
        if not row.passed:
            groups.setdefault((row.input or _OP, row.diagnosis), []).append(row)
    out: list[RenderableType] = []
    for (name, code), failed in groups.items():
        first = failed[0]
        checks = ", ".join(OrderedDict.fromkeys(r.check for r in failed))
        cases = ", ".join(OrderedDict.fromkeys(r.case + (" (hidden)" if r.hidden else "") for r in failed))
        head = Text()
        head.append(f"✗ {name}: ", style="bold red")
        head.append(code, style="bold")
        head.append(f"  [{checks}; {cases}]", style="dim")
        body = Text(log_line(first.message))
        if first.hint:
            body.append("\nhint: ", style="yellow")
            body.append(first.hint)
        out.extend([head, Padding(body, (0, 0, 0, 2))])
    return out
