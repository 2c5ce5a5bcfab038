"""How a bare machine gets the grader: the torch pin, its CPU wheel index, and the grader's own source.

GitHub Classroom runners and Gradescope images start from a plain Python. There, ``pip install torch`` fetches
the CUDA build (gigabytes of NVIDIA wheels) although grading only needs the CPU, so torch is installed from
the CPU index first, pinned to the version the instructor validated with.

The grader itself is not on PyPI: the name ``grader`` there belongs to an unrelated project, so a bare
``pip install grader`` installs the wrong thing. Unless the instructor names a requirement (a git URL, a wheel
committed to the repository, an index of their own), ``grade release`` copies the running grader's source
beside what it writes and installs that copy, so students and Gradescope run exactly the grader the instructor
validated the course with.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import shlex
import zipfile
from collections.abc import Iterable
from pathlib import Path

from grader.errors import UsageError
from grader.spec import CourseSpec

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
DEFAULT_TORCH = "2.13.0"
VENDORED = ".grader"
"""Where the copy of the grader goes in a student repository: a dot folder, so submissions never read it."""


def torch_requirement() -> str:
    """``torch==X.Y.Z`` for the torch installed here, without its local tag (``2.13.0+cpu`` pins ``2.13.0``)."""
    try:
        version = importlib.metadata.version("torch").split("+", 1)[0]
    except importlib.metadata.PackageNotFoundError:
        version = DEFAULT_TORCH
    return f"torch=={version}"


def install_lines(python: str, grader: str) -> list[str]:
    """Shell lines that install torch (CPU) and then ``grader`` (a pip requirement or a path) with ``python``."""
    return [f"{python} -m pip install --upgrade pip",
            f"{python} -m pip install {shlex.quote(torch_requirement())} --index-url {CPU_INDEX}",
            f"{python} -m pip install {shlex.quote(grader)}"]


def source_files() -> dict[str, bytes]:
    """The running ``grader`` package and a ``pyproject.toml``, as relative path to bytes: ``pip install`` works on them.

    The project metadata (version, dependencies, the ``grade`` script) comes from the installed distribution,
    so the copy installs the same dependencies as the grader it was taken from.
    """
    try:
        dist = importlib.metadata.distribution("grader")
    except importlib.metadata.PackageNotFoundError:
        raise UsageError("the grader is not installed as a package, so release cannot copy it; "
                         "pass --grader-requirement SPEC (a git URL or a wheel)") from None
    package = Path(__file__).resolve().parents[1]
    files = {f"grader/{path.relative_to(package).as_posix()}": path.read_bytes()
             for path in sorted(package.rglob("*.py")) if "__pycache__" not in path.parts}
    files["pyproject.toml"] = _pyproject(dist).encode("utf-8")
    return files


def write_source(dest: Path) -> list[Path]:
    """Write :func:`source_files` under ``dest``; return the paths written."""
    written = []
    for name, data in source_files().items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def course_files(course: CourseSpec, hidden_for: Iterable[str] = (), public: bool = False) -> dict[str, bytes]:
    """What a CI bundle carries of a course, under ``course/``: ``course.yaml``, every ``exercise.yaml`` (course.yaml
    lists them all) and the hidden cases of the exercises in ``hidden_for``. Never a solution module or a stub.
    A ``public`` bundle's specs leave out the misconception catalogues (:mod:`grader.authoring.public_spec`)."""
    from grader.authoring.public_spec import without_catalogues

    root = course.root
    files = {"course/course.yaml": (root / "course.yaml").read_bytes()}
    for slug in course.exercises:
        text = (root / "exercises" / slug / "exercise.yaml").read_text(encoding="utf-8")
        files[f"course/exercises/{slug}/exercise.yaml"] = (without_catalogues(text) if public else text).encode()
    for slug in hidden_for:
        hidden = root / "solutions" / slug / "hidden.yaml"
        if hidden.is_file():
            files[f"course/solutions/{slug}/hidden.yaml"] = hidden.read_bytes()
    return files


def zip_bytes(files: dict[str, bytes], executable: Iterable[str] = ()) -> bytes:
    """A zip of ``files`` whose bytes depend only on them: members sorted, dated 1980-01-01, deflated; the names
    in ``executable`` get mode 755, the rest 644."""
    scripts = set(executable)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name in scripts else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def _pyproject(dist: importlib.metadata.Distribution) -> str:
    requires = [r for r in dist.requires or [] if "extra ==" not in r]
    scripts = [e for e in dist.entry_points if e.group == "console_scripts"]
    lines = ['[build-system]', 'requires = ["setuptools>=61"]', 'build-backend = "setuptools.build_meta"', "",
             "[project]", 'name = "grader"', f"version = {json.dumps(dist.version)}",
             f"requires-python = {json.dumps((dist.metadata.get_all('Requires-Python') or ['>=3.10'])[0])}",
             "dependencies = [" + ", ".join(json.dumps(r) for r in requires) + "]", "", "[project.scripts]",
             *(f"{e.name} = {json.dumps(e.value)}" for e in scripts), "",
             "[tool.setuptools.packages.find]", 'include = ["grader*"]']
    return "\n".join(lines) + "\n"
