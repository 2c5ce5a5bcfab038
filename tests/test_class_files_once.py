"""The class files come from one read of each stored report, however many files are asked for.

A class too large to keep in memory used to be read again by every writer (about 27 reads of each report for
``--lms all`` with a dozen exercises: 920 s of class files for 2,000 students). These tests hold the class to a
size above the in-memory limit and count the reads, and check that a streamed class gets the very bytes a
class kept in memory gets.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.batch import LMS_NAMES, outputs, progress, record
from grader.batch.outputs import write_outputs
from grader.batch.progress import ProgressBar
from grader.batch.record import ClassRecords, StudentRecord, read_record
from grader.batch.roster import load_roster
from grader.results import Row
from grader.writers import junit
from grader.writers.sinks import feed

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"


def a_class(folder: Path, copies: int) -> list[str]:
    """The fixture class, each student ``copies`` times under new names (so rows of the roster miss some)."""
    reports = folder / "reports"
    reports.mkdir(parents=True)
    students = []
    for path in sorted((FIXTURES / "reports").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for n in range(copies):
            name = path.stem if n == 0 else f"{path.stem}-{n}"
            data["batch"]["student"] = name
            (reports / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            students.append(name)
    return students


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "reports" not in p.parts}


class Steps:
    """A :class:`grader.batch.outputs.Progress` that remembers what it was told."""

    def __init__(self) -> None:
        self.total = -1
        self.done = 0.0
        self.steps = 0

    def expecting(self, total: int) -> None:
        self.total = total

    def advance(self, amount: float) -> None:
        assert self.total >= 0, "a step before the total"
        self.done += amount
        self.steps += 1


def write_all(out: Path, students: list[str], keep: int, patch: pytest.MonkeyPatch,
              steps: Steps | None = None) -> tuple[outputs.Outputs, int]:
    """Every class file and LMS format, with the copies' work done here; return what was written and the reads."""
    reads = []

    def counted(path: Path) -> StudentRecord:
        reads.append(path)
        return read_record(path)

    assignments = ClassRecords(out / "reports").assignments
    with patch.context() as p:
        p.setattr(record, "KEEP_IN_MEMORY", keep)
        p.setattr(record, "read_record", counted)
        p.setattr(outputs, "aside", lambda work: work)  # the copies' share runs in this process, and is counted
        written = write_outputs(out, students, assignments, list(LMS_NAMES), load_roster(FIXTURES / "roster.csv"),
                                "Backprop", progress=steps)
    return written, len(reads)


def test_a_class_too_large_for_memory_is_read_once_by_each_share(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    students = a_class(tmp_path / "big", copies=3)
    _, reads = write_all(tmp_path / "big", students, keep=4, patch=monkeypatch)
    assert reads == 2 * len(students)  # this process's pass and the copy's, for the twelve files and the summary


def test_a_class_kept_in_memory_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    students = a_class(tmp_path / "small", copies=3)
    _, reads = write_all(tmp_path / "small", students, keep=1000, patch=monkeypatch)
    assert reads == len(students)


def test_streaming_writes_the_bytes_memory_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    streamed, kept = tmp_path / "streamed", tmp_path / "kept"
    students = a_class(streamed, copies=3)
    shutil.copytree(streamed / "reports", kept / "reports")
    one, _ = write_all(streamed, students, keep=4, patch=monkeypatch)
    other, _ = write_all(kept, students, keep=1000, patch=monkeypatch)
    assert files(streamed) == files(kept) and len(files(kept)) > 5 * len(students)
    assert one.warnings == other.warnings and one.warnings  # a roster that misses some students: warned either way
    assert [p.relative_to(streamed) for p in one.paths] == [p.relative_to(kept) for p in other.paths]


@pytest.mark.parametrize("keep, passes", [(4, 1), (1000, 2)])
def test_the_progress_counts_each_student_through_each_pass(keep: int, passes: int, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    students = a_class(tmp_path / "class", copies=3)
    steps = Steps()
    write_all(tmp_path / "class", students, keep=keep, patch=monkeypatch, steps=steps)
    assert steps.total == steps.done == len(students) and steps.steps == passes * len(students)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_class_files_bar_redraws_without_a_thread_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The class files' copies fork, which a second thread rules out: that bar is redrawn as it advances, by
    the caller, at most ten times a second (rich's thread redraws the grading bar)."""
    clock = iter(range(100))
    monkeypatch.setattr(progress, "monotonic", lambda: next(clock) / 20)  # each reading 50 ms after the last
    stream = Terminal()
    before = threading.active_count()
    with ProgressBar(stream, "class files", thread=False) as bar:
        assert threading.active_count() == before
        bar.expecting(4)
        bar.advance(1)  # 50 ms after the start: not redrawn yet
        assert "1/4" not in stream.getvalue()
        bar.advance(1)  # 100 ms: redrawn
        assert "2/4" in stream.getvalue() and threading.active_count() == before
    assert stream.getvalue().rstrip().rsplit("\r", 1)[-1].count("2/4") == 1  # drawn as it stops
    with ProgressBar(Terminal()) as grading:
        assert threading.active_count() == before + 1  # the grading bar: rich's own thread
        grading.advance(1)
    assert threading.active_count() == before


def test_an_interrupted_junit_leaves_no_temporary_file(tmp_path: Path) -> None:
    records = list(ClassRecords(FIXTURES / "reports"))

    def broken() -> Iterator[StudentRecord]:
        yield records[0]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        feed(broken(), [junit.Writer([], tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_a_stored_row_reads_back_equal_and_an_unusual_one_still_reads() -> None:
    row = Row(target="Linear", check="autograd", case="public-1", input="bias", passed=False,
              diagnosis="broadcast_not_reduced", message="m", hint="h", score=0.0, max_score=1.0, hidden=True,
              pattern=None)
    stored = {name: getattr(row, name) for name in record._ROW_FIELDS}
    assert record._row(stored) == row and hash(record._row(stored)) == hash(row)
    older = {k: v for k, v in stored.items() if k not in ("pattern", "hint")} | {"extra": 1}
    assert record._row(older) == Row(**{k: v for k, v in stored.items() if k not in ("pattern", "hint")})
