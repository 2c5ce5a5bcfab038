"""Which names a hand-written backward may reach, judged against the real torch in the trusted process.

A dotted name rooted at an import (``torch.autograd.grad``, ``F.linear``, ``math.sqrt``) is walked attribute
by attribute through the live objects, so every road to the same object is judged alike:
``F.torch.autograd.grad`` is ``torch.autograd.grad``. Along the way:

- a private part (``torch._C``, ``torch._VF``, ``Tensor._grad_fn``) is internals no backward needs;
- a part that names a backward kernel (``aten.gelu_backward``, ``torch._log_softmax_backward_data``) is
  someone else's derivative;
- a module outside :data:`ALLOWED_MODULES` (``torch.func``, ``torch.ops``, ``torch.nn.grad``, ``torch.jit``,
  ``torch.sys``) is a road around the chain rule or out of the sandbox;
- ``torch.autograd`` is open only for :data:`AUTOGRAD_OPEN` (the ``Function`` class and the ctx API);
- :data:`DENIED` lists single objects with the same effect (``torch.enable_grad``, ``torch.gradient``, the
  file and pickle functions).

The same facts give the attribute names that are suspicious on *any* object, for roots the scan cannot
resolve (``[torch][0].autograd``): :func:`suspicious_attribute`.
"""

from __future__ import annotations

import re
import types
from functools import lru_cache
from typing import Any

import torch
import torch.autograd.function
import torch.nn.functional
import torch.nn.grad  # noqa: F401 - loaded so that torch.nn.grad resolves like any other module

TORCH_MODULES = frozenset({
    "torch", "torch.nn", "torch.nn.functional", "torch.functional", "torch.linalg", "torch.special", "torch.fft",
    "torch.autograd", "torch.autograd.function", "torch.types", "torch.sparse", "torch.distributions",
})
"""The torch modules whose public contents a backward may use."""

DEFAULT_IMPORTS = ("torch", "math")
"""The course's allow-list of imports when course.yaml does not set ``policy.allow_imports``."""

AUTOGRAD_OPEN = {
    "torch.autograd": frozenset({"Function", "function", "no_grad"}),
    "torch.autograd.function": frozenset({"Function", "FunctionCtx", "once_differentiable"}),
}
"""The parts of ``torch.autograd`` a student's Function needs: the class itself and its ctx helpers."""

DENIED = {
    "torch.enable_grad": "switches autograd back on inside the Function",
    "torch.set_grad_enabled": "can switch autograd back on inside the Function",
    "torch.gradient": "estimates derivatives numerically (finite differences), which is not backpropagation",
    "torch.complex": "builds complex numbers: the complex step Im f(x + ih) / h is numerical differentiation",
    "torch.view_as_complex": "builds complex numbers: the complex step Im f(x + ih) / h is numerical differentiation",
    "torch.polar": "builds complex numbers: the complex step Im f(x + ih) / h is numerical differentiation",
    "torch.load": "unpickles arbitrary objects",
    "torch.save": "writes files",
    "torch.from_file": "reads raw files",
    "torch.compile": "hands the function to a compiler that can derive its backward",
    "torch.Tensor.backward": "runs the autograd engine",
    "torch.Tensor.grad_fn": "reads the autograd graph",
    "torch.Tensor.register_hook": "hooks into the autograd engine",
    "torch.Tensor.retain_grad": "asks the autograd engine for a gradient",
}

ALWAYS_SAFE_IMPORTS = frozenset({"__future__", "typing"})
"""Imports that carry no computation and are always allowed, whatever the course's allow-list."""

_WHY_MODULE = {
    "torch.autograd": "asks autograd for the gradient",
    "torch.func": "asks torch.func (automatic differentiation) for the gradient",
    "functorch": "asks functorch (automatic differentiation) for the gradient",
    "torch.nn.grad": "calls PyTorch's own backward of a convolution",
    "torch.ops": "calls ATen kernels directly, backward kernels among them",
    "torch.utils": "reaches torch utilities no backward needs (checkpointing runs autograd)",
}

_ROOT_MODULES = frozenset({"sys", "os", "importlib", "builtins", "inspect", "ctypes", "gc", "subprocess", "socket",
                           "threading", "multiprocessing", "signal", "mmap", "pickle", "marshal", "types",
                           "operator", "code", "codeop", "runpy", "pathlib", "shutil", "io", "weakref"})


_BACKWARD = re.compile(r"(^|_)backward(_|$)")
_CTX_API = frozenset({"save_for_backward"})


def names_a_backward(attr: str) -> bool:
    """``gelu_backward``, ``_log_softmax_backward_data``, ``backward``: someone's backward, not ``save_for_backward``."""
    return bool(_BACKWARD.search(attr)) and attr not in _CTX_API


def _lookup(obj: Any, part: str) -> Any:
    try:
        return getattr(obj, part)
    except Exception:  # noqa: BLE001 - a name torch does not have is the student's runtime error, not ours
        return None


def _module_name(value: Any) -> str | None:
    if isinstance(value, types.ModuleType):
        name = getattr(value, "__name__", None)
        return name if isinstance(name, str) else "?"
    return None


def _why_module(name: str) -> str:
    for prefix, why in _WHY_MODULE.items():
        if name == prefix or name.startswith(prefix + "."):
            return why
    return f"reaches {name}, which a backward never needs"


