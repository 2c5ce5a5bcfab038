"""The sandbox server: a clean process that has imported torch and forks one limited child per job.

It holds nothing of the course. Each request carries one target's inputs and the student's files; the
server writes the files into a fresh temporary directory (named after the server's pid, so a killed run's
are found later: :mod:`grader.sandbox.workdirs`), forks, and the child applies limits, loads the
student's module there and runs :func:`grader.sandbox.runner.run_job`. The server enforces the wall time,
collects the child's result bytes (capped) and its printed output (capped), kills every descendant (it is
a child subreaper, so daemons that called ``setsid`` are found too), and replies with plain data.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import torch

from grader.sandbox import isolation, workdirs
from grader.sandbox import limits as rlimits
from grader.sandbox.protocol import decode, encode, read_frame, write_frame
from grader.sandbox.runner import run_job

MAX_REQUEST = 1 << 31
_CHILD_FAILED = 70


def main() -> None:
    # Ctrl-C at a terminal reaches the whole process group; only the grading process should react to it
    # (it winds down and closes us), so that finished work is written and no job dies half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    requests: BinaryIO = os.fdopen(os.dup(0), "rb")
    replies: BinaryIO = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    subreaper = rlimits.become_subreaper()
    rlimits.die_with_parent(signal.SIGKILL)
    protocol_fds = (requests.fileno(), replies.fileno())
    while True:
        try:
            header, arrays = decode(read_frame(requests, MAX_REQUEST), MAX_REQUEST)
        except EOFError:
            return
        if header.get("op") == "ping":
            layers = _probe_layers(header.get("limits"))
            write_frame(replies, encode({"ok": True, "subreaper": subreaper, "pid": os.getpid(), **layers}))
            continue
        write_frame(replies, _serve(header, arrays, protocol_fds))


def _probe_layers(limits: dict[str, Any] | None) -> dict[str, Any]:
    """Fork a throwaway child that applies every layer, and report which ones took effect on this host."""
    read_end, write_end = os.pipe()
    workdir = workdirs.make("probe")
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            ids = isolation.unprivileged_ids()
            if ids is not None:
                isolation.hand_over(workdir, ids)
            applied = rlimits.apply(limits, uid=ids[0] if ids else None) if limits else {}
            layers = isolation.apply_all(workdir, ids)
            os.write(write_end, json.dumps({"layers": layers, "rlimits": applied,
                                            "landlock_abi": isolation.landlock_abi()}).encode())
        except BaseException:  # noqa: B036
            code = _CHILD_FAILED
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        data = handle.read(65536)
    os.waitpid(pid, 0)
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        found = json.loads(data.decode())
        return found if isinstance(found, dict) else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}


def _serve(header: dict[str, Any], arrays: dict[str, np.ndarray], protocol_fds: tuple[int, ...]) -> bytes:
    workdir = workdirs.make("work")
    output = tempfile.TemporaryFile()
    try:
        files = _write_files(workdir, header["files"], arrays)
        read_end, write_end = os.pipe()
        loaded_read, loaded_write = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.close(loaded_read)
            _child(header, files, workdir, output.fileno(), (write_end, loaded_write), protocol_fds)
        os.close(write_end)
        os.close(loaded_write)
        status = _collect(pid, read_end, started, header["limits"])
        os.close(read_end)
        os.set_blocking(loaded_read, False)
        try:
            status["loaded"] = os.read(loaded_read, 1) == b"L"
        except BlockingIOError:
            status["loaded"] = False
        os.close(loaded_read)
        _kill_descendants()
        status["elapsed"] = time.monotonic() - started
        status.update(_read_output(output, int(header["limits"]["output_kb"]) * 1024))
        blob = status.pop("blob")
        return encode(status) + blob
    finally:
        output.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _write_files(workdir: Path, names: list[str], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copy the student's files into the work directory; return the job's own arrays."""
    for i, name in enumerate(names):
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            continue
        target = workdir.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(arrays[f"file.{i}"].tobytes())
    return {k: v for k, v in arrays.items() if not k.startswith("file.")}


