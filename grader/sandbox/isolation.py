"""Isolation layers for the sandboxed child, built from Linux mechanisms that need no root and no Docker.

Applied in the forked child after the rlimits and before any student code runs; each layer is tried and
reported, so a platform without one still grades (the report's ``"sandbox"`` says what was active):

- ``landlock``: the filesystem. The child may read the Python installation, the system libraries and its
  own work directory, and write only its work directory. The course, solutions, hidden cases, the home
  directory, ``/proc`` (so no ``/proc/<ppid>/environ``) and other students' work directories are out of
  reach. Landlock ABI 4+ also denies TCP bind/connect; ABI 6+ scopes abstract UNIX sockets and signals.
- ``seccomp``: a BPF filter makes ``socket()`` fail with ``EACCES`` for every family but ``AF_UNIX`` and
  disables ``io_uring``, which could bypass the filter.
- ``netns``: where permitted, a fresh network namespace with no interfaces up.
- ``environment``: the environment is cleared, so tokens in the grader's environment (CI secrets) are not
  visible.

Syscall numbers and structures are from the kernel's UAPI headers (``linux/landlock.h``,
``linux/seccomp.h``, ``linux/filter.h``).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
from pathlib import Path

_ARCH = {"x86_64": (0xC000003E, {"socket": 41, "io_uring_setup": 425, "landlock_create_ruleset": 444,
                                 "landlock_add_rule": 445, "landlock_restrict_self": 446,
                                 "clone": 56, "fork": 57, "vfork": 58, "clone3": 435,
                                 "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
                                 "rt_tgsigqueueinfo": 297, "pidfd_send_signal": 424, "ptrace": 101,
                                 "process_vm_readv": 310, "process_vm_writev": 311}),
         "aarch64": (0xC00000B7, {"socket": 198, "io_uring_setup": 425, "landlock_create_ruleset": 444,
                                  "landlock_add_rule": 445, "landlock_restrict_self": 446,
                                  "clone": 220, "clone3": 435,
                                  "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
                                  "rt_tgsigqueueinfo": 240, "pidfd_send_signal": 424, "ptrace": 117,
                                  "process_vm_readv": 270, "process_vm_writev": 271})}

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EACCES = 13
AF_UNIX = 1
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
_FS_ALL_V1 = (1 << 13) - 1
_FS_ALL = {1: _FS_ALL_V1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_ALL = 0b11
_SCOPE_ALL = 0b11


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _numbers() -> tuple[int, dict[str, int]] | None:
    return _ARCH.get(platform.machine())


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    arch = _numbers()
    if arch is None:
        return 0
    version = _libc().syscall(arch[1]["landlock_create_ruleset"], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return int(version) if version > 0 else 0


def read_only_roots() -> list[str]:
    """What the child may read: the Python installation and the system's shared libraries."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for entry in sys.path:
        if entry and "site-packages" in entry:
            roots.add(entry)
    roots.update(["/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime", "/bin",
                  "/sys/devices/system/cpu", "/dev/urandom", "/dev/null", "/dev/zero"])
    return sorted(r for r in roots if os.path.exists(r))


