"""Seeded inputs and the reference answers, computed with torch in the trusted process.

For each case we draw the inputs (from each argument's domain, away from kinks and ties), run the reference
forward in float64, and ask torch autograd for the vector-Jacobian products ``(∂f/∂x)ᵀ u`` under several
random upstream gradients ``u``. We also prepare the extra upstream gradient ``α u₀ + β u₁`` for the
linearity check, the VJP under ``u = 1`` (what a backward that ignores ``grad_output`` returns), and the
finite-difference directions: a few random unit directions plus a few sampled coordinates, so the cost of
``gradcheck`` does not grow with the size of the tensor.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from grader.cases import LINEAR_MIX, Case
from grader.catalogue import candidates
from grader.errors import SpecError
from grader.localise import elementwise, slope_at_output
from grader.spec import ArgSpec, CaseSpec, Domain, ExerciseSpec, TargetSpec


def compile_reference(exercise: ExerciseSpec, index: int) -> Any:
    target = exercise.targets[index]
    try:
        return compile(target.reference, f"<{target.name} reference>", "eval")
    except SyntaxError as exc:
        raise SpecError(exercise.folder / "exercise.yaml", f"targets[{index}].reference",
                        f"not a python expression: {exc.msg}") from None


def compute_cases(exercise: ExerciseSpec, index: int, seed: int, grad_outputs: int) -> list[Case]:
    target = exercise.targets[index]
    code = compile_reference(exercise, index)
    cases = []
    for case in target.cases:
        gen = torch.Generator().manual_seed(_stable_seed(seed, exercise.id, target.name, case.name))
        try:
            cases.append(_build(target, case, code, gen, grad_outputs))
        except SpecError:
            raise
        except Exception as exc:
            raise SpecError(exercise.folder / "exercise.yaml", f"targets[{index}] ({target.name}), case {case.name}",
                            f"the reference failed on these inputs: {type(exc).__name__}: {exc}") from None
    return cases


def derive(target: TargetSpec, cases: Sequence[Case]) -> None:
    """Work out, into each case's :attr:`~grader.cases.Case.derived`, what the checks need torch for when a
    gradient is wrong: every catalogue entry's gradient (``catalogue.<id>``, :func:`grader.catalogue.candidates`)
    and, for each input the op is element-wise in, the slope at the output (``slope_at_output.<ai>``,
    :func:`grader.localise.slope_at_output`). They depend on the case alone, so they are computed here, with the
    cases, and cached on disk with them: grading then imports no torch, even for a wrong submission."""
    for case in cases:
        for entry in target.catalogue:
            candidates(entry, target, case)
        for ai in range(len(target.args)):
            if elementwise(case, ai):
                slope_at_output(target, case, ai)


def _stable_seed(seed: int, *parts: str) -> int:
    return (seed * 1_000_003 + zlib.crc32("/".join(parts).encode())) % (2**63)


def _build(target: TargetSpec, case: CaseSpec, code: Any, gen: torch.Generator, k: int) -> Case:
    args = tuple(_draw(arg, case, gen) for arg in target.args)
    grad_idx = [i for i, a in enumerate(target.args) if a.differentiable]
    leaves = [args[i].clone().requires_grad_(True) if i in grad_idx else args[i] for i in range(len(args))]
    output = evaluate(code, target, leaves)
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        raise SpecError("exercise.yaml", f"{target.name}.reference", "must return a float tensor")
    upstream = [torch.randn(output.shape, generator=gen, dtype=torch.float64) for _ in range(k)]
    upstream.append(LINEAR_MIX[0] * upstream[0] + LINEAR_MIX[1] * upstream[1])
    expected = tuple(_vjp(output, leaves, grad_idx, u) for u in upstream)
    expected_ones = _vjp(output, leaves, grad_idx, torch.ones_like(output))
    directions: dict[int, tuple[torch.Tensor, ...]] = {}
    coordinates: dict[int, tuple[int | None, ...]] = {}
    for i in grad_idx:
        dirs, coords = _directions(args[i], target.fd.directions, target.fd.coordinates, gen)
        directions[i], coordinates[i] = dirs, coords
    return Case(spec=case, args=tuple(_np(a) for a in args), output=_np(output.detach()),
                upstream=tuple(_np(u) for u in upstream), expected=tuple(tuple(_np(g) for g in e) for e in expected),
                expected_ones=tuple(_np(g) for g in expected_ones),
                directions={i: tuple(_np(v) for v in dirs) for i, dirs in directions.items()}, coordinates=coordinates)


def _np(value: Any) -> Any:
    return value.detach().numpy().copy() if isinstance(value, torch.Tensor) else value


def evaluate(code: Any, target: TargetSpec, args: list[Any] | tuple[Any, ...]) -> Any:
    scope = {"torch": torch, "F": F, "math": math}  # one scope, so a lambda of the reference sees the arguments
    return eval(code, {**scope, **{a.name: v for a, v in zip(target.args, args, strict=True)}})  # noqa: S307


def _vjp(output: torch.Tensor, leaves: list[Any], grad_idx: list[int], u: torch.Tensor
         ) -> tuple[torch.Tensor | None, ...]:
    grads = torch.autograd.grad(output, [leaves[i] for i in grad_idx], u, retain_graph=True, allow_unused=True)
    by_index = dict(zip(grad_idx, grads, strict=True))
    out: list[torch.Tensor | None] = []
    for i, leaf in enumerate(leaves):
        if i not in by_index:
            out.append(None)
            continue
        g = by_index[i]
        out.append(torch.zeros_like(leaf).detach() if g is None else g.detach())
    return tuple(out)


def _draw(arg: ArgSpec, case: CaseSpec, gen: torch.Generator) -> Any:
    if arg.kind == "value":
        return case.values.get(arg.name)
    shape = case.shapes[arg.name]
    if arg.kind == "index":
        high = _index_high(arg, case)
        idx = torch.randint(arg.low, high, shape, generator=gen, dtype=torch.int64)
        flat = idx.view(-1)
        if flat.numel() >= 2:
            flat[-1] = flat[0]
        return idx
    return _sample(arg.domain, shape, gen)


def _index_high(arg: ArgSpec, case: CaseSpec) -> int:
    if isinstance(arg.high, int):
        return arg.high
    name, _, dim = arg.high.partition(".")
    if name not in case.shapes or not dim.isdigit() or int(dim) >= len(case.shapes[name]):
        raise SpecError("exercise.yaml", f"args.{arg.name}.high", f"{arg.high!r} names no dimension of an input")
    return case.shapes[name][int(dim)]


def _sample(domain: Domain, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    def fresh(n: int) -> torch.Tensor:
        if domain.dist == "uniform":
            return domain.low + (domain.high - domain.low) * torch.rand(n, generator=gen, dtype=torch.float64)
        return domain.mean + domain.std * torch.randn(n, generator=gen, dtype=torch.float64)

    n = math.prod(shape)
    values = fresh(n)
    for _ in range(100):
        bad = _near_kink(values, domain)
        if not bad.any():
            break
        values[bad] = fresh(int(bad.sum()))
    if domain.distinct and n > 1:
        values = _spread(values, domain.margin)
    return values.reshape(shape)


def _near_kink(values: torch.Tensor, domain: Domain) -> torch.Tensor:
    bad = torch.zeros_like(values, dtype=torch.bool)
    for point in domain.avoid:
        bad |= (values - point).abs() < domain.margin
    return bad


def _spread(values: torch.Tensor, gap: float) -> torch.Tensor:
    """Push sorted neighbours at least ``gap`` apart, so that max and sort have no ties.

    With the sorted values ``s_j``, the smallest sequence ``t_j >= s_j`` with ``t_j - t_{j-1} >= gap`` is
    ``t_j = j·gap + max_{i<=j}(s_i - i·gap)``: a running maximum, so no loop is needed.
    """
    order = torch.argsort(values)
    steps = gap * torch.arange(len(values), dtype=values.dtype)
    ordered = torch.cummax(values[order] - steps, dim=0).values + steps
    out = torch.empty_like(values)
    out[order] = ordered
    return out


def _directions(x: torch.Tensor, n_random: int, n_coords: int, gen: torch.Generator
                ) -> tuple[tuple[torch.Tensor, ...], tuple[int | None, ...]]:
    dirs: list[torch.Tensor] = []
    coords: list[int | None] = []
    for _ in range(n_random):
        v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        dirs.append(v / v.norm().clamp_min(1e-12))
        coords.append(None)
    picks = torch.randperm(x.numel(), generator=gen)[: min(n_coords, x.numel())]
    for flat in picks.tolist():
        e = torch.zeros(x.numel(), dtype=torch.float64)
        e[flat] = 1.0
        dirs.append(e.reshape(x.shape))
        coords.append(int(flat))
    return tuple(dirs), tuple(coords)


def compute_training(exercise: ExerciseSpec, index: int, seed: int) -> dict[str, Any]:
    """A regression task: data ``x``, a teacher with random parameters, and a small random initialisation."""
    target = exercise.targets[index]
    spec = target.training
    assert spec is not None
    gen = torch.Generator().manual_seed(_stable_seed(seed, exercise.id, target.name, "training"))
    shapes = [spec.shapes[a.name] for a in target.args]
    data = torch.randn(shapes[0], generator=gen, dtype=torch.float64)
    teacher = [data] + [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes[1:]]
    with torch.no_grad():
        targets = evaluate(compile_reference(exercise, index), target, teacher)
    targets = (targets - targets.mean()) / targets.std().clamp_min(1e-12)
    arrays = {"t.y": _np(targets), "t.a0": _np(data)}
    for i, shape in enumerate(shapes[1:], start=1):
        arrays[f"t.a{i}"] = _np(spec.init_std * torch.randn(shape, generator=gen, dtype=torch.float64))
    return arrays
