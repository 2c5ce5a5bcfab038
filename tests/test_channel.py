"""The socket between the grader and its server: frames, with file descriptors attached to them."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from grader.sandbox.channel import receive, send
from grader.sandbox.protocol import ProtocolError


@pytest.fixture
def ends():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    yield a, b
    a.close()
    b.close()


def _memfd(content: bytes) -> int:
    fd = os.memfd_create("test", os.MFD_CLOEXEC)
    os.write(fd, content)
    return fd


def test_frames_arrive_in_order_with_their_descriptors(ends):
    a, b = ends
    first, second = _memfd(b"first"), _memfd(b"second")

    def sender() -> None:
        send(a, b"one", [first])
        send(a, b"two")
        send(a, b"x" * 3_000_000, [second])  # more than the socket buffers: read in pieces

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        payload, fds = receive(b, 1 << 20)
        assert payload == b"one" and len(fds) == 1 and os.pread(fds[0], 5, 0) == b"first"
        os.close(fds[0])
        assert receive(b, 1 << 20) == (b"two", [])
        payload, fds = receive(b, 1 << 22)
        assert payload == b"x" * 3_000_000 and os.pread(fds[0], 6, 0) == b"second"
        os.close(fds[0])
    finally:
        thread.join()
        os.close(first)
        os.close(second)


def test_more_descriptors_than_expected_are_closed_and_refused(ends):
    a, b = ends
    fds = [_memfd(b"x") for _ in range(3)]
    try:
        before = len(os.listdir("/proc/self/fd"))
        send(a, b"payload", fds)
        with pytest.raises(ProtocolError, match="more file descriptors"):
            receive(b, 1 << 20, max_fds=1)
        assert len(os.listdir("/proc/self/fd")) == before  # none of those that arrived was left open
    finally:
        for fd in fds:
            os.close(fd)


def test_an_oversized_frame_is_refused_and_a_closed_peer_is_the_end(ends):
    a, b = ends
    send(a, b"x" * 100)
    with pytest.raises(ProtocolError, match="exceeds the cap"):
        receive(b, 10)
    a.shutdown(socket.SHUT_WR)
    b.recv(1000)
    with pytest.raises(EOFError):
        receive(b, 10)
