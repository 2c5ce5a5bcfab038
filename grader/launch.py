"""The ``grade`` entry point: start the sandbox server first, then load the CLI.

Grading one exercise costs about one torch import, and the server's import is the one that cannot be
avoided, so it begins before click, numpy or the course are even loaded. Subcommands that never grade
(``list``, ``release``, ``--help``) do not start it.
"""

from __future__ import annotations

import os
import sys

_NO_SERVER = {"list", "release", "validate", "--help", "-h", "--version"}


def servers_wanted(args: list[str]) -> int:
    """How many servers the command line will use: 0 for commands that do not grade, ``--jobs`` for a batch."""
    if not args or args[0] in _NO_SERVER or args[0].startswith("-") or {"--help", "-h"} & set(args):
        return 0
    if args[0] != "batch":
        return 1
    jobs = os.cpu_count() or 1
    for i, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--jobs=") else ""
        if arg == "--jobs" and i + 1 < len(args):
            value = args[i + 1]
        if value.isdigit() and int(value) > 0:
            jobs = int(value)
    return min(jobs, os.cpu_count() or 1, 16)


def main() -> None:
    count = servers_wanted(sys.argv[1:])
    if count:
        from grader.sandbox.spawn import prestart

        prestart(count)
    from grader.cli import main as cli_main

    cli_main()
