"""A submission path (file, folder, repository, notebook or zip) becomes source text in memory.

Nothing here executes student code. Zips are read in memory: members with absolute paths or ``..`` are
ignored, and sizes are capped, so a zip-slip or a zip bomb cannot write or exhaust anything. A notebook loses
its outputs as soon as it is read (:func:`grader.notebook.strip_outputs`): the limit that matters, on code,
applies to what is left, and a much larger one on the file as stored bounds the memory a plot can take. A
submission that exists but cannot be used is still a :class:`Submission`, whose ``problem`` says why; it is
graded to zero with that message.

Messages for the student name files by their path inside the submission, never the instructor's folders: the
path as given stays in :attr:`Submission.origin`, for the instructor's logs and records.

Symbolic links, and files that are not regular files (a named pipe, a device), are never read as a student's
source, so nothing outside a submission (``/etc/shadow``, a classmate's folder) can reach a report:

- the path given may itself be a link. On the command line (``--submission``), a link to a folder is followed
  (whoever runs the grader typed it) but a link to a file is not: a lone file is its own submission, so
  whatever it points at is outside. A batch entry (a name in the instructor's folder, chosen by a student or
  an LMS) is followed only to something inside the folder that holds the entries;
- inside a folder or repository, a link to a regular file inside the submission is read (it adds nothing that
  is not already there); a link that leaves the submission, dangles or loops, and every link to a folder, is
  refused;
- a zip member with a symlink mode is refused, whatever it points to.

A refused file is not read at all. It is remembered (:attr:`Submission.refused`), so the student whose module
it is gets rows that say why, instead of a silent "not found" or nothing.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath

from grader.errors import UsageError

MAX_FILE = 4 * 1024 * 1024
"""Code: a ``.py`` file, or the code cells of a notebook."""
MAX_RAW = 64 * 1024 * 1024
"""A notebook (outputs included) or a zip, as stored."""
MAX_TOTAL = 128 * 1024 * 1024
"""All the bytes read for one submission."""
MAX_FILES = 2000
KEPT_SUFFIXES = (".py", ".ipynb")
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".ipynb_checkpoints", "solutions"}
ARCHIVE_LINK = "/dev/null/symbolic link in the class archive"
"""Where :mod:`grader.batch.unpack` points the stand-in for a zip member that was a symlink (never a real path)."""

LEAVES = "is a symbolic link that leaves the submission"
DANGLING = "is a symbolic link whose target is missing or loops"
FOLDER_LINK = "is a symbolic link to a folder"
ZIP_LINK = "is a symbolic link in a zip"
NOT_REGULAR = "is not a regular file (a named pipe, a device or a socket)"
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class Module:
    """The student's module for one exercise, ready to copy into the sandbox.

    Attributes:
        files: relative path to bytes; the module itself is under the spec's module name.
        source: the module's text.
        origin: where it came from, as a path inside the submission (``erin/exercises/ex04_linear/linear.py``).
    """

    files: dict[str, bytes]
    source: str
    origin: str


@dataclass(frozen=True)
class Submission:
    """Student files in memory.

    Attributes:
        origin: the path as given (for the instructor; student messages use :attr:`label`).
        files: relative posix path to bytes (``.py`` and ``.ipynb`` only).
        single: a lone file (``.py`` or notebook) that is the module for whatever exercise is graded.
        problem: why the submission cannot be used at all (corrupt zip, ...), or ``""``.
        refused: relative posix path to the message saying why that file was not read or kept (a symlink
            leaving the submission, a pipe, a ``.ipynb`` that is no notebook); the rows of an exercise whose
            module it is carry that message.
    """

    origin: str
    files: dict[str, bytes] = field(default_factory=dict)
    single: str = ""
    problem: str = ""
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The submission's own name (``erin``, ``erin.zip``), with no folder of the instructor's around it."""
        return PurePath(self.origin).name

    def on_disk(self, slug: str, module: str) -> Path | None:
        """The file on disk that is the module of exercise ``slug`` (a ``.py`` read from a folder or given alone),
        for pointing at its lines; ``None`` for notebooks, zips and missing modules."""
        if self.problem:
            return None
        origin = Path(self.origin)
        if self.single:
            found = origin if origin.is_file() else None
        else:
            path = _locate(list(self.files), slug, module)
            found = origin / path if path and origin.is_dir() else None
        return found if found is not None and found.suffix == ".py" else None

    def module(self, slug: str, module: str) -> Module | str:
        """The module for exercise ``slug``, or a message saying why there is none."""
        if self.problem:
            return self.problem
        if self.single:
            path = self.single
        else:
            path = _locate([*self.files, *(p for p in self.refused if p.endswith(KEPT_SUFFIXES))], slug, module)
            if not path:
                return missing(module, slug, self.label) + _not_read(self.refused)
            if path in self.refused:
                return self.refused[path]
        text, problem = _module_text(PurePosixPath(path).name, self.files[path])
        problem = problem or _syntax_problem(text, module)
        if problem:
            return problem
        folder = str(PurePosixPath(path).parent)
        siblings = {PurePosixPath(p).name: b for p, b in self.files.items()
                    if str(PurePosixPath(p).parent) == folder and p.endswith(".py") and p != path}
        siblings.pop(module, None)
        return Module(files={**siblings, module: text.encode("utf-8")}, source=text, origin=self._inside(path))

    def _inside(self, path: str) -> str:
        """``path`` (a key of :attr:`files`) prefixed with the submission's name, unless that is the file itself."""
        return path if self.single and self.label == path else str(PurePosixPath(self.label or ".", path))


