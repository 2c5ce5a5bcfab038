"""Identities an LMS can match: warnings when it cannot, Canvas assignment ids, and non-ASCII names kept exact.

Grading itself is replaced by a stub that writes a fixed report per student (no sandbox): what is tested here
is who the students are and what the class-level files call them.
"""

from __future__ import annotations

import csv
import json
import shutil
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from grader.batch import LMS_NAMES, runner
from grader.batch.layouts import Entry, discover
from grader.batch.naming import safe_key
from grader.batch.outputs import identity_warnings, write_outputs
from grader.batch.record import Assignment, ClassRecords, Identity, StudentRecord, read_record
from grader.batch.roster import load_roster
from grader.cli import main
from grader.results import Report
from grader.writers import canvas

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"
NAMES = ("José", "Josè", "zoë_müller")
GRADED_AT = "2024-05-01T12:00:00.000000+00:00"


def fake_grade_class(entries: Sequence[Entry], out: Path, plan: runner.Plan, **_: Any) -> list[runner.Outcome]:
    """Every student gets 1 point per exercise, written where the real runner writes it."""
    reports = tuple(Report(a.id, a.title, 1.0, a.max_score, plan.seed, ()) for a in plan.assignments)
    for entry in entries:
        record = StudentRecord(entry.identity, reports, GRADED_AT, key="k", layout=entry.layout, source=entry.source)
        (out / "reports").mkdir(parents=True, exist_ok=True)
        (out / "reports" / f"{entry.student}.json").write_text(record.to_json(), encoding="utf-8")
    return [runner.Outcome(e.student, "graded") for e in entries]


@pytest.fixture
def stub_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "grade_class", fake_grade_class)


def accented_class(folder: Path) -> Path:
    """José and Josè as files, zoë_müller as a folder named the way macOS stores it (decomposed, NFD)."""
    folder.mkdir()
    for name in NAMES[:2]:
        (folder / f"{name}.py").write_text("A = 1\n", encoding="utf-8")
    (folder / unicodedata.normalize("NFD", NAMES[2])).mkdir()
    (folder / unicodedata.normalize("NFD", NAMES[2]) / "linear.py").write_text("A = 1\n", encoding="utf-8")
    return folder


