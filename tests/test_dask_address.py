"""What answers at a ``--dask`` address: a scheduler passes; anything else is a usage error that names it.

A web server there (a dashboard's port for the scheduler's) used to hang ``distributed.Client`` for ever, and a
service answering other bytes made it read a frame length of exabytes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from grader.batch import scheduler
from grader.errors import UsageError

pytest.importorskip("distributed")


@pytest.fixture
def chatty_server() -> Iterator[str]:
    """A service that answers every connection with bytes that are no Dask message."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"\xff" * 64)
                stop.wait(5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def refusal(address: str) -> str:
    """The message :func:`scheduler.check` gives for ``address`` (1 s to answer), or ``""`` if it passes.

    It runs in a thread so that a check that hangs, as ``distributed.Client`` did, fails the test instead of
    stopping the suite."""
    found: list[str] = []

    def ask() -> None:
        try:
            scheduler.check(address, 1)
            found.append("")
        except UsageError as exc:
            found.append(str(exc))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(60)
    assert found, f"checking {address} did not end"
    return found[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("make, says", [
    (lambda request: request.getfixturevalue("web_server"), "did not answer as a Dask scheduler"),
    (lambda request: request.getfixturevalue("chatty_server"), "did not answer as a Dask scheduler"),
    (lambda request: f"tcp://127.0.0.1:{free_port()}", "no Dask scheduler answered there"),
    (lambda request: "http://127.0.0.1:8787", "not a Dask address (http:// is not one of Dask's schemes"),
], ids=["web server", "other bytes", "nothing listens", "web address"])
def test_an_address_without_a_scheduler_is_refused_naming_it(make: Callable[[pytest.FixtureRequest], str], says: str,
                                                            request: pytest.FixtureRequest) -> None:
    address = make(request)
    message = refusal(address)
    assert message.startswith(f"--dask {address}: ") and says in message


def test_a_workers_address_is_refused_and_the_schedulers_passes() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        worker = next(iter(cluster.scheduler.workers))
        assert "that is a Dask worker, not the scheduler" in refusal(worker)
        assert refusal(cluster.scheduler_address) == ""

        async def in_a_running_loop() -> None:  # as in a notebook, whose thread runs an event loop
            scheduler.check(cluster.scheduler_address, 5)

        asyncio.run(in_a_running_loop())


def test_a_scheduler_without_workers_is_said_once_a_worker_joins_it_is_not() -> None:
    """Tasks wait for a worker (right for workers still queued on a cluster), which looked like a hang."""
    from distributed import Client, LocalCluster

    from grader.batch import cluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as local:
        address = local.scheduler_address
        with Client(address, set_as_default=False) as client:  # as a running scheduler is reached: no cluster object
            said = cluster.no_workers(client, address)
            assert said.startswith(f"the Dask scheduler at {address} has no workers yet") and "--preload" in said
            local.scale(1)
            client.wait_for_workers(1)
            assert cluster.no_workers(client, address) == ""


def test_a_note_reaches_a_log_while_the_bar_runs() -> None:
    """In a CI log (no terminal) the bar is printed when it stops; a note must not wait for that."""
    import io

    from grader.batch.progress import ProgressBar

    stream = io.StringIO()
    with ProgressBar(stream) as bar:
        bar.note("grade batch: waiting for workers")
        assert "grade batch: waiting for workers" in stream.getvalue()
        bar.doing("connecting")
    assert stream.getvalue().splitlines()[-1].startswith("connecting ")  # the bar, printed as it stops