def missing(module: str, slug: str, label: str) -> str:
    """The message for a submission without the module: where it was looked for, and what would be found."""
    where = f"the submission ({label})" if label else "the submission"
    return (f"no {module} found in {where}; expected exercises/{slug}/{module} (a repository), {slug}/{module} "
            f"or {module} (a folder or a lone file), or one .ipynb notebook on its own")


def _module_text(name: str, raw: bytes) -> tuple[str, str]:
    """The text of a ``.py`` file or the code of a notebook, and ``""``; or ``""`` and why there is none."""
    if name.endswith(".ipynb"):
        from grader.notebook import NotebookError, notebook_to_source  # nbformat: a third of a second, when needed

        try:
            text = notebook_to_source(raw, name)
        except NotebookError as exc:
            return "", str(exc)
        if len(text.encode("utf-8")) > MAX_FILE:
            return "", f"the code cells of {name} are larger than {_mib(MAX_FILE)}: the grader does not read them"
        return text, ""
    if len(raw) > MAX_FILE:
        return "", refusal(name, f"is larger than {_mib(MAX_FILE)}")
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0  # Windows editors add one
    try:
        return raw[bom:].decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return "", (f"{name} is not UTF-8 text (byte 0x{raw[bom + exc.start]:02x} at position {bom + exc.start}): "
                    "save it with UTF-8 encoding")


def _mib(size: int) -> str:
    return f"{size // 1024 // 1024} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"


def refusal(name: str, reason: str) -> str:
    """The message for a file that was not read: ``reason`` is one of the module's constants (or a size)."""
    if reason in (LEAVES, DANGLING, FOLDER_LINK, ZIP_LINK):
        return f"{name} {reason}: the grader does not follow symbolic links; submit the file itself"
    return f"{name} {reason}: the grader does not read it"


def _not_read(refused: dict[str, str]) -> str:
    if not refused:
        return ""
    shown = sorted(refused)[:3]
    more = f" ({len(refused) - len(shown)} more not read)" if len(refused) > len(shown) else ""
    return "; " + "; ".join(refused[p] for p in shown) + more


