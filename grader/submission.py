"""A submission path (file, folder, repository, notebook or zip) becomes source text in memory.

Nothing here executes student code. Zips are read in memory: members with absolute paths, ``..``, or a
symlink mode are ignored, and sizes are capped, so a zip-slip or a zip bomb cannot write or exhaust
anything. Folders are walked without following symlinks. A submission that exists but cannot be used is
still a :class:`Submission`, whose ``problem`` says why; it is graded to zero with that message.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.errors import UsageError
from grader.notebook import NotebookError, notebook_to_source

MAX_FILE = 4 * 1024 * 1024
MAX_TOTAL = 64 * 1024 * 1024
MAX_FILES = 2000
KEPT_SUFFIXES = (".py", ".ipynb")
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".ipynb_checkpoints", "solutions"}


@dataclass(frozen=True)
class Module:
    """The student's module for one exercise, ready to copy into the sandbox.

    Attributes:
        files: relative path to bytes; the module itself is under the spec's module name.
        source: the module's text.
        origin: where it came from, for messages.
    """

    files: dict[str, bytes]
    source: str
    origin: str


@dataclass(frozen=True)
class Submission:
    """Student files in memory.

    Attributes:
        origin: the path as given.
        files: relative posix path to bytes (``.py`` and ``.ipynb`` only).
        single: a lone file (``.py`` or notebook) that is the module for whatever exercise is graded.
        problem: why the submission cannot be used at all (corrupt zip, ...), or ``""``.
    """

    origin: str
    files: dict[str, bytes] = field(default_factory=dict)
    single: str = ""
    problem: str = ""

    def module(self, slug: str, module: str) -> Module | str:
        """The module for exercise ``slug``, or a message saying why there is none."""
        if self.problem:
            return self.problem
        if self.single:
            path = self.single
        else:
            path = _locate(self.files, slug, module)
            if not path:
                return (f"no {module} found in {self.origin}; expected exercises/{slug}/{module}, "
                        f"{slug}/{module} or {module}")
        raw = self.files[path]
        if path.endswith(".ipynb"):
            try:
                text = notebook_to_source(raw, PurePosixPath(path).name)
            except NotebookError as exc:
                return str(exc)
        else:
            bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0  # Windows editors add one
            try:
                text = raw[bom:].decode("utf-8")
            except UnicodeDecodeError as exc:
                return (f"{PurePosixPath(path).name} is not UTF-8 text (byte 0x{raw[bom + exc.start]:02x} at position "
                        f"{bom + exc.start}): save it with UTF-8 encoding")
        problem = _syntax_problem(text, module)
        if problem:
            return problem
        folder = str(PurePosixPath(path).parent)
        siblings = {PurePosixPath(p).name: b for p, b in self.files.items()
                    if str(PurePosixPath(p).parent) == folder and p.endswith(".py") and p != path}
        siblings.pop(module, None)
        return Module(files={**siblings, module: text.encode("utf-8")}, source=text, origin=f"{self.origin}:{path}")


def load_submission(path: Path) -> Submission:
    """Read a submission; a path that does not exist is a usage error (exit 2)."""
    if not path.exists():
        raise UsageError(f"submission {path} does not exist")
    if path.is_dir():
        return Submission(origin=str(path), files=_read_folder(path))
    raw = _read_capped(path)
    if raw is None:
        return Submission(origin=str(path), problem=f"{path.name} is larger than {MAX_FILE // 1024 // 1024} MiB")
    if path.suffix == ".zip":
        return _from_zip(str(path), raw)
    if path.suffix in KEPT_SUFFIXES:
        return Submission(origin=str(path), files={path.name: raw}, single=path.name)
    return Submission(origin=str(path), problem=f"{path.name} is not a .py, .ipynb or .zip file")


def _locate(files: dict[str, bytes], slug: str, module: str) -> str:
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


def _read_capped(path: Path) -> bytes | None:
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE + 1)
    return None if len(data) > MAX_FILE else data


def _read_folder(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if not name.endswith(KEPT_SUFFIXES) or path.is_symlink() or not path.is_file():
                continue
            data = _read_capped(path)
            if data is None:
                continue
            total += len(data)
            if total > MAX_TOTAL or len(files) >= MAX_FILES:
                return files
            files[path.relative_to(root).as_posix()] = data
    return files


def _from_zip(origin: str, raw: bytes) -> Submission:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Submission(origin=origin, problem=f"{Path(origin).name} is not a readable zip file: {exc}")
    files: dict[str, bytes] = {}
    total = 0
    for info in members:
        name = PurePosixPath(info.filename.replace("\\", "/"))
        mode = info.external_attr >> 16
        if info.is_dir() or stat.S_ISLNK(mode) or name.is_absolute() or ".." in name.parts:
            continue
        if not info.filename.endswith(KEPT_SUFFIXES) or "__MACOSX" in name.parts:
            continue
        if info.file_size > MAX_FILE or total + info.file_size > MAX_TOTAL or len(files) >= MAX_FILES:
            continue
        try:
            data = archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError) as exc:
            return Submission(origin=origin, problem=f"{Path(origin).name} is a corrupt zip file: {exc}")
        total += len(data)
        files[str(name)] = data
    if not files:
        return Submission(origin=origin, problem=f"{Path(origin).name} holds no .py or .ipynb file")
    if len(files) == 1:
        only = next(iter(files))
        return Submission(origin=origin, files=files, single=only)
    return Submission(origin=origin, files=files)

