"""Spawning the sandbox server, with nothing but the standard library.

``grade ex03`` starts the server before it imports anything else (click, numpy, the course), so the
server's torch import overlaps the grader's own start-up; :mod:`grader.launch` calls :func:`prestart`
first thing, and :class:`grader.sandbox.client.SandboxServer` adopts that process.

The server's stdin and stdout are one end of a socket pair (:mod:`grader.sandbox.channel`), so that frames
can carry file descriptors; the grader keeps the other end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_BOOT = "import sys; sys.path.insert(0, {root!r}); from grader.sandbox.server import main; main()"


@dataclass(frozen=True)
class Spawned:
    """A started server and the grader's end of its connection."""

    process: subprocess.Popen[bytes]
    channel: socket.socket


_prestarted: list[Spawned] = []


def server_environment() -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grader's own environment reach student code."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def spawn() -> Spawned:
    """Start a server with ``python -I`` (no PYTHONPATH, user site or sitecustomize of the caller)."""
    root = str(Path(__file__).resolve().parents[2])
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT.format(root=root)],
            stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.DEVNULL,
            close_fds=True, env=server_environment(), cwd=tempfile.gettempdir(),
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return Spawned(process, ours)


def prestart(count: int = 1) -> None:
    while len(_prestarted) < count:
        _prestarted.append(spawn())


def take_prestarted() -> Spawned | None:
    """The process :func:`prestart` started, if any (each is handed out once)."""
    return _prestarted.pop() if _prestarted else None
