"""What a target's ``backward`` returns, read from the submitted source in the trusted process.

The autograd engine takes a tensor, ``None`` or a *tuple* of them from ``backward``, never a list:
``return [g, -g]`` stops training with "function AddBackward returned an incorrect number of gradients
(expected 2, got 1)", and ``return [g]`` with "expected Variable or None (got list)". The child reports
only that backward returned a sequence (``Call.is_tuple``), so whether that sequence is a list is read here
from the source: a ``return`` of a list display, a list comprehension, ``list(...)``, or a name that
``backward`` only ever binds to one of those. No student code runs.
"""

from __future__ import annotations

import ast
from functools import lru_cache


@lru_cache(maxsize=256)
def returns_list(source: str, target: str) -> bool:
    """Whether ``backward`` of the top-level class ``target`` has a ``return`` that gives a list."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    backward = _backward(tree, target)
    if backward is None:
        return False
    lists = _list_names(backward)
    return any(_is_list(ret.value, lists) for ret in _returns(backward) if ret.value is not None)


def _backward(tree: ast.Module, target: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == target:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "backward":
                    return item
    return None


def _own_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    """The nodes of ``fn``'s body, without those of functions, lambdas and classes defined inside it."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _returns(fn: ast.FunctionDef) -> list[ast.Return]:
    return [node for node in _own_nodes(fn) if isinstance(node, ast.Return)]


def _list_names(fn: ast.FunctionDef) -> frozenset[str]:
    """Names that every binding in ``fn`` binds to a list (``grads = [gx, gw]``; ``grads += [g]`` keeps it one)."""
    bound: dict[str, bool] = {}
    for node in _own_nodes(fn):
        for target, value in _bindings(node):
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    simple = name is target and value is not None and _is_list(value, frozenset())
                    bound[name.id] = bound.get(name.id, True) and simple
    return frozenset(name for name, is_list in bound.items() if is_list)


def _bindings(node: ast.AST) -> list[tuple[ast.AST, ast.expr | None]]:
    """What ``node`` binds, with the value when it binds it as a whole (``None`` for loops, unpacking, ``with``)."""
    if isinstance(node, ast.Assign):
        return [(t, node.value if isinstance(t, ast.Name) else None) for t in node.targets]
    if isinstance(node, ast.AnnAssign | ast.NamedExpr):
        return [(node.target, node.value)]
    if isinstance(node, ast.For | ast.comprehension):
        return [(node.target, None)]
    if isinstance(node, ast.With):
        return [(item.optional_vars, None) for item in node.items if item.optional_vars is not None]
    return []


def _is_list(node: ast.expr, lists: frozenset[str]) -> bool:
    if isinstance(node, ast.List | ast.ListComp):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "list":
        return True
    return isinstance(node, ast.Name) and node.id in lists
