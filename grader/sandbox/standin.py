"""Reference ops that stand in, inside the child, for a capstone's used ops the student got wrong or left out.

A capstone (``uses:`` in its exercise.yaml, :mod:`grader.uses`) imports the student's earlier ops by module
name. Where one is wrong, the trusted process asks for a stand-in: a ``torch.autograd.Function`` named like the
op, whose forward evaluates the op's ``reference:`` expression from the instructor's spec and whose backward is
autograd's VJP of that expression. It is registered in ``sys.modules`` under the module's name before the
student's capstone is imported, so ``from normalization import LayerNorm`` gets it. It works wherever the
specs are (a student's own repository has no ``solutions/``), and it hands the student no formula: its code
is the grader's, and the derivative comes from autograd at run time.

Two things keep student code from turning it into a way around the policy:

- every name the reference reads from ``torch``, ``F`` and ``math`` is looked up when the stand-in is built,
  before any student code runs, so replacing ``torch.nn.functional.layer_norm`` later changes nothing here
  (and the static scan rejects such monkeypatching anyway);
- the integrity watch looks away only while the stand-in's own backward runs, through
  :meth:`grader.sandbox.watch.IntegrityWatch.paused` and a key the runner keeps in a closure; it accepts only
  exact ``torch.Tensor`` arguments, so no student code (a tensor subclass) can run while the watch looks away.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import sys
import types
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from grader.sandbox.watch import IntegrityWatch

_Function = torch.autograd.Function
_Tensor = torch.Tensor
_enable_grad = torch.enable_grad
_autograd_grad = torch.autograd.grad
_zeros_like = torch.zeros_like
_detach = torch._C.TensorBase.detach
_requires_grad = torch._C.TensorBase.requires_grad_
_type = type
_eval = eval
_ROOTS: dict[str, Any] = {"torch": torch, "F": F, "math": math}


def bound_names(expression: str) -> dict[str, Any]:
    """``torch``, ``F`` and ``math`` as namespaces that hold only what ``expression`` reads from them, looked up
    now: ``F.layer_norm`` becomes the function object itself, whatever ``F.layer_norm`` is later."""
    tree = ast.parse(expression, mode="eval")
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    scope: dict[str, Any] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain: list[str] = []
        current: ast.AST = node
        while isinstance(current, ast.Attribute):
            chain.insert(0, current.attr)
            current = current.value
        if not isinstance(current, ast.Name) or current.id not in _ROOTS:
            continue
        obj = _ROOTS[current.id]
        holder = scope.setdefault(current.id, types.SimpleNamespace())
        for part in chain[:-1]:
            obj = getattr(obj, part)
            if not isinstance(getattr(holder, part, None), types.SimpleNamespace):
                setattr(holder, part, types.SimpleNamespace())
            holder = getattr(holder, part)
        if not hasattr(holder, chain[-1]):
            setattr(holder, chain[-1], getattr(obj, chain[-1]))
    return scope


def stand_in(entry: dict[str, Any], watch: IntegrityWatch, key: object) -> type:
    """The Function for one entry of a job's ``substitutes`` (:func:`grader.uses.stand_ins`)."""
    name = entry["name"]
    code = compile(entry["reference"], f"<reference {name}>", "eval")
    scope = bound_names(entry["reference"])
    names = [a["name"] for a in entry["args"]]
    wanted = [a["kind"] == "tensor" for a in entry["args"]]

    def evaluate(args: tuple[Any, ...]) -> Any:
        if len(args) != len(names):
            raise TypeError(f"{name} takes {len(names)} arguments after ctx ({', '.join(names)}), got {len(args)}")
        return _eval(code, {**scope, **dict(zip(names, args, strict=True))})  # noqa: S307 - the instructor's spec

    def forward(ctx: Any, *args: Any) -> Any:
        ctx.reference_args = args
        return evaluate(args)

    def backward(ctx: Any, grad_output: Any) -> tuple[Any, ...]:
        args = tuple(ctx.reference_args)
        if _type(grad_output) is not _Tensor or any(w and _type(a) is not _Tensor for a, w in zip(args, wanted,
                                                                                                   strict=True)):
            raise TypeError(f"the reference {name} takes plain torch.Tensor arguments and grad_output")
        with watch.paused(key), _enable_grad():
            leaves = tuple(_requires_grad(_detach(a), True) if w else a for a, w in zip(args, wanted, strict=True))
            inputs = [leaf for leaf, w in zip(leaves, wanted, strict=True) if w]
            grads = list(_autograd_grad(evaluate(leaves), inputs, grad_output, allow_unused=True))
        out: list[Any] = []
        for leaf, w in zip(leaves, wanted, strict=True):
            grad = grads.pop(0) if w else None
            out.append(_zeros_like(_detach(leaf)) if w and grad is None else grad)
        return tuple(out)

    doc = f"The reference {name} ({entry['reference']}), which the grader ran in place of yours."
    return _type(name, (_Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward),
                                      "__doc__": doc, "__module__": entry["module"]})


def stand_ins(entries: list[dict[str, Any]], watch: IntegrityWatch, key: object) -> list[tuple[dict, type]]:
    """Every stand-in of a job, built before any student code runs."""
    return [(entry, stand_in(entry, watch, key)) for entry in entries]


def install(made: list[tuple[dict, type]], workdir: Path) -> None:
    """Register the stand-ins under their modules' names. A module whose every used op is replaced is the
    grader's alone; otherwise the student's module is imported (in the caller's watched phase) and only the
    replaced ops are swapped."""
    modules: dict[str, Any] = {}
    for entry, cls in made:
        module_name = entry["module"]
        if module_name not in modules:
            path = workdir / f"{module_name}.py"
            if entry["whole"] or not path.is_file():
                modules[module_name] = types.ModuleType(module_name, "the grader's reference ops")
            else:
                modules[module_name] = load_module(path, module_name)
            sys.modules[module_name] = modules[module_name]
        setattr(modules[module_name], entry["name"], cls)


def load_module(path: Path, name: str) -> Any:
    """The module at ``path``, imported and registered as ``name`` in ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
