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

import numpy as np
import torch
import torch.autograd.forward_ad as _forward_ad
from torch.utils._python_dispatch import TorchDispatchMode

from grader.sandbox.memory import (
    _NUMPY,
    _TB,
    _data_ptr,
    _dtype,
    _numel,
    _offset,
    _shape,
    _stride,
    _Tensor,
    _type,
    as_tensor,
    host_array,
    snapshot,
)

_isinstance = isinstance
_is_grad_enabled = torch._C.is_grad_enabled
_set_grad_enabled = torch._C._set_grad_enabled
_graph_task = torch._C._current_graph_task_id
_equal = torch.equal
_abs = torch.abs
_amax = torch.amax
_sub = torch.sub
_count_nonzero = torch.count_nonzero
_reshape = torch.reshape
_median = torch.median
_unique = torch.unique
_is_complex = _TB.is_complex
_detach = _TB.detach
_clone = _TB.clone
_version: Any = _TB.__dict__["_version"].__get__

SMALL_STEP = 1e-2
CLOSE = 1e-3
ROUNDING = 1e-12
ROUNDING_STEP = 1e-10
MAX_MADE = 1 << 14
MAX_ROWS = 1 << 12
FULL_CALLS = 64
SAMPLE_EVERY = 16
MAX_VISITS = 64
MAX_REMEMBERED = 8
MAX_ELEMENTS = 1 << 16
DEPTH = 12
SUBTRACTIONS = frozenset({"aten.sub.Tensor", "aten.sub_.Tensor", "aten.rsub.Tensor", "aten.sub.Scalar"})
MATMULS = frozenset({"aten.mm.default", "aten.bmm.default", "aten.addmm.default", "aten.matmul.default",
                     "aten.linear.default", "aten.baddbmm.default"})
ADDITIONS = frozenset({"aten.add.Tensor", "aten.add_.Tensor"})
# What the autograd machinery itself runs, with grad mode on, as the forward returns (saving an output detaches it)
AUTOGRAD_OWN = frozenset({"aten.detach.default", "aten.alias.default"})
NEGATIONS = frozenset({"aten.neg.default", "aten.mul.Scalar", "aten.mul.Tensor"})

FINITE_DIFFERENCES = ("evaluated the function at stepped inputs (x ± h): finite differences are "
                      "not backpropagation; work the derivative out with the chain rule")


def _tree_leaves(value: Any) -> list[Any]:
    """The leaves of an op's arguments or results (tuples, lists and dicts of tensors and numbers)."""
    if _isinstance(value, tuple | list):
        return [leaf for item in value for leaf in _tree_leaves(item)]
    if _isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _tree_leaves(item)]
    return [value]


_FACTS: dict[Any, tuple[str, str]] = {}


def _op_facts(func: Any) -> tuple[str, str]:
    """An operator's name (``aten.sub.Tensor``) and, for a backward kernel, its packet name (else ``""``),
    worked out once per operator: the handler sees thousands of calls of a few operators."""
    facts = _FACTS.get(func)
    if facts is None:
        name = str(func)
        packet = name.split(".")[1] if "." in name else name
        facts = _FACTS[func] = (name, packet if "backward" in packet else "")
    return facts


def _leaves(args: tuple, kwargs: dict) -> list[Any]:
    """The leaves of an op's arguments: most calls pass tensors, numbers and lists of sizes, and no keywords."""
    if kwargs:
        return _tree_leaves((args, kwargs))
    found: list[Any] = []
    for item in args:
        if _isinstance(item, tuple | list):
            for inner in item:
                if _isinstance(inner, tuple | list | dict):
                    found.extend(_tree_leaves(inner))
                else:
                    found.append(inner)
        elif _isinstance(item, dict):
            found.extend(_tree_leaves(item))
        else:
            found.append(item)
    return found


def _plain(value: Any) -> bool:
    """An exact ``torch.Tensor``: the only kind the watch computes with (a subclass could run its own code)."""
    return _type(value) is _Tensor


def _key(tensor: torch.Tensor) -> tuple[Any, ...]:
    """Which tensor this is, by memory: the same values seen again through ``ctx.saved_tensors`` match."""
    return _data_ptr(tensor), tuple(_shape(tensor)), tuple(_stride(tensor)), _offset(tensor)


def _floating(tensor: Any) -> bool:
    return _plain(tensor) and _dtype(tensor).is_floating_point and _numel(tensor) >= 2


