"""The wire format between the grader, the sandbox server and the child.

A message is a JSON header plus named arrays. Arrays travel as an uncompressed ``.npz`` and are always
loaded with ``allow_pickle=False``: nothing that untrusted code wrote is ever unpickled, and an object
array is rejected. Frames on a pipe are an 8-byte big-endian length followed by the payload.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
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
    h.update(arr.tobytes())
    return h.hexdigest()[:24]


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    head = json.dumps(header, allow_nan=True).encode("utf-8")
    buf = io.BytesIO()
    if arrays:
        np.savez(buf, **arrays)  # type: ignore[arg-type]
    return _HDR.pack(len(head)) + head + buf.getvalue()


def decode(blob: bytes, max_bytes: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse a message; raise :class:`ProtocolError` on anything but a JSON object and numeric arrays."""
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
    rest = blob[_HDR.size + head_len:]
    arrays: dict[str, np.ndarray] = {}
    if rest:
        try:
            with np.load(io.BytesIO(rest), allow_pickle=False) as npz:
                for name in npz.files:
                    arr = npz[name]
                    if arr.dtype.kind not in "biuf":
                        raise ProtocolError(f"array {name} has non-numeric dtype {arr.dtype}")
                    arrays[name] = arr
        except (ValueError, OSError, EOFError) as exc:
            raise ProtocolError(f"bad arrays: {exc}") from None
    return header, arrays


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