def batch(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", *args, "--course", str(ROOT)])
    code = exit_info.value.code
    return code if isinstance(code, int) else 1, capsys.readouterr().err


# (c) non-ASCII identities


def test_accented_names_keep_their_real_id_and_get_distinct_safe_file_keys(tmp_path: Path) -> None:
    entries = discover([accented_class(tmp_path / "class")]).entries
    real = {e.identity.student_id: e.student for e in entries}
    assert set(real) == set(NAMES)  # exact, NFC (the NFD folder name is composed again)
    assert len(set(real.values())) == 3 and len({k.lower() for k in real.values()}) == 3
    for key in real.values():
        assert key.isascii() and key == safe_key(key) and "/" not in key
    assert real["zoë_müller"].startswith("zoe_muller-") and real["José"].startswith("Jose-")
    alone = discover([tmp_path / "class" / "Josè.py"]).entries  # a key never depends on the rest of the class
    assert [(e.student, e.identity.student_id) for e in alone] == [(real["Josè"], "Josè")]


def test_a_record_keeps_the_real_id_through_its_json(tmp_path: Path) -> None:
    identity = Identity("zoe_muller-abc123").keyed("zoe_muller-abc123", "zoë_müller")
    record = StudentRecord(identity, (), GRADED_AT)
    (tmp_path / "r.json").write_text(record.to_json(), encoding="utf-8")
    again = read_record(tmp_path / "r.json")
    assert (again.student, again.student_id, again.identity.display) == ("zoe_muller-abc123", "zoë_müller",
                                                                          "zoë_müller")
    assert Identity("alice").student_id == "alice" and Identity("alice").keyed("alice", "alice").id == ""


def roster_file(folder: Path, header: str, rows: list[str]) -> Path:
    path = folder / "roster.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_roster_with_the_real_names_matches_them(tmp_path: Path) -> None:
    entries = discover([accented_class(tmp_path / "class")]).entries
    nfd = unicodedata.normalize("NFD", "Josè")  # a roster saved on a Mac: still the same name
    roster = load_roster(roster_file(tmp_path, "student,lms_id,sis_id",
                                     ["José,101,S1", f"{nfd},102,S2", "ZOË_MÜLLER,103,S3"]))
    ids = {e.identity.student_id: roster.identify(e.identity).lms_id for e in entries}
    assert ids == {"José": "101", "Josè": "102", "zoë_müller": "103"}  # accents count, case does not
    assert roster.unmatched([e.identity for e in entries]) == []


def test_a_roster_name_matches_when_only_one_row_has_it(tmp_path: Path) -> None:
    roster = load_roster(roster_file(tmp_path, "name,email", ["José,jose@uni.edu", "Josè,josè@uni.edu",
                                                              "Kim,kim1@uni.edu", "Kim,kim2@uni.edu"]))
    assert roster.identify(Identity("Jose-1", id="José")).email == "jose@uni.edu"
    assert roster.identify(Identity("Jose-2", id="Josè")).email == "josè@uni.edu"
    assert roster.identify(Identity("Kim")).email == ""  # two Kims: which one is unknowable


def test_the_gradebook_and_lms_files_show_the_real_names(stub_grading: None, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    roster = roster_file(tmp_path, "student,lms_id,sis_id,username,email,lti_id",
                         ["José,101,S1,jose,jose@uni.edu,lti-1", "Josè,102,S2,josee,josee@uni.edu,lti-2",
                          "zoë_müller,103,S3,zoe,zoe@uni.edu,lti-3"])
    out = tmp_path / "out"
    code, _ = batch([str(accented_class(tmp_path / "class")), "--out", str(out), "--exercise", "ex04",
                     "--lms", "all", "--roster", str(roster)], capsys)
    assert code == 0
    book = list(csv.DictReader((out / "gradebook.csv").read_text(encoding="utf-8").splitlines()))
    assert [r["student"] for r in book] == sorted(NAMES, key=safe_key)
    keys = sorted(p.stem for p in (out / "reports").glob("*.json"))
    assert all(k.isascii() for k in keys) and len(keys) == 3
    assert sorted(p.stem for p in (out / "feedback").glob("*.md")) == keys
    assert sorted(p.stem for p in (out / "lti").glob("*.json")) == keys
    text = (out / "canvas.csv").read_text(encoding="utf-8")
    assert "José,101,S1,jose," in text and "Josè,102,S2,josee," in text and "zoë_müller,103,S3,zoe," in text
    assert {json.loads(p.read_text())["userId"] for p in (out / "lti").glob("*.json")} == {"lti-1", "lti-2", "lti-3"}


def test_without_a_roster_lms_files_carry_the_real_id_not_a_flattened_one(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    entries = discover([accented_class(tmp_path / "class")]).entries
    for entry in entries:
        (reports / f"{entry.student}.json").write_text(StudentRecord(entry.identity, (), GRADED_AT).to_json())
    from grader.writers import blackboard, lti, moodle

    records = ClassRecords(reports, assignments=[Assignment("ex04", "Linear", 4)])
    assert {json.loads(p.read_text())["userId"] for p in lti.write(records, tmp_path).glob("*.json")} == set(NAMES)
    assert set(moodle.write(records, tmp_path).read_text(encoding="utf-8").splitlines()[1:]) == {
        f"{n},," for n in NAMES}
    assert {r[0] for r in csv.reader((blackboard.write(records, tmp_path) / "ex04.csv").read_text().splitlines()[1:])
            } == set(NAMES)


# (a) warnings when an LMS cannot match the rows


def fixture_records(roster: bool) -> ClassRecords:
    return ClassRecords(FIXTURES / "reports", roster=load_roster(FIXTURES / "roster.csv") if roster else None)


def test_without_a_roster_every_lms_writer_warns() -> None:
    warnings = identity_warnings(fixture_records(roster=False), LMS_NAMES, roster_given=False)
    by_lms = {w.split(":")[0]: w for w in warnings}
    assert set(by_lms) == {"--lms canvas", "--lms moodle", "--lms blackboard", "--lms lti"}
    canvas_rows = [w for w in warnings if w.startswith("--lms canvas") and "Canvas ID" in w]
    assert canvas_rows == ["--lms canvas: 4 of 5 students have no Canvas ID or SIS User ID (mary-jane, o-brien, "
                           "quinn, zed), so the import cannot match their rows: no --roster was given; pass "
                           "--roster CSV with the students' LMS ids."]  # doejane's Canvas download carried 1001
    assert any("no Canvas assignment id for ex01, ex04" in w for w in warnings)
    assert identity_warnings(fixture_records(roster=False), ["gradescope", "junit", "classroom"], False) == []


def test_with_a_roster_only_the_students_it_misses_are_named() -> None:
    warnings = identity_warnings(fixture_records(roster=True), ["canvas", "lti"], roster_given=True)
    assert warnings[0] == ("--lms canvas: 2 of 5 students have no Canvas ID or SIS User ID (quinn, zed), so the "
                           "import cannot match their rows: the --roster has no row for them, or their row lacks it.")
    assert warnings[1].startswith("--lms lti: 2 of 5 students have no LTI userId")
    assert "no Canvas assignment id" in warnings[2]
    ids = [Assignment("ex01", "The chain rule", 3, canvas_id="1"), Assignment("ex04", "Linear", 4, canvas_id="2")]
    records = ClassRecords(FIXTURES / "reports", assignments=ids, roster=load_roster(FIXTURES / "roster.csv"))
    assert not any("assignment id" in w for w in identity_warnings(records, ["canvas"], True))


def test_write_outputs_hands_the_warnings_to_the_summary_and_the_caller(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(FIXTURES / "reports", out / "reports")
    students = sorted(p.stem for p in (out / "reports").glob("*.json"))
    assignments = ClassRecords(out / "reports").assignments
    seen: list[list[str]] = []
    from grader.writers import summary

    real = summary.begin

    def spy(records: ClassRecords, *args: Any, **kwargs: Any) -> Any:
        seen.append(list(records.warnings))
        return real(records, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(summary, "begin", spy)
        written = write_outputs(out, students, assignments, ["canvas", "moodle"])
    identity = [w for w in written.warnings if "sandbox" not in w]  # the stub reports also lack sandbox layers
    assert seen == [written.warnings] and len(identity) == 3
    assert [w for w in write_outputs(out, students, assignments, []).warnings if "sandbox" not in w] == []
    assert out / "canvas.csv" in written.paths


def test_the_batch_warns_on_stderr_at_the_end(stub_grading: None, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, err = batch([str(accented_class(tmp_path / "class")), "--out", str(tmp_path / "out"), "--exercise", "4",
                       "--lms", "canvas", "--lms", "lti"], capsys)
    assert code == 0
    lines = err.splitlines()
    warnings = [line for line in lines if line.startswith("grade batch: warning: ")]
    assert len(warnings) == 3 and lines[-3:] == warnings  # the last thing the instructor reads
    assert any(line.startswith("class files") and "3/3" in line for line in lines)  # the bar of the class files
    assert "--lms canvas: 3 of 3 students have no Canvas ID or SIS User ID (" in warnings[0]
    assert "no --roster was given" in warnings[0] and "--lms lti: 3 of 3" in warnings[1]
    code, err = batch([str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--exercise", "4"], capsys)
    assert code == 0 and "warning" not in err  # no LMS file, nothing to match


# (b) Canvas assignment ids


def test_a_canvas_column_with_an_assignment_id_names_it_the_way_canvas_exports_it(tmp_path: Path) -> None:
    assert canvas.column(Assignment("ex04", "Matrix multiply and Linear", 4, canvas_id="12345")) == \
        "ex04 Matrix multiply and Linear (12345)"
    assert canvas.column(Assignment("ex04", "Matrix multiply and Linear", 4)) == "ex04 Matrix multiply and Linear"
    ids = [Assignment("ex01", "The chain rule", 3, canvas_id="111"), Assignment("ex04", "Linear", 4)]
    path = canvas.write(ClassRecords(FIXTURES / "reports", assignments=ids), tmp_path)
    assert path.read_text().splitlines()[0].endswith(",ex01 The chain rule (111),ex04 Linear")


def test_the_canvas_assignment_option_fills_the_header(stub_grading: None, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = batch([str(accented_class(tmp_path / "class")), "--out", str(out), "--exercise", "ex04",
                       "--exercise", "ex01", "--lms", "canvas", "--canvas-assignment", "ex04=12345",
                       "--canvas-assignment", "1=678", "--canvas-assignment", "ex07=9"], capsys)
    assert code == 0
    header = (out / "canvas.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith(",ex01 The chain rule (678),ex04 Matrix multiply and Linear (12345)")
    assert "no Canvas assignment id" not in err  # ex07 is in the course but not graded: accepted, unused


@pytest.mark.parametrize("value, reason", [
    ("ex04", "is not EXERCISE=ID"),
    ("=12", "is not EXERCISE=ID"),
    ("ex04=12a", "must be a number"),
    ("ex04=", "must be a number"),
    ("ex04=١٢", "must be a number"),  # Arabic-Indic digits are digits to Python, not to Canvas
    ("ex99=12", "unknown exercise 'ex99'"),
])
def test_a_bad_canvas_assignment_is_a_usage_error_naming_the_option(
        value: str, reason: str, stub_grading: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "alice.py").write_text("A = 1\n")
    code, err = batch([str(tmp_path / "alice.py"), "--out", str(tmp_path / "out"), "--canvas-assignment", value],
                      capsys)
    assert code == 2
    assert "--canvas-assignment" in err and reason in err
    assert not (tmp_path / "out" / "reports").exists()  # refused before anyone is graded


def test_one_exercise_with_two_canvas_ids_is_a_usage_error(stub_grading: None, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "alice.py").write_text("A = 1\n")
    code, err = batch([str(tmp_path / "alice.py"), "--out", str(tmp_path / "out"), "--canvas-assignment", "ex04=1",
                       "--canvas-assignment", "4=2"], capsys)
    assert code == 2 and "--canvas-assignment" in err and "ex04 is given two ids" in err
