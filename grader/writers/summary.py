"""The instructor's view of the class: ``summary.md``, ``summary.html``, ``histogram.png`` and ``heatmap.png``.

It leads with the lesson:

- a histogram of the total scores, as a percentage of the maximum, beside a heat map of targets × diagnoses
  (:mod:`grader.writers.heatmap`); both with matplotlib, Agg, no pyplot state;
- each exercise's mean;
- the most common mistakes over the whole class, the one most students made first: one row per target and
  pattern where the rows name one ("31% of the class evaluated σ' at the output …"), else per target and
  diagnosis ("25% of the class did not sum the bias gradient in Linear"), with the inputs it hit (how they
  are counted is in :mod:`grader.writers.tally`);
- who did not attempt what, per exercise ("ex07: 2 students did not attempt TwoLayerMLP"), never as mistakes;
- the students whose submissions crashed, timed out, hit a limit, could not be used or could not be graded,
  grouped by cause ("no module found: 5 students (…)"), then one line per student and cause;
- enrolled students (``--roster``) with no submission.
"""

from __future__ import annotations

import io
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.batch.record import ClassRecords, points
from grader.batch.state import write_atomic
from grader.escape import html, markdown_inline
from grader.writers.heatmap import HEATMAP, Grid, grid, heatmap_png
from grader.writers.tally import TERSE, CauseGroup, Hit, MistakeKey, Tally, by_cause, not_attempted_lines, tally

MAX_MISTAKES = 20
"""Rows in "Most common mistakes"; the rarer ones are counted in a line below it (and are in the heat map)."""
MAX_NAMES = 12
"""Students named in one line of the not-attempted and trouble lists; the rest are counted."""
HISTOGRAM = "histogram.png"

_PER_INPUT = {
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
    "wrong_type": "returned a gradient for an argument of {target} that takes None",
    "mutates_input": "changed a tensor in place in {target}",
    "forbidden_api": "took a shortcut around the chain rule in {target} (autograd, a backward kernel, finite differences)",
    "forward_mismatch": "changed the given forward of {target}",
}


def mistake(code: str, target: str, *inputs: str) -> str:
    """The words for one diagnosis: ``did not sum the bias gradient in Linear``; no inputs means the whole op."""
    if inputs and code in _PER_INPUT:
        return _PER_INPUT[code].format(grad=_gradients(inputs), target=target)
    if code in _WHOLE_OP:
        return _WHOLE_OP[code].format(target=target)
    return f"{code} ({', '.join(inputs) or 'whole op'}) in {target}"


def _gradients(inputs: tuple[str, ...]) -> str:
    if len(inputs) == 1:
        return f"the {inputs[0]} gradient"
    return f"the {', '.join(inputs[:-1])} and {inputs[-1]} gradients"


@dataclass(frozen=True)
class MistakeLine:
    """One row of "Most common mistakes": a target and a misconception (a pattern, else a diagnosis), how many
    students, in words."""

    exercise: str
    target: str
    students: int
    share: int
    text: str
    diagnosis: str


def common_mistakes(found: Tally, order: list[tuple[str, str]]) -> list[MistakeLine]:
    """Every mistake of the class, the one most students made first (ties in course order, then by diagnosis)."""
    rank = {target: i for i, target in enumerate(order)}
    keys = sorted(found.mistakes, key=lambda k: (-found.mistakes[k], rank.get(k[:2], len(rank)), k[2], not k[3], k[3]))
    return [_line(found, key) for key in keys]


def _line(found: Tally, key: MistakeKey) -> MistakeLine:
    exercise, target, code, pattern = key
    inputs = () if key in found.whole else tuple(found.inputs.get(key, ()))
    where = f" ({', '.join(f'grad_{name}' for name in inputs)})" if inputs else ""
    text = found.words.get(key) or mistake(code, target, *inputs)
    return MistakeLine(exercise, target, found.mistakes[key], found.share(key), text,
                       code + (f" · {pattern}" if pattern else "") + where)


def heatmap_grid(found: Tally, order: list[tuple[str, str]]) -> Grid:
    """Targets (in course order) × diagnoses, as the share of each exercise's students."""
    rank = {target: i for i, target in enumerate(order)}
    keys = sorted(found.codes, key=lambda k: (rank.get(k[:2], len(rank)), k[2]))
    return grid({(f"{ex} · {target}", code): found.code_share((ex, target, code)) for ex, target, code in keys})


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

    figure = Figure(figsize=(5.2, 3.4), dpi=100, layout="constrained")
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


@dataclass(frozen=True)
class Summary:
    """Everything both pages show, computed once; each page escapes the text its own way."""

    heading: str
    stats: str
    means: list[tuple[str, str, str]]
    mistakes: list[MistakeLine]
    not_attempted: list[tuple[str, int, str, list[str]]]
    causes: list[CauseGroup]
    heatmap: bool
    unmatched: list[str]
    warnings: list[str]


def write(records: ClassRecords, destination: Path, title: str = "", unmatched: list[str] | None = None) -> list[Path]:
    """Write ``summary.md``, ``summary.html``, ``histogram.png`` and ``heatmap.png`` into ``destination``."""
    paths, pictures = begin(records, destination, title, unmatched)
    pictures()
    return paths


