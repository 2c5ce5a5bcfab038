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
- finite differences: evaluating one function at two points that differ by a *step*. A step is small (at
  most 1% of the argument's largest entry) or, of any size, the same number everywhere (``x + h``) or a
  single element (``x + h·e_j``, exact for linear maps whatever ``h``). Seen three ways:

  - the backward runs one operation twice with the same arguments but one, and that one moved by a step
    (``sigmoid(x + h)`` and ``sigmoid(x - h)``, in tensors or after a round trip through numpy);
  - a subtraction of two results computed the same way (the same operations, traced back through the
    tensors that made them) from stepped inputs, or of two values within 0.1% of each other where one is the
    forward's output or made by an operation the forward ran (``alt(x + h) - y``);
  - one tensor holding several stepped copies of a forward input (``x + h·I`` batched, ``cat([x+h, x-h])``).

  An honest backward may recompute the forward once, exactly or with an epsilon (``a / (b + 1e-8)``): it
  neither evaluates twice at stepped points nor subtracts two such evaluations, so it is not flagged. The
  checks stop after a budget of comparisons per episode, so a backward that loops over elements stays fast.

It also counts operations per phase, so the trusted side can tell a backward that loops over elements.

Student code cannot switch the mode off without names the static scan rejects (``torch._C``,
``torch.utils._python_dispatch``), and everything here is bound when the module is imported, from
``torch._C.TensorBase``, whose C methods no Python code can replace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.autograd.forward_ad as _forward_ad
from torch.utils._python_dispatch import TorchDispatchMode

_TB = torch._C.TensorBase
_Tensor = torch.Tensor
_type = type
_isinstance = isinstance
_is_grad_enabled = torch.is_grad_enabled
_graph_task = torch._C._current_graph_task_id
_no_grad = torch.no_grad
_equal = torch.equal
_abs = torch.abs
_amax = torch.amax
_sub = torch.sub
_count_nonzero = torch.count_nonzero
_reshape = torch.reshape
_unique = torch.unique
_data_ptr = _TB.data_ptr
_stride = _TB.stride
_offset = _TB.storage_offset
_numel = _TB.numel
_is_complex = _TB.is_complex
_detach = _TB.detach
_clone = _TB.clone
_shape: Any = _TB.__dict__["shape"].__get__
_dtype: Any = _TB.__dict__["dtype"].__get__

SMALL_STEP = 1e-2
CLOSE = 1e-3
ROUNDING = 1e-12
MAX_MADE = 1 << 14
MAX_ROWS = 1 << 12
BUDGET = 400
MAX_REMEMBERED = 8
MAX_ELEMENTS = 1 << 16
DEPTH = 12
SUBTRACTIONS = frozenset({"aten.sub.Tensor", "aten.sub_.Tensor", "aten.rsub.Tensor", "aten.sub.Scalar"})

FINITE_DIFFERENCES = ("evaluated the function at stepped inputs (x ± h): finite differences are "
                      "not backpropagation; work the derivative out with the chain rule")


def _tree_leaves(value: Any) -> list[Any]:
    """The leaves of an op's arguments or results (tuples, lists and dicts of tensors and numbers)."""
    if _isinstance(value, tuple | list):
        return [leaf for item in value for leaf in _tree_leaves(item)]
    if _isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _tree_leaves(item)]
    return [value]


def _plain(value: Any) -> bool:
    """An exact ``torch.Tensor``: the only kind the watch computes with (a subclass could run its own code)."""
    return _type(value) is _Tensor


def _key(tensor: torch.Tensor) -> tuple[Any, ...]:
    """Which tensor this is, by memory: the same values seen again through ``ctx.saved_tensors`` match."""
    return _data_ptr(tensor), tuple(_shape(tensor)), tuple(_stride(tensor)), _offset(tensor)


def _floating(tensor: Any) -> bool:
    return _plain(tensor) and _dtype(tensor).is_floating_point and _numel(tensor) >= 2