def _step(new: torch.Tensor, old: torch.Tensor) -> bool:
    """Whether ``new`` is ``old`` moved by a step (see the module docstring); ``False`` when equal.

    Tensors of one size but another shape (``x`` and ``x.unsqueeze(0)``) are compared element by element. A
    step may also leave one element far off (a padding slot used to inflate the scale).
    """
    if not (_floating(new) and _floating(old)) or _numel(new) != _numel(old) or _dtype(new) != _dtype(old):
        return False
    delta = _sub(_reshape(new, (-1,)), _reshape(old, (-1,)))
    moved = int(_count_nonzero(delta))
    if moved == 0:
        return False
    if moved == 1 or float(_amax(_abs(_sub(delta, delta[0])))) == 0.0:
        return True  # one element, or the same number everywhere
    size = _abs(_reshape(old, (-1,)))
    bound = SMALL_STEP * (size + float(_median(size)))
    far = int(_count_nonzero(_abs(delta) > bound))
    return far == 0 or far == 1 and _numel(old) >= 8


def _small_step(new: torch.Tensor, old: torch.Tensor) -> bool:
    """A step a finite difference takes with the same function twice: every element moved by at most 1% of
    the largest, by more than rounding, on a tensor that is not a constant (``full_like(x, 2)`` and
    ``full_like(x, -2)`` are two constants, not a step). One element moved is an accumulator, not a step."""
    if not (_floating(new) and _floating(old)) or _numel(new) != _numel(old) or _dtype(new) != _dtype(old):
        return False
    flat_old = _reshape(old, (-1,))
    delta = _sub(_reshape(new, (-1,)), flat_old)
    if int(_count_nonzero(delta)) < 2 or float(_amax(_abs(_sub(flat_old, flat_old[0])))) == 0.0:
        return False
    scale = float(_amax(_abs(flat_old)))
    gap = float(_amax(_abs(delta)))
    return scale > 0 and ROUNDING_STEP * scale < gap <= SMALL_STEP * scale


def _same_but_stepped(first: list[Any], second: list[Any], skip: Sequence[int] = ()) -> bool:
    """Two argument lists equal everywhere but at one tensor, where one is the other moved by a step.

    ``skip``: storage addresses of buffers changed in place between the calls, which are never a step."""
    if len(first) != len(second):
        return False
    stepped = 0
    for a, b in zip(first, second, strict=True):
        if a is b:
            continue
        if _plain(a) and _plain(b):
            if _same(a, b):
                continue
            if _data_ptr(a) in skip or not _small_step(a, b):
                return False
            stepped += 1
        elif _plain(a) or _plain(b) or a != b:
            return False
    return stepped == 1


