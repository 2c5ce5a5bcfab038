"""Grading a class on a Dask cluster, the client's side: ``grade batch SUBMISSIONS --out DIR --dask ADDRESS``.

The same work as the pool of threads (:mod:`grader.batch.runner`), spread over Dask workers that share no
file system with this process, the client:

1. the client reads and hashes every submission (resume by key, as with ``--jobs``) and submits one task per
   out-of-date student, carrying the student's :class:`~grader.submission.Submission` (the files' bytes, in
   memory) and nothing else of the instructor's disk;
2. every worker runs :class:`~grader.batch.worker.SandboxPlugin`, registered once per batch: it brings the
   course and keeps one torch-preloaded sandbox server per worker thread (:mod:`grader.batch.worker`);
3. a task grades one student with :func:`~grader.batch.runner.grade_record`, sandbox and checks on the
   worker, and returns the record as JSON;
4. the client takes the results as they complete, stamps the grading time (its own clock, so
   ``$SOURCE_DATE_EPOCH`` pins it here, as with ``--jobs``), writes each record atomically, and tells the
   listener (the progress bar). The class files are written afterwards from ``reports/``, as always, so the
   outputs are the bytes ``--jobs`` writes.

When a worker dies, Dask runs its students again elsewhere. A student whose grading keeps killing workers
(more than the scheduler's ``allowed-failures``, set to :data:`ALLOWED_FAILURES` for ``--dask local``) ends
as :class:`distributed.KilledWorker` and gets ``crashed`` rows and an empty key, so the next run tries them
again; the batch goes on. On Ctrl-C the results already back are written and every other task is cancelled.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import dask
from distributed import Client, Future, KilledWorker, LocalCluster, as_completed

from grader.batch import scheduler
from grader.batch.interrupts import sigint_ignored
from grader.batch.layouts import Entry
from grader.batch.local_cluster import start_forkserver
from grader.batch.record import StudentRecord
from grader.batch.runner import (
    Listener,
    Outcome,
    Plan,
    describe,
    now,
    prepare,
    read,
    ungraded,
)
from grader.batch.state import write_atomic
from grader.batch.unpack import clean
from grader.batch.worker import SandboxPlugin, grade_remote
from grader.errors import GraderError, UsageError
from grader.probe import Failure

LOCAL = "local"
"""``--dask local``: a :class:`distributed.LocalCluster` of ``--jobs`` worker processes on this machine."""
QUIET = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
         "distributed.admin.system-monitor.interval": "5s", "distributed.worker.memory.monitor-interval": "1s"}
"""Settings of ``--dask local``'s own cluster: no statistical profiler (a sample of every thread every 10 ms),
and slower ticks of the event loops' and the memory's monitors. Idle, the two workers and the scheduler then
cost 0.03 s of CPU a second instead of 0.17 s, on the cores that grade (the sandbox limits the students'
memory in any case). A running scheduler's workers keep their own settings."""
CONNECT_SECONDS = 5
"""How long a scheduler address may take to answer before ``grade batch`` gives up (exit 2)."""
PRELOAD = "grader.batch.worker"
"""Preloaded by ``--dask local``'s workers (:func:`grader.batch.worker.dask_setup`): servers start with the worker."""
ALLOWED_FAILURES = 2
"""Workers a student's task may lose before it is :class:`distributed.KilledWorker` (``--dask local``; a
running scheduler keeps its own ``distributed.scheduler.allowed-failures``, 3 by default)."""


