"""``check("ex03")`` inside a notebook: grade the notebook's own classes in the sandbox, show the report as HTML.

Student code never runs in the kernel on the grader's behalf: the notebook's code is collected as text, joined
into one module by the CONTRACT section 6 rules, and graded in a sandbox exactly like a ``.ipynb`` submission.

Which text? The saved notebook file is what the instructor will grade, so it is used when the kernel can name
it (``notebook=``, VS Code's ``__vsc_ipynb_file__``, Jupyter Server's ``JPY_SESSION_NAME``) and it holds the
cells that defined the exercise's classes in this kernel. Otherwise (the file is not saved since the last
edit, or cannot be found) the cells this kernel ran are used, in order, from IPython's input history: later
definitions then win, as they did in the kernel. The report says which was graded.

The grader's own calls (``from grader import check``, ``check(...)``) are left out of the module, since the
sandbox cannot import the grader. One sandbox server per kernel is started on first use and reused.
"""

from __future__ import annotations

import ast
import atexit
import linecache
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.escape import html
from grader.notebook import NotebookError, cell_code, is_ipython_line, notebook_to_source
from grader.results import Report
from grader.sandbox.client import SandboxServer
from grader.spec import CourseSpec, find_course, load_course, load_exercise

_servers: list[SandboxServer] = []


@dataclass(frozen=True, repr=False)
class NotebookReport(Report):
    """The report ``check`` returns: a :class:`Report` whose repr is one line, since the HTML is already shown."""

    def __repr__(self) -> str:
        return f"<Report {self.exercise}: {self.score:g} / {self.max_score:g}>"


@dataclass(frozen=True)
class Source:
    """The module text to grade, and where it came from (for the report)."""

    text: str
    origin: str
    note: str = ""


def check(exercise: str, course: str | Path | None = None, notebook: str | Path | None = None,
          seed: int | None = None, hint: bool | int = False) -> NotebookReport:
    """Grade ``exercise`` with the code of this notebook; show the report as HTML and return it.

    ``course`` defaults to the nearest folder with a ``course.yaml`` at or above the kernel's working directory.
    ``hint=True`` shows, under the report, a hint for each class that is not right yet (the next level not seen,
    remembered in the course's ``.grader/hints.json``, as ``grade EXERCISE --hint`` does); ``hint=2`` shows
    level 2.
    """
    level = _hint_level(hint)
    from grader.grading import grade_exercise
    from grader.submission import Submission

    if course is None:
        try:
            course = find_course(Path.cwd())
        except UsageError:
            raise UsageError(f"no course.yaml in {Path.cwd()} or any folder above it; "
                             f'pass the course folder: check("{exercise}", course="path/to/course")') from None
    spec = load_course(Path(course).resolve())
    [slug] = spec.resolve(exercise)
    module = load_exercise(spec, slug).module
    shell = _shell()
    if shell is None and notebook is None:
        raise UsageError("check() grades the notebook it runs in; outside a notebook, pass notebook=PATH "
                         f"or run: grade {exercise} --submission PATH")
    source = collect(shell, spec, slug, Path(notebook) if notebook else None)
    submission = Submission(origin=source.origin, files={module: source.text.encode("utf-8")}, single=module)
    report = grade_exercise(spec, slug, submission, _server(), seed=seed)
    result = NotebookReport(**{f.name: getattr(report, f.name) for f in fields(Report)})
    fragment = render(result, source)
    if level is not None:
        from grader import hints

        chosen, problems = hints.give(spec.root, [report], [load_exercise(spec, slug)], level or None)
        fragment += "\n" + hints.to_html(chosen, f'check("{exercise}", hint=True)', problems)
    _display(fragment)
    return result


def _hint_level(hint: bool | int) -> int | None:
    """``check``'s ``hint``: None for no hints, 0 for the next level, else the level asked for (1 to 3)."""
    from grader.spec import HINT_LEVELS

    if hint is False or hint is None:
        return None
    if hint is True:
        return 0
    if isinstance(hint, int) and 1 <= hint <= HINT_LEVELS:
        return hint
    raise UsageError(f"check(hint=...) takes True (the next hint) or a level from 1 to {HINT_LEVELS}, "
                     f"got {hint!r}")


def collect(shell: Any, course: CourseSpec, slug: str, notebook: Path | None) -> Source:
    """The code to grade: the notebook file if it is known and up to date, else the kernel's input history."""
    if notebook is not None and not notebook.is_file():
        raise UsageError(f"notebook {notebook} does not exist (relative paths start at {Path.cwd()})")
    path = notebook or _notebook_file(shell)
    cells = history_cells(shell)
    ran = "the cells you ran in this kernel"
    if path is None:
        return Source(strip_grader(join_cells(cells))[0], ran)
    try:
        saved = notebook_to_source(path.read_bytes(), path.name)
    except NotebookError as exc:
        if notebook is not None or not cells:
            raise
        return Source(strip_grader(join_cells(cells))[0], ran, f"{exc}, so {ran} were graded.")
    stale = _stale(_defining_cells(shell, [t.name for t in load_exercise(course, slug).targets]), saved)
    if notebook is None and stale and cells:
        return Source(strip_grader(join_cells(cells))[0], ran,
                      f"{path.name} is not saved since you last ran {', '.join(stale)}, so {ran} were graded.")
    text, removed = strip_grader(saved)
    notes = []
    if removed:
        notes.append(f"Tag the cells that call the grader ({'; '.join(removed)}) with grader:skip: when your "
                     "instructor grades this notebook, untagged cells run where there is no grader, and fail.")
    if stale:
        notes.append(f"The saved file differs from the cells you ran ({', '.join(stale)}): save the notebook.")
    return Source(text, f"the saved notebook {path.name}", " ".join(notes))


