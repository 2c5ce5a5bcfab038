"""The dynamic half of the integrity policy: what actually ran while the student's Function ran.

The static scan (:mod:`grader.integrity.static`) reads the source in the trusted process; this layer watches
the child at the ATen level, through a ``TorchDispatchMode`` that sees every tensor operation, whatever
Python name it was reached by. It is active only while the student's ``forward`` and ``backward`` run (an
*episode*: one forward, then one raw backward), and records, in words a student understands:

- a backward kernel (``aten.gelu_backward``, ``aten.convolution_backward``, ``_log_softmax_backward_data``):
  someone else's derivative;
- an operation run by the autograd engine (``torch._C._current_graph_task_id() != -1``) or with grad mode
  switched back on (forward and backward both run with it off): the engine working out the gradient;
- an operation while a forward-mode AD level is open: dual numbers;
- complex numbers: the complex step ``Im f(x + ih) / h``;
- finite differences. A finite difference evaluates the function at nudged inputs ``x ± h·v`` with
  ``h`` tiny relative to ``x``. Two signs give it away: the same operation run again with all its tensor
  arguments equal to an earlier call's except one, which differs from it by a tiny non-zero amount (the
  same computation, nudged); or two different nudged copies of one forward input used in one episode.
  "Tiny" is a relative change in ``(1e-11, 1e-4]`` of the input's largest entry: a rounding difference is
  below it, an honest shift such as ``x - x.max()`` far above it.

It also counts operations per phase, so the trusted side can tell a backward that loops over elements.

Student code cannot switch the mode off without names the static scan rejects (``torch._C``,
``torch.utils._python_dispatch``), and everything here is bound when the module is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.autograd.forward_ad as _forward_ad
from torch.utils._python_dispatch import TorchDispatchMode

_Tensor = torch.Tensor
_isinstance = isinstance
_is_grad_enabled = torch.is_grad_enabled
_graph_task = torch._C._current_graph_task_id
_no_grad = torch.no_grad
_equal = torch.equal

NUDGE_LOW = 1e-11
NUDGE_HIGH = 1e-4
MAX_REMEMBERED = 256
MAX_REMEMBERED_ELEMENTS = 1 << 22


def _tree_leaves(value: Any) -> list[Any]:
    """The leaves of an op's arguments or results (tuples, lists and dicts of tensors and numbers)."""
    if _isinstance(value, tuple | list):
        return [leaf for item in value for leaf in _tree_leaves(item)]
    if _isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _tree_leaves(item)]
    return [value]


def _nudge(new: torch.Tensor, old: torch.Tensor) -> float:
    """``max|new - old|`` relative to ``max|old|`` for two float tensors of one shape, else ``-1``."""
    if new.shape != old.shape or new.dtype != old.dtype or not new.dtype.is_floating_point or new.numel() < 2:
        return -1.0
    scale = float(old.abs().max())
    if scale == 0.0 or scale != scale:
        return -1.0
    return float((new - old).abs().max()) / scale


def _tiny(change: float) -> bool:
    return NUDGE_LOW < change <= NUDGE_HIGH


def _fingerprint(new: torch.Tensor, old: torch.Tensor) -> tuple[float, float]:
    """Tells nudges apart: ``x + h`` and ``x - h``, or nudges of different elements, differ here."""
    delta = (new - old).reshape(-1)
    weights = torch.linspace(1.0, 2.0, delta.numel(), dtype=delta.dtype)
    return float(delta.sum()), float((delta * weights).sum())


