"""Turning a failed comparison into a CONTRACT section 5 code, a message with the numbers, and a hint.

The patterns are tried from the most specific to the least: a shape that is the input's shape broadcast
(``broadcast_not_reduced``), the transpose, another input's gradient (``swapped_inputs``), minus the answer
(``sign_flipped``), the answer for ``grad_output = 1`` (``ignores_upstream_grad``), a constant multiple
(``scaled``, with the constant written as a fraction of the case's sizes where one fits), and finally
``wrong_values`` with the worst element. Each pattern must hold for *every* random ``grad_output``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from grader.compare import all_close, num, worst_text
from grader.patterns import GENERIC
from grader.spec import Tolerance

HINTS = {
    "ok": "",
    "not_implemented": "Replace the `raise NotImplementedError` in backward with your gradient.",
    "exception": "Read the line of your code shown above; run the op on the case's shapes by hand.",
    "timeout": "Look for a loop that never ends or a Python loop over every element; use tensor operations.",
    "resource_limit": "Don't allocate huge tensors, spawn processes or write files in your code.",
    "crashed": "Don't call sys.exit or os._exit, and don't kill the process; raise an exception instead.",
    "wrong_count": "Return exactly one gradient per forward argument (after ctx), in the same order.",
    "wrong_type": "Return a float tensor of the input's dtype for tensor inputs and None for the others.",
    "wrong_shape": "Each gradient must have exactly its input's shape; check which dimensions you reduce.",
    "broadcast_not_reduced": "Broadcasting copied this input: add up its copies' gradients, back to its own shape.",
    "transposed": "Swap the operands of your matmul or transpose the result: check the shapes on paper.",
    "sign_flipped": "Check the sign of the local derivative: d(-x)/dx = -1, d(a/b)/db = -a/b², ...",
    "scaled": "Look for a factor you dropped or added: a mean that should be a sum, a 2 from a square, ...",
    "ignores_upstream_grad": "Multiply the local derivative by grad_output (the chain rule).",
    "swapped_inputs": "You returned the gradients in the wrong order: match the order of forward's arguments.",
    "nan_or_inf": "Avoid dividing by zero or exponentiating large numbers; use the saved forward values.",
    "mutates_input": "Don't modify inputs, saved tensors or grad_output in place (no x += ..., x.mul_()).",
    "forbidden_api": "Work the gradient out with the chain rule in tensor operations: no autograd, backward kernels, "
                     "finite differences or extra imports.",
    "forward_mismatch": "Restore the given forward; only backward is yours to write.",
    "wrong_values": "Write the local derivative on paper and check it element by element against the worst one.",
}


@dataclass(frozen=True)
class Verdict:
    code: str
    message: str
    hint: str = ""
    """Shown instead of the code's hint in :data:`HINTS` when set."""
    pattern: str | None = None
    """The misconception named beyond the code: a catalogue entry's id or a generic id (:mod:`grader.patterns`)."""

    @property
    def passed(self) -> bool:
        return self.code == "ok"


UNUSABLE_HINT = ("Fix what the message names (the line shown, the file's encoding, the notebook), or hand in "
                 "exercises/{slug}/{module}, {slug}/{module} or {module} alone, one .ipynb, or a .zip of these.")
"""The hint of every row of a submission that could not be used (kept out of :data:`HINTS`, which lists the
diagnosis codes a spec may expect)."""


def shape_verdict(label: str, got: np.ndarray, input_shape: tuple[int, ...], want: np.ndarray,
                  others: dict[str, np.ndarray], tol: Tolerance) -> Verdict:
    """Explain a gradient whose shape is not its input's (one call's values are enough to tell)."""
    shape = tuple(got.shape)
    if len(shape) >= 2 and shape == _swap_last(input_shape) and all_close([np.swapaxes(got, -1, -2)], [want], tol):
        where = f"it has shape {list(shape)} but the input has shape {list(input_shape)}"
        if len(shape) == 2:
            return Verdict("transposed", f"{label} is the transpose of the expected gradient: {where}")
        return Verdict("transposed", f"{label} is the expected gradient with its last two dimensions swapped: {where}",
                       GENERIC["batched_transpose"].hint, pattern="batched_transpose")
    broadcast = _broadcasts_to(input_shape, shape)
    sums_back = broadcast and all_close([_sum_to(got, input_shape)], [want], tol)
    if not sums_back:
        for name, other in others.items():
            if other.shape == shape and all_close([got], [other], tol):
                return Verdict("swapped_inputs", f"{label} (shape {list(shape)}) equals the gradient of {name}: "
                                                 "the gradients of two inputs are exchanged")
    if broadcast:
        verdict = "summing it back would give the right values" if sums_back else \
            "even summed back, its values would be wrong"
        return Verdict("broadcast_not_reduced",
                       f"{label} has the broadcast shape {list(shape)}, not the input's shape "
                       f"{list(input_shape)}: you did not sum it over the broadcast dimensions ({verdict})")
    return Verdict("wrong_shape", f"{label} has shape {list(shape)} but its input has shape {list(input_shape)}")