def history_cells(shell: Any) -> list[str]:
    """The raw text of every cell this kernel ran, oldest first (``In[1]`` on), including the running one."""
    if shell is None:
        return []
    return [str(cell) for cell in list(shell.history_manager.input_hist_raw)[1:]]


def join_cells(cells: list[str]) -> str:
    """Cells joined into one module, as CONTRACT section 6 joins a notebook's code cells.

    The rules of :mod:`grader.notebook` apply (``%%bash`` cells, ``%``, ``!`` and ``obj?`` lines are left out);
    a cell that is still not valid Python (a typo the kernel refused) is left out too, since it defined
    nothing in the kernel either.
    """
    chunks = []
    for number, cell in enumerate(cells, start=1):
        text = cell_code(cell)
        if text is None:
            continue
        try:
            ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        chunks.append(f"# In[{number}]\n{text}")
    return "\n\n".join(chunks) + "\n"


def strip_grader(text: str) -> tuple[str, list[str]]:
    """``text`` without the top-level statements that use the grader, and those statements' first lines.

    The names a ``grader`` import binds (and ``check``, unless the module defines its own) are the grader's;
    a simple top-level statement that reads one of them is dropped, and the names it assigns become the
    grader's too, so ``r = check("ex03")`` and a later ``print(r.score)`` both go. Classes and functions are
    never dropped, even if their body calls a helper named ``check``.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text, []  # graded as is: the sandbox reports the syntax error
    lines = text.splitlines()
    own = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    tainted = set() if "check" in own else {"check"}
    drop: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.split(".")[0] == "grader" for m in modules):
                tainted.update((a.asname or a.name).split(".")[0] for a in node.names)
                drop.append(node)
        elif isinstance(node, _SIMPLE) and _reads(node) & tainted:
            tainted.update(_binds(node))
            drop.append(node)
    gone = {n for node in drop for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
    kept = [line for number, line in enumerate(lines, start=1) if number not in gone]
    return "\n".join(kept) + "\n", [lines[node.lineno - 1].strip() for node in drop]


_SIMPLE = (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Delete, ast.Assert)


def _reads(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _binds(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _defining_cells(shell: Any, names: list[str]) -> dict[str, str]:
    """Target name to the text of the cell whose ``backward`` this kernel runs (through IPython's linecache)."""
    found: dict[str, str] = {}
    namespace = shell.user_ns if shell is not None else {}
    for name in names:
        method = getattr(namespace.get(name), "__dict__", {}).get("backward")
        code = getattr(getattr(method, "__func__", method), "__code__", None)
        if code is None:
            continue
        lines = linecache.getlines(code.co_filename)
        if lines:
            found[name] = "".join(lines)
    return found


def _stale(defining: dict[str, str], saved: str) -> list[str]:
    """The targets whose defining cell, as run, is not in the saved file's code (IPython-only lines aside)."""
    def normal(text: str) -> str:
        keep = (line.rstrip() for line in text.splitlines())
        return "\n".join(line for line in keep
                         if line and not is_ipython_line(line) and not line.lstrip().startswith("get_ipython()"))

    saved_text = normal(saved)
    return [name for name, cell in defining.items() if normal(cell) not in saved_text]


def _notebook_file(shell: Any) -> Path | None:
    """The notebook this kernel runs, when the front end says: VS Code sets a global, Jupyter Server an env var."""
    candidates = []
    if shell is not None and shell.user_ns.get("__vsc_ipynb_file__"):
        candidates.append(Path(str(shell.user_ns["__vsc_ipynb_file__"])))
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb"):
        candidates += [Path(session), Path.cwd() / Path(session).name]
    return next((path for path in candidates if path.is_absolute() and path.is_file()), None)


def render(report: Report, source: Source) -> str:
    """The report as an HTML fragment for a cell's output; every text a student controls is escaped."""
    from grader.batch.record import points
    from grader.writers.feedback import html_table, tables

    passed = report.passed
    parts = [f'<div class="grader-report"><style>{_STYLE}</style>',
             f"<h3>{html(report.exercise)} · {html(report.title)}: "
             f'<span class="{"ok" if passed else "bad"}">Score: {points(report.score)} / {points(report.max_score)}'
             "</span></h3>",
             f'<p class="origin">Graded: {html(source.origin)} · seed {report.seed}</p>']
    if source.note:
        parts.append(f'<p class="hint">{html(source.note)}</p>')
    for table in tables(report):
        parts += html_table(table)
    if report.output:
        parts.append(f"<details><summary>What your code printed</summary><pre>{html(report.output)}</pre></details>")
    parts.append("</div>")
    return "\n".join(parts)


_STYLE = """.grader-report table{border-collapse:collapse;margin:.4rem 0}
.grader-report td,.grader-report th{border:1px solid #ccc;padding:.15rem .5rem;text-align:left}
.grader-report .ok{color:#1a7f37}.grader-report .bad{color:#cf222e}.grader-report .hint{color:#6e5400}
.grader-report .origin{color:#666;font-size:90%}
.grader-report pre{white-space:pre-wrap;background:#f6f8fa;padding:.4rem}"""


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _server() -> SandboxServer:
    if not _servers:
        _servers.append(SandboxServer().start())
        atexit.register(_servers[0].close)
    return _servers[0]


def _display(fragment: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:
        print(fragment)
        return
    display(HTML(fragment))
