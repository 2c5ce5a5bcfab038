"""Reading submissions into memory: files, folders, repositories, notebooks, zips, and hostile archives."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest
from helpers import ROOT, SUBMISSIONS
from nbformat.v4 import new_code_cell, new_notebook, new_output

import grader.submission as submission_module
from grader.errors import UsageError
from grader.submission import MAX_FILE, Module, Submission, load_submission

SLUG, MODULE = "ex04_linear", "linear.py"
SOLUTION = (ROOT / "solutions" / SLUG / MODULE).read_bytes()


def _module(submission: Submission) -> Module:
    found = submission.module(SLUG, MODULE)
    assert isinstance(found, Module), found
    return found


def _zip_bytes(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buf.getvalue()


def test_missing_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist") as info:
        load_submission(tmp_path / "nowhere")
    assert info.value.exit_code == 2


def test_module_file(tmp_path):
    (tmp_path / "anything.py").write_bytes(SOLUTION)
    module = _module(load_submission(tmp_path / "anything.py"))
    assert module.files == {MODULE: SOLUTION}
    assert module.source == SOLUTION.decode()


def test_folder_keeps_sibling_modules_only():
    module = _module(load_submission(SUBMISSIONS / "linear_with_helper"))
    assert set(module.files) == {"linear.py", "linear_helpers.py"}


def test_repository_layout_prefers_the_exercise_folder(tmp_path):
    (tmp_path / "exercises" / SLUG).mkdir(parents=True)
    (tmp_path / "exercises" / SLUG / MODULE).write_bytes(SOLUTION)
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / MODULE).write_text("raise SystemExit  # an old attempt\n")
    module = _module(load_submission(tmp_path))
    assert module.files[MODULE] == SOLUTION
    assert module.origin.endswith(f"exercises/{SLUG}/{MODULE}")


def test_repository_skips_git_venv_and_solutions(tmp_path):
    for folder in (".git", ".venv", "solutions", "__pycache__"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / MODULE).write_bytes(SOLUTION)
    submission = load_submission(tmp_path)
    assert submission.files == {}
    assert "no linear.py found" in str(submission.module(SLUG, MODULE))


def test_symlinks_in_a_folder_are_not_followed(tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("TOKEN = 'instructor only'\n")
    student = tmp_path / "student"
    student.mkdir()
    (student / MODULE).write_bytes(SOLUTION)
    os.symlink(secret, student / "helpers.py")
    assert set(load_submission(student).files) == {MODULE}


def test_non_python_files_are_ignored(tmp_path):
    (tmp_path / MODULE).write_bytes(SOLUTION)
    (tmp_path / "data.csv").write_text("1,2\n")
    (tmp_path / "README.md").write_text("# hi\n")
    assert set(load_submission(tmp_path).files) == {MODULE}


def test_other_suffix_is_a_problem_not_a_crash(tmp_path):
    (tmp_path / "linear.txt").write_bytes(SOLUTION)
    submission = load_submission(tmp_path / "linear.txt")
    assert "not a .py, .ipynb or .zip file" in str(submission.module(SLUG, MODULE))


def test_oversized_file_is_a_problem(tmp_path):
    (tmp_path / MODULE).write_bytes(b"#" * (MAX_FILE + 1))
    assert "larger than" in str(load_submission(tmp_path / MODULE).module(SLUG, MODULE))


def test_syntax_error_is_reported_with_its_line_without_running_anything(tmp_path):
    (tmp_path / MODULE).write_text("import os\nos.system('touch /tmp/pwned')\ndef broken(:\n")
    problem = load_submission(tmp_path / MODULE).module(SLUG, MODULE)
    assert isinstance(problem, str) and problem.startswith("syntax error in linear.py line 3")


def test_non_utf8_source_names_the_byte(tmp_path):
    (tmp_path / MODULE).write_bytes(b"# caf\xe9\n" + SOLUTION)
    problem = load_submission(tmp_path / MODULE).module(SLUG, MODULE)
    assert problem == "linear.py is not UTF-8 text (byte 0xe9 at position 5): save it with UTF-8 encoding"


def test_byte_order_mark_is_stripped(tmp_path):
    (tmp_path / MODULE).write_bytes(b"\xef\xbb\xbf" + SOLUTION)
    module = _module(load_submission(tmp_path / MODULE))
    assert module.files[MODULE] == SOLUTION


def test_zip_of_a_folder(tmp_path):
    path = tmp_path / "s.zip"
    path.write_bytes(_zip_bytes({"alice/linear.py": SOLUTION, "alice/linear_helpers.py": b"x = 1\n"}))
    module = _module(load_submission(path))
    assert set(module.files) == {"linear.py", "linear_helpers.py"}


def test_zip_of_a_repository(tmp_path):
    path = tmp_path / "s.zip"
    path.write_bytes(_zip_bytes({f"repo-main/exercises/{SLUG}/{MODULE}": SOLUTION,
                                 "repo-main/exercises/ex01_chain_rule/chain_rule.py": b"x = 1\n"}))
    assert _module(load_submission(path)).files[MODULE] == SOLUTION


def test_zip_slip_absolute_paths_symlinks_and_macos_junk_are_ignored(tmp_path):
    path = tmp_path / "s.zip"
    path.write_bytes(_zip_bytes(
        {"../../evil.py": b"x = 1\n", "/etc/evil.py": b"x = 1\n", "__MACOSX/._linear.py": b"\x00\x01",
         "linear.py": SOLUTION},
        symlinks={"helpers.py": "/etc/passwd"}))
    submission = load_submission(path)
    assert set(submission.files) == {"linear.py"}
    assert _module(submission).files == {MODULE: SOLUTION}


def test_zip_without_python_files(tmp_path):
    path = tmp_path / "s.zip"
    path.write_bytes(_zip_bytes({"notes.txt": b"hello"}))
    assert "holds no .py or .ipynb file" in str(load_submission(path).module(SLUG, MODULE))


def test_corrupt_zip_is_a_problem(tmp_path):
    path = tmp_path / "s.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    problem = load_submission(path).module(SLUG, MODULE)
    assert isinstance(problem, str) and "s.zip is not a readable zip file" in problem


def test_notebook_file_becomes_the_module():
    module = _module(load_submission(SUBMISSIONS / "notebook" / "linear.ipynb"))
    assert list(module.files) == [MODULE]
    assert "class Linear" in module.source and "%matplotlib" not in module.source


def test_lone_notebook_in_a_folder_is_the_module(tmp_path):
    (tmp_path / "homework.ipynb").write_bytes((SUBMISSIONS / "notebook" / "linear.ipynb").read_bytes())
    assert "class MatMul" in _module(load_submission(tmp_path)).source


def test_problem_wins_over_everything(tmp_path):
    submission = Submission(origin="x.zip", files={MODULE: SOLUTION}, single=MODULE, problem="x.zip is broken")
    assert submission.module(SLUG, MODULE) == "x.zip is broken"


def test_submissions_are_read_into_memory(tmp_path):
    (tmp_path / MODULE).write_bytes(SOLUTION)
    submission = load_submission(tmp_path)
    Path(tmp_path / MODULE).unlink()
    assert _module(submission).files[MODULE] == SOLUTION


# ---------------------------------------------------------------- notebooks: limits on code, not on plots


def _notebook(code: str, output_bytes: int = 0) -> bytes:
    outputs = [new_output("display_data", data={"image/png": "A" * output_bytes})] if output_bytes else []
    return nbformat.writes(new_notebook(cells=[new_code_cell(code, outputs=outputs)])).encode()


def test_a_notebook_is_kept_without_its_outputs(tmp_path):
    raw = _notebook(SOLUTION.decode(), output_bytes=2 * MAX_FILE)
    (tmp_path / "linear.ipynb").write_bytes(raw)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "linear.ipynb").write_bytes(raw)
    (tmp_path / "s.zip").write_bytes(_zip_bytes({"linear.ipynb": raw}))
    for path in (tmp_path / "linear.ipynb", tmp_path / "folder", tmp_path / "s.zip"):
        submission = load_submission(path)
        assert sum(map(len, submission.files.values())) < len(SOLUTION) + 2_000
        assert "class Linear" in _module(submission).source


def test_a_notebook_is_capped_as_stored_and_its_code_as_code(tmp_path, monkeypatch):
    monkeypatch.setattr(submission_module, "MAX_RAW", 100 * 1024)
    monkeypatch.setattr(submission_module, "MAX_FILE", 10 * 1024)
    (tmp_path / "plots.ipynb").write_bytes(_notebook("x = 1", output_bytes=120 * 1024))
    assert load_submission(tmp_path / "plots.ipynb").problem == \
        "plots.ipynb is larger than 100 KiB: the grader does not read it"
    (tmp_path / "code.ipynb").write_bytes(_notebook("x = 1\n" * 2_000, output_bytes=30 * 1024))
    problem = load_submission(tmp_path / "code.ipynb").module(SLUG, MODULE)
    assert problem == "the code cells of code.ipynb are larger than 10 KiB: the grader does not read them"
    with zipfile.ZipFile(tmp_path / "s.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("hw/plots.ipynb", _notebook("x = 1", output_bytes=120 * 1024))
        archive.writestr("hw/other.py", b"x = 1\n")
    assert "hw/plots.ipynb is larger than 100 KiB" in str(load_submission(tmp_path / "s.zip").module(SLUG, MODULE))


def test_a_file_named_ipynb_that_is_no_notebook_is_reported_where_it_lies(tmp_path):
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "linear.ipynb").write_bytes(SOLUTION)
    problem = load_submission(tmp_path).module(SLUG, MODULE)
    assert isinstance(problem, str)
    assert problem.startswith("hw/linear.ipynb is not a Jupyter notebook: its text is not valid notebook JSON")
    assert load_submission(tmp_path / "hw" / "linear.ipynb").problem.startswith("linear.ipynb is not a Jupyter")


# ---------------------------------------------------------------- messages name paths inside the submission


def test_a_missing_module_is_named_inside_the_submission(tmp_path):
    student = tmp_path / "submissions" / "erin"
    student.mkdir(parents=True)
    (student / "notes.py").write_text("x = 1\n")
    problem = load_submission(student).module(SLUG, MODULE)
    assert problem == (f"no linear.py found in the submission (erin); expected exercises/{SLUG}/linear.py "
                       f"(a repository), {SLUG}/linear.py or linear.py (a folder or a lone file), "
                       "or one .ipynb notebook on its own")


def test_module_origin_is_relative_to_the_submission(tmp_path):
    (tmp_path / "erin" / "exercises" / SLUG).mkdir(parents=True)
    (tmp_path / "erin" / "exercises" / SLUG / MODULE).write_bytes(SOLUTION)
    assert _module(load_submission(tmp_path / "erin")).origin == f"erin/exercises/{SLUG}/{MODULE}"
    assert _module(load_submission(tmp_path / "erin" / "exercises" / SLUG / MODULE)).origin == MODULE
    assert str(tmp_path) not in _module(load_submission(tmp_path / "erin")).origin


@pytest.mark.parametrize("kind", ["empty_folder", "other_files", "refused_link", "zip"])
def test_no_row_of_a_report_shows_the_instructors_path(grade, tmp_path, kind):
    """Issue 11: "no linear.py found in /home/prof/submissions/erin" reached students and LMS comments."""
    student = tmp_path / "home" / "prof" / "submissions" / "erin"
    student.mkdir(parents=True)
    if kind == "other_files":
        (student / "notes.py").write_text("x = 1\n")
        (student / "scratch.ipynb").write_text("not a notebook")
    if kind == "refused_link":
        os.symlink(tmp_path / "secret.py", student / MODULE)
    if kind == "zip":
        (tmp_path / "erin.zip").write_bytes(_zip_bytes({"erin/notes.py": b"x = 1\n", "erin/more.py": b"y = 2\n"}))
        student = tmp_path / "erin.zip"
    report = grade(student)
    assert report.score == 0 and report.checks
    for row in report.checks:
        assert str(tmp_path) not in row.message and "/home/prof" not in row.message, row.message
    if kind != "refused_link":
        assert all(f"no linear.py found in the submission ({student.name})" in row.message for row in report.checks)
