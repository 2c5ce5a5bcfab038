"""The hint ladder: ``grade EXERCISE --hint [N]`` and ``check("exNN", hint=True)``.

Every target of an exercise may carry ``hints:`` in exercise.yaml, up to :data:`grader.spec.HINT_LEVELS` of
them, from the idea (which rule applies) through the local derivatives to the shapes. After grading, each
target that is not fully right (any failed row) gets one hint: the next level the student has not seen yet,
or level N when asked for. After the last level, the last one is repeated. Targets that pass get none.

The levels seen are remembered in the student's repository, in ``<course root>/.grader/hints.json``:
``{"ex04": {"Linear": 2}}``, exercise id, then target, then the highest level shown. The file is a
convenience: when it cannot be read (corrupt, unreadable) the ladder starts again at level 1, and when it
cannot be written the levels are not remembered; either way grading goes on, with a warning.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from grader.escape import html, log_line
from grader.results import Report
from grader.spec import HINT_LEVELS, ExerciseSpec

STATE_FILE = Path(".grader") / "hints.json"


def state_path(course_root: Path) -> Path:
    """Where the levels seen are remembered: ``<course root>/.grader/hints.json``."""
    return course_root / STATE_FILE


@dataclass
class HintState:
    """Exercise id → target → the highest hint level shown; ``problems`` collects what went wrong on disk."""

    path: Path
    seen: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> HintState:
        state = cls(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return state
        except (OSError, UnicodeDecodeError) as exc:
            state.problems.append(f"could not read {path} ({_reason(exc)}): hints start again from level 1")
            return state
        try:
            data = json.loads(raw)
        except ValueError as exc:
            state.problems.append(f"{path} is not valid JSON ({exc}): hints start again from level 1")
            return state
        if not isinstance(data, dict):
            state.problems.append(f"{path} does not hold a mapping of exercises: hints start again from level 1")
            return state
        dropped = False
        for exercise, targets in data.items():
            if not isinstance(targets, dict):
                dropped = True
                continue
            for target, level in targets.items():
                if isinstance(level, int) and not isinstance(level, bool) and level >= 0:
                    state.seen.setdefault(str(exercise), {})[str(target)] = level
                else:
                    dropped = True
        if dropped:
            state.problems.append(f"{path} has entries that are not hint levels: those start again from level 1")
        return state

    def level(self, exercise: str, target: str) -> int:
        return self.seen.get(exercise, {}).get(target, 0)

    def mark(self, exercise: str, target: str, level: int) -> None:
        targets = self.seen.setdefault(exercise, {})
        targets[target] = max(targets.get(target, 0), level)

    def save(self) -> None:
        """Write the state (atomically); a failure becomes a problem, never an exception."""
        text = json.dumps(self.seen, indent=2, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".hints-", suffix=".json", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.problems.append(f"could not save the hint levels to {self.path} ({_reason(exc)}): "
                                 "they will not be remembered")


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


@dataclass(frozen=True)
class Hint:
    """One hint shown for one target: ``level`` of ``levels``; ``text`` is empty when the target has none.

    ``repeated``: the last level shown again; ``more``: the next ``--hint`` would show a level not seen yet.
    """

    exercise: str
    target: str
    level: int
    levels: int
    text: str
    repeated: bool = False
    more: bool = False

    @property
    def last(self) -> bool:
        return self.level >= self.levels


@dataclass(frozen=True)
class ExerciseHints:
    """The hints of one graded exercise; none when every target passes."""

    exercise: str
    title: str
    hints: tuple[Hint, ...]

    @property
    def all_passed(self) -> bool:
        return not self.hints


def failing_targets(report: Report) -> list[str]:
    """The targets with at least one failed row, in the report's order."""
    found: dict[str, None] = {}
    for row in report.checks:
        if not row.passed:
            found.setdefault(row.target)
    return list(found)


def choose(reports: Sequence[Report], specs: Sequence[ExerciseSpec], state: HintState,
           level: int | None = None) -> list[ExerciseHints]:
    """For every report, one hint per failing target: ``level`` if given, else the next one not yet seen.

    The state records what is shown (its highest level per target); it is not saved here.
    """
    by_id = {spec.id: spec for spec in specs}
    out = []
    for report in reports:
        spec = by_id[report.exercise]
        ladders = {target.name: target.hints for target in spec.targets}
        hints = []
        for target in failing_targets(report):
            ladder = ladders.get(target, ())
            if not ladder:
                hints.append(Hint(report.exercise, target, 0, 0, ""))
                continue
            seen = state.level(report.exercise, target)
            chosen = min(level if level is not None else seen + 1, len(ladder))
            repeated = level is None and seen >= len(ladder)
            state.mark(report.exercise, target, chosen)
            more = state.level(report.exercise, target) < len(ladder)
            hints.append(Hint(report.exercise, target, chosen, len(ladder), ladder[chosen - 1], repeated, more))
        out.append(ExerciseHints(report.exercise, report.title, tuple(hints)))
    return out


