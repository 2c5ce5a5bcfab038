"""``forward``: the student's forward output against the reference.

The forward is given, so this row carries no points by default; it gates the case instead: if the output
is wrong, comparing gradients would only confuse, so every later row of the case repeats this verdict.
"""

from __future__ import annotations

from grader.checks.base import Context, failure_verdict
from grader.compare import all_close, worst_text
from grader.diagnose import Verdict
from grader.results import Row


class ForwardCheck:
    kind = "forward"

    def rows(self, ctx: Context) -> list[Row]:
        verdict = self.verdict(ctx)
        if not verdict.passed:
            ctx.gate = Verdict(verdict.code, f"{verdict.message} (so the gradients of this case were not checked)")
        return [ctx.row(self.kind, None, verdict)]

    def verdict(self, ctx: Context) -> Verdict:
        obs = ctx.obs
        if obs.failure is not None:
            return failure_verdict(obs.failure)
        if obs.forward_failure is not None:
            return failure_verdict(obs.forward_failure)
        want = ctx.case.output
        kind = obs.output_kind
        if kind.get("type") != "tensor":
            return Verdict("forward_mismatch", f"forward returned {kind.get('typename', 'None')}, not a tensor")
        shape = tuple(kind.get("shape", ()))
        if shape != want.shape:
            return Verdict("forward_mismatch", f"forward returned shape {list(shape)}, expected {list(want.shape)}")
        if obs.output is None or not all_close([obs.output], [want], ctx.target.tolerance):
            detail = worst_text(obs.output, want) if obs.output is not None else "its values could not be read"
            return Verdict("forward_mismatch", f"forward output differs from the reference: {detail}")
        changed = [a.name for a, c in zip(ctx.target.args, obs.forward_changed, strict=False) if c]
        if changed:
            return Verdict("mutates_input", f"forward changed {', '.join(changed)} in place")
        return Verdict("ok", "forward output matches the reference")
