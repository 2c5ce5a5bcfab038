"""Spawning the sandbox server, with nothing but the standard library.

``grade ex03`` starts the server before it imports anything else (click, numpy, the course), so the
server's torch import overlaps the grader's own start-up; :mod:`grader.launch` calls :func:`prestart`
first thing, and :class:`grader.sandbox.client.SandboxServer` adopts that process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_BOOT = "import sys; sys.path.insert(0, {root!r}); from grader.sandbox.server import main; main()"
_prestarted: list[subprocess.Popen[bytes]] = []


def server_environment() -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grader's own environment reach student code."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def spawn() -> subprocess.Popen[bytes]:
    """Start a server with ``python -I`` (no PYTHONPATH, user site or sitecustomize of the caller)."""
    root = str(Path(__file__).resolve().parents[2])
    return subprocess.Popen(
        [sys.executable, "-I", "-c", _BOOT.format(root=root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        close_fds=True, env=server_environment(), cwd=tempfile.gettempdir(),
    )


def prestart(count: int = 1) -> None:
    while len(_prestarted) < count:
        _prestarted.append(spawn())


def take_prestarted() -> subprocess.Popen[bytes] | None:
    """The process :func:`prestart` started, if any (each is handed out once)."""
    return _prestarted.pop() if _prestarted else None