def load_submission(path: Path, *, within: Path | None = None) -> Submission:
    """Read a submission; a path that does not exist is a usage error (exit 2).

    ``path`` may be a symbolic link only to something inside ``within`` (a batch passes the folder that holds
    its entries). Without ``within`` (the path was typed by whoever runs the grader), a link to a folder is
    followed and a link to a file is refused. A refused link is a ``problem``: graded, with no file read.
    """
    if not os.path.lexists(path):
        raise UsageError(f"submission {path} does not exist")
    reason = _link_reason(path, within)
    if reason:
        return Submission(origin=str(path), problem=refusal(path.name, reason))
    real = path.resolve() if path.is_symlink() else path
    if real.is_dir():
        files, refused = _read_folder(real)
        return Submission(origin=str(path), files=files, refused=refused)
    raw = _read_regular(real, _limit(path.name))
    if isinstance(raw, str):
        return Submission(origin=str(path), problem=refusal(path.name, raw))
    if path.suffix == ".zip":
        return _from_zip(str(path), raw)
    if path.suffix not in KEPT_SUFFIXES:
        return Submission(origin=str(path), problem=f"{path.name} is not a .py, .ipynb or .zip file")
    kept = _kept(path.name, raw)
    if isinstance(kept, str):
        return Submission(origin=str(path), problem=kept)
    return Submission(origin=str(path), files={path.name: kept}, single=path.name)


def _limit(name: str) -> int:
    """How many bytes of the file ``name`` are read: notebooks and zips are capped as stored, code as code."""
    return MAX_RAW if name.endswith((".ipynb", ".zip")) else MAX_FILE


def _kept(name: str, data: bytes) -> bytes | str:
    """What is kept in memory of the file ``name``: a notebook without its outputs, other files as they are;
    or the message saying that a ``.ipynb`` is not a notebook."""
    if not name.endswith(".ipynb"):
        return data
    from grader.notebook import NotebookError, strip_outputs

    try:
        return strip_outputs(data, name)
    except NotebookError as exc:
        return str(exc)


def _locate(files: list[str], slug: str, module: str) -> str:
    for candidate in (f"exercises/{slug}/{module}", f"{slug}/{module}", module):
        if candidate in files:
            return candidate
    deep = sorted((p for p in files if PurePosixPath(p).name == module), key=lambda p: (p.count("/"), p))
    for path in deep:
        if slug in PurePosixPath(path).parts:
            return path
    if deep:
        return deep[0]
    notebooks = [p for p in files if p.endswith(".ipynb")]
    return notebooks[0] if len(notebooks) == 1 and len(files) == 1 else ""


def _syntax_problem(text: str, module: str) -> str:
    try:
        compile(text, module, "exec", dont_inherit=True, flags=0x400)  # PyCF_ONLY_AST: parse, never run
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        return f"syntax error in {module} line {exc.lineno}: {exc.msg}" + (f": {line}" if line else "")
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{module} could not be parsed: {exc}"
    return ""


def _resolve(path: Path) -> Path | None:
    """Where ``path`` leads, or None when it dangles or loops."""
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return None


def _link_reason(path: Path, within: Path | None) -> str:
    """Why the link ``path`` is not followed (``""`` when it is no link, or may be followed); see load_submission."""
    if not path.is_symlink():
        return ""
    try:
        if os.readlink(path) == ARCHIVE_LINK:
            return ZIP_LINK
    except OSError:
        return DANGLING
    target = _resolve(path)
    if target is None:
        return DANGLING
    if within is None:  # typed by whoever runs the grader: a folder is followed; a lone file is its own root
        return "" if target.is_dir() else LEAVES
    base = _resolve(within)
    if base is None or target == base or not target.is_relative_to(base):
        return LEAVES
    return ""


def _read_regular(path: Path, limit: int) -> bytes | str:
    """The bytes of the regular file ``path`` (a symlink is not followed) up to ``limit``, or why it was not read.

    A pipe or a device is never opened (opening a FIFO blocks; reading ``/dev/zero`` never ends); the check is
    repeated on the open descriptor, in case the file was swapped in between.
    """
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return NOT_REGULAR
        fd = os.open(path, _O_FLAGS)
    except OSError as exc:
        return f"could not be opened ({exc.strerror or type(exc).__name__})"
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return NOT_REGULAR
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            return f"could not be read ({exc.strerror or type(exc).__name__})"
    return f"is larger than {_mib(limit)}" if len(data) > limit else data