def give(course_root: Path, reports: Sequence[Report], specs: Sequence[ExerciseSpec],
         level: int | None = None) -> tuple[list[ExerciseHints], list[str]]:
    """Choose the hints with the state file of ``course_root`` and save it: (the hints, the problems on disk)."""
    if level is not None and not 1 <= level <= HINT_LEVELS:
        raise ValueError(f"a hint level is 1 to {HINT_LEVELS}, got {level}")
    state = HintState.load(state_path(course_root))
    chosen = choose(reports, specs, state, level)
    if any(section.hints for section in chosen):
        state.save()
    return chosen, state.problems


def _heading(hint: Hint, several: bool) -> str:
    where = f"{hint.exercise} · {hint.target}" if several else hint.target
    if not hint.levels:
        return where
    text = f"{where} · hint {hint.level} of {hint.levels}"
    if hint.repeated:
        return text + " (the last one again: you have seen every hint)"
    return text + (" (the last one)" if hint.last else "")


def _lines(sections: Sequence[ExerciseHints]) -> list[tuple[str, str]]:
    """(heading, text) pairs in order: one per hint, or one per exercise that needs none."""
    several = len(sections) > 1
    lines = []
    for section in sections:
        if section.all_passed:
            lines.append((f"{section.exercise} · {section.title}" if several else "",
                          "Every target passes: no hint needed."))
        for hint in section.hints:
            text = hint.text or "This target has no hints in this course: its report above says what is wrong."
            lines.append((_heading(hint, several), text))
    return lines


def _footer(sections: Sequence[ExerciseHints], again: str) -> str:
    if any(h.more for s in sections for h in s.hints):
        return f"Stuck after trying this? {again} again shows the next hint."
    return ""


def render(sections: Sequence[ExerciseHints], again: str, columns: int = 100) -> Panel:
    """The hints as a rich panel (borderless below the report's :data:`BORDERLESS_BELOW` columns)."""
    from grader.writers.terminal import BORDERLESS_BELOW

    parts: list[RenderableType] = []
    for heading, text in _lines(sections):
        if heading:
            parts.append(Text(log_line(heading), style="bold cyan"))
            parts.append(Padding(Text(log_line(text)), (0, 0, 0, 2)))
        else:
            parts.append(Text(log_line(text), style="green"))
    footer = _footer(sections, again)
    if footer:
        parts.append(Text(footer, style="dim"))
    wide = columns >= BORDERLESS_BELOW
    return Panel(Group(*parts), title=Text("Hints", style="bold"), title_align="left", border_style="yellow",
                 box=box.ROUNDED if wide else box.MINIMAL, padding=(0, 1) if wide else (0, 0))


def write(sections: Sequence[ExerciseHints], destination: IO[str], again: str, problems: Sequence[str] = (),
          color: bool | None = None, columns: int | None = None) -> None:
    """Print the hints to ``destination``, fitted to its terminal as the report is; ``problems`` go to stderr."""
    from grader.writers.terminal import width

    for problem in problems:
        print(f"grade: warning: {problem}", file=sys.stderr)
    columns = columns or width(destination)
    console = Console(file=destination, force_terminal=color, no_color=color is False, highlight=False,
                      width=columns)
    console.print(render(sections, again, columns))


def to_html(sections: Sequence[ExerciseHints], again: str, problems: Sequence[str] = ()) -> str:
    """The hints as an HTML fragment, for the notebook view; every text is escaped."""
    parts = ['<div class="grader-report grader-hints"><h4>Hints</h4>']  # styled as the report above it
    for problem in problems:
        parts.append(f'<p class="hint">Warning: {html(problem)}</p>')
    items = []
    for heading, text in _lines(sections):
        if heading:
            items.append(f"<li><b>{html(heading)}</b><br>{html(text)}</li>")
        else:
            parts.append(f'<p class="ok">{html(text)}</p>')
    if items:
        parts.append("<ul>" + "".join(items) + "</ul>")
    footer = _footer(sections, again)
    if footer:
        parts.append(f'<p class="origin">{html(footer)}</p>')
    parts.append("</div>")
    return "\n".join(parts)
