"""The progress bar on stderr: done of total, ETA, and how many were graded, failed or unchanged.

"Failed" counts students whose submission crashed, timed out, hit a limit, could not be used or could not
be graded; they are listed in the summary. On a terminal the bar redraws in place; otherwise (a CI log)
rich prints it once when it stops.
"""

from __future__ import annotations

from collections import Counter
from typing import IO, Any

from grader.batch.runner import Outcome


class ProgressBar:
    """A :class:`grader.batch.runner.Listener` drawing a rich progress bar; use as a context manager."""

    def __init__(self, stream: IO[str], description: str = "grading") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.counts: Counter[str] = Counter()
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("{task.fields[counts]}"),
            console=Console(file=stream, highlight=False), transient=False,
        )
        self._task = self._progress.add_task(description, total=None, counts="")

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

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
        self._progress.update(self._task, advance=amount)

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
