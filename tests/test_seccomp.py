"""The seccomp layer on its own: each probe is a fresh interpreter that installs the filter, then attacks it.

The attack that motivated the ABI checks: a filter written in x86_64 syscall numbers let every call through
the i386 ABI pass, so ``int 0x80`` from an executable page (made with ctypes) opened an AF_INET socket and,
as root, forked at will. These tests hold whatever the static policy does with ``ctypes``.
"""

from __future__ import annotations

import errno
import json
import platform
import signal
import struct
import subprocess
import sys

import pytest
from helpers import ROOT

from grader.sandbox import isolation, seccomp_filter

PROBE = r'''
import ctypes, errno, json, mmap, os, socket, sys, tempfile, threading
from pathlib import Path
from grader.sandbox import isolation

backend, probe = sys.argv[1], sys.argv[2]
# int80(nr, ebx, ecx, edx): push rbx; mov eax, edi; mov ebx, esi; xchg ecx, edx; int 0x80; pop rbx; ret
I386_SYSCALL = bytes.fromhex("53 89f8 89f3 87ca cd80 5b c3")
# push rbx; mov eax, 2 (i386 fork); int 0x80; if eax == 0: exit_group(0) natively; pop rbx; ret
I386_FORK = bytes.fromhex("53 b802000000 cd80 85c0 7509 b8e7000000 31ff 0f05 5b c3")
PAGES = []


def i386(code):
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    PAGES.append(page)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)(address)


def errno_of(call):
    try:
        call()
    except OSError as error:
        return error.errno
    return 0


def native():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    def raw(nr, *args):
        return -ctypes.get_errno() if libc.syscall(nr, *args) < 0 else 0
    started = []
    thread = threading.Thread(target=lambda: started.append(True))
    thread.start()
    thread.join()
    return {"unix": errno_of(lambda: socket.socket(socket.AF_UNIX).close()),
            "inet": errno_of(lambda: socket.socket(socket.AF_INET).close()),
            "fork": errno_of(os.fork), "thread": started == [True],
            "kill_self": errno_of(lambda: os.kill(os.getpid(), 0)), "kill_init": errno_of(lambda: os.kill(1, 0)),
            "io_uring_setup": raw(425, 1, None), "pidfd_getfd": raw(438, -1, 0, 0)}


if backend == "apply_all":
    print("filtered", json.dumps(isolation.apply_all(Path(tempfile.mkdtemp()))), flush=True)
elif backend != "none":
    print("filtered", isolation.apply_seccomp(deny_processes=True, own_pid=os.getpid(), backend=backend), flush=True)
if probe == "i386_socket":
    result = i386(I386_SYSCALL)(359, socket.AF_INET, socket.SOCK_STREAM, 0)  # i386 socket()
elif probe == "i386_fork":
    result = i386(I386_FORK)(0, 0, 0, 0)
    if result > 0:
        os.waitpid(result, 0)
elif probe == "x32_socket":
    libc = ctypes.CDLL(None, use_errno=True)
    result = [libc.syscall(0x40000000 | 41, socket.AF_INET, socket.SOCK_STREAM, 0), ctypes.get_errno()]
else:
    result = native()
print("result", json.dumps(result), flush=True)
'''

BACKENDS = [pytest.param("libseccomp", marks=pytest.mark.skipif(not seccomp_filter.LIBSECCOMP,
                                                                 reason="no libseccomp.so.2 on this host")),
            "bpf"]
x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="the foreign ABIs probed are x86_64's")


def _probe(backend: str, probe: str) -> tuple[int, dict[str, str]]:
    """Run one probe; return its exit status (negative: the signal) and its ``filtered``/``result`` lines."""
    done = subprocess.run([sys.executable, "-c", PROBE, backend, probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=False)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    return done.returncode, lines


@pytest.fixture(scope="module")
def i386_abi() -> None:
    """Without a filter the attack works here (else the kernel has no i386 ABI and there is nothing to test)."""
    if platform.machine() != "x86_64":
        pytest.skip("the i386 ABI is x86_64's")
    status, lines = _probe("none", "i386_socket")
    if status != 0:
        pytest.skip(f"this kernel runs no i386 syscalls (status {status})")
    assert json.loads(lines["result"]) >= 0
    status, lines = _probe("none", "i386_fork")
    assert status == 0 and json.loads(lines["result"]) > 0


@pytest.mark.usefixtures("i386_abi")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("probe", ["i386_socket", "i386_fork"])
def test_an_i386_syscall_kills_the_child(backend: str, probe: str) -> None:
    """``int 0x80`` socket (i386 nr 359) or fork (nr 2) after the filter: SIGSYS at the first call."""
    status, lines = _probe(backend, probe)
    assert lines.get("filtered") == backend and "result" not in lines
    assert status == -signal.SIGSYS


@x86_64
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_x32_syscall_kills_the_child(backend: str) -> None:
    """``syscall(0x40000000 | 41)`` is socket through the x32 ABI; unfiltered it is ENOSYS where x32 is off."""
    status, lines = _probe(backend, "x32_socket")
    assert lines.get("filtered") == backend and "result" not in lines
    assert status == -signal.SIGSYS


@pytest.mark.parametrize("backend", BACKENDS)
def test_native_syscalls_keep_their_rules(backend: str) -> None:
    """AF_UNIX and threads work; AF_INET, fork, signals to others, io_uring and pidfd_getfd are refused."""
    status, lines = _probe(backend, "native")
    assert status == 0 and lines["filtered"] == backend
    assert json.loads(lines["result"]) == {
        "unix": 0, "inet": errno.EACCES, "fork": errno.EAGAIN, "thread": True, "kill_self": 0,
        "kill_init": errno.EPERM, "io_uring_setup": -errno.EACCES, "pidfd_getfd": -errno.EPERM}


@pytest.mark.usefixtures("i386_abi")
def test_apply_all_reports_its_backend_and_blocks_the_attack() -> None:
    status, lines = _probe("apply_all", "i386_socket")
    layers = json.loads(lines["filtered"])
    assert layers["seccomp"] is True
    assert layers["seccomp_backend"] == ("libseccomp" if seccomp_filter.LIBSECCOMP else "bpf")
    assert status == -signal.SIGSYS and "result" not in lines


@x86_64
def test_the_hand_built_program_checks_the_abi_before_any_rule() -> None:
    """``A = arch; if A != x86_64: kill; A = nr; if A >= 0x40000000: kill``, then the rules."""
    program = isolation.seccomp_program(deny_processes=True, own_pid=1234)
    assert program is not None
    head = [struct.unpack("<HBBI", program[i:i + 8]) for i in range(0, 48, 8)]
    kill = (0x06, 0, 0, seccomp_filter.SECCOMP_RET_KILL_PROCESS)
    assert head == [(0x20, 0, 0, 4), (0x15, 1, 0, seccomp_filter.AUDIT_ARCH_X86_64), kill,
                    (0x20, 0, 0, 0), (0x35, 0, 1, 0x40000000), kill]
