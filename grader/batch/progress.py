"""The progress bar on stderr: done of total, ETA, and how many were graded, failed or unchanged.

"Failed" counts students whose submission crashed, timed out, hit a limit, could not be used or could not
be graded; they are listed in the summary. On a terminal the bar redraws in place; otherwise (a CI log)
rich prints it once when it stops.

The grading bar is redrawn by rich's own thread, ten times a second, so its ETA moves while students take
their time. The class files' bar is not: those are written partly by forked copies of this process
(:mod:`grader.batch.aside`), which a second thread rules out (a lock it held at the fork would stay locked in
the copy), so that bar is redrawn by the main thread as it advances, at most ten times a second.
"""

from __future__ import annotations

import threading
from collections import Counter
from time import monotonic
from typing import IO, Any

from grader.batch.runner import Outcome

REDRAW_SECONDS = 0.1
"""How often a bar without a thread redraws at most (rich's own thread: ten times a second)."""


class ProgressBar:
    """A :class:`grader.batch.runner.Listener` drawing a rich progress bar; use as a context manager."""

    def __init__(self, stream: IO[str], description: str = "grading", thread: bool = True) -> None:
        """``thread``: redraw from rich's thread; without it, from :meth:`advance` (no thread runs beside the
        caller, so it may fork)."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.counts: Counter[str] = Counter()
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("{task.fields[counts]}"),
            console=Console(file=stream, highlight=False), transient=False, auto_refresh=thread,
        )
        self._drawn = monotonic()
        self._redraw = not thread
        self._task = self._progress.add_task(description, total=None, counts="")

    def __enter__(self) -> ProgressBar:
        before = set(threading.enumerate())
        self._progress.start()
        self._threads = [t for t in threading.enumerate() if t not in before]
        return self

    def __exit__(self, *exc: Any) -> None:
        """Stop the bar, and wait for its thread to end: rich only tells it to (it ends within a redraw), and
        what comes next may fork."""
        self._progress.stop()
        for thread in self._threads:
            thread.join(timeout=1.0)

    def started(self, total: int, unchanged: int) -> None:
        """The bar covers only the students to grade, so skipped ones do not make the ETA look optimistic."""
        self._progress.update(self._task, total=total - unchanged, counts=self._text())

    def finished(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        self._progress.update(self._task, advance=0 if outcome.status == "unchanged" else 1, counts=self._text())

    def expecting(self, total: int) -> None:
        """A bar of ``total`` steps without the grading counts (the class files, a student at a time)."""
        self._progress.update(self._task, total=total, counts="")

    def advance(self, amount: float = 1.0) -> None:
        now = monotonic()
        due = self._redraw and now - self._drawn >= REDRAW_SECONDS
        if due:
            self._drawn = now
        self._progress.update(self._task, advance=amount, refresh=due)

    def doing(self, description: str) -> None:
        """What the bar says it is doing (``grading``; ``starting Dask`` or ``connecting`` before that)."""
        self._progress.update(self._task, description=description)

    def note(self, text: str) -> None:
        """A line above the bar (on a terminal) or at once (in a log), while the bar goes on."""
        self._progress.console.print(text, highlight=False, soft_wrap=True)

    def stopping(self, in_flight: int) -> None:
        text = (f"Interrupted: finishing {in_flight} in progress (Ctrl-C again: abandon them)" if in_flight
                else "Interrupted: every finished student is kept")
        self._progress.console.print(text, highlight=False)

    def _text(self) -> str:
        return (f"graded {self.counts['graded']} · failed {self.counts['failed']} · "
                f"unchanged {self.counts['unchanged']}")
