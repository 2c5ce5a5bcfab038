"""Resume by hash, and writes that a kill cannot tear.

A student is re-graded only when something that decides their grade changed: the bytes of their
submission, the course and exercise specs (with the hidden cases when they are graded), the options
(exercises, hidden, seed), or the grader and torch versions. Those are hashed into the key stored in the
student's report; a re-run compares keys and skips the student when they match. (The course's location
is part of its spec, so grading a moved copy of the course regrades everyone.)

Every file is written to a temporary name in the same folder and renamed over the target, so a reader
(or a re-run after ``kill -9``) sees either the old file or the whole new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from grader import __version__
from grader.spec import CourseSpec, ExerciseSpec
from grader.submission import Submission


def spec_key(course: CourseSpec, exercises: Sequence[ExerciseSpec], hidden: bool, seed: int) -> str:
    """A hash of everything that decides a grade except the submission itself.

    The frozen spec objects are hashed rather than the YAML files, so a spec changed in memory (a shorter
    time limit in a test, say) counts too, and a comment changed in a YAML file does not.
    """
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "unknown"
    text = json.dumps([__version__, torch_version, repr(course), [repr(e) for e in exercises], hidden, seed])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def student_key(spec: str, submission: Submission) -> str:
    """``spec`` combined with the submission's files (names and bytes) and whatever made it unusable."""
    digest = hashlib.sha256(spec.encode("ascii"))
    for name in sorted(submission.files):
        data = submission.files[name]
        digest.update(f"\0{name}\0{len(data)}\0".encode())
        digest.update(data)
    digest.update(f"\0single={submission.single}\0problem={submission.problem}".encode())
    return digest.hexdigest()


def stored_key(path: Path) -> str:
    """The key in an existing report, or ``""`` when there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["batch"]["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _umask() -> int:
    """The process's umask, read once at import (setting it to read it back is not safe once threads run)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()
"""The mode ``open`` would give a new file. A temporary file is made ``0600``; the renamed file gets this, so the
class files are readable by whoever the instructor's umask lets read the folder, like every other file they make."""


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` so that it is either unchanged or complete, whatever happens to this process."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, data: str | bytes) -> bool:
    """Like :func:`write_atomic`, but leave an identical file alone (its time stamp too); return whether it was written."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if path.read_bytes() == raw:
            return False
    except OSError:
        pass
    write_atomic(path, raw)
    return True