def _negated(made: Any) -> torch.Tensor | None:
    """What ``-t``, ``t.neg()`` or ``t * -1`` negated, from the record of how a tensor was made."""
    if made is None or _op_facts(made[0])[0] not in NEGATIONS or not made[1] or not _floating(made[1][0]):
        return None
    if _op_facts(made[0])[0] == "aten.neg.default":
        return made[1][0]
    factor: Any = made[1][1] if len(made[1]) > 1 else None
    if _plain(factor) and _numel(factor) == 1:
        factor = float(factor)
    return made[1][0] if _type(factor) in (int, float) and factor == -1 else None


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, also across shapes of one size."""
    if _dtype(a) != _dtype(b) or _numel(a) != _numel(b):
        return False
    return bool(_equal(_reshape(a, (-1,)), _reshape(b, (-1,))))


class GradOff:
    """``torch.no_grad()`` from torch's own switch, taken when the grader was imported: ``no_grad`` looks up
    ``torch.set_grad_enabled`` each time it runs (a student's module could have replaced it), and costs ~5 µs
    to this ~0.5 µs, in a run that switches gradients off some 700 times."""

    __slots__ = ("_previous",)

    def __enter__(self) -> None:
        self._previous = _is_grad_enabled()
        _set_grad_enabled(False)

    def __exit__(self, *exc: object) -> None:
        _set_grad_enabled(self._previous)


class Phase:
    """What :meth:`IntegrityWatch.phase` returns: the watch's phase is ``name`` inside, the one before after."""

    __slots__ = ("_watch", "_name", "_previous")

    def __init__(self, watch: IntegrityWatch, name: str) -> None:
        self._watch, self._name = watch, name

    def __enter__(self) -> None:
        self._previous, self._watch._phase = self._watch._phase, self._name

    def __exit__(self, *exc: object) -> None:
        self._watch._phase = self._previous


class IntegrityWatch(TorchDispatchMode):
    """Records what the student's forward and backward ran; see the module docstring for what counts."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """No compiler runs in the child, so the handler needs no dynamo guard (importing it costs seconds)."""
        return False

    def __init__(self, key: object | None = None) -> None:
        super().__init__()
        self._pause_key = key
        self._paused = False
        self.findings: set[str] = set()
        self.counts = {"forward": 0, "backward": 0}
        self._phase: str | None = None
        self._inputs: list[Original] = []
        self._sources: dict[int, tuple[np.ndarray, Original]] = {}
        self._made: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}
        self._forward_ops: set[Any] = set()
        self._output: np.ndarray | torch.Tensor | None = None
        self._calls: dict[tuple[Any, ...], list[tuple[list[Any], list[int | None]]]] = {}
        self._seen: dict[tuple[Any, ...], int] = {}
        self._units: set[tuple[int, int]] = set()
        self._stack_checked: set[tuple[Any, ...]] = set()
        self._stacks: dict[tuple[Any, int], Stacks] = {}
        self._full = False

    def episode(self, inputs: Sequence[Any], light: bool = False,
                sources: Sequence[np.ndarray | None] | None = None) -> None:
        """Start a fresh forward-then-backward: forget earlier calls, remember these forward inputs.

        ``light``: only the cheap checks (kernels, engine, grad mode, dual and complex numbers), for the many
        episodes of the training check and the finite-difference probes, whose cases have had the full ones.
        Only the full checks look at the inputs (for stacked copies), so only they keep a copy.

        ``sources``: for each input, the array it was just copied from (the job's own, which the student's code
        never sees), or ``None``. The watch keeps that array instead of copying the input again, and works out
        what the stacked-copies screen needs of it once per job, not once per episode: for a 10⁶-element input,
        three passes over 8 MB saved in every call of the case.
        """
        given = list(sources) if sources is not None else [None] * len(inputs)
        inputs = [self._remember(t, source) for t, source in zip(inputs, given, strict=True) if _floating(t)] \
            if not light else []
        if not _same_originals(inputs, self._inputs):
            self._stacks = {}  # the ways to stack copies of these inputs, kept while a case's calls repeat them
        self._inputs = inputs
        self._made = {}
        self._forward_ops = set()
        self._output = None
        self._calls = {}
        self._units = set()
        self._stack_checked = set()
        self._seen = {}
        self._full = not light

    def _remember(self, tensor: torch.Tensor, source: np.ndarray | None) -> Original:
        """:func:`_original` of a forward input; from ``source`` when it is the input's pristine copy (the same
        dtype, size and layout), made once per source array (kept here with it, so its ``id`` stays its own)."""
        if (source is None or _type(source) is not np.ndarray or source.dtype != _NUMPY.get(_dtype(tensor))
                or source.size != _numel(tensor) or not source.flags.c_contiguous):
            return _original(tensor)
        known = self._sources.get(id(source))
        if known is None:
            values = source.reshape(-1)
            known = self._sources[id(source)] = (source, (values, _dtype(tensor), _numel(tensor), _head(values)))
        return known[1]

    def forward_output(self, output: Any) -> None:
        """The tensor the forward returned: subtracting it from a value close to it is a difference quotient."""
        self._output = _kept(output) if _floating(output) else None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Watch everything from here on: outside the student's phases (the grader's own bookkeeping, when a
        student's finalizer could run) the cheap checks still apply, for the grader itself never runs the
        autograd engine, a backward kernel, dual or complex numbers."""
        with self:
            yield

    def phase(self, name: str) -> Phase:
        """Name what runs for the duration: ``import``, ``forward`` or ``backward`` (inside :meth:`active`)."""
        return Phase(self, name)

    @contextlib.contextmanager
    def paused(self, key: object) -> Iterator[None]:
        """Look away while the grader's own stand-in for an op (:mod:`grader.uses`) takes autograd's VJP of the
        reference. Only the holder of the ``key`` the watch was made with can: the runner keeps it in a
        closure, which student code cannot reach without the reflection the static scan rejects."""
        if self._pause_key is None or key is not self._pause_key:
            raise PermissionError("the integrity watch cannot be paused")
        previous, self._paused = self._paused, True
        try:
            yield
        finally:
            self._paused = previous

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        grad_on = _is_grad_enabled()  # as the caller left it: the handler below runs under no_grad
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._paused:
            return out
        if self._phase is None:  # the grader's own bookkeeping, hundreds of calls: only the engine and kernels
            if _graph_task() != -1 or _op_facts(func)[1]:
                self._observe(func, args, kwargs, out, grad_on)
            return out
        self._observe(func, args, kwargs, out, grad_on)
        return out

    def _observe(self, func: Any, args: tuple, kwargs: dict, out: Any, grad_on: bool) -> None:
        name, kernel = _op_facts(func)
        phase = self._phase
        if phase in self.counts:
            self.counts[phase] += 1
        if _forward_ad._current_level >= 0:
            # Arithmetic on dual tensors from inside the handler crashes torch, so look no further.
            self.findings.add("used forward-mode automatic differentiation (dual numbers)")
            return
        if kernel:
            self.findings.add(f"ran PyTorch's own backward kernel {kernel} (someone else's derivative)")
        if _graph_task() != -1:
            self.findings.add("ran the autograd engine to compute the gradient")
        elif grad_on and (phase == "backward" or phase == "forward" and name not in AUTOGRAD_OWN):
            self.findings.add("ran tensor operations with autograd switched back on (enable_grad or similar), "
                              "to let autograd work out the gradient")
        leaves = _leaves(args, kwargs)
        results = [out] if _isinstance(out, _Tensor) else [o for o in _tree_leaves(out) if _isinstance(o, _Tensor)]
        for t in (*leaves, *results):
            if _isinstance(t, _Tensor):
                if _type(t) is not _Tensor:
                    self.findings.add("passed a Tensor subclass of its own to torch, which runs code behind the "
                                      "grader's back")
                    return
                if _is_complex(t):
                    self.findings.add("used complex numbers: the complex step Im f(x + ih) / h is numerical "
                                      "differentiation, not backpropagation")
        if phase is None:
            return  # the grader's own bookkeeping
        if phase == "forward":
            self._forward_ops.add(func)
        if not (self._full or phase == "import"):
            return  # a light episode: only the cheap checks above, and nothing to remember for the full ones
        with GradOff():
            if phase in ("backward", "import"):
                self._repeated(func, leaves)
            if name in SUBTRACTIONS:
                self._subtraction(leaves[:2], kwargs)
            elif name in ADDITIONS:
                self._addition(leaves[:2], kwargs)
            self._stacked_steps(func, leaves, phase)
        if len(self._made) < MAX_MADE:
            for result in results:
                self._made[_key(result)] = (func, leaves)

    def _repeated(self, func: Any, leaves: list[Any]) -> None:
        """The same operation run again with one argument moved by a step. A loop that runs one operation many
        times is compared in full for its first calls, then on a sample."""
        sizes = tuple((_numel(a), _dtype(a)) if _plain(a) else repr(a) for a in leaves)
        count = self._seen[(func, sizes)] = self._seen.get((func, sizes), 0) + 1
        if count > FULL_CALLS and count % SAMPLE_EVERY:
            return
        history = self._calls.setdefault((func, sizes), [])
        places = [_data_ptr(a) if _plain(a) else None for a in leaves]
        for previous, where in history:
            # an argument that changed in place (an accumulator: grad[i] += ...) is one buffer, not two points
            moved = [now for now, then in zip(places, where, strict=True) if now is not None and now == then]
            if _same_but_stepped(leaves, previous, skip=moved):
                self.findings.add(FINITE_DIFFERENCES)
                return
        size = sum(_numel(a) for a in leaves if _plain(a))
        if len(history) < MAX_REMEMBERED and size <= MAX_ELEMENTS:
            history.append(([_clone(a) if _plain(a) else a for a in leaves], places))

    def _subtraction(self, operands: list[Any], kwargs: dict) -> None:
        if len(operands) == 2 and _floating(operands[0]) and _floating(operands[1]):
            self._difference(operands[0], operands[1])

    def _addition(self, operands: list[Any], kwargs: dict) -> None:
        """``a + (-b)`` and ``a.add(b, alpha=-1)`` are subtractions too."""
        if len(operands) != 2 or not (_floating(operands[0]) and _floating(operands[1])):
            return
        a, b = operands
        if kwargs.get("alpha") == -1:
            self._difference(a, b)
            return
        for first, second in ((a, b), (b, a)):
            source = _negated(self._made.get(_key(second)))
            if source is not None:
                self._difference(first, source)
                return

    def _difference(self, a: torch.Tensor, b: torch.Tensor) -> None:
        if a is b:
            return
        made = [self._made.get(_key(a)), self._made.get(_key(b))]
        if self._parallel(made[0], made[1], DEPTH, [MAX_VISITS]):
            self.findings.add(FINITE_DIFFERENCES)
            return
        self._close_to_forward([a, b], made)

    def _parallel(self, first: Any, second: Any, depth: int, visits: list[int]) -> bool:
        """Two results made by the same operation from arguments that are equal, stepped, or (recursively)
        made the same way from stepped arguments: one computation at two stepped points. ``visits`` caps the
        work of one question."""
        visits[0] -= 1
        if visits[0] < 0 or first is None or second is None or first[0] != second[0] \
                or len(first[1]) != len(second[1]):
            return False
        differing = False
        for a, b in zip(first[1], second[1], strict=True):
            if a is b:
                continue
            if _plain(a) and _plain(b):
                if _same(a, b):
                    continue
                if not (_step(a, b) or depth > 0 and self._parallel(self._made.get(_key(a)),
                                                                   self._made.get(_key(b)), depth - 1, visits)):
                    return False
                differing = True
            elif _plain(a) or _plain(b) or a != b:
                return False
        return differing

    def _unit_probe(self, tensor: torch.Tensor) -> bool:
        """The forward's matrix product fed one unit basis tensor after another (its Jacobian, read a column at a
        time): two different ones of one size in an episode."""
        where = _unit_position(tensor)
        if where is None:
            return False
        self._units.add((_numel(tensor), where))
        return len({w for n, w in self._units if n == _numel(tensor)}) >= 2

    def _close_to_forward(self, operands: list[torch.Tensor], made: list[Any]) -> None:
        """``alt(x + h) - y``: one side holds exactly the forward's output values, the other is within 0.1%
        of it, by more than rounding: the forward's value at a stepped point, computed another way."""
        output = None if self._output is None else as_tensor(self._output)
        a, b = operands
        if output is None or _numel(a) != _numel(output) or _numel(b) != _numel(output):
            return
        a, b = _reshape(a, (-1,)), _reshape(b, (-1,))
        for mine, other in ((a, b), (b, a)):
            if _dtype(mine) == _dtype(output) == _dtype(other) and bool(_equal(mine, output)):
                scale = float(_amax(_abs(output)))
                gap = float(_amax(_abs(_sub(other, output))))
                if scale > 0 and ROUNDING_STEP * scale < gap <= CLOSE * scale:
                    self.findings.add(FINITE_DIFFERENCES)
                return

    def _stacked_steps(self, func: Any, leaves: list[Any], phase: str) -> None:
        """One tensor holding two or more different stepped copies of a forward input (evaluated in one call),
        or, fed to an operation the forward ran, two or more unit basis vectors (the forward probed for its
        Jacobian). A few extra elements before or after the copies do not hide them."""
        probe = phase in ("backward", "import") and func in self._forward_ops and _op_facts(func)[0] in MATMULS
        for tensor in leaves:
            if not _floating(tensor) or 0 in _stride(tensor):
                continue  # an expanded view (b.expand(shape)) repeats one tensor, it does not stack copies
            if probe and self._unit_probe(tensor):
                self.findings.add(FINITE_DIFFERENCES)
                return
            seen = (_key(tensor), _version(tensor))
            if seen in self._stack_checked:
                continue  # the same values as a leaf of an earlier operation of this episode
            self._stack_checked.add(seen)
            size, dtype = _numel(tensor), _dtype(tensor)
            stacks = self._stacks.get((dtype, size))
            if stacks is None:
                stacks = self._stacks[(dtype, size)] = Stacks(self._inputs, dtype, size)
            if not stacks.ways:
                continue  # too small, too large or of another dtype to hold two copies of any input
            values = host_array(tensor)  # None: a dtype or device numpy cannot read, screened by torch instead
            flat = None
            for values_in, k, n, offset in stacks.candidates(None if values is None else values.reshape(-1), probe):
                if flat is None:
                    flat = _reshape(tensor, (-1,))
                rows = _reshape(flat[offset:offset + k * n], (k, n))
                original = _reshape(as_tensor(values_in), (1, n))
                if _stepped_rows(rows, original) >= 2 or probe and k == n and _unit_rows(rows) >= 2:
                    self.findings.add(FINITE_DIFFERENCES)
                    return


