"""A whole-class download that arrives as one zip (Canvas's "Download Submissions", a Gradescope export).

The archive is the instructor's, but its members are named and filled by students, so it is unpacked with
the same care as a student's zip: only regular files, no absolute paths, no ``..``, sizes counted while
copying (a member's declared size can lie), and caps on the count and the total.

**Quota.** All members together may unpack to :func:`quota` bytes: :data:`QUOTA_FACTOR` times the zip's own
size plus :data:`QUOTA_SLACK`, never more than :data:`QUOTA_CAP` (a 259 kB download may fill about 14 MB, not
hundreds). A member that does not fit in what is left of the quota, or that is corrupt, is *left out*, and so
is each later member that no longer fits; the others are unpacked, so one zip bomb costs only its own student.

**Nobody vanishes.** A member that is not unpacked still leaves a stand-in where it would have been, so its
student is found and gets a row that says why:

- a symlink member becomes a link to :data:`grader.submission.ARCHIVE_LINK`, a path that cannot exist, so
  nothing can be read or written through it; the student's rows say the file was a symbolic link;
- a member left out becomes a link to :data:`LEFT_OUT` followed by the reason, and a ``.left-out`` file in the
  destination lists them; :func:`explain` turns the "link that dangles" message the submission loader gives
  such a stand-in into that reason.

**Clean-up.** The files are scratch: ``OUT/.unpacked`` is removed when the batch ends (:func:`clean`), and a
re-run unpacks the zip again; the resume keys are hashes of the bytes, so unchanged students stay unchanged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

from grader.batch.layouts import GRADESCOPE_METADATA
from grader.errors import UsageError
from grader.submission import ARCHIVE_LINK, DANGLING, Submission, refusal

MAX_MEMBERS = 100_000
MAX_MEMBER = 256 * 1024 * 1024
QUOTA_FACTOR = 20
QUOTA_SLACK = 8 * 1024 * 1024
QUOTA_CAP = 1024 * 1024 * 1024
SCRATCH = ".unpacked"
"""The folder under ``OUT`` that class zips are unpacked into (removed after the batch)."""
LEFT_OUT = "/dev/null/left out of the class download: "
"""The start of a stand-in link's target for a member that was not unpacked; the reason follows (never a real path)."""
MARKER = ".left-out"
_CHUNK = 1 << 20
_DAMAGED = (zipfile.BadZipFile, zlib.error, ValueError, EOFError, NotImplementedError, RuntimeError)
"""What reading a corrupt, truncated, encrypted or oddly compressed member raises."""


class _TooLarge(Exception):
    """A member went past what was left of the quota while it was being copied."""


def quota(archive_size: int) -> int:
    """How many bytes the members of a zip of ``archive_size`` bytes may unpack to, together."""
    return min(QUOTA_CAP, QUOTA_FACTOR * max(0, archive_size) + QUOTA_SLACK)


def unpack(archive: Path, destination: Path) -> tuple[Path, list[str]]:
    """Extract ``archive`` into ``destination`` (emptied first), within :func:`quota` of the archive's size.

    Returns the folder whose entries are the students (a single top-level folder, like a Gradescope export's
    ``assignment_<id>_export/``, is descended into) and the members that were not unpacked (corrupt, over the
    quota, or in the way of another member). A broken member never stops the batch; an archive that cannot be
    opened does (exit 2).
    """
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    try:
        limit = quota(archive.stat().st_size)
        with zipfile.ZipFile(archive) as zipped:
            skipped = _extract(zipped, destination, limit)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UsageError(f"{archive} is not a readable zip file: {exc}") from None
    root = destination
    while not (root / GRADESCOPE_METADATA).exists():
        children = [c for c in root.iterdir() if not c.name.startswith(".")]
        if len(children) != 1 or not children[0].is_dir():
            break
        root = children[0]
    return root, skipped


def clean(out: Path) -> None:
    """Remove ``out/.unpacked``: what a batch unpacked (a killed run's too). Never raises."""
    scratch = out / SCRATCH
    if scratch.is_dir() and not scratch.is_symlink():
        shutil.rmtree(scratch, ignore_errors=True)


