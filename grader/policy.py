"""Reading a backward's source for autograd calls, in the trusted process (no student code runs).

We parse the module with :mod:`ast` and walk the target's ``backward`` plus every module-level function it
calls by name (transitively). Flagged: ``torch.autograd.grad``/``backward``, ``x.backward()`` on a tensor,
``enable_grad``/``set_grad_enabled``, and the functional transforms (``torch.func``, ``functorch``,
``torch.autograd.functional``). Names are resolved through the module's imports, so ``import torch.autograd
as ag`` then ``ag.grad(...)`` is found too; ``set_grad_enabled(False)`` is harmless and not flagged.
``SomeFunction.backward(ctx, g)`` on a class of the module is allowed: reusing your own backward is the chain
rule.
"""

from __future__ import annotations

import ast

_HANDS_OFF = {"enable_grad", "set_grad_enabled", "vjp", "jvp", "jacrev", "jacfwd", "jacobian", "hessian",
              "hvp", "vhp"}


def forbidden_calls(source: str, target: str) -> list[str]:
    """``"line N: what"`` for each autograd use reachable from ``target.backward``; ``[]`` if unparsable."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    cls = classes.get(target)
    if cls is None:
        return []
    todo: list[ast.AST] = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "backward"]
    aliases = _import_aliases(tree)
    seen: set[str] = set()
    found: list[str] = []
    while todo:
        node = todo.pop()
        harmless = _grad_switched_off(node)
        for sub in ast.walk(node):
            what = "" if id(sub) in harmless else _flag(sub, set(classes), aliases)
            if what:
                found.append(f"line {getattr(sub, 'lineno', '?')}: {what}")
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in functions \
                    and sub.func.id not in seen:
                seen.add(sub.func.id)
                todo.append(functions[sub.func.id])
    return _longest_per_line(found)


def _grad_switched_off(node: ast.AST) -> set[int]:
    """The ``set_grad_enabled`` references in ``set_grad_enabled(False)`` calls: switching grad mode *off* is
    harmless (the child's watch ignores it too), so they are not flagged."""
    harmless = set()
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call) or _dotted(sub.func).split(".")[-1] != "set_grad_enabled":
            continue
        mode = sub.args[0] if sub.args else next((k.value for k in sub.keywords if k.arg == "mode"), None)
        if isinstance(mode, ast.Constant) and not mode.value:
            harmless.add(id(sub.func))
    return harmless


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _is_autograd_name(dotted: str) -> bool:
    """Whether a dotted name reaches autograd: torch.autograd.grad, torch.enable_grad, torch.func.vjp, ..."""
    parts = dotted.split(".")
    if parts[0] == "functorch" or parts[:2] == ["torch", "func"]:
        return True
    if "autograd" in parts and parts[-1] in {"grad", "backward"} | _HANDS_OFF:
        return True
    return parts[-1] in _HANDS_OFF and "torch" in parts


def _import_aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to torch modules and functions: ``import torch.autograd as ag`` gives
    ``{"ag": "torch.autograd"}``, ``from torch.autograd import grad as g`` gives ``{"g": "torch.autograd.grad"}``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name.split(".")[0] in ("torch", "functorch"):
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("torch", "functorch"):
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _resolve(dotted: str, aliases: dict[str, str]) -> str:
    """``ag.grad`` as the full name ``torch.autograd.grad``, through the module's imports."""
    head, dot, rest = dotted.partition(".")
    return aliases.get(head, head) + dot + rest


def _flag(node: ast.AST, classes: set[str], aliases: dict[str, str]) -> str:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "backward":
        owner = node.func.value
        if isinstance(owner, ast.Name) and owner.id in classes:
            return ""
        if _is_autograd_name(_resolve(_dotted(node.func), aliases)):
            return ""  # torch.autograd.backward(...): flagged once, as the name below
        return f"{_dotted(node.func)}() runs the autograd engine"
    if isinstance(node, ast.Attribute) and _is_autograd_name(_resolve(_dotted(node), aliases)):
        return f"{_dotted(node)} hands the work to autograd"
    if isinstance(node, ast.Name) and node.id in aliases and _is_autograd_name(aliases[node.id]):
        return f"{node.id} (imported from torch) hands the work to autograd"
    return ""


def _longest_per_line(found: list[str]) -> list[str]:
    """``torch.func.vjp`` also walks ``torch.func``; keep only the longest name flagged on a line."""
    keep = []
    for item in sorted(set(found)):
        line, _, what = item.partition(": ")
        name = what.split(" ")[0]
        if not any(o != item and o.startswith(line + ": " + name + ".") for o in found):
            keep.append(item)
    return keep