def _unit_position(tensor: torch.Tensor) -> int | None:
    """Where the single 1 of a unit basis tensor is (zeros elsewhere), or None."""
    flat = _reshape(tensor, (-1,))
    if int(_count_nonzero(flat)) != 1 or float(_amax(flat)) != 1.0:
        return None
    return int(flat.argmax())


def _unit_rows(rows: torch.Tensor) -> int:
    """How many different unit basis vectors (a single 1, zeros elsewhere) the rows hold, when every row is
    one (rows of an identity matrix, a probe); 0 otherwise (a ReLU mask may have a row with a single 1)."""
    unit = (_count_nonzero(rows, dim=1) == 1) & (_amax(rows, dim=1) == 1)
    if not bool(unit.all()):
        return 0
    distinct = int(_unique(rows, dim=0).shape[0])
    return distinct if distinct == rows.shape[0] else 0


Head = tuple[np.ndarray, np.ndarray, np.ndarray | None]
Original = tuple[np.ndarray | torch.Tensor, torch.dtype, int, Head | None]


def _kept(tensor: torch.Tensor) -> np.ndarray | torch.Tensor:
    """A flat copy of the tensor's values now: read from its memory (:mod:`grader.sandbox.memory`), which is no
    tensor operation, or through torch for what numpy cannot hold (bfloat16)."""
    values = snapshot(tensor)
    return values if values is not None else _reshape(_clone(_detach(tensor)), (-1,))


