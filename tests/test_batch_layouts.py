"""Finding the students in LMS downloads, and matching them to a roster (no grading here)."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from helpers import SUBMISSIONS

from grader.batch.layouts import Entry, classroom_prefix, discover, unique
from grader.batch.naming import safe_key, short_hash
from grader.batch.record import Identity
from grader.batch.roster import load_roster
from grader.batch.unpack import unpack
from grader.errors import UsageError

CLASS = SUBMISSIONS / "class"


def by_student(entries: tuple[Entry, ...]) -> dict[str, Entry]:
    return {e.student: e for e in entries}


def test_the_fixture_class_is_found_with_every_layout() -> None:
    found = discover([CLASS])
    students = by_student(found.entries)
    assert len(students) >= 20 and list(students) == sorted(students)
    assert found.ignored == (CLASS / "README.txt",)
    assert students["mary-jane"].layout == "classroom" and students["mary-jane"].identity.github == "mary-jane"
    assert students["alice"].paths == (CLASS / "hw-alice",)
    assert students["doejane"].layout == "canvas" and students["doejane"].identity.lms_id == "1001"
    assert students["leekim"].identity.lms_id == "1003"  # a LATE submission
    assert students["frank"].layout == "plain" and students["frank"].paths == (CLASS / "frank.py",)
    assert {"ivan", "judy", "victor", "walter", "zoe"} <= set(students)


def test_a_canvas_students_files_become_one_submission_under_their_own_names() -> None:
    parkmin = by_student(discover([CLASS]).entries)["parkmin"]
    assert len(parkmin.paths) == 2
    submission = parkmin.load()
    assert sorted(submission.files) == ["linear.py", "linear_helpers.py"] and not submission.problem
    module = submission.module("ex04_linear", "linear.py")
    assert not isinstance(module, str) and "linear_helpers.py" in module.files


def test_a_canvas_resubmission_suffix_is_removed(tmp_path: Path) -> None:
    (tmp_path / "roe_7_1_linear-1.py").write_text("A = 1\n")
    (tmp_path / "roe_7_2_chain_rule.py").write_text("B = 2\n")
    [entry] = discover([tmp_path]).entries
    assert entry.student == "roe" and sorted(entry.load().files) == ["chain_rule.py", "linear.py"]


@pytest.mark.parametrize("names, prefix", [
    (["hw4-alice", "hw4-bob", "hw4-mary-jane"], "hw4-"),
    (["backprop-hw-alice", "backprop-hw-bob", "other"], "backprop-hw-"),
    (["hw-john-smith", "hw-john-doe", "hw-ann", "hw-bo"], "hw-"),  # a shared username part is not the prefix
    (["alice", "bob"], ""),
    (["hw4-alice"], ""),
])
def test_classroom_prefix(names: list[str], prefix: str) -> None:
    assert classroom_prefix(names) == prefix


def test_a_gradescope_export_names_each_submitter(tmp_path: Path) -> None:
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_101:\n  :submitters:\n  - :name: Jane Doe\n    :sid: '42'\n    :email: jane@uni.edu\n"
        "  :created_at: 2024-05-01 10:00:00.000000000 -07:00\n"
        "submission_102:\n  :submitters:\n  - :name: Al Bo\n    :email: al@uni.edu\n  - :name: Cy Di\n    :email: cy@uni.edu\n")
    for folder in ("submission_101", "submission_102", "submission_103"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "linear.py").write_text("A = 1\n")
    students = by_student(discover([tmp_path]).entries)
    assert set(students) == {"jane@uni.edu", "al@uni.edu", "cy@uni.edu", "submission_103"}
    assert students["jane@uni.edu"].identity == Identity("jane@uni.edu", name="Jane Doe", email="jane@uni.edu", sis_id="42")
    assert students["al@uni.edu"].paths == students["cy@uni.edu"].paths == (tmp_path / "submission_102",)
    assert all(e.layout == "gradescope" for e in students.values())


def test_unreadable_gradescope_metadata_still_grades_the_folders(tmp_path: Path) -> None:
    (tmp_path / "submission_metadata.yml").write_text(": : [unbalanced\n")
    (tmp_path / "submission_1").mkdir()
    assert [e.student for e in discover([tmp_path]).entries] == ["submission_1"]


def test_keys_are_file_name_safe_and_unique() -> None:
    assert safe_key("alice") == "alice" and safe_key("mary-jane") == "mary-jane"  # safe names are their own key
    assert safe_key("../../etc/passwd") == f"_.._etc_passwd-{short_hash('../../etc/passwd')}"
    assert safe_key("Jane Doe") == f"Jane_Doe-{short_hash('Jane Doe')}"
    assert safe_key("..").startswith("student-") and safe_key("王芳").startswith("student-")
    assert len(safe_key("x" * 300)) == 100
    entries = unique([Entry(Identity("a b"), (Path("2"),)), Entry(Identity("a_b"), (Path("1"),)),
                      Entry(Identity("A_B"), (Path("3"),)), Entry(Identity("A_B"), (Path("4"),))])
    assert [e.student for e in entries] == sorted(e.student for e in entries)
    assert {e.identity.student_id: (e.student, e.paths) for e in entries} == {
        "A_B": ("A_B", (Path("3"),)), "A_B-2": ("A_B-2", (Path("4"),)),  # the same name twice: told apart
        "a b": (f"a_b-{short_hash('a b')}", (Path("2"),)),  # lossy: the real id stays, the key has a hash
        "a_b": (f"a_b-{short_hash('a_b')}", (Path("1"),))}  # a_b's key meets A_B's, ignoring case
    assert unique(list(entries)) == entries  # applied again, nothing changes


def test_several_paths_are_one_student_each(tmp_path: Path) -> None:
    found = discover([CLASS / "frank.py", CLASS / "hw-alice", CLASS / "doejane_1001_5001_linear.py"])
    assert [(e.student, e.layout) for e in found.entries] == [("doejane", "canvas"), ("frank", "plain"),
                                                             ("hw-alice", "plain")]


def test_the_output_folder_is_not_a_student(tmp_path: Path) -> None:
    (tmp_path / "alice.py").write_text("A = 1\n")
    (tmp_path / "out").mkdir()
    assert [e.student for e in discover([tmp_path], exclude=[tmp_path / "out"]).entries] == ["alice"]


def test_a_class_zip_is_unpacked_safely(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("doe_1_2_linear.py", "A = 1\n")
        archive.writestr("../escape.py", "B = 2\n")
        archive.writestr("/abs.py", "C = 3\n")
        link = zipfile.ZipInfo("roe_3_4_link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    (tmp_path / "class.zip").write_bytes(buffer.getvalue())
    root, skipped = unpack(tmp_path / "class.zip", tmp_path / "out" / ".unpacked" / "class")
    assert skipped == []
    assert sorted(p.name for p in root.rglob("*") if not p.is_symlink()) == ["doe_1_2_linear.py"]
    assert not (tmp_path / "out" / ".unpacked" / "escape.py").exists() and not (tmp_path / "escape.py").exists()
    # the symlink member's student keeps a row (refused, never followed), rather than vanishing
    assert [(e.student, e.identity.lms_id) for e in discover([root]).entries] == [("doe", "1"), ("roe", "3")]


def test_a_class_zip_that_is_not_a_zip_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "class.zip").write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="class.zip is not a readable zip file"):
        unpack(tmp_path / "class.zip", tmp_path / "out")


def test_roster_rows_match_by_any_id(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("Student,E-mail,Login,SIS ID,LTI user id,GitHub\n"
                    "alice,alice@uni.edu,al,S1,lti-a,\n"
                    ",bob@uni.edu,bo,S2,lti-b,bobgh\n"
                    ",carol@uni.edu,carol,S3,lti-c,\n"
                    ",dan@uni.edu,dan,S4,lti-d,\n")
    roster = load_roster(path)
    assert roster.identify(Identity("alice")).lti_id == "lti-a"
    assert roster.identify(Identity("bob", github="BobGH")).email == "bob@uni.edu"  # case does not matter
    assert roster.identify(Identity("carol")).username == "carol"  # the key equals the login
    assert roster.identify(Identity("zoe")) == Identity("zoe")
    matched = [Identity("alice"), Identity("bob", github="bobgh"), Identity("carol")]
    assert roster.unmatched(matched) == [{"email": "dan@uni.edu", "username": "dan", "sis_id": "S4", "lti_id": "lti-d"}]


def test_a_canvas_gradebook_export_is_a_roster(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Student,ID,SIS User ID,SIS Login ID,Section,HW4 (77)\n"
                    "    Points Possible,,,,,10\n"
                    '"Doe, Jane",1001,S001,jdoe,A,\n')
    identity = load_roster(path).identify(Identity("doejane", lms_id="1001"))
    assert (identity.name, identity.sis_id, identity.username, identity.section) == ("Doe, Jane", "S001", "jdoe", "A")
    assert identity.student == "doejane"  # the roster never renames a student


def test_a_roster_without_known_columns_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(UsageError, match="r.csv: no known column"):
        load_roster(tmp_path / "r.csv")
