"""The ``grade`` entry point: start the sandbox zygote first, then load the CLI.

Grading one exercise costs about one torch import, and the zygote's (:mod:`grader.sandbox.spawn`) is the one
that cannot be avoided, so it begins before click, numpy or the course are even loaded. Subcommands that never
grade (``list``, ``release``, ``--help``) do not start it. ``grade batch --dask local`` starts its cluster's
fork server instead, which starts the zygote its workers share (:mod:`grader.batch.local_cluster`).
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

_NO_SERVER = {"list", "release", "validate", "--help", "-h", "--version"}


def early_start(args: list[str]) -> str:
    """What the command line starts before anything else is imported: ``"zygote"`` for a command that grades
    here (the one torch import of the run), ``"forkserver"`` for ``grade batch --dask local`` (its cluster's fork
    server, which starts the zygote its workers share), ``""`` for commands that do not grade or grade on a
    running Dask cluster."""
    if not args or args[0] in _NO_SERVER or args[0].startswith("-") or {"--help", "-h"} & set(args):
        return ""
    dask = _option(args, "--dask") if args[0] == "batch" else None
    if dask is None:
        return "zygote"
    return "forkserver" if dask == "local" else ""


def _option(args: list[str], name: str) -> str | None:
    """The value given to ``name`` (``--dask local`` or ``--dask=local``; the last one counts), or ``None``."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            value = arg[len(name) + 1:]
        elif arg == name:
            value = args[i + 1] if i + 1 < len(args) else ""
    return value


def main() -> None:
    # Python's last act is a full collection of every object the run made (torch, numpy, matplotlib and click
    # loaded: ~0.2 s, most of a quick command's wait after its last line). Nothing the grader leaves needs it:
    # files are closed as they are written, the sandbox ends by its own exit hooks, which run before this one
    # (atexit runs last what was registered first), and the operating system takes the memory back.
    atexit.register(gc.freeze)
    # numpy's BLAS would start a thread per core for every dot product of a check (a norm of a 10⁶-element
    # gradient), and those threads fight the sandbox server and the other graders for the cores: one dot then
    # takes 15 ms instead of 1. The checks are small, serial arithmetic; read before numpy is first imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    start = early_start(sys.argv[1:])
    if start == "zygote":
        from grader.sandbox.spawn import prestart

        prestart()
    elif start == "forkserver":
        from grader.batch.local_cluster import start_forkserver

        start_forkserver()
    from grader.cli import main as cli_main

    cli_main()