class IntegrityWatch(TorchDispatchMode):
    """Records what the student's forward and backward ran; see the module docstring for what counts."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """No compiler runs in the child, so the handler needs no dynamo guard (importing it costs seconds)."""
        return False

    def __init__(self) -> None:
        super().__init__()
        self.findings: set[str] = set()
        self.counts = {"forward": 0, "backward": 0}
        self._phase: str | None = None
        self._inputs: list[torch.Tensor] = []
        self._calls: dict[tuple[Any, ...], list[list[Any]]] = {}
        self._remembered = 0
        self._nudges: dict[int, set[tuple[float, float]]] = {}

    def episode(self, inputs: Sequence[Any]) -> None:
        """Start a fresh forward-then-backward: forget earlier calls, remember these forward inputs."""
        self._inputs = [t.detach().clone() for t in inputs if _isinstance(t, _Tensor) and t.dtype.is_floating_point]
        self._calls = {}
        self._remembered = 0
        self._nudges = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Watch the student's code for the duration: ``forward`` or ``backward``."""
        self._phase = name
        try:
            with self:
                yield
        finally:
            self._phase = None

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if self._phase is not None:
            with _no_grad():
                self._observe(func, args, kwargs or {}, out)
        return out

    def _observe(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = str(func)
        self.counts[self._phase or "forward"] += 1
        if _forward_ad._current_level >= 0:
            # Arithmetic on dual tensors from inside the handler crashes torch, so look no further.
            self.findings.add("used forward-mode automatic differentiation (dual numbers)")
            return
        packet = name.split(".")[1] if "." in name else name
        if "backward" in packet:
            self.findings.add(f"ran PyTorch's own backward kernel {packet} (someone else's derivative)")
        if _graph_task() != -1:
            self.findings.add("ran the autograd engine to compute the gradient")
        elif _is_grad_enabled():
            self.findings.add("ran tensor operations with autograd switched back on (enable_grad or similar), "
                              "to let autograd work out the gradient")
        tensors = [a for a in _tree_leaves((args, kwargs)) if _isinstance(a, _Tensor)]
        outputs = [o for o in _tree_leaves(out) if _isinstance(o, _Tensor)]
        if any(t.is_complex() for t in tensors + outputs):
            self.findings.add("used complex numbers: the complex step Im f(x + ih) / h is numerical "
                              "differentiation, not backpropagation")
        self._nudged_inputs(tensors)
        self._nudged_call(func, args, kwargs)

    def _nudged_inputs(self, tensors: list[torch.Tensor]) -> None:
        for tensor in tensors:
            for i, original in enumerate(self._inputs):
                if _tiny(_nudge(tensor, original)):
                    seen = self._nudges.setdefault(i, set())
                    seen.add(_fingerprint(tensor, original))
                    if len(seen) >= 2:
                        self.findings.add(_FINITE_DIFFERENCES)

    def _nudged_call(self, func: Any, args: tuple, kwargs: dict) -> None:
        flat = _tree_leaves((args, kwargs))
        key = (func, tuple((tuple(a.shape), a.dtype) if _isinstance(a, _Tensor) else repr(a) for a in flat))
        history = self._calls.setdefault(key, [])
        for previous in history:
            if _same_but_nudged(flat, previous):
                self.findings.add(_FINITE_DIFFERENCES)
                break
        size = sum(a.numel() for a in flat if _isinstance(a, _Tensor))
        if len(history) < 8 and self._remembered < MAX_REMEMBERED and size <= MAX_REMEMBERED_ELEMENTS:
            history.append([a.detach().clone() if _isinstance(a, _Tensor) else a for a in flat])
            self._remembered += 1


_FINITE_DIFFERENCES = ("evaluated the function at nudged inputs (x ± h): finite differences are not "
                       "backpropagation; work the derivative out with the chain rule")


def _same_but_nudged(flat: list[Any], previous: list[Any]) -> bool:
    """Every tensor argument equal to the earlier call's, except at least one that differs by a tiny nudge."""
    nudged = False
    for now, then in zip(flat, previous, strict=True):
        if not _isinstance(now, _Tensor):
            continue
        if _equal(now, then):
            continue
        if not _tiny(_nudge(now, then)):
            return False
        nudged = True
    return nudged


def warm_up() -> None:
    """Enter the mode once, so that the machinery it loads on first use is loaded in the server before it
    forks, not again in every child (about a second each)."""
    watch = IntegrityWatch()
    probe = torch.ones(2, dtype=torch.float64)
    watch.episode([probe])
    with _no_grad(), watch.phase("backward"):
        (probe * 2 + probe).sum()


warm_up()
