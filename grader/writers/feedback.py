"""Feedback for one student after a batch: ``feedback/<student>.md`` and ``.html``.

Per exercise and target, the same picture as the terminal report: a table of inputs × gradient checks
(``✓``, or the diagnosis of the first failing case with how many failed), then each distinct mistake once,
with the checks and cases it appeared in, the message with its numbers, and the hint. Everything the
student controls (messages quoting their exceptions, what their code printed) goes through
:mod:`grader.escape`, so a ``</table>`` or a Markdown link shows as text, and a ``::notice::`` line is
indented so that a CI log showing the Markdown does not run it.

:func:`brief` is the one-line version the LMS writers put in a feedback or comment field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.batch.record import Assignment, StudentRecord, points
from grader.batch.state import write_if_changed
from grader.escape import html, log_line, markdown_block, markdown_inline, printable
from grader.results import CHECK_KINDS, Report, Row
from grader.writers.cells import cell
from grader.writers.sinks import Sink

WHOLE_OP = ("forward", "policy", "training")
GRADIENT = tuple(c for c in CHECK_KINDS if c not in WHOLE_OP)
_OP = "(whole op)"


@dataclass(frozen=True)
class Problem:
    """One distinct mistake of a target: an input (or the whole op) and a diagnosis, with where it showed.

    ``pattern`` is the misconception one of its rows matched (a catalogue entry or a generic id), if any; the
    message and hint are then that row's.
    """

    subject: str
    diagnosis: str
    checks: str
    cases: str
    message: str
    hint: str
    pattern: str | None = None

    @property
    def named(self) -> str:
        """``wrong_values · bias_not_summed``, or the code alone without a pattern."""
        return self.diagnosis + (f" · {self.pattern}" if self.pattern else "")

    @property
    def heading(self) -> str:
        """``bias: wrong_values · bias_not_summed``."""
        return f"{self.subject}: {self.named}"


@dataclass(frozen=True)
class TargetTable:
    """The per-input table of one target: whole-op cells, then one line of cells per input.

    ``notes``: what the student should know before reading the rows, such as the earlier ops a capstone ran as
    the reference's (:attr:`grader.results.Report.substitutions`); they go with the report's first target.
    """

    target: str
    whole: tuple[tuple[str, str], ...]
    checks: tuple[str, ...]
    inputs: tuple[tuple[str, tuple[str, ...]], ...]
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()


def tables(report: Report) -> list[TargetTable]:
    by_target: dict[str, list[Row]] = {}
    for row in report.checks:
        by_target.setdefault(row.target, []).append(row)
    out: list[TargetTable] = []
    for target, rows in by_target.items():
        whole = tuple((c, cell([r for r in rows if r.check == c])) for c in WHOLE_OP if any(r.check == c for r in rows))
        checks = tuple(c for c in GRADIENT if any(r.check == c for r in rows))
        names = list(dict.fromkeys(r.input for r in rows if r.input is not None))
        inputs = tuple((name, tuple(cell([r for r in rows if r.input == name and r.check == c]) for c in checks))
                       for name in names)
        notes = substitution_notes(report) if not out else ()
        out.append(TargetTable(target, whole, checks, inputs, tuple(problems(rows, merge=True)), notes))
    return out


def substitution_notes(report: Report) -> tuple[str, ...]:
    """One line per earlier op a capstone ran as the reference's, saying why."""
    return tuple(s.message[:1].upper() + s.message[1:] for s in report.substitutions)


def problems(rows: list[Row] | tuple[Row, ...], merge: bool = False) -> list[Problem]:
    """Each distinct mistake once: per input (or the whole op) and diagnosis, with the first case's message.

    With ``merge``, inputs with the very same mistake and message are one problem (``x, weight, bias``), so
    an exception raised before any gradient is computed is explained once, not once per input.
    """
    found: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if not row.passed:
            found.setdefault((row.input or _OP, row.diagnosis), []).append(row)
    out = []
    for (subject, code), failed in found.items():
        shown = next((r for r in failed if r.pattern), failed[0])
        out.append(Problem(subject, code, ", ".join(dict.fromkeys(r.check for r in failed)),
                           ", ".join(dict.fromkeys(r.case + (" (hidden)" if r.hidden else "") for r in failed)),
                           shown.message, shown.hint, shown.pattern))
    if not merge:
        return out
    merged: dict[tuple[str, str, str, str | None], list[Problem]] = {}
    for p in out:
        merged.setdefault((p.diagnosis, p.message, p.hint, p.pattern), []).append(p)
    return [Problem(", ".join(p.subject for p in same), code, _union(p.checks for p in same),
                    _union(p.cases for p in same), message, hint, pattern)
            for (code, message, hint, pattern), same in merged.items()]


