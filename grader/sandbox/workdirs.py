"""The sandbox server's temporary folders, named after the server that owns them, and the sweep of a killed run's.

Each job's student files are written to ``grade-work-<pid>-<random>`` in the temporary folder (and the layer
probe uses ``grade-probe-<pid>-<random>``), where ``<pid>`` is the sandbox server's process id. The server
removes its folder after every job; a ``kill -9`` of the grader (which takes its servers with it) cannot, so
:func:`sweep` removes, at the start of the next batch, the folders whose server is no longer running. A folder
whose server is alive, or whose owner cannot be told (no pid in its name: an older grader's), is never touched.

Standard library only: the sandbox server imports this before anything else.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

KINDS = ("work", "probe")
_OWNED = re.compile(r"^grade-(?:work|probe)-(?P<pid>\d+)-")


def make(kind: str) -> Path:
    """A fresh private folder ``grade-<kind>-<pid>-<random>`` in the temporary folder, owned by this process."""
    if kind not in KINDS:
        raise ValueError(f"unknown work folder kind {kind!r}; expected one of {', '.join(KINDS)}")
    return Path(tempfile.mkdtemp(prefix=f"grade-{kind}-{os.getpid()}-"))


def owner(name: str) -> int | None:
    """The pid in a work folder's name, or ``None`` when the name carries none."""
    match = _OWNED.match(name)
    return int(match["pid"]) if match else None


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs: another user's does (it cannot be signalled, but it exists); a zombie, whose
    parent has not collected its exit status yet, does not."""
    if pid <= 0:
        return True  # not a process id a folder could have been named after: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits to be reaped (Linux ``/proc``; elsewhere never)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rpartition(")")[2].split()
    except OSError:
        return False
    return bool(state) and state[0] in ("Z", "X")


def stale(folder: Path | None = None) -> list[Path]:
    """The work folders in ``folder`` (default: the temporary folder) whose owning server is dead."""
    base = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    found = []
    for name in names:
        pid = owner(name)
        path = base / name
        if pid is None or pid == os.getpid() or alive(pid):
            continue
        if path.is_dir() and not path.is_symlink():
            found.append(path)
    return found


def sweep(folder: Path | None = None) -> list[Path]:
    """Remove the work folders a killed run left behind (see :func:`stale`); return those that are gone now.

    A folder that cannot be removed (another user's, say) is left as it is; nothing here raises.
    """
    removed = []
    for path in stale(folder):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append(path)
    return removed
