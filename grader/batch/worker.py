"""What runs on a Dask worker for ``grade batch --dask``: the worker plugin and the task that grades one student.

:class:`SandboxPlugin` is registered once per batch by the client (:mod:`grader.batch.cluster`). It reaches
every worker, including one that joins or is restarted mid-run, and brings the course (the loaded
:class:`~grader.batch.runner.Plan`, pickled) so that the workers need no shared folder. On each worker it
keeps one torch-preloaded sandbox server per worker thread, started when the plugin is set up and closed
when it is removed.

The first student on a worker waits for one torch import, the sandbox zygote's (:mod:`grader.sandbox.spawn`):
the worker itself never imports torch, since its servers run the static scan. It starts as early as it can:
this module imports nothing heavy and the plan stays bytes until a thread of the plugin loads it, so setting
the plugin up spawns the zygote at once. Preloaded (``dask worker --preload grader.batch.worker``, which
``--dask local`` does), the module starts it when the worker starts, before any batch: :func:`dask_setup`.
"""

from __future__ import annotations

import json
import pickle
import queue
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from distributed import Worker, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from grader.sandbox import workdirs
from grader.sandbox.client import SandboxServer
from grader.sandbox.spawn import prestart, ready_for_batch

if TYPE_CHECKING:
    from grader.batch.layouts import Entry
    from grader.batch.runner import Plan
    from grader.submission import Submission


class SandboxPlugin(WorkerPlugin):
    """What each worker needs to grade: the plan, and one sandbox server per worker thread.

    ``setup`` removes the work folders a killed server left on this host, starts the servers (forks of the zygote
    :func:`dask_setup` may have started already), and loads the plan in a thread: unpickled, with its reference cases
    computed (:func:`~grader.batch.runner.warm_cases`), once per worker, while the servers import torch.

    Attributes:
        local: the workers share the client's terminal (``--dask local``), so they ignore Ctrl-C, as the
            sandbox servers of ``--jobs`` do: the client alone winds the batch down.
    """

    def __init__(self, plan: Plan, local: bool = False) -> None:
        self.local = local
        self._plan_bytes = pickle.dumps(plan)
        self._plan: Plan | None = None
        self._idle: queue.SimpleQueue[SandboxServer] | None = None
        self._ready: threading.Lock | None = None
        self._closed = False

    def setup(self, worker: Worker) -> None:
        if self.local and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        workdirs.sweep()
        self._ready = threading.Lock()
        self._idle = queue.SimpleQueue()
        ready_for_batch()  # a worker grades many students
        for _ in range(max(1, worker.state.nthreads)):
            self._idle.put(SandboxServer().start())
        threading.Thread(target=self.plan, name="grader-plan", daemon=True).start()

    def teardown(self, worker: Worker) -> None:
        """Close the idle servers now, and each busy one when its task gives it back (a cancelled task still
        runs to its end: closing its server under it would only make the client start another)."""
        self._closed = True
        while self._idle is not None and not self._idle.empty():
            self._idle.get_nowait().close()

    def plan(self) -> Plan:
        """The plan, its reference cases computed (the first call on this worker does both)."""
        assert self._ready is not None, "the plugin was not set up"
        with self._ready:
            if self._plan is None:
                from grader.batch.runner import warm_cases

                plan = pickle.loads(self._plan_bytes)
                warm_cases(plan)
                self._plan = plan
            return self._plan

    @contextmanager
    def server(self) -> Iterator[SandboxServer]:
        """One of this worker's servers, for one task at a time."""
        assert self._idle is not None, "the plugin was not set up"
        server = self._idle.get()
        try:
            yield server
        finally:
            if self._closed:
                server.close()
            else:
                self._idle.put(server)


def dask_setup(worker: Worker) -> None:
    """Dask's preload hook: start this worker's sandbox zygote, and import the grader, as the worker starts.

    Optional: without it, the same happens when a batch sets up its :class:`SandboxPlugin`, a few seconds
    later in the first student's wait.
    """
    prestart()
    threading.Thread(target=_import_grader, name="grader-import", daemon=True).start()


def _import_grader() -> None:
    import grader.grading  # noqa: F401


def grade_remote(plugin: str, entry: Entry, submission: Submission | str) -> tuple[bytes, float, float]:
    """The Dask task: one student graded on this worker with :func:`~grader.batch.runner.grade_record`.

    Returns the record as compact JSON (its grading time left for the client to stamp), the task's wall
    seconds and the seconds spent grading proper. JSON bytes, not a dict of a hundred rows: Dask sizes and
    serialises bytes at once, where it would walk every row of a dict, twice.
    """
    from grader.batch.runner import grade_record

    sandbox = get_worker().plugins[plugin]
    assert isinstance(sandbox, SandboxPlugin)
    started = time.perf_counter()
    plan = sandbox.plan()
    with sandbox.server() as server:
        record, checks = grade_record(entry, submission, plan, server, clock=_unstamped)
    data = json.dumps(record.to_dict(), allow_nan=False, separators=(",", ":")).encode()
    return data, time.perf_counter() - started, checks


def _unstamped() -> str:
    return ""
