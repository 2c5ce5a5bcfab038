"""Grades hand-written ``backward`` passes of ``torch.autograd.Function`` exercises.

The public API mirrors the CLI: :func:`grader.grading.grade_exercise` grades one exercise and returns a
:class:`grader.results.Report`. Importing this package does not import torch.
"""

from __future__ import annotations

__version__ = "0.1.0"
