"""Element-wise comparison with tolerances scaled to the size of the reference.

``got`` matches ``want`` when every element satisfies ``|got - want| <= rtol·|want| + atol·s`` where
``s = max|want|`` (1 when ``want`` is all zeros). Scaling ``atol`` by ``s`` keeps the test meaningful for
gradients of any magnitude: a gradient of size 1e4 may differ by round-off far above 1e-6.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grader.spec import Tolerance


def scale_of(arrays: Sequence[np.ndarray]) -> float:
    peak = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    return peak if peak > 0 and np.isfinite(peak) else 1.0


def all_close(got: Sequence[np.ndarray], want: Sequence[np.ndarray], tol: Tolerance) -> bool:
    """Whether each ``got[k]`` matches ``want[k]`` (same shapes assumed)."""
    s = scale_of(want)
    for g, w in zip(got, want, strict=True):
        if g.shape != w.shape:
            return False
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, which never counts as close
            close = np.abs(g - w) <= tol.rtol * np.abs(w) + tol.atol * s
        if not np.all(close):
            return False
    return True


def worst(got: np.ndarray, want: np.ndarray) -> tuple[tuple[int, ...], float, float]:
    """The index of the largest absolute difference, with the two values there."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got - want)
    diff = np.where(np.isnan(diff), np.inf, diff)
    flat = int(np.argmax(diff)) if diff.size else 0
    index = tuple(int(i) for i in np.unravel_index(flat, want.shape)) if want.size else ()
    return index, float(got.reshape(-1)[flat]) if got.size else 0.0, float(want.reshape(-1)[flat]) if want.size else 0.0


def num(x: float) -> str:
    """A number as a student reads it: short, but never rounded to look equal when it is not."""
    if x == 0 or not np.isfinite(x):
        return repr(float(x)) if not np.isfinite(x) else "0"
    return f"{x:.6g}"


def index_text(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def worst_text(got: np.ndarray, want: np.ndarray) -> str:
    index, g, w = worst(got, want)
    return f"worst element at {index_text(index)}: got {num(g)}, expected {num(w)}"
