"""The ``grade`` entry point: start the sandbox server first, then load the CLI.

Grading one exercise costs about one torch import, and the server's import is the one that cannot be
avoided, so it begins before click, numpy or the course are even loaded. Subcommands that never grade
(``list``, ``release``, ``--help``) do not start it. ``grade batch --dask local`` starts its cluster's fork
server instead, which starts the zygote its workers share (:mod:`grader.batch.local_cluster`).
"""

from __future__ import annotations

import os
import sys

_NO_SERVER = {"list", "release", "validate", "--help", "-h", "--version"}


def servers_wanted(args: list[str]) -> int:
    """How many servers the command line will use: 0 for commands that do not grade or grade on Dask, ``--jobs``
    for a batch."""
    if not args or args[0] in _NO_SERVER or args[0].startswith("-") or {"--help", "-h"} & set(args):
        return 0
    if args[0] != "batch":
        return 1
    if any(arg == "--dask" or arg.startswith("--dask=") for arg in args):
        return 0  # the workers of the Dask cluster keep the servers
    jobs = os.cpu_count() or 1
    for i, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--jobs=") else ""
        if arg == "--jobs" and i + 1 < len(args):
            value = args[i + 1]
        if value.isdigit() and int(value) > 0:
            jobs = int(value)
    return min(jobs, os.cpu_count() or 1, 16)


def local_cluster(args: list[str]) -> bool:
    """Whether the command line is ``grade batch ... --dask local``, whose fork server starts first thing."""
    if not args or args[0] != "batch" or {"--help", "-h"} & set(args):
        return False
    return any(arg == "--dask=local" or arg == "--dask" and i + 1 < len(args) and args[i + 1] == "local"
               for i, arg in enumerate(args))


def main() -> None:
    # numpy's BLAS would start a thread per core for every dot product of a check (a norm of a 10⁶-element
    # gradient), and those threads fight the sandbox server and the other graders for the cores: one dot then
    # takes 15 ms instead of 1. The checks are small, serial arithmetic; read before numpy is first imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    count = servers_wanted(sys.argv[1:])
    if count:
        from grader.sandbox.spawn import prestart

        prestart()
    elif local_cluster(sys.argv[1:]):
        from grader.batch.local_cluster import start_forkserver

        start_forkserver()
    from grader.cli import main as cli_main

    cli_main()
