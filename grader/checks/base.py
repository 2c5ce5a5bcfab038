"""What every check sees, and the structural verdict they share.

Before any values are compared, each returned gradient must be the right *kind* of thing: the right number
of entries, a float64 tensor where the input is a float tensor and ``None`` elsewhere, and the input's
exact shape. That structural verdict is computed once per argument in :class:`Context` and reused by the
contract, autograd and gradcheck rows, so a bias gradient that was never summed over the batch reads
``broadcast_not_reduced`` on every row of ``bias``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from grader.cases import Case
from grader.diagnose import HINTS, Verdict, shape_verdict
from grader.probe import Call, Failure, Observation
from grader.results import Row
from grader.spec import ArgSpec, TargetSpec

OK = Verdict("ok", "")


@dataclass
class Context:
    """One case of one target: the reference, what the child observed, and what the trusted scan found."""

    target: TargetSpec
    case: Case
    obs: Observation
    static_forbidden: tuple[str, ...] = ()
    slowdown: float = 50.0
    gate: Verdict | None = field(default=None)
    returns_list: bool = False
    """The source of backward returns a list (:func:`grader.returns.returns_list`)."""

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(d for shape in self.case.spec.shapes.values() for d in shape)

    def row(self, check: str, arg: ArgSpec | None, verdict: Verdict) -> Row:
        return Row(target=self.target.name, check=check, case=self.case.spec.name,
                   input=arg.name if arg else None, passed=verdict.passed, diagnosis=verdict.code,
                   message=verdict.message, hint=verdict.hint or HINTS.get(verdict.code, ""),
                   hidden=self.case.spec.hidden, pattern=verdict.pattern)

    def label(self, ai: int) -> str:
        return f"grad_{self.target.args[ai].name}"

    @property
    def random_calls(self) -> tuple[Call, ...]:
        return self.obs.calls[: self.case.random_calls]

    def grads(self, ai: int, calls: tuple[Call, ...] | None = None) -> list[np.ndarray]:
        return [c.grads[ai] for c in (self.random_calls if calls is None else calls)]

    def expected(self, ai: int) -> list[np.ndarray]:
        out = []
        for k in range(self.case.random_calls):
            e = self.case.expected[k][ai]
            assert e is not None
            out.append(e)
        return out

    @cached_property
    def structure(self) -> dict[int, Verdict]:
        return {ai: self._structure(ai) for ai in range(len(self.target.args))}

    def _structure(self, ai: int) -> Verdict:
        if not self.obs.calls:
            return Verdict("exception", "forward's output is not connected to backward (it has no grad_fn): "
                                        "return a new tensor computed from the inputs")
        for call in self.obs.calls:
            if call.failure is not None:
                return _verdict(call.failure)
        args = self.target.args
        arg = args[ai]
        for call in self.obs.calls:
            count = len(call.entries)
            extra = call.entries[len(args):]
            if count > len(args) and all(e.get("type") == "none" for e in extra):
                count = len(args)  # torch accepts trailing Nones beyond the forward's arguments
            if count != len(args):
                names = ", ".join(a.name for a in args)
                return Verdict("wrong_count", f"backward returned {count} value(s) but forward takes "
                                              f"{len(args)} argument(s) ({names}): return one gradient each")
            entry = call.entries[ai]
            kind = entry.get("type")
            if not arg.differentiable:
                if kind != "none":
                    what = entry.get("typename") or f"a {entry.get('dtype', '')} tensor"
                    return Verdict("wrong_type", f"backward returned {what} for {arg.name}, which is not a "
                                                 f"float tensor: return None in its place")
                continue
            problem = _type_problem(entry, self.label(ai), arg.name)
            if problem:
                return Verdict("wrong_type", problem)
            if ai not in call.grads:
                return Verdict("wrong_type", f"{self.label(ai)} could not be read as numbers")
        if not arg.differentiable:
            return OK
        shape = tuple(self.case.args[ai].shape)
        got = self.obs.calls[0].grads[ai]
        if tuple(got.shape) != shape:
            want = self.expected(ai)[0]
            others = {f"{a.name}": self.expected(j)[0] for j, a in enumerate(args) if a.differentiable and j != ai}
            return shape_verdict(self.label(ai), got, shape, want, others, self.target.tolerance)
        return OK


def _type_problem(entry: dict, label: str, name: str) -> str:
    kind = entry.get("type")
    if kind == "none":
        return f"backward returned None for {label}, but {name} is a float tensor that needs a gradient"
    if kind != "tensor":
        return f"{label} is a {entry.get('typename', 'non-tensor')}, not a tensor"
    if entry.get("dtype") != "float64":
        return f"{label} has dtype {entry.get('dtype')} but {name} is float64: keep the input's dtype"
    if entry.get("device") != "cpu":
        return f"{label} is on device {entry.get('device')} but {name} is on cpu"
    return ""


def _verdict(failure: Failure) -> Verdict:
    return Verdict(failure.code, failure.message, failure.hint)


def failure_verdict(failure: Failure) -> Verdict:
    return _verdict(failure)


class Check(Protocol):
    """A check turns one case into rows; ``kind`` is its CONTRACT section 4 name."""

    kind: str

    def rows(self, ctx: Context) -> list[Row]: ...


def gated(ctx: Context, check: str, args: list[tuple[int, ArgSpec]]) -> list[Row] | None:
    """Rows failed for the reason that stops the case (crash, failed forward, forbidden API), if any."""
    if ctx.obs.failure is not None:
        verdict = _verdict(ctx.obs.failure)
    elif ctx.gate is not None:
        verdict = ctx.gate
    else:
        return None
    return [ctx.row(check, arg, verdict) for _, arg in args]


class GradientCheck:
    """A check with one row per differentiable input: structure first, then the check's own comparison."""

    kind = ""

    def rows(self, ctx: Context) -> list[Row]:
        args = [(ai, a) for ai, a in enumerate(ctx.target.args) if a.differentiable]
        blocked = gated(ctx, self.kind, args)
        if blocked is not None:
            return blocked
        return [ctx.row(self.kind, arg, self.verdict(ctx, ai)) for ai, arg in args]

    def verdict(self, ctx: Context, ai: int) -> Verdict:
        structure = ctx.structure[ai]
        return structure if not structure.passed else self.compare(ctx, ai)

    def compare(self, ctx: Context, ai: int) -> Verdict:
        raise NotImplementedError
