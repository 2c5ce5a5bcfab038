"""Class files written from one read of the class: each writer takes the students one at a time.

Parsing a student's stored report is most of what a class file costs: about 1 ms for one exercise, ~15 ms for a
student with all twelve. A class larger than :data:`grader.batch.record.KEEP_IN_MEMORY` is not kept in memory
(a parsed student with every exercise takes ~0.7 MB), so each writer that went through the class for itself
read every report again: about 27 reads per student for the dozen files of ``--lms all`` (289 s for 600 students
with twelve exercises each, 922 s for 2,000; now 22 s and 75 s). A :class:`Sink` is handed each record as it is
read (:meth:`add`) and writes its file at the end (:meth:`finish`), so :func:`grader.batch.outputs.write_outputs`
reads each report once per process, whatever the number of files.

Memory per student stays small: a sink keeps a table row of text (the gradebook, an LMS's CSV), writes a file
per student at once (feedback, Gradescope, LTI, Classroom), or streams to a temporary file (JUnit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from grader.batch.record import Assignment, ClassRecords, StudentRecord


class Sink:
    """A class file written one student at a time."""

    path: Path
    """What :meth:`finish` returns: the file, or the folder of per-student files."""

    def add(self, record: StudentRecord) -> None:
        raise NotImplementedError

    def finish(self) -> Path:
        """Write whatever waits for the whole class; return :attr:`path`."""
        return self.path

    def close(self) -> None:
        """Remove what an unfinished sink left behind (a temporary file); harmless after :meth:`finish`."""


def feed(records: Iterable[StudentRecord], sinks: Sequence[Sink]) -> list[Path]:
    """Hand every record to every sink, in one pass, then finish each; return their paths in the sinks' order."""
    try:
        for record in records:
            for sink in sinks:
                sink.add(record)
        return [sink.finish() for sink in sinks]
    finally:
        for sink in sinks:
            sink.close()


def written(start: Callable[[Sequence[Assignment], Path], Sink], records: ClassRecords, destination: Path) -> Path:
    """Write one class file (or folder) on its own: the sink that ``start`` makes for the class, fed the class."""
    return feed(records, [start(records.assignments, destination)])[0]
