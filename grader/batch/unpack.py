"""A whole-class download that arrives as one zip (Canvas's "Download Submissions", a Gradescope export).

The archive is the instructor's, but its members are named and filled by students, so it is unpacked with
the same care as a student's zip: only regular files, no absolute paths, no ``..``, sizes counted while
copying (a member's declared size can lie), and caps on the count and the total.

A member that is a symlink is never recreated as the student wrote it. Its stand-in is a link to
:data:`grader.submission.ARCHIVE_LINK`, a path that cannot exist, so nothing can be read or written through it,
and the student it belongs to is still found and graded: their rows say the file was a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from grader.batch.layouts import GRADESCOPE_METADATA
from grader.errors import UsageError
from grader.submission import ARCHIVE_LINK

MAX_MEMBERS = 100_000
MAX_MEMBER = 256 * 1024 * 1024
MAX_TOTAL = 4 * 1024 * 1024 * 1024
_CHUNK = 1 << 20


def unpack(archive: Path, destination: Path) -> tuple[Path, list[str]]:
    """Extract ``archive`` into ``destination`` (emptied first).

    Returns the folder whose entries are the students (a single top-level folder, like a Gradescope export's
    ``assignment_<id>_export/``, is descended into) and the members that were left out because they were
    corrupt or too large. A broken member never stops the batch; an archive that cannot be opened does (exit 2).
    """
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    try:
        with zipfile.ZipFile(archive) as zipped:
            skipped = _extract(zipped, destination)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UsageError(f"{archive} is not a readable zip file: {exc}") from None
    root = destination
    while not (root / GRADESCOPE_METADATA).exists():
        children = [c for c in root.iterdir() if not c.name.startswith(".")]
        if len(children) != 1 or not children[0].is_dir():
            break
        root = children[0]
    return root, skipped


def _extract(zipped: zipfile.ZipFile, destination: Path) -> list[str]:
    total = 0
    skipped: list[str] = []
    for count, info in enumerate(zipped.infolist()):
        if count >= MAX_MEMBERS:
            break
        name = PurePosixPath(info.filename.replace("\\", "/"))
        mode = info.external_attr >> 16
        if (info.is_dir() or name.is_absolute() or ".." in name.parts or not name.parts
                or "__MACOSX" in name.parts):
            continue
        target = destination.joinpath(*name.parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)  # fails under a stand-in link or a file: skipped
            if stat.S_ISLNK(mode):
                os.symlink(ARCHIVE_LINK, target)
                continue
            written = _copy(zipped, info, target, min(MAX_MEMBER, MAX_TOTAL - total))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            written = -1
        if written < 0:
            if not target.is_symlink():
                with contextlib.suppress(OSError):  # under a stand-in link, the path cannot even be removed
                    target.unlink(missing_ok=True)
            skipped.append(info.filename)
            continue
        total += written
    return skipped


def _copy(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int) -> int:
    """Copy one member; return its size, or -1 when it exceeds ``cap`` (the partial file is removed by the caller)."""
    written = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with zipped.open(info) as source, os.fdopen(os.open(target, flags, 0o644), "wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > cap:
                return -1
            sink.write(chunk)
    return written
