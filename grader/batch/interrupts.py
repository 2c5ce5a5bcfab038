"""Ctrl-C reaches the grading process alone, not the processes it starts."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Servers spawned meanwhile inherit an ignored SIGINT, so a Ctrl-C at the terminal (sent to the whole
    process group) reaches only the grading process, which then winds down in order."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
