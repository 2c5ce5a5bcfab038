"""Spawning sandbox servers, with nothing but the standard library.

Importing torch is most of a server's start-up (about 2 s of CPU). So one process, the *zygote*, imports it
once per grading process, and every server is a fork of it (:func:`grader.sandbox.server._clone`): a batch of
N workers pays for one import, not N, and a server that died is replaced in milliseconds. ``grade ex03``
starts the zygote before it imports anything else (click, numpy, the course), so its torch import overlaps the
grader's own start-up: :mod:`grader.launch` calls :func:`prestart` first thing.

A process's stdin and stdout are one end of a socket pair (:mod:`grader.sandbox.channel`), so that frames
can carry file descriptors; the grader keeps the other end. A forked server comes back as its own socket and a
pidfd (Linux 5.3 and later), which is how the grader signals and waits for a process that is not its child.
Where the kernel has no pidfd, each server is spawned with its own torch import, as before.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

# The collector is off while the server imports torch, and main() turns it back on once the imports are frozen.
# An import that makes ~250,000 objects triggers dozens of collections, each older generation a walk of every
# object made so far: about a tenth of the import's time (0.2 s of ~2 s), on the path of every grading run. What
# they would free (~7,000 unreachable objects, under 1 MB) stays in the frozen generation, never walked again.
_BOOT = ("import gc; gc.disable(); import sys; sys.path.insert(0, {root!r}); "
         "from grader.sandbox.server import main; main({zygote!r})")


class Forked:
    """A server forked by the zygote: not the grader's child, so it is signalled and awaited through a pidfd.

    It offers the part of :class:`subprocess.Popen` the client uses: ``pid``, ``poll``, ``kill`` and ``wait``.
    """

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd: int | None = pidfd

    def poll(self) -> int | None:
        """``None`` while it runs; ``-SIGKILL`` once it has ended (its status went to the zygote, which reaps it)."""
        if self._pidfd is None or select.select([self._pidfd], [], [], 0)[0]:
            return -signal.SIGKILL
        return None

    def kill(self) -> None:
        if self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float = 10.0) -> int:
        if self._pidfd is not None:
            select.select([self._pidfd], [], [], timeout)
            os.close(self._pidfd)
            self._pidfd = None
        return -signal.SIGKILL


@dataclass(frozen=True)
class Spawned:
    """A started server and the grader's end of its connection."""

    process: subprocess.Popen[bytes] | Forked
    channel: socket.socket


_zygote: list[Spawned] = []
_zygote_owner: list[int] = []
_zygote_lock = threading.Lock()
_ZYGOTE_REPLY = 4096
_FORKS = hasattr(os, "pidfd_open")
"""Whether servers are forks of the zygote: they need a pidfd, since they are not the grader's children."""


def server_environment() -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grader's own environment reach student code."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def spawn(zygote: bool = False) -> Spawned:
    """Start a server, or with ``zygote`` the zygote, with ``python -I`` (no PYTHONPATH, user site or
    sitecustomize of the caller)."""
    root = str(Path(__file__).resolve().parents[2])
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET if zygote else socket.SOCK_STREAM)
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT.format(root=root, zygote=zygote)],
            stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.DEVNULL,
            close_fds=True, env=server_environment(), cwd=tempfile.gettempdir(),
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return Spawned(process, ours)


def prestart() -> None:
    """Start the zygote now, if it is not running: its torch import begins while the caller goes on."""
    if _FORKS:
        with _zygote_lock:
            _the_zygote()


def ready_for_batch() -> None:
    """Ask the zygote to collapse its memory into huge pages (:mod:`grader.sandbox.hugepages`) before it forks
    the servers of a batch: ~45 ms once, on the run's critical path, for a cheaper fork, run and exit of every
    student's child. Where servers are not forks of the zygote, nothing happens."""
    if _FORKS:
        with _zygote_lock:
            try:
                _the_zygote().channel.send(b"huge")
            except OSError:
                pass  # a zygote that is gone is replaced by the next server(), as it is without this


def server() -> Spawned:
    """A new server: forked by the zygote once it has imported torch (waiting for that), else spawned alone."""
    if _FORKS:
        with _zygote_lock:
            for _attempt in (1, 2):
                zygote = _the_zygote()
                try:
                    return _fork(zygote)
                except (OSError, EOFError, ValueError):
                    _stop_zygote()  # it died (or cannot fork): the next attempt starts a new one
    return spawn()


def _the_zygote() -> Spawned:
    if not _zygote:
        _zygote.append(spawn(zygote=True))
        _zygote_owner[:] = [os.getpid()]
    return _zygote[0]


def _stop_zygote() -> None:
    """Close this process's end of the zygote's socket; the process that started the zygote also ends it. A
    process forked after it started (a worker of ``--dask local``, from the fork server that started it) shares
    it with the others, and only lets go."""
    for zygote in _zygote:
        zygote.channel.close()
        if _zygote_owner == [os.getpid()]:
            zygote.process.kill()
            zygote.process.wait()
    _zygote.clear()


atexit.register(_stop_zygote)  # it would end by itself once this process's end of its socket closes


def _fork(zygote: Spawned) -> Spawned:
    """Ask the zygote for a server: one message each way (see :func:`grader.sandbox.server._zygote`); a reply that
    is not one (``ValueError``) or none (``EOFError``) means the zygote is gone or broken."""
    zygote.channel.send(b"clone")
    reply, fds, flags, _ = socket.recv_fds(zygote.channel, _ZYGOTE_REPLY, 2)
    try:
        if not reply:
            raise EOFError("the zygote has ended")
        header = json.loads(reply) if not flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC) else {}
        if not isinstance(header, dict) or not header.get("ok") or len(fds) != 2:
            raise ValueError("the zygote did not fork a server")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return Spawned(Forked(int(header["pid"]), fds[1]), socket.socket(fileno=fds[0]))