def apply_landlock(workdir: Path) -> bool:
    abi = landlock_abi()
    arch = _numbers()
    if not abi or arch is None:
        return False
    nr = arch[1]
    libc = _libc()
    fs_all = _FS_ALL.get(abi, _FS_ALL[5])
    fields = [fs_all]
    if abi >= 4:
        fields.append(_NET_ALL)
    if abi >= 6:
        fields.append(_SCOPE_ALL)
    attr = struct.pack(f"<{len(fields)}Q", *fields)
    ruleset = libc.syscall(nr["landlock_create_ruleset"], ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        for root in read_only_roots():
            if not _allow(libc, nr, int(ruleset), root, _FS_READ & fs_all if os.path.isdir(root) else (1 << 2) | 1):
                return False
        _allow(libc, nr, int(ruleset), "/dev/null", (1 << 1) | (1 << 2))
        if not _allow(libc, nr, int(ruleset), str(workdir), fs_all):
            return False
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return int(libc.syscall(nr["landlock_restrict_self"], ctypes.c_int(int(ruleset)), ctypes.c_uint32(0))) == 0
    finally:
        os.close(int(ruleset))


def _allow(libc: ctypes.CDLL, nr: dict[str, int], ruleset: int, path: str, access: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        if not os.path.isdir(path):
            access &= (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)
        rule = struct.pack("<Qi", access, fd)
        return int(libc.syscall(nr["landlock_add_rule"], ctypes.c_int(ruleset), ctypes.c_int(1),
                                ctypes.c_char_p(rule), ctypes.c_uint32(0))) == 0
    finally:
        os.close(fd)


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


_LD_ABS, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
ENOSYS = 38
EPERM = 1
EAGAIN = 11
CLONE_THREAD = 0x00010000


def seccomp_program(deny_processes: bool, own_pid: int | None = None) -> bytes | None:
    """The BPF filter as bytes, or ``None`` on an architecture we have no syscall numbers for.

    Always: ``socket()`` fails with EACCES unless the family is AF_UNIX, and ``io_uring_setup`` fails.
    With ``deny_processes``: ``fork``, ``vfork`` and ``clone`` without ``CLONE_THREAD`` fail with EAGAIN
    (threads are still allowed), and ``clone3`` reports ENOSYS so that libc falls back to ``clone``. That is
    how the process limit holds for root, which ``RLIMIT_NPROC`` does not bind.

    With ``own_pid``: signals may only be sent to the child itself (``kill(-1, SIGKILL)`` as root would end
    every process of the machine, the batch included), and ``ptrace`` and ``process_vm_readv``/``writev``,
    which could read the grader's memory, fail with EPERM.
    """
    arch = _numbers()
    if arch is None:
        return None
    audit_arch, nr = arch
    allow, deny_socket = _bpf(_RET, 0, 0, SECCOMP_RET_ALLOW), _bpf(_RET, 0, 0, SECCOMP_RET_ERRNO | EACCES)
    body: list[bytes] = []
    deny_perm = _bpf(_RET, 0, 0, SECCOMP_RET_ERRNO | EPERM)
    if own_pid is not None:
        for name in ("tkill", "pidfd_send_signal", "ptrace", "process_vm_readv", "process_vm_writev"):
            body += [_bpf(_JEQ, 0, 1, nr[name]), deny_perm]
        for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            # if nr == name: A = target pid; allow when it is our own pid, else deny
            body += [_bpf(_JEQ, 0, 4, nr[name]), _bpf(_LD_ABS, 0, 0, 16), _bpf(_JEQ, 0, 1, own_pid & 0xFFFFFFFF),
                     allow, deny_perm]
    if deny_processes:
        for name in ("fork", "vfork"):
            if name in nr:
                body += [_bpf(_JEQ, 0, 1, nr[name]), _bpf(_RET, 0, 0, SECCOMP_RET_ERRNO | EAGAIN)]
        body += [_bpf(_JEQ, 0, 1, nr["clone3"]), _bpf(_RET, 0, 0, SECCOMP_RET_ERRNO | ENOSYS)]
        body += [_bpf(_JEQ, 0, 4, nr["clone"]), _bpf(_LD_ABS, 0, 0, 16), _bpf(_JSET, 0, 1, CLONE_THREAD),
                 allow, _bpf(_RET, 0, 0, SECCOMP_RET_ERRNO | EAGAIN)]
    body += [_bpf(_JEQ, 0, 1, nr["io_uring_setup"]), deny_socket,
             _bpf(_JEQ, 0, 4, nr["socket"]), _bpf(_LD_ABS, 0, 0, 16), _bpf(_JEQ, 0, 1, AF_UNIX), allow,
             deny_socket]
    head = [_bpf(_LD_ABS, 0, 0, 4), _bpf(_JEQ, 1, 0, audit_arch), allow, _bpf(_LD_ABS, 0, 0, 0)]
    return b"".join(head + body + [allow])


def apply_seccomp(deny_processes: bool = False, own_pid: int | None = None) -> bool:
    program = seccomp_program(deny_processes, own_pid)
    if program is None:
        return False
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = ctypes.create_string_buffer(struct.pack("<HxxxxxxQ", len(program) // 8, ctypes.addressof(buffer)))
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return int(libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                          ctypes.c_void_p(ctypes.addressof(fprog)), ctypes.c_ulong(0), ctypes.c_ulong(0))) == 0


def apply_netns() -> bool:
    libc = _libc()
    if libc.unshare(CLONE_NEWNET) == 0:
        return True
    return bool(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)


def clear_environment(workdir: Path) -> bool:
    keep = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir), "TMPDIR": str(workdir)}
    os.environ.clear()
    os.environ.update(keep)
    return True


def _others_can_enter(path: str) -> bool:
    """Whether a user with no special rights can reach ``path``: every folder up to it has the ``o+x`` bit."""
    current = os.path.realpath(path)
    while True:
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


def unprivileged_ids() -> tuple[int, int] | None:
    """The uid and gid to drop to when the grader runs as root (Gradescope, CI containers), else ``None``.

    Only when that user can still read the Python installation: under ``/root`` (pyenv) it cannot, and
    lazily imported modules would fail, so there the child stays root and relies on the other layers.
    """
    if os.geteuid() != 0:
        return None
    if not all(_others_can_enter(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}):
        return None
    try:
        import pwd

        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except (KeyError, ImportError):
        return 65534, 65534


def hand_over(workdir: Path, ids: tuple[int, int]) -> None:
    """Give the work directory to the unprivileged user the child is about to become."""
    for folder, dirs, files in os.walk(workdir):
        for name in (folder, *(os.path.join(folder, n) for n in dirs + files)):
            os.chown(name, *ids, follow_symlinks=False)


def drop_privileges(ids: tuple[int, int] | None) -> bool:
    """As root, become ``nobody``: the rlimit on processes then applies, and file permissions protect the host."""
    if ids is None:
        return False
    try:
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])
    except OSError:
        return False
    return os.geteuid() == ids[0]


def apply_all(workdir: Path, ids: tuple[int, int] | None = None) -> dict[str, bool]:
    """Apply every layer this host supports; return which ones are active.

    The network namespace comes first, while the child may still hold the privilege to create it.
    """
    layers = {"environment": clear_environment(workdir), "netns": apply_netns()}
    layers["unprivileged_user"] = drop_privileges(ids)
    as_root = os.geteuid() == 0
    layers["seccomp"] = apply_seccomp(deny_processes=as_root, own_pid=os.getpid())
    layers["no_fork"] = layers["seccomp"] and as_root
    layers["landlock"] = apply_landlock(workdir)
    return layers