def begin(records: ClassRecords, destination: Path, title: str = "", unmatched: list[str] | None = None,
          start: Callable[[Callable[[], None]], Callable[[], None]] = lambda work: work, found: Tally | None = None
          ) -> tuple[list[Path], Callable[[], None]]:
    """Write the two pages, and hand the drawing of each picture to ``start`` (which may begin it elsewhere,
    :func:`grader.batch.aside.aside`, and returns the function that finishes it); return the four paths and the
    function that finishes both pictures. Drawing is most of the summary's time: ~0.2 s a picture, mostly
    laying out and rasterising text. ``found`` is the class's :class:`Tally` when the caller counted it already
    (in its own pass over the records)."""
    found = tally(records) if found is None else found
    exercises = [a.id for a in records.assignments]
    order = [(exercise, target) for exercise in exercises for (ex, target) in found.targets if ex == exercise]
    cells = heatmap_grid(found, order)
    heading = f"Class summary: {title}" if title else "Class summary"
    summary = Summary(heading, _stats(found), _means(found, records), common_mistakes(found, order),
                      not_attempted_lines(found, exercises), by_cause(found.troubles), bool(cells.rows), unmatched or [],
                      list(records.warnings))
    paths = [destination / "summary.md", destination / "summary.html", destination / HISTOGRAM, destination / HEATMAP]

    def histogram() -> None:
        write_atomic(paths[2], histogram_png(found.percents, f"{title or 'Scores'} (n = {len(found.percents)})"))

    def heatmap() -> None:
        write_atomic(paths[3], heatmap_png(cells, "Mistakes (% of the class)"))

    finishing = [start(histogram), start(heatmap)]
    write_atomic(paths[0], _markdown(summary))
    write_atomic(paths[1], _html(summary))

    def finish() -> None:
        for each in finishing:
            each()

    return paths, finish


def _stats(found: Tally) -> str:
    text = f"{found.students} students, {found.graded} graded"
    if found.percents:
        text += (f"; mean {statistics.fmean(found.percents):.1f}%, median {statistics.median(found.percents):.1f}%"
                 f" of the maximum")
    return text


def _means(found: Tally, records: ClassRecords) -> list[tuple[str, str, str]]:
    return [(a.id, a.title, f"{points(statistics.fmean(found.exercise_scores[a.id]))} / {points(a.max_score)}")
            for a in records.assignments if found.exercise_scores.get(a.id)]


Escape = Callable[[str], str]
"""Makes untrusted text safe for one page: :func:`grader.escape.markdown_inline` or :func:`grader.escape.html`."""


