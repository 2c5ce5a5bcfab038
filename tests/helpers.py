"""Paths and small queries over reports, shared by the test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from grader.authoring.solutions import BEGIN
from grader.results import Report, Row

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
GRADIENT_CHECKS = ("contract", "autograd", "gradcheck")

# CONTRACT.md section 5, in its order.
DIAGNOSIS_CODES = (
    "ok", "not_implemented", "exception", "timeout", "resource_limit", "crashed", "wrong_count", "wrong_type",
    "wrong_shape", "broadcast_not_reduced", "transposed", "sign_flipped", "scaled", "ignores_upstream_grad",
    "swapped_inputs", "nan_or_inf", "mutates_input", "forbidden_api", "forward_mismatch", "wrong_values",
)

# CONTRACT.md section 4: the fields of a report and of each of its rows.
REPORT_FIELDS = {"schema", "exercise", "title", "score", "max_score", "seed", "checks"}
ROW_FIELDS = {"target", "check", "case", "input", "passed", "score", "max_score", "diagnosis", "message", "hidden"}


def rows(report: Report, target: str | None = None, check: str | Iterable[str] | None = None,
         input: str | None | bool = True) -> list[Row]:
    """The rows of ``report`` for ``target`` and ``check`` (a name or several); ``input=True`` means any input."""
    checks = (check,) if isinstance(check, str) else tuple(check) if check is not None else None
    return [r for r in report.checks
            if (target is None or r.target == target) and (checks is None or r.check in checks)
            and (input is True or r.input == input)]


def diagnoses(report: Report, target: str | None = None, check: str | Iterable[str] | None = None,
              input: str | None | bool = True) -> set[str]:
    return {r.diagnosis for r in rows(report, target, check, input)}


def failures(report: Report) -> list[Row]:
    return [r for r in report.checks if not r.passed]


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of ``path`` that contains ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def solution_lines() -> set[str]:
    """Every line inside a solution block of every solution module: none may reach the bundle."""
    found = set()
    for module in (ROOT / "solutions").glob("*/*.py"):
        inside = False
        for line in module.read_text().splitlines():
            if line.strip().startswith(BEGIN):
                inside = True
            elif line.strip().startswith("# END SOLUTION"):
                inside = False
            elif inside and len(line.strip()) > 12:
                found.add(line.strip())
    return found


def fast_course(root: Path) -> Path:
    """A copy of the course in ``root`` whose time limit is 2 s, as an instructor's course.yaml override would set
    it, so a student whose backward never returns costs 2 s, not 20."""
    for name in ("exercises", "solutions"):
        shutil.copytree(ROOT / name, root / name)
    text = (ROOT / "course.yaml").read_text()
    assert "wall_seconds: 20" in text
    (root / "course.yaml").write_text(text.replace("wall_seconds: 20", "wall_seconds: 2"))
    return root


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path, with its bytes: two batches' outputs compare as these."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def threads_beside_class_files(monkeypatch: Any) -> list[list[str]]:
    """For each piece of the class files ``grade batch`` hands to a forked copy (:mod:`grader.batch.aside`), the
    names of the threads alive then that were not alive now: empty lists, or the copy could not fork."""
    import threading

    from grader.batch import outputs

    before = set(threading.enumerate())
    seen: list[list[str]] = []
    aside = outputs.aside

    def watched(work: Callable[[], None]) -> Callable[[], None]:
        seen.append([t.name for t in threading.enumerate() if t not in before])
        return aside(work)

    monkeypatch.setattr(outputs, "aside", watched)
    return seen
