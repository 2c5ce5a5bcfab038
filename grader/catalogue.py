"""Catalogue entries: the instructor's named wrong formulas, evaluated and matched in the trusted process.

An entry of a target's ``catalogue:`` (:class:`grader.spec.CatalogueEntry`) gives the gradient a student with a
known misconception returns for one input, written like the reference: an expression over the forward's
arguments by name, ``out`` (the reference output), ``grad_output``, ``torch``, ``F`` and ``math``. For a case,
the formula is evaluated once per random ``grad_output`` uₖ (float64, torch); a failed gradient that matches
it under *every* uₖ, with the autograd check's tolerance, is that misconception. The values are kept with the
case (:meth:`grader.cases.Case.once`) as ``catalogue.<id>``: they are worked out with the cases
(:func:`grader.reference.derive`) and cached on disk with them (:mod:`grader.cache`), so grading a wrong
submission imports no torch here; only a case built some other way evaluates them when a row needs them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from grader.cases import Case
from grader.compare import all_close, worst_text
from grader.diagnose import Verdict, describe_factor, scale_factor
from grader.patterns import message
from grader.spec import CatalogueEntry, TargetSpec, Tolerance

REFINES = ("wrong_values", "scaled", "sign_flipped", "transposed", "swapped_inputs", "ignores_upstream_grad")
"""The codes a catalogue entry may name more precisely: the gradient has the right shape and finite values,
and the code says only how it relates to the expected one. A pass is never turned into a fail."""


class FormulaError(Exception):
    """A formula raised or gave something that is not a float tensor of the input's shape on a case."""


def evaluate(entry: CatalogueEntry, target: TargetSpec, case: Case, upstream: np.ndarray) -> np.ndarray:
    """The entry's wrong gradient for the case's inputs under one ``grad_output``, as a float64 array."""
    import torch
    import torch.nn.functional as F

    def tensor(value: Any) -> Any:
        return torch.from_numpy(value.copy()) if isinstance(value, np.ndarray) else value

    names = {a.name: tensor(v) for a, v in zip(target.args, case.args, strict=True)}  # one scope, so lambdas see them
    names.update(out=tensor(case.output), grad_output=tensor(upstream))
    index = [a.name for a in target.args].index(entry.input)
    try:
        code = compile(entry.formula, f"<catalogue {entry.id}>", "eval")
        value = eval(code, {"torch": torch, "F": F, "math": math, **names})  # noqa: S307 - the instructor's spec
    except Exception as exc:  # noqa: BLE001 - any failure of the instructor's formula is reported, not raised
        raise FormulaError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise FormulaError(f"gave {type(value).__name__}, not a float tensor")
    shape = tuple(case.args[index].shape)
    if tuple(value.shape) != shape:
        raise FormulaError(f"gave shape {list(value.shape)}, but {entry.input} has shape {list(shape)}")
    return value.detach().to(torch.float64).numpy().copy()


def candidates(entry: CatalogueEntry, target: TargetSpec, case: Case) -> tuple[np.ndarray, ...] | None:
    """The entry's gradient under each random ``grad_output`` of the case; ``None`` where the formula fails.

    Kept with the case as ``catalogue.<id>`` (see the module docstring)."""
    def compute() -> tuple[np.ndarray, ...] | None:
        try:
            return tuple(evaluate(entry, target, case, u) for u in case.upstream[: case.random_calls])
        except FormulaError:
            return None

    return case.once(f"catalogue.{entry.id}", compute)


def match(target: TargetSpec, case: Case, ai: int, got: Sequence[np.ndarray], tol: Tolerance
          ) -> CatalogueEntry | None:
    """The first entry for input ``ai`` whose gradient ``got`` equals under every random ``grad_output``."""
    name = target.args[ai].name
    for entry in target.catalogue:
        if entry.input != name:
            continue
        wrong = candidates(entry, target, case)
        if wrong is not None and all(g.shape == w.shape for g, w in zip(got, wrong, strict=True)) \
                and all_close(got, wrong, tol):
            return entry
    return None


def named(verdict: Verdict, entry: CatalogueEntry, label: str, got: Sequence[np.ndarray], want: Sequence[np.ndarray],
          tol: Tolerance, sizes: Sequence[int]) -> Verdict:
    """The verdict with the entry's pattern, message and hint; the code stays, and so do its numbers: the worst
    element, and for ``scaled`` the factor."""
    numbers = worst_text(got[0], want[0])
    factor = scale_factor(got, want, tol) if verdict.code == "scaled" else None
    if factor is not None:
        numbers = f"off by a factor of {describe_factor(factor, sizes)}; {numbers}"
    return Verdict(verdict.code, message(label, entry.message, numbers), entry.hint, pattern=entry.id)