def _names(names: list[str], esc: Escape) -> str:
    """``a, b, c`` with at most :data:`MAX_NAMES` of them, then how many more."""
    shown = ", ".join(esc(name) for name in names[:MAX_NAMES])
    return shown + (f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")


def _students(count: int) -> str:
    return f"{count} student" + ("" if count == 1 else "s")


def _not_attempted(line: tuple[str, int, str, list[str]], esc: Escape) -> str:
    """``ex07: 2 students did not attempt TwoLayerMLP (dave, grace)``."""
    exercise, count, targets, names = line
    return f"{exercise}: {_students(count)} did not attempt {esc(targets) or 'any of it'} ({_names(names, esc)})"


def _cause(group: CauseGroup, esc: Escape) -> str:
    """``syntax error: 1 student (erin: syntax error in linear.py line 3 …)``; terse causes give names only."""
    terse = group.cause in TERSE
    who = [_hit(hit, terse, esc) for hit in group.hits]
    more = f" and {len(who) - MAX_NAMES} more" if len(who) > MAX_NAMES else ""
    count = _students(len({h.student for h in group.hits}))
    return f"{esc(group.cause)}: {count} ({(', ' if terse else '; ').join(who[:MAX_NAMES])}{more})"


def _hit(hit: Hit, terse: bool, esc: Escape) -> str:
    """``erin: syntax error in linear.py line 3 …``, or the name alone for a terse cause (the table has the rest)."""
    return esc(hit.student) if terse else f"{esc(hit.student)}: {esc(_short(hit.detail))}"


def _short(text: str, limit: int = 120) -> str:
    line = text.strip().split("\n")[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _details(summary: Summary, esc: Escape) -> list[list[str]]:
    """One row per student and cause: student, exercises, what happened, the first detail."""
    return [[esc(hit.student), ", ".join(hit.exercises) or "-", hit.kind, esc(_short(hit.detail, 200))]
            for group in summary.causes for hit in group.hits]


def _mistake_rows(summary: Summary, esc: Escape, code: Escape) -> list[list[str]]:
    return [[m.exercise, esc(m.target), str(m.students), f"{m.share}% of the class {esc(m.text)}", code(m.diagnosis)]
            for m in summary.mistakes[:MAX_MISTAKES]]


def _rarer(summary: Summary) -> str:
    rest = len(summary.mistakes) - MAX_MISTAKES
    return f"And {rest} rarer mistake{'s' if rest > 1 else ''}, each made by fewer students: see the heat map." \
        if rest > 0 else ""


_MISTAKE_HEADER = ["exercise", "target", "students", "mistake", "diagnosis (inputs)"]
_DETAIL_HEADER = ["student", "exercise", "what", "detail"]
_WARNINGS = "Warnings"
_NO_MISTAKES = "None: every graded check that was attempted passed."
_ALL_ATTEMPTED = "Every student attempted every target."


def _markdown(summary: Summary) -> str:
    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"] + ["| " + " | ".join(r) + " |" for r in rows]

    esc = markdown_inline
    lines = [f"# {esc(summary.heading)}", ""]
    if summary.warnings:
        lines += [f"## {_WARNINGS}", ""] + [f"- **{esc(w)}**" for w in summary.warnings] + [""]
    lines += [summary.stats, "", f"![score histogram]({HISTOGRAM})", ""]
    lines += [f"![mistakes per target and diagnosis]({HEATMAP})", ""] if summary.heatmap else []
    lines += ["## Mean score per exercise", ""]
    lines += table(["exercise", "title", "mean"], [[ex, esc(title), mean] for ex, title, mean in summary.means])
    lines += ["", "## Most common mistakes", ""]
    if summary.mistakes:
        lines += table(_MISTAKE_HEADER, _mistake_rows(summary, esc, lambda text: f"`{text}`"))
        lines += ["", _rarer(summary)] if _rarer(summary) else []
    else:
        lines.append(_NO_MISTAKES)
    lines += ["", "## Not attempted", ""]
    lines += [f"- {_not_attempted(line, esc)}" for line in summary.not_attempted] or [_ALL_ATTEMPTED]
    lines += ["", "## Crashed, timed out or could not be graded", ""]
    if summary.causes:
        lines += [f"- {_cause(group, esc)}" for group in summary.causes] + [""]
        lines += table(_DETAIL_HEADER, _details(summary, esc))
    else:
        lines.append("None.")
    if summary.unmatched:
        lines += ["", "## In the roster, with no submission", ""] + [f"- {esc(u)}" for u in summary.unmatched]
    return "\n".join(lines) + "\n"


_STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}th{background:#f6f8fa}
td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left;vertical-align:top}td.n{text-align:right}
td code{white-space:nowrap}li{margin:.2rem 0}.figures{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}
.warn{color:#9a3412;font-weight:600}
figure{margin:0}figure img{max-width:100%;height:auto}figcaption{color:#555;font-size:.9rem}"""


def _html(summary: Summary) -> str:
    def table(header: list[str], rows: list[list[str]], numbers: tuple[int, ...] = ()) -> str:
        head = "".join(f"<th>{h}</th>" for h in header)
        body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numbers else f"<td>{c}</td>"
                                        for i, c in enumerate(row)) + "</tr>" for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    def items(lines: list[str]) -> str:
        return "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"

    figures = [_figure(HISTOGRAM, "score histogram", "Total scores")]
    if summary.heatmap:
        figures.append(_figure(HEATMAP, "mistakes per target and diagnosis",
                               "Mistakes: the share of the class per target and diagnosis"))
    parts = ["<!DOCTYPE html>", '<html lang="en">', '<head><meta charset="utf-8">',
             f"<title>{html(summary.heading)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
             f"<h1>{html(summary.heading)}</h1>",
             *([f"<h2>{_WARNINGS}</h2>", '<ul class="warn">' + "".join(f"<li>{html(w)}</li>" for w in summary.warnings)
                + "</ul>"] if summary.warnings else []),
             f"<p>{html(summary.stats)}</p>",
             '<div class="figures">' + "".join(figures) + "</div>", "<h2>Mean score per exercise</h2>",
             table(["exercise", "title", "mean"], [[html(ex), html(t), html(mean)] for ex, t, mean in summary.means]),
             "<h2>Most common mistakes</h2>"]
    if summary.mistakes:
        parts.append(table(_MISTAKE_HEADER, _mistake_rows(summary, html, lambda t: f"<code>{html(t)}</code>"), (2,)))
        parts += [f"<p>{html(_rarer(summary))}</p>"] if _rarer(summary) else []
    else:
        parts.append(f"<p>{_NO_MISTAKES}</p>")
    parts.append("<h2>Not attempted</h2>")
    parts.append(items([_not_attempted(line, html) for line in summary.not_attempted]) if summary.not_attempted
                 else f"<p>{_ALL_ATTEMPTED}</p>")
    parts.append("<h2>Crashed, timed out or could not be graded</h2>")
    if summary.causes:
        parts += [items([_cause(group, html) for group in summary.causes]),
                  table(_DETAIL_HEADER, _details(summary, html))]
    else:
        parts.append("<p>None.</p>")
    if summary.unmatched:
        parts += ["<h2>In the roster, with no submission</h2>", items([html(u) for u in summary.unmatched])]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _figure(src: str, alt: str, caption: str) -> str:
    return f'<figure><img src="{src}" alt="{alt}"><figcaption>{html(caption)}</figcaption></figure>'
