"""``autograd``: the raw backward against torch autograd of the reference forward.

For each random upstream gradient ``u`` the expected value is the VJP ``(∂f/∂x)ᵀ u`` of the float64
reference. Element-wise comparison, then :mod:`grader.diagnose` names the mistake.
"""

from __future__ import annotations

from grader.checks.base import Context, GradientCheck
from grader.diagnose import Verdict, value_verdict


class AutogradCheck(GradientCheck):
    kind = "autograd"

    def compare(self, ctx: Context, ai: int) -> Verdict:
        others = {a.name: ctx.expected(j) for j, a in enumerate(ctx.target.args)
                  if a.differentiable and j != ai}
        ones = ctx.case.expected_ones[ai]
        assert ones is not None
        return value_verdict(ctx.label(ai), ctx.grads(ai), ctx.expected(ai), ctx.target.tolerance, others,
                             ones, ctx.sizes)