def _original(tensor: torch.Tensor) -> Original:
    """A forward input as the stacked-copies test needs it: its values, dtype, size and :func:`_head`."""
    values = _kept(tensor)
    return values, _dtype(tensor), _numel(tensor), _head(values) if _type(values) is np.ndarray else None


def _same_originals(new: list[Original], old: list[Original]) -> bool:
    """The same inputs, value for value (bit for bit, compared in place), dtype and size: the next call of a case,
    on fresh copies."""
    return len(new) == len(old) and all(a is b or (
        a[1] == b[1] and a[2] == b[2] and _type(a[0]) is np.ndarray and _type(b[0]) is np.ndarray
        and bool(np.array_equal(a[0].view(np.uint8), b[0].view(np.uint8)))) for a, b in zip(new, old, strict=True))


def _head(values: np.ndarray) -> Head | None:
    """What :func:`_screen` needs of a forward input (flat, in numpy), worked out once per input (once per job
    array, when the runner gives it): its first two elements and the small-step limit, as numpy scalars of its
    dtype."""
    kind = values.dtype.type
    scale = kind(np.max(np.abs(values)))
    return values[0], values[1], kind(SMALL_STEP * float(scale)) if scale > 0 else None


class Stacks:
    """The ways a tensor of one size and dtype could hold ``k ≥ 2`` copies of a forward input of ``n`` elements,
    rows of ``n`` from offset 0 or from the end, and the first test of :func:`_stepped_rows` for all of them at
    once, in numpy, in the tensor's dtype.

    A row's first two differences from the input, ``d₀`` and ``d₁``, rule it out unless one is zero (one element
    moved), they are equal (the same number everywhere) or ``|d₀|`` is within the small-step limit. The first
    two elements of every row of every way are gathered with one index, so a tensor costs a handful of numpy
    operations (~1 µs each) whatever the number of inputs, where slicing each way's rows in torch cost ~5 µs
    per operation. Built once per size and dtype, and kept for the next episode when its inputs are the same
    values (a case's forward and its calls, each on fresh copies).
    """

    def __init__(self, inputs: list[Original], dtype: torch.dtype, size: int) -> None:
        self.ways: list[tuple[np.ndarray | torch.Tensor, int, int, int]] = []
        heads: list[Head | None] = []
        for values, kind, n, head in inputs:
            k = size // n
            if kind == dtype and 2 <= k <= MAX_ROWS:
                for offset in sorted({0, size - k * n}):
                    self.ways.append((values, k, n, offset))
                    heads.append(head)
        self._screened = [i for i, head in enumerate(heads) if head is not None]
        if not self._screened:
            return
        firsts, x0, x1, limits, ends = [], [], [], [], []
        for i in self._screened:
            _, k, n, offset = self.ways[i]
            head = heads[i]
            assert head is not None
            firsts.append(offset + n * np.arange(k))
            x0.append(np.full(k, head[0]))
            x1.append(np.full(k, head[1]))
            limits.append(np.full(k, head[2] if head[2] is not None else -np.inf, dtype=head[0].dtype))
            ends.append(sum(len(f) for f in firsts))
        self._first = np.concatenate(firsts)
        self._second = self._first + 1
        self._x0, self._x1, self._limit = np.concatenate(x0), np.concatenate(x1), np.concatenate(limits)
        self._ends = ends

    def candidates(self, flat: np.ndarray | None, probe: bool) -> list[tuple[np.ndarray | torch.Tensor, int, int, int]]:
        """The ways whose rows must be tested in full: those some row of which passes the screen, every way
        numpy cannot screen (``flat`` is ``None``, or the input's dtype has no numpy twin), and, for a ``probe``
        (an operation of the forward's run in the backward), every way with as many rows as columns (an identity
        matrix of unit probes is no step of the input)."""
        keep = set(range(len(self.ways))) - set(self._screened) if flat is not None else set(range(len(self.ways)))
        if probe:
            keep |= {i for i, (_, k, n, _) in enumerate(self.ways) if k == n}
        if flat is not None and self._screened:
            maybe = _screen(flat, self._first, self._second, self._x0, self._x1, self._limit)
            if maybe.any():
                start = 0
                for i, end in zip(self._screened, self._ends, strict=True):
                    if maybe[start:end].any():
                        keep.add(i)
                    start = end
        return [self.ways[i] for i in sorted(keep)]


