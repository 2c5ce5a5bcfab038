"""``gradcheck``: the raw backward against central differences of the student's *own* forward.

For a direction ``v`` and the upstream gradient ``u``, the backward's answer is ``⟨backward(u), v⟩`` and
the forward's is ``⟨u, (f(x + h v) - f(x - h v)) / 2h⟩``; the two agree up to ``O(h²)`` when backward is
the VJP of forward. Directions are a few random unit vectors and a few sampled coordinates ``e_i`` (which
check single elements), so the cost is a fixed number of forward calls whatever the tensor's size, unlike
``torch.autograd.gradcheck``, which perturbs every element.

A mismatch is explained with the same patterns as the ``autograd`` row, as far as directional derivatives
can tell them apart: minus the slope, another input's slope (``swapped_inputs``), the slope under
``u = 1`` (``ignores_upstream_grad``), a constant multiple.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from grader.cases import Case
from grader.checks.base import Context, GradientCheck, failure_verdict
from grader.compare import index_text, num
from grader.diagnose import Verdict, describe_factor
from grader.probe import Failure
from grader.spec import FiniteDifferences


@dataclass(frozen=True)
class Probe:
    """One direction: the backward's ``⟨g, v⟩``, the forward's ``⟨u, J v⟩``, the scale of both, and the
    flat coordinate when ``v`` is a unit vector ``e_i`` (``None`` for a random direction)."""

    analytic: float
    numeric: float
    bound: float
    coord: int | None

    def agrees(self, fd: FiniteDifferences) -> bool:
        return abs(self.analytic - self.numeric) <= fd.rtol * abs(self.numeric) + fd.atol * max(self.bound, 1e-300)


class GradcheckCheck(GradientCheck):
    kind = "gradcheck"

    def compare(self, ctx: Context, ai: int) -> Verdict:
        jvps = ctx.obs.fd.get(ai)
        if jvps is None:
            return Verdict("crashed", "finite differences of your forward were not reported")
        if isinstance(jvps, Failure):
            return failure_verdict(jvps)
        label = ctx.label(ai)
        u = ctx.case.upstream[0]
        grad = ctx.obs.calls[0].grads[ai]
        if not np.all(np.isfinite(grad)):
            count = int(np.sum(~np.isfinite(grad)))
            return Verdict("nan_or_inf", f"{label} has {count} NaN or infinite element(s), so it cannot match the "
                                         "finite slope of your forward")
        probes = _probes(grad, u, jvps, ctx.case, ai)
        lying = _forward_off_the_reference(ctx, ai, u, jvps)
        if lying is not None:
            return lying
        bad = [p for p in probes if not p.agrees(ctx.target.fd)]
        if not bad:
            return Verdict("ok", f"{label} agrees with finite differences of your forward along "
                                 f"{len(probes)} directions")
        return self._explain(label, probes, bad, ctx, ai)

    def _explain(self, label: str, probes: list[Probe], bad: list[Probe], ctx: Context, ai: int) -> Verdict:
        c = _common_ratio(probes)
        if c is not None and abs(c + 1) < 1e-3:
            return Verdict("sign_flipped", f"{label} is minus the slope of your forward measured by finite differences")
        other = _swapped_with(ctx, ai)
        if other is not None:
            return Verdict("swapped_inputs", f"{label} matches finite differences of your forward with respect to "
                                             f"{other}, not {ctx.target.args[ai].name}: the gradients of two inputs "
                                             "are exchanged")
        grad = ctx.obs.calls[0].grads[ai]
        jvps = ctx.obs.fd[ai]
        assert not isinstance(jvps, Failure)
        ones = np.ones_like(ctx.case.upstream[0])
        if all(p.agrees(ctx.target.fd) for p in _probes(grad, ones, jvps, ctx.case, ai)):
            return Verdict("ignores_upstream_grad", f"{label} matches finite differences of your forward for "
                                                    "grad_output = 1 but not for the random grad_output: it is not "
                                                    "multiplied by grad_output")
        if c is not None and abs(c) > 1e-6:
            return Verdict("scaled", f"{label} is off by a factor of {describe_factor(c, ctx.sizes)} "
                                     "compared with finite differences of your forward")
        worst = max(bad, key=lambda p: abs(p.analytic - p.numeric))
        if worst.coord is None:
            where = "along a random direction"
        else:
            shape = tuple(ctx.case.args[ai].shape)
            index = tuple(int(i) for i in np.unravel_index(worst.coord, shape))
            where = f"at element {index_text(index)} of {ctx.target.args[ai].name}"
        return Verdict("wrong_values", f"{label} disagrees with finite differences of your forward {where}: "
                                       f"backward gives {num(worst.analytic)}, finite differences give "
                                       f"{num(worst.numeric)}")


def _forward_off_the_reference(ctx: Context, ai: int, u: np.ndarray, jvps: tuple[np.ndarray, ...]) -> Verdict | None:
    """The student's forward, as it ran at the stepped points, against the reference's slope there.

    ``⟨u, J v⟩`` of the reference is ``⟨J^T u, v⟩``, the reference VJP the ``autograd`` row already has, so this
    costs no extra forward. The given forward has the reference's slope; a forward that behaves otherwise only
    at the stepped points (it can tell them apart: no gradient is asked of them) would make this row compare
    a wrong backward with a forward bent to agree with it. The tolerance is twice the row's own, so an honest
    forward whose slope the row accepts is never called off."""
    reference = ctx.case.expected[0][ai]
    if reference is None:
        return None
    fd = ctx.target.fd
    loose = replace(fd, rtol=2 * fd.rtol, atol=2 * fd.atol)
    if all(p.agrees(loose) for p in _probes(reference, u, jvps, ctx.case, ai)):
        return None
    return Verdict("forward_mismatch", f"finite differences of your forward around the case's "
                                       f"{ctx.target.args[ai].name} do not have the given forward's slope, so "
                                       "your backward cannot be checked against them: only backward is yours "
                                       "to write")


def _probes(grad: np.ndarray, u: np.ndarray, jvps: tuple[np.ndarray, ...], case: Case, ai: int) -> list[Probe]:
    """One probe per direction of input ``ai``. A coordinate direction ``e_i`` reads ``⟨g, e_i⟩ = g_i`` and has
    norm 1, so its cost does not grow with the tensor; the norms of the random directions are the case's own,
    computed once (:meth:`grader.cases.Case.once`)."""
    grad_norm = float(np.linalg.norm(grad))
    u_norm = float(np.linalg.norm(u))
    flat = grad.reshape(-1)
    probes = []
    for v, v_norm, jvp, coord in zip(case.directions[ai], _norms(case, ai), jvps, case.coordinates[ai], strict=True):
        analytic = float(flat[coord]) if coord is not None else float(np.sum(grad * v))
        bound = float(u_norm * np.linalg.norm(jvp) + grad_norm * v_norm)
        probes.append(Probe(analytic=analytic, numeric=float(np.sum(u * jvp)), bound=bound, coord=coord))
    return probes


def _norms(case: Case, ai: int) -> tuple[float, ...]:
    """``‖v‖`` for each direction of input ``ai``: 1 for a coordinate, computed once per case for the others."""
    return case.once(f"direction_norms.{ai}", lambda: tuple(
        1.0 if coord is not None else float(np.linalg.norm(v))
        for v, coord in zip(case.directions[ai], case.coordinates[ai], strict=True)))


def _common_ratio(probes: list[Probe]) -> float | None:
    """The constant ``c`` with ``analytic ≈ c · numeric`` along every direction that has a slope, if any."""
    numeric = np.array([p.numeric for p in probes])
    analytic = np.array([p.analytic for p in probes])
    big = np.abs(numeric) > 1e-8 * max(float(np.max(np.abs(numeric))), 1e-300)
    if not big.any():
        return None
    ratios = analytic[big] / numeric[big]
    c = float(np.median(ratios))
    return c if np.allclose(ratios, c, rtol=1e-3, atol=1e-6) else None


def _swapped_with(ctx: Context, ai: int) -> str | None:
    """The other input whose finite differences this gradient matches (it is that input's gradient), if any."""
    grad = ctx.obs.calls[0].grads[ai]
    u = ctx.case.upstream[0]
    for j, arg in enumerate(ctx.target.args):
        jvps = ctx.obs.fd.get(j)
        if j == ai or not arg.differentiable or jvps is None or isinstance(jvps, Failure):
            continue
        if tuple(ctx.case.args[j].shape) != grad.shape:
            continue
        probes = _probes(grad, u, jvps, ctx.case, j)
        if all(p.agrees(ctx.target.fd) for p in probes):
            return arg.name
    return None
