"""The wire format between the grader, the sandbox server and the child.

A message is a JSON header plus named arrays. Arrays travel as an uncompressed ``.npz`` and are always
loaded with ``allow_pickle=False``: nothing that untrusted code wrote is ever unpickled, and an object
array is rejected. Frames on a pipe are an 8-byte big-endian length followed by the payload.

Large arrays may instead lie in a shared-memory segment (:mod:`grader.sandbox.segment`): the header's
``"shared"`` entry then names the segment's key and indexes its arrays, and :func:`decode` hands both to the
reader the caller gives it for the segment that came with the message.
"""

from __future__ import annotations

import hashlib
import io
import json
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
_SHARED = "shared"
KINDS = "biuf"


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None,
           shared: tuple[str, dict[str, list[Any]]] | None = None) -> bytes:
    """A message: the header, then the arrays packed into one ``.npz`` member per dtype.

    A job holds a hundred small arrays, and ``.npz`` pays a zip entry and a format header for each, so arrays
    of one dtype are concatenated and the header's ``"arrays"`` index says where each one lies. ``shared``:
    the key and index of the arrays already written to the segment that travels with this message.
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
    head = json.dumps({**header, _INDEX: index}, allow_nan=True).encode("utf-8")
    buf = io.BytesIO()
    if groups:
        packed = {f"g{i}": np.concatenate(parts) for i, parts in enumerate(groups.values())}
        np.savez(buf, **packed)  # type: ignore[arg-type]
        index_codes = {code: f"g{i}" for i, code in enumerate(groups)}
        head = json.dumps({**header, _INDEX: index, "groups": index_codes}, allow_nan=True).encode("utf-8")
    return _HDR.pack(len(head)) + head + buf.getvalue()


def decode(blob: bytes, max_bytes: int, shared: Callable[[Any, Any], dict[str, np.ndarray]] | None = None
           ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse a message; raise :class:`ProtocolError` on anything but a JSON object and numeric arrays.

    ``shared`` reads the segment that came with the message, given the key and index the header names
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
    codes = header.pop("groups", {})
    segment = header.pop(_SHARED, None)
    rest = blob[_HDR.size + head_len:]
    packed: dict[str, np.ndarray] = {}
    if rest:
        try:
            with np.load(io.BytesIO(rest), allow_pickle=False) as npz:
                packed = {name: npz[name] for name in npz.files}
        except (ValueError, OSError, EOFError) as exc:
            raise ProtocolError(f"bad arrays: {exc}") from None
    arrays = _unpack(index, codes, packed)
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


def _unpack(index: Any, codes: Any, packed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Views into the packed groups, each checked for dtype, shape and bounds."""
    if not isinstance(index, dict) or not isinstance(codes, dict):
        raise ProtocolError("bad array index")
    arrays: dict[str, np.ndarray] = {}
    for name, entry in index.items():
        try:
            code, shape, offset = entry
            group = packed[codes[code]]
            shape = tuple(int(d) for d in shape)
            size = int(np.prod(shape, dtype=np.int64))
            offset = int(offset)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"bad index entry for {name}: {exc}") from None
        if group.dtype.str != code or group.dtype.kind not in KINDS or group.ndim != 1:
            raise ProtocolError(f"array {name}: group dtype {group.dtype} is not {code}")
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
