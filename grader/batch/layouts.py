"""Who is who in an LMS download: each entry of the submissions folder becomes one student.

Recognised layouts, entry by entry, so one folder may mix them:

- **GitHub Classroom** (``gh classroom clone student-repos``): one folder per student repository, named
  ``<assignment>-<username>``. The assignment prefix is the ``...-`` prefix shared by the most dashed folder
  names (at least two, and half of them), the longest on a tie, so ``hw4-mary-jane`` is ``mary-jane``.
- **Canvas** ("Download Submissions"): files named ``<name>_[LATE_]<userid>_<submissionid>_<filename>``.
  A student's several files become one submission under their original names (Canvas's ``-1`` suffix for a
  resubmission removed), so ``linear.py`` next to its ``linear_helpers.py`` still imports it.
- **Gradescope** (export of submissions): ``submission_metadata.yml`` next to ``submission_<id>/`` folders;
  the metadata names the submitters. A group submission is graded once per member, so each gets a row.
- anything else: a folder, ``.py``, ``.ipynb`` or ``.zip`` per student, named after the entry.

Each student keeps the name the download gives them as their id, exactly (NFC-normalised: ``zoë_müller``),
and gets a separate file-name key derived from it (``zoe_muller-5b0c8e``), unique and deterministic; see
:mod:`grader.batch.naming`.

An entry that is a symbolic link is still a student (a link that dangles or loops too, classified by its name):
it is followed only to something inside the submissions folder, so a student whose entry points at
``/etc/shadow`` or at a folder elsewhere gets a row saying so, and nothing of the target is read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.batch import naming
from grader.batch.record import Identity
from grader.submission import Submission, load_submission

SUBMISSION_SUFFIXES = (".py", ".ipynb", ".zip")
GRADESCOPE_METADATA = "submission_metadata.yml"
_CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:late_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$", re.IGNORECASE)
_RESUBMITTED = re.compile(r"^(?P<stem>.+)-\d+(?P<suffix>\.[A-Za-z0-9]+)$")
_SKIPPED = {"__MACOSX", "Thumbs.db", GRADESCOPE_METADATA}


@dataclass(frozen=True)
class Entry:
    """One student's submission as found on disk.

    Attributes:
        identity: who the student is, as far as the layout tells.
        paths: the submission: one path, or a Canvas student's several files.
        layout: ``classroom``, ``canvas``, ``gradescope`` or ``plain``.
    """

    identity: Identity
    paths: tuple[Path, ...]
    layout: str = "plain"

    @property
    def student(self) -> str:
        """The file-name key (``reports/<student>.json``); ``identity.student_id`` is the real id."""
        return self.identity.student

    @property
    def source(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def load(self) -> Submission:
        """The student's files in memory (never executed); an unusable submission carries its ``problem``."""
        if len(self.paths) == 1:
            return load_submission(self.paths[0], within=self.paths[0].parent)
        return _merge(str(self.paths[0].parent / self.student), self.paths)


@dataclass(frozen=True)
class Discovery:
    """The students found, sorted by key, and the entries that are no submission (a README, say)."""

    entries: tuple[Entry, ...]
    ignored: tuple[Path, ...] = ()


def discover(paths: Sequence[Path], exclude: Sequence[Path] = ()) -> Discovery:
    """One folder: its entries are the students. Several paths: each is a student's entry."""
    skip = {_resolved(p) for p in exclude}
    if len(paths) == 1 and paths[0].is_dir():
        root = paths[0]
        children = [c for c in sorted(root.iterdir()) if _visible(c) and _resolved(c) not in skip]
        if (root / GRADESCOPE_METADATA).is_file():
            return _gradescope(root, children)
        return _classify(children)
    return _classify([p for p in paths if _resolved(p) not in skip])


