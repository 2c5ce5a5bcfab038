"""``training``: can the student's backward actually train a network?

A target with a ``training`` spec is used as a layer: starting from a small random initialisation, plain
SGD ``p ← p - lr · ∂L/∂p`` on the mean squared error to a teacher's outputs, with every gradient taken
from a raw call of the student's backward. It passes when the loss falls below the spec's threshold within
the given number of steps. One row per target, with ``input`` null.
"""

from __future__ import annotations

import numpy as np

from grader.diagnose import HINTS, Verdict
from grader.probe import Failure
from grader.results import Row
from grader.spec import TargetSpec


def training_row(target: TargetSpec, losses: np.ndarray | Failure, blocked: Verdict | None) -> Row:
    verdict = blocked or _verdict(target, losses)
    return Row(target=target.name, check="training", case="training", input=None, passed=verdict.passed,
               diagnosis=verdict.code, message=verdict.message, hint=verdict.hint or HINTS.get(verdict.code, ""))


def _verdict(target: TargetSpec, losses: np.ndarray | Failure) -> Verdict:
    spec = target.training
    assert spec is not None
    if isinstance(losses, Failure):
        return Verdict(losses.code, losses.message, losses.hint)
    first, last = float(losses[0]), float(losses[-1])
    story = f"the loss went from {first:.4g} to {last:.4g} in {len(losses)} SGD steps (lr {spec.lr:g})"
    if not np.all(np.isfinite(losses)):
        return Verdict("nan_or_inf", f"training diverged: the loss became NaN or infinite after "
                                     f"{int(np.argmin(np.isfinite(losses)))} steps")
    if last < spec.threshold:
        return Verdict("ok", f"{story}, below the threshold {spec.threshold:g}")
    return Verdict("wrong_values", f"{story}; it must fall below {spec.threshold:g}: your gradients do not "
                                   "point downhill")
