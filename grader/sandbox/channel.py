"""The connection between the trusted process and its sandbox server: frames, with descriptors attached.

One ``AF_UNIX`` stream socket, the server's stdin and stdout. A frame is an 8-byte big-endian length and the
payload, as on a pipe (:func:`grader.sandbox.protocol.write_frame`); a frame may also carry file descriptors
(``SCM_RIGHTS``), attached to its length bytes, which is how a shared-memory segment
(:mod:`grader.sandbox.segment`) travels without a name: a job's inputs to the server, a job's results back.
The kernel never merges the bytes of two messages that carry descriptors into one read, so the descriptors
arrive with the frame they were sent with. A receiver that is sent more descriptors than it expects closes
them all and refuses the frame.

The socket is anonymous (``socketpair``, made by :mod:`grader.sandbox.spawn`) and the child closes its end
before any student code runs.
"""

from __future__ import annotations

import array
import os
import socket
import struct
from collections.abc import Sequence

from grader.sandbox.protocol import ProtocolError

_LEN = struct.Struct(">Q")
MAX_FDS = 4


def send(sock: socket.socket, payload: bytes, fds: Sequence[int] = ()) -> None:
    """One frame, with ``fds`` attached (the receiver gets copies; the caller still owns its own)."""
    head = _LEN.pack(len(payload))
    sent = socket.send_fds(sock, [head], list(fds)) if fds else sock.send(head)
    if sent < len(head):
        sock.sendall(head[sent:])
    sock.sendall(payload)


def receive(sock: socket.socket, max_bytes: int, max_fds: int = MAX_FDS) -> tuple[bytes, list[int]]:
    """One frame and the descriptors that came with it (the caller closes them); ``EOFError`` at the end."""
    fds: list[int] = []
    head = b""
    try:
        while len(head) < _LEN.size:
            data, ancillary, flags, _ = sock.recvmsg(_LEN.size - len(head), socket.CMSG_SPACE(max_fds * 4))
            fds += _descriptors(ancillary)
            if flags & socket.MSG_CTRUNC:
                raise ProtocolError("a frame came with more file descriptors than expected")
            if not data:
                raise EOFError("connection closed")
            head += data
        (length,) = _LEN.unpack(head)
        if length > max_bytes:
            raise ProtocolError(f"frame of {length} bytes exceeds the cap of {max_bytes}")
        return _receive_exactly(sock, length), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _descriptors(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    found: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            found += list(fds)
    return found


def _receive_exactly(sock: socket.socket, n: int) -> bytes:
    buffer = bytearray(n)
    view = memoryview(buffer)
    done = 0
    while done < n:
        got = sock.recv_into(view[done:])
        if not got:
            raise EOFError("connection closed")
        done += got
    return bytes(buffer)
