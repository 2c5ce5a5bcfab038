"""``policy``: backward must compute the gradient itself, without autograd.

Two layers: the trusted process reads the backward's source (and the module-level helpers it calls), which
no student code can influence; the child also reports autograd entry points actually called during
backward. Either finding is ``forbidden_api``, and it zeroes the gradient rows of the case, because a
gradient the engine worked out says nothing about the student's chain rule.
"""

from __future__ import annotations

from grader.checks.base import Context, failure_verdict
from grader.diagnose import Verdict
from grader.results import Row


class PolicyCheck:
    kind = "policy"

    def rows(self, ctx: Context) -> list[Row]:
        if ctx.obs.failure is not None:
            return [ctx.row(self.kind, None, failure_verdict(ctx.obs.failure))]
        found = sorted(set(ctx.static_forbidden) | set(ctx.obs.forbidden))
        if not found:
            return [ctx.row(self.kind, None, Verdict("ok", "backward does not use autograd"))]
        verdict = Verdict("forbidden_api", "backward used autograd instead of the chain rule: " + "; ".join(found))
        if ctx.gate is None:
            ctx.gate = verdict
        return [ctx.row(self.kind, None, verdict)]