def value_verdict(label: str, got: Sequence[np.ndarray], want: Sequence[np.ndarray], tol: Tolerance,
                  others: Mapping[str, Sequence[np.ndarray]], ones: np.ndarray, sizes: Sequence[int]) -> Verdict:
    """Explain same-shaped gradients ``got[k]`` that differ from ``want[k]`` for the random ``grad_output``s."""
    if all_close(got, want, tol):
        return Verdict("ok", f"{label} matches torch autograd for {len(got)} random grad_outputs")
    nonfinite = nonfinite_verdict(label, got, want)
    if nonfinite is not None:
        return nonfinite
    if all_close(got, [-w for w in want], tol):
        return Verdict("sign_flipped", f"{label} is minus the expected gradient ({worst_text(got[0], want[0])})")
    if got[0].ndim >= 2 and got[0].shape[-1] == got[0].shape[-2] \
            and all_close([np.swapaxes(g, -1, -2) for g in got], want, tol):
        if got[0].ndim == 2:
            return Verdict("transposed", f"{label} is the transpose of the expected gradient")
        return Verdict("transposed", f"{label} is the expected gradient with its last two dimensions swapped",
                       GENERIC["batched_transpose"].hint, pattern="batched_transpose")
    for name, other in others.items():
        if other and other[0].shape == got[0].shape and not all_close(other, want, tol) \
                and all_close(got, other, tol):
            return Verdict("swapped_inputs", f"{label} equals the gradient of {name}: the gradients of two "
                                             "inputs are exchanged")
    if ones.shape == got[0].shape and all_close(got, [ones] * len(got), tol) and not all_close(want, [ones] * len(want), tol):
        return Verdict("ignores_upstream_grad",
                       f"{label} is what the gradient would be if grad_output were all ones: it is not "
                       f"multiplied by grad_output ({worst_text(got[0], want[0])})")
    factor = scale_factor(got, want, tol)
    if factor is not None:
        return Verdict("scaled", f"{label} is off by a factor of {describe_factor(factor, sizes)} "
                                 f"({worst_text(got[0], want[0])})")
    if all(not np.any(g) for g in got):
        return Verdict("wrong_values", f"{label} is all zeros ({worst_text(got[0], want[0])})")
    return Verdict("wrong_values", f"{label} is wrong: {worst_text(got[0], want[0])}")


def nonfinite_verdict(label: str, got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> Verdict | None:
    """``nan_or_inf`` when some ``got[k]`` is NaN or infinite where ``want[k]`` is finite, else ``None``."""
    for g, w in zip(got, want, strict=True):
        finite = np.isfinite(g)
        if finite.all():
            continue  # the common case: no need to look at the reference at all
        bad = ~finite & np.isfinite(w)
        if bad.any():
            return Verdict("nan_or_inf", f"{label} has {int(bad.sum())} NaN or infinite element(s) where the "
                                         f"expected gradient is finite, e.g. {worst_text(g, w)}")
    return None


def scale_factor(got: Sequence[np.ndarray], want: Sequence[np.ndarray], tol: Tolerance) -> float | None:
    """The constant ``c`` with ``got ≈ c·want`` for every call, if there is one and it is not 0, 1 or -1."""
    g = np.concatenate([x.reshape(-1) for x in got])
    w = np.concatenate([x.reshape(-1) for x in want])
    denom = float(w @ w)
    if denom == 0 or not np.all(np.isfinite(g)):
        return None
    c = float(g @ w) / denom
    if abs(c) < 1e-9 or abs(c - 1) < 1e-6 or abs(c + 1) < 1e-6:
        return None
    return c if all_close(got, [c * x for x in want], tol) else None


def describe_factor(c: float, sizes: Sequence[int]) -> str:
    """Write ``c`` so the cause shows: ``1/N = 0.25`` when 4 is a size of this case, ``2``, ``-0.5``."""
    for n in sorted(set(sizes)):
        if n > 1 and abs(c * n - 1) < 1e-6:
            return f"1/N = {num(c)} (N = {n}: a mean instead of a sum?)"
        if n > 1 and abs(c - n) < 1e-6 * n:
            return f"N = {n} (a sum instead of a mean?)"
    frac = Fraction(c).limit_denominator(12)
    if abs(float(frac) - c) < 1e-9 * max(1.0, abs(c)) and frac.denominator != 1:
        return f"{frac} = {num(c)}"
    return num(c)


def _swap_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[:-2], shape[-1], shape[-2]) if len(shape) >= 2 else shape


def _broadcasts_to(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    if len(small) > len(big) or small == big:
        return False
    padded = (1,) * (len(big) - len(small)) + small
    return all(s == b or s == 1 for s, b in zip(padded, big, strict=True))


def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting: sum the leading extra dimensions, then the dimensions that were 1."""
    lead = x.ndim - len(shape)
    out = x.sum(axis=tuple(range(lead))) if lead else x
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and out.shape[i] != 1)
    return out.sum(axis=axes, keepdims=True) if axes else out
