"""Grades hand-written ``backward`` passes of ``torch.autograd.Function`` exercises.

The public API mirrors the CLI: :func:`grader.grading.grade_exercise` grades one exercise and returns a
:class:`grader.results.Report`. In a notebook, ``from grader import check; check("ex03")`` grades the
notebook's own code (:mod:`grader.jupyter`). Importing this package does not import torch.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would slow every ``grade`` start
if TYPE_CHECKING:
    from pathlib import Path

    from grader.jupyter import NotebookReport

__version__ = "0.1.0"
__all__ = ["__version__", "check"]


def check(exercise: str, course: str | Path | None = None, notebook: str | Path | None = None,
          seed: int | None = None) -> NotebookReport:
    """Grade ``exercise`` with this notebook's code, in the sandbox; show the report as HTML and return it.

    The work is in :func:`grader.jupyter.check`, imported only when called, so ``import grader`` stays light.
    """
    from grader.jupyter import check as run_check

    return run_check(exercise, course=course, notebook=notebook, seed=seed)
