"""Shared-memory segments: the bulk arrays of a job and of its result, passed by file descriptor, not copied.

A large case (a 10⁶-element input, its gradients) would otherwise be packed into the message, written into a
pipe, unpacked and packed again by the server, and unpacked once more by the grader. A segment is an
anonymous memory file (``memfd_create``): it has no path, so no process can open it by name, not even one
that sees ``/dev/shm`` or ``/proc``; a process reaches it only through a descriptor it was handed:

- a job's inputs: the trusted process writes them, seals the segment (no write, shrink or grow, no further
  seals) and sends it to the server with the request; the server maps it read-only before forking, and the
  child inherits the mapping (and the duplicate descriptor Python's ``mmap`` keeps): it can read what it
  was sent, and change none of it;
- a job's results: the server creates one segment per job and the child inherits it; the child writes its
  large arrays there, the server hands the descriptor to the trusted process with its reply.

Only arrays of :data:`THRESHOLD` bytes or more go to a segment; the rest, and the index of what is where,
stay in the message (:mod:`grader.sandbox.protocol`). A segment starts with a 64-byte header::

    magic b"GRADESEG" | key: 16 bytes, derived from the run's nonce | end: u64, bytes in use | reserved

followed by the arrays, laid out and indexed by :mod:`grader.layout` (``[dtype, shape, offset]`` per name).
Everything about a segment the child wrote is checked before a byte of it is used (:func:`copy_out`): the key
(so another run's data is never accepted), then each index entry by :func:`grader.layout.entries` (plain
numeric dtypes from a fixed list, never objects: nothing is unpickled; sane shapes; ``offset + size`` within
what the header claims, which must itself be within the file's real size; the sizes together no more than
the segment). The arrays are then *copied* out with ``pread``: a child (or a process it passed the
descriptor to) that writes to or truncates the segment afterwards can change nothing the grader already
holds, and a truncation shows as a short read, an error, never as the ``SIGBUS`` a mapping of a shrunk file
would raise.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import resource
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from grader.layout import Index, LayoutError, as_bytes, entries, place, views
from grader.sandbox.protocol import ProtocolError

THRESHOLD = 64 * 1024
HEADER = 64
_MAGIC = b"GRADESEG"
_HEAD = struct.Struct("<8s16sQ")
AVAILABLE = hasattr(os, "memfd_create") and hasattr(fcntl, "F_ADD_SEALS")  # Linux; elsewhere every array is inline
_SEALS = sum(getattr(fcntl, name, 0) for name in ("F_SEAL_SEAL", "F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_WRITE"))

Reader = Callable[[Any, Any], dict[str, np.ndarray]]


class SegmentError(ProtocolError):
    """A segment whose header, index or size does not hold up; none of its arrays is used."""


def split(arrays: dict[str, np.ndarray], threshold: int = THRESHOLD
          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The arrays small enough to travel in the message, and those that go to a segment."""
    small: dict[str, np.ndarray] = {}
    large: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        (large if AVAILABLE and arr.nbytes >= threshold else small)[name] = arr
    return small, large


def key_bytes(key: str) -> bytes:
    """The 16 header bytes that bind a segment to one run's nonce."""
    return hashlib.sha256(f"grader-segment:{key}".encode()).digest()[:16]


def _layout(arrays: dict[str, np.ndarray]) -> tuple[Index, int]:
    try:
        return place(arrays, HEADER)
    except LayoutError as exc:
        raise SegmentError(str(exc)) from None


def sealed(key: str, arrays: dict[str, np.ndarray]) -> tuple[int, Index]:
    """A new segment holding ``arrays``, sealed against any change; return its descriptor and index.

    The trusted process makes these for a job's inputs. The caller closes the descriptor.
    """
    index, end = _layout(arrays)
    fd = os.memfd_create("grade-job", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, end)
        _write_all(fd, _HEAD.pack(_MAGIC, key_bytes(key), end), 0)
        for name, arr in arrays.items():
            _write_all(fd, as_bytes(arr), index[name][2])
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd, index


def _write_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def results(capacity: int) -> int:
    """An empty segment for one job's results, ``capacity`` bytes long (sparse: pages cost only when written).

    Made by the server before it forks; without ``MFD_ALLOW_SEALING`` no one can add seals to it.
    """
    fd = os.memfd_create("grade-results", os.MFD_CLOEXEC)
    os.ftruncate(fd, capacity)
    return fd


