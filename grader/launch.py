"""The ``grade`` entry point: start the sandbox server first, then load the CLI.

Grading one exercise costs about one torch import, and the server's import is the one that cannot be
avoided, so it begins before click, numpy or the course are even loaded. Subcommands that never grade
(``list``, ``release``, ``--help``) do not start it.
"""

from __future__ import annotations

import sys

_NO_SERVER = {"list", "release", "batch", "validate", "--help", "-h", "--version"}


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] not in _NO_SERVER and not args[0].startswith("-") and not ({"--help", "-h"} & set(args)):
        from grader.sandbox.spawn import prestart

        prestart()
    from grader.cli import main as cli_main

    cli_main()