def _screen(flat: np.ndarray, first: np.ndarray, second: np.ndarray, x0: np.ndarray, x1: np.ndarray,
            limit: np.ndarray) -> np.ndarray:
    """Which rows could be a step (see :class:`Stacks`): ``first``, ``second`` index each row's first two elements
    in ``flat``; ``x0``, ``x1`` are the input's first two elements and ``limit`` its small-step limit (``-inf``
    for an input of zeros, which has none), one per row."""
    d0 = flat[first] - x0
    d1 = flat[second] - x1
    return (d0 == 0) | (d1 == 0) | (d0 == d1) | (np.abs(d0) <= limit)


def _stepped_rows(rows: torch.Tensor, original: torch.Tensor) -> int:
    """How many different steps of ``original`` the rows hold (one element, the same number everywhere, or
    small). Rows that are all the same step (``weight - weight.mean()`` broadcast over a batch) count once.

    A row's first two differences ``d₀, d₁`` already rule most rows out: a step of one element leaves one of
    them zero, the same number everywhere makes them equal, a small step makes ``d₀`` small. Only the rows
    that pass this screen are compared in full, so a large honest tensor costs two columns, not every element
    (:func:`_screen` does the same first test before the rows are even sliced).
    """
    scale = float(_amax(_abs(original)))
    head = _sub(rows[:, :2], original[:, :2])
    first, second = head[:, 0], head[:, 1]
    maybe = (first == 0) | (second == 0) | (first == second)
    if scale > 0:
        maybe = maybe | (_abs(first) <= SMALL_STEP * scale)
    if not bool(maybe.any()):
        return 0
    delta = _sub(rows[maybe], original)
    moved = _count_nonzero(delta, dim=1)
    uniform = _amax(_abs(_sub(delta, delta[:, :1])), dim=1) == 0
    small = (_amax(_abs(delta), dim=1) <= SMALL_STEP * scale) if scale > 0 else moved < 0
    stepped = (moved > 0) & ((moved == 1) | uniform | small)
    return int(_unique(delta[stepped], dim=0).shape[0])  # copies that differ: x + h and x - h, or e_1 and e_2


def warm_up() -> None:
    """Enter the mode once, so that the machinery it loads on first use is loaded in the server before it
    forks, not again in every child."""
    watch = IntegrityWatch()
    probe = torch.ones(2, dtype=torch.float64)
    watch.episode([probe])
    with GradOff(), watch.active(), watch.phase("backward"):
        (probe * 2 + probe).sum()


warm_up()
