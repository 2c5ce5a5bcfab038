"""``policy``: the gradient must come from the student's own chain rule.

Two layers feed this row. The trusted process reads the whole module's source
(:mod:`grader.integrity.static`), which nothing the student's code does can change; the child watches what
actually ran during forward and backward (:mod:`grader.sandbox.watch`): backward kernels, the autograd
engine, dual numbers, complex steps and finite differences. Either finding is ``forbidden_api``: it gates
the case's gradient rows, and scoring gives the whole target 0 (:func:`grader.scoring.score_rows`).

The row also says when a backward runs far more tensor operations than the forward (``policy.slowdown``
in course.yaml): not a cheat, but usually a Python loop over elements that a vectorised backward avoids.
"""

from __future__ import annotations

from grader.checks.base import Context, failure_verdict
from grader.diagnose import Verdict
from grader.results import Row


class PolicyCheck:
    kind = "policy"

    def rows(self, ctx: Context) -> list[Row]:
        static = list(dict.fromkeys(ctx.static_forbidden))
        dynamic = list(dict.fromkeys(ctx.obs.forbidden))
        if static or dynamic:
            found = [*(f"your code: {s}" for s in static), *(f"while it ran, your code {d}" for d in dynamic)]
            verdict = Verdict("forbidden_api", "the gradient must come from your own chain rule. " + "; ".join(found))
            if ctx.gate is None and ctx.obs.failure is None:
                ctx.gate = verdict
            return [ctx.row(self.kind, None, verdict)]
        if ctx.obs.failure is not None:
            return [ctx.row(self.kind, None, failure_verdict(ctx.obs.failure))]
        return [ctx.row(self.kind, None, Verdict("ok", "no autograd, backward kernels or numerical differentiation"
                                                       + _slowness(ctx)))]


def _slowness(ctx: Context) -> str:
    forward, backward = ctx.obs.ops
    if backward <= ctx.slowdown * max(forward, 1):
        return ""
    return (f"; note: your backward ran {backward} tensor operations where the forward ran {forward} "
            f"({backward / max(forward, 1):.0f}x): a Python loop over elements? A vectorised backward needs "
            "about as many as the forward")