def _extract(zipped: zipfile.ZipFile, destination: Path, limit: int) -> list[str]:
    """Unpack every member that fits; return the names of those that were not unpacked."""
    total = 0
    skipped: list[str] = []
    left_out: list[str] = []
    for count, info in enumerate(zipped.infolist()):
        if count >= MAX_MEMBERS:
            break
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or not name.parts or "__MACOSX" in name.parts:
            continue
        target = destination.joinpath(*name.parts)
        if info.is_dir():
            with contextlib.suppress(OSError):  # an empty folder is still a student (with nothing to grade)
                target.mkdir(parents=True, exist_ok=True)
            continue
        written, why = _member(zipped, info, target, min(MAX_MEMBER, limit - total))
        if written >= 0:
            total += written
            continue
        skipped.append(info.filename)
        if why and _stand_in(target, why):
            left_out.append(f"{name}: {why}")
    if left_out:
        (destination / MARKER).write_text("\n".join(left_out) + "\n", encoding="utf-8")
    return skipped


def _member(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, room: int) -> tuple[int, str]:
    """Unpack one member into ``target``; return its size, or -1 and why it was left out.

    The reason is ``""`` when the member has no place: its folder is a stand-in or a file, or its name is a
    stand-in or a folder already (a second member of the same name). Then no stand-in can go there either.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISLNK(info.external_attr >> 16):
            os.symlink(ARCHIVE_LINK, target)
            return 0, ""
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(target, flags, 0o644)
    except OSError:
        return -1, ""
    try:
        return _copy(zipped, info, fd, room), ""
    except _TooLarge:
        _remove(target)
        return -1, (f"it would unpack to more than the {_size(room)} left of this download's limit "
                    f"({QUOTA_FACTOR} times the size of the zip plus {_size(QUOTA_SLACK)}); submit a smaller file")
    except OSError as exc:
        _remove(target)
        return -1, f"it could not be unpacked ({exc.strerror or type(exc).__name__})"
    except _DAMAGED as exc:
        _remove(target)
        return -1, f"it is damaged or encrypted in the zip ({type(exc).__name__}: {exc})"


def _copy(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, fd: int, room: int) -> int:
    """Copy one member to the open file ``fd`` (closed here); return its size, or raise :class:`_TooLarge` past
    ``room`` bytes."""
    written = 0
    with os.fdopen(fd, "wb") as sink, zipped.open(info) as source:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > room:
                raise _TooLarge
            sink.write(chunk)
    return written


def _remove(target: Path) -> None:
    """Remove a partial file (never a stand-in link, which under another stand-in cannot even be removed)."""
    if not target.is_symlink():
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)


def _stand_in(target: Path, why: str) -> bool:
    """Put a link that leads nowhere, and says ``why``, where a member was left out; return whether it is there."""
    try:
        os.symlink(LEFT_OUT + why, target)
    except OSError:
        return False
    return True


def _size(count: int) -> str:
    """Bytes as a short text: ``13 MB``, ``512 kB``."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.0f} MB"
    return f"{max(0, count) / 1000:.0f} kB"


def left_out(path: Path) -> str:
    """Why the member at ``path`` was not unpacked, when ``path`` is its stand-in; else ``""``."""
    try:
        target = os.readlink(path)
    except OSError:
        return ""
    return target[len(LEFT_OUT):] if target.startswith(LEFT_OUT) else ""


def explain(submission: Submission, paths: Sequence[Path]) -> Submission:
    """``submission`` (loaded from ``paths``) with each stand-in's "dangling link" refusal replaced by why its
    member was left out of the class download. Costs nothing for paths that were not unpacked with a left-out member.
    """
    notes: dict[str, str] = {}
    for path in paths:
        if _unpacked_with_left_out(path):
            for stand_in, name in _stand_ins(path):
                notes[refusal(name, DANGLING)] = f"{name} was left out of the class download: {left_out(stand_in)}"
    if not notes:
        return submission
    return replace(submission, problem=_rewrite(submission.problem, notes),
                   refused={k: _rewrite(v, notes) for k, v in submission.refused.items()})


def _unpacked_with_left_out(path: Path) -> bool:
    """Whether ``path`` lies in a destination of :func:`unpack` that left a member out."""
    return any((folder / MARKER).is_file() for folder in path.absolute().parents)


def _stand_ins(path: Path) -> list[tuple[Path, str]]:
    """The stand-ins of left-out members at or under ``path``, with their names as the submission loader gives them."""
    if path.is_symlink():
        return [(path, path.name)] if left_out(path) else []
    found = []
    for folder, dirs, names in os.walk(path, followlinks=False):
        for name in (*dirs, *names):
            member = Path(folder) / name
            if member.is_symlink() and left_out(member):
                found.append((member, member.relative_to(path).as_posix()))
    return found


def _rewrite(text: str, notes: dict[str, str]) -> str:
    for old, new in notes.items():
        text = text.replace(old, new)
    return text
