"""Work beside the grading process (:mod:`grader.batch.aside`): done in a forked copy when that is safe, done
here otherwise, and done again here when the copy failed, so its error surfaces as without the fork."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from grader.batch.aside import aside
from grader.batch.outputs import write_outputs
from grader.batch.record import ClassRecords

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"


def recorder(log: Path, fail_in_copy: bool = False):  # type: ignore[no-untyped-def]
    here = os.getpid()

    def work() -> None:
        with log.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
        if fail_in_copy and os.getpid() != here:
            raise OSError("no space left on device")

    return work


def pids(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()]


def test_the_work_runs_in_a_copy_and_is_done_when_waited_for(tmp_path: Path) -> None:
    log = tmp_path / "log"
    finish = aside(recorder(log))
    finish()
    assert len(pids(log)) == 1 and pids(log)[0] != os.getpid()


def test_with_another_thread_alive_the_work_waits_and_runs_here(tmp_path: Path) -> None:
    log = tmp_path / "log"
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        finish = aside(recorder(log))
        assert not log.exists()  # not started: a fork now could copy a lock the other thread holds
        finish()
    finally:
        stop.set()
        thread.join()
    assert pids(log) == [os.getpid()]


def test_work_that_failed_in_the_copy_is_done_again_here(tmp_path: Path) -> None:
    log = tmp_path / "log"
    aside(recorder(log, fail_in_copy=True))()
    copy, here = pids(log)
    assert copy != os.getpid() and here == os.getpid()


def test_an_error_of_the_work_is_raised_by_the_wait(tmp_path: Path) -> None:
    def broken() -> None:
        raise ValueError("the picture cannot be drawn")

    finish = aside(broken)
    with pytest.raises(ValueError, match="cannot be drawn"):
        finish()


def test_the_class_files_drawn_aside_are_the_bytes_drawn_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = FIXTURES / "reports"
    students = sorted(p.stem for p in reports.glob("*.json"))
    assignments = ClassRecords(reports).assignments
    files = {}
    for way in ("aside", "here"):
        out = tmp_path / way
        (out / "reports").mkdir(parents=True)
        for report in reports.glob("*.json"):
            (out / "reports" / report.name).write_bytes(report.read_bytes())
        if way == "here":
            monkeypatch.setattr("grader.batch.outputs.aside", lambda work: work)
        write_outputs(out, students, assignments, ["canvas"], title="t")
        files[way] = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert Path("histogram.png") in files["aside"] and Path("heatmap.png") in files["aside"]
    assert len([p for p in files["aside"] if p.parts[0] == "feedback"]) == 2 * len(students)  # .md and .html
    assert files["aside"] == files["here"]


def test_an_interrupted_wait_stops_the_copy_and_reaps_it(tmp_path: Path) -> None:
    """Ctrl-C while the process waits: the copy is interrupted too (it writes nothing), is reaped, and the
    interrupt goes on in the process."""
    import signal
    import time

    from grader.batch.state import write_atomic

    target = tmp_path / "heatmap.png"
    started = tmp_path / "started"

    def slow() -> None:
        started.write_text(str(os.getpid()))
        time.sleep(30)
        write_atomic(target, b"png")

    # Ctrl-C as a terminal delivers it: a suite started in the background by a non-interactive shell begins
    # with SIGINT ignored, which the copy would inherit, and then no Ctrl-C could stop either process.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        finish = aside(slow)
    finally:
        signal.signal(signal.SIGINT, previous_int)  # the copy has its own from here
    deadline = time.monotonic() + 30
    while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    copy = int(started.read_text())

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            finish()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - began < 20  # not the copy's 30 s: it was stopped
    assert not target.exists()
    with pytest.raises(ChildProcessError):
        os.waitpid(copy, os.WNOHANG)  # already reaped
