"""Reading submissions into memory: files, folders, repositories, notebooks, zips, and hostile archives."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT, SUBMISSIONS

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
