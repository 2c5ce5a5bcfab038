"""The trusted side of the sandbox: start the server, send jobs, get back plain data.

Servers are forks of one zygote per grading process (:mod:`grader.sandbox.spawn`), started with ``python -I``
so that no ``PYTHONPATH``, user site or ``sitecustomize`` of the student's directory can reach it. It begins
importing torch the moment it is spawned, in parallel with the grader's own start-up; a server is forked on
its first use. The server also runs the static scan of a student's module (:meth:`SandboxServer.scan`), which
judges names against torch, so the grading process itself never imports torch once its cases are cached.

Arrays of 64 KiB or more travel in shared-memory segments (:mod:`grader.sandbox.segment`): the job's inputs
in a sealed segment sent with the request, the child's results in the segment the server sends back with
its reply, whose every index entry is checked and whose arrays are copied out before use.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.sandbox import channel, segment
from grader.sandbox.protocol import ProtocolError, decode, encode
from grader.sandbox.spawn import Forked, prestart, server
from grader.spec import Limits

MAX_REPLY = 1 << 31


@dataclass(frozen=True)
class ChildRun:
    """What came back from one sandboxed job.

    Attributes:
        header: the child's result header (empty when it produced none).
        arrays: the child's result arrays.
        timed_out: the wall time ran out and the child was killed.
        overflow: the child's result exceeded its size cap.
        exit_code: the child's exit status, when it exited.
        signal: the signal that killed it, when one did.
        output: what the student's code printed (capped), as text.
        output_truncated: whether ``output`` was cut at the cap.
        elapsed: wall seconds from fork to the end of the job.
        problem: why the result could not be read, if it could not.
        loaded: the student's module finished importing (a timeout without it is a hang at import).
        shared_bytes: bytes of results that came through the shared-memory segment (0: all in the message).
    """

    header: dict[str, Any]
    arrays: dict[str, np.ndarray]
    timed_out: bool = False
    overflow: bool = False
    exit_code: int | None = None
    signal: int | None = None
    output: str = ""
    output_truncated: bool = False
    elapsed: float = 0.0
    problem: str = ""
    loaded: bool = True
    shared_bytes: int = 0


@dataclass
class SandboxServer:
    """A running sandbox server; use as a context manager or call :meth:`close`."""

    process: subprocess.Popen[bytes] | Forked | None = None
    info: dict[str, Any] = field(default_factory=dict)
    channel: socket.socket | None = None

    def start(self) -> SandboxServer:
        """Have the zygote start importing torch; the server itself is forked on first use."""
        if self.process is None:
            prestart()
        return self

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _channel(self) -> socket.socket:
        if self.process is None:
            spawned = server()
            self.process, self.channel = spawned.process, spawned.channel
        assert self.channel is not None
        return self.channel

    def ping(self, limits: Limits | None = None) -> dict[str, Any]:
        """Wait until the server has imported torch; return what it reports about itself.

        The reply includes which isolation layers a probe child could apply on this host.
        """
        if not self.info:
            connection = self._channel()
            channel.send(connection, encode({"op": "ping", "limits": _limit_dict(limits or Limits())}))
            reply, _ = channel.receive(connection, MAX_REPLY, max_fds=0)
            self.info, _ = decode(reply, MAX_REPLY)
        return self.info

    def run(self, job: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes],
            limits: Limits) -> ChildRun:
        """Run one job in a fresh limited child; a dead server is restarted once."""
        names = sorted(files)
        payload = dict(arrays)
        for i, name in enumerate(names):
            payload[f"file.{i}"] = np.frombuffer(files[name], dtype=np.uint8)
        header = {"op": "run", "job": job, "files": names, "limits": _limit_dict(limits)}
        small, large = segment.split(payload)
        inputs: int | None = None
        index: dict[str, list[Any]] = {}
        if large:
            try:
                inputs, index = segment.sealed(job["nonce"], large)
            except OSError:  # no memory file to be had (a descriptor limit, an old kernel): all inline
                small = payload
        try:
            message = encode(header, small, (job["nonce"], index) if inputs is not None else None)
            reply, fds = self._exchange(message, [] if inputs is None else [inputs])
        finally:
            if inputs is not None:
                os.close(inputs)
        try:
            return _child_run(reply, fds, job["nonce"])
        finally:
            for fd in fds:
                os.close(fd)

    def scan(self, source: str, targets: list[str], imports: tuple[str, ...], forbid: tuple[str, ...],
             siblings: dict[str, bytes], own: tuple[str, ...]) -> list[tuple[str, ...]] | None:
        """The static scan's findings for each target (:func:`grader.integrity.static.findings_for`), made by the
        server; ``None`` when it could not (the caller then scans itself)."""
        names = sorted(siblings)
        header = {"op": "scan", "source": source, "targets": targets, "imports": list(imports),
                  "forbid": list(forbid), "own": list(own), "siblings": names}
        arrays = {f"file.{i}": np.frombuffer(siblings[name], dtype=np.uint8) for i, name in enumerate(names)}
        try:
            reply, fds = self._exchange(encode(header, arrays), [])
            for fd in fds:
                os.close(fd)
            found, _ = decode(reply, MAX_REPLY)
        except (EOFError, OSError, ProtocolError):
            return None
        listed = found.get("findings")
        if not found.get("ok") or not isinstance(listed, list) or len(listed) != len(targets):
            return None
        return [tuple(str(text) for text in texts) for texts in listed]

    def _exchange(self, message: bytes, fds: list[int]) -> tuple[bytes, list[int]]:
        for attempt in (1, 2):
            try:
                connection = self._channel()
                channel.send(connection, message, fds)
                return channel.receive(connection, MAX_REPLY, max_fds=1)
            except (EOFError, BrokenPipeError, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.process is not None:
            # The server holds no state and every job's processes are already reaped, so there is nothing
            # to wait for: a graceful exit would only spend time tearing down torch.
            if self.channel is not None:
                self.channel.close()
            self.process.kill()
            self.process.wait()
            self.process = None
            self.channel = None
            self.info = {}


def _child_run(reply: bytes, fds: list[int], nonce: str) -> ChildRun:
    """The server's reply as a :class:`ChildRun`: its status, then the child's own message and segment.

    The child's message must carry this run's nonce, and its segment (if any) this run's key.
    """
    status, _ = decode(reply[: _header_length(reply)], MAX_REPLY)
    child_blob = reply[_header_length(reply):]
    base = dict(timed_out=bool(status["timed_out"]), overflow=bool(status["overflow"]),
                exit_code=status["exit_code"], signal=status["signal"], output=str(status["output"]),
                output_truncated=bool(status["output_truncated"]), elapsed=float(status["elapsed"]),
                loaded=bool(status.get("loaded", True)))
    if not child_blob:
        return ChildRun(header={}, arrays={}, **base)
    shared: dict[str, np.ndarray] = {}

    def read(key: Any, index: Any) -> dict[str, np.ndarray]:
        shared.update(segment.reader(fds[0], nonce, MAX_REPLY)(key, index))
        return shared

    try:
        result, out = decode(child_blob, MAX_REPLY, read if fds else None)
    except ProtocolError as exc:
        return ChildRun(header={}, arrays={}, problem=str(exc), **base)
    if result.get("nonce") != nonce:
        return ChildRun(header={}, arrays={}, problem="the result did not carry this run's nonce", **base)
    return ChildRun(header=result, arrays=out, shared_bytes=sum(a.nbytes for a in shared.values()), **base)


def _header_length(message: bytes) -> int:
    return 4 + int.from_bytes(message[:4], "big")


def _limit_dict(limits: Limits) -> dict[str, Any]:
    return {"wall_seconds": limits.wall_seconds, "memory_mb": limits.memory_mb, "processes": limits.processes,
            "file_mb": limits.file_mb, "output_kb": limits.output_kb, "open_files": limits.open_files}
