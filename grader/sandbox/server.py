"""The sandbox server: a clean process that has imported torch and forks one limited child per job.

Servers are forks of one *zygote* per grading run (:func:`_zygote`, :mod:`grader.sandbox.spawn`), a process
that imported torch and does nothing but fork servers, so N workers cost one torch import. A server also runs
the static scan of a student's module for the grader (:func:`_scan`): the scan judges names against the live
torch, which the grading process then never needs to import.

It holds nothing of the course. Each request carries one target's inputs and the student's files; the
server writes the files into a fresh temporary directory (named after the server's pid, so a killed run's
are found later: :mod:`grader.sandbox.workdirs`), forks, and the child applies limits, loads the
student's module there and runs :func:`grader.sandbox.runner.run_job`. The server enforces the wall time,
collects the child's result bytes (capped) and its printed output (capped), kills every descendant (it is
a child subreaper, so daemons that called ``setsid`` are found too), and replies with plain data.

Bulk arrays never pass through the server's memory as bytes (:mod:`grader.sandbox.segment`): a job's inputs
come in a sealed segment that the server maps read-only before forking, and each job gets an empty result
segment the child inherits and fills; the server passes that descriptor back with its reply and keeps no
copy. The server reads nothing the child wrote except its message, which it forwards unparsed.
"""

from __future__ import annotations

import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from grader.integrity import static
from grader.sandbox import channel, hugepages, isolation, segment, workdirs
from grader.sandbox import limits as rlimits
from grader.sandbox.protocol import ProtocolError, decode, encode
from grader.sandbox.runner import list_grader_modules, run_job

MAX_REQUEST = 1 << 31
_CHILD_FAILED = 70


def main(zygote: bool = False) -> None:
    """Serve jobs on stdin (one end of a socket pair) until the grader closes it.

    With ``zygote``, this process is the one that imported torch for all the servers of a grading run: it only
    forks servers (:func:`_zygote`), each a copy of its torch-loaded memory that serves its own socket, so a run
    of N workers imports torch once.
    """
    # Ctrl-C at a terminal reaches the whole process group; only the grading process should react to it
    # (it winds down and closes us), so that finished work is written and no job dies half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    connection = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    if not zygote:
        rlimits.die_with_parent(signal.SIGKILL)
    # Everything torch made is old: out of the collector's reach, a child that collects need not touch (and so
    # copy) every page of it; a full collection in a child costs ~7 ms frozen against ~140 ms not. No collection
    # first: walking the ~250,000 tracked objects to find the few thousand unreachable ones would take ~0.1 s of
    # every grading run's start-up. The boot (:data:`grader.sandbox.spawn._BOOT`) turned the collector off for
    # the imports; it is on again for what the server and its children make from here.
    gc.freeze()
    gc.enable()
    served = _zygote(connection) if zygote else connection
    if served is not None:
        _loop(served)


def _zygote(connection: socket.socket) -> socket.socket | None:
    """Fork a server for each request; in the zygote, return ``None`` once no process holds the other end of
    its socket (the grader, and with ``--dask local`` every worker, ended), and in a forked server, its socket.

    The socket is a ``SOCK_SEQPACKET`` pair: a request (``b"clone"``) and its reply (the new server's socket and
    pidfd) are each one message, so several processes that inherited the grader's end (the workers of a local
    Dask cluster) may ask at once, and each gets a whole reply: a server of its own. A batch first sends
    ``b"huge"``, which has no reply: the zygote collapses its memory into huge pages
    (:mod:`grader.sandbox.hugepages`), once, before it forks the batch's servers.
    """
    # Forked servers are reaped the moment they end. The zygote never runs a job, so no waitpid of its own can
    # lose a status to this handler.
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    collapsed = False
    while True:
        try:
            request, fds, _, _ = socket.recv_fds(connection, 64, 1)
        except ConnectionError:
            return None
        for fd in fds:
            os.close(fd)
        if not request:
            return None
        if request == b"clone":
            forked = _clone(connection)
            if forked is not None:
                return forked
        elif request == b"huge" and not collapsed:  # a batch's many forks will each copy fewer page tables
            collapsed = True
            try:
                hugepages.collapse()
            except Exception:  # noqa: BLE001, S110 - only a saving: the zygote must go on forking servers
                pass


def _loop(connection: socket.socket) -> None:
    subreaper = rlimits.become_subreaper()
    while True:
        try:
            blob, fds = channel.receive(connection, MAX_REQUEST, max_fds=1)
        except EOFError:
            return
        try:
            header, arrays = decode(blob, MAX_REQUEST, segment.reader(fds[0], None, MAX_REQUEST, copy=False)
                                    if fds else None)
        finally:
            for fd in fds:
                os.close(fd)  # the mapping (and the duplicate Python's mmap keeps) of a sealed segment stays
        op = header.get("op")
        if op == "ping":
            layers = _probe_layers(header.get("limits"))
            channel.send(connection, encode({"ok": True, "subreaper": subreaper, "pid": os.getpid(), **layers}))
            continue
        if op == "scan":
            channel.send(connection, encode(_scan(header, arrays)))
            continue
        reply, results = _serve(header, arrays, connection.fileno())
        try:
            channel.send(connection, reply, [results] if results is not None else [])
        finally:
            if results is not None:
                os.close(results)
        del header, arrays  # the last views of the job's segment: unmapped here


