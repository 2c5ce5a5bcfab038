"""The instructor's view of the class: ``summary.md``, ``summary.html`` and ``histogram.png``.

- a histogram of the total scores, as a percentage of the maximum (matplotlib, Agg, no pyplot state);
- each exercise's mean;
- per target, its most common mistakes as "41% of the class did not sum the bias gradient in Linear" (a
  student counts once per mistake however many checks and cases showed it, and a crash of the whole op
  once rather than once per input; the share is of the students graded; a submission that could not be
  used is listed below instead, not counted as an exception in every row);
- the students whose submissions crashed, timed out, hit a limit, could not be used or could not be graded;
- enrolled students (``--roster``) with no submission.

The records are read once and only counters are kept, so memory does not grow with the class.
"""

from __future__ import annotations

import io
import statistics
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.record import ClassRecords, points
from grader.batch.state import write_atomic
from grader.escape import html, markdown_inline
from grader.results import Report
from grader.writers.feedback import mistakes

TOP_PER_TARGET = 5
HISTOGRAM = "histogram.png"

_PER_INPUT = {
    "not_implemented": "did not implement {grad} in {target}",
    "exception": "raised an exception computing {grad} in {target}",
    "wrong_type": "returned the wrong type or dtype for {grad} in {target}",
    "wrong_shape": "returned the wrong shape for {grad} in {target}",
    "broadcast_not_reduced": "did not sum {grad} in {target}",
    "transposed": "transposed {grad} in {target}",
    "sign_flipped": "flipped the sign of {grad} in {target}",
    "scaled": "scaled {grad} in {target} by a wrong constant",
    "ignores_upstream_grad": "did not multiply {grad} in {target} by grad_output",
    "swapped_inputs": "swapped {grad} with another input's in {target}",
    "nan_or_inf": "got NaN or infinity in {grad} in {target}",
    "wrong_values": "got wrong values for {grad} in {target}",
}
_WHOLE_OP = {
    "not_implemented": "did not implement {target}",
    "exception": "raised an exception in {target}",
    "timeout": "timed out in {target}",
    "resource_limit": "hit a resource limit in {target}",
    "crashed": "crashed in {target}",
    "wrong_count": "returned the wrong number of gradients from {target}",
    "mutates_input": "changed a tensor in place in {target}",
    "forbidden_api": "took a shortcut around the chain rule in {target} (autograd, a backward kernel, finite differences)",
    "forward_mismatch": "changed the given forward of {target}",
}


def mistake(code: str, target: str, input: str | None) -> str:
    """The words for one diagnosis: ``did not sum the bias gradient in Linear``."""
    if input is not None and code in _PER_INPUT:
        return _PER_INPUT[code].format(grad=f"the {input} gradient", target=target)
    if code in _WHOLE_OP:
        return _WHOLE_OP[code].format(target=target)
    return f"{code} ({input or 'whole op'}) in {target}"


@dataclass
class Tally:
    """What the summary needs, counted over the class in one pass."""

    students: int = 0
    graded: int = 0
    percents: list[float] = field(default_factory=list)
    exercise_scores: dict[str, list[float]] = field(default_factory=dict)
    graded_per_exercise: Counter[str] = field(default_factory=Counter)
    mistakes: Counter[tuple[str, str, str | None, str]] = field(default_factory=Counter)
    targets: dict[tuple[str, str], None] = field(default_factory=dict)
    troubles: list[tuple[str, str, str, str]] = field(default_factory=list)


def tally(records: ClassRecords) -> Tally:
    found = Tally()
    for record in records:
        found.students += 1
        found.troubles += [(record.student, t.exercise, t.kind, t.detail) for t in record.troubles()]
        if record.error:
            continue
        found.graded += 1
        if record.max_score:
            found.percents.append(100.0 * record.score / record.max_score)
        for report in record.reports:
            found.exercise_scores.setdefault(report.exercise, []).append(report.score)
            found.graded_per_exercise[report.exercise] += 1
            found.targets.update(dict.fromkeys((report.exercise, r.target) for r in report.checks))
            if report.exercise not in record.problems:
                found.mistakes.update(_keys(report))
    return found


def _keys(report: Report) -> set[tuple[str, str, str | None, str]]:
    """One key per input a mistake touched, or one for the whole op; a student counts once per key.

    A mistake whose words do not name an input (a crash, a timeout) is one key for the target, however many
    inputs' rows it failed.
    """
    return {(report.exercise, target, name if code in _PER_INPUT or code not in _WHOLE_OP else None, code)
            for target, names, code in mistakes(report) for name in (names or (None,))}


@dataclass(frozen=True)
class MistakeLine:
    exercise: str
    target: str
    students: int
    share: int
    text: str


def common_mistakes(found: Tally, order: list[tuple[str, str]]) -> list[MistakeLine]:
    """The :data:`TOP_PER_TARGET` most common mistakes of each target, most common first."""
    lines = []
    for exercise, target in order:
        counts = [(n, key) for key, n in found.mistakes.items() if key[:2] == (exercise, target)]
        counts.sort(key=lambda item: (-item[0], item[1][2] or "", item[1][3]))
        total = found.graded_per_exercise[exercise] or 1
        lines += [MistakeLine(exercise, target, n, int(100 * n / total + 0.5), mistake(code, target, name))
                  for n, (_, _, name, code) in counts[:TOP_PER_TARGET]]
    return lines


