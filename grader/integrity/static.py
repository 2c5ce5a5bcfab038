"""The static half of the integrity policy: the whole module's source, read in the trusted process.

No student code runs here, so nothing a submission does at run time can switch this layer off. Every part of
the module is read: module level, class bodies, forward, backward, helpers, lambdas, decorators, default
arguments. Flagged is what a hand-written backward never needs and a shortcut around the chain rule does:

- imports outside the course's allow-list, relative imports, and names that reach autograd, backward
  kernels, torch internals or modules no backward needs, judged by :func:`grader.integrity.names.judge`
  through the module's own aliases (``import torch.autograd as ag`` then ``ag.grad``; ``F = torch.nn.functional``);
- reflection and dynamic code: ``exec``, ``eval``, ``compile``, ``__import__``, ``globals``, ``vars``,
  ``locals``, ``open``, ``breakpoint``, ``getattr``/``setattr``/``delattr``/``hasattr`` with a computed name
  (with a literal name they are read as the attribute they name), dunder attributes and names, frame and
  code objects;
- private attributes, except a student's own on ``ctx`` or ``self`` (``ctx._shape``), and never one torch
  defines (``ctx._forward_cls``);
- changing torch itself (``torch.Tensor.to = ...``), metaclasses, subclasses of ``torch.Tensor``, and hooks
  the interpreter calls behind the grader's back (``__torch_dispatch__``, ``__del__``, module ``__getattr__``);
- numerical differentiation written out: a difference of one function at two nudged arguments
  (``f(x + h) - f(x - h)``, ``f(x + h) - f(x)``, with ``h`` a name or a small number), and complex numbers
  (``1j``, ``complex``, ``torch.complex``, ``.imag``: the complex step ``Im f(x + ih) / h``);
- what the exercise lists under ``forbid:``.

Each finding belongs to the top-level class or function it is written in. A target answers for its own
class, for every module-level function or class it reaches by name, and for module-level code, which runs
for every target. A helper nobody calls is dead code and counts for no target.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from grader.integrity.names import (
    ALWAYS_SAFE_IMPORTS,
    AUTOGRAD_OPEN,
    DEFAULT_IMPORTS,
    ctx_private_names,
    judge,
    names_a_backward,
    suspicious_attribute,
)
from grader.integrity.nodes import Nodes

REFLECTION = {
    "complex": "builds complex numbers: the complex step Im f(x + ih) / h is numerical differentiation",
    "__import__": "imports by name at run time",
    "exec": "runs code built at run time",
    "eval": "runs code built at run time",
    "compile": "builds code at run time",
    "globals": "reads or rewrites module namespaces",
    "vars": "reads or rewrites object namespaces",
    "locals": "reads or rewrites namespaces",
    "breakpoint": "starts a debugger",
}
ATTRIBUTE_FUNCTIONS = ("getattr", "setattr", "delattr", "hasattr")
SAFE_DUNDERS = frozenset({"__name__", "__doc__", "__file__", "__init__", "__qualname__"})
METADATA_DUNDERS = frozenset({"__all__", "__author__", "__version__", "__slots__", "__license__", "__email__",
                              "__status__", "__credits__", "__maintainer__", "__copyright__", "__date__"})
HOOK_DEFS = frozenset({"__torch_dispatch__", "__torch_function__", "__getattr__", "__getattribute__", "__del__",
                       "__init_subclass__", "__set_name__", "__class_getitem__", "__instancecheck__",
                       "__subclasscheck__", "__prepare__", "__set__", "__get__", "__delete__"})


@dataclass(frozen=True)
class Finding:
    """One thing the scan flagged: its line, the code, why, and the top-level unit it is written in."""

    line: int
    code: str
    why: str
    unit: str | None

    def text(self) -> str:
        return f"line {self.line}: {self.code} {self.why}"


def _dotted(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


class _Scan:
    def __init__(self, nodes: Nodes, imports: tuple[str, ...], forbid: tuple[str, ...],
                 own: tuple[str, ...] = ()) -> None:
        tree = nodes.tree
        self.nodes = nodes
        self.imports = imports
        self.forbid = forbid
        self.found: list[Finding] = []
        self.classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        self.functions = {n.name for n in nodes.all if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        self.aliases: dict[str, str] = {}
        self.calls = _calls_bound(nodes)
        self.parents = {id(child): node for node in nodes.all for child in nodes.children(node)}
        self.own_attrs = _attribute_stores(nodes) | _class_members(tree)
        self.skip: set[int] = set()
        self.unit: str | None = None
        self.owners: list[set[str]] = [set()]
        self.in_class_with_backward = False
        self._collect_aliases()
        self.own = own
        self.borrowed = {name for name, dotted in self.aliases.items()
                         if dotted.count(".") == 1 and dotted.split(".")[0] in own}
        """Classes imported from the student's own modules (``from linear import MatMul``): their backward is
        the student's chain rule too, read by this same scan."""

    # -- names -------------------------------------------------------------------------------------------
    def _collect_aliases(self) -> None:
        """Local names bound to imported things; assignments of such names (``F = torch.nn.functional``) too."""
        for node in self.nodes.all:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        self.aliases[head] = head
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for _ in range(3):  # chains of assignments: T = torch; A = T.autograd
            for node in self.nodes.all:
                for name, value in _bindings(node):
                    resolved = self.resolve(value)
                    if resolved and name not in self.aliases:
                        self.aliases[name] = resolved

    def resolve(self, node: ast.AST) -> str | None:
        """The full dotted name of an expression built from imports, or None."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        literal = _literal_getattr(node)
        if literal is not None:
            base = self.resolve(literal[0])
            return f"{base}.{literal[1]}" if base else None
        return None

    def flag(self, node: ast.AST, why: str, code: str | None = None) -> None:
        self.found.append(Finding(getattr(node, "lineno", 0), code or _dotted(node), why, self.unit))

    # -- walking -----------------------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        tree = self.nodes.tree
        self._mark_harmless()
        for node in tree.body:
            self.unit = node.name if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) else None
            self.in_class_with_backward = False
            if _main_guard(node):
                assert isinstance(node, ast.If)
                for other in node.orelse:  # the body never runs when the grader imports the module
                    self.visit(other, node)
                continue
            self.visit(node)
        self._stepped_calls(tree)
        return self.found

    def _stepped_calls(self, tree: ast.Module) -> None:
        """One function called at two points a step apart, in any spelling: ``f(v + h)`` and ``f(v - h)`` or
        ``f(v)``, ``f(v, 1e-6)`` and ``f(v, -1e-6)``, ``f(v * 1.000001)`` and ``f(v * 0.999999)``, or
        ``f(v + s * h)`` for ``s`` in ``(1, -1)``: numerical differentiation, in tensors or in Python floats."""
        steps = _step_names(self.nodes)
        loose = ast.Module(body=[n for n in tree.body if not _main_guard(n) and not isinstance(
            n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)], type_ignores=[])
        scopes: list[ast.AST] = [loose, *(n for n in self.nodes.all if isinstance(n, ast.FunctionDef | ast.Lambda))]
        for scope in scopes:
            self.unit = self.nodes.unit_of(scope)
            calls: dict[str, list[ast.Call]] = {}
            inside = self.nodes.walk(scope)
            for node in inside:
                if isinstance(node, ast.Call) and node.args:
                    calls.setdefault(ast.dump(node.func), []).append(node)
                    if any(_signed_step(arg, steps, inside) for arg in node.args):
                        self.flag(node, "evaluates a function at points a step apart: finite differences are not "
                                        "backpropagation")
            for group in calls.values():
                pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1:]]
                if any(_stepped_pair(a, b, steps) for a, b in pairs):
                    self.flag(group[0], "evaluates a function at points a step apart: finite differences are not "
                                        "backpropagation")

    def _mark_harmless(self) -> None:
        """``torch.set_grad_enabled(False)`` switches autograd *off*: harmless, like ``torch.no_grad()``."""
        for node in self.nodes.all:
            if isinstance(node, ast.Call) and self.resolve(node.func) == "torch.set_grad_enabled":
                mode = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "mode"), None)
                if isinstance(mode, ast.Constant) and mode.value is False:
                    self.skip.add(id(node.func))

    def visit(self, node: ast.AST, parent: ast.AST | None = None) -> None:
        handler = getattr(self, f"_visit_{type(node).__name__}", None)
        descend = handler(node, parent) if handler is not None else True
        if descend is False:
            return
        if isinstance(node, ast.ClassDef):
            for child in self.nodes.children(node):
                self._visit_in_class(child, node)
            return
        for child in self.nodes.children(node):
            self.visit(child, node)

    def _visit_in_class(self, child: ast.AST, cls: ast.ClassDef) -> None:
        """A method's first parameter (``ctx``, ``self``) may carry the student's own private attributes."""
        self.in_class_with_backward = any(isinstance(n, ast.FunctionDef) and n.name == "backward" for n in cls.body)
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            params = child.args.posonlyargs + child.args.args
            self.owners.append({params[0].arg} if params else set())
            try:
                self.visit(child, cls)
            finally:
                self.owners.pop()
        else:
            self.visit(child, cls)

    def _visit_Import(self, node: ast.Import, parent: ast.AST | None) -> bool:
        for alias in node.names:
            why = judge(alias.name, self.imports)
            if why:
                self.flag(node, why, f"import {alias.name}")
        return False

    def _visit_ImportFrom(self, node: ast.ImportFrom, parent: ast.AST | None) -> bool:
        if node.level or not node.module:
            self.flag(node, "imports from the submission's own folder, which is not on the allow-list",
                      f"from {'.' * node.level}{node.module or ''} import ...")
            return False
        for alias in node.names:
            name = node.module if alias.name == "*" else f"{node.module}.{alias.name}"
            why = judge(name, self.imports) or self._forbidden_by_exercise(name)
            if why:
                self.flag(node, why, f"from {node.module} import {alias.name}")
        return False

    def _visit_Attribute(self, node: ast.Attribute, parent: ast.AST | None) -> bool:
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return True  # judged as part of the outer chain
        self._judge_chain(node, node.ctx)
        return True

    def _visit_Call(self, node: ast.Call, parent: ast.AST | None) -> bool:
        own_function = isinstance(node.func, ast.Name) and node.func.id in self.functions
        if own_function:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                resolved = self.resolve(arg)
                if resolved is not None and _is_class_or_module(resolved):
                    self.flag(arg, "hands a torch class or module to a helper, where it could be changed")
        literal = _literal_getattr(node)
        func = node.func
        if literal is not None and isinstance(func, ast.Name):
            store = ast.Store() if func.id in ("setattr", "delattr") else ast.Load()
            self._judge_chain(ast.copy_location(ast.Attribute(literal[0], literal[1], store), node), store)
            for child in [*node.args[2:], *node.keywords]:
                self.visit(child, node)
            self.visit(literal[0], node)
            return False
        return True

    def _visit_BinOp(self, node: ast.BinOp, parent: ast.AST | None) -> bool:
        pairs = [(a, b) for a in self._as_calls(node.left) for b in self._as_calls(node.right)]
        if isinstance(node.op, ast.Sub) and any(_difference_quotient(a, b) for a, b in pairs):
            self.flag(node, "is a difference of one function at nudged inputs: finite differences are not "
                            "backpropagation")
        return True

    def _as_calls(self, node: ast.AST) -> list[ast.AST]:
        """The call an operand is, or the calls its name was assigned from (``up = f(x + h)``)."""
        if isinstance(node, ast.Name):
            return list(self.calls.get(node.id, []))
        return [node]

    def _visit_Constant(self, node: ast.Constant, parent: ast.AST | None) -> bool:
        if isinstance(node.value, complex):
            self.flag(node, "is a complex number: the complex step Im f(x + ih) / h is numerical "
                            "differentiation, not backpropagation")
        return True

    def _visit_Name(self, node: ast.Name, parent: ast.AST | None) -> bool:
        name = node.id
        if name == "open" and not _plain_open(node, parent, self.calls):
            self.flag(node, "opens a file descriptor or a computed path; a backward needs neither (a debug log "
                            "may be opened by a plain relative name such as open(\"debug.log\", \"w\"))", "open()")
        elif name in REFLECTION:
            self.flag(node, REFLECTION[name], f"{name}()")
        elif name in ATTRIBUTE_FUNCTIONS:
            self.flag(node, "with a computed attribute name can reach anything", f"{name}()")
        elif name == "type" and not _plain_type(node, parent, self.parents.get(id(parent))):
            self.flag(node, "is used to reach or build classes (only type(x).__name__ and comparisons are "
                            "allowed): a changed class runs code behind the grader's back", "type()")
        elif name.startswith("__") and name.endswith("__") and name not in SAFE_DUNDERS and not (
                isinstance(node.ctx, ast.Store) and name in METADATA_DUNDERS):
            self.flag(node, "is interpreter internals a backward never needs")
        return True

    def _visit_FunctionDef(self, node: ast.FunctionDef, parent: ast.AST | None) -> bool:
        params = node.args.posonlyargs + node.args.args
        if params and params[0].arg in ("ctx", "self"):
            self.owners[-1] = self.owners[-1] | {params[0].arg}
        if node.name in HOOK_DEFS:
            unit = self.unit
            if isinstance(parent, ast.Module) or parent is None:
                self.unit = None  # a module-level hook (``__getattr__``) runs whenever the interpreter likes
            self.flag(node, "defines a hook the interpreter or torch calls behind the grader's back",
                      f"def {node.name}")
            self.unit = unit
        return True

    _visit_AsyncFunctionDef = _visit_FunctionDef

    def _visit_ClassDef(self, node: ast.ClassDef, parent: ast.AST | None) -> bool:
        for keyword in node.keywords:
            if keyword.arg == "metaclass":
                self.flag(node, "sets a metaclass, which can change how the grader sees the class",
                          f"class {node.name}(metaclass=...)")
        for keyword in node.keywords:
            if keyword.arg != "metaclass":
                self.flag(node, "passes class keywords, which run code of another class",
                          f"class {node.name}({keyword.arg}=...)")
        for base in node.bases:
            resolved = self.resolve(base) or ""
            own = isinstance(base, ast.Name) and (base.id in self.classes or base.id in SAFE_BASES)
            if not own and resolved not in TORCH_BASES:
                self.flag(node, f"subclasses {_dotted(base)}: a backward needs only torch.autograd.Function and "
                                "classes of its own, and other bases (torch.Tensor above all) can intercept the "
                                "grader's own calls", f"class {node.name}({_dotted(base)})")
        return True

    # -- attribute chains --------------------------------------------------------------------------------
    def _judge_chain(self, node: ast.Attribute, ctx: ast.expr_context) -> None:
        if id(node) in self.skip:
            return
        resolved = self.resolve(node)
        if resolved is not None:
            parts = resolved.split(".")
            if len(parts) == 3 and parts[0] in self.own and parts[2] == "backward" and isinstance(ctx, ast.Load):
                return  # linear.MatMul.backward: the student's own op of an earlier exercise, read by this scan
            if resolved.split(".")[0] not in (*self.imports, *ALWAYS_SAFE_IMPORTS, "functorch"):
                return  # an import that is not allowed: flagged once, at the import
            why = judge(resolved, self.imports) or self._forbidden_by_exercise(resolved)
            if not why and not isinstance(ctx, ast.Load):
                why = "changes torch or an imported module itself, which the grader also uses"
            if why:
                self.flag(node, why)
            return
        if not isinstance(ctx, ast.Load) and not self._own_object(node.value):
            self.flag(node, "changes an object that is not your own (only ctx, self and your own helper objects "
                            "may get attributes): changing a class runs code behind the grader's back")
            return
        links = _chain(node)
        for i, link in enumerate(links):
            why = self._judge_link(link)
            if not why and link.attr == "autograd":
                after = links[i + 1].attr if i + 1 < len(links) else ""
                why = "" if after in AUTOGRAD_OPEN["torch.autograd"] else "asks autograd for the gradient"
            if why:
                self.flag(link, why)
                return

    def _judge_link(self, link: ast.Attribute) -> str:
        attr, base = link.attr, link.value
        if attr.startswith("__") and attr.endswith("__"):
            return "" if attr in SAFE_DUNDERS else "is interpreter internals a backward never needs"
        if attr == "backward" and (_own_backward(base, self.classes | self.borrowed) or self._own_instance(base)):
            return ""
        mine = attr in self.own_attrs and not names_a_backward(attr) and (
            self._own_object(base) or (isinstance(base, ast.Name) and base.id in self.classes))
        if attr.startswith("_"):
            if mine and attr not in ctx_private_names():
                return ""
            return "reaches private internals (a leading underscore) that a backward never needs"
        return "" if mine else suspicious_attribute(attr)

    def _own_object(self, base: ast.AST) -> bool:
        """An object of the student's own: a plain name (``ctx``, ``self``, ``cache``, a helper's parameter), or an
        attribute of one (``ctx.info``), but not a name for an import, a class reached through ``type()`` or
        ``getattr``, and not the result of a call or a subscript (``type(x).abs``, ``[torch.Tensor][0].to``)."""
        while isinstance(base, ast.Attribute):
            base = base.value
        if not isinstance(base, ast.Name) or base.id in self.aliases:
            return False
        for value in self.calls.get(base.id, []):
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in (
                    "type", "getattr", "vars", "globals"):
                return False
        return True

    def _own_instance(self, base: ast.AST) -> bool:
        """A name bound only to instances of the module's own classes (``layer = Layer()``), or ``self`` in a
        method of a module class that defines ``backward`` itself."""
        if not isinstance(base, ast.Name):
            return False
        bound = self.calls.get(base.id, [])
        if bound and all(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in self.classes
                         for c in bound):
            return True
        return base.id == "self" and base.id in self.owners[-1] and self.in_class_with_backward

    def _forbidden_by_exercise(self, resolved: str) -> str:
        for entry in self.forbid:
            if resolved == entry or resolved.startswith(entry + ".") or _same_object(resolved, entry):
                return f"is not allowed in this exercise (it is on the exercise's forbid list: {entry})"
        return ""


SAFE_BASES = frozenset({"object", "Exception", "ValueError", "TypeError", "RuntimeError", "ArithmeticError",
                        "NotImplementedError"})
TORCH_BASES = frozenset({"torch.autograd.Function", "torch.autograd.function.Function", "torch.nn.Module",
                         "typing.NamedTuple"})


def _plain_type(node: ast.Name, parent: ast.AST | None, grandparent: ast.AST | None) -> bool:
    """``type(x)`` is only needed to show it (``type(x).__name__``, ``print(type(x))``) or compare it
    (``type(x) is int``); anything else reaches a class, and a changed class runs code behind the grader's back."""
    if not (isinstance(parent, ast.Call) and parent.func is node and len(parent.args) == 1 and not parent.keywords):
        return False
    named = isinstance(grandparent, ast.Attribute) and grandparent.attr in ("__name__", "__qualname__")
    shown = isinstance(grandparent, ast.FormattedValue) or (
        isinstance(grandparent, ast.Call) and isinstance(grandparent.func, ast.Name)
        and grandparent.func.id in ("print", "str", "repr", "format"))
    return named or shown or isinstance(grandparent, ast.Compare)


