"""Work done beside the grading process, in a forked copy of it, while the process goes on with other work.

Writing the class files is all Python, so a second thread would only take turns with the first for the
interpreter lock; a forked copy has its own interpreter and the machine's other core. It starts with
everything the process had computed (the class tally, the imported matplotlib), so the work runs unchanged;
its files are written atomically, exactly as the process would have written them.

A fork copies only the calling thread. Any lock another thread held at that moment (a log handler's, an event
loop's) would stay locked in the copy for ever, so the work goes aside only when this process has no other
thread, and otherwise runs here when it is waited for. If the copy cannot be made, or its work fails (a
full disk, a bug), the work is done again here when it is waited for, so the error is raised as it would have
been without the fork, with its traceback, and nothing is lost.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

Work = Callable[[], None]


def aside(work: Work) -> Work:
    """Start ``work`` in a forked copy of this process where that is safe; return the function that waits for it
    (and does the work here if it was not started, or did not succeed)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return work
    try:
        pid = os.fork()
    except OSError:
        return work
    if pid == 0:  # the copy: do the work and end, without the process's exit hooks (they stop its sandbox)
        code = 1
        try:
            work()  # Ctrl-C raises KeyboardInterrupt here as in the process: a half-written file is removed
            code = 0
        finally:
            os._exit(code)
    return lambda: _wait(pid, work)


def _wait(pid: int, work: Work) -> None:
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:  # interrupted: the copy stops too (as its own KeyboardInterrupt), and is reaped
        try:
            os.kill(pid, signal.SIGINT)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        raise
    if os.waitstatus_to_exitcode(status) != 0:
        work()