def fill(fd: int, key: str, arrays: dict[str, np.ndarray]) -> Index:
    """Write ``arrays`` into a result segment (in the child); raise :class:`SegmentError` when they do not fit.

    ``pwrite`` is the cheaper way (no page fault per page), but the child's file-size limit caps it; beyond
    that limit the child maps only the bytes it writes (so the segment's capacity does not count against its
    address space limit) and writes through the mapping, which the file-size limit does not cap.
    """
    index, end = _layout(arrays)
    if end > os.fstat(fd).st_size:
        raise SegmentError(f"{end} bytes of results do not fit the segment")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY or end < limit:
        _write_all(fd, _HEAD.pack(_MAGIC, key_bytes(key), end), 0)
        for name, arr in arrays.items():
            _write_all(fd, as_bytes(arr), index[name][2])
        return index
    with mmap.mmap(fd, end, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as memory:
        memory[:_HEAD.size] = _HEAD.pack(_MAGIC, key_bytes(key), end)
        for name, arr in arrays.items():
            offset = index[name][2]
            memory[offset:offset + arr.nbytes] = as_bytes(arr)
    return index


def _end(head: bytes, key: str, size: int) -> int:
    """The end the header claims, checked against the expected key and the segment's real size."""
    if len(head) < _HEAD.size:
        raise SegmentError("the segment is shorter than its header")
    magic, bound, end = _HEAD.unpack_from(head)
    if magic != _MAGIC:
        raise SegmentError("the segment has no segment header")
    if bound != key_bytes(key):
        raise SegmentError("the segment belongs to another run (its key is not this run's)")
    if not HEADER <= end <= size:
        raise SegmentError(f"the segment claims {end} bytes but holds {size}")
    return int(end)


def _entries(index: Any, end: int) -> list[Any]:
    try:
        return entries(index, HEADER, end)
    except LayoutError as exc:
        raise SegmentError(str(exc)) from None


def copy_out(fd: int, key: str, index: Any, cap: int) -> dict[str, np.ndarray]:
    """The arrays of a segment someone else could still change (a child's results), checked and copied.

    ``key`` is the nonce of the run the caller started; ``cap`` bounds the bytes the segment may claim.
    """
    end = _end(os.pread(fd, _HEAD.size, 0), key, min(os.fstat(fd).st_size, cap))
    arrays: dict[str, np.ndarray] = {}
    for entry in _entries(index, end):
        out = np.empty(entry.shape, dtype=entry.dtype)
        view = as_bytes(out)
        done = 0
        while done < entry.nbytes:
            got = os.preadv(fd, [view[done:]], entry.offset + done)
            if got <= 0:
                raise SegmentError(f"the segment shrank while array {entry.name} was read from it")
            done += got
        arrays[entry.name] = out
    return arrays


def map_in(fd: int, key: str, index: Any) -> dict[str, np.ndarray]:
    """Read-only views of a sealed segment (a job's inputs, in the server): no copy, and no change possible.

    Refused unless the segment is sealed against shrinking and writing, the two ways a mapping could fail
    or change under its reader.
    """
    if fcntl.fcntl(fd, fcntl.F_GET_SEALS) & _SEALS != _SEALS:
        raise SegmentError("the job's segment is not sealed")
    size = os.fstat(fd).st_size
    if size < HEADER:
        raise SegmentError("the segment is shorter than its header")
    memory = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
    return views(memory, _entries(index, _end(memory[:_HEAD.size], key, size)))


def reader(fd: int, key: str | None, cap: int, copy: bool = True) -> Reader:
    """What :func:`grader.sandbox.protocol.decode` calls with a message's segment key and index.

    ``key``: the nonce the segment must carry (``None``: the one the message names, for the server, which
    reads only segments the trusted process made).
    """
    def read(named: Any, index: Any) -> dict[str, np.ndarray]:
        if not isinstance(named, str) or (key is not None and named != key):
            raise SegmentError("the message names a segment of another run")
        return copy_out(fd, named, index, cap) if copy else map_in(fd, named, index)

    return read
