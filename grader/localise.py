"""Localising a wrong gradient that no catalogue entry names: where the error lies and what structure it has.

Given the student's gradients gₖ and the expected ones wₖ (one per random ``grad_output`` uₖ) of a
``wrong_values`` row, each test below either proves a statement about the error for *every* k or says
nothing, so a pattern is never a guess, and it only ever refines a row that already failed:

- ``evaluated_at_output``: for an op that is element-wise in this input (wₖ = uₖ ⊙ w₁, the VJP under u = 1),
  gₖ = uₖ ⊙ f'(y): the local derivative taken at the output y instead of the input x;
- ``wrong_axis``: gₖ is wₖ with two axes of the same size exchanged; or the expected gradient sums to zero
  along one axis b (the op is unchanged by a shift along it) while the student's sums to zero along another;
  or the error is A ⊙ (Σ_b uₖ − Σ_a uₖ) for one tensor A and every k: a sum of grad_output over axis a where
  the op's axis b belongs (a log-softmax with its dim hard-coded);
- a region (:mod:`grader.regions`): the error is confined to where an index repeats, to one side of zero of
  an input, to the border of an image or the positions its windows skip, or to inside or outside the mask
  where the expected gradient is zero;
- ``per_slice_scale``: gₖ = c ⊙ wₖ with c constant along some axes but not along the others (a per-row or
  per-channel constant is off: eps left out of 1/√(σ² + eps), N − 1 for N), where one constant (``scaled``)
  does not fit. It comes after the regions, which say more when the factor is 0 or 1 outside one region.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, permutations

import numpy as np

from grader.cases import Case
from grader.compare import all_close, num, scale_of, worst_text
from grader.diagnose import Verdict
from grader.patterns import GENERIC, SEPARATOR
from grader.regions import region
from grader.spec import TargetSpec, Tolerance


def localise(target: TargetSpec, case: Case, ai: int, got: Sequence[np.ndarray], want: Sequence[np.ndarray],
             tol: Tolerance, label: str) -> Verdict | None:
    """A ``wrong_values`` verdict with a generic pattern for ``got``, or ``None`` when no test proves one."""
    if not got or any(g.shape != w.shape for g, w in zip(got, want, strict=True)) \
            or not all(np.all(np.isfinite(g)) for g in got) or not any(np.any(g) for g in got):
        return None
    tests = (
        lambda: _at_output(target, case, ai, got, tol),
        lambda: _wrong_axis(got, want, tol) or _summed_over(got, want, case.upstream[: len(got)], tol),
        lambda: region(target, case, ai, got, want, tol),
        lambda: _per_slice(got, want, tol),
    )
    for test in tests:
        found = test()
        if found is not None:
            pattern, what = found
            return Verdict("wrong_values", f"{label} {what}{SEPARATOR}{worst_text(got[0], want[0])}", GENERIC[pattern].hint,
                           pattern=pattern)
    return None


def elementwise(case: Case, ai: int) -> bool:
    """Whether the op is element-wise in input ``ai``: its VJP is uₖ times the VJP under u = 1, for every k."""
    ones = case.expected_ones[ai]
    if ones is None or ones.shape != case.output.shape:
        return False
    want = [w for k in range(case.random_calls) if (w := case.expected[k][ai]) is not None]
    products = [case.upstream[k] * ones for k in range(case.random_calls)]
    return len(want) == len(products) and all_close(products, want, Tolerance(1e-9, 1e-12))


def _at_output(target: TargetSpec, case: Case, ai: int, got: Sequence[np.ndarray], tol: Tolerance
               ) -> tuple[str, str] | None:
    if not elementwise(case, ai):
        return None
    slope = slope_at_output(target, case, ai)
    if slope is None:
        return None
    wrong = [case.upstream[k] * slope for k in range(len(got))]
    if not all_close(got, wrong, tol):
        return None
    name = target.args[ai].name
    return "evaluated_at_output", (f"is grad_output times the local derivative evaluated at the output y instead "
                                   f"of at the input {name}: f'(y) where f'({name}) belongs")


def slope_at_output(target: TargetSpec, case: Case, ai: int) -> np.ndarray | None:
    """f'(y) for input ``ai``, kept with the case as ``slope_at_output.<ai>``; ``None`` where there is none.

    It is worked out with the cases (:func:`grader.reference.derive`) and cached on disk with them, so grading
    a wrong submission needs no torch here; only a case built some other way computes it now, with torch.
    """
    return case.once(f"slope_at_output.{ai}", lambda: _slope_at_output(target, case, ai))


def _slope_at_output(target: TargetSpec, case: Case, ai: int) -> np.ndarray | None:
    """f'(y): the reference's derivative in input ``ai`` with the output y put in that input's place."""
    import torch

    from grader.reference import evaluate

    args = [torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a for a in case.args]
    args[ai] = torch.from_numpy(case.output.copy()).requires_grad_(True)
    try:
        code = compile(target.reference, f"<{target.name} reference>", "eval")
        with torch.enable_grad():
            y = evaluate(code, target, args)
            [slope] = torch.autograd.grad(y, [args[ai]], torch.ones_like(y), allow_unused=False)
    except Exception:  # noqa: BLE001 - outside the reference's domain there is simply no such slope
        return None
    value = slope.detach().numpy().copy()
    return value if np.all(np.isfinite(value)) else None