@contextmanager
def connect(address: str, jobs: int) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a new local cluster of ``jobs`` processes (``local``).

    An address where no Dask scheduler answers within :data:`CONNECT_SECONDS` (nothing listens, something
    else does, or a worker does) is a usage error (exit 2) naming it (:func:`grader.batch.scheduler.check`).
    """
    try:
        yield from _connected(address, jobs)
    finally:
        retire_offload_thread()


def _connected(address: str, jobs: int) -> Iterator[Client]:
    if address != LOCAL:
        scheduler.check(address, CONNECT_SECONDS)
        try:
            client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - the scheduler went away between the check and the client
            raise scheduler.unanswered(address, CONNECT_SECONDS, exc) from None
        with client:
            yield client
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES, **QUIET, **start_forkserver()}):
        with sigint_ignored():
            # no dashboard, and the scheduler's health routes on a free port: 8787 may be a Dask dashboard's
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR,
                                   preload=[PRELOAD])
        try:
            with Client(cluster, set_as_default=False) as client:
                yield client
        finally:
            cluster.close()


def retire_offload_thread() -> None:
    """End the thread distributed keeps for the work it offloads, once the client is closed.

    distributed's client starts one thread (``distributed.utils._offload_executor``) that stays, idle, for the
    rest of the process. A process with a second thread cannot fork (a lock that thread held would stay locked
    in the copy), so the class files, which are written partly by forked copies (:mod:`grader.batch.aside`),
    would all be written here, one after another: about twice as long. The executor is shut down, which ends
    its thread, and replaced by a new one, which starts a thread only when it is used (a next batch in the same
    process). With a distributed that has no such executor, nothing changes.
    """
    from concurrent.futures import ThreadPoolExecutor

    from distributed import utils

    executor = getattr(utils, "_offload_executor", None)
    if isinstance(executor, ThreadPoolExecutor):
        executor.shutdown(wait=True)
        utils._offload_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="Dask-Offload")


def no_workers(client: Client, address: str) -> str:
    """What to tell the user when the scheduler at ``address`` has no worker yet (else ``""``): its tasks wait
    for one, which is right for workers still queued on a cluster (dask-jobqueue), but looks like a hang."""
    if client.cluster is not None or client.scheduler_info().get("workers"):
        return ""
    return (f"the Dask scheduler at {address} has no workers yet; grading starts when the first one joins "
            f"(dask worker {address} --nthreads 1 --preload {PRELOAD}). Ctrl-C stops")


def grade_class_on(client: Client, entries: Sequence[Entry], out: Path, plan: Plan, force: bool = False,
                   listener: Listener | None = None, clock: Callable[[], str] = now) -> list[Outcome]:
    """Grade every entry whose stored result is out of date on ``client``'s workers into ``out/reports``.

    Like :func:`grader.batch.runner.grade_class`, with the cluster in place of the threads; ``out/.unpacked``
    is removed at the end, however it ends.
    """
    try:
        return _grade_class_on(client, entries, out, plan, force, listener, clock)
    finally:
        clean(out)


def _grade_class_on(client: Client, entries: Sequence[Entry], out: Path, plan: Plan, force: bool,
                    listener: Listener | None, clock: Callable[[], str]) -> list[Outcome]:
    folder, todo, outcomes = prepare(entries, out, plan, force, listener)
    if not todo:
        return outcomes
    name = f"grader-{uuid.uuid4().hex[:12]}"
    local = client.cluster is not None and isinstance(client.cluster, LocalCluster)
    waiting: dict[Future, Entry] = {}
    try:
        try:
            client.register_plugin(SandboxPlugin(plan, local=local), name=name)
        except Exception as exc:  # noqa: BLE001 - a worker without the grader, or whose server cannot start
            raise UsageError(f"the Dask workers could not set up the grader's sandbox ({type(exc).__name__}: {exc}); "
                             'each worker needs this grader installed (pip install "grader[dask]")') from None
        for entry in todo:
            waiting[client.submit(grade_remote, name, entry, read(entry), key=f"{name}-{entry.student}")] = entry
        for future in as_completed(list(waiting), loop=client.loop):
            outcome = _receive(future, waiting.pop(future), plan, folder, clock)
            outcomes.append(outcome)
            if listener:
                listener.finished(outcome)
    except KeyboardInterrupt:
        for future in [f for f in waiting if f.status == "finished"]:
            outcomes.append(_receive(future, waiting.pop(future), plan, folder, clock))
        client.cancel(list(waiting))
        if listener:
            listener.stopping(0)
        raise
    finally:
        _unregister(client, name)
    return outcomes


def _receive(future: Future, entry: Entry, plan: Plan, folder: Path, clock: Callable[[], str]) -> Outcome:
    """Write the student's record from a finished task, or the record that says why the task failed."""
    started = time.perf_counter()
    if future.status == "cancelled":  # not by this client: the scheduler restarted, or the connection was lost
        raise GraderError(f"the Dask scheduler dropped {entry.identity.student_id}'s task ({future.key}); every finished "
                          "student is kept: run the same command again to resume")
    if future.status == "finished":
        data, seconds, checks = future.result()
        record = StudentRecord.from_dict(json.loads(data))
    else:
        record, seconds, checks = _failed(entry, plan, future.exception()), 0.0, 0.0
    record = replace(record, graded_at=clock())
    write_atomic(folder / f"{entry.student}.json", record.to_json())
    future.release()
    return Outcome.of(record, seconds + time.perf_counter() - started, checks)


def _failed(entry: Entry, plan: Plan, exc: BaseException | None) -> StudentRecord:
    """The record of a student no worker could grade: ``crashed`` rows when workers kept dying on them, else the
    grader's error (as when grading raises). Both keep an empty key, so the next run tries again."""
    if isinstance(exc, KilledWorker):
        reports = ungraded(plan, Failure("crashed", "the grading worker's process died each time it graded this "
                                                    "submission, so it could not be graded (a submission that uses "
                                                    "far too much memory can do that)"))
        error = ""
    else:
        error = describe(exc) if exc is not None else "the Dask task failed"
        reports = ungraded(plan, f"the grader could not grade this submission: {error}")
    return StudentRecord(identity=entry.identity, reports=tuple(reports), graded_at="", key="", layout=entry.layout,
                         source=entry.source, error=error)


def _unregister(client: Client, name: str) -> None:
    """Remove the batch's plugin from the workers (which closes their sandbox servers), if it got there."""
    try:
        client.unregister_worker_plugin(name)
    except Exception:  # noqa: BLE001 - never registered, or the cluster is already gone
        pass