def prefetch() -> threading.Thread:
    """Import matplotlib in a background thread while the class is being graded.

    The import takes about a second, all of it Python, which would otherwise come after the last student.
    The grading threads mostly wait for their sandboxes meanwhile, so the two overlap well.
    """
    thread = threading.Thread(target=_import_matplotlib, name="prefetch-matplotlib", daemon=True)
    thread.start()
    return thread


def _import_matplotlib() -> None:
    from matplotlib import figure, ticker  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401


def histogram_png(percents: list[float], title: str) -> bytes:
    """The score histogram in 10-point bins; a PNG with no time stamp or version in it, so re-runs are identical."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist(percents, bins=list(range(0, 101, 10)), color="#4c72b0", edgecolor="white")
    axes.set_xlim(0, 100)
    axes.set_xlabel("total score (% of the maximum)")
    axes.set_ylabel("students")
    axes.set_title(title)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def write(records: ClassRecords, destination: Path, title: str = "", unmatched: list[str] | None = None) -> list[Path]:
    found = tally(records)
    order = [(a.id, target) for a in records.assignments for (ex, target) in found.targets if ex == a.id]
    mistakes = common_mistakes(found, order)
    heading = f"Class summary: {title}" if title else "Class summary"
    paths = [destination / "summary.md", destination / "summary.html", destination / HISTOGRAM]
    write_atomic(paths[2], histogram_png(found.percents, f"{title or 'Scores'} (n = {len(found.percents)})"))
    write_atomic(paths[0], _markdown(heading, found, records, mistakes, unmatched or []))
    write_atomic(paths[1], _html(heading, found, records, mistakes, unmatched or []))
    return paths


def _stats(found: Tally) -> str:
    text = f"{found.students} students, {found.graded} graded"
    if found.percents:
        text += (f"; mean {statistics.fmean(found.percents):.1f}%, median {statistics.median(found.percents):.1f}%"
                 f" of the maximum")
    return text


def _means(found: Tally, records: ClassRecords) -> list[tuple[str, str, str]]:
    return [(a.id, a.title, f"{points(statistics.fmean(found.exercise_scores[a.id]))} / {points(a.max_score)}")
            for a in records.assignments if found.exercise_scores.get(a.id)]


def _markdown(heading: str, found: Tally, records: ClassRecords, mistakes: list[MistakeLine],
              unmatched: list[str]) -> str:
    lines = [f"# {markdown_inline(heading)}", "", _stats(found), "", f"![score histogram]({HISTOGRAM})", "",
             "## Mean score per exercise", "", "| exercise | title | mean |", "|---|---|---|"]
    lines += [f"| {ex} | {markdown_inline(t)} | {mean} |" for ex, t, mean in _means(found, records)]
    lines += ["", "## Most common mistakes", ""]
    if mistakes:
        lines += ["| exercise | target | students | mistake |", "|---|---|---|---|"]
        lines += [f"| {m.exercise} | {markdown_inline(m.target)} | {m.students} | "
                  f"{m.share}% of the class {markdown_inline(m.text)} |" for m in mistakes]
    else:
        lines.append("None: every graded check passed.")
    lines += ["", "## Crashed, timed out or could not be graded", ""]
    if found.troubles:
        lines += ["| student | exercise | what | detail |", "|---|---|---|---|"]
        lines += [f"| {markdown_inline(s)} | {ex or '-'} | {kind} | {markdown_inline(detail[:200])} |"
                  for s, ex, kind, detail in found.troubles]
    else:
        lines.append("None.")
    if unmatched:
        lines += ["", "## In the roster, with no submission", ""] + [f"- {markdown_inline(u)}" for u in unmatched]
    return "\n".join(lines) + "\n"


def _html(heading: str, found: Tally, records: ClassRecords, mistakes: list[MistakeLine], unmatched: list[str]) -> str:
    def table(header: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{h}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    parts = ["<!DOCTYPE html>", '<html lang="en">', '<head><meta charset="utf-8">',
             f"<title>{html(heading)}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}</style>",
             "</head>", "<body>", f"<h1>{html(heading)}</h1>", f"<p>{html(_stats(found))}</p>",
             f'<img src="{HISTOGRAM}" alt="score histogram">', "<h2>Mean score per exercise</h2>",
             table(["exercise", "title", "mean"], [list(m) for m in _means(found, records)]),
             "<h2>Most common mistakes</h2>"]
    parts.append(table(["exercise", "target", "students", "mistake"],
                       [[m.exercise, m.target, str(m.students), f"{m.share}% of the class {m.text}"] for m in mistakes])
                 if mistakes else "<p>None: every graded check passed.</p>")
    parts.append("<h2>Crashed, timed out or could not be graded</h2>")
    parts.append(table(["student", "exercise", "what", "detail"],
                       [[s, ex or "-", kind, detail[:200]] for s, ex, kind, detail in found.troubles])
                 if found.troubles else "<p>None.</p>")
    if unmatched:
        parts += ["<h2>In the roster, with no submission</h2>", "<ul>"]
        parts += [f"<li>{html(u)}</li>" for u in unmatched] + ["</ul>"]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
