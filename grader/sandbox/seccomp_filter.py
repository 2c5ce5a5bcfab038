"""The seccomp layer: a filter the kernel runs on every system call the sandboxed child makes.

What it allows is written once, as a list of :class:`Rule` (:func:`rules`), and compiled by one of two
backends: libseccomp (through the ``pyseccomp`` ctypes bindings, when ``libseccomp.so.2`` is on the host) or
a hand-built classic BPF program (:func:`bpf_program`, the fallback). :func:`load` says which one it used.

A syscall number means something else under each ABI: 41 is ``socket`` on x86_64 but ``rename`` for i386.
The rules name native numbers only, so a call through another ABI must never reach them. A process on
x86_64 can make i386 calls with ``int 0x80`` from an executable page, and x32 calls (native numbers with bit
``0x40000000`` set); a filter that let those through let a child open an AF_INET socket and, as root, fork
150 times. So the filter first checks ``seccomp_data.arch`` against the native ``AUDIT_ARCH`` and, on
x86_64, rejects the x32 range, before any rule. Both end the process with ``SECCOMP_RET_KILL_PROCESS``
(SIGSYS) rather than an errno: no Python or torch code makes such calls, an errno in ``eax`` is silently
ignored by machine code that probes the filter, and a killed child is reported as ``crashed``, which makes
the attempt visible. libseccomp does the same on its own when its filter holds the native architecture only
(its "bad architecture" action, set here to kill the process; it sends the x32 range there too).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Mapping
from dataclasses import dataclass

try:
    import pyseccomp
except (ImportError, RuntimeError, OSError):  # RuntimeError: pyseccomp is installed but libseccomp.so.2 is not
    pyseccomp = None

LIBSECCOMP = pyseccomp is not None

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

EPERM, EAGAIN, EACCES, ENOSYS = 1, 11, 13, 38
AF_UNIX = 1
CLONE_THREAD = 0x00010000


@dataclass(frozen=True)
class Rule:
    """Fail ``syscall`` with ``errno``: always, or unless its first argument is ``arg0_is``, or unless it has
    every bit of ``arg0_has``. Arguments are compared as 64-bit values, as libseccomp compares them.
    """

    syscall: str
    errno: int
    arg0_is: int | None = None
    arg0_has: int | None = None


def rules(deny_processes: bool, own_pid: int | None = None) -> tuple[Rule, ...]:
    """What the child may not do.

    Always: ``socket()`` fails with EACCES unless the family is AF_UNIX, and ``io_uring_setup`` fails (the
    ring's operations would not pass through the filter).

    With ``deny_processes``: ``fork``, ``vfork`` and ``clone`` without ``CLONE_THREAD`` fail with EAGAIN
    (threads, which torch starts, are still allowed), and ``clone3``, whose flags sit in memory the filter
    cannot read, reports ENOSYS so that libc falls back to ``clone``. That is how the process limit holds for
    root, which ``RLIMIT_NPROC`` does not bind.

    With ``own_pid``: signals may only be sent to the child itself (``kill(-1, SIGKILL)`` as root would end
    every process of the machine, the batch included), and ``ptrace``, ``process_vm_readv``/``writev`` and
    ``pidfd_getfd``, which could read the grader's memory or take its file descriptors, fail with EPERM.
    """
    found = [Rule("io_uring_setup", EACCES), Rule("socket", EACCES, arg0_is=AF_UNIX)]
    if deny_processes:
        found += [Rule("fork", EAGAIN), Rule("vfork", EAGAIN), Rule("clone3", ENOSYS),
                  Rule("clone", EAGAIN, arg0_has=CLONE_THREAD)]
    if own_pid is not None:
        found += [Rule(name, EPERM) for name in ("tkill", "pidfd_send_signal", "ptrace", "process_vm_readv",
                                                 "process_vm_writev", "pidfd_getfd")]
        found += [Rule(name, EPERM, arg0_is=own_pid) for name in ("kill", "tgkill", "rt_sigqueueinfo",
                                                                  "rt_tgsigqueueinfo")]
    return tuple(found)


_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_NR, _ARCH, _ARG0_LOW, _ARG0_HIGH = 0, 4, 16, 20  # offsets in struct seccomp_data


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def _compile(rule: Rule, nr: int) -> list[bytes]:
    """One rule as BPF, entered with the syscall number in A; a matching syscall always returns inside it."""
    allow, deny = _bpf(_RET, 0, 0, SECCOMP_RET_ALLOW), _bpf(_RET, 0, 0, SECCOMP_RET_ERRNO | rule.errno)
    if rule.arg0_is is not None:
        value = rule.arg0_is & 0xFFFFFFFFFFFFFFFF
        return [_bpf(_JEQ, 0, 6, nr), _bpf(_LD_ABS, 0, 0, _ARG0_HIGH), _bpf(_JEQ, 0, 3, value >> 32),
                _bpf(_LD_ABS, 0, 0, _ARG0_LOW), _bpf(_JEQ, 0, 1, value & 0xFFFFFFFF), allow, deny]
    if rule.arg0_has is not None:
        return [_bpf(_JEQ, 0, 4, nr), _bpf(_LD_ABS, 0, 0, _ARG0_LOW), _bpf(_JSET, 0, 1, rule.arg0_has), allow, deny]
    return [_bpf(_JEQ, 0, 1, nr), deny]


def bpf_program(audit_arch: int, numbers: Mapping[str, int], rule_list: tuple[Rule, ...]) -> bytes:
    """The hand-built filter: the ABI checks, then each rule (those this architecture has a number for).

    ``A = arch; if A != audit_arch: kill; A = nr; [x86_64: if A >= 0x40000000: kill]; rules...; allow``.
    """
    kill = _bpf(_RET, 0, 0, SECCOMP_RET_KILL_PROCESS)
    program = [_bpf(_LD_ABS, 0, 0, _ARCH), _bpf(_JEQ, 1, 0, audit_arch), kill, _bpf(_LD_ABS, 0, 0, _NR)]
    if audit_arch == AUDIT_ARCH_X86_64:
        program += [_bpf(_JGE, 0, 1, X32_SYSCALL_BIT), kill]
    for rule in rule_list:
        if rule.syscall in numbers:
            program += _compile(rule, numbers[rule.syscall])
    return b"".join(program + [_bpf(_RET, 0, 0, SECCOMP_RET_ALLOW)])


def _load_bpf(program: bytes) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = ctypes.create_string_buffer(struct.pack("<HxxxxxxQ", len(program) // 8, ctypes.addressof(buffer)))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return int(libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                          ctypes.c_void_p(ctypes.addressof(fprog)), ctypes.c_ulong(0), ctypes.c_ulong(0))) == 0


def _load_libseccomp(audit_arch: int, numbers: Mapping[str, int], rule_list: tuple[Rule, ...]) -> bool:
    """The same rules through libseccomp, whose filter holds the native architecture only."""
    if pyseccomp is None or pyseccomp.system_arch() != audit_arch:
        return False
    try:
        syscalls = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        syscalls.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
        for rule in rule_list:
            if rule.syscall not in numbers:
                continue
            if rule.arg0_is is not None:
                condition = [pyseccomp.Arg(0, pyseccomp.NE, rule.arg0_is & 0xFFFFFFFFFFFFFFFF)]
            elif rule.arg0_has is not None:
                condition = [pyseccomp.Arg(0, pyseccomp.MASKED_EQ, rule.arg0_has, 0)]
            else:
                condition = []
            syscalls.add_rule(pyseccomp.ERRNO(rule.errno), numbers[rule.syscall], *condition)
        syscalls.load()  # also sets no_new_privs
    except OSError:
        return False
    return True


def load(audit_arch: int, numbers: Mapping[str, int], rule_list: tuple[Rule, ...], backend: str | None = None) -> str:
    """Install the filter on the calling process; return the backend used (``"libseccomp"``, ``"bpf"``), or ``""``.

    ``backend`` forces one of the two (the tests check both); by default libseccomp, then the fallback.
    """
    if backend in (None, "libseccomp") and _load_libseccomp(audit_arch, numbers, rule_list):
        return "libseccomp"
    if backend in (None, "bpf") and _load_bpf(bpf_program(audit_arch, numbers, rule_list)):
        return "bpf"
    return ""
