"""grade release: stubs generated from solutions, and no solution text ever reaches the students."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import ROOT

from grader.authoring.release import drift, release
from grader.authoring.solutions import BEGIN, END, SolutionMarkerError, strip_solutions
from grader.errors import SpecError, UsageError
from grader.spec import CourseSpec, load_course

MARKER = "SECRET_SOLUTION_MARKER_7f3a"


def _copy_course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    for name in ("course.yaml", "exercises", "solutions"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            root.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, root / name)
    return root


def test_committed_stubs_match_the_solutions(course: CourseSpec) -> None:
    assert drift(course) == []


def test_a_marker_planted_in_every_solution_block_never_reaches_the_release(tmp_path: Path) -> None:
    root = _copy_course(tmp_path)
    planted = 0
    for solution in (root / "solutions").glob("*/*.py"):
        lines = []
        for line in solution.read_text(encoding="utf-8").splitlines(keepends=True):
            lines.append(line)
            if line.strip().startswith(BEGIN):
                indent = line[: len(line) - len(line.lstrip())]
                lines.append(f"{indent}_unused = {MARKER!r}  # {MARKER}\n")
                planted += 1
        solution.write_text("".join(lines), encoding="utf-8")
    course = load_course(root)
    assert planted >= len(course.exercises)
    out = tmp_path / "release"
    written = release(course, out)
    texts = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    assert len(texts) == len(written)
    assert not any(MARKER.encode() in text for text in texts)
    assert not list(out.rglob("hidden.yaml")) and not (out / "solutions").exists()
    for slug in course.exercises:
        stubs = list((out / "exercises" / slug).glob("*.py"))
        assert stubs and all("raise NotImplementedError(" in s.read_text() for s in stubs)
    assert [p.name for p in (out / ".github" / "workflows").iterdir()] == ["grade.yml"]
    assert "run: grade all" in (out / ".github" / "workflows" / "grade.yml").read_text()


def test_check_notices_a_stub_that_drifted(tmp_path: Path) -> None:
    root = _copy_course(tmp_path)
    stub = root / "exercises" / "ex04_linear" / "linear.py"
    stub.write_text(stub.read_text() + "\n# edited by hand\n")
    problems = drift(load_course(root))
    assert problems == ["exercises/ex04_linear/linear.py: differs from the stub generated from solutions/ex04_linear"]


def test_release_refuses_a_non_empty_or_inner_folder(tmp_path: Path, course: CourseSpec) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        release(course, tmp_path / "full")
    with pytest.raises(UsageError, match="outside the course"):
        release(course, ROOT / "exercises" / "release-here")


def test_unbalanced_markers_are_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SolutionMarkerError, match="line 2"):
        strip_solutions(f"x = 1\n{BEGIN}\ny = 2\n")
    with pytest.raises(SolutionMarkerError, match="without"):
        strip_solutions(f"{END}\n")
    root = _copy_course(tmp_path)
    solution = root / "solutions" / "ex01_chain_rule" / "chain_rule.py"
    solution.write_text(solution.read_text().replace(END, "", 1))
    with pytest.raises(SpecError, match="chain_rule.py"):
        drift(load_course(root))


def test_strip_keeps_the_todo_text_and_indentation() -> None:
    source = f"def f():\n    # TODO: return 2x\n    {BEGIN}\n    return 2 * x\n    {END}\n"
    assert strip_solutions(source) == "def f():\n    # TODO: return 2x\n    raise NotImplementedError('TODO: return 2x')\n"
