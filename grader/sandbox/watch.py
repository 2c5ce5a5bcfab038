"""Noticing autograd used inside a student's backward (the ``forbidden_api`` diagnosis).

Backward must work out the gradient itself. While the watch is active it records calls to the autograd
engine (``torch.autograd.grad``, ``torch.autograd.backward``, ``Tensor.backward``), to the functional
transforms (``torch.func``, ``torch.autograd.functional``) and any switch of grad mode back on
(``torch.enable_grad``, ``torch.set_grad_enabled(True)``). This is one of two layers: the trusted process
also reads the backward's source (:mod:`grader.policy`), which the child cannot tamper with.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch


class AutogradWatch:
    """Wraps autograd entry points so that calling them while :meth:`active` is recorded in :attr:`seen`."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._active = False

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self._active = True
        try:
            yield
        finally:
            self._active = False

    def _note(self, name: str) -> None:
        if self._active:
            self.seen.add(name)

    def _wrap(self, owner: Any, attr: str, name: str) -> None:
        original = getattr(owner, attr, None)
        if original is None:
            return
        watch = self

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            watch._note(name)
            return original(*args, **kwargs)

        setattr(owner, attr, wrapper)

    def _wrap_enable_grad(self) -> None:
        cls = torch.enable_grad
        original_enter = cls.__enter__
        watch = self

        def enter(mode: Any) -> Any:
            watch._note("torch.enable_grad")
            return original_enter(mode)

        cls.__enter__ = enter  # type: ignore[method-assign]

    def _wrap_set_grad_enabled(self) -> None:
        cls = torch.set_grad_enabled
        original_init = cls.__init__
        watch = self

        def init(mode: Any, *args: Any, **kwargs: Any) -> None:
            if bool(args[0] if args else kwargs.get("mode", False)):
                watch._note("torch.set_grad_enabled(True)")
            original_init(mode, *args, **kwargs)

        cls.__init__ = init  # type: ignore[method-assign,assignment]

    def install(self) -> None:
        self._wrap(torch.autograd, "grad", "torch.autograd.grad")
        self._wrap(torch.autograd, "backward", "torch.autograd.backward")
        self._wrap(torch.Tensor, "backward", "Tensor.backward")
        for attr in ("grad", "vjp", "jacrev", "jacfwd", "jvp", "hessian", "grad_and_value"):
            self._wrap(torch.func, attr, f"torch.func.{attr}")
        for attr in ("jacobian", "vjp", "jvp", "hessian", "vhp", "hvp"):
            self._wrap(torch.autograd.functional, attr, f"torch.autograd.functional.{attr}")
        self._wrap_enable_grad()
        self._wrap_set_grad_enabled()