def _read_member(path: Path, base: Path) -> bytes | str:
    """A file inside the folder ``base`` (resolved): its bytes, or why it was not read."""
    if not path.is_symlink():
        return _read_regular(path, _limit(path.name))
    reason = _link_reason(path, base)
    if reason:
        return reason
    target = _resolve(path)
    if target is None:
        return DANGLING
    if target.is_dir():
        return FOLDER_LINK
    return _read_regular(target, _limit(path.name))


def _read_folder(root: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The kept files under ``root``, and the kept names that were refused, with why."""
    files: dict[str, bytes] = {}
    refused: dict[str, str] = {}
    base = root.resolve()
    total = 0
    for folder, dirs, names in os.walk(root, followlinks=False):
        kept = []
        for name in sorted(dirs):
            if name in SKIPPED_DIRS or name.startswith("."):
                continue
            if (Path(folder) / name).is_symlink():  # listed among folders, never walked into: always refused
                if len(refused) < MAX_FILES:
                    relative = (Path(folder) / name).relative_to(root).as_posix()
                    refused[relative] = refusal(relative, FOLDER_LINK)
            else:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            if not name.endswith(KEPT_SUFFIXES):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            data = _read_member(path, base)
            if isinstance(data, str):
                if len(refused) < MAX_FILES:
                    refused[relative] = refusal(relative, data)
                continue
            total += len(data)
            if total > MAX_TOTAL or len(files) >= MAX_FILES:
                return files, refused
            _store(relative, data, files, refused)
    return files, refused


def _store(name: str, data: bytes, files: dict[str, bytes], refused: dict[str, str]) -> None:
    """Put what is kept of the file ``name`` in ``files``, or why it is not (no notebook) in ``refused``."""
    content = _kept(name, data)
    if isinstance(content, bytes):
        files[name] = content
    elif len(refused) < MAX_FILES:
        refused[name] = content


def _from_zip(origin: str, raw: bytes) -> Submission:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Submission(origin=origin, problem=f"{Path(origin).name} is not a readable zip file: {exc}")
    files: dict[str, bytes] = {}
    refused: dict[str, str] = {}
    total = 0
    for info in members:
        name = PurePosixPath(info.filename.replace("\\", "/"))
        mode = info.external_attr >> 16
        if info.is_dir() or name.is_absolute() or ".." in name.parts or "__MACOSX" in name.parts:
            continue
        if stat.S_ISLNK(mode):  # its data is the link's target: never read, never followed
            if (name.name.endswith(KEPT_SUFFIXES) or not name.suffix) and len(refused) < MAX_FILES:
                refused[str(name)] = refusal(str(name), ZIP_LINK)
            continue
        if not info.filename.endswith(KEPT_SUFFIXES):
            continue
        if total + info.file_size > MAX_TOTAL or len(files) >= MAX_FILES:
            continue
        if info.file_size > _limit(name.name):
            if len(refused) < MAX_FILES:
                refused[str(name)] = refusal(str(name), f"is larger than {_mib(_limit(name.name))}")
            continue
        try:
            data = archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError) as exc:
            return Submission(origin=origin, problem=f"{Path(origin).name} is a corrupt zip file: {exc}")
        total += len(data)
        _store(str(name), data, files, refused)
    if not files and not refused:
        return Submission(origin=origin, problem=f"{Path(origin).name} holds no .py or .ipynb file")
    if len(files) == 1 and not any(p.endswith(KEPT_SUFFIXES) for p in refused):
        only = next(iter(files))
        return Submission(origin=origin, files=files, single=only)
    return Submission(origin=origin, files=files, refused=refused)

