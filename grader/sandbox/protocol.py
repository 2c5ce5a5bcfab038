"""The wire format between the grader, the sandbox server and the child.

A message is a JSON header plus named arrays. Arrays travel as raw bytes, one run per dtype, read back with
``np.frombuffer`` after their dtype, length and bounds are checked: nothing that untrusted code wrote is ever
unpickled, and an object or string dtype is rejected. Frames on a pipe are an 8-byte big-endian length followed by the payload.

Large arrays may instead lie in a shared-memory segment (:mod:`grader.sandbox.segment`): the header's
``"shared"`` entry then names the segment's key and indexes its arrays, and :func:`decode` hands both to the
reader the caller gives it for the segment that came with the message.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Callable
from typing import IO, Any

import numpy as np

_LEN = struct.Struct(">Q")
_HDR = struct.Struct(">I")


class ProtocolError(Exception):
    """A message that is truncated, oversized, or not the plain data we expect."""


def digest(array: np.ndarray) -> str:
    """A short fingerprint of an array's dtype, shape and bytes, used to detect in-place changes."""
    arr = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.reshape(-1).view(np.uint8).data)  # the bytes in place: no copy of a large array
    return h.hexdigest()[:24]


_INDEX = "arrays"
_GROUPS = "groups"
_SHARED = "shared"
_ALIGN = 8
KINDS = "biuf"


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None,
           shared: tuple[str, dict[str, list[Any]]] | None = None) -> bytes:
    """A message: the header, then the arrays' raw bytes, concatenated by dtype into one *group* each.

    A job holds a hundred small arrays, so arrays of one dtype are laid end to end and the header's ``"arrays"``
    index says where each one lies; its ``"groups"`` list gives each group's dtype and length in elements, in
    the order they follow the header. The header is padded with spaces so that every group starts on an
    8-byte boundary. ``shared``: the key and index of the arrays already written to the segment that travels
    with this message.
    """
    if shared is not None:
        header = {**header, _SHARED: [shared[0], shared[1]]}
    index: dict[str, list[Any]] = {}
    groups: dict[str, list[np.ndarray]] = {}
    sizes: dict[str, int] = {}
    for name, value in (arrays or {}).items():
        arr = np.asarray(value)
        if arr.dtype.kind not in KINDS:
            raise ProtocolError(f"array {name} has non-numeric dtype {arr.dtype}")
        code = arr.dtype.str
        index[name] = [code, list(arr.shape), sizes.get(code, 0)]
        groups.setdefault(code, []).append(arr.reshape(-1))
        sizes[code] = sizes.get(code, 0) + arr.size
    if not groups:
        head = json.dumps({**header, _INDEX: index}, allow_nan=True).encode("utf-8")
        return _HDR.pack(len(head)) + head
    head = json.dumps({**header, _INDEX: index, _GROUPS: [[code, sizes[code]] for code in groups]},
                      allow_nan=True).encode("utf-8")
    head += b" " * (-(_HDR.size + len(head)) % _ALIGN)
    body = [_HDR.pack(len(head)), head]
    for parts in groups.values():
        body += [part.tobytes() for part in parts]
        body.append(b"\0" * (-sum(part.nbytes for part in parts) % _ALIGN))
    return b"".join(body)


def decode(blob: bytes, max_bytes: int, shared: Callable[[Any, Any], dict[str, np.ndarray]] | None = None
           ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse a message; raise :class:`ProtocolError` on anything but a JSON object and numeric arrays.

    The groups are read with ``np.frombuffer`` from one writable copy of the bytes after the header: no array
    is ever unpickled, and their lengths and padding must add up to exactly the bytes that came. ``shared``
    reads the segment that came with the message, given the key and index the header names
    (:func:`grader.sandbox.segment.reader`); a header that names a segment when none came is refused.
    """
    if len(blob) > max_bytes:
        raise ProtocolError(f"message of {len(blob)} bytes exceeds the cap of {max_bytes}")
    if len(blob) < _HDR.size:
        raise ProtocolError("empty message")
    (head_len,) = _HDR.unpack_from(blob)
    try:
        header = json.loads(blob[_HDR.size:_HDR.size + head_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"bad header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    index = header.pop(_INDEX, {})
    listed = header.pop(_GROUPS, [])
    segment = header.pop(_SHARED, None)
    packed = _groups(listed, bytearray(memoryview(blob)[_HDR.size + head_len:]))  # one copy, writable
    arrays = _unpack(index, packed)
    if segment is not None:
        if shared is None:
            raise ProtocolError("the message names a shared segment, but none came with it")
        if not isinstance(segment, list) or len(segment) != 2:
            raise ProtocolError("bad shared segment entry")
        bulk = shared(segment[0], segment[1])
        if set(bulk) & set(arrays):
            raise ProtocolError("an array is both in the message and in the segment")
        arrays.update(bulk)
    return header, arrays


def _groups(listed: Any, rest: bytearray) -> dict[str, np.ndarray]:
    """The groups the header lists, as flat arrays over ``rest``, which they (and their padding) must fill."""
    if not isinstance(listed, list):
        raise ProtocolError("bad arrays: the group list is not a list")
    packed: dict[str, np.ndarray] = {}
    offset = 0
    for entry in listed:
        try:
            code, count = entry
            kind = np.dtype(code) if isinstance(code, str) else None
            count = int(count)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"bad arrays: group entry {entry!r}: {exc}") from None
        if kind is None or kind.kind not in KINDS or kind.str != code or kind.hasobject or code in packed:
            raise ProtocolError(f"bad arrays: group of dtype {code!r} is not a plain numeric array")
        size = count * kind.itemsize
        if count < 0 or offset + size > len(rest):
            raise ProtocolError(f"bad arrays: group {code} is longer than the message")
        packed[code] = np.frombuffer(rest, dtype=kind, count=count, offset=offset)
        offset += size + (-size % _ALIGN)
    if offset != len(rest):
        raise ProtocolError(f"bad arrays: {len(rest) - offset} bytes after the last group")
    return packed


def _unpack(index: Any, packed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Views into the packed groups, each checked for dtype, shape and bounds."""
    if not isinstance(index, dict):
        raise ProtocolError("bad array index")
    arrays: dict[str, np.ndarray] = {}
    for name, entry in index.items():
        try:
            code, shape, offset = entry
            group = packed[code]
            shape = tuple(int(d) for d in shape)
            size = math.prod(shape)  # Python integers: no overflow to make a huge shape look small
            offset = int(offset)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"bad index entry for {name}: {exc}") from None
        if offset < 0 or min(shape, default=1) < 0 or offset + size > group.size:
            raise ProtocolError(f"array {name} lies outside its group")
        arrays[str(name)] = group[offset:offset + size].reshape(shape)
    return arrays


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LEN.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_frame(stream: IO[bytes], max_bytes: int) -> bytes:
    head = _read_exactly(stream, _LEN.size)
    (length,) = _LEN.unpack(head)
    if length > max_bytes:
        raise ProtocolError(f"frame of {length} bytes exceeds the cap of {max_bytes}")
    return _read_exactly(stream, length)


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("stream closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def part_mark(nonce: str, index: int) -> str:
    """The line a child writes to its output before target ``index`` of a job with parts (one child for every
    target of an exercise), so that what the student printed is shown under the target that printed it."""
    return f"\n\x1e{nonce}:{index}\x1e\n"
