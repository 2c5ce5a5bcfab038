"""Isolation layers for the sandboxed child, built from Linux mechanisms that need no root and no Docker.

Applied in the forked child after the rlimits and before any student code runs; each layer is tried and
reported, so a platform without one still grades (the report's ``"sandbox"`` says what was active):

- ``landlock``: the filesystem. The child may read the Python installation, the system libraries and its
  own work directory, and write only its work directory. The course, solutions, hidden cases, the home
  directory, ``/proc`` (so no ``/proc/<ppid>/environ``) and other students' work directories are out of
  reach. Landlock ABI 4+ also denies TCP bind/connect; ABI 6+ scopes abstract UNIX sockets and signals.
- ``seccomp``: a filter makes ``socket()`` fail with ``EACCES`` for every family but ``AF_UNIX``, disables
  ``io_uring``, which could bypass the filter, confines signals to the child itself and, as root, denies
  new processes. A call through a foreign ABI (i386 ``int 0x80``, x32 on x86_64) kills the child.
  Built by libseccomp where the host has it, else by hand (``"seccomp_backend"`` in the report says
  which); the rules and the reasons are in :mod:`grader.sandbox.seccomp_filter`.
- ``netns``: where permitted, a fresh network namespace with no interfaces up.
- ``environment``: the environment is cleared, so tokens in the grader's environment (CI secrets) are not
  visible.

Syscall numbers and structures are from the kernel's UAPI headers (``linux/landlock.h``,
``linux/seccomp.h``, ``linux/filter.h``, ``linux/audit.h`` for the ``AUDIT_ARCH`` values).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
from pathlib import Path

from grader.sandbox import seccomp_filter

_ARCH = {"x86_64": (0xC000003E, {"socket": 41, "io_uring_setup": 425, "landlock_create_ruleset": 444,
                                 "landlock_add_rule": 445, "landlock_restrict_self": 446,
                                 "clone": 56, "fork": 57, "vfork": 58, "clone3": 435,
                                 "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
                                 "rt_tgsigqueueinfo": 297, "pidfd_send_signal": 424, "ptrace": 101,
                                 "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438}),
         "aarch64": (0xC00000B7, {"socket": 198, "io_uring_setup": 425, "landlock_create_ruleset": 444,
                                  "landlock_add_rule": 445, "landlock_restrict_self": 446,
                                  "clone": 220, "clone3": 435,
                                  "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
                                  "rt_tgsigqueueinfo": 240, "pidfd_send_signal": 424, "ptrace": 117,
                                  "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438})}

PR_SET_NO_NEW_PRIVS = 38
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


def seccomp_program(deny_processes: bool, own_pid: int | None = None) -> bytes | None:
    """The hand-built BPF filter as bytes, or ``None`` on an architecture we have no syscall numbers for.

    The rules are :func:`grader.sandbox.seccomp_filter.rules`; the program first kills a call through a
    foreign ABI (i386 ``int 0x80``, x32), see :mod:`grader.sandbox.seccomp_filter`.
    """
    arch = _numbers()
    if arch is None:
        return None
    return seccomp_filter.bpf_program(arch[0], arch[1], seccomp_filter.rules(deny_processes, own_pid))


def apply_seccomp(deny_processes: bool = False, own_pid: int | None = None, backend: str | None = None) -> str:
    """Install the seccomp filter; return the backend that did (``"libseccomp"`` or ``"bpf"``), ``""`` for none.

    libseccomp when the host has it, else the hand-built program; ``backend`` forces one of the two.
    """
    arch = _numbers()
    if arch is None:
        return ""
    return seccomp_filter.load(arch[0], arch[1], seccomp_filter.rules(deny_processes, own_pid), backend)


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


def apply_all(workdir: Path, ids: tuple[int, int] | None = None) -> dict[str, bool | str]:
    """Apply every layer this host supports; return which ones are active.

    Each layer maps to whether it is active, and ``"seccomp_backend"`` to ``"libseccomp"``, ``"bpf"`` (the
    hand-built fallback) or ``""``. The network namespace comes first, while the child may still hold the
    privilege to create it.
    """
    layers: dict[str, bool | str] = {"environment": clear_environment(workdir), "netns": apply_netns()}
    layers["unprivileged_user"] = drop_privileges(ids)
    as_root = os.geteuid() == 0
    backend = apply_seccomp(deny_processes=as_root, own_pid=os.getpid())
    layers["seccomp"] = bool(backend)
    layers["seccomp_backend"] = backend
    layers["no_fork"] = bool(backend) and as_root
    layers["landlock"] = apply_landlock(workdir)
    return layers