def _step(new: torch.Tensor, old: torch.Tensor) -> bool:
    """Whether ``new`` is ``old`` moved by a step (see the module docstring); ``False`` when equal."""
    if not (_floating(new) and _floating(old)) or _shape(new) != _shape(old) or _dtype(new) != _dtype(old):
        return False
    delta = _sub(new, old)
    moved = int(_count_nonzero(delta))
    if moved == 0:
        return False
    scale = float(_amax(_abs(old)))
    if moved == 1 or float(_amax(_abs(_sub(delta, _reshape(delta, (-1,))[0])))) == 0.0:
        return True  # one element, or the same number everywhere
    return scale > 0 and float(_amax(_abs(delta))) <= SMALL_STEP * scale


def _same_but_stepped(first: list[Any], second: list[Any]) -> bool:
    """Two argument lists equal everywhere but at one tensor, where one is the other moved by a step."""
    if len(first) != len(second):
        return False
    stepped = 0
    for a, b in zip(first, second, strict=True):
        if a is b:
            continue
        if _plain(a) and _plain(b):
            if _shape(a) == _shape(b) and _dtype(a) == _dtype(b) and _equal(a, b):
                continue
            if not _step(a, b):
                return False
            stepped += 1
        elif _plain(a) or _plain(b) or a != b:
            return False
    return stepped == 1


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
        self._made: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}
        self._forward_ops: set[Any] = set()
        self._output: tuple[Any, ...] | None = None
        self._calls: dict[tuple[Any, ...], list[list[Any]]] = {}
        self._budget = 0

    def episode(self, inputs: Sequence[Any], light: bool = False) -> None:
        """Start a fresh forward-then-backward: forget earlier calls, remember these forward inputs.

        ``light``: only the cheap checks (kernels, engine, grad mode, dual and complex numbers), for the many
        episodes of the training check, whose cases have had the full ones.
        """
        self._inputs = [_clone(_detach(t)) for t in inputs if _floating(t)]
        self._made = {}
        self._forward_ops = set()
        self._output = None
        self._calls = {}
        self._budget = 0 if light else BUDGET

    def forward_output(self, output: Any) -> None:
        """The tensor the forward returned: subtracting it from a value close to it is a difference quotient."""
        self._output = _key(output) if _plain(output) else None

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
        phase = self._phase or "forward"
        self.counts[phase] += 1
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
        leaves = _tree_leaves((args, kwargs))
        results = [o for o in _tree_leaves(out) if _isinstance(o, _Tensor)]
        tensors = [a for a in leaves if _isinstance(a, _Tensor)] + results
        if any(not _plain(t) for t in tensors):
            self.findings.add("passed a Tensor subclass of its own to torch, which runs code behind the grader's back")
            return
        if any(_is_complex(t) for t in tensors):
            self.findings.add("used complex numbers: the complex step Im f(x + ih) / h is numerical "
                              "differentiation, not backpropagation")
        if phase == "forward":
            self._forward_ops.add(func)
        if self._budget > 0:
            if phase == "backward":
                self._repeated(func, leaves)
            if name in SUBTRACTIONS:
                self._subtraction(leaves)
            self._stacked_steps(leaves)
        if len(self._made) < MAX_MADE:
            for result in results:
                self._made[_key(result)] = (func, leaves)

    def _repeated(self, func: Any, leaves: list[Any]) -> None:
        """The same operation run again in backward with one argument moved by a step."""
        shape = tuple((tuple(_shape(a)), _dtype(a)) if _plain(a) else repr(a) for a in leaves)
        history = self._calls.setdefault((func, shape), [])
        for previous in history:
            self._budget -= 1
            if _same_but_stepped(leaves, previous):
                self.findings.add(FINITE_DIFFERENCES)
                return
        size = sum(_numel(a) for a in leaves if _plain(a))
        if len(history) < MAX_REMEMBERED and size <= MAX_ELEMENTS:
            history.append([_clone(a) if _plain(a) else a for a in leaves])

    def _subtraction(self, leaves: list[Any]) -> None:
        operands = [a for a in leaves if _floating(a)][:2]
        if len(operands) != 2:
            return
        self._budget -= 1
        made = [self._made.get(_key(t)) for t in operands]
        if self._parallel(made[0], made[1], DEPTH):
            self.findings.add(FINITE_DIFFERENCES)
            return
        self._close_to_forward(operands, made)

    def _parallel(self, first: Any, second: Any, depth: int) -> bool:
        """Two results made by the same operation from arguments that are equal, stepped, or (recursively)
        made the same way from stepped arguments: one computation at two stepped points."""
        if first is None or second is None or first[0] != second[0] or len(first[1]) != len(second[1]):
            return False
        differing = False
        for a, b in zip(first[1], second[1], strict=True):
            if a is b:
                continue
            if _plain(a) and _plain(b):
                if _shape(a) == _shape(b) and _dtype(a) == _dtype(b) and _equal(a, b):
                    continue
                if not (_step(a, b) or depth > 0 and self._parallel(self._made.get(_key(a)),
                                                                   self._made.get(_key(b)), depth - 1)):
                    return False
                differing = True
            elif _plain(a) or _plain(b) or a != b:
                return False
        return differing

    def _close_to_forward(self, operands: list[torch.Tensor], made: list[Any]) -> None:
        """``alt(x + h) - f(x)``: two values within 0.1%, one the forward's output or made by a forward op."""
        a, b = operands
        if _shape(a) != _shape(b) or _dtype(a) != _dtype(b):
            return
        forwardish = any(m is not None and m[0] in self._forward_ops for m in made) or \
            self._output in (_key(a), _key(b))
        if not forwardish:
            return
        scale = max(float(_amax(_abs(a))), float(_amax(_abs(b))))
        gap = float(_amax(_abs(_sub(a, b))))
        if scale > 0 and ROUNDING * scale < gap <= CLOSE * scale:
            self.findings.add(FINITE_DIFFERENCES)

    def _stacked_steps(self, leaves: list[Any]) -> None:
        """One tensor holding two or more stepped copies of a forward input, to evaluate them in one call."""
        for tensor in leaves:
            if not _floating(tensor):
                continue
            size = _numel(tensor)
            for original in self._inputs:
                n = _numel(original)
                if size < 2 * n or size % n or size // n > MAX_ROWS or _dtype(tensor) != _dtype(original):
                    continue
                if _stepped_rows(_reshape(tensor, (size // n, n)), _reshape(original, (1, n))) >= 2:
                    self.findings.add(FINITE_DIFFERENCES)
                    return


def _stepped_rows(rows: torch.Tensor, original: torch.Tensor) -> int:
    """How many different steps of ``original`` the rows hold (one element, the same number everywhere, or
    small). Rows that are all the same step (``weight - weight.mean()`` broadcast over a batch) count once."""
    delta = _sub(rows, original)
    moved = _count_nonzero(delta, dim=1)
    uniform = _amax(_abs(_sub(delta, delta[:, :1])), dim=1) == 0
    scale = float(_amax(_abs(original)))
    small = _amax(_abs(delta), dim=1) <= SMALL_STEP * scale
    stepped = (moved > 0) & ((moved == 1) | uniform | small)
    return int(_unique(delta[stepped], dim=0).shape[0])  # copies that differ: x + h and x - h, or e_1 and e_2


def warm_up() -> None:
    """Enter the mode once, so that the machinery it loads on first use is loaded in the server before it
    forks, not again in every child."""
    watch = IntegrityWatch()
    probe = torch.ones(2, dtype=torch.float64)
    watch.episode([probe])
    with _no_grad(), watch.phase("backward"):
        (probe * 2 + probe).sum()


warm_up()
