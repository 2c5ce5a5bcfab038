"""Wrong variants of a solution's backward, derived automatically, for ``grade validate``.

Each mutant rewrites the returned gradients of one target's ``backward`` in the solution module (by AST,
so formatting does not matter) and says which diagnosis a good grader should give:

| mutant | rewrite of the gradient of input i | expected |
|---|---|---|
| negate | ``-(g)`` | ``sign_flipped`` |
| scale by 2, by 1/2 | ``2.0 * (g)``, ``0.5 * (g)`` | ``scaled`` |
| transpose (2-D inputs) | ``(g).transpose(-1, -2)`` | ``transposed`` |
| zeros | ``(g) * 0.0`` | ``wrong_values`` |
| swap i and j | exchange two returned gradients | ``swapped_inputs`` |
| drop grad_output | ``grad_output`` replaced by ones at the top of backward | ``ignores_upstream_grad`` |
| skip a reduction | a ``.sum(...)`` call in backward replaced by its operand | ``broadcast_not_reduced`` |

Swaps of two syntactically identical gradients (``Add``: both are ``grad_output``) are equivalent to the
solution and are not generated.

:func:`catalogue_mutant` builds, for an entry of a target's ``catalogue:``, the module whose backward has
exactly that misconception: the solution's class is wrapped so that backward returns the entry's formula for
its input and the solution's gradients for every other argument. A good grader names it by the entry's id.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from grader.spec import CatalogueEntry, ExerciseSpec, TargetSpec


@dataclass(frozen=True)
class Mutant:
    """A wrong variant of the solution module.

    Attributes:
        name: e.g. ``"Linear: negate grad_weight"``.
        target: the target whose backward was changed.
        input: the argument whose gradient should be flagged, or ``None`` when any input may be.
        expected: the diagnosis a precise grader gives.
        source: the whole mutated module.
    """

    name: str
    target: str
    input: str | None
    expected: str
    source: str


def automatic(source: str, exercise: ExerciseSpec) -> list[Mutant]:
    tree = ast.parse(source)
    out: list[Mutant] = []
    for target in exercise.targets:
        if _backward(tree, target.name) is None:
            continue
        out.extend(_for_target(source, target))
    return out


def _backward(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "backward":
                    return item
    return None


def _returns(fn: ast.FunctionDef) -> list[ast.Return]:
    found: list[ast.Return] = []
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _elements(ret: ast.Return) -> list[ast.expr]:
    value = ret.value
    assert value is not None
    return list(value.elts) if isinstance(value, ast.Tuple | ast.List) else [value]


def _mutate(source: str, target: str, change: Callable[[ast.FunctionDef], bool]) -> str | None:
    tree = ast.parse(source)
    fn = _backward(tree, target)
    if fn is None or not change(fn):
        return None
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _element_rewrite(template: str, position: int) -> Callable[[ast.FunctionDef], bool]:
    def change(fn: ast.FunctionDef) -> bool:
        done = False
        for ret in _returns(fn):
            elements = _elements(ret)
            if position >= len(elements) or (isinstance(elements[position], ast.Constant)
                                              and elements[position].value is None):  # type: ignore[attr-defined]
                continue
            new = ast.parse(template.format(g=ast.unparse(elements[position])), mode="eval").body
            elements[position] = new
            ret.value = ast.Tuple(elts=elements, ctx=ast.Load()) if len(elements) > 1 or \
                isinstance(ret.value, ast.Tuple | ast.List) else new
            done = True
        return done
    return change


def _swap(i: int, j: int) -> Callable[[ast.FunctionDef], bool]:
    def change(fn: ast.FunctionDef) -> bool:
        done = False
        for ret in _returns(fn):
            elements = _elements(ret)
            if max(i, j) < len(elements) and ast.dump(elements[i]) != ast.dump(elements[j]):
                elements[i], elements[j] = elements[j], elements[i]
                ret.value = ast.Tuple(elts=elements, ctx=ast.Load())
                done = True
        return done
    return change


def _drop_upstream(fn: ast.FunctionDef) -> bool:
    if len(fn.args.args) < 2:
        return False
    name = fn.args.args[1].arg
    statement = ast.parse(f"{name} = {name} * 0.0 + 1.0").body[0]
    body = fn.body
    start = 1 if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else 0
    body.insert(start, statement)
    return True


def _skip_reduction(site: int) -> Callable[[ast.FunctionDef], bool]:
    def change(fn: ast.FunctionDef) -> bool:
        calls = _sum_calls(fn)
        if site >= len(calls):
            return False
        parent, field, call = calls[site]
        func = call.func
        operand = func.value if isinstance(func, ast.Attribute) and func.attr == "sum" and not _is_torch(func.value) \
            else call.args[0]
        setattr(parent, field, operand) if not isinstance(getattr(parent, field), list) else \
            getattr(parent, field).__setitem__(getattr(parent, field).index(call), operand)
        return True
    return change


def _is_torch(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("torch", "np")


def _sum_calls(fn: ast.FunctionDef) -> list[tuple[ast.AST, str, ast.Call]]:
    found = []
    for parent in ast.walk(fn):
        for field, value in ast.iter_fields(parent):
            values = value if isinstance(value, list) else [value]
            for item in values:
                if isinstance(item, ast.Call) and isinstance(item.func, ast.Attribute) and item.func.attr == "sum" \
                        and (not _is_torch(item.func.value) or item.args):
                    found.append((parent, field, item))
    return found


def _for_target(source: str, target: TargetSpec) -> list[Mutant]:
    out: list[Mutant] = []
    t = target.name

    def add(label: str, arg: str | None, expected: str, change: Callable[[ast.FunctionDef], bool]) -> None:
        mutated = _mutate(source, t, change)
        if mutated is not None:
            out.append(Mutant(name=f"{t}: {label}", target=t, input=arg, expected=expected, source=mutated))

    grad_positions = [(i, a) for i, a in enumerate(target.args) if a.differentiable]
    for i, arg in grad_positions:
        g = f"grad_{arg.name}"
        add(f"negate {g}", arg.name, "sign_flipped", _element_rewrite("-({g})", i))
        add(f"scale {g} by 2", arg.name, "scaled", _element_rewrite("2.0 * ({g})", i))
        add(f"scale {g} by 1/2", arg.name, "scaled", _element_rewrite("0.5 * ({g})", i))
        add(f"zero {g}", arg.name, "wrong_values", _element_rewrite("({g}) * 0.0", i))
        shapes = [case.shapes[arg.name] for case in target.cases]
        if all(len(s) == 2 for s in shapes) and any(s[0] != s[1] for s in shapes):
            add(f"transpose {g}", arg.name, "transposed", _element_rewrite("({g}).transpose(-1, -2)", i))
    for n, (i, a) in enumerate(grad_positions):
        for j, b in grad_positions[n + 1:]:
            add(f"swap grad_{a.name} and grad_{b.name}", a.name, "swapped_inputs", _swap(i, j))
    add("drop grad_output", None, "ignores_upstream_grad", _drop_upstream)
    tree = ast.parse(source)
    fn = _backward(tree, t)
    for site in range(len(_sum_calls(fn)) if fn else 0):
        add(f"skip reduction #{site + 1}", None, "broadcast_not_reduced", _skip_reduction(site))
    return out


_METHODS = """
@staticmethod
def forward(ctx, {params}):
    out = {name}.solution_forward(ctx, {params})
    ctx.formula_names = ({kept})
    return out

