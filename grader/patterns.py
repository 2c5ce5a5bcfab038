"""Patterns: the misconception a failed row matched, beyond its diagnosis code (CONTRACT sections 4 and 5).

A pattern is either the id of an entry of the exercise's catalogue (``sigmoid_at_output``: a wrong formula
the instructor wrote down, :mod:`grader.catalogue`) or one of the generic ids below, found by localising the
error (:mod:`grader.localise`). The row keeps its code; the pattern replaces its message and hint.

A catalogue pattern's message reads ``grad_x: <what the student did> — <the numbers>``. The middle part is the
entry's message, the same for every student with that pattern, so the class summary can count it and say it:
"31% of the class evaluated σ' at the output" (:func:`phrase`); a generic pattern has its own words for that
(:data:`GENERIC`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader.results import Row

ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Generic:
    """A generic pattern: what the class summary says (with ``{grad}`` and ``{target}``) and the student's hint."""

    summary: str
    hint: str


GENERIC = {
    "evaluated_at_output": Generic(
        "took the local derivative for {grad} in {target} at the output instead of the input",
        "The local derivative is a function of the input x: evaluate it at x (or rewrite it in terms of the "
        "output y correctly, as σ'(x) = y(1 - y)), not at y."),
    "wrong_axis": Generic(
        "reduced {grad} in {target} over the wrong dimension",
        "Check the dim of every sum, mean, softmax and transpose in your backward against the forward's."),
    "repeated_indices": Generic(
        "assigned instead of accumulated {grad} in {target} where an index repeats",
        "Several outputs use the same entry, so their gradients add up: use index_add_ (or +=  on a scatter "
        "that accumulates), never an assignment like grad[idx] = g."),
    "masked_positions": Generic(
        "got {grad} in {target} wrong only inside or outside the mask",
        "Apply the same mask in backward as in forward: the gradient is zero exactly where the forward "
        "blocked the input."),
    "sign_region": Generic(
        "got {grad} in {target} wrong only on one side of zero",
        "Your derivative is right on one side of zero and wrong on the other: check the branch for that side."),
    "border": Generic(
        "got {grad} in {target} wrong only on the border or where the stride skips",
        "Check the padding and the stride in backward: the border and the positions no window covers."),
    "per_slice_scale": Generic(
        "scaled {grad} in {target} by a factor that differs per row or channel",
        "Look for a quantity computed once per row, column or channel (a normaliser, a count, eps inside a "
        "square root) and compare it slice by slice with the forward's."),
    "batched_transpose": Generic(
        "swapped the last two dimensions of {grad} in {target}",
        "Transpose only the last two dimensions and keep the batch first: .transpose(-2, -1), and check "
        "each gradient's shape against its input's."),
}
"""The generic pattern ids of CONTRACT section 5, in its order."""


def message(label: str, what: str, numbers: str) -> str:
    """A catalogue pattern's row message: ``grad_x: evaluated σ' at the output — worst element at [3]: got …``."""
    return f"{label}: {what}{SEPARATOR}{numbers}" if numbers else f"{label}: {what}"


SEPARATOR = " — "
"""Between what the student did and the numbers; the numbers never contain it."""


def phrase(row: Row) -> str:
    """What the student did, as in the row's pattern message, without the label and the numbers."""
    label = f"grad_{row.input}: " if row.input else ""
    if not (label and row.message.startswith(label)):
        return row.pattern or ""
    return row.message[len(label):].rsplit(SEPARATOR, 1)[0]


def summary_text(row: Row) -> str:
    """The class summary's words for the row's pattern: "evaluated σ' at the output …, in the x gradient of Sigmoid"."""
    grad = f"the {row.input} gradient" if row.input else "the gradient"
    generic = GENERIC.get(row.pattern or "")
    if generic is not None:
        return generic.summary.format(grad=grad, target=row.target)
    return f"{phrase(row)}, in {grad} of {row.target}"
