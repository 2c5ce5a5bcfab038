"""Many arrays in one flat buffer: where each one goes, and what an index must pass before it is believed.

Two places keep arrays this way, so that a reader can take them without parsing or copying a container
format: the sandbox's shared-memory segments (:mod:`grader.sandbox.segment`), which a child writes, and the
case cache (:mod:`grader.cache`), which is mapped from disk. An *index* maps each name to
``[dtype, shape, offset]``: ``dtype`` a numpy type string such as ``"<f8"``, ``shape`` a list of
non-negative ints, ``offset`` the byte where the array starts. Arrays are placed at 64-byte-aligned offsets.

:func:`entries` is the one place an index is checked, field by field, before anything is read: the dtype is a
plain number type (bool, signed or unsigned integer, float: never an object, a string or a structure, so no
reader can be made to unpickle or interpret anything), the shape has at most 32 non-negative dimensions, the
array lies inside the buffer, and the arrays together are no larger than the buffer (so no index, however
many times it repeats one region, makes a reader allocate or copy more than the buffer holds).
Standard library and numpy only: the sandbox server imports this.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

ALIGN = 64
MAX_DIMS = 32

Index = dict[str, list[Any]]

_NUMBERS = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
            np.float16, np.float32, np.float64)
DTYPES = {d.str: d for t in _NUMBERS for d in (np.dtype(t).newbyteorder("<"), np.dtype(t).newbyteorder(">"))}


class LayoutError(ValueError):
    """An index entry that is malformed or points outside its buffer."""


class Entry(NamedTuple):
    """One checked index entry."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int


def place(arrays: dict[str, np.ndarray], start: int) -> tuple[Index, int]:
    """The index of ``arrays`` laid out one after another from byte ``start``, and the byte after the last."""
    index: Index = {}
    end = start
    for name, arr in arrays.items():
        if arr.dtype.str not in DTYPES:
            raise LayoutError(f"array {name} has non-numeric dtype {arr.dtype}")
        end = -(-end // ALIGN) * ALIGN
        index[name] = [arr.dtype.str, list(arr.shape), end]
        end += arr.nbytes
    return index, end


def as_bytes(arr: np.ndarray) -> memoryview:
    """The array's bytes in C order, without a copy when it is already contiguous."""
    return np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data


def entries(index: Any, start: int, end: int) -> list[Entry]:
    """Each entry of ``index``, checked to lie inside ``[start, end)`` (see the module docstring)."""
    if not isinstance(index, dict):
        raise LayoutError("the index is not an object")
    found = []
    total = 0
    for name, entry in index.items():
        if not isinstance(entry, list) or len(entry) != 3:
            raise LayoutError(f"bad index entry for {name}")
        code, shape, offset = entry
        dtype, dims = _dtype(code, name), _shape(shape, name)
        count = math.prod(dims)
        nbytes = count * dtype.itemsize
        if type(offset) is not int or offset < start or offset + nbytes > end:
            raise LayoutError(f"array {name} lies outside its buffer")
        total += nbytes
        if total > end - start:
            raise LayoutError("the arrays of the index add up to more than the buffer holds")
        found.append(Entry(str(name), dtype, dims, offset, nbytes))
    return found


def views(buffer: Any, found: list[Entry]) -> dict[str, np.ndarray]:
    """Arrays that share ``buffer``'s memory (read-only when the buffer is), for checked entries."""
    arrays: dict[str, np.ndarray] = {}
    for entry in found:
        count = entry.nbytes // entry.dtype.itemsize
        flat = np.frombuffer(buffer, dtype=entry.dtype, count=count, offset=entry.offset) if count else \
            np.empty(0, dtype=entry.dtype)
        arrays[entry.name] = flat.reshape(entry.shape)
    return arrays


def _dtype(code: Any, name: str) -> np.dtype:
    """The dtype a type string names, from a fixed list: no untrusted string is ever parsed by numpy."""
    dtype = DTYPES.get(code) if isinstance(code, str) else None
    if dtype is None:
        raise LayoutError(f"array {name}: {str(code)[:20]!r} is not a plain numeric dtype")
    return dtype


def _shape(shape: Any, name: str) -> tuple[int, ...]:
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(type(d) is int and d >= 0 for d in shape):
        raise LayoutError(f"array {name}: bad shape {str(shape)[:60]}")
    return tuple(shape)
