"""``grade batch --dask``: a class graded on Dask workers writes the bytes ``--jobs 2`` writes.

Two real clusters on 127.0.0.1: ``--dask local`` (a ``LocalCluster`` of worker processes, started by the
command), and a scheduler with two workers started here through the ``dask`` CLI (one preloads
``grader.batch.worker``, one does not). A mixed class (full marks, a bug, a syntax error, a stub, ``os._exit``,
a backward that never returns, a Canvas file) is graded through each and through ``--jobs 2``, every output
file compared byte for byte; on the second, one worker is killed while it grades. Then the scheduler is told
to give up on a student at the first lost worker (a ``crashed`` record), a batch is interrupted, and an
address that does not answer is exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest
from helpers import SUBMISSIONS, fast_course, threads_beside_class_files, tree

from grader.batch import cluster
from grader.batch.layouts import discover
from grader.batch.record import StudentRecord, read_record
from grader.batch.runner import Outcome, make_plan
from grader.cli import main
from grader.spec import load_course

CLASS = SUBMISSIONS / "class"
MIXED = ("hw-alice", "hw-bob", "hw-dave", "hw-erin", "frank.py", "grace", "doejane_1001_5001_linear.py")
EPOCH = "1714564800"
STUCK = "grace"  # Linear's backward never returns: the 2 s limit keeps her on a worker long enough to kill it
START_SECONDS = 60


@pytest.fixture(scope="module")
def course_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fast_course(tmp_path_factory.mktemp("course").resolve())


@pytest.fixture(scope="module")
def mixed_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed-class")
    for name in MIXED:
        source = CLASS / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    return folder


def batch(submissions: Path, out: Path, course_root: Path, *options: str) -> int:
    """``grade batch`` in this process, as an instructor types it; its exit status."""
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(submissions), "--out", str(out), "--exercise", "ex04", "--lms", "all",
              "--course", str(course_root), *options])
    return int(exit_info.value.code or 0)


@pytest.fixture(autouse=True)
def pinned_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.fixture(scope="module")
def reference(mixed_class: Path, course_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The class through ``--jobs 2``, with Dask made impossible to import: a plain install grades without it."""
    out = tmp_path_factory.mktemp("jobs-out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        for name in ("dask", "distributed"):
            patch.setitem(sys.modules, name, None)
        assert batch(mixed_class, out, course_root, "--jobs", "2") == 0
    files = tree(out)
    assert len([f for f in files if f.startswith("reports/")]) == len(MIXED)
    return files


def test_a_local_cluster_writes_what_jobs_2_writes(mixed_class: Path, course_root: Path, reference: dict[str, bytes],
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    beside = threads_beside_class_files(monkeypatch)
    assert batch(mixed_class, tmp_path / "out", course_root, "--dask", "local", "--jobs", "2") == 0
    assert beside == [[], [], []]  # distributed's offload thread ended with the client: the class files fork
    err = capsys.readouterr().err
    assert "4 graded, 3 failed" in err  # dave's syntax error, frank, grace; erin's stub is graded
    assert "\ngrading " in "\n" + err and "starting Dask" not in err  # the bar says grading once the cluster is up
    assert tree(tmp_path / "out") == reference


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers, started through the ``dask`` CLI on 127.0.0.1; its address."""
    folder = tmp_path_factory.mktemp("dask-cli")
    file = folder / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)]]
    worker = [dask, "worker", "--scheduler-file", str(file), "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
              "--no-dashboard"]
    commands += [[*worker, "--preload", cluster.PRELOAD], worker]
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD": "forkserver"}  # quick restarts and stop
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with (folder / "log.txt").open("wb") as log:
            for command in commands:
                processes.append(subprocess.Popen(command, stdout=log, stderr=log, cwd=folder, env=env))
        with distributed.Client(scheduler_file=str(file), timeout=START_SECONDS, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_SECONDS)
            address = str(client.scheduler.address)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def client(scheduler: str) -> Iterator[Any]:
    """The test's own client of the CLI cluster: to look at it, kill its workers, and grade through the API."""
    with distributed.Client(scheduler, timeout=START_SECONDS, set_as_default=False) as own:
        own.wait_for_workers(2, timeout=START_SECONDS)
        yield own


class Killer(threading.Thread):
    """Kills (SIGKILL) the worker process that has ``student``'s task, once: the process, not its nanny."""

    def __init__(self, client: Any, student: str) -> None:
        super().__init__(name=f"kill-{student}", daemon=True)
        self.client = client
        self.student = student
        self.killed: int | None = None
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not self.done.is_set() and time.monotonic() < deadline:
            for address, keys in self.client.processing().items():
                if any(str(k).endswith(f"-{self.student}") for k in keys):
                    self.killed = self.client.run(os.getpid, workers=[address])[address]
                    os.kill(self.killed, signal.SIGKILL)
                    return
            self.done.wait(0.02)


def _batch_while_killing(client: Any, submissions: Path, out: Path, course_root: Path, scheduler: str) -> Killer:
    """Grade ``submissions`` on the cluster while a :class:`Killer` kills the worker grading the stuck student."""
    killer = Killer(client, STUCK)
    killer.start()
    try:
        assert batch(submissions, out, course_root, "--dask", scheduler) == 0
    finally:
        killer.done.set()
        killer.join()
    return killer


def test_a_scheduler_and_two_workers_write_what_jobs_2_writes_though_one_is_killed_mid_run(
        mixed_class: Path, course_root: Path, scheduler: str, client: Any, reference: dict[str, bytes],
        tmp_path: Path) -> None:
    killer = _batch_while_killing(client, mixed_class, tmp_path / "out", course_root, scheduler)
    assert killer.killed is not None, f"{STUCK} was never seen on a worker"
    assert tree(tmp_path / "out") == reference  # she was graded again elsewhere, and nobody else was touched
    client.wait_for_workers(2, timeout=START_SECONDS)  # the nanny restarted the worker


def test_a_student_who_keeps_killing_workers_gets_crashed_rows_and_the_batch_goes_on(
        course_root: Path, scheduler: str, client: Any, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copytree(CLASS / STUCK, submissions / STUCK)
    shutil.copy(CLASS / "doejane_1001_5001_linear.py", submissions)
    def allowed_failures(dask_scheduler: Any, value: int) -> int:  # local, so it travels by value
        before = int(dask_scheduler.allowed_failures)
        dask_scheduler.allowed_failures = value
        return before

    before = client.run_on_scheduler(allowed_failures, value=0)  # the first lost worker is one too many
    try:
        killer = _batch_while_killing(client, submissions, tmp_path / "out", course_root, scheduler)
    finally:
        client.run_on_scheduler(allowed_failures, value=before)
    assert killer.killed is not None
    grace = read_record(tmp_path / "out" / "reports" / f"{STUCK}.json")
    assert grace.key == "" and grace.error == ""  # tried again on the next run
    assert {r.diagnosis for r in grace.reports[0].checks} == {"crashed"} and grace.score == 0
    assert "worker's process died" in grace.reports[0].checks[0].message
    assert read_record(tmp_path / "out" / "reports" / "doejane.json").score == 9
    assert f"| {STUCK} | ex04 | crashed |" in (tmp_path / "out" / "summary.md").read_text()
    client.wait_for_workers(2, timeout=START_SECONDS)


class Interrupt:
    """A listener that presses Ctrl-C as the first student comes back."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.stopped: list[int] = []

    def started(self, total: int, unchanged: int) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        raise KeyboardInterrupt

    def stopping(self, in_flight: int) -> None:
        self.stopped.append(in_flight)


def test_ctrl_c_cancels_the_rest_and_keeps_every_finished_student(course_root: Path, client: Any,
                                                                  tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copytree(CLASS / STUCK, submissions / STUCK)
    for name in ("doejane_1001_5001_linear.py", "frank.py"):
        shutil.copy(CLASS / name, submissions)
    plan = make_plan(load_course(course_root), ["ex04"])
    entries = discover([submissions]).entries
    out = tmp_path / "out"
    listener = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        cluster.grade_class_on(client, entries, out, plan, listener=listener)
    assert listener.stopped == [0]
    kept = sorted(p.stem for p in (out / "reports").glob("*.json"))
    assert listener.outcomes[0].student in kept and STUCK not in kept  # she needs 2 s: cancelled
    assert all(read_record(out / "reports" / f"{s}.json").key for s in kept) and not list(out.rglob(".*.tmp"))
    plugins = client.run(lambda dask_worker: list(dask_worker.plugins))
    assert not [name for names in plugins.values() for name in names if name.startswith("grader-")]
    assert not any(client.processing().values())


def test_an_address_that_does_not_answer_is_exit_2_naming_it(mixed_class: Path, course_root: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    assert batch(mixed_class, tmp_path / "out", course_root, "--dask", address) == 2
    err = capsys.readouterr().err
    assert f"--dask {address}: no Dask scheduler answered" in err and "Traceback" not in err
    assert not list((tmp_path / "out" / "reports").glob("*.json"))


def test_a_web_server_at_the_address_is_exit_2_not_a_hang(mixed_class: Path, course_root: Path, tmp_path: Path,
                                                          web_server: str, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A dashboard's address given for the scheduler's: ``distributed.Client`` alone waited for ever."""
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    assert batch(mixed_class, tmp_path / "out", course_root, "--dask", web_server) == 2
    err = capsys.readouterr().err
    assert f"--dask {web_server}: something listens there, but it did not answer as a Dask scheduler" in err
    assert "Traceback" not in err and not list((tmp_path / "out" / "reports").glob("*.json"))


def test_without_dask_installed_dask_is_exit_2_saying_what_to_install(
        mixed_class: Path, course_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import grader.batch

    for name in ("dask", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("cluster", "worker"):
        monkeypatch.delitem(sys.modules, f"grader.batch.{name}", raising=False)
        monkeypatch.delattr(grader.batch, name, raising=False)
    assert batch(mixed_class, tmp_path / "out", course_root, "--dask", "local") == 2
    assert 'pip install "grader[dask]"' in capsys.readouterr().err


def _zygote_of_this_worker() -> int:
    from grader.sandbox import spawn

    spawn.prestart()
    return spawn._zygote[0].process.pid


def test_the_workers_of_a_local_cluster_share_one_zygote_so_torch_is_imported_once() -> None:
    with cluster.connect("local", 2) as client:
        client.wait_for_workers(2, timeout=START_SECONDS)
        zygotes = client.run(_zygote_of_this_worker)
    assert len(zygotes) == 2 and len(set(zygotes.values())) == 1, zygotes


def test_a_record_survives_the_trip_from_a_worker_as_a_dict(reference: dict[str, bytes]) -> None:
    for name, data in reference.items():
        if name.startswith("reports/"):
            text = data.decode()
            assert StudentRecord.from_dict(json.loads(text)).to_json() == text, name
