"""Where a wrong gradient is wrong: regions of the input that hold the whole error (for :mod:`grader.localise`).

The error mask E holds the elements that fail the autograd check's tolerance under some random
``grad_output``. A region R names the error when E ⊆ R, E covers at least half of R, R is not the whole
tensor, and E would land inside R by chance with a probability of at most 5% (|E| elements drawn at random
from n fall inside R with probability ∏ᵢ (|R| − i)/(n − i)), so that a few stray elements never make a
region. The regions, tried in this order:

- ``repeated_indices``: the elements several outputs send their gradient to, for an op that routes gradients
  (its VJP under u = 1 counts the uses of each element: Embedding's rows, max-pool windows that overlap);
- ``sign_region``: where an input (this one first, then the others of its shape) or the output is below zero,
  or above it;
- ``border``: for an image (N, C, H, W), the positions no window covers (a stride skips them; known from
  the op's kernel size or 4-d weight, stride and padding), the last rows and columns, or a band of the outer
  rows and columns (the padding);
- ``masked_positions``: where the expected gradient is exactly zero for every ``grad_output`` (the forward
  masked those elements out), or where it is not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from grader.cases import Case
from grader.compare import scale_of
from grader.spec import TargetSpec, Tolerance

Region = tuple[np.ndarray, Callable[[np.ndarray], str]]
"""A boolean mask, and the words for "wrong only there" given the error mask."""

CHANCE = 0.05
"""The largest probability that the error lands inside a region by chance for the region to name it."""


def region(target: TargetSpec, case: Case, ai: int, got: Sequence[np.ndarray], want: Sequence[np.ndarray],
           tol: Tolerance) -> tuple[str, str] | None:
    """The first region that holds the whole error, as ``(pattern, what)``; ``None`` when there is none."""
    wrong = error_mask(got, want, tol)
    if not wrong.any() or wrong.all():
        return None
    tests: tuple[tuple[str, Callable[[], Iterator[Region]]], ...] = (
        ("repeated_indices", lambda: _repeated(target, case, ai)),
        ("sign_region", lambda: _signs(target, case, ai)),
        ("border", lambda: _border(target, case, ai)),
        ("masked_positions", lambda: _masked(want)),
    )
    for pattern, regions in tests:
        for mask, words in regions():
            if mask.shape == wrong.shape and _holds(wrong, mask):
                return pattern, words(wrong)
    return None


def error_mask(got: Sequence[np.ndarray], want: Sequence[np.ndarray], tol: Tolerance) -> np.ndarray:
    """The elements where some ``got[k]`` fails ``|g - w| <= rtol·|w| + atol·max|w|``."""
    s = scale_of(want)
    wrong = np.zeros(want[0].shape, dtype=bool)
    for g, w in zip(got, want, strict=True):
        with np.errstate(invalid="ignore", over="ignore"):
            wrong |= ~(np.abs(g - w) <= tol.rtol * np.abs(w) + tol.atol * s)
    return wrong


def _holds(wrong: np.ndarray, mask: np.ndarray) -> bool:
    """E ⊆ R, E covers half of R or more, R is not everything, and chance alone would rarely put E in R."""
    inside, count = int(mask.sum()), int(wrong.sum())
    if not 0 < inside < mask.size or (wrong & ~mask).any() or 2 * count < inside:
        return False
    chance = 1.0
    for i in range(count):
        chance *= (inside - i) / (mask.size - i)
        if chance <= CHANCE:
            return True
    return False


def _repeated(target: TargetSpec, case: Case, ai: int) -> Iterator[Region]:
    uses = case.expected_ones[ai]
    if uses is None or not np.allclose(uses, np.round(uses), atol=1e-9) or uses.min() < -1e-9 or uses.max() < 1.5:
        return
    mask = uses > 1.5
    indexed = any(a.kind == "index" for a in target.args)
    if mask.ndim >= 2 and (mask == mask.any(axis=tuple(range(1, mask.ndim)), keepdims=True)).all():
        who = "an index looks up" if indexed else "several outputs use"
        yield mask, lambda wrong: (f"is wrong only in the rows that {who} more than once "
                                   f"({_rows(wrong)} of {wrong.shape[0]} rows): did you assign instead of accumulate?")
        return
    place = "an index repeats" if indexed else "several outputs send their gradient (overlapping windows)"
    yield mask, lambda wrong: (f"is wrong only where {place} ({_count(wrong)}): did you assign instead of "
                               "accumulate?")


def _rows(wrong: np.ndarray) -> int:
    return int(wrong.any(axis=tuple(range(1, wrong.ndim))).sum())


def _count(wrong: np.ndarray) -> str:
    return f"{int(wrong.sum())} of {wrong.size} elements"


def _words(template: str) -> Callable[[np.ndarray], str]:
    """Words with ``{count}`` filled in from the error mask: ``3 of 24 elements``."""
    return lambda wrong: template.format(count=_count(wrong))


def _signs(target: TargetSpec, case: Case, ai: int) -> Iterator[Region]:
    shape = case.args[ai].shape
    order = [ai] + [j for j in range(len(target.args)) if j != ai]
    named = [(target.args[j].name, case.args[j]) for j in order
             if target.args[j].differentiable and case.args[j].shape == shape]
    if case.output.shape == shape:
        named.append(("the output y", case.output))
    for name, values in named:
        for mask, side, other in ((values < 0, "< 0", "> 0"), (values > 0, "> 0", "< 0")):
            yield mask, _words(f"is wrong only where {name} {side} ({{count}}) and right where {name} {other}")


def _border(target: TargetSpec, case: Case, ai: int) -> Iterator[Region]:
    shape = case.args[ai].shape
    if len(shape) != 4 or min(shape[2:]) < 3:
        return
    skipped = _uncovered(target, case, ai)
    if skipped is not None:
        yield skipped, _words("is wrong only at positions that no window covers, which the stride skips "
                              "({count}): their gradient is 0")
    h, w = np.indices(shape[2:])
    for width in (1, 2, 3):
        if 2 * width >= min(shape[2:]):
            break
        last = np.broadcast_to((h >= shape[2] - width) | (w >= shape[3] - width), shape)
        band = np.broadcast_to(last | (h < width) | (w < width), shape)
        yield last, _words(f"is wrong only in the last {width} row(s) and column(s) of the image ({{count}}): "
                           "check the output size and the stride")
        yield band, _words(f"is wrong only on the border of the image, the outer {width} row(s) and column(s) "
                           "({count}): check the padding")


def _uncovered(target: TargetSpec, case: Case, ai: int) -> np.ndarray | None:
    """The positions of image ``ai`` that no window of a conv-like op reads: its windows have the size of the
    ``kernel_size`` argument or of the last two dims of a 4-d ``weight``, and move by ``stride`` over the image
    padded by ``padding`` (0 when absent); the output's last two dims count them."""
    values = {a.name: v for a, v in zip(target.args, case.args, strict=True)}
    weight = values.get("weight")
    kernel = values.get("kernel_size") or (weight.shape[2:] if isinstance(weight, np.ndarray) and weight.ndim == 4
                                           else None)
    stride = values.get("stride")
    if kernel is None or stride is None or case.output.ndim != 4:
        return None
    shape = case.args[ai].shape
    covered = []
    for axis in (0, 1):
        k, s, p = (_pair(v)[axis] for v in (kernel, stride, values.get("padding") or 0))
        rows = np.zeros(shape[2 + axis], dtype=bool)
        for i in range(case.output.shape[2 + axis]):
            rows[max(0, i * s - p): max(0, i * s - p + k)] = True
        covered.append(rows)
    return np.broadcast_to(~(covered[0][:, None] & covered[1][None, :]), shape)


def _pair(value: Any) -> tuple[int, int]:
    """An int or a pair of ints (a kernel size, a stride, a padding) as (height, width)."""
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    return int(value[0]), int(value[1])


def _masked(want: Sequence[np.ndarray]) -> Iterator[Region]:
    s = scale_of(want)
    zero = np.all([np.abs(w) <= 1e-12 * s for w in want], axis=0)
    yield zero, lambda wrong: (f"is wrong only where the expected gradient is 0 ({_count(wrong)}, masked out "
                               "by the forward): your gradient leaks through the mask")
    yield ~zero, lambda wrong: (f"is wrong only where the gradient passes the mask ({_count(wrong)}) and right "
                                "where the forward blocks it")
