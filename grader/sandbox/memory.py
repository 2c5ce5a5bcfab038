"""A CPU tensor's values as a numpy array read straight from its memory, without a tensor operation.

In the sandbox child the integrity watch (:mod:`grader.sandbox.watch`) sees every tensor operation, the
grader's own included: it stays on between the student's phases, since a finalizer of the student's could
run there. Reading a tensor the usual way is an operation (``tensor.numpy()`` and ``tensor.data`` both run
``aten.detach``), and each one crosses into the watch's Python handler at ~12 µs, so the grader's reads of
inputs, outputs and gradients were three quarters of everything the watch saw. Read here instead, from the
tensor's address, shape and strides (metadata, no operation), they cost what the copy costs.

Only an exact ``torch.Tensor`` on the CPU, strided, of a float dtype numpy has, with no lazy negation, is read
this way; anything else returns ``None`` and the caller reads it through torch as before. The array aliases
the tensor's memory: it is read-only, and the caller copies what it keeps while the tensor is alive.
"""

from __future__ import annotations

import ctypes
import gc
from typing import Any

import numpy as np
import torch

# Bound once, here, from torch._C.TensorBase, whose C methods no Python code can replace (the watch uses these too)
_TB = torch._C.TensorBase
_Tensor = torch.Tensor
_type = type
_strided = torch.strided
_data_ptr = _TB.data_ptr
_stride = _TB.stride
_is_contiguous = _TB.is_contiguous
_offset = _TB.storage_offset
_storage = _TB.untyped_storage
_numel = _TB.numel
_is_neg = _TB.is_neg
_shape: Any = _TB.__dict__["shape"].__get__
_dtype: Any = _TB.__dict__["dtype"].__get__
_is_cpu: Any = _TB.__dict__["is_cpu"].__get__
_layout: Any = _TB.__dict__["layout"].__get__
_from_numpy = torch.from_numpy
_no_dispatch = torch._C._DisableTorchDispatch
_gc_enabled, _gc_disable, _gc_enable = gc.isenabled, gc.disable, gc.enable
_ndarray = np.ndarray
_NUMPY: dict[torch.dtype, np.dtype[Any]] = {torch.float64: np.dtype(np.float64), torch.float32: np.dtype(np.float32),
                                            torch.float16: np.dtype(np.float16)}
_BLOCKS: dict[int, Any] = {}  # ctypes array types by length in bytes: making one costs ~10 µs


def host_array(tensor: Any) -> np.ndarray | None:
    """The tensor's values in place, as a read-only numpy array of its dtype and shape, or ``None``.

    The memory an element ``(i₀, i₁, …)`` sits at is ``address + Σ iₖ·strideₖ`` (in elements), so the array
    spans ``1 + Σ (sizeₖ − 1)·strideₖ`` elements from the address (torch's strides are never negative); an
    expanded view (stride 0) reads one element many times, as the tensor does; a contiguous tensor spans just
    its elements, in numpy's own row-major order. About 6 µs (8 µs when not contiguous), where reading it
    through torch inside the watch costs ~20 µs (two ``aten.detach`` through its handler).
    """
    if _type(tensor) is not _Tensor:
        return None
    kind = _NUMPY.get(_dtype(tensor))
    if kind is None or not _is_cpu(tensor) or _layout(tensor) is not _strided or _is_neg(tensor):
        return None
    shape = _shape(tensor)
    count = _numel(tensor)
    if count == 0:
        values = np.empty(tuple(shape), kind)
        values.flags.writeable = False
        return values
    width = kind.itemsize
    strides: tuple[int, ...] | None = None  # row-major, numpy's own default: a contiguous tensor spans its elements
    if _is_contiguous(tensor):
        span = count
    else:
        steps = _stride(tensor)
        span = 1
        for size, step in zip(shape, steps, strict=True):
            span += (size - 1) * step
        strides = tuple([step * width for step in steps])
    if (_offset(tensor) + span) * width > _storage(tensor).nbytes() or _data_ptr(tensor) == 0:
        return None  # a storage shrunk under its tensor (``untyped_storage().resize_(0)``): torch's read, not ours
    block = _BLOCKS.get(span * width)
    if block is None:
        if len(_BLOCKS) >= 512:
            _BLOCKS.clear()
        block = _BLOCKS[span * width] = ctypes.c_char * (span * width)
    memory: Any = block.from_address(_data_ptr(tensor))
    values = _ndarray(tuple(shape), kind, memory, 0, strides)
    values.flags.writeable = False
    return values


def snapshot(tensor: Any) -> np.ndarray | None:
    """A copy of the tensor's values now, flat and C-ordered (``None``: read it through torch)."""
    values = host_array(tensor)
    return None if values is None else np.array(values, order="C").reshape(-1)


def tensor_of(array: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy(array)`` (sharing its memory), unseen by the integrity watch: under a dispatch mode,
    ``from_numpy`` sends ``aten.lift_fresh`` through the mode's Python handler, ~25 µs where it otherwise costs
    ~3 µs, and the grader makes some 360 tensors a run (inputs, steps, upstream gradients).

    Making a tensor from a numpy array runs no Python code, so there is nothing to watch, except what a
    collection of garbage could run: a student's finalizer (``__del__``), were the collector to start inside
    the tensor's allocation. It is off for those few microseconds, so the student's code never runs unwatched.
    """
    collecting = _gc_enabled()
    _gc_disable()
    try:
        with _no_dispatch():
            return _from_numpy(array)
    finally:
        if collecting:
            _gc_enable()


def as_tensor(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A snapshot as a tensor (sharing its memory); a tensor as it is. Read-only values (a job's inputs, mapped
    from their sealed segment) are copied first: torch would warn that it cannot protect them, in the output
    the student reads."""
    if not isinstance(values, np.ndarray):
        return values
    return tensor_of(values if values.flags.writeable else values.copy())