def _union(lists: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(item for text in lists for item in text.split(", ")))


def mistakes(report: Report) -> list[tuple[str, tuple[str, ...], str, str | None]]:
    """``(target, inputs, diagnosis, pattern)`` per distinct mistake; no inputs means the whole op (a crash, say),
    which covers every input's row with the same diagnosis. An input's pattern is the first one its failed rows
    with that diagnosis carry; inputs with different patterns are different mistakes."""
    patterns: dict[tuple[str, str, str], str | None] = {}
    whole: set[tuple[str, str]] = set()
    for row in report.checks:
        if row.passed:
            continue
        if row.input is None:
            whole.add((row.target, row.diagnosis))
        elif patterns.get((row.target, row.diagnosis, row.input)) is None:
            patterns[(row.target, row.diagnosis, row.input)] = row.pattern
    found: dict[tuple[str, str, str | None], dict[str, None]] = {}
    for (target, code, name), pattern in patterns.items():
        key = (target, code, None) if (target, code) in whole else (target, code, pattern)
        found.setdefault(key, {})[name] = None
    for target, code in whole:
        found.setdefault((target, code, None), {})
    order = list(dict.fromkeys((r.target, r.diagnosis) for r in report.checks if not r.passed))
    return [(target, () if (target, code) in whole else tuple(names), code, pattern)
            for (target, code, pattern), names in sorted(found.items(), key=lambda item: order.index(item[0][:2]))]


def brief(report: Report, problem: str = "") -> str:
    """One line: ``ex04 7.3333/9: Linear broadcast_not_reduced in grad_bias`` (plain text, control characters
    escaped); a pattern follows its code: ``Sigmoid wrong_values · sigmoid_at_output in grad_x``."""
    if problem:
        what = f"the submission could not be used: {problem}"[:300]
    else:
        found = [f"{target} {code}" + (f" · {pattern}" if pattern else "")
                 + (" in " + ", ".join(f"grad_{n}" for n in names) if names else "")
                 for target, names, code, pattern in mistakes(report)]
        what = "; ".join(found) if found else "every check passed"
    return printable(f"{report.exercise} {points(report.score)}/{points(report.max_score)}: {what}")


def record_brief(record: StudentRecord) -> str:
    if record.error:
        return printable(f"not graded: {record.error}")
    return " | ".join(brief(r, record.problems.get(r.exercise, "")) for r in record.reports)


def write(record: StudentRecord, folder: Path) -> list[Path]:
    """Write ``<student>.md`` and ``<student>.html`` into ``folder``, each atomically (unchanged files are left alone)."""
    paths = [folder / f"{record.student}.md", folder / f"{record.student}.html"]
    write_if_changed(paths[0], markdown(record))
    write_if_changed(paths[1], page(record))
    return paths


class Writer(Sink):
    """``feedback/<student>.md`` and ``.html`` for each student, as each comes."""

    def __init__(self, assignments: Sequence[Assignment], destination: Path) -> None:
        self.path = destination / "feedback"
        self.path.mkdir(parents=True, exist_ok=True)

    def add(self, record: StudentRecord) -> None:
        write(record, self.path)


def _total(record: StudentRecord) -> str:
    return "not graded" if record.error else f"{points(record.score)} / {points(record.max_score)}"


def _error_text(record: StudentRecord) -> str:
    return f"The grader could not grade this submission ({record.error}). Your instructor will look into it."


