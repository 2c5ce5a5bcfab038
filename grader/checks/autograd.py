"""``autograd``: the raw backward against torch autograd of the reference forward.

For each random upstream gradient ``u`` the expected value is the VJP ``(∂f/∂x)ᵀ u`` of the float64
reference. Element-wise comparison, then :mod:`grader.diagnose` names the mistake, and a failed row that has
the right shape is named more precisely where possible: by an entry of the exercise's catalogue
(:mod:`grader.catalogue`), else, for ``wrong_values``, by where and how the error lies (:mod:`grader.localise`).
"""

from __future__ import annotations

from grader.catalogue import REFINES, match, named
from grader.checks.base import Context, GradientCheck
from grader.diagnose import Verdict, value_verdict
from grader.localise import localise


class AutogradCheck(GradientCheck):
    kind = "autograd"

    def compare(self, ctx: Context, ai: int) -> Verdict:
        others = {a.name: ctx.expected(j) for j, a in enumerate(ctx.target.args)
                  if a.differentiable and j != ai}
        ones = ctx.case.expected_ones[ai]
        assert ones is not None
        verdict = value_verdict(ctx.label(ai), ctx.grads(ai), ctx.expected(ai), ctx.target.tolerance, others,
                                ones, ctx.sizes)
        return refine(ctx, ai, verdict)


def refine(ctx: Context, ai: int, verdict: Verdict) -> Verdict:
    """The verdict with a pattern where one is proven; a passed verdict, or another code, is returned as it is."""
    if verdict.passed or verdict.code not in REFINES:
        return verdict
    got, want, tol = ctx.grads(ai), ctx.expected(ai), ctx.target.tolerance
    entry = match(ctx.target, ctx.case, ai, got, tol)
    if entry is not None:
        return named(verdict, entry, ctx.label(ai), got, want, tol, ctx.sizes)
    if verdict.code == "wrong_values":
        return localise(ctx.target, ctx.case, ai, got, want, tol, ctx.label(ai)) or verdict
    return verdict