def _clone(connection: socket.socket) -> socket.socket | None:
    """Fork a server. In the zygote: send the grader its socket and a pidfd of it, return ``None``. In the new
    server: return its socket, a stream pair of its own (the zygote's is closed: no job reaches the zygote)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # not reaped before its pidfd exists
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        ours.close()
        theirs.close()
        raise
    if pid == 0:
        connection.close()
        ours.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        rlimits.die_with_parent(signal.SIGKILL)
        return theirs
    theirs.close()
    try:
        pidfd = os.pidfd_open(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    try:
        socket.send_fds(connection, [json.dumps({"ok": True, "pid": pid}).encode()], [ours.fileno(), pidfd])
    finally:
        ours.close()
        os.close(pidfd)
    return None


def _scan(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The static scan of a student's module for each target (:func:`grader.integrity.static.findings_for`),
    judged against this process's torch, so the grading process needs none.

    The source is parsed here, in the trusted server, never in a child. Nothing of it is kept: the scan's caches
    are emptied, so a later student's child (a copy of this memory) finds no other student's code.
    """
    try:
        siblings = {name: arrays[f"file.{i}"].tobytes() for i, name in enumerate(header["siblings"])}
        found = [list(static.findings_for(header["source"], target, tuple(header["imports"]), tuple(header["forbid"]),
                                          siblings, own=tuple(header["own"])))
                 for target in header["targets"]]
        return {"ok": True, "findings": found}
    except Exception as exc:  # noqa: BLE001 - the grader falls back to scanning itself; this server lives on
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        static.forget()


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
            # garbage_collector: a job's child, like this one, must collect its cycles (the boot turned it off)
            os.write(write_end, json.dumps({"layers": layers, "rlimits": applied,
                                            "landlock_abi": isolation.landlock_abi(),
                                            "garbage_collector": gc.isenabled()}).encode())
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


def _serve(header: dict[str, Any], arrays: dict[str, np.ndarray], connection: int) -> tuple[bytes, int | None]:
    """Run one job; return the reply, and the result segment to send with it (the caller closes it)."""
    workdir = workdirs.make("work")
    output = tempfile.TemporaryFile()
    results = _result_segment(_result_cap(header["limits"]))
    try:
        files = _write_files(workdir, header["files"], arrays)
        read_end, write_end = os.pipe()
        loaded_read, loaded_write = os.pipe()
        list_grader_modules()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.close(loaded_read)
            _child(header, files, workdir, output.fileno(), (write_end, loaded_write, results), connection)
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
        if not blob and results is not None:
            os.close(results)
            results = None
        return encode(status) + blob, results
    except BaseException:
        if results is not None:
            os.close(results)
        raise
    finally:
        output.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _result_segment(capacity: int) -> int | None:
    """An empty result segment for the next child, or ``None`` (its results then all go through the pipe)."""
    try:
        return segment.results(capacity) if segment.AVAILABLE else None
    except OSError:
        return None


def _result_cap(limits: dict[str, Any]) -> int:
    """Bytes of results a child may send: in its message, and again in its segment."""
    return int(limits.get("result_mb", 1024)) * 1024 * 1024


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
           result_fds: tuple[int, int, int | None], connection: int) -> None:
    """Runs in the forked child and never returns. ``result_fds``: the result pipe, the "module loaded" pipe and
    the result segment (``None`` where the host has none)."""
    result_fd, loaded_fd, results = result_fds
    code = 0
    try:
        os.setsid()
        rlimits.die_with_parent(signal.SIGKILL)
        os.close(connection)
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
        payload = _result_message(result, out, results)
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


def _result_message(result: dict[str, Any], out: dict[str, np.ndarray], results: int | None) -> bytes:
    """The child's message: large arrays in the result segment, the rest inline. Results too large for the
    segment all go inline, where the result cap of the pipe judges them (``resource_limit``)."""
    small, large = segment.split(out)
    if large and results is not None:
        try:
            return encode(result, small, (str(result["nonce"]), segment.fill(results, str(result["nonce"]), large)))
        except ProtocolError:
            pass
    return encode(result, out)


def _collect(pid: int, fd: int, started: float, limits: dict[str, Any]) -> dict[str, Any]:
    """Read the child's result until it exits, the wall time runs out, or the result exceeds its cap.

    Once the child has exited, everything it wrote is already in the pipe, so we drain it and stop: a
    daemon that inherited the pipe's write end must not keep the job open until the wall time. The exit is
    seen the moment it happens through a pidfd (Linux 5.3 and later), else by polling every 2 ms.
    """
    deadline = started + float(limits["wall_seconds"])
    cap = _result_cap(limits)
    chunks: list[bytes] = []
    size = 0
    status: dict[str, Any] = {"timed_out": False, "overflow": False, "exit_code": None, "signal": None}
    wait_status: int | None = None
    exited = _pidfd(pid)
    eof = False
    try:
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
            if eof and exited is None:
                time.sleep(min(0.002, remaining))
                continue
            watched = ([] if eof else [fd]) + ([] if exited is None else [exited])
            ready, _, _ = select.select(watched, [], [], min(remaining, 0.05))
            if fd not in ready:
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
    finally:
        if exited is not None:
            os.close(exited)
    if wait_status is None:
        _kill_group(pid)
        _, wait_status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wait_status):
        status["signal"] = os.WTERMSIG(wait_status)
    else:
        status["exit_code"] = os.WEXITSTATUS(wait_status)
    status["blob"] = b"" if status["overflow"] or status["timed_out"] else b"".join(chunks)
    return status


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits, or ``None`` where the kernel has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


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
