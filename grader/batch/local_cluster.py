"""The fork server behind ``grade batch --dask local``, started as early as possible.

A :class:`distributed.LocalCluster` forks its worker processes from :mod:`multiprocessing`'s fork server, which
imports Dask and the grader once for all of them, and first starts the sandbox zygote
(:mod:`grader.batch.shared_zygote`): every worker's sandbox servers are forks of it, so the machine imports
torch once, as with ``--jobs``. :mod:`grader.launch` starts the fork server before the grader itself is loaded,
so the zygote's torch import and the fork server's imports overlap the command's own start-up; this module uses
nothing but the standard library.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver

from grader.batch.interrupts import sigint_ignored

PRELOAD = ("grader.batch.shared_zygote", "distributed", "grader.batch.worker", "grader.batch.runner",
           "grader.grading")
"""What the fork server imports, in order: the zygote's start first, so its torch import begins at once."""


def start_forkserver() -> dict[str, str]:
    """Start the fork server (ignoring Ctrl-C, like the workers it forks), if this platform has one; return the
    Dask settings that make a local cluster fork its workers from it (none where there is no fork server)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return {}
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
    with sigint_ignored():
        forkserver.ensure_running()
    return {"distributed.worker.multiprocessing-method": "forkserver"}
