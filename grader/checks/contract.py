"""``contract``: what every backward owes the engine, checked on the raw return value.

One row per forward argument: the right count, ``None`` exactly where the argument is not a float tensor,
the input's dtype and shape, a tuple rather than a list (the engine rejects a list, though its entries may
be right), nothing modified in place, and linearity in ``grad_output``: a VJP is linear,
so ``backward(α u₀ + β u₁)`` must equal ``α backward(u₀) + β backward(u₁)``. Linearity cannot be judged on
NaN or infinite values, so those are reported as ``nan_or_inf`` first.
"""

from __future__ import annotations

from grader.cases import LINEAR_MIX
from grader.checks.base import Context, gated
from grader.compare import all_close, worst_text
from grader.diagnose import Verdict, nonfinite_verdict
from grader.results import Row


class ContractCheck:
    kind = "contract"

    def rows(self, ctx: Context) -> list[Row]:
        args = list(enumerate(ctx.target.args))
        if ctx.obs.failure is not None or (ctx.gate is not None and ctx.gate.code != "forbidden_api"):
            return gated(ctx, self.kind, args) or []
        return [ctx.row(self.kind, arg, self.verdict(ctx, ai)) for ai, arg in args]

    def verdict(self, ctx: Context, ai: int) -> Verdict:
        structure = ctx.structure[ai]
        if not structure.passed:
            return structure
        name = ctx.target.args[ai].name
        calls = ctx.obs.calls
        if calls and (any(c.is_list for c in calls) or (ctx.returns_list and all(c.is_tuple for c in calls))):
            return list_verdict(ctx)
        if any(c.inputs_changed[ai] for c in calls if len(c.inputs_changed) > ai):
            return Verdict("mutates_input", f"backward changed the input {name} in place")
        if not ctx.target.args[ai].differentiable:
            return Verdict("ok", f"None returned for {name}")
        if any(c.upstream_changed for c in calls):
            return Verdict("mutates_input", "backward changed grad_output in place")
        if any(c.saved_changed for c in calls):
            return Verdict("mutates_input", "backward changed a saved tensor in place")
        return self._linearity(ctx, ai)

    def _linearity(self, ctx: Context, ai: int) -> Verdict:
        label = ctx.label(ai)
        expected = [e[ai] for e in ctx.case.expected[: len(ctx.obs.calls)]]
        nonfinite = nonfinite_verdict(label, [c.grads[ai] for c in ctx.obs.calls],
                                      [e for e in expected if e is not None])
        if nonfinite is not None:
            return nonfinite
        g0, g1 = ctx.obs.calls[0].grads[ai], ctx.obs.calls[1].grads[ai]
        mixed = ctx.obs.calls[-1].grads[ai]
        alpha, beta = LINEAR_MIX
        want = alpha * g0 + beta * g1
        if all_close([mixed], [want], ctx.target.tolerance):
            return Verdict("ok", f"{label}: right type and shape, nothing modified, linear in grad_output")
        if all_close([g1], [g0], ctx.target.tolerance):
            return Verdict("ignores_upstream_grad", f"{label} is the same for different grad_outputs: it is not "
                                                    "multiplied by grad_output")
        return Verdict("wrong_values", f"{label} is not linear in grad_output: backward({alpha}·u₀ + {beta}·u₁) "
                                       f"differs from {alpha}·backward(u₀) + {beta}·backward(u₁), "
                                       f"{worst_text(mixed, want)}")


def list_verdict(ctx: Context) -> Verdict:
    """``wrong_type`` for a list returned where the engine takes a tuple, with the engine's own words."""
    n = len(ctx.target.args)
    engine = (f"function {ctx.target.name}Backward returned an incorrect number of gradients (expected {n}, got 1)"
              if n > 1 else "expected Variable or None (got list)")
    example = ", ".join(f"grad_{a.name}" if a.differentiable else "None" for a in ctx.target.args)
    return Verdict("wrong_type", f"backward returned a list, but the autograd engine takes only a tuple: in "
                                 f'training it stops with "{engine}"', hint=f"Return a tuple, not a list: "
                                 f"return {example}" + ("," if n == 1 else ""))