def _resolved(path: Path) -> Path:
    """``path`` resolved, or as it is when it is a link that loops (which resolving raises for)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _folder_like(path: Path) -> bool:
    """A folder, or a link (even one that dangles) that does not look like a file submission."""
    return path.is_dir() or (path.is_symlink() and path.suffix.lower() not in SUBMISSION_SUFFIXES)


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in _SKIPPED


def _classify(children: list[Path]) -> Discovery:
    canvas: dict[tuple[str, str], list[Path]] = {}
    entries: list[Entry] = []
    ignored: list[Path] = []
    prefix = classroom_prefix([c.name for c in children if _folder_like(c)])
    for child in children:
        match = _CANVAS.match(child.name)
        if match and not child.is_dir():  # a file, or a link or pipe that is refused when loaded
            canvas.setdefault((match["name"].lower(), match["user"]), []).append(child)
        elif _folder_like(child) and prefix and child.name.startswith(prefix) and len(child.name) > len(prefix):
            username = child.name[len(prefix):]
            entries.append(Entry(Identity(username, github=username), (child,), "classroom"))
        elif _folder_like(child) or child.suffix.lower() in SUBMISSION_SUFFIXES:
            entries.append(Entry(Identity(_stem(child)), (child,), "plain"))
        else:
            ignored.append(child)
    for (name, user), files in canvas.items():
        ordered = tuple(sorted(files, key=lambda p: (int(_canvas_part(p, "submission")), p.name)))
        entries.append(Entry(Identity(name, lms_id=user), ordered, "canvas"))
    return Discovery(unique(entries), tuple(ignored))


def classroom_prefix(names: list[str]) -> str:
    """The ``<assignment>-`` prefix of GitHub Classroom folder names, or ``""`` when there is none."""
    dashed = [n for n in names if "-" in n.strip("-")]
    counts: Counter[str] = Counter()
    for name in dashed:
        counts.update({name[: i + 1] for i, ch in enumerate(name) if ch == "-" and 0 < i < len(name) - 1})
    need = max(2, (len(dashed) + 1) // 2)
    shared = [p for p, n in counts.items() if n >= need]
    return max(shared, key=lambda p: (counts[p], len(p), p)) if shared else ""


def _gradescope(root: Path, children: list[Path]) -> Discovery:
    submitters = _gradescope_submitters(root / GRADESCOPE_METADATA)
    entries: list[Entry] = []
    ignored: list[Path] = []
    for child in children:
        if not _folder_like(child):
            ignored.append(child)
            continue
        people = submitters.get(child.name) or [Identity(child.name)]
        entries.extend(Entry(person, (child,), "gradescope") for person in people)
    return Discovery(unique(entries), tuple(ignored))


def _gradescope_submitters(path: Path) -> dict[str, list[Identity]]:
    """``submission_<id>`` to its submitters. Keys are Ruby symbols (``:submitters:``); the leading colon is dropped.

    An unreadable file gives no names rather than an error: the folders are still graded under their own names.
    """
    import yaml

    try:
        data = _plain_keys(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    found: dict[str, list[Identity]] = {}
    for folder, meta in (data.items() if isinstance(data, dict) else ()):
        people = meta.get("submitters") if isinstance(meta, dict) else None
        for person in people if isinstance(people, list) else ():
            if not isinstance(person, dict):
                continue
            email, sid, name = (str(person.get(k) or "") for k in ("email", "sid", "name"))
            key = email or sid or name or str(folder)
            found.setdefault(str(folder), []).append(Identity(key, name=name, email=email, sis_id=sid))
    return found


def _plain_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lstrip(":"): _plain_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_keys(v) for v in value]
    return value


def unique(entries: list[Entry]) -> tuple[Entry, ...]:
    """Entries sorted by file key, each with its real id (NFC) and a file key derived from it (see
    :mod:`grader.batch.naming`), both distinct in the batch, the key also on a case-insensitive file system.

    Entries are taken in a fixed order (already-safe names first, then by name), so the result never depends
    on the order of ``entries``; applied again to its own result, it changes nothing.
    """
    ordered = sorted(entries, key=lambda e: (naming.order(e.identity.student_id), e.identity.lms_id,
                                              [str(p) for p in e.paths]))
    ids: set[str] = set()
    keys: set[str] = set()
    out = []
    for entry in ordered:
        student_id = naming.distinct_id(entry.identity.student_id, ids)
        identity = entry.identity.keyed(naming.file_key(student_id, keys), student_id)
        out.append(Entry(identity, entry.paths, entry.layout))
    return tuple(sorted(out, key=lambda e: e.student))


def _stem(path: Path) -> str:
    filelike = not path.is_dir()  # a file, a pipe, or a link that dangles or loops
    return path.name[: -len(path.suffix)] if filelike and path.suffix.lower() in SUBMISSION_SUFFIXES else path.name


def _canvas_part(path: Path, part: str) -> str:
    match = _CANVAS.match(path.name)
    assert match is not None
    return match[part]


def _original_name(path: Path) -> str:
    """The file name the student uploaded: Canvas's prefix removed, and its ``-1`` resubmission suffix too."""
    name = _canvas_part(path, "file")
    match = _RESUBMITTED.match(name)
    return f"{match['stem']}{match['suffix']}" if match else name


def _merge(origin: str, paths: tuple[Path, ...]) -> Submission:
    """Several Canvas files of one student as one submission, later submissions winning over earlier ones."""
    files: dict[str, bytes] = {}
    problems: list[str] = []
    refused: dict[str, str] = {}
    for path in paths:
        part = load_submission(path, within=path.parent)
        if part.problem:
            problems.append(part.problem)
            if path.suffix.lower() in (".py", ".ipynb"):
                refused[_original_name(path)] = part.problem
        elif part.single and path.suffix.lower() in (".py", ".ipynb"):
            files[_original_name(path)] = part.files[part.single]
        else:
            files.update(part.files)
    if not files:
        return Submission(origin=origin, problem="; ".join(problems)
                          or f"{Path(origin).name} holds no .py or .ipynb file (in {len(paths)} files)")
    return Submission(origin=origin, files=files, refused={n: why for n, why in refused.items() if n not in files})
