"""Process limits applied in the child before any student code runs.

``RLIMIT_NPROC`` counts every process and thread of the user, not just the child's, so the limit given is
added to what the user already runs; otherwise an instructor with a busy desktop could not start a thread.
"""

from __future__ import annotations

import ctypes
import os
import resource
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Orphaned descendants (even those that called ``setsid``) are re-parented to us, so we can kill them."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(signal_number: int) -> bool:
    return _prctl(PR_SET_PDEATHSIG, signal_number)


def user_task_count(uid: int) -> int:
    """Processes plus threads owned by ``uid`` (what ``RLIMIT_NPROC`` counts)."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    return count


def apply(limits: dict[str, Any], uid: int | None = None) -> dict[str, bool]:
    """Set the rlimits; return which of them took effect (a hard limit below ours is kept).

    ``uid`` is the user the child will run as (its process count is what ``RLIMIT_NPROC`` is checked against).
    """
    mib = 1024 * 1024
    wanted = {
        resource.RLIMIT_AS: int(limits["memory_mb"]) * mib,
        resource.RLIMIT_FSIZE: int(limits["file_mb"]) * mib,
        resource.RLIMIT_NOFILE: int(limits["open_files"]),
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_CPU: int(float(limits["wall_seconds"])) + 2,
        resource.RLIMIT_NPROC: user_task_count(os.getuid() if uid is None else uid) + int(limits["processes"]),
    }
    names = {resource.RLIMIT_AS: "address_space", resource.RLIMIT_FSIZE: "file_size",
             resource.RLIMIT_NOFILE: "open_files", resource.RLIMIT_CORE: "core", resource.RLIMIT_CPU: "cpu_time",
             resource.RLIMIT_NPROC: "processes"}
    applied = {}
    for which, value in wanted.items():
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
            applied[names[which]] = True
        except (ValueError, OSError):
            applied[names[which]] = False
    return applied