@staticmethod
def backward(ctx, grad_output):
    {right}
    {used} = ctx.formula_names
{assignments}
    return tuple(grads)
"""


def catalogue_mutant(source: str, target: TargetSpec, *entries: CatalogueEntry) -> Mutant:
    """The solution module with ``target``'s backward giving each entry's wrong gradient for its input (one entry
    per input; ``grade validate`` builds one mutant per entry).

    The solution's ``forward`` and ``backward`` stay in the class under other names; the new ``forward`` keeps
    the arguments (and the output) the formulas read, and the new ``backward`` replaces the solution's
    gradients of those inputs by the formulas (with ``None`` for the others when only one input gets a
    gradient), evaluated in the student's process as the grader evaluates them in its own.
    """
    names = [a.name for a in target.args]
    assert len({e.input for e in entries}) == len(entries), "one entry per input"
    read = {n.id for e in entries for n in ast.walk(ast.parse(e.formula, mode="eval")) if isinstance(n, ast.Name)}
    used = [a for a in target.args if a.name in read] + (["out"] if "out" in read else [])
    kept = [n if isinstance(n, str) else n.name if n.kind == "value" else f"{n.name}.detach()" for n in used]
    right = (f"right = {target.name}.solution_gradients(ctx, grad_output)\n    "
             "grads = list(right) if isinstance(right, tuple) else [right]") if len(target.grad_args) > 1 \
        else f"grads = [None] * {len(names)}"
    assignments = "\n".join(f"    grads[{names.index(e.input)}] = ({e.formula})" for e in entries)
    methods = ast.parse(_METHODS.format(
        name=target.name, params=", ".join(names), right=right, assignments=assignments,
        kept="".join(f"{k}, " for k in kept) or "()",
        used="".join(f"{n if isinstance(n, str) else n.name}, " for n in used) or "_")).body
    tree = ast.parse(source)
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == target.name]
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name in ("forward", "backward"):
            item.name = "solution_forward" if item.name == "forward" else "solution_gradients"
    cls.body.extend(methods)
    tree.body[:0] = ast.parse("import math\nimport torch\nimport torch.nn.functional as F\n").body
    mutated = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    ids = ", ".join(e.id for e in entries)
    return Mutant(name=f"{target.name}: catalogue {ids}", target=target.name,
                  input=entries[0].input if len(entries) == 1 else None, expected=ids, source=mutated)