def _child(header: dict[str, Any], arrays: dict[str, np.ndarray], workdir: Path, output_fd: int,
           result_fds: tuple[int, int], protocol_fds: tuple[int, ...]) -> None:
    """Runs in the forked child and never returns. ``result_fds``: the result pipe and the "module loaded" pipe."""
    result_fd, loaded_fd = result_fds
    code = 0
    try:
        os.setsid()
        rlimits.die_with_parent(signal.SIGKILL)
        for fd in protocol_fds:
            os.close(fd)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        sys.stdout = open(1, "w", closefd=False, buffering=1, errors="backslashreplace")  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1, errors="backslashreplace")  # noqa: SIM115
        os.chdir(workdir)
        ids = isolation.unprivileged_ids()
        if ids is not None:
            isolation.hand_over(workdir, ids)
        rlimits.apply(header["limits"], uid=ids[0] if ids else None)
        grader_root = str(Path(__file__).resolve().parents[2])
        sys.path[:] = [p for p in sys.path if p and p != grader_root and p != os.getcwd()] + [str(workdir)]
        layers = isolation.apply_all(workdir, ids)
        def loaded() -> None:
            os.write(loaded_fd, b"L")
            os.close(loaded_fd)

        result, out = run_job(header["job"], arrays, workdir, loaded)
        result["isolation"] = layers
        payload = encode(result, out)
        view = memoryview(payload)
        while view:
            written = os.write(result_fd, view)
            view = view[written:]
    except BaseException:  # noqa: B036 - whatever happens, the child must end here
        code = _CHILD_FAILED
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _collect(pid: int, fd: int, started: float, limits: dict[str, Any]) -> dict[str, Any]:
    """Read the child's result until it exits, the wall time runs out, or the result exceeds its cap.

    Once the child has exited, everything it wrote is already in the pipe, so we drain it and stop: a
    daemon that inherited the pipe's write end must not keep the job open until the wall time.
    """
    deadline = started + float(limits["wall_seconds"])
    cap = int(limits.get("result_mb", 1024)) * 1024 * 1024
    chunks: list[bytes] = []
    size = 0
    status: dict[str, Any] = {"timed_out": False, "overflow": False, "exit_code": None, "signal": None}
    wait_status: int | None = None
    eof = False
    while True:
        if wait_status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                wait_status = raw
        if wait_status is not None:
            size = _drain(fd, chunks, size)
            status["overflow"] = size > cap
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status["timed_out"] = wait_status is None
            break
        if eof:
            time.sleep(min(0.002, remaining))
            continue
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.05))
        if not ready:
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            eof = True
            continue
        chunks.append(data)
        size += len(data)
        if size > cap:
            status["overflow"] = True
            break
    if wait_status is None:
        _kill_group(pid)
        _, wait_status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wait_status):
        status["signal"] = os.WTERMSIG(wait_status)
    else:
        status["exit_code"] = os.WEXITSTATUS(wait_status)
    status["blob"] = b"" if status["overflow"] or status["timed_out"] else b"".join(chunks)
    return status


def _drain(fd: int, chunks: list[bytes], size: int) -> int:
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            return size
        if not data:
            return size
        chunks.append(data)
        size += len(data)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return found


def _kill_descendants() -> None:
    """Kill and reap every process below the server, including re-parented ``setsid`` daemons."""
    for _round in range(50):
        stack = _children(os.getpid())
        if not stack:
            break
        seen: set[int] = set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
            stack.extend(_children(pid))
        for pid in seen:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap()
    _reap()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _read_output(output: Any, cap: int) -> dict[str, Any]:
    output.seek(0, os.SEEK_END)
    total = output.tell()
    output.seek(0)
    text = output.read(cap).decode("utf-8", errors="replace")
    return {"output": text, "output_bytes": total, "output_truncated": total > cap}


if __name__ == "__main__":
    main()
