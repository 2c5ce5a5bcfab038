"""Errors that end a run with a specific exit status (CONTRACT section 3).

A bad course spec or a missing path is the user's to fix (exit 2); anything else that escapes is a grader
bug (exit 3). A submission that exists but cannot be used is *not* an error: it is graded to zero with rows
that say why.
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class; ``exit_code`` is the process exit status the CLI uses."""

    exit_code = 3


class UsageError(GraderError):
    """A usage problem: unknown exercise, missing path, bad option value (exit 2)."""

    exit_code = 2


class SpecError(UsageError):
    """A course or exercise spec is invalid. The message names the file and the key."""

    def __init__(self, path: object, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {problem}")
