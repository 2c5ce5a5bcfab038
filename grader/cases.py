"""The cases of a target, with the reference answers, as plain numpy arrays.

A :class:`Case` holds the inputs, the reference output, the random upstream gradients ``u₀ … u_{K-1}``
plus the linear mix ``α u₀ + β u₁``, the reference VJPs ``(∂f/∂x)ᵀ u`` for each, the VJP under ``u = 1``,
and the finite-difference directions. Computing them needs torch (:mod:`grader.reference`); once computed
for a spec and seed they are cached (:mod:`grader.cache`), so a repeated ``grade ex03`` never imports
torch in the grading process and costs little more than the sandbox's own torch import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from grader.spec import CaseSpec, ExerciseSpec

LINEAR_MIX = (0.75, -1.25)
_MEMO_SIZE = 256
_MEMO: dict[str, tuple[Case, ...]] = {}
T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    """One case with everything the checks compare against.

    Attributes:
        spec: the case from the spec.
        args: the forward's arguments, in order (float64 arrays, int64 index arrays, python values).
        output: the reference forward's output.
        upstream: the random grad_outputs ``u₀ … u_{K-1}`` followed by the linear mix ``α u₀ + β u₁``.
        expected: ``expected[k][i]`` is the reference VJP for ``upstream[k]`` and argument ``i``
            (``None`` for arguments without a gradient).
        expected_ones: the reference VJP under ``u = 1``.
        directions: for each differentiable argument index, its finite-difference directions.
        coordinates: for each differentiable argument index, the flat index of each coordinate direction
            (``None`` for random directions).
        derived: what later steps derive from the case alone (the fingerprints of the arrays sent to the
            child, the norms of the directions), kept with it by :meth:`once`. The values that need torch (the
            catalogue's gradients, the slopes at the output) are worked out with the cases
            (:func:`grader.reference.derive`) and saved in the disk cache with them.
    """

    spec: CaseSpec
    args: tuple[Any, ...]
    output: np.ndarray
    upstream: tuple[np.ndarray, ...]
    expected: tuple[tuple[np.ndarray | None, ...], ...]
    expected_ones: tuple[np.ndarray | None, ...]
    directions: dict[int, tuple[np.ndarray, ...]]
    coordinates: dict[int, tuple[int | None, ...]]
    derived: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def once(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()``, worked out the first time it is asked for and kept with the case.

        Cases are built once per spec and seed and shared by every grading in this process (a whole class in a
        batch), so anything derived from the reference alone is computed once per case, not per check.
        """
        if name not in self.derived:
            self.derived[name] = compute()
        value: T = self.derived[name]
        return value

    @property
    def random_calls(self) -> int:
        """How many of ``upstream`` are independent random draws (the last one is the linear mix)."""
        return len(self.upstream) - 1


def build_cases(exercise: ExerciseSpec, index: int, seed: int, grad_outputs: int) -> list[Case]:
    """The cases of target ``index``: from the cache when this spec and seed were seen before."""
    from grader import cache

    target = exercise.targets[index]
    key = cache.key(exercise, target, seed, grad_outputs)
    if key in _MEMO:
        return list(_MEMO[key])
    cases = cache.load(key, target)
    if cases is None:
        from grader.reference import compute_cases, derive

        cases = compute_cases(exercise, index, seed, grad_outputs)
        derive(target, cases)  # what a wrong gradient's checks would otherwise need torch for, cached too
        cache.save(key, cases)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = tuple(cases)
    return cases


def forget() -> None:
    """Drop the cases remembered in this process (the disk cache is untouched)."""
    _MEMO.clear()


def training_data(exercise: ExerciseSpec, index: int, seed: int) -> dict[str, np.ndarray]:
    """Data, teacher targets ``t.y`` and initial parameters ``t.a<i>`` for the ``training`` check."""
    from grader import cache

    key = cache.key(exercise, exercise.targets[index], seed, -1) + "-training"
    arrays = cache.load_arrays(key)
    if arrays is not None:
        return arrays
    from grader.reference import compute_training

    arrays = compute_training(exercise, index, seed)
    cache.save_arrays(key, arrays)
    return arrays
