"""``gradcheck``: the raw backward against central differences of the student's *own* forward.

For a direction ``v`` and the upstream gradient ``u``, the backward's answer is ``⟨backward(u), v⟩`` and
the forward's is ``⟨u, (f(x + h v) - f(x - h v)) / 2h⟩``; the two agree up to ``O(h²)`` when backward is
the VJP of forward. Directions are a few random unit vectors and a few sampled coordinates ``e_i`` (which
check single elements), so the cost is a fixed number of forward calls whatever the tensor's size, unlike
``torch.autograd.gradcheck``, which perturbs every element.
"""

from __future__ import annotations

import numpy as np

from grader.checks.base import Context, failure_verdict, gated
from grader.compare import index_text, num
from grader.diagnose import Verdict, describe_factor
from grader.probe import Failure
from grader.results import Row


class GradcheckCheck:
    kind = "gradcheck"

    def rows(self, ctx: Context) -> list[Row]:
        args = [(ai, a) for ai, a in enumerate(ctx.target.args) if a.differentiable]
        blocked = gated(ctx, self.kind, args)
        if blocked is not None:
            return blocked
        return [ctx.row(self.kind, arg, self.verdict(ctx, ai)) for ai, arg in args]

    def verdict(self, ctx: Context, ai: int) -> Verdict:
        structure = ctx.structure[ai]
        if not structure.passed:
            return structure
        jvps = ctx.obs.fd.get(ai)
        if jvps is None:
            return Verdict("crashed", "finite differences of your forward were not reported")
        if isinstance(jvps, Failure):
            return failure_verdict(jvps)
        label, name = ctx.label(ai), ctx.target.args[ai].name
        u = ctx.case.upstream[0]
        grad = ctx.obs.calls[0].grads[ai]
        fd_eps = ctx.target.fd
        pairs = []
        for v, jvp, coord in zip(ctx.case.directions[ai], jvps, ctx.case.coordinates[ai], strict=True):
            vv = v
            numeric = float(np.sum(u * jvp))
            analytic = float(np.sum(grad * vv))
            bound = float(np.linalg.norm(u) * np.linalg.norm(jvp) + np.linalg.norm(grad) * np.linalg.norm(vv))
            pairs.append((analytic, numeric, bound, coord))
        if not all(np.isfinite(a) for a, _, _, _ in pairs):
            return Verdict("nan_or_inf", f"{label} contains NaN or infinity")
        bad = [p for p in pairs if abs(p[0] - p[1]) > fd_eps.rtol * abs(p[1]) + fd_eps.atol * max(p[2], 1e-300)]
        if not bad:
            return Verdict("ok", f"{label} agrees with finite differences of your forward along "
                                 f"{len(pairs)} directions")
        return self._explain(label, name, pairs, bad, ctx, ai)

    def _explain(self, label: str, name: str, pairs: list, bad: list, ctx: Context, ai: int) -> Verdict:
        numeric = np.array([p[1] for p in pairs])
        analytic = np.array([p[0] for p in pairs])
        big = np.abs(numeric) > 1e-8 * max(float(np.max(np.abs(numeric))), 1e-300)
        if big.any():
            ratios = analytic[big] / numeric[big]
            c = float(np.median(ratios))
            if np.allclose(ratios, c, rtol=1e-3, atol=1e-6):
                if abs(c + 1) < 1e-3:
                    return Verdict("sign_flipped", f"{label} is minus the slope of your forward measured by finite "
                                                   "differences")
                if abs(c) > 1e-6:
                    return Verdict("scaled", f"{label} is off by a factor of {describe_factor(c, ctx.sizes)} "
                                             "compared with finite differences of your forward")
        analytic_value, numeric_value, _, coord = max(bad, key=lambda p: abs(p[0] - p[1]))
        if coord is None:
            where = "along a random direction"
        else:
            shape = tuple(ctx.case.args[ai].shape)
            where = f"at element {index_text(tuple(int(i) for i in np.unravel_index(coord, shape)))} of {name}"
        return Verdict("wrong_values", f"{label} disagrees with finite differences of your forward {where}: "
                                       f"backward gives {num(analytic_value)}, finite differences give "
                                       f"{num(numeric_value)}")