def markdown(record: StudentRecord) -> str:
    lines = [f"# Feedback: {markdown_inline(record.identity.display)}", "", f"Total: **{_total(record)}**", ""]
    if record.error:
        lines += [markdown_inline(_error_text(record)), ""]
    for report in record.reports:
        lines += report_markdown(report, problem=record.problems.get(report.exercise, ""))
    if record.output:
        lines += ["## What your code printed", "", markdown_block(log_line(record.output)), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def report_markdown(report: Report, level: int = 2, problem: str = "") -> list[str]:
    """One exercise in Markdown: a heading with its points, then per target the table, each mistake and its hint.

    ``problem`` is why the submission could not be used for it, if it could not; ``level`` is the heading's.
    """
    lines = [f"{'#' * level} {report.exercise} · {markdown_inline(report.title)}: "
             f"{points(report.score)} / {points(report.max_score)}", ""]
    if problem:
        return lines + ["Your submission could not be used for this exercise:", "",
                        markdown_block(log_line(problem)), ""]
    for table in tables(report):
        lines += _markdown_table(table, level + 1)
    return lines


def _markdown_table(table: TargetTable, level: int = 3) -> list[str]:
    lines = [f"{'#' * level} {markdown_inline(table.target)}", ""]
    lines += [line for note in table.notes for line in (f"> **Note:** {markdown_inline(note)}", "")]
    if table.whole:
        lines += [" · ".join(f"{check} {markdown_inline(value)}" for check, value in table.whole), ""]
    if table.inputs:
        lines += ["| input | " + " | ".join(table.checks) + " |", "|---" * (len(table.checks) + 1) + "|"]
        lines += [f"| {markdown_inline(name)} | " + " | ".join(markdown_inline(c) for c in cells) + " |"
                  for name, cells in table.inputs]
        lines.append("")
    for p in table.problems:
        lines += [f"- **✗ {markdown_inline(p.subject)}: {p.named}** ({markdown_inline(p.checks)}; "
                  f"{markdown_inline(p.cases)})", ""]
        message = markdown_block(log_line(p.message)) if "\n" in p.message else markdown_inline(p.message)
        lines += ["  " + line if line else "" for line in message.split("\n")] + [""]
        if p.hint:
            lines += [f"  *Hint:* {markdown_inline(p.hint)}", ""]
    return lines


_STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}
.ok{color:#1a7f37}.bad{color:#cf222e}pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.hint{color:#6e5400;margin:.2rem 0 .6rem}.na{color:#999}"""


def page(record: StudentRecord) -> str:
    """The feedback as one self-contained HTML page."""
    title = f"Feedback: {html(record.identity.display)}"
    parts = ["<!DOCTYPE html>", '<html lang="en">', '<head><meta charset="utf-8">', f"<title>{title}</title>",
             f"<style>{_STYLE}</style></head>", "<body>", f"<h1>{title}</h1>",
             f"<p>Total: <strong>{_total(record)}</strong></p>"]
    if record.error:
        parts.append(f'<p class="bad">{html(_error_text(record))}</p>')
    for report in record.reports:
        parts.append(f"<h2>{html(report.exercise)} · {html(report.title)}: "
                     f"{points(report.score)} / {points(report.max_score)}</h2>")
        if report.exercise in record.problems:
            parts.append("<p>Your submission could not be used for this exercise:</p>"
                         f"<pre>{html(record.problems[report.exercise])}</pre>")
            continue
        for table in tables(report):
            parts += html_table(table)
    if record.output:
        parts += ["<h2>What your code printed</h2>", f"<pre>{html(record.output)}</pre>"]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _html_cell(value: str) -> str:
    kind = "ok" if value == "✓" else "bad" if value else ""
    return f'<td class="{kind}">{html(value)}</td>' if kind else '<td class="na" title="not checked: no gradient">–</td>'


def html_table(table: TargetTable) -> list[str]:
    parts = [f"<h3>{html(table.target)}</h3>"]
    parts += [f'<p class="hint">Note: {html(note)}</p>' for note in table.notes]
    if table.whole:
        parts.append("<p>" + " · ".join(f"{check} {html(value)}" for check, value in table.whole) + "</p>")
    if table.inputs:
        parts.append("<table><tr><th>input</th>" + "".join(f"<th>{c}</th>" for c in table.checks) + "</tr>")
        parts += [f"<tr><td>{html(name)}</td>" + "".join(_html_cell(c) for c in cells) + "</tr>"
                  for name, cells in table.inputs]
        parts.append("</table>")
    if table.problems:
        parts.append("<ul>")
        for p in table.problems:
            hint = f'<p class="hint">Hint: {html(p.hint)}</p>' if p.hint else ""
            parts.append(f'<li><strong class="bad">✗ {html(p.heading)}</strong> '
                         f"({html(p.checks)}; {html(p.cases)})<pre>{html(p.message)}</pre>{hint}</li>")
        parts.append("</ul>")
    return parts