def _calls_bound(nodes: Nodes) -> dict[str, list[ast.AST]]:
    """Every value each name is assigned anywhere in the module (flow-insensitive)."""
    found: dict[str, list[ast.AST]] = {}
    for node in nodes.all:
        for name, value in _bindings(node):
            found.setdefault(name, []).append(value)
    return found


def _attribute_stores(nodes: Nodes) -> frozenset[str]:
    """Attribute names the module itself sets (``ctx._shape = ...``, ``ctx.masked = ...``): a student's own."""
    return frozenset(n.attr for n in nodes.all if isinstance(n, ast.Attribute) and not isinstance(n.ctx, ast.Load))


def _class_members(tree: ast.Module) -> frozenset[str]:
    """Names defined in the module's class bodies (``Attention._softmax_grad``): the student's own too."""
    found = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node in cls.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.add(node.name)
            for name, _value in _bindings(node):
                found.add(name)
    return frozenset(found)


def _main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` exactly: the grader imports the module under its own name."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.ops) != 1:
        return False
    sides = [node.test.left, *node.test.comparators]
    names = [x for x in sides if isinstance(x, ast.Name) and x.id == "__name__"]
    mains = [x for x in sides if isinstance(x, ast.Constant) and x.value == "__main__"]
    return isinstance(node.test.ops[0], ast.Eq) and len(names) == 1 and len(mains) == 1


def _plain_open(node: ast.Name, parent: ast.AST | None, constants: dict[str, list[ast.AST]]) -> bool:
    """``open("debug.log", "w")``: a literal relative path, inside the sandbox's work folder. Not a number
    (an inherited pipe), not a computed or absolute path (``/proc/self/fd/5``)."""
    if not (isinstance(parent, ast.Call) and parent.func is node and parent.args):
        return False
    path = parent.args[0]
    paths = constants.get(path.id, []) if isinstance(path, ast.Name) else [path]
    return bool(paths) and all(isinstance(p, ast.Constant) and isinstance(p.value, str) and not p.value.startswith("/")
                               and ".." not in p.value and "proc" not in p.value for p in paths)


def _small(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(
        node.value, bool) and 0 < abs(node.value) < 1e-2


def _step_names(nodes: Nodes) -> frozenset[str]:
    """Names and attributes assigned an expression with a small number in it (``h = 1e-6``,
    ``ctx.h = 2e-3 * scale``): the steps of a difference quotient."""
    found = set()
    for node in nodes.all:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            if any(_small(sub) for sub in nodes.walk(node.value)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        found.add(target.id)
                    elif isinstance(target, ast.Attribute):
                        found.add("." + target.attr)
    return frozenset(found)


def _is_step(node: ast.AST, steps: frozenset[str]) -> bool:
    if _small(node):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _is_step(node.operand, steps)
    if isinstance(node, ast.Name):
        return node.id in steps
    if isinstance(node, ast.Attribute):
        return "." + node.attr in steps
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
        return _is_step(node.left, steps) or _is_step(node.right, steps)
    return False


def _offset(node: ast.AST, steps: frozenset[str]) -> tuple[str, int] | None:
    """``x + h`` as ``(dump(x), +1)``, ``x - h`` or ``x + -h`` as ``(dump(x), -1)``; plain ``x`` is ``None``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub) and _is_step(node.right, steps):
        negative = isinstance(node.op, ast.Sub) != (isinstance(node.right, ast.UnaryOp)
                                                    and isinstance(node.right.op, ast.USub))
        return ast.dump(node.left), -1 if negative else 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and isinstance(node.right, ast.Constant) \
            and isinstance(node.right.value, float) and 0 < abs(node.right.value - 1) < 1e-2:
        return ast.dump(node.left), 1 if node.right.value > 1 else -1
    return None


def _stepped_pair(a: ast.Call, b: ast.Call, steps: frozenset[str]) -> bool:
    """Two calls of one function whose arguments are equal but one, where they are a step apart."""
    if len(a.args) != len(b.args):
        return False
    differing = [(x, y) for x, y in zip(a.args, b.args, strict=True) if ast.dump(x) != ast.dump(y)]
    if len(differing) != 1:
        return False
    x, y = differing[0]
    ox, oy = _offset(x, steps), _offset(y, steps)
    if ox and oy:
        return ox[0] == oy[0] and ox[1] != oy[1]
    if ox or oy:
        base = ast.dump(y) if ox else ast.dump(x)
        return (ox or oy or ("", 0))[0] == base
    negated = isinstance(y, ast.UnaryOp) and isinstance(y.op, ast.USub) and ast.dump(y.operand) == ast.dump(x)
    return negated and _is_step(x, steps)


def _number(node: ast.AST) -> float | None:
    """A literal number, signed: ``1``, ``-1.0``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _signed_step(arg: ast.AST, steps: frozenset[str], scope: list[ast.AST]) -> bool:
    """``v + s * h`` where ``s`` runs over a literal tuple of numbers of both signs (``scope``: the nodes of the
    function or module level the call is in)."""
    if not (isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add | ast.Sub) and isinstance(arg.right, ast.BinOp)
            and isinstance(arg.right.op, ast.Mult)):
        return False
    product = arg.right
    names = [n.id for n in (product.left, product.right) if isinstance(n, ast.Name)]
    if not (_is_step(product.left, steps) or _is_step(product.right, steps)):
        return False
    for node in scope:
        if isinstance(node, ast.comprehension | ast.For) and isinstance(node.target, ast.Name) \
                and node.target.id in names and isinstance(node.iter, ast.Tuple | ast.List):
            values = [_number(e) for e in node.iter.elts]
            if any(v is not None and v > 0 for v in values) and any(v is not None and v < 0 for v in values):
                return True
    return False


def _difference_quotient(left: ast.AST, right: ast.AST) -> bool:
    """``f(x + h) - f(x - h)`` or ``f(x + h) - f(x)``: one callee, arguments equal but one, nudged by ``h``."""
    if not (isinstance(left, ast.Call) and isinstance(right, ast.Call)):
        return False
    if ast.dump(left.func) != ast.dump(right.func) or len(left.args) != len(right.args) or not left.args:
        return False
    differing = [(a, b) for a, b in zip(left.args, right.args, strict=True) if ast.dump(a) != ast.dump(b)]
    if len(differing) != 1:
        return False
    a, b = (_split_nudge(arg) for arg in differing[0])
    return a[1] is not None and a[0] == b[0] and (b[1] is None or b[1] == a[1])


def _split_nudge(node: ast.AST) -> tuple[str, str | None]:
    """``x + h`` as ``(dump(x), dump(h))`` when ``h`` is a name or a small number; else ``(dump(node), None)``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        step = node.right
        named = isinstance(step, ast.Name) or (isinstance(step, ast.BinOp) and isinstance(step.left, ast.Name | ast.Constant))
        if _small(step) or named and ast.dump(step) != ast.dump(node.left):  # y + y is 2y, not a step
            return ast.dump(node.left), ast.dump(step)
    return ast.dump(node), None


def _bindings(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                yield target.id, node.value
    elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and isinstance(node.target, ast.Name) and node.value:
        yield node.target.id, node.value


def _literal_getattr(node: ast.AST) -> tuple[ast.expr, str] | None:
    """``getattr(obj, "name")`` (and set/del/hasattr) as ``(obj, "name")``: just an attribute access."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_FUNCTIONS
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
        return node.args[0], node.args[1].value
    return None


def _chain(node: ast.Attribute) -> list[ast.Attribute]:
    """The links of ``a.b.c`` from the innermost (``a.b``) outwards."""
    links = []
    current: ast.AST = node
    while isinstance(current, ast.Attribute):
        links.append(current)
        current = current.value
    return links[::-1]


def _own_backward(base: ast.AST, classes: set[str]) -> bool:
    """``Other.backward(ctx, g)`` on a class of the module, or ``super().backward``: the chain rule reused."""
    if isinstance(base, ast.Name) and base.id in classes:
        return True
    return isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super"


def _is_class_or_module(dotted: str) -> bool:
    """Whether a torch name is a class or a module (``torch.Tensor``, ``F``), rather than a function or a value."""
    import types

    value = _live(dotted)
    return isinstance(value, type | types.ModuleType)


def _same_object(resolved: str, entry: str) -> bool:
    """Whether two torch names are one object (``F.conv_transpose2d`` is ``torch.conv_transpose2d``)."""
    a, b = _live(resolved), _live(entry)
    return a is not None and a is b


def _live(dotted: str) -> Any:
    import importlib

    parts = dotted.split(".")
    if parts[0] != "torch":
        return None
    obj: Any = importlib.import_module("torch")
    for part in parts[1:]:
        try:
            obj = getattr(obj, part)
        except Exception:  # noqa: BLE001
            return None
    return obj


@lru_cache(maxsize=64)
def _parsed(source: str) -> Nodes | None:
    """The module's nodes, parsed once for its scan and every target's :func:`reach`; ``None``: it does not
    parse (it fails to load instead)."""
    try:
        return Nodes(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def forget() -> None:
    """Drop the scans and parsed modules kept for reuse, so that nothing of one student's code stays in the memory
    a later student's sandbox child is a copy of."""
    scan.cache_clear()
    _parsed.cache_clear()


@lru_cache(maxsize=64)
def scan(source: str, imports: tuple[str, ...] = DEFAULT_IMPORTS, forbid: tuple[str, ...] = (),
         own: tuple[str, ...] = ()) -> tuple[Finding, ...]:
    """Every finding in ``source``; an unparsable module has none (it fails to load instead). ``own``: the
    student's own modules, whose classes' backward the module may call."""
    nodes = _parsed(source)
    if nodes is None:
        return ()
    try:
        return tuple(_Scan(nodes, imports, forbid, own).run())
    except RecursionError:
        return (Finding(0, "the module", "is nested too deeply to be checked (an expression thousands of levels "
                                          "deep); write it plainly", None),)


def reach(source: str, target: str) -> frozenset[str | None]:
    """The top-level units whose code can run for ``target``: module level (``None``), its class, and every
    module-level function or class reached by name from those, transitively."""
    nodes = _parsed(source)
    if nodes is None:  # as for scan: the module fails to load
        return frozenset()
    tree = nodes.tree
    units = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)}
    loose: list[ast.AST] = []
    for node in tree.body:
        if _main_guard(node):
            assert isinstance(node, ast.If)
            loose.extend(node.orelse)  # the body never runs when the grader imports the module
        elif not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            loose.append(node)
    found: set[str | None] = {None}
    todo: list[ast.AST] = list(loose)
    for name, unit in units.items():
        if unit.decorator_list:  # a decorator runs at import and may register the unit anywhere
            found.add(name)
            todo.append(unit)
    if target in units:
        found.add(target)
        todo.append(units[target])
    while todo:
        current = todo.pop()
        for sub in nodes.walk(current):
            if isinstance(sub, ast.Name) and sub.id in units and sub.id not in found:
                found.add(sub.id)
                todo.append(units[sub.id])
    return frozenset(found)


def findings_for(source: str, target: str, imports: tuple[str, ...] = DEFAULT_IMPORTS,
                 forbid: tuple[str, ...] = (), siblings: dict[str, bytes] | None = None,
                 own: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What the scan found in the code that runs for ``target``, as ``"line N: code why"`` texts.

    ``siblings`` are the submission's other ``.py`` files (name to bytes): the module may import them like
    any allowed module, and each is read by the same rules, its findings counting for every target. ``own``
    names more modules of the student's (a capstone's used ones, :mod:`grader.uses`), which may be missing.
    A class imported from a sibling or an ``own`` module is the student's: calling its backward is the chain
    rule reused.
    """
    local = {name[:-3]: data for name, data in (siblings or {}).items() if name.endswith(".py")}
    allowed = (*imports, *sorted(local))
    mine = tuple(sorted({*local, *own}))
    found = scan(source, allowed, forbid, mine)
    units = reach(source, target)
    texts = [f.text() for f in sorted(set(found), key=lambda f: (f.line, f.code)) if f.unit in units]
    for stem, data in sorted(local.items()):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            texts.append(f"{stem}.py is not UTF-8 text, so it cannot be checked")
            continue
        texts.extend(f"{stem}.py {f.text()}" for f in scan(text, allowed, forbid, mine))
    return tuple(texts)