@lru_cache(maxsize=4096)
def judge(dotted: str, imports: tuple[str, ...] = DEFAULT_IMPORTS) -> str:
    """Why ``dotted`` (a full name such as ``torch.autograd.grad``) is off limits, or ``""`` when it is fine.

    ``imports`` is the course's allow-list of top-level modules (:data:`ALWAYS_SAFE_IMPORTS` are added).
    """
    parts = dotted.split(".")
    root = parts[0]
    if root == "functorch":
        return _WHY_MODULE["functorch"]
    if root not in imports and root not in ALWAYS_SAFE_IMPORTS:
        listed = ", ".join(imports)
        return f"imports {root}, which is not on this course's list of allowed imports ({listed})"
    if root != "torch":
        return _judge_plain(parts)
    obj: Any = torch
    path = "torch"
    for part in parts[1:]:
        reason = _judge_part(path, part)
        if reason:
            return reason
        path = f"{path}.{part}"
        if path in DENIED:
            return DENIED[path]
        obj = _lookup(obj, part)
        if obj is None:
            return ""
        name = _module_name(obj)
        if name is not None and name not in TORCH_MODULES and not name.startswith("torch.distributions."):
            return _why_module(name)
        if name is not None:
            path = name
    return ""


def _judge_part(path: str, part: str) -> str:
    if part.startswith("__") and part.endswith("__"):
        return "" if part in ("__name__", "__doc__") else f"uses the internal attribute {part}"
    if part.startswith("_"):
        return f"reaches torch internals ({path}.{part})"
    if names_a_backward(part):
        return f"calls PyTorch's own backward ({path}.{part}) instead of working the derivative out"
    open_members = AUTOGRAD_OPEN.get(path)
    if open_members is not None and part not in open_members:
        return _WHY_MODULE["torch.autograd"] if path == "torch.autograd" else f"uses {path}.{part}"
    return ""


TYPING_CALLABLES = frozenset({"cast", "overload", "final", "NewType", "TypeVar", "NamedTuple", "TypedDict"})


def _judge_plain(parts: list[str]) -> str:
    """A name in an allowed module other than torch (``math.sqrt``, ``numpy.einsum``): public and harmless.

    typing is for hints: its functions that evaluate strings (``get_type_hints``) are code at run time.
    """
    if parts[0] == "typing" and len(parts) > 1:
        import typing

        member = getattr(typing, parts[1], None)
        if (types.FunctionType is type(member) or callable(member) and not isinstance(member, type)) \
                and parts[1] not in TYPING_CALLABLES and (not parts[1][:1].isupper() or parts[1] == "ForwardRef"):
            return f"calls typing.{parts[1]}, which evaluates code at run time; typing is for hints only"
    for part in parts[1:]:
        if part.startswith("_"):
            return f"reaches the internals of {parts[0]} ({part})"
        why = suspicious_attribute(part)
        if why:
            return why
    return ""


@lru_cache(maxsize=1)
def _suspicious_names() -> dict[str, str]:
    """Attribute names that reach something forbidden whatever object they are read from."""
    tensor_attrs = set(dir(torch.Tensor))
    names: dict[str, str] = {}
    for attr in dir(torch):
        name = _module_name(_lookup(torch, attr))
        if name is not None and name not in TORCH_MODULES and attr not in tensor_attrs and not attr.startswith("_"):
            names[attr] = _why_module(name)
    for attr in dir(torch.nn.grad):
        if not attr.startswith("_") and callable(getattr(torch.nn.grad, attr)) and attr != "torch":
            names[attr] = _WHY_MODULE["torch.nn.grad"]
    for module in _ROOT_MODULES:
        names.setdefault(module, f"reaches the {module} module, which a backward never needs")
    for attr in ("grad_fn", "next_functions", "register_hook", "register_prehook", "retain_grad",
                 "register_post_accumulate_grad_hook", "register_multi_grad_hook"):
        names[attr] = "reaches into the autograd graph or engine"
    for attr in ("f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next", "gi_frame",
                 "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "co_code", "co_consts"):
        names[attr] = "reads interpreter frames or code objects"
    for attr in ("from_file", "tofile", "dump", "dumps"):
        names[attr] = "reads or writes raw files"
    names["as_subclass"] = "turns a tensor into a subclass, whose own code runs behind the grader's back"
    for attr in ("apply_", "map_", "map2_"):
        names[attr] = "runs a Python function element by element, out of sight of the grader"
    names["gradient"] = DENIED["torch.gradient"]
    for attr in ("imag", "view_as_complex", "polar"):
        names[attr] = "uses complex numbers: the complex step Im f(x + ih) / h is numerical differentiation"
    names["enable_grad"] = DENIED["torch.enable_grad"]
    return names


@lru_cache(maxsize=1)
def ctx_private_names() -> frozenset[str]:
    """Private names of a Function's ``ctx`` itself (``_forward_cls``, ``_raw_saved_tensors``...): a student may
    keep private attributes of their own on ``ctx``, but these are the autograd machinery."""
    owners: list[Any] = [torch.autograd.function.BackwardCFunction, torch.autograd.function.FunctionCtx,
                         torch._C._FunctionBase]
    found = {n for owner in owners for n in dir(owner) if n.startswith("_") and not n.startswith("__")}
    return frozenset(found | {"_forward_cls", "_backward_cls", "_raw_saved_tensors"})


def suspicious_attribute(attr: str) -> str:
    """Why reading ``.attr`` on an object the scan cannot resolve is off limits, or ``""``."""
    if names_a_backward(attr):
        return f"calls a backward ({attr}) instead of working the derivative out"
    if attr.startswith("_saved_") or attr.startswith("_raw_saved_"):
        return "reads the autograd graph's saved tensors"
    return _suspicious_names().get(attr, "")