def _per_slice(got: Sequence[np.ndarray], want: Sequence[np.ndarray], tol: Tolerance) -> tuple[str, str] | None:
    """gₖ = c ⊙ wₖ, with c varying along ``axes`` only (and the same for every k), and not one constant."""
    g, w = np.stack(got), np.stack(want)
    ndim = w.ndim - 1
    for count in range(1, ndim):
        for axes in combinations(range(ndim), count):
            if int(np.prod([w.shape[a + 1] for a in axes])) < 2:
                continue
            over = (0, *(a + 1 for a in range(ndim) if a not in axes))
            num_ = (g * w).sum(axis=over, keepdims=True)
            den = (w * w).sum(axis=over, keepdims=True)
            c = np.where(den > 0, num_ / np.where(den > 0, den, 1.0), 1.0)
            if float(np.ptp(c)) <= 1e-6 * max(1.0, float(np.max(np.abs(c)))) or _zero_or_one(c):
                continue
            if all_close(got, [c[0] * x for x in want], tol):
                return "per_slice_scale", (f"is the expected gradient times a factor that is constant along "
                                           f"{_dims([a for a in range(ndim) if a not in axes])} but differs between "
                                           f"the slices of {_dims(list(axes))} (from {num(float(c.min()))} to "
                                           f"{num(float(c.max()))})")
    return None


def _zero_or_one(c: np.ndarray) -> bool:
    """Factors that only keep or drop slices: that is where the error is (a region), not a wrong scale."""
    return bool(np.all((np.abs(c) < 1e-6) | (np.abs(c - 1) < 1e-6)))


def _wrong_axis(got: Sequence[np.ndarray], want: Sequence[np.ndarray], tol: Tolerance) -> tuple[str, str] | None:
    shape = want[0].shape
    ndim = len(shape)
    for order in permutations(range(ndim)):
        moved = [a for a in range(ndim) if order[a] != a]
        if not moved or order == (*range(ndim - 2), ndim - 1, ndim - 2) \
                or tuple(shape[a] for a in order) != shape:
            continue
        if all_close(got, [np.transpose(x, order) for x in want], tol):
            return "wrong_axis", (f"holds the right values, but along the wrong axes: it is the expected gradient "
                                  f"with {_dims(moved)} exchanged")
    zero_want = [a for a in range(ndim) if shape[a] > 1 and _sums_to_zero(want, a)]
    zero_got = [a for a in range(ndim) if shape[a] > 1 and _sums_to_zero(got, a)]
    if len(zero_want) == 1 and zero_got and not set(zero_got) & set(zero_want):
        return "wrong_axis", (f"sums to zero along {_dims(zero_got)}, but the expected gradient sums to zero along "
                              f"{_dims(zero_want)} (the op is unchanged by a shift along it): a sum, mean or "
                              "softmax in your backward runs over the wrong dimension")
    return None


def _summed_over(got: Sequence[np.ndarray], want: Sequence[np.ndarray], upstream: Sequence[np.ndarray],
                 tol: Tolerance) -> tuple[str, str] | None:
    """gₖ = wₖ + A ⊙ (Σ_b uₖ − Σ_a uₖ), with A the same for every k (fitted element by element by least
    squares), where the expected gradient sums to zero along b: grad_output summed over a instead of b."""
    shape = want[0].shape
    if any(u.shape != shape for u in upstream) or len(got) < 3:
        return None
    for b in (b for b in range(len(shape)) if shape[b] > 1 and _sums_to_zero(want, b)):
        for a in (a for a in range(len(shape)) if a != b and shape[a] > 1):
            d = [u.sum(axis=b, keepdims=True) - u.sum(axis=a, keepdims=True) for u in upstream]
            e = [g - w for g, w in zip(got, want, strict=True)]
            den = sum(x * x for x in d)
            fit = np.where(den > 0, sum(x * y for x, y in zip(e, d, strict=True)) / np.where(den > 0, den, 1), 0)
            if all_close(got, [w + fit * x for w, x in zip(want, d, strict=True)], tol):
                return "wrong_axis", (f"sums grad_output over dim {a} where dim {b} belongs (the expected gradient "
                                      f"sums to zero along dim {b}): the right formula along the wrong axis")
    return None


def _sums_to_zero(arrays: Sequence[np.ndarray], axis: int) -> bool:
    scale = scale_of(arrays)
    return all(float(np.max(np.abs(a.sum(axis=axis)))) <= 1e-9 * scale * a.shape[axis] for a in arrays)


def _dims(axes: list[int]) -> str:
    return ("dim " if len(axes) == 1 else "dims ") + ", ".join(str(a) for a in axes)
