"""The trusted side of the sandbox: start the server, send jobs, get back plain data.

The server is started once per grading run (or once per worker in a batch) with ``python -I`` so that no
``PYTHONPATH``, user site or ``sitecustomize`` of the student's directory can reach it. It begins importing
torch the moment it is spawned, in parallel with the grader's own start-up.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from grader.sandbox.protocol import ProtocolError, decode, encode, read_frame, write_frame
from grader.sandbox.spawn import spawn, take_prestarted
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


@dataclass
class SandboxServer:
    """A running sandbox server; use as a context manager or call :meth:`close`."""

    process: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def start(self) -> SandboxServer:
        if self.process is None:
            self.process = take_prestarted() or spawn()
        return self

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _streams(self) -> tuple[IO[bytes], IO[bytes]]:
        self.start()
        assert self.process is not None and self.process.stdin and self.process.stdout
        return self.process.stdin, self.process.stdout

    def ping(self, limits: Limits | None = None) -> dict[str, Any]:
        """Wait until the server has imported torch; return what it reports about itself.

        The reply includes which isolation layers a probe child could apply on this host.
        """
        if not self.info:
            requests, replies = self._streams()
            write_frame(requests, encode({"op": "ping", "limits": _limit_dict(limits or Limits())}))
            self.info, _ = decode(read_frame(replies, MAX_REPLY), MAX_REPLY)
        return self.info

    def run(self, job: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes],
            limits: Limits) -> ChildRun:
        """Run one job in a fresh limited child; a dead server is restarted once."""
        names = sorted(files)
        payload = dict(arrays)
        for i, name in enumerate(names):
            payload[f"file.{i}"] = np.frombuffer(files[name], dtype=np.uint8)
        header = {"op": "run", "job": job, "files": names, "limits": _limit_dict(limits)}
        message = encode(header, payload)
        for attempt in (1, 2):
            try:
                requests, replies = self._streams()
                write_frame(requests, message)
                reply = read_frame(replies, MAX_REPLY)
                break
            except (EOFError, BrokenPipeError, OSError):
                self.close()
                if attempt == 2:
                    raise
        status, _ = decode(reply[: _header_length(reply)], MAX_REPLY)
        child_blob = reply[_header_length(reply):]
        base = dict(timed_out=bool(status["timed_out"]), overflow=bool(status["overflow"]),
                    exit_code=status["exit_code"], signal=status["signal"], output=str(status["output"]),
                    output_truncated=bool(status["output_truncated"]), elapsed=float(status["elapsed"]),
                    loaded=bool(status.get("loaded", True)))
        if not child_blob:
            return ChildRun(header={}, arrays={}, **base)
        try:
            result, out = decode(child_blob, MAX_REPLY)
        except ProtocolError as exc:
            return ChildRun(header={}, arrays={}, problem=str(exc), **base)
        if result.get("nonce") != job["nonce"]:
            return ChildRun(header={}, arrays={}, problem="the result did not carry this run's nonce", **base)
        return ChildRun(header=result, arrays=out, **base)

    def close(self) -> None:
        if self.process is not None:
            # The server holds no state and every job's processes are already reaped, so there is nothing
            # to wait for: a graceful exit would only spend time tearing down torch.
            try:
                if self.process.stdin:
                    self.process.stdin.close()
            except OSError:
                pass
            self.process.kill()
            self.process.wait()
            if self.process.stdout:
                self.process.stdout.close()
            self.process = None
            self.info = {}


def _header_length(message: bytes) -> int:
    return 4 + int.from_bytes(message[:4], "big")


def _limit_dict(limits: Limits) -> dict[str, Any]:
    return {"wall_seconds": limits.wall_seconds, "memory_mb": limits.memory_mb, "processes": limits.processes,
            "file_mb": limits.file_mb, "output_kb": limits.output_kb, "open_files": limits.open_files}
